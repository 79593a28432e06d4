// Doorstep dashboard: live updates. The server announces every stored change on
// /dashboard/live (Server-Sent Events); the page then fetches its own live part again and swaps
// it in, keeping keyboard focus, open sections and scroll positions where they were. Without
// this script the pages still work; they just do not update by themselves.
(() => {
  "use strict";
  const live = document.getElementById("live");
  const status = document.getElementById("updated");
  if (!live || !status || !window.EventSource || !window.fetch) return;
  const FOCUSABLE = "a[href], button, summary, [tabindex]";
  let busy = false;
  let again = false;
  let announced = 0; // when the status line last spoke
  let source = null;
  let retry = null; // the one pending re-ask, while the figures are behind

  // What an element is, in words that survive the swap (the swapped-in elements are new ones):
  // its id, the region or link it is, or its text.
  const key = (el) => el.tagName + "|" + (el.id || el.getAttribute("aria-labelledby") ||
    el.getAttribute("href") || el.textContent.trim().slice(0, 60));

  // Where the reader is.
  function remember() {
    const focused = live.contains(document.activeElement) ? key(document.activeElement) : null;
    const open = new Set([...live.querySelectorAll("details[open]")].map(key));
    const scroll = new Map([...live.querySelectorAll(".scroll")].map((s) => [key(s), s.scrollLeft]));
    return { focused, open, scroll };
  }

  function restore(place) {
    live.querySelectorAll("details").forEach((d) => { if (place.open.has(key(d))) d.open = true; });
    live.querySelectorAll(".scroll").forEach((s) => { s.scrollLeft = place.scroll.get(key(s)) || 0; });
    if (place.focused) {
      const el = [...live.querySelectorAll(FOCUSABLE)].find((e) => key(e) === place.focused);
      if (el) el.focus({ preventScroll: true });
    }
  }

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const url = new URL(window.location.href);
      url.searchParams.set("part", "live");
      const res = await fetch(url, { credentials: "same-origin", redirect: "manual" });
      if (res.type === "opaqueredirect" || res.status === 401 || res.status === 403) {
        window.location.reload();
        return;
      }
      if (!res.ok) {
        status.textContent = "Live update failed (" + res.status + "); retrying at the next change.";
        return;
      }
      const html = await res.text();
      const place = remember();
      live.innerHTML = html;
      restore(place);
      const root = document.documentElement;
      root.dataset.updates = String(Number(root.dataset.updates || 0) + 1);
      // Screen readers hear "updated" at most once a minute, not at every phone's sync.
      if (Date.now() - announced > 60000) {
        announced = Date.now();
        status.textContent = "Updated at " + new Date().toLocaleTimeString() + ".";
      }
      // Figures older than the latest change (the server gathers a big campaign at most so
      // often, and says when newer ones may be had): ask again then, once.
      const gathered = document.getElementById("gathered");
      const behind = gathered ? Number(gathered.dataset.behindMs || 0) : 0;
      if (behind > 0 && !retry) {
        retry = setTimeout(() => { retry = null; refresh(); }, behind + 50);
      }
    } catch (e) {
      status.textContent = "Live update failed: the server could not be reached.";
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  function connect() {
    source = new EventSource("/dashboard/live?since=" + encodeURIComponent(live.dataset.since || ""));
    source.addEventListener("change", refresh);
    source.addEventListener("signed-out", () => window.location.reload());
    source.onopen = () => { document.documentElement.dataset.live = "open"; };
    source.onerror = () => {
      document.documentElement.dataset.live = "reconnecting";
      status.textContent = "Live updates paused: reconnecting to the server…";
    };
  }

  // A hidden tab lets go of its stream (a browser keeps only a few connections per server),
  // and catches up when shown again.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      if (source) { source.close(); source = null; }
      document.documentElement.dataset.live = "paused";
    } else if (!source) {
      connect();
      refresh();
    }
  });
  connect();
})();

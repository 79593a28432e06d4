// Doorstep dashboard: live updates. The server announces every stored change on
// /dashboard/live (Server-Sent Events); the page then fetches its own live part again and swaps
// it in, keeping keyboard focus where it was. Without this script the pages still work; they
// just do not update by themselves.
(() => {
  "use strict";
  const live = document.getElementById("live");
  const status = document.getElementById("updated");
  if (!live || !status || !window.EventSource || !window.fetch) return;
  let busy = false;
  let again = false;

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
      const focused = document.activeElement && document.activeElement.id;
      live.innerHTML = html;
      if (focused) {
        const el = document.getElementById(focused);
        if (el) el.focus();
      }
      document.documentElement.dataset.updates = String(Number(document.documentElement.dataset.updates || 0) + 1);
      status.textContent = "Updated at " + new Date().toLocaleTimeString() + ".";
    } catch (e) {
      status.textContent = "Live update failed: the server could not be reached.";
    } finally {
      busy = false;
      if (again) { again = false; refresh(); }
    }
  }

  const source = new EventSource("/dashboard/live?since=" + encodeURIComponent(live.dataset.since || ""));
  source.addEventListener("change", refresh);
  source.addEventListener("signed-out", () => window.location.reload());
  source.onopen = () => { document.documentElement.dataset.live = "open"; };
  source.onerror = () => {
    document.documentElement.dataset.live = "reconnecting";
    status.textContent = "Live updates paused: reconnecting to the server…";
  };
})();

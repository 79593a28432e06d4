//! Live updates: `GET /dashboard/live` is a Server-Sent Events stream that says `change`
//! whenever the storage's change counter moves (a phone synced, a command changed something,
//! here or on another server of the same database). The page then fetches its figures again.

use super::session::{Viewer, session_hash};
use crate::AppState;
use crate::storage::Dashboard;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::time::{Duration, Instant};

/// How often a stream looks at the change counter: well inside the two seconds a page has to
/// show a sync.
pub const POLL: Duration = Duration::from_millis(300);

/// How often a stream checks that its session is still open.
pub const SESSION_CHECK: Duration = Duration::from_secs(30);

/// The counter a page was rendered at: changes after it are announced at once.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Since {
    /// The change counter the page was rendered at.
    pub since: Option<u64>,
}

/// Reads the change counter without blocking the executor.
pub async fn counter<S: Dashboard>(state: &AppState<S>) -> Option<u64> {
    if let Some(f) = &state.freshness
        && let Some(c) = f.counter().await
    {
        return Some(c);
    }
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || engine.storage().change_counter().ok())
        .await
        .ok()
        .flatten()
}

struct Watch<S> {
    state: AppState<S>,
    last: Option<u64>,
    session: Option<[u8; 32]>,
    checked: Instant,
    done: bool,
}

/// The event stream.
pub async fn live<S: Dashboard>(
    State(state): State<AppState<S>>,
    _viewer: Viewer,
    headers: HeaderMap,
    since: Result<Query<Since>, QueryRejection>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let last = match since.ok().and_then(|q| q.0.since) {
        Some(c) => Some(c),
        None => counter(&state).await,
    };
    let watch = Watch {
        state,
        last,
        session: session_hash(&headers),
        checked: Instant::now(),
        done: false,
    };
    let stream = futures_util::stream::unfold(watch, |mut w| async move {
        if w.done {
            return None;
        }
        let mut closing = w.state.closing.subscribe();
        loop {
            if *closing.borrow_and_update() {
                return None;
            }
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                changed = closing.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    continue;
                }
            }
            if w.checked.elapsed() >= SESSION_CHECK {
                w.checked = Instant::now();
                let engine = w.state.engine.clone();
                let session = w.session;
                let now = crate::handlers::sync::now_ms();
                let open = tokio::task::spawn_blocking(move || {
                    session.and_then(|s| engine.storage().session(&s, now).ok().flatten())
                })
                .await
                .ok()
                .flatten();
                // Ended, or its user is a canvasser now: the page reloads into what they may see.
                if open.is_none_or(|who| who.role == doorstep_core::sync::Role::Canvasser) {
                    w.done = true;
                    return Some((Ok(Event::default().event("signed-out").data("")), w));
                }
            }
            let now = counter(&w.state).await;
            if now.is_some() && now != w.last {
                w.last = now;
                let data = now.map(|c| c.to_string()).unwrap_or_default();
                return Some((Ok(Event::default().event("change").data(data)), w));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

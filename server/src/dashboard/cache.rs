//! Pages gathered once and shared: everyone looking at the same campaign or team while nothing
//! changed gets the same figures, and a scope is gathered by one request at a time (the others
//! wait for it), so that a hundred open pages refreshing after a sync cost one gathering, not a
//! hundred. A scope whose gathering takes long (a whole campaign of a million voters: seconds)
//! is gathered again at most once per that long while phones keep syncing, so the dashboard
//! never takes more than about half a core per scope; the pages say which change their figures
//! are as of, and ask again when they are behind.

use super::PageError;
use super::view::{self, Overview};
use crate::AppState;
use crate::handlers::sync::now_ms;
use crate::storage::Dashboard;
use crate::storage::dashboard::Scope;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long gathered figures may be shown while nothing changes: the "synced 3 min ago" times
/// on them age.
pub const FRESH_FOR: Duration = Duration::from_secs(20);

/// (the change counter the figures are as of, when they were gathered, how long that took,
/// the figures).
type Slot = Arc<tokio::sync::Mutex<Option<(u64, Instant, Duration, Arc<Overview>)>>>;

/// The latest figures of each scope, with the change counter they were gathered at.
#[derive(Default)]
pub struct Gathered {
    slots: Mutex<HashMap<Scope, Slot>>,
}

impl std::fmt::Debug for Gathered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gathered").finish_non_exhaustive()
    }
}

impl Gathered {
    /// The figures of `scope` as of change counter `counter` (read before this call), gathered
    /// now unless someone already did at that counter; a missing campaign or team is
    /// [`PageError::NotFound`]. With them, when they are behind (gathered too recently to
    /// gather again), how long until newer ones may be asked for.
    pub async fn gather<S: Dashboard>(
        &self,
        state: &AppState<S>,
        scope: Scope,
        counter: Option<u64>,
    ) -> Result<(Arc<Overview>, Option<Duration>), PageError> {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(scope.clone())
            .or_default()
            .clone();
        let mut held = slot.lock().await;
        if let (Some(counter), Some((at, when, took, overview))) = (counter, held.as_ref()) {
            let age = when.elapsed();
            if *at == counter && age < FRESH_FOR {
                return Ok((overview.clone(), None));
            }
            if age < *took {
                return Ok((overview.clone(), Some(*took - age)));
            }
        }
        let started = Instant::now();
        let engine = state.engine.clone();
        let lookup = scope.clone();
        let now = now_ms();
        let overview =
            tokio::task::spawn_blocking(move || view::overview(engine.storage(), &lookup, now))
                .await
                .map_err(|e| PageError::internal(&e))??
                .ok_or_else(|| {
                    PageError::NotFound(match &scope {
                        Scope::Campaign(id) => format!("There is no campaign '{id}'."),
                        Scope::Team(id) => format!("There is no team '{id}'."),
                    })
                })?;
        let overview = Arc::new(overview);
        *held = counter.map(|c| (c, Instant::now(), started.elapsed(), overview.clone()));
        Ok((overview, None))
    }
}

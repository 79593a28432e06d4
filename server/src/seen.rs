//! When each phone last synced, quiet heartbeats included. A heartbeat with nothing new is
//! answered without writing anything (that is what keeps it cheap), so the times are kept here
//! and written to the database in one small transaction now and then: the dashboard shows an
//! organizer which phones are in signal, to within [`FLUSH_EVERY`]. A phone's stored time is
//! rewritten only when it is that much older: every write moves the storage's change counter,
//! which makes every phone's next heartbeat recompute its answer and every open dashboard page
//! gather its figures again, so phones merely staying online move it at most once per period.

use crate::AppState;
use crate::storage::Storage;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How often the times are written, and how much newer than the stored one a time must be.
pub const FLUSH_EVERY: Duration = Duration::from_secs(60);

/// (user, device).
type Device = (String, Vec<u8>);

/// Each device's latest sync and the latest time written, ms.
#[derive(Debug, Default)]
pub struct Seen {
    devices: Mutex<HashMap<Device, (i64, i64)>>,
}

impl Seen {
    /// Notes a sync.
    pub fn record(&self, user: &str, device: &[u8], at: i64) {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        match devices.get_mut(&(user.to_owned(), device.to_vec())) {
            Some((latest, _)) => *latest = (*latest).max(at),
            None => {
                devices.insert((user.to_owned(), device.to_vec()), (at, i64::MIN));
            }
        }
    }

    /// The syncs newer than what was written, marked written.
    pub fn take(&self) -> Vec<(String, Vec<u8>, i64)> {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for ((user, device), (latest, written)) in devices.iter_mut() {
            if *latest > *written {
                *written = *latest;
                out.push((user.clone(), device.clone(), *latest));
            }
        }
        out
    }

    /// Puts back syncs whose write failed, to be written next time.
    fn put_back(&self, failed: &[(String, Vec<u8>, i64)]) {
        let mut devices = self.devices.lock().unwrap_or_else(|e| e.into_inner());
        for (user, device, _) in failed {
            if let Some((_, written)) = devices.get_mut(&(user.clone(), device.clone())) {
                *written = i64::MIN;
            }
        }
    }
}

/// Writes the noted syncs every `every` until the server shuts down.
pub async fn flush_until_closing<S: Storage>(state: AppState<S>, every: Duration) {
    let every = every.max(Duration::from_millis(10));
    let mut closing = state.closing.subscribe();
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = closing.changed() => {}
        }
        if *closing.borrow() {
            break;
        }
        flush(&state, every).await;
    }
}

/// Writes the noted syncs now: each phone's time where the stored one is `every` older.
pub async fn flush<S: Storage>(state: &AppState<S>, every: Duration) {
    let batch = state.seen.take();
    if batch.is_empty() {
        return;
    }
    let engine = state.engine.clone();
    let older_than = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    let writing = batch.clone();
    let written =
        tokio::task::spawn_blocking(move || engine.storage().touch_devices(&writing, older_than))
            .await;
    let failure = match written {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    tracing::warn!(error = %failure, devices = batch.len(), "could not write phones' last sync times; will retry");
    state.seen.put_back(&batch);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_newer_syncs_are_written_and_once() {
        let seen = Seen::default();
        seen.record("ana", b"d1", 10);
        seen.record("ana", b"d1", 5);
        seen.record("ben", b"d2", 7);
        let mut first = seen.take();
        first.sort();
        assert_eq!(
            first,
            [
                ("ana".into(), b"d1".to_vec(), 10),
                ("ben".into(), b"d2".to_vec(), 7)
            ]
        );
        assert!(seen.take().is_empty(), "nothing new");
        seen.record("ana", b"d1", 20);
        assert_eq!(seen.take(), [("ana".into(), b"d1".to_vec(), 20)]);
        seen.put_back(&[("ana".into(), b"d1".to_vec(), 20)]);
        assert_eq!(
            seen.take(),
            [("ana".into(), b"d1".to_vec(), 20)],
            "a failed write is retried"
        );
    }
}

//! A change counter read after a request arrived, without a trip to the blocking pool per
//! request: one watcher thread reads the storage's counter in a loop while requests wait for a
//! reading, and each reading serves every request that was waiting for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use tokio::sync::watch;

/// (readings published so far, the last reading).
type Reading = (u64, Option<u64>);

struct Shared {
    waiters: Mutex<usize>,
    wake: Condvar,
    readings: watch::Sender<Reading>,
    stop: AtomicBool,
}

/// The watcher. Stops its thread when dropped.
pub struct Freshness {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Freshness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Freshness").finish_non_exhaustive()
    }
}

/// Counts a request as waiting for as long as it lives (a dropped request stops counting).
struct Waiting<'a>(&'a Shared);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut n = self.0.waiters.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
    }
}

impl Freshness {
    /// Starts the watcher thread; `read` reads the counter (blocking, off the executor).
    pub fn start(read: impl Fn() -> Option<u64> + Send + 'static) -> std::io::Result<Self> {
        let (readings, _) = watch::channel((0, None));
        let shared = Arc::new(Shared {
            waiters: Mutex::new(0),
            wake: Condvar::new(),
            readings,
            stop: AtomicBool::new(false),
        });
        let thread = shared.clone();
        std::thread::Builder::new()
            .name("doorstep-freshness".into())
            .spawn(move || {
                loop {
                    {
                        let mut waiting = thread.waiters.lock().unwrap_or_else(|e| e.into_inner());
                        while *waiting == 0 && !thread.stop.load(Ordering::Acquire) {
                            waiting = thread.wake.wait(waiting).unwrap_or_else(|e| e.into_inner());
                        }
                    }
                    if thread.stop.load(Ordering::Acquire) {
                        break;
                    }
                    let value = read();
                    thread.readings.send_modify(|(n, last)| {
                        *n += 1;
                        *last = value;
                    });
                }
            })?;
        Ok(Self { shared })
    }

    /// The counter as read after this call began, or `None` if it could not be read.
    pub async fn counter(&self) -> Option<u64> {
        let mut rx = self.shared.readings.subscribe();
        let seen = rx.borrow_and_update().0;
        let _waiting = {
            let mut n = self
                .shared
                .waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            *n += 1;
            Waiting(&self.shared)
        };
        self.shared.wake.notify_one();
        // The next reading may have begun before this call; the one after it has not.
        rx.wait_for(|(n, _)| *n >= seen + 2)
            .await
            .ok()
            .and_then(|r| r.1)
    }
}

impl Drop for Freshness {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[tokio::test]
    async fn a_counter_is_never_older_than_the_call() {
        let value = Arc::new(AtomicU64::new(1));
        let v = value.clone();
        let freshness = Freshness::start(move || Some(v.load(Ordering::SeqCst))).unwrap();
        assert_eq!(freshness.counter().await, Some(1));
        value.store(2, Ordering::SeqCst);
        assert_eq!(
            freshness.counter().await,
            Some(2),
            "a change before the call is seen"
        );
        // Made before the change, polled after it: a reading is taken when polled, not made.
        let many: Vec<_> = (0..50).map(|_| freshness.counter()).collect();
        value.store(3, Ordering::SeqCst);
        for counter in many {
            assert_eq!(counter.await, Some(3));
        }
    }
}

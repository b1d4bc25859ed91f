//! The time source of the alert engine and the rollup worker (a leaf).
//!
//! Production uses [`Clock::System`]. Tests hand [`app::start_with`](crate::app::start_with) a
//! [`ManualClock`], put it where they want ("10:30, mid-hour"), and move it past a rule's `for`
//! or the resolve hysteresis instead of waiting real time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::Either;
use tokio::sync::watch;

/// Where "now" comes from.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock and tokio's timers.
    #[default]
    System,
    /// A clock that moves only when told to.
    Manual(ManualClock),
}

impl Clock {
    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            Self::Manual(m) => m.now(),
        }
    }

    /// Waits until `d` has passed on this clock since the call (not the first poll): a tokio
    /// sleep on the system clock; on a manual clock, until it has been moved at least `d` on.
    pub fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send + 'static {
        match self {
            Self::System => Either::Left(tokio::time::sleep(d)),
            Self::Manual(m) => Either::Right(m.sleep(d)),
        }
    }
}

impl From<ManualClock> for Clock {
    fn from(m: ManualClock) -> Self {
        Self::Manual(m)
    }
}

/// A clock for tests: it stands still until [`set`](Self::set) or [`advance`](Self::advance).
/// Clones share one time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    time: Arc<watch::Sender<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            time: Arc::new(watch::Sender::new(at)),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.time.borrow()
    }

    /// Puts the clock at `at` (backwards too), waking the sleepers that are now due.
    pub fn set(&self, at: DateTime<Utc>) {
        self.time.send_replace(at);
    }

    /// Moves the clock `by` forward.
    pub fn advance(&self, by: Duration) {
        let by = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        self.time
            .send_modify(|t| *t = t.checked_add_signed(by).unwrap_or(*t));
    }

    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.time.subscribe();
        let deadline = self
            .now()
            .checked_add_signed(chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
        // Holding the sender keeps the channel open while we wait.
        let time = self.time.clone();
        async move {
            let Some(deadline) = deadline else {
                return std::future::pending().await;
            };
            let _ = rx.wait_for(|t| *t >= deadline).await;
            drop(time);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, m, 0).unwrap()
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let m = ManualClock::new(at(10, 30));
        let clock = Clock::from(m.clone());
        assert_eq!(clock.now(), at(10, 30));
        m.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), at(10, 31) + chrono::Duration::seconds(30));
        m.set(at(9, 0));
        assert_eq!(clock.now(), at(9, 0));
    }

    #[test]
    fn system_clock_is_now() {
        let before = Utc::now();
        let now = Clock::System.now();
        assert!(before <= now && now <= Utc::now());
    }

    #[tokio::test]
    async fn manual_sleep_ends_when_the_clock_has_moved_far_enough() {
        let m = ManualClock::new(at(10, 30));
        let clock = Clock::from(m.clone());
        let sleeper = tokio::spawn(clock.sleep(Duration::from_secs(60)));
        m.advance(Duration::from_secs(59));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished(), "59 s of 60 s");
        m.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("the sleeper wakes")
            .unwrap();
    }
}

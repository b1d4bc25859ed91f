//! Retry delays: capped exponential backoff with jitter, shared by every path that retries a
//! transient failure (ingest commits, migrations at start, the MQTT reconnect, notification
//! delivery). Jitter keeps several instances, or several loggers, from retrying in lockstep
//! after an outage they all saw at once.

use std::time::Duration;

use rand::Rng;

/// The delays of one retry sequence: `initial`, doubling per attempt, never above `max`, each
/// drawn from its upper half ("equal jitter": at least half the nominal delay, so the backoff
/// still backs off).
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A sequence starting at `initial` and capped at `max` (`max` below `initial` counts as
    /// `initial`).
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempt: 0,
        }
    }

    /// The delay before the next attempt; each call doubles the nominal delay.
    pub fn next_delay(&mut self) -> Duration {
        let d = delay(self.initial, self.max, self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        d
    }

    /// After a success: the next failure starts again from `initial`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// The nominal delay before retry number `attempt` (0 = the first retry): `initial · 2^attempt`,
/// capped at `max`, without overflow however large `attempt` is.
pub fn nominal(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
    initial
        .checked_mul(factor)
        .unwrap_or(max)
        .min(max.max(initial))
}

/// The jittered delay before retry number `attempt`: uniform in the upper half of
/// [`nominal`].
pub fn delay(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let n = nominal(initial, max, attempt);
    let half = n / 2;
    let spread = u64::try_from((n - half).as_micros()).unwrap_or(u64::MAX);
    half + Duration::from_micros(rand::rng().random_range(0..=spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_up_to_the_cap_without_overflow() {
        let cases = [
            (0, 100),
            (1, 200),
            (2, 400),
            (5, 3_200),
            (6, 5_000),
            (40, 5_000),
        ];
        for (attempt, want_ms) in cases {
            assert_eq!(
                nominal(100 * MS, 5_000 * MS, attempt),
                want_ms * MS,
                "{attempt}"
            );
        }
        assert_eq!(
            nominal(Duration::MAX, Duration::MAX, u32::MAX),
            Duration::MAX
        );
        assert_eq!(
            nominal(100 * MS, 10 * MS, 3),
            100 * MS,
            "a cap below the start"
        );
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let mut b = Backoff::new(100 * MS, 1_000 * MS);
        for attempt in 0..20 {
            let n = nominal(100 * MS, 1_000 * MS, attempt);
            let d = b.next_delay();
            assert!(
                d >= n / 2 && d <= n,
                "{attempt}: {d:?} not in [{:?}, {n:?}]",
                n / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= 100 * MS);
    }

    #[test]
    fn jitter_spreads() {
        let draws: std::collections::HashSet<Duration> =
            (0..50).map(|_| delay(100 * MS, 100 * MS, 0)).collect();
        assert!(draws.len() > 10, "{draws:?}");
    }
}

//! When the simulator publishes: per-point schedules at each point's `interval_secs`, the
//! round-robin deadlines of `--rate`, and timestamps that stay unique per point.
//!
//! Pure: the caller passes the clock readings in, so the rules are unit-tested.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};
use rand::Rng;
use tokio::time::Instant;

/// The timestamp of a point's next reading: `now` truncated to milliseconds (the precision sent),
/// or 1 ms after the point's previous timestamp when that is not earlier. Keeps timestamps
/// strictly increasing per point even when messages go out faster than the clock ticks.
pub(crate) fn next_unique_ts(prev: Option<DateTime<Utc>>, now: DateTime<Utc>) -> DateTime<Utc> {
    let now = now.trunc_subsecs(3);
    match prev {
        Some(p) if now <= p => p + TimeDelta::milliseconds(1),
        _ => now,
    }
}

/// When message `k` (counting from 0) is due at `rate` messages per second from `start`;
/// `None` when `rate` is 0 (as fast as possible).
pub(crate) fn rate_deadline(start: Instant, k: u64, rate: f64) -> Option<Instant> {
    if rate <= 0.0 {
        return None;
    }
    // Far-future deadlines (absurdly low rates) saturate instead of panicking.
    let offset = Duration::try_from_secs_f64(k as f64 / rate).unwrap_or(Duration::MAX);
    Some(
        start
            .checked_add(offset)
            .unwrap_or(start + Duration::from_secs(86_400 * 365)),
    )
}

/// Per-point schedule in interval mode: each point is due every `interval_secs`, the first time
/// right away plus up to one second of jitter (so points do not publish in lockstep).
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    due: Vec<(Instant, Duration)>,
}

impl Schedule {
    /// A schedule for points with these intervals, starting at `start`.
    pub(crate) fn new(start: Instant, intervals_secs: &[u32], rng: &mut impl Rng) -> Self {
        let due = intervals_secs
            .iter()
            .map(|&secs| {
                let interval = Duration::from_secs(u64::from(secs.max(1)));
                let jitter_ms = rng.random_range(0..1000u64.min(interval.as_millis() as u64));
                (start + Duration::from_millis(jitter_ms), interval)
            })
            .collect();
        Self { due }
    }

    /// The point due first, and when; `None` without points.
    pub(crate) fn next(&self) -> Option<(usize, Instant)> {
        self.due
            .iter()
            .enumerate()
            .min_by_key(|(_, (at, _))| *at)
            .map(|(i, (at, _))| (i, *at))
    }

    /// Moves point `i` to its next slot. Slots stay on the original grid (no drift), except
    /// that slots already missed by more than one interval are skipped rather than burst out.
    pub(crate) fn advance(&mut self, i: usize, now: Instant) {
        if let Some((at, interval)) = self.due.get_mut(i) {
            *at += *interval;
            while *at + *interval < now {
                *at += *interval;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn timestamps_stay_unique_per_point_when_the_clock_stands_still() {
        let now = Utc::now();
        let mut prev = None;
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let ts = next_unique_ts(prev, now);
            assert!(prev.is_none_or(|p| ts > p));
            assert!(
                seen.insert(crate::simulate::values::format_ts(ts)),
                "duplicate {ts}"
            );
            prev = Some(ts);
        }
    }

    #[test]
    fn timestamps_follow_the_clock_when_it_is_ahead() {
        let t0 = Utc::now().trunc_subsecs(3);
        let later = t0 + TimeDelta::seconds(5);
        assert_eq!(next_unique_ts(Some(t0), later), later);
        assert_eq!(next_unique_ts(None, t0), t0);
        // A clock stepping back never makes a timestamp go back.
        let earlier = t0 - TimeDelta::seconds(5);
        assert_eq!(
            next_unique_ts(Some(t0), earlier),
            t0 + TimeDelta::milliseconds(1)
        );
        // Sub-millisecond differences are truncated away, so still unique once formatted.
        let tiny = t0 + TimeDelta::microseconds(300);
        assert_eq!(
            next_unique_ts(Some(t0), tiny),
            t0 + TimeDelta::milliseconds(1)
        );
    }

    #[test]
    fn round_robin_rate_mode_gives_unique_timestamps_per_point() {
        // Four points, 1000 messages with a clock that advances 10 µs per message.
        let start = Utc::now();
        let mut prev: Vec<Option<DateTime<Utc>>> = vec![None; 4];
        let mut seen: Vec<HashSet<DateTime<Utc>>> = vec![HashSet::new(); 4];
        for k in 0..1000u32 {
            let i = (k % 4) as usize;
            let now = start + TimeDelta::microseconds(i64::from(k) * 10);
            let ts = next_unique_ts(prev[i], now);
            assert!(seen[i].insert(ts));
            prev[i] = Some(ts);
        }
    }

    #[test]
    fn rate_deadlines() {
        let start = Instant::now();
        assert_eq!(rate_deadline(start, 5, 0.0), None);
        assert_eq!(
            rate_deadline(start, 10, 100.0),
            Some(start + Duration::from_millis(100))
        );
        assert!(rate_deadline(start, u64::MAX, 1e-300).is_some());
    }

    #[test]
    fn schedule_follows_intervals() {
        let start = Instant::now();
        let mut rng = StdRng::seed_from_u64(1);
        let mut s = Schedule::new(start, &[60, 300], &mut rng);
        let (first, at) = s.next().unwrap();
        assert!(at < start + Duration::from_secs(1));
        s.advance(first, at);
        let (second, at2) = s.next().unwrap();
        assert_ne!(first, second);
        assert!(at2 < start + Duration::from_secs(1));
        s.advance(second, at2);
        let (i, at3) = s.next().unwrap();
        assert_eq!(i, 0);
        assert!(at3 >= start + Duration::from_secs(60));
        // After a long stall the slot jumps ahead instead of bursting.
        s.advance(0, start + Duration::from_secs(3600));
        let due0 = s.due[0].0;
        assert!(due0 + Duration::from_secs(60) >= start + Duration::from_secs(3600));
        assert!(Schedule::new(start, &[], &mut rng).next().is_none());
    }
}

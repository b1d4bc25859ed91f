//! When the simulator publishes: per-point schedules at each point's `interval_secs`, the
//! round-robin deadlines of `--rate`, timestamps that stay unique per point, and the replay of
//! the recent past at speed (`--replay-hours`, `--speed`).
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

/// The recent past replayed at speed, beside the live schedule: simulated time runs from
/// `end - span` to `end` (the start of the run, taken from the wall clock), `speed` times faster
/// than the wall clock. It stops at `end`, where the live readings (real time) begin, so no
/// replayed timestamp is ever ahead of the clock (ingest quarantines those as
/// `future_timestamp`), and the live readings keep every point online meanwhile (no
/// `point_offline` alerts while the history fills).
#[derive(Debug, Clone)]
pub(crate) struct Replay {
    /// When the replay started (wall clock, monotonic).
    wall_start: Instant,
    /// Simulated time at `wall_start`.
    sim_start: DateTime<Utc>,
    /// Where the replay stops: the wall-clock time it started, where live readings take over.
    sim_end: DateTime<Utc>,
    speed: f64,
    /// Per point: its next simulated slot and its interval.
    due: Vec<(DateTime<Utc>, TimeDelta)>,
}

impl Replay {
    /// A replay of the `span` before `end` (the wall clock now, matching `wall_start`), at
    /// `speed` (at least 1) for points with these intervals. Each point's first slot is jittered
    /// by up to one interval, so points do not publish in lockstep.
    pub(crate) fn new(
        wall_start: Instant,
        end: DateTime<Utc>,
        span: TimeDelta,
        speed: f64,
        intervals_secs: &[u32],
        rng: &mut impl Rng,
    ) -> Self {
        let end = end.trunc_subsecs(3);
        let sim_start = end - span.max(TimeDelta::zero());
        let due = intervals_secs
            .iter()
            .map(|&secs| {
                let interval = TimeDelta::seconds(i64::from(secs.max(1)));
                let jitter = rng.random_range(0..interval.num_milliseconds());
                (sim_start + TimeDelta::milliseconds(jitter), interval)
            })
            .collect();
        Self {
            wall_start,
            sim_start,
            sim_end: end,
            speed: if speed.is_finite() {
                speed.max(1.0)
            } else {
                1.0
            },
            due,
        }
    }

    /// Wall-clock time the whole replay takes: the span divided by the speed.
    pub(crate) fn wall_duration(&self) -> Duration {
        self.wall_offset(self.sim_end)
    }

    /// When (wall clock) simulated time `sim` comes up.
    pub(crate) fn wall_at(&self, sim: DateTime<Utc>) -> Instant {
        self.wall_start + self.wall_offset(sim)
    }

    fn wall_offset(&self, sim: DateTime<Utc>) -> Duration {
        let sim_elapsed = (sim - self.sim_start).to_std().unwrap_or(Duration::ZERO);
        sim_elapsed.div_f64(self.speed)
    }

    /// Simulated time at wall-clock instant `wall`: never past the end.
    pub(crate) fn sim_now(&self, wall: Instant) -> DateTime<Utc> {
        let elapsed = wall
            .saturating_duration_since(self.wall_start)
            .as_secs_f64()
            * self.speed;
        let elapsed = Duration::try_from_secs_f64(elapsed)
            .ok()
            .and_then(|d| TimeDelta::from_std(d).ok())
            .unwrap_or(TimeDelta::MAX);
        self.sim_start
            .checked_add_signed(elapsed)
            .map_or(self.sim_end, |t| t.min(self.sim_end))
    }

    /// The next replayed reading: the point, its timestamp (simulated time, before the end) and
    /// when to publish it; `None` once every point has reached the end.
    pub(crate) fn next(&self) -> Option<(usize, DateTime<Utc>, Instant)> {
        self.due
            .iter()
            .enumerate()
            .filter(|(_, (at, _))| *at < self.sim_end)
            .min_by_key(|(_, (at, _))| *at)
            .map(|(i, (at, _))| (i, *at, self.wall_at(*at)))
    }

    /// Moves point `i` to its next simulated slot. A replay that falls behind (slow broker)
    /// publishes the missed slots as fast as it can: they are history, nothing is skipped.
    pub(crate) fn advance(&mut self, i: usize) {
        if let Some((at, interval)) = self.due.get_mut(i) {
            *at += *interval;
        }
    }

    /// The speed, e.g. 12 for one simulated minute every 5 s.
    pub(crate) fn speed(&self) -> f64 {
        self.speed
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

    /// A fake clock: the monotonic and the UTC reading move together, only when told.
    struct FakeClock {
        instant: Instant,
        utc: DateTime<Utc>,
    }

    impl FakeClock {
        fn new() -> Self {
            Self {
                instant: Instant::now(),
                utc: "2026-12-02T10:00:00.123Z".parse().unwrap(),
            }
        }

        /// Moves to `to` (never back), as a `sleep_until` would.
        fn sleep_until(&mut self, to: Instant) {
            let d = to.saturating_duration_since(self.instant);
            self.instant += d;
            self.utc += TimeDelta::from_std(d).unwrap();
        }
    }

    /// The replay loop as the runner drives it, against the fake clock: (point, ts, UTC now).
    fn drive(
        replay: &mut Replay,
        clock: &mut FakeClock,
    ) -> Vec<(usize, DateTime<Utc>, DateTime<Utc>)> {
        let mut out = Vec::new();
        while let Some((i, ts, at)) = replay.next() {
            clock.sleep_until(at);
            out.push((i, ts, clock.utc));
            replay.advance(i);
        }
        out
    }

    #[test]
    fn replay_runs_12x_and_never_ahead_of_the_clock() {
        let mut clock = FakeClock::new();
        let start_utc = clock.utc;
        let mut rng = StdRng::seed_from_u64(7);
        let mut replay = Replay::new(
            clock.instant,
            clock.utc,
            TimeDelta::hours(3),
            12.0,
            &[60, 300, 60],
            &mut rng,
        );
        assert_eq!(replay.wall_duration(), Duration::from_secs(15 * 60));
        let sent = drive(&mut replay, &mut clock);
        // Every slot of the three hours, once: 180 + 36 + 180.
        let per_point = |p| sent.iter().filter(|(i, _, _)| *i == p).count();
        assert_eq!((per_point(0), per_point(1), per_point(2)), (180, 36, 180));
        let mut prev: Vec<Option<DateTime<Utc>>> = vec![None; 3];
        for &(i, ts, now) in &sent {
            // Never ahead of the wall clock, and before the live readings begin.
            assert!(ts < start_utc && ts <= now, "{ts} at {now}");
            assert!(ts >= start_utc - TimeDelta::hours(3));
            // Strictly increasing per point, one interval apart.
            if let Some(p) = prev[i] {
                let interval = if i == 1 { 300 } else { 60 };
                assert_eq!(ts - p, TimeDelta::seconds(interval));
            }
            prev[i] = Some(ts);
            assert_eq!(ts, ts.trunc_subsecs(3));
        }
        // One simulated minute every 5 s: a 60-s point publishes every 5 s of wall time.
        let p0: Vec<DateTime<Utc>> = sent.iter().filter(|s| s.0 == 0).map(|s| s.2).collect();
        assert!(p0
            .windows(2)
            .all(|w| (w[1] - w[0] - TimeDelta::seconds(5)).abs() < TimeDelta::milliseconds(1)));
        // Done within the promised 15 minutes, and then nothing more.
        assert!(clock.utc <= start_utc + TimeDelta::minutes(15));
        assert!(replay.next().is_none());
        assert_eq!(
            replay.sim_now(clock.instant + Duration::from_secs(3600)),
            start_utc
        );
    }

    #[test]
    fn replay_clock_maps_wall_to_simulated_time() {
        let clock = FakeClock::new();
        let mut rng = StdRng::seed_from_u64(1);
        let replay = Replay::new(
            clock.instant,
            clock.utc,
            TimeDelta::hours(1),
            12.0,
            &[60],
            &mut rng,
        );
        let begin = clock.utc.trunc_subsecs(3) - TimeDelta::hours(1);
        assert_eq!(replay.sim_now(clock.instant), begin);
        assert_eq!(
            replay.sim_now(clock.instant + Duration::from_secs(5)),
            begin + TimeDelta::minutes(1)
        );
        // Capped at the end: simulated time does not overtake the clock it started from.
        assert_eq!(
            replay.sim_now(clock.instant + Duration::from_secs(300)),
            clock.utc.trunc_subsecs(3)
        );
        assert_eq!(
            replay.sim_now(clock.instant + Duration::from_secs(86_400)),
            clock.utc.trunc_subsecs(3)
        );
        assert_eq!(
            replay.wall_at(begin + TimeDelta::minutes(2)),
            clock.instant + Duration::from_secs(10)
        );
        assert_eq!(replay.speed(), 12.0);
    }

    #[test]
    fn replay_that_falls_behind_catches_up_without_skipping_or_overtaking() {
        let mut clock = FakeClock::new();
        let start_utc = clock.utc;
        let mut rng = StdRng::seed_from_u64(3);
        let mut replay = Replay::new(
            clock.instant,
            clock.utc,
            TimeDelta::minutes(30),
            12.0,
            &[60],
            &mut rng,
        );
        // The broker stalls for a minute after the first reading.
        let (i, _, at) = replay.next().unwrap();
        clock.sleep_until(at + Duration::from_secs(60));
        replay.advance(i);
        let rest = drive(&mut replay, &mut clock);
        assert_eq!(rest.len(), 29);
        assert!(rest.iter().all(|&(_, ts, now)| ts < start_utc && ts <= now));
    }

    #[test]
    fn an_empty_or_degenerate_replay_publishes_nothing() {
        let clock = FakeClock::new();
        let mut rng = StdRng::seed_from_u64(1);
        let none = Replay::new(
            clock.instant,
            clock.utc,
            TimeDelta::zero(),
            12.0,
            &[60],
            &mut rng,
        );
        assert!(none.next().is_none());
        assert_eq!(none.wall_duration(), Duration::ZERO);
        let negative = Replay::new(
            clock.instant,
            clock.utc,
            TimeDelta::hours(-1),
            12.0,
            &[60],
            &mut rng,
        );
        assert!(negative.next().is_none());
        // A speed below 1 (or NaN) would run simulated time slower than the clock: clamped.
        let slow = Replay::new(
            clock.instant,
            clock.utc,
            TimeDelta::hours(1),
            f64::NAN,
            &[],
            &mut rng,
        );
        assert_eq!(slow.speed(), 1.0);
        assert!(slow.next().is_none());
    }
}

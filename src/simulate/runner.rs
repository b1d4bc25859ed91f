//! The simulator's publishing loops: energy history and monthly reports, readings at each
//! point's interval (optionally with the recent past replayed at speed beside them) or
//! round-robin at `--rate`, stop on `--count` or a signal, then the wait for PUBACKs and the
//! summary line.
//!
//! Input: prepared points and energy feeds, a [`Publisher`] and a seeded RNG. Output: the
//! summary line; progress goes to `tracing`.

use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Asia::Shanghai;
use rand::rngs::StdRng;
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::energy::{months_due, ParkEnergy, YearMonth};
use super::pacing::{next_unique_ts, rate_deadline, Replay, Schedule};
use super::publisher::{Progress, Publisher};
use super::values::{generate, PointModel, Rates};
use crate::domain::registry::Park;

/// How often a long run checks whether a month has completed (and its report is due).
const ENERGY_CHECK: Duration = Duration::from_secs(60);
/// How often progress is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// One simulated monitoring point.
pub(crate) struct SimPoint {
    /// `{prefix}/parks/{park}/points/{point}/readings`.
    pub(crate) topic: String,
    pub(crate) interval_secs: u32,
    pub(crate) model: PointModel,
    /// Timestamp of the point's last reading, to keep timestamps unique.
    pub(crate) prev_ts: Option<DateTime<Utc>>,
}

/// Energy history pacing: a pause after every so many reports (about 200 reports a second).
const ENERGY_PACE_EVERY: u64 = 10;
const ENERGY_PACE_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

/// One park's energy reports.
pub(crate) struct EnergyFeed {
    /// `{prefix}/parks/{park}/energy`.
    topic: String,
    model: ParkEnergy,
    seed: u64,
    /// First month not yet published (`None`: nothing published yet).
    next: Option<YearMonth>,
}

/// The energy feeds of `parks`.
pub(crate) fn energy_feeds(parks: &[Park], prefix: &str, cut: f64, seed: u64) -> Vec<EnergyFeed> {
    parks
        .iter()
        .map(|park| EnergyFeed {
            topic: format!("{prefix}/parks/{}/energy", park.id),
            model: ParkEnergy::new(park, cut, seed),
            seed,
            next: None,
        })
        .collect()
}

/// What was published.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    /// Reading messages, malformed ones included.
    messages: u64,
    /// Readings in the valid messages.
    readings: u64,
    energy_reports: u64,
    exceedances: u64,
    malformed: u64,
    gaps: u64,
    /// Reading messages of the replayed past (counted in `messages` too).
    replayed: u64,
}

/// Why the publishing loops ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// `--count` reached, or the energy history sent.
    Finished,
    /// Ctrl-C or SIGTERM.
    Stopped,
}

/// Whether to go on after one publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Continue,
    /// A stop was requested before the message could be queued.
    Stop,
}

/// Owns everything the loops need.
pub(crate) struct Runner {
    publisher: Publisher,
    stop: watch::Receiver<bool>,
    rng: StdRng,
    rates: Rates,
    gap_rate: f64,
    points: Vec<SimPoint>,
    energy: Vec<EnergyFeed>,
    /// The span of the recent past to replay in interval mode, and the replay's speed.
    replay: Option<(TimeDelta, f64)>,
    stats: Stats,
}

impl Runner {
    /// A runner; starts listening for Ctrl-C and SIGTERM.
    pub(crate) fn new(
        publisher: Publisher,
        rng: StdRng,
        rates: Rates,
        gap_rate: f64,
        points: Vec<SimPoint>,
        energy: Vec<EnergyFeed>,
    ) -> Self {
        Self {
            publisher,
            stop: spawn_stop_signal(),
            rng,
            rates,
            gap_rate,
            points,
            energy,
            replay: None,
            stats: Stats::default(),
        }
    }

    /// Also replays the `span` before the start at `speed`, beside the live readings (interval
    /// mode only); see [`Replay`].
    pub(crate) fn with_replay(mut self, span: TimeDelta, speed: f64) -> Self {
        self.replay = (span > TimeDelta::zero()).then_some((span, speed));
        self
    }

    /// Publishes until done or stopped, waits up to `drain_timeout` for PUBACKs, and returns
    /// the summary line.
    ///
    /// # Errors
    /// When the MQTT client fails for good, or when messages are still unacknowledged after a
    /// finished (`--count` or `--energy-only`) run.
    pub(crate) async fn run(
        mut self,
        energy_only: bool,
        rate: Option<f64>,
        count: Option<u64>,
        drain_timeout: Duration,
    ) -> anyhow::Result<String> {
        let started = Instant::now();
        let progress = AbortOnDrop(spawn_progress(self.publisher.progress()));
        let outcome = self.publish_all(energy_only, rate, count).await;
        drop(progress);
        let end = outcome?;
        let outstanding = self
            .publisher
            .published()
            .saturating_sub(self.publisher.acked());
        if end == End::Stopped {
            tracing::info!(
                outstanding,
                "Stopping; waiting for the outstanding PUBACKs."
            );
        }
        let unacked = self.publisher.drain(drain_timeout).await;
        let elapsed = started.elapsed();
        let published = self.publisher.published();
        self.publisher.close().await;
        let unacked = unacked?;
        let s = self.stats;
        tracing::info!(
            messages = s.messages,
            readings = s.readings,
            energy_reports = s.energy_reports,
            exceedances = s.exceedances,
            malformed = s.malformed,
            gaps = s.gaps,
            replayed = s.replayed,
            "Simulator finished."
        );
        if unacked > 0 {
            let what = format!(
                "{unacked} of {published} messages were not acknowledged within {} s",
                drain_timeout.as_secs()
            );
            match end {
                End::Stopped => tracing::warn!("{what}; exiting anyway."),
                End::Finished => bail!("{what}"),
            }
        }
        Ok(summary(&s, energy_only, elapsed))
    }

    async fn publish_all(
        &mut self,
        energy_only: bool,
        rate: Option<f64>,
        count: Option<u64>,
    ) -> anyhow::Result<End> {
        if self.publish_energy_due().await? == Step::Stop {
            return Ok(End::Stopped);
        }
        if energy_only {
            return Ok(End::Finished);
        }
        match rate {
            Some(rate) => self.run_rate(rate, count).await,
            None => self.run_intervals(count).await,
        }
    }

    /// Interval mode: every point at its own `interval_secs`, and the replay of the recent past
    /// (if any) interleaved with them.
    async fn run_intervals(&mut self, count: Option<u64>) -> anyhow::Result<End> {
        let intervals: Vec<u32> = self.points.iter().map(|p| p.interval_secs).collect();
        let mut schedule = Schedule::new(Instant::now(), &intervals, &mut self.rng);
        let mut replay = self.replay.map(|(span, speed)| {
            let r = Replay::new(
                Instant::now(),
                Utc::now(),
                span,
                speed,
                &intervals,
                &mut self.rng,
            );
            tracing::info!(
                from = %r.sim_now(Instant::now()),
                speed = r.speed(),
                wall_secs = r.wall_duration().as_secs(),
                "Replaying the recent past at speed beside the live readings; it never runs ahead of the clock."
            );
            r
        });
        let mut energy_check =
            tokio::time::interval_at(Instant::now() + ENERGY_CHECK, ENERGY_CHECK);
        energy_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if count.is_some_and(|n| self.stats.messages >= n) {
                return Ok(End::Finished);
            }
            let Some((i, due)) = schedule.next() else {
                return Ok(End::Finished);
            };
            let replay_next = replay.as_ref().and_then(Replay::next);
            if replay.is_some() && replay_next.is_none() {
                replay = None;
                tracing::info!(
                    replayed = self.stats.replayed,
                    "Replay reached the start time; live readings only from now on."
                );
            }
            // Without a replayed reading due, that branch is disabled and its values unused.
            let (replay_i, replay_ts, replay_at) = replay_next.unwrap_or((0, Utc::now(), due));
            tokio::select! {
                biased;
                () = stopped(&mut self.stop) => return Ok(End::Stopped),
                _ = energy_check.tick(), if !self.energy.is_empty() => {
                    if self.publish_energy_due().await? == Step::Stop {
                        return Ok(End::Stopped);
                    }
                    continue;
                }
                () = tokio::time::sleep_until(due) => {}
                () = tokio::time::sleep_until(replay_at), if replay_next.is_some() => {
                    if let Some(r) = replay.as_mut() {
                        r.advance(replay_i);
                    }
                    if self.publish_reading_at(replay_i, Some(replay_ts)).await? == Step::Stop {
                        return Ok(End::Stopped);
                    }
                    continue;
                }
            }
            schedule.advance(i, Instant::now());
            if self.publish_reading(i).await? == Step::Stop {
                return Ok(End::Stopped);
            }
        }
    }

    /// Rate mode: round-robin over the points at `rate` messages per second (0: no pause).
    /// Deadlines are fixed from the start, so after a stall (broker away) it catches up at full
    /// speed and the average rate holds.
    async fn run_rate(&mut self, rate: f64, count: Option<u64>) -> anyhow::Result<End> {
        let start = Instant::now();
        let mut next_energy_check = start + ENERGY_CHECK;
        let n = self.points.len() as u64;
        let mut slot: u64 = 0;
        loop {
            if count.is_some_and(|c| self.stats.messages >= c) {
                return Ok(End::Finished);
            }
            if *self.stop.borrow() {
                return Ok(End::Stopped);
            }
            if !self.energy.is_empty() && Instant::now() >= next_energy_check {
                next_energy_check += ENERGY_CHECK;
                if self.publish_energy_due().await? == Step::Stop {
                    return Ok(End::Stopped);
                }
            }
            match rate_deadline(start, slot, rate) {
                Some(deadline) => tokio::select! {
                    biased;
                    () = stopped(&mut self.stop) => return Ok(End::Stopped),
                    () = tokio::time::sleep_until(deadline) => {}
                },
                // Flat out: let other tasks (eventloop, signals) run now and then.
                None if slot % 256 == 255 => tokio::task::yield_now().await,
                None => {}
            }
            let i = usize::try_from(slot % n.max(1)).unwrap_or(0);
            slot = slot.wrapping_add(1);
            if self.publish_reading(i).await? == Step::Stop {
                return Ok(End::Stopped);
            }
        }
    }

    /// One live reporting slot of point `i`: skipped at the gap rate, otherwise one message.
    async fn publish_reading(&mut self, i: usize) -> anyhow::Result<Step> {
        self.publish_reading_at(i, None).await
    }

    /// One reporting slot of point `i`, live (`None`: time-stamped now) or replayed (at `at`,
    /// which the replay keeps before the live readings and unique per point).
    async fn publish_reading_at(
        &mut self,
        i: usize,
        at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<Step> {
        if self.rng.random::<f64>() < self.gap_rate {
            self.stats.gaps += 1;
            return Ok(Step::Continue);
        }
        let Some(point) = self.points.get_mut(i) else {
            return Ok(Step::Continue);
        };
        let ts = match at {
            Some(ts) => ts,
            None => {
                let ts = next_unique_ts(point.prev_ts, Utc::now());
                point.prev_ts = Some(ts);
                ts
            }
        };
        let msg = generate(&point.model, ts, self.rates, &mut self.rng);
        let topic = point.topic.clone();
        let step = self.send(topic, msg.payload).await?;
        if step == Step::Continue {
            self.stats.messages += 1;
            self.stats.readings += msg.readings;
            self.stats.exceedances += u64::from(msg.exceeded.is_some());
            self.stats.malformed += u64::from(msg.invalid.is_some());
            self.stats.replayed += u64::from(at.is_some());
        }
        Ok(step)
    }

    /// Publishes the energy reports of every month completed and not yet sent.
    async fn publish_energy_due(&mut self) -> anyhow::Result<Step> {
        let today = Utc::now().with_timezone(&Shanghai).date_naive();
        let before = self.stats.energy_reports;
        for f in 0..self.energy.len() {
            let feed = &self.energy[f];
            for ym in months_due(feed.model.baseline_year, feed.next, today) {
                let feed = &self.energy[f];
                let report = feed.model.report(ym, feed.seed);
                let payload =
                    serde_json::to_vec(&report).context("serialising an energy report")?;
                let topic = feed.topic.clone();
                if self.send(topic, payload).await? == Step::Stop {
                    return Ok(Step::Stop);
                }
                self.energy[f].next = Some(ym.next());
                self.stats.energy_reports += 1;
                // Pace the history (over a thousand reports at start-up): a broker left at
                // Mosquitto's default max_queued_messages of 1,000 drops what a consumer has not
                // taken yet beyond that, and greenmon takes its window at a time.
                if self.stats.energy_reports.is_multiple_of(ENERGY_PACE_EVERY) {
                    tokio::time::sleep(ENERGY_PACE_PAUSE).await;
                }
            }
        }
        let sent = self.stats.energy_reports - before;
        if sent > 0 {
            tracing::info!(
                reports = sent,
                parks = self.energy.len(),
                "Energy reports published."
            );
        }
        Ok(Step::Continue)
    }

    /// Publishes unless a stop was requested first.
    async fn send(&mut self, topic: String, payload: Vec<u8>) -> anyhow::Result<Step> {
        tokio::select! {
            biased;
            () = stopped(&mut self.stop) => Ok(Step::Stop),
            r = self.publisher.publish(topic, payload) => r.map(|()| Step::Continue),
        }
    }
}

/// The line printed at the end.
fn summary(s: &Stats, energy_only: bool, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if energy_only {
        return format!(
            "published {} energy reports in {secs:.2} s",
            s.energy_reports
        );
    }
    let per_sec = if secs > 0.0 {
        s.messages as f64 / secs
    } else {
        0.0
    };
    let mut line = format!(
        "published {} messages ({} readings) in {secs:.2} s: {per_sec:.0} msg/s",
        s.messages, s.readings
    );
    if s.replayed > 0 {
        line.push_str(&format!(" ({} of them replayed)", s.replayed));
    }
    if s.energy_reports > 0 {
        line.push_str(&format!(", and {} energy reports", s.energy_reports));
    }
    line
}

/// Resolves once a stop was requested; never when the signal listener could not start.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Sets the returned flag on Ctrl-C (or SIGTERM on Unix).
pub(crate) fn spawn_stop_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "Cannot listen for Ctrl-C.");
                    // Keep the flag unset (and the sender alive) for as long as it is watched.
                    tx.closed().await;
                    return;
                }
            }
            () = terminate() => {}
        }
        tracing::info!("Stop requested.");
        let _ = tx.send(true);
    });
    rx
}

/// Resolves on SIGTERM; never where there is none.
async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            return;
        }
    }
    std::future::pending::<()>().await;
}

/// Aborts a helper task when dropped, also when the simulator's own future is cancelled (as
/// `greenmon demo` does).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Logs published and acknowledged counts every few seconds until aborted.
fn spawn_progress(progress: Progress) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        loop {
            tick.tick().await;
            let (published, acked) = progress.counts();
            tracing::info!(
                published,
                acked,
                unacked = published.saturating_sub(acked),
                "Simulator progress."
            );
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lines() {
        let s = Stats {
            messages: 1000,
            readings: 6000,
            ..Stats::default()
        };
        assert_eq!(
            summary(&s, false, Duration::from_millis(520)),
            "published 1000 messages (6000 readings) in 0.52 s: 1923 msg/s"
        );
        let s = Stats {
            energy_reports: 26,
            ..Stats::default()
        };
        assert_eq!(
            summary(&s, true, Duration::ZERO),
            "published 26 energy reports in 0.00 s"
        );
        assert!(summary(&s, false, Duration::ZERO).ends_with("0 msg/s, and 26 energy reports"));
    }
}

//! The exceedance fast path's ingest side. After each commit the committer shows the batch to
//! the tap; the tap picks the valid readings beyond their point's discharge limit (an hourly
//! average can only cross a limit if some reading in the hour does) and announces their
//! (point, pollutant, hour) on a PostgreSQL channel. Whichever instance leads the alert engine
//! listens there and evaluates those hours at once, instead of at its next periodic evaluation.
//!
//! The committer must never wait for the announcement (it holds the acks), and an announcement
//! may be lost without harm: the periodic evaluation (`alerts.evaluate_interval_secs`) looks at
//! every hour anyway, the fast path only makes it sooner. So the committer hands the hours to one
//! long-lived announcer task through a queue of [`ANNOUNCE_QUEUE`] batches with `try_send`, and
//! when the queue is full (the database is slow or down) the hours are dropped and counted
//! (`greenmon_alert_announcements_dropped_total`) rather than queued without bound or spawned
//! as one task per batch.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::compliance::exceedance::Limit;
use crate::compliance::service::floor_hour;
use crate::domain::{Flag, PollutantCode, ReadingKind};
use crate::store::CommitObserver;
use crate::store::{BatchItem, BatchOutcome, Content, StoreError};
use crate::telemetry::Metrics;

/// The PostgreSQL channel of the fast path.
pub const CHANNEL: &str = "greenmon_exceedance_check";

/// Committed batches whose exceeding hours may wait for the announcer; more are dropped.
pub const ANNOUNCE_QUEUE: usize = 64;

/// How long the announcer may take, once ingest has drained, to announce what is still queued.
const FINAL_ANNOUNCE: Duration = Duration::from_secs(2);

/// Largest NOTIFY payload sent (PostgreSQL's limit is 8000 bytes).
const MAX_PAYLOAD: usize = 7000;

/// point, park, pollutant, lower, upper.
type LimitRow = (String, String, String, Option<f64>, Option<f64>);

/// One point's park and its limits by pollutant.
#[derive(Debug, Default)]
pub struct PointLimits {
    pub park: String,
    pub limits: Vec<(String, Limit)>,
}

/// Every point's discharge limits and the MNs of HJ 212 loggers. Looked up by borrowed
/// strings, so checking a committed batch allocates nothing per reading.
#[derive(Debug, Default)]
pub struct LimitIndex {
    /// point → its park and limits.
    pub points: HashMap<String, PointLimits>,
    /// MN → point.
    pub mns: HashMap<String, String>,
}

impl LimitIndex {
    /// Reads the registry's limits and MNs.
    ///
    /// # Errors
    /// Database errors.
    pub async fn load(pool: &PgPool) -> Result<Self, StoreError> {
        let limits: Vec<LimitRow> = sqlx::query_as(
            "SELECT l.point_id, p.park_id, l.pollutant, l.lower, l.upper
             FROM discharge_limits l JOIN monitoring_points p ON p.id = l.point_id",
        )
        .fetch_all(pool)
        .await?;
        let mns: Vec<(String, String)> =
            sqlx::query_as("SELECT mn, id FROM monitoring_points WHERE mn IS NOT NULL")
                .fetch_all(pool)
                .await?;
        let mut points: HashMap<String, PointLimits> = HashMap::new();
        for (point, park, pollutant, lower, upper) in limits {
            let entry = points.entry(point).or_default();
            entry.park = park;
            entry.limits.push((pollutant, Limit { lower, upper }));
        }
        Ok(Self {
            points,
            mns: mns.into_iter().collect(),
        })
    }

    /// The park of `point` and its limit of `pollutant`, if it has one.
    pub fn limit(&self, point: &str, pollutant: &str) -> Option<(&str, &Limit)> {
        let p = self.points.get(point)?;
        let (_, limit) = p.limits.iter().find(|(code, _)| code == pollutant)?;
        Some((&p.park, limit))
    }

    fn beyond(&self, point: &str, pollutant: &PollutantCode, value: f64) -> bool {
        self.limit(point, pollutant.as_str())
            .is_some_and(|(_, l)| l.crossed(value).is_some())
    }
}

/// A (point, pollutant, hour start) whose hourly average may have crossed a limit.
pub type HourKey = (String, String, DateTime<Utc>);

/// The first hour the exceedance rule looks at, `now` being the evaluation time: the previous
/// hour and the current one. Both the periodic evaluation and the fast path stop there, so a
/// reading of an older hour (a logger's backlog, the history import) pages nobody; those hours
/// reach the compliance report and the bulletin through the rollups instead.
pub fn lookback_start(now: DateTime<Utc>) -> DateTime<Utc> {
    floor_hour(now) - chrono::Duration::hours(1)
}

/// The announced hours the exceedance rule still looks at, at `now`.
pub fn recent(mut keys: Vec<HourKey>, now: DateTime<Utc>) -> Vec<HourKey> {
    let start = lookback_start(now);
    keys.retain(|(_, _, hour)| *hour >= start);
    keys
}

/// Shared by the committer (which shows it each batch) and the alert engine (which reads the
/// limits).
#[derive(Debug)]
pub struct AlertTap {
    index: RwLock<Arc<LimitIndex>>,
    pool: PgPool,
    /// `greenmon_alert_announcements_dropped_total`.
    dropped: prometheus::IntCounter,
    /// To the announcer task ([`AlertTap::announce_until`]).
    announcements: mpsc::Sender<Vec<HourKey>>,
    /// Taken by the announcer task when it starts.
    announcer: Mutex<Option<mpsc::Receiver<Vec<HourKey>>>>,
}

impl CommitObserver for AlertTap {
    /// Queues the hours whose readings crossed a limit for the announcer, without waiting.
    fn committed(&self, items: &[BatchItem], outcome: &BatchOutcome) {
        let keys = self.exceeding(items, outcome);
        if keys.is_empty() {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.announcements.try_send(keys) {
            self.dropped.inc();
            tracing::debug!(
                "Exceedance announcements queue full; the periodic evaluation will find these."
            );
        }
    }
}

impl AlertTap {
    pub fn new(pool: PgPool, metrics: Metrics) -> Self {
        let (announcements, announcer) = mpsc::channel(ANNOUNCE_QUEUE);
        Self {
            index: RwLock::default(),
            pool,
            dropped: metrics.alert_announcements_dropped,
            announcements,
            announcer: Mutex::new(Some(announcer)),
        }
    }

    /// The announcer task: announces each queued batch of hours until `until` (ingest has
    /// drained), then what is still queued, for at most two seconds. Runs once; a second call
    /// returns at once.
    pub async fn announce_until(self: Arc<Self>, until: CancellationToken) {
        let rx = self.announcer.lock().ok().and_then(|mut rx| rx.take());
        let Some(mut rx) = rx else { return };
        loop {
            let keys = tokio::select! {
                k = rx.recv() => match k {
                    Some(k) => k,
                    None => return,
                },
                () = until.cancelled() => break,
            };
            self.announce_logged(&keys).await;
        }
        let rest = async {
            while let Ok(keys) = rx.try_recv() {
                self.announce_logged(&keys).await;
            }
        };
        let _ = tokio::time::timeout(FINAL_ANNOUNCE, rest).await;
    }

    async fn announce_logged(&self, keys: &[HourKey]) {
        if let Err(e) = announce(&self.pool, keys).await {
            tracing::debug!(error = %e, "Cannot announce exceeding readings; the periodic evaluation will find them.");
        }
    }

    pub fn index(&self) -> Arc<LimitIndex> {
        self.index.read().map(|i| i.clone()).unwrap_or_default()
    }

    pub fn set_index(&self, index: LimitIndex) {
        if let Ok(mut i) = self.index.write() {
            *i = Arc::new(index);
        }
    }

    /// Reloads the limits every `every` until `shutdown`.
    pub async fn refresh(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        loop {
            match LimitIndex::load(&self.pool).await {
                Ok(index) => self.set_index(index),
                Err(e) => {
                    tracing::debug!(error = %e, "Cannot load discharge limits; keeping the old ones.")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// The hours of stored, valid readings beyond their limits in a committed batch.
    pub fn exceeding(&self, items: &[BatchItem], outcome: &BatchOutcome) -> Vec<HourKey> {
        let index = self.index();
        if index.points.is_empty() {
            return Vec::new();
        }
        let mut keys = BTreeSet::new();
        let mut check = |point: &str,
                         pollutant: &PollutantCode,
                         kind: ReadingKind,
                         time: DateTime<Utc>,
                         value: f64,
                         flag: Flag| {
            if kind != ReadingKind::Day && flag.is_valid() && index.beyond(point, pollutant, value)
            {
                keys.insert((
                    point.to_string(),
                    pollutant.as_str().to_string(),
                    floor_hour(time),
                ));
            }
        };
        for (item, verdict) in items.iter().zip(&outcome.verdicts) {
            if verdict.is_some() {
                continue;
            }
            match &item.content {
                Content::Readings {
                    point, readings, ..
                } => {
                    for r in readings {
                        check(
                            point.as_str(),
                            &r.pollutant,
                            r.kind,
                            r.time,
                            r.value,
                            r.flag,
                        );
                    }
                }
                Content::Hj212 { upload, .. } => {
                    let Some(point) = index.mns.get(&upload.mn) else {
                        continue;
                    };
                    for v in &upload.values {
                        check(point, &v.pollutant, v.kind, v.time, v.value, v.flag);
                    }
                }
                _ => {}
            }
        }
        keys.into_iter().collect()
    }
}

/// Announces `keys` on [`CHANNEL`], in payloads under PostgreSQL's size limit.
///
/// # Errors
/// Database errors.
pub async fn announce(pool: &PgPool, keys: &[HourKey]) -> Result<(), StoreError> {
    for chunk in payloads(keys) {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(chunk)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// JSON arrays of `[point, pollutant, hour]`, each under [`MAX_PAYLOAD`] bytes.
fn payloads(keys: &[HourKey]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Vec<serde_json::Value> = Vec::new();
    let mut size = 2;
    for (point, pollutant, hour) in keys {
        let v = serde_json::json!([point, pollutant, hour]);
        let len = v.to_string().len() + 1;
        if size + len > MAX_PAYLOAD && !cur.is_empty() {
            out.push(serde_json::Value::Array(std::mem::take(&mut cur)).to_string());
            size = 2;
        }
        size += len;
        cur.push(v);
    }
    if !cur.is_empty() {
        out.push(serde_json::Value::Array(cur).to_string());
    }
    out
}

/// Parses a payload of [`announce`]; `None` when it is not one.
pub fn parse_payload(payload: &str) -> Option<Vec<HourKey>> {
    serde_json::from_str(payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_before_the_look_back_are_left_out() {
        let now: DateTime<Utc> = "2026-11-27T08:20:00Z".parse().unwrap();
        let key = |h: &str| ("p".to_string(), "w01018".to_string(), h.parse().unwrap());
        let keys = vec![
            key("2026-11-27T06:00:00Z"),
            key("2026-11-27T07:00:00Z"),
            key("2026-11-27T08:00:00Z"),
            key("2025-01-01T00:00:00Z"),
        ];
        assert_eq!(
            recent(keys, now),
            [key("2026-11-27T07:00:00Z"), key("2026-11-27T08:00:00Z")]
        );
    }

    #[test]
    fn payloads_split_under_the_limit_and_round_trip() {
        let hour = DateTime::from_timestamp(1_700_000_000 - 1_700_000_000 % 3600, 0).unwrap();
        let keys: Vec<HourKey> = (0..500)
            .map(|i| (format!("point-{i:04}"), "w01018".to_string(), hour))
            .collect();
        let chunks = payloads(&keys);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.len() <= MAX_PAYLOAD));
        let back: Vec<HourKey> = chunks
            .iter()
            .flat_map(|c| parse_payload(c).unwrap())
            .collect();
        assert_eq!(back, keys);
        assert_eq!(parse_payload("not json"), None);
    }
}

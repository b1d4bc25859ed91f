//! The exceedance fast path's ingest side. After each commit the committer shows the batch to
//! the tap; the tap picks the valid readings beyond their point's discharge limit (an hourly
//! average can only cross a limit if some reading in the hour does) and announces their
//! (point, pollutant, hour) on a PostgreSQL channel. Whichever instance leads the alert engine
//! listens there and evaluates those hours at once, instead of at its next periodic evaluation.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::compliance::exceedance::Limit;
use crate::compliance::service::floor_hour;
use crate::domain::{Flag, PollutantCode, ReadingKind};
use crate::store::CommitObserver;
use crate::store::{BatchItem, BatchOutcome, Content, StoreError};

/// The PostgreSQL channel of the fast path.
pub const CHANNEL: &str = "greenmon_exceedance_check";

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

/// Shared by the committer (which shows it each batch) and the alert engine (which reads the
/// limits).
#[derive(Debug)]
pub struct AlertTap {
    index: RwLock<Arc<LimitIndex>>,
    pool: PgPool,
}

impl CommitObserver for AlertTap {
    /// Announces the hours whose readings crossed a limit, without holding up the acks.
    fn committed(&self, items: &[BatchItem], outcome: &BatchOutcome) {
        let keys = self.exceeding(items, outcome);
        if keys.is_empty() {
            return;
        }
        let pool = self.pool.clone();
        tokio::spawn(async move {
            if let Err(e) = announce(&pool, &keys).await {
                tracing::debug!(error = %e, "Cannot announce exceeding readings; the periodic evaluation will find them.");
            }
        });
    }
}

impl AlertTap {
    pub fn new(pool: PgPool) -> Self {
        Self {
            index: RwLock::default(),
            pool,
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

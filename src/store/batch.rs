//! One batch of decoded messages written in one transaction: readings, energy reports and
//! quarantine rows commit together, after the registry check of every message.

use std::collections::HashMap;

use bytes::Bytes;
use sqlx::PgPool;

use super::{energy, quarantine, readings, StoreError};
use crate::domain::{EnergyReport, ParkId, PointId, Reading};

/// Reason code: the point in the topic is not registered.
pub const UNKNOWN_POINT: &str = "unknown_point";
/// Reason code: the point is registered to another park than the topic names.
pub const PARK_MISMATCH: &str = "park_mismatch";
/// Reason code: the park in the topic is not registered.
pub const UNKNOWN_PARK: &str = "unknown_park";
/// Reason code: the database refused the message's rows (a constraint or data error).
pub const REJECTED_BY_DATABASE: &str = "rejected_by_database";

/// What one message carries into the store.
#[derive(Debug, Clone)]
pub enum Content {
    Readings {
        park: ParkId,
        point: PointId,
        readings: Vec<Reading>,
    },
    Energy(EnergyReport),
    /// Rejected before the store; goes to quarantine.
    Rejected {
        reason: &'static str,
        detail: String,
    },
}

/// One message: where it came from, its raw bytes (kept for quarantine) and its content.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// `mqtt` or `tcp`.
    pub source: &'static str,
    pub topic: String,
    pub payload: Bytes,
    pub content: Content,
}

/// What a committed batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Messages stored as readings or energy reports.
    pub messages_stored: u64,
    /// Reading rows inserted.
    pub readings_inserted: u64,
    /// Reading rows skipped because they were already stored.
    pub readings_duplicate: u64,
    pub energy_reports: u64,
    /// Reason code of every quarantined message, in batch order.
    pub quarantined: Vec<&'static str>,
}

/// Writes the batch in one transaction. A permanent error (constraint or data) splits the batch
/// so one bad message cannot block the others; that message is quarantined.
///
/// # Errors
/// Retriable errors (database unavailable) are returned for the caller to retry the whole batch;
/// nothing was committed then.
pub async fn write_batch(pool: &PgPool, items: &[BatchItem]) -> Result<BatchOutcome, StoreError> {
    // COPY first; a batch holding a redelivered reading goes again through the upsert.
    let first = match write_tx(pool, items, None, Rows::Copy).await {
        Err(e) if e.is_unique_violation(readings::PRIMARY_KEY) => {
            write_tx(pool, items, None, Rows::Upsert).await
        }
        other => other,
    };
    match first {
        Err(e) if !e.is_retriable() => {
            tracing::warn!(error = %e, items = items.len(), "Batch refused by the database; writing its messages one by one.");
            let mut total = BatchOutcome::default();
            for item in items {
                let one = std::slice::from_ref(item);
                let outcome = match write_tx(pool, one, None, Rows::Upsert).await {
                    Err(e) if !e.is_retriable() => {
                        write_tx(pool, one, Some(e.to_string()), Rows::Upsert).await?
                    }
                    other => other?,
                };
                total.merge(outcome);
            }
            Ok(total)
        }
        other => other,
    }
}

impl BatchOutcome {
    fn merge(&mut self, o: BatchOutcome) {
        self.messages_stored += o.messages_stored;
        self.readings_inserted += o.readings_inserted;
        self.readings_duplicate += o.readings_duplicate;
        self.energy_reports += o.energy_reports;
        self.quarantined.extend(o.quarantined);
    }
}

/// How reading rows are written.
#[derive(Debug, Clone, Copy)]
enum Rows {
    /// Binary COPY: fast, fails if a row already exists.
    Copy,
    /// `INSERT ... ON CONFLICT DO NOTHING`: skips rows already stored.
    Upsert,
}

/// With `refused = Some(reason)`, every item is quarantined as rejected by the database.
async fn write_tx(
    pool: &PgPool,
    items: &[BatchItem],
    refused: Option<String>,
    mode: Rows,
) -> Result<BatchOutcome, StoreError> {
    let mut tx = pool.begin().await.map_err(StoreError::Unavailable)?;
    let points = lookup_points(&mut tx, items).await?;
    let parks = lookup_parks(&mut tx, items).await?;

    let mut out = BatchOutcome::default();
    let mut rows: Vec<&Reading> = Vec::new();
    let mut reports: Vec<&EnergyReport> = Vec::new();
    let mut rejected: Vec<(&BatchItem, &'static str, String)> = Vec::new();
    for item in items {
        if let Some(why) = &refused {
            rejected.push((item, REJECTED_BY_DATABASE, why.clone()));
            continue;
        }
        match &item.content {
            Content::Rejected { reason, detail } => rejected.push((item, reason, detail.clone())),
            Content::Readings {
                park,
                point,
                readings,
            } => match points.get(point.as_str()) {
                None => rejected.push((
                    item,
                    UNKNOWN_POINT,
                    format!("point {point} is not registered"),
                )),
                Some(registered) if registered != park.as_str() => rejected.push((
                    item,
                    PARK_MISMATCH,
                    format!("point {point} is registered to park {registered}, not {park}"),
                )),
                Some(_) => {
                    rows.extend(readings.iter());
                    out.messages_stored += 1;
                }
            },
            Content::Energy(report) => {
                if parks.contains_key(report.park.as_str()) {
                    reports.push(report);
                    out.messages_stored += 1;
                } else {
                    let detail = format!("park {} is not registered", report.park);
                    rejected.push((item, UNKNOWN_PARK, detail));
                }
            }
        }
    }
    if !rows.is_empty() {
        out.readings_inserted = match mode {
            Rows::Copy => readings::copy(&mut tx, &rows).await?,
            Rows::Upsert => readings::insert(&mut tx, &rows).await?,
        };
        out.readings_duplicate = rows.len() as u64 - out.readings_inserted;
        readings::update_last_seen(&mut tx, &rows).await?;
    }
    if !reports.is_empty() {
        out.energy_reports = energy::upsert(&mut tx, &reports, "mqtt").await?;
    }
    if !rejected.is_empty() {
        quarantine::insert(&mut tx, &rejected).await?;
        out.quarantined = rejected.iter().map(|(_, reason, _)| *reason).collect();
    }
    tx.commit().await?;
    Ok(out)
}

async fn lookup_points(
    tx: &mut sqlx::PgConnection,
    items: &[BatchItem],
) -> Result<HashMap<String, String>, StoreError> {
    let mut ids: Vec<&str> = items
        .iter()
        .filter_map(|i| match &i.content {
            Content::Readings { point, .. } => Some(point.as_str()),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, park_id FROM monitoring_points WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *tx)
            .await?;
    Ok(rows.into_iter().collect())
}

async fn lookup_parks(
    tx: &mut sqlx::PgConnection,
    items: &[BatchItem],
) -> Result<HashMap<String, ()>, StoreError> {
    let ids: Vec<&str> = items
        .iter()
        .filter_map(|i| match &i.content {
            Content::Energy(r) => Some(r.park.as_str()),
            _ => None,
        })
        .collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<String> = sqlx::query_scalar("SELECT id FROM parks WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
    Ok(rows.into_iter().map(|id| (id, ())).collect())
}

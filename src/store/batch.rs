//! One batch of decoded messages written in one transaction: readings, energy reports and
//! quarantine rows commit together, after the registry check of every message.

use std::collections::HashMap;

use bytes::Bytes;
use sqlx::PgPool;

use super::corrections::Incoming;
use super::readings;
use super::{energy, quarantine, StoreError};
use crate::domain::CrcMode;
use crate::domain::{EnergyReport, Hj212Upload, ParkId, PointId, Reading};

/// Reason code: the point in the topic is not registered.
pub const UNKNOWN_POINT: &str = "unknown_point";
/// Reason code: the point is registered to another park than the topic names.
pub const PARK_MISMATCH: &str = "park_mismatch";
/// Reason code: the park in the topic is not registered.
pub const UNKNOWN_PARK: &str = "unknown_park";
/// Reason code: the database refused the message's rows (a constraint or data error).
pub const REJECTED_BY_DATABASE: &str = "rejected_by_database";
/// Reason code: no point is registered with the packet's HJ 212 MN.
pub const UNKNOWN_MN: &str = "unknown_mn";
/// Reason code: the packet's password (PW) is not the one registered for its MN.
pub const BAD_PASSWORD: &str = "bad_password";
/// Reason code: the packet's system code (ST) is not the one registered for its MN.
pub const BAD_ST: &str = "bad_st";
/// Reason code: the packet's CRC matched a variant this logger is not allowed to use.
pub const CRC_MODE_NOT_ALLOWED: &str = "crc_mode_not_allowed";

/// What one message carries into the store.
#[derive(Debug, Clone)]
pub enum Content {
    Readings {
        park: ParkId,
        point: PointId,
        readings: Vec<Reading>,
    },
    Energy(EnergyReport),
    /// An HJ 212 upload; its MN is resolved to a point here, claimed by the park in the topic
    /// (MQTT) or by none (TCP).
    Hj212 {
        park: Option<ParkId>,
        upload: Hj212Upload,
    },
    /// Accepted, but nothing to store (an HJ 212 command greenmon does not use).
    Ignored,
    /// Rejected before the store; goes to quarantine.
    Rejected {
        reason: &'static str,
        detail: String,
    },
}

/// One message: where it came from, its raw bytes (kept for quarantine) and its content.
#[derive(Debug, Clone)]
pub struct BatchItem {
    /// `mqtt`, `tcp`, `import`, or `bureau` for a correction
    /// ([`corrections::BUREAU`](super::corrections::BUREAU), which outranks the others).
    pub source: &'static str,
    /// Who sent it, stored with its readings: `None` for the point's own data logger (MQTT, TCP,
    /// an import of logger history), the author of a bureau correction.
    pub sender: Option<String>,
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
    /// Reading rows skipped because they were already stored, identical.
    pub readings_duplicate: u64,
    /// Stored readings replaced by a different version (corrections).
    pub readings_corrected: u64,
    /// Reading rows that differed from a stored bureau correction and lost to it.
    pub readings_overruled: u64,
    pub energy_reports: u64,
    /// Per item, in batch order: `None` when stored (or ignored), else the quarantine reason.
    pub verdicts: Vec<Option<&'static str>>,
}

/// Sees every committed batch, after its commit and before its acks (the alert engine's
/// exceedance fast path). Must not block. Defined here, beside the batch it observes, so that
/// ingest (which calls it) and alerts (which implement it) both depend only on the store.
pub trait CommitObserver: Send + Sync {
    fn committed(&self, items: &[BatchItem], outcome: &BatchOutcome);
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
                        let why = e.to_string();
                        tracing::warn!(error = %why, topic = %item.topic, "Message refused by the database; quarantining it.");
                        match write_tx(pool, one, Some(why.clone()), Rows::Upsert).await {
                            Err(e) if !e.is_retriable() => {
                                quarantine_bare(pool, item, &why).await?
                            }
                            other => other?,
                        }
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

/// The last resort for a message the database refuses even as a quarantine row of the usual
/// kind (which looks up the registry first): the message alone, with no lookups. If even that is
/// refused, the message cannot be kept by the database at all: it is logged whole (as hex) at
/// ERROR and its verdict still says `rejected_by_database`, so it is acknowledged and stalls
/// nothing.
///
/// # Errors
/// Retriable errors only.
async fn quarantine_bare(
    pool: &PgPool,
    item: &BatchItem,
    why: &str,
) -> Result<BatchOutcome, StoreError> {
    let row = quarantine::Rejected {
        source: item.source,
        topic: &item.topic,
        payload: &item.payload,
        reason: REJECTED_BY_DATABASE,
        detail: why,
    };
    let mut tx = pool.begin().await.map_err(StoreError::Unavailable)?;
    let written = match quarantine::insert(&mut tx, std::slice::from_ref(&row)).await {
        Ok(()) => tx.commit().await.map_err(StoreError::from),
        Err(e) => Err(e),
    };
    match written {
        Err(e) if e.is_retriable() => return Err(e),
        Err(e) => tracing::error!(
            error = %e,
            refused = why,
            topic = %item.topic,
            payload_hex = %hex::encode(&item.payload),
            "Message refused by the database even as a quarantine row; it is acknowledged and kept only in this log line."
        ),
        Ok(()) => {}
    }
    Ok(BatchOutcome {
        verdicts: vec![Some(REJECTED_BY_DATABASE)],
        ..BatchOutcome::default()
    })
}

impl BatchOutcome {
    fn merge(&mut self, o: BatchOutcome) {
        self.messages_stored += o.messages_stored;
        self.readings_inserted += o.readings_inserted;
        self.readings_duplicate += o.readings_duplicate;
        self.readings_corrected += o.readings_corrected;
        self.readings_overruled += o.readings_overruled;
        self.energy_reports += o.energy_reports;
        self.verdicts.extend(o.verdicts);
    }
}

/// How reading rows are written.
#[derive(Debug, Clone, Copy)]
enum Rows {
    /// Binary COPY: fast, fails if a row already exists.
    Copy,
    /// `INSERT ... ON CONFLICT DO NOTHING`, then the corrections among the rows it skipped.
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
    let devices = lookup_devices(&mut tx, items).await?;

    let mut out = BatchOutcome::default();
    let mut rows: Vec<Incoming<'_>> = Vec::new();
    let mut hj212_rows: Vec<(Reading, &BatchItem)> = Vec::new();
    let mut reports: Vec<&EnergyReport> = Vec::new();
    let mut rejected: Vec<(&BatchItem, &'static str, String)> = Vec::new();
    for item in items {
        let before = rejected.len();
        if let Some(why) = &refused {
            rejected.push((item, REJECTED_BY_DATABASE, why.clone()));
            out.verdicts.push(Some(REJECTED_BY_DATABASE));
            continue;
        }
        match &item.content {
            Content::Rejected { reason, detail } => rejected.push((item, reason, detail.clone())),
            Content::Ignored => {}
            Content::Hj212 { park, upload } => {
                match check_device(&devices, park.as_ref(), upload) {
                    Ok(point) => {
                        hj212_rows.extend(upload.values.iter().map(|v| {
                            let reading = Reading {
                                time: v.time,
                                point: point.clone(),
                                pollutant: v.pollutant.clone(),
                                kind: v.kind,
                                value: v.value,
                                min: v.min,
                                max: v.max,
                                cou: v.cou,
                                flag: v.flag,
                            };
                            (reading, item)
                        }));
                        out.messages_stored += 1;
                    }
                    Err((reason, detail)) => rejected.push((item, reason, detail)),
                }
            }
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
                    rows.extend(readings.iter().map(|r| incoming(r, item)));
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
        out.verdicts
            .push((rejected.len() > before).then(|| rejected[before].1));
    }
    rows.extend(hj212_rows.iter().map(|(r, item)| incoming(r, item)));
    if !rows.is_empty() {
        match mode {
            Rows::Copy => out.readings_inserted = readings::copy(&mut tx, &rows).await?,
            Rows::Upsert => {
                let done = readings::upsert(&mut tx, &rows).await?;
                out.readings_inserted = done.inserted;
                out.readings_duplicate = done.duplicate;
                out.readings_corrected = done.corrected.replaced;
                out.readings_overruled = done.corrected.overruled;
            }
        }
        readings::update_last_seen(&mut tx, &rows).await?;
        readings::note_late(&mut tx, &rows).await?;
    }
    if !reports.is_empty() {
        out.energy_reports = energy::upsert(&mut tx, &reports, "mqtt").await?;
    }
    if !rejected.is_empty() {
        let rows: Vec<quarantine::Rejected<'_>> = rejected
            .iter()
            .map(|(item, reason, detail)| quarantine::Rejected {
                source: item.source,
                topic: &item.topic,
                payload: &item.payload,
                reason,
                detail,
            })
            .collect();
        quarantine::insert(&mut tx, &rows).await?;
    }
    tx.commit().await?;
    Ok(out)
}

fn incoming<'a>(reading: &'a Reading, item: &'a BatchItem) -> Incoming<'a> {
    Incoming {
        reading,
        source: item.source,
        sender: item.sender.as_deref(),
    }
}

/// A registered HJ 212 device: its point, park, password and accepted CRC variants.
struct Device {
    point: PointId,
    park: String,
    password: Option<String>,
    crc_modes: Vec<String>,
    st: Option<String>,
}

/// Resolves an upload's MN to its point, checking the password, the CRC variant and the park.
fn check_device(
    devices: &HashMap<String, Device>,
    claimed_park: Option<&ParkId>,
    upload: &Hj212Upload,
) -> Result<PointId, (&'static str, String)> {
    let mn = &upload.mn;
    let device = devices
        .get(mn)
        .ok_or_else(|| (UNKNOWN_MN, format!("no point is registered with MN {mn}")))?;
    if let Some(expected) = &device.password {
        if upload.password.as_deref() != Some(expected.as_str()) {
            return Err((BAD_PASSWORD, format!("wrong password for MN {mn}")));
        }
    }
    if let Some(expected) = &device.st {
        if upload.st != *expected {
            return Err((
                BAD_ST,
                format!("MN {mn} sent ST={}, registered ST={expected}", upload.st),
            ));
        }
    }
    if upload.crc_mode != CrcMode::Hj212
        && !device
            .crc_modes
            .iter()
            .any(|m| m == upload.crc_mode.as_str())
    {
        return Err((
            CRC_MODE_NOT_ALLOWED,
            format!(
                "MN {mn} sent a {} CRC, which it is not allowed to use",
                upload.crc_mode
            ),
        ));
    }
    if let Some(park) = claimed_park {
        if park.as_str() != device.park {
            return Err((
                PARK_MISMATCH,
                format!("MN {mn} is registered to park {}, not {park}", device.park),
            ));
        }
    }
    Ok(device.point.clone())
}

async fn lookup_devices(
    tx: &mut sqlx::PgConnection,
    items: &[BatchItem],
) -> Result<HashMap<String, Device>, StoreError> {
    let mns: Vec<&str> = items
        .iter()
        .filter_map(|i| match &i.content {
            Content::Hj212 { upload, .. } => Some(upload.mn.as_str()),
            _ => None,
        })
        .collect();
    if mns.is_empty() {
        return Ok(HashMap::new());
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        mn: String,
        id: String,
        park_id: String,
        hj212_password: Option<String>,
        hj212_crc_modes: Vec<String>,
        hj212_st: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT mn, id, park_id, hj212_password, hj212_crc_modes, hj212_st FROM monitoring_points
         WHERE mn = ANY($1)",
    )
    .bind(&mns)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let point = PointId::parse(&r.id).ok()?;
            Some((
                r.mn,
                Device {
                    point,
                    park: r.park_id,
                    password: r.hj212_password,
                    crc_modes: r.hj212_crc_modes,
                    st: r.hj212_st,
                },
            ))
        })
        .collect())
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

/// Every registered point with its park (`point id → park id`): the history import names the
/// park of a CSV line that gives none.
///
/// # Errors
/// Database errors.
pub async fn point_parks(pool: &PgPool) -> Result<HashMap<String, String>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, park_id FROM monitoring_points")
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().collect())
}

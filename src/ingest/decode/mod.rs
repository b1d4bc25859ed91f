//! Pure decoding: (topic, payload bytes) → readings or an energy report, or a [`DecodeError`]
//! with a stable reason code. No IO and no clock: the caller passes `now`.
//!
//! Registry checks (is the point registered, and to this park?) need the database and happen in
//! the store, in the same transaction as the write (`store::batch`).

mod csv;
pub mod hj212;
pub mod inspect;
mod json;
pub mod plausible;
mod topic;

pub use self::hj212::{decode_frame, decode_hj212, Hj212Item, Hj212Packet, Replies};
pub use csv::{decode_csv_line, CsvColumns, CsvReading};
pub use json::{decode_energy, decode_readings};
pub use topic::{subscriptions, Topic};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::{EnergyReport, ParkId, PointId, Reading};

/// How much of an oversized message is kept in quarantine (its size is in the detail).
pub const QUARANTINED_HEAD_BYTES: usize = 4096;

/// Limits and context for decoding.
#[derive(Debug, Clone)]
pub struct DecodeContext {
    pub topic_prefix: String,
    pub timezone: Tz,
    pub max_payload_bytes: usize,
    pub max_future_secs: i64,
    /// Plausible ranges per pollutant (`ingest.value_limits`).
    pub limits: std::sync::Arc<crate::domain::limits::ValueLimits>,
}

/// What a message decoded to.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded {
    /// Readings of one point, claimed by the park in the topic.
    Readings {
        park: ParkId,
        point: PointId,
        readings: Vec<Reading>,
    },
    /// An energy report of the park in the topic.
    Energy(EnergyReport),
    /// HJ 212 packets, claimed by the park in the topic (MQTT) or by no park (TCP).
    Hj212 {
        park: Option<ParkId>,
        packets: Vec<Hj212Packet>,
    },
}

/// Why a message was rejected. Each variant has a stable [`DecodeError::code`], stored as the
/// quarantine reason and used as a metric label.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("payload is {size} bytes, above the limit of {limit}; the first {QUARANTINED_HEAD_BYTES} bytes are kept")]
    PayloadTooLarge { size: usize, limit: usize },
    #[error("topic is not a greenmon topic: {0}")]
    InvalidTopic(String),
    #[error("payload is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("payload does not match the schema: {0}")]
    InvalidSchema(String),
    #[error("{0}")]
    UnknownPollutant(String),
    #[error("value of {0} is not a finite number")]
    NonFiniteValue(String),
    #[error("timestamp {0:?} is not RFC 3339 (or local YYYY-MM-DDThh:mm:ss)")]
    InvalidTimestamp(String),
    #[error("timestamp {ts} is more than {limit_secs} s in the future")]
    FutureTimestamp { ts: String, limit_secs: i64 },
    #[error("{0}")]
    ValueOutOfRange(String),
    #[error("time {0} is outside the years 2000 to 2100")]
    TimeOutOfRange(String),
    #[error("flag {0:?} is not an HJ 212 data flag (N, F, M, S, D, C, T, B, P)")]
    InvalidFlag(String),
    #[error("pollutant {0} appears twice in one reading")]
    DuplicatePollutant(String),
    #[error("message carries no readings")]
    Empty,
    #[error("{0}")]
    InvalidPeriod(String),
    /// A CSV line of the history import that does not match its header.
    #[error("CSV line: {0}")]
    InvalidCsv(String),
    #[error("energy report field {0}")]
    InvalidEnergy(String),
    /// An HJ 212 framing, packet or CRC problem, with the codec's reason code.
    #[error("{detail}")]
    Hj212 { code: &'static str, detail: String },
}

impl From<crate::domain::EnergyPayloadError> for DecodeError {
    fn from(e: crate::domain::EnergyPayloadError) -> Self {
        use crate::domain::EnergyPayloadError as E;
        match e {
            E::Json(m) => Self::InvalidJson(m),
            E::Schema(m) => Self::InvalidSchema(m),
            E::Period(m) => Self::InvalidPeriod(m),
            E::Value(m) => Self::InvalidEnergy(m),
        }
    }
}

impl DecodeError {
    /// The stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::InvalidTopic(_) => "invalid_topic",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidSchema(_) => "invalid_schema",
            Self::UnknownPollutant(_) => "unknown_pollutant",
            Self::NonFiniteValue(_) => "non_finite_value",
            Self::InvalidTimestamp(_) => "invalid_timestamp",
            Self::FutureTimestamp { .. } => "future_timestamp",
            Self::ValueOutOfRange(_) => "value_out_of_range",
            Self::TimeOutOfRange(_) => "time_out_of_range",
            Self::InvalidFlag(_) => "invalid_flag",
            Self::DuplicatePollutant(_) => "duplicate_pollutant",
            Self::Empty => "empty_message",
            Self::InvalidPeriod(_) => "invalid_period",
            Self::InvalidCsv(_) => "invalid_csv",
            Self::InvalidEnergy(_) => "invalid_energy_report",
            Self::Hj212 { code, .. } => code,
        }
    }
}

/// Decodes one MQTT message.
///
/// # Errors
/// The first reason the message cannot be accepted.
pub fn decode(
    ctx: &DecodeContext,
    topic: &str,
    payload: &[u8],
    now: DateTime<Utc>,
) -> Result<Decoded, DecodeError> {
    if payload.len() > ctx.max_payload_bytes {
        return Err(DecodeError::PayloadTooLarge {
            size: payload.len(),
            limit: ctx.max_payload_bytes,
        });
    }
    match Topic::parse(&ctx.topic_prefix, topic)? {
        Topic::Readings { park, point } => {
            let readings = decode_readings(ctx, &point, payload, now)?;
            Ok(Decoded::Readings {
                park,
                point,
                readings,
            })
        }
        Topic::Energy { park } => Ok(Decoded::Energy(decode_energy(park, payload)?)),
        Topic::Hj212 { park } => Ok(Decoded::Hj212 {
            park: Some(park),
            packets: decode_hj212(payload, ctx.timezone, ctx.max_future_secs, now),
        }),
    }
}

//! Domain vocabulary: identifiers, pollutant codes, HJ 212 data flags, reporting periods, readings
//! and the registry file. Pure types with parse constructors; no IO.
//!
//! HJ 212's own vocabulary (data flags, pollutant codes, CRC modes) is defined by the standard,
//! so it lives in the `hj212` crate and is re-exported here; greenmon names it through
//! `crate::domain`. What greenmon adds (the pollutant aliases of JSON payloads) is here.

pub mod alert;
mod ids;
pub mod limits;
mod period;
mod pollutant;
pub mod registry;
mod review;
pub mod units;

pub use hj212::{CrcMode, Flag, PollutantCode};
pub use ids::{IdError, Mn, ParkId, PointId};
pub use period::{floor_hour, local_midnight, Period, PeriodError};
pub use pollutant::{parse_pollutant, PollutantError};
pub use review::{check_mark, ReviewEffect, ReviewKind};

use chrono::{DateTime, Utc};

/// One measured value of one pollutant at one point and time: a row of `readings`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Sampling instant, or the start of the interval for interval statistics.
    pub time: DateTime<Utc>,
    pub point: PointId,
    pub pollutant: PollutantCode,
    pub kind: ReadingKind,
    /// The value (real-time) or the interval average.
    pub value: f64,
    /// Interval minimum, maximum and cumulative amount, when the logger reports them.
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub cou: Option<f64>,
    pub flag: Flag,
}

impl Reading {
    /// A single measured value (JSON readings, HJ 212 real-time data).
    pub fn sample(
        time: DateTime<Utc>,
        point: PointId,
        pollutant: PollutantCode,
        value: f64,
        flag: Flag,
    ) -> Self {
        Self {
            time,
            point,
            pollutant,
            kind: ReadingKind::Sample,
            value,
            min: None,
            max: None,
            cou: None,
            flag,
        }
    }
}

/// What a reading's value is: a sample, or the statistics of an interval (HJ 212 CN 2051, 2061,
/// 2031). Stored in `readings.kind`; part of the primary key, so a logger's real-time value and
/// its minute average at the same instant are both kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadingKind {
    /// A single value at an instant (JSON, HJ 212 CN 2011 `Rtd`).
    Sample,
    /// Statistics of a minute interval (CN 2051), time = interval start.
    Minute,
    /// Statistics of an hour (CN 2061), time = hour start.
    Hour,
    /// Statistics of a day (CN 2031), time = day start.
    Day,
}

impl ReadingKind {
    /// The code stored in `readings.kind`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Sample => "rtd",
            Self::Minute => "min",
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// A park's energy use and industrial value added over one period: a row of `energy_reports`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnergyReport {
    pub park: ParkId,
    pub period: Period,
    /// Energy consumed, tonnes of standard coal equivalent.
    pub energy_tce: f64,
    /// Industrial value added at current prices, 10,000 yuan.
    pub value_added_10k_yuan: f64,
    /// Price index relative to the park's baseline year (1.0 = baseline prices).
    pub price_index: f64,
}

/// The largest plausible energy use of one park in one report, in tce: a year of a whole
/// province's industry is of the order of 1e8.
pub const MAX_ENERGY_TCE: f64 = 1e9;
/// The largest plausible value added of one park in one report, in 10,000 yuan (1e16 yuan).
pub const MAX_VALUE_ADDED_10K_YUAN: f64 = 1e12;
/// The price index against the baseline year: prices do not fall to 1% or grow a hundredfold.
pub const MIN_PRICE_INDEX: f64 = 0.01;
pub const MAX_PRICE_INDEX: f64 = 100.0;

/// `field` must be finite, above `min` (or equal to it when `min_inclusive`) and at most `max`.
fn check_magnitude(
    field: &str,
    v: f64,
    min: f64,
    min_inclusive: bool,
    max: f64,
) -> Result<(), EnergyPayloadError> {
    let above = if min_inclusive { v >= min } else { v > min };
    if v.is_finite() && above && v <= max {
        return Ok(());
    }
    let lower = if min_inclusive { "≥" } else { ">" };
    Err(EnergyPayloadError::Value(format!(
        "{field} must be a number {lower} {min} and ≤ {max:e}, not {v}"
    )))
}

/// Why an energy-report payload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EnergyPayloadError {
    #[error("payload is not valid JSON: {0}")]
    Json(String),
    #[error("payload does not match the schema: {0}")]
    Schema(String),
    #[error("{0}")]
    Period(String),
    #[error("energy report field {0}")]
    Value(String),
}

impl EnergyReport {
    /// Parses the energy-report payload of `park` (the MQTT energy topic and the HTTP API):
    /// `{"period": "2018-03", "energy_tce": …, "value_added_10k_yuan": …, "price_index": …}`.
    ///
    /// # Errors
    /// The first problem found.
    pub fn from_json(park: ParkId, payload: &[u8]) -> Result<Self, EnergyPayloadError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            period: String,
            energy_tce: f64,
            value_added_10k_yuan: f64,
            #[serde(default)]
            price_index: Option<f64>,
        }
        let value: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| EnergyPayloadError::Json(e.to_string()))?;
        let raw: Raw =
            serde_json::from_value(value).map_err(|e| EnergyPayloadError::Schema(e.to_string()))?;
        let period: Period = raw
            .period
            .parse()
            .map_err(|e: PeriodError| EnergyPayloadError::Period(e.to_string()))?;
        let price_index = raw.price_index.unwrap_or(1.0);
        check_magnitude("energy_tce", raw.energy_tce, 0.0, true, MAX_ENERGY_TCE)?;
        check_magnitude(
            "value_added_10k_yuan",
            raw.value_added_10k_yuan,
            0.0,
            false,
            MAX_VALUE_ADDED_10K_YUAN,
        )?;
        check_magnitude(
            "price_index",
            price_index,
            MIN_PRICE_INDEX,
            true,
            MAX_PRICE_INDEX,
        )?;
        Ok(EnergyReport {
            park,
            period,
            energy_tce: raw.energy_tce,
            value_added_10k_yuan: raw.value_added_10k_yuan,
            price_index,
        })
    }
}

/// One value of an upload, before the MN is resolved to a point.
#[derive(Debug, Clone, PartialEq)]
pub struct Hj212Value {
    pub pollutant: PollutantCode,
    pub kind: ReadingKind,
    pub time: DateTime<Utc>,
    pub value: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub cou: Option<f64>,
    pub flag: Flag,
}

/// A data packet that decoded cleanly.
#[derive(Debug, Clone, PartialEq)]
pub struct Hj212Upload {
    pub mn: String,
    pub password: Option<String>,
    /// The system code (ST) the packet carries.
    pub st: String,
    /// The CRC variant the packet's CRC matched.
    pub crc_mode: CrcMode,
    pub cn: String,
    pub data_time: Option<DateTime<Utc>>,
    /// `(PNUM, PNO)` of a split upload.
    pub split: Option<(u32, u32)>,
    pub values: Vec<Hj212Value>,
}

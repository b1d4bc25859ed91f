//! Domain vocabulary: identifiers, pollutant codes, HJ 212 data flags, reporting periods, readings
//! and the registry file. Pure types with parse constructors; no IO.

mod flag;
mod ids;
mod period;
mod pollutant;
pub mod registry;

pub use flag::Flag;
pub use ids::{IdError, Mn, ParkId, PointId};
pub use period::{Period, PeriodError};
pub use pollutant::{PollutantCode, PollutantError};

use chrono::{DateTime, Utc};

/// One measured value of one pollutant at one point and time: a row of `readings`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub time: DateTime<Utc>,
    pub point: PointId,
    pub pollutant: PollutantCode,
    pub value: f64,
    pub flag: Flag,
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

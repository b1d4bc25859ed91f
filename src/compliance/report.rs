//! The monthly compliance bulletin, what a bureau reads: per park, the monitoring rate against
//! the 100% target, the month's data rates, the required points that fell short, discharge
//! exceedances and the energy intensity against its path; per point, its rates and exceedances.
//! Built here with exact numbers (the JSON); `report_text` renders it rounded as a table, and
//! exact as CSV (`greenmon report`).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgPool;

use super::energy::EnergyStatus;
use super::exceedance::Direction;
use super::rates::{local_day_bounds, DailyRates};
use super::service::{self, Basis, Evaluated, Exceedance, PointRates};
use crate::domain::units::unit_of;
use crate::store::StoreError;

/// Where a park stands on the 100% monitoring target for the month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitoringVerdict {
    /// Every required point that owed hours reached the threshold.
    Passed,
    /// At least one required point that owed hours fell short.
    BelowTarget,
    /// The park has no required point: it has shown nothing, so it has not passed.
    NoMonitoringRegistered,
    /// Its required points owed no hours in the month (commissioned later, or retired).
    NothingOwed,
}

impl MonitoringVerdict {
    /// The words of the table.
    pub fn label(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::BelowTarget => "below target",
            Self::NoMonitoringRegistered => "no monitoring registered",
            Self::NothingOwed => "no hours owed",
        }
    }
}

/// One park's month. Numbers are exact (fractions, not percentages); the table rounds them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MonthlyReport {
    pub park_id: String,
    pub month: String,
    /// Hours counted up to (the month's end, or the cut-off in a month in progress), the data
    /// cut-off, and the "as of" time when the month is reproduced as it was known then.
    pub evaluated: Evaluated,
    pub verdict: MonitoringVerdict,
    /// Required points that owed hours and reached the threshold / required points that owed
    /// hours; the target is 1.0. `None` when no required point owed hours.
    pub monitoring_rate: Option<f64>,
    /// The effective transmission rate a point must reach to count as monitored.
    pub threshold: f64,
    pub required_points: usize,
    /// Required points that owed hours in the month.
    pub required_points_owing: usize,
    /// Required points that owed hours and fell below the threshold.
    pub required_points_short: usize,
    /// Hour counts summed over the required points and days.
    pub hours: DailyRates,
    /// 传输率, 有效率, 传输有效率 of those sums.
    pub transmission: Option<f64>,
    pub validity: Option<f64>,
    pub effective: Option<f64>,
    /// Required points that owed hours and fell below the threshold.
    pub points_below_threshold: Vec<PointBelow>,
    /// Every point of the park, required or not.
    pub points: Vec<PointMonth>,
    pub exceedance_episodes: usize,
    pub exceedance_hours: u32,
    /// The park's energy path: baseline year, target year and the cut required by then.
    pub energy_baseline_year: Option<i32>,
    pub energy_target_year: Option<i32>,
    pub energy_target_reduction: Option<f64>,
    /// Year to date as of the month's end; `on_track` says whether it is on the path.
    pub energy: Option<EnergyStatus>,
}

/// A required point below the effective-transmission threshold.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PointBelow {
    pub point_id: String,
    pub effective: Option<f64>,
}

/// One point's month.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PointMonth {
    pub point_id: String,
    pub required: bool,
    /// Commissioning and retirement: the hours owed lie between them.
    pub monitored_since: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub hours: DailyRates,
    pub transmission: Option<f64>,
    pub validity: Option<f64>,
    pub effective: Option<f64>,
    /// Required, owed hours, and below the threshold.
    pub below_threshold: bool,
    pub exceedances: Vec<PointExceedance>,
}

/// A point's exceedances of one pollutant and limit (upper or lower) in the month.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PointExceedance {
    /// HJ 212-2017 code.
    pub pollutant: String,
    pub episodes: usize,
    /// Exceeding hours.
    pub hours: u32,
    /// The worst hourly average: the maximum above an upper limit, the minimum below a lower one.
    pub peak: f64,
    /// The limit crossed.
    pub limit: f64,
    pub direction: Direction,
    /// Unit of `peak` and `limit` (HJ 212-2017 Table B.1); `None` for a code without one here.
    pub unit: Option<&'static str>,
}

/// Builds the month's report for one park or all.
///
/// # Errors
/// Database errors.
pub async fn monthly(
    pool: &PgPool,
    tz: Tz,
    park: Option<&str>,
    first_day: NaiveDate,
    threshold: f64,
    at: impl Into<Basis>,
) -> Result<Vec<MonthlyReport>, StoreError> {
    let at = at.into();
    let next = first_day + chrono::Months::new(1);
    let last_day = next.pred_opt().unwrap_or(first_day);
    let (from, _) = local_day_bounds(first_day, tz);
    let (to, _) = local_day_bounds(next, tz);
    let rates = service::rates(pool, tz, park, first_day, last_day, at).await?;
    let exceedances = service::exceedances(pool, park, from, to, at).await?;
    let year = chrono::Datelike::year(&first_day);
    let energy = service::energy_at(pool, park, year, next, at).await?;
    Ok(rates
        .into_iter()
        .map(|r| {
            let own: Vec<&Exceedance> = exceedances
                .iter()
                .filter(|e| e.park_id == r.park_id)
                .collect();
            let points: Vec<PointMonth> = r
                .points
                .iter()
                .map(|p| point_month(p, &own, threshold))
                .collect();
            let required = points.iter().filter(|p| p.required).count();
            let owing = points
                .iter()
                .filter(|p| p.required && p.hours.expected > 0)
                .count();
            let short = points.iter().filter(|p| p.below_threshold).count();
            let monitoring_rate = (owing > 0).then(|| (owing - short) as f64 / owing as f64);
            let verdict = if required == 0 {
                MonitoringVerdict::NoMonitoringRegistered
            } else if owing == 0 {
                MonitoringVerdict::NothingOwed
            } else if short == 0 {
                MonitoringVerdict::Passed
            } else {
                MonitoringVerdict::BelowTarget
            };
            let park_energy = energy.iter().find(|e| e.park_id == r.park_id);
            MonthlyReport {
                month: first_day.format("%Y-%m").to_string(),
                evaluated: at.evaluated(to),
                verdict,
                monitoring_rate,
                threshold,
                required_points: required,
                required_points_owing: owing,
                required_points_short: short,
                hours: r.rates,
                transmission: r.transmission,
                validity: r.validity,
                effective: r.effective,
                points_below_threshold: points
                    .iter()
                    .filter(|p| p.below_threshold)
                    .map(|p| PointBelow {
                        point_id: p.point_id.clone(),
                        effective: p.effective,
                    })
                    .collect(),
                points,
                exceedance_episodes: own.len(),
                exceedance_hours: own.iter().map(|e| e.episode.hours).sum(),
                energy_baseline_year: park_energy.map(|e| e.baseline_year),
                energy_target_year: park_energy.map(|e| e.target_year),
                energy_target_reduction: park_energy.map(|e| e.target_reduction),
                energy: park_energy.and_then(|e| e.status),
                park_id: r.park_id,
            }
        })
        .collect())
}

/// A point's month from its rates and its park's exceedance episodes. A point that owed no
/// hours is never below the threshold: it had nothing to deliver.
fn point_month(p: &PointRates, exceedances: &[&Exceedance], threshold: f64) -> PointMonth {
    let effective = p.rates.effective();
    let mut by_pollutant: Vec<PointExceedance> = Vec::new();
    for e in exceedances.iter().filter(|e| e.point_id == p.point_id) {
        let ep = &e.episode;
        let worse = |old: f64| match ep.direction {
            Direction::Above => ep.peak > old,
            Direction::Below => ep.peak < old,
        };
        // One line per pollutant and limit crossed (pH may go below 6 and above 9 in a month).
        let same =
            |x: &&mut PointExceedance| x.pollutant == e.pollutant && x.direction == ep.direction;
        match by_pollutant.iter_mut().find(same) {
            Some(x) => {
                x.episodes += 1;
                x.hours += ep.hours;
                if worse(x.peak) {
                    (x.peak, x.limit) = (ep.peak, ep.limit);
                }
            }
            None => by_pollutant.push(PointExceedance {
                pollutant: e.pollutant.clone(),
                episodes: 1,
                hours: ep.hours,
                peak: ep.peak,
                limit: ep.limit,
                direction: ep.direction,
                unit: unit_of(&e.pollutant),
            }),
        }
    }
    PointMonth {
        point_id: p.point_id.clone(),
        required: p.required,
        monitored_since: p.monitored_since,
        retired_at: p.retired_at,
        hours: p.rates,
        transmission: p.rates.transmission(),
        validity: p.rates.validity(),
        effective,
        below_threshold: p.required && effective.is_some_and(|e| e < threshold),
        exceedances: by_pollutant,
    }
}

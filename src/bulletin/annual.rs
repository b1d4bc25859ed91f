//! The annual assessment's content: per park, the twelve months of the year (the monthly
//! bulletin's figures, month by month), and per indicator whether the target was met: 100%
//! monitoring in every month that owed hours, and the energy intensity on the path for the year.
//!
//! Input: a pool, the local zone, a year, a [`Basis`]. Output: an [`Assessment`].

use chrono::{Datelike, Months, NaiveDate};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgPool;

use super::model::{energy_path, energy_years, EnergyPath, History, MonthFigure, PARK_FAILED};
use crate::compliance::energy::EnergyStatus;
use crate::compliance::rates::local_day_bounds;
use crate::compliance::report::MonitoringVerdict;
use crate::compliance::service::{Basis, Evaluated};
use crate::store::compliance as parks_q;
use crate::store::StoreError;

/// The annual assessment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Assessment {
    pub year: i32,
    pub evaluated: Evaluated,
    pub threshold: f64,
    pub parks: Vec<AnnualPark>,
}

/// A park's year.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AnnualPark {
    pub park_id: String,
    pub name: String,
    pub name_en: Option<String>,
    /// Set when a month of this park could not be computed (the cause is logged).
    pub error: Option<String>,
    /// January to December.
    pub months: Vec<MonthFigure>,
    pub monitoring: MonitoringYear,
    /// Exceedance hours summed over the months.
    pub exceedance_hours: u32,
    /// The year's energy figures (to date for a year in progress).
    pub energy: Option<EnergyStatus>,
    /// Whether the year's reduction reached the path's value for the year.
    pub energy_met: Option<bool>,
    pub energy_path: EnergyPath,
}

/// The monitoring target over a year.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct MonitoringYear {
    /// Months in which required points owed hours.
    pub months_owing: u32,
    /// Of those, months at 100% (verdict `passed`).
    pub months_passed: u32,
    /// Met when every month that owed hours passed; not met when a month fell short or the park
    /// has no required point; `None` when no month owed hours.
    pub met: Option<bool>,
}

impl MonitoringYear {
    /// The year's verdict from its months' verdicts.
    pub fn of(verdicts: impl Iterator<Item = Option<MonitoringVerdict>>) -> Self {
        let (mut owing, mut passed, mut unregistered) = (0, 0, false);
        for v in verdicts.flatten() {
            match v {
                MonitoringVerdict::Passed => (owing, passed) = (owing + 1, passed + 1),
                MonitoringVerdict::BelowTarget => owing += 1,
                MonitoringVerdict::NoMonitoringRegistered => unregistered = true,
                MonitoringVerdict::NothingOwed => {}
            }
        }
        let met = if unregistered && owing == 0 {
            Some(false)
        } else {
            (owing > 0).then_some(passed == owing)
        };
        Self {
            months_owing: owing,
            months_passed: passed,
            met,
        }
    }
}

/// The assessment of every park for the year that starts on `first` (a 1 January).
///
/// # Errors
/// Database errors that fail every park alike.
pub async fn assess(
    pool: &PgPool,
    tz: Tz,
    first: NaiveDate,
    threshold: f64,
    at: Basis,
) -> Result<Assessment, StoreError> {
    let year = first.year();
    let next = first + Months::new(12);
    let months: Vec<NaiveDate> = (0..12).map(|m| first + Months::new(m)).collect();
    let parks = parks_q::parks(pool, None).await?;
    let (history, years) = tokio::try_join!(
        History::load(pool, tz, None, months, threshold, at),
        energy_years(pool, None, &parks, year, next, at),
    )?;
    let (to, _) = local_day_bounds(next, tz);
    let out = parks
        .iter()
        .map(|p| {
            let months = history.figures(&p.id);
            let failed =
                (0..months.len()).any(|i| !matches!(history.report(i, &p.id), Some(Ok(_))));
            let path = energy_path(p, &years);
            let energy = path
                .actual
                .iter()
                .find(|a| a.year == year)
                .map(|a| a.status);
            AnnualPark {
                park_id: p.id.clone(),
                name: p.name.clone(),
                name_en: p.name_en.clone(),
                error: failed.then(|| PARK_FAILED.to_string()),
                monitoring: MonitoringYear::of(months.iter().map(|m| m.verdict)),
                exceedance_hours: months.iter().filter_map(|m| m.exceedance_hours).sum(),
                energy_met: energy.map(|e| e.on_track),
                energy,
                months,
                energy_path: path,
            }
        })
        .collect();
    Ok(Assessment {
        year,
        evaluated: at.evaluated(to),
        threshold,
        parks: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use MonitoringVerdict::*;

    #[test]
    fn a_year_is_met_when_every_owing_month_passed() {
        let of = |v: &[Option<MonitoringVerdict>]| {
            let y = MonitoringYear::of(v.iter().copied());
            (y.months_owing, y.months_passed, y.met)
        };
        assert_eq!(
            of(&[Some(Passed), Some(NothingOwed), Some(Passed)]),
            (2, 2, Some(true))
        );
        assert_eq!(of(&[Some(Passed), Some(BelowTarget)]), (2, 1, Some(false)));
        assert_eq!(of(&[Some(NothingOwed), None]), (0, 0, None));
        assert_eq!(of(&[Some(NoMonitoringRegistered); 12]), (0, 0, Some(false)));
    }
}

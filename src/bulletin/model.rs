//! The monthly bulletin's content, with exact numbers (what the JSON carries and the HTML shows
//! rounded): the month in short, the rankings, and a page per park built from the compliance
//! record's own figures ([`report::monthly`] for each of the last twelve months,
//! [`service::energy_at`] for each year since the baseline), plus the month's alerts, review
//! marks and corrections as they were known at the data cut-off.
//!
//! Input: a pool, the local zone, a month, a [`Basis`]. Output: a [`Bulletin`].

use chrono::{Datelike, Months, NaiveDate};
use chrono_tz::Tz;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sqlx::PgPool;

use crate::compliance::energy::{EnergyStatus, Target};
use crate::compliance::rates::local_day_bounds;
use crate::compliance::report::{self, MonitoringVerdict, MonthlyReport};
use crate::compliance::service::{self, Basis, Evaluated, ParkEnergy};
use crate::store::bulletin::{self as q, MonthAlert, MonthCorrection};
use crate::store::compliance::{self as parks_q, ParkRow};
use crate::store::review::{self, ReviewMarkRow};
use crate::store::{api_queries, StoreError};

/// Months of monitoring history on a park's page, this month included.
pub const HISTORY_MONTHS: u32 = 12;

/// Months (or years of energy figures) computed at once: each takes a connection of the pool.
const MONTHS_AT_ONCE: usize = 4;

/// Years of energy figures a chart goes back at most (from the month's year).
const MAX_ENERGY_YEARS: i32 = 15;

/// The monthly bulletin.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Bulletin {
    /// YYYY-MM, the local calendar month.
    pub month: String,
    /// Hours counted up to, the data cut-off, and the "as of" time when reproduced.
    pub evaluated: Evaluated,
    /// Effective transmission rate a required point must reach to count as monitored.
    pub threshold: f64,
    pub summary: Summary,
    /// Parks by monitoring rate, highest first; parks without one last. Empty on a park's own
    /// page.
    pub ranking_monitoring: Vec<Rank>,
    /// Parks by energy-intensity reduction since the baseline (year to date), highest first.
    pub ranking_energy: Vec<Rank>,
    pub parks: Vec<ParkPage>,
}

/// The month in short.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub parks: usize,
    /// Parks whose monitoring rate reached 100% (verdict `passed`).
    pub parks_at_target: Vec<String>,
    /// Parks whose energy intensity, year to date, is on the path to the target.
    pub parks_on_energy_path: Vec<String>,
}

/// One line of a ranking. Parks with equal figures share a rank.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rank {
    /// 1 for the first; `None` for a park without the figure.
    pub rank: Option<usize>,
    pub park_id: String,
    pub value: Option<f64>,
}

/// A park's page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParkPage {
    pub park_id: String,
    /// Chinese name, as registered.
    pub name: String,
    pub name_en: Option<String>,
    /// Set when this park's figures could not be computed (the cause is logged); the other
    /// parks' pages are unaffected.
    pub error: Option<String>,
    /// The month's report; `None` with `error`.
    pub report: Option<MonthlyReport>,
    /// The last twelve months, oldest first, this month last. The change since last month is
    /// the last against the one before.
    pub history: Vec<MonthFigure>,
    pub energy_path: EnergyPath,
    /// Alerts that fired in the month, with their acknowledgement as known at the cut-off.
    pub alerts: Vec<MonthAlert>,
    /// Review marks in force over the month at the cut-off.
    pub review_marks: Vec<ReviewMarkRow>,
    /// Reading versions of the month replaced by a correction by the cut-off.
    pub corrections: Vec<MonthCorrection>,
}

/// One month's headline figures of a park.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MonthFigure {
    pub month: String,
    /// `None` when the month's figures could not be computed.
    pub verdict: Option<MonitoringVerdict>,
    pub monitoring_rate: Option<f64>,
    pub effective: Option<f64>,
    pub exceedance_hours: Option<u32>,
    /// Energy-intensity reduction since the baseline, year to date at the month's end.
    pub energy_reduction: Option<f64>,
    pub energy_on_track: Option<bool>,
}

impl MonthFigure {
    fn of(month: String, r: Option<&MonthlyReport>) -> Self {
        Self {
            month,
            verdict: r.map(|r| r.verdict),
            monitoring_rate: r.and_then(|r| r.monitoring_rate),
            effective: r.and_then(|r| r.effective),
            exceedance_hours: r.map(|r| r.exceedance_hours),
            energy_reduction: r.and_then(|r| r.energy).map(|e| e.reduction),
            energy_on_track: r.and_then(|r| r.energy).map(|e| e.on_track),
        }
    }
}

/// A park's energy intensity against its path, by year.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EnergyPath {
    pub baseline_year: i32,
    /// tce per 10,000 yuan at baseline-year prices.
    pub baseline_intensity: f64,
    pub target_year: i32,
    pub target_reduction: f64,
    /// The intensity the geometric path allows in each year, baseline to target year.
    pub path: Vec<YearValue>,
    /// The park's figures per year after the baseline (the month's year: to date).
    pub actual: Vec<YearActual>,
    /// The intensity in the target year if the recent trend continues.
    pub projected: Option<YearValue>,
}

/// A year's intensity.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct YearValue {
    pub year: i32,
    pub intensity: f64,
}

/// A year's figures against the path.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct YearActual {
    pub year: i32,
    pub status: EnergyStatus,
}

/// The first day of the month `back` months before `first_day`.
fn months_before(first_day: NaiveDate, back: u32) -> NaiveDate {
    first_day
        .checked_sub_months(Months::new(back))
        .unwrap_or(first_day)
}

/// Each park's report of one month. When the parks cannot be computed together, each is
/// computed on its own, and a park that fails gets its error (logged, naming it) while the
/// others are answered (as `service::bureau_summary_by_park` does).
///
/// # Errors
/// Transient database errors, which would fail every park alike.
pub async fn reports_by_park(
    pool: &PgPool,
    tz: Tz,
    park: Option<&str>,
    first_day: NaiveDate,
    threshold: f64,
    at: Basis,
) -> Result<Vec<(String, Result<MonthlyReport, StoreError>)>, StoreError> {
    match report::monthly(pool, tz, park, first_day, threshold, at).await {
        Ok(all) => {
            return Ok(all
                .into_iter()
                .map(|r| (r.park_id.clone(), Ok(r)))
                .collect())
        }
        Err(e) if e.is_retriable() => return Err(e),
        Err(e) => tracing::warn!(
            error = %e,
            "The parks' month failed as a whole; computing it park by park."
        ),
    }
    let mut out = Vec::new();
    for id in api_queries::park_ids(pool, park).await? {
        match report::monthly(pool, tz, Some(&id), first_day, threshold, at).await {
            Ok(mut one) if !one.is_empty() => out.push((id, Ok(one.remove(0)))),
            Ok(_) => {}
            Err(e) if e.is_retriable() => return Err(e),
            Err(e) => {
                tracing::error!(
                    park = %id,
                    error = %e,
                    "A park's month could not be computed; its page is marked."
                );
                out.push((id, Err(e)));
            }
        }
    }
    Ok(out)
}

/// The months `first_day − (n − 1)` to `first_day`, oldest first, each park's report of each.
pub(super) struct History {
    pub months: Vec<NaiveDate>,
    /// Per month (same order), per park.
    pub reports: Vec<Vec<(String, Result<MonthlyReport, StoreError>)>>,
}

impl History {
    pub(super) async fn load(
        pool: &PgPool,
        tz: Tz,
        park: Option<&str>,
        months: Vec<NaiveDate>,
        threshold: f64,
        at: Basis,
    ) -> Result<Self, StoreError> {
        // A few months at a time: the months are independent, and the database works on one
        // while greenmon folds the figures of another.
        let reports = futures::stream::iter(months.iter().copied())
            .map(|m| reports_by_park(pool, tz, park, m, threshold, at))
            .buffered(MONTHS_AT_ONCE)
            .try_collect()
            .await?;
        Ok(Self { months, reports })
    }

    /// A park's report of month index `i`.
    pub(super) fn report(
        &self,
        i: usize,
        park: &str,
    ) -> Option<&Result<MonthlyReport, StoreError>> {
        self.reports
            .get(i)?
            .iter()
            .find(|(id, _)| id == park)
            .map(|(_, r)| r)
    }

    /// A park's headline figures per month, oldest first.
    pub(super) fn figures(&self, park: &str) -> Vec<MonthFigure> {
        self.months
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let r = self.report(i, park).and_then(|r| r.as_ref().ok());
                MonthFigure::of(m.format("%Y-%m").to_string(), r)
            })
            .collect()
    }
}

/// Each park's energy figures per year from the earliest baseline up to `year`, the last year
/// through `through` (a local day, exclusive: the month's end).
pub(super) async fn energy_years(
    pool: &PgPool,
    park: Option<&str>,
    parks: &[ParkRow],
    year: i32,
    through: NaiveDate,
    at: Basis,
) -> Result<Vec<(i32, Vec<ParkEnergy>)>, StoreError> {
    let first = parks
        .iter()
        .map(|p| p.baseline_year + 1)
        .min()
        .unwrap_or(year)
        .max(year - MAX_ENERGY_YEARS);
    futures::stream::iter(first..=year)
        .map(|y| async move {
            let end = NaiveDate::from_ymd_opt(y + 1, 1, 1).unwrap_or(through);
            let energy = service::energy_at(pool, park, y, end.min(through), at).await?;
            Ok::<_, StoreError>((y, energy))
        })
        .buffered(MONTHS_AT_ONCE)
        .try_collect()
        .await
}

/// A park's path, its yearly figures and the projection from the latest of them.
pub(super) fn energy_path(p: &ParkRow, years: &[(i32, Vec<ParkEnergy>)]) -> EnergyPath {
    let target = Target {
        baseline_year: p.baseline_year,
        baseline_intensity: p.baseline_intensity,
        target_year: p.target_year,
        target_reduction: p.target_reduction,
    };
    let path = (p.baseline_year..=p.target_year)
        .map(|year| YearValue {
            year,
            intensity: p.baseline_intensity * (1.0 - target.required_reduction(year)),
        })
        .collect();
    let actual: Vec<YearActual> = years
        .iter()
        .filter(|(y, _)| *y > p.baseline_year)
        .filter_map(|(year, all)| {
            let status = all.iter().find(|e| e.park_id == p.id)?.status?;
            Some(YearActual {
                year: *year,
                status,
            })
        })
        .collect();
    let projected = actual
        .last()
        .filter(|a| a.year < p.target_year)
        .and_then(|a| a.status.projected_reduction)
        .map(|r| YearValue {
            year: p.target_year,
            intensity: p.baseline_intensity * (1.0 - r),
        });
    EnergyPath {
        baseline_year: p.baseline_year,
        baseline_intensity: p.baseline_intensity,
        target_year: p.target_year,
        target_reduction: p.target_reduction,
        path,
        actual,
        projected,
    }
}

/// Ranks parks by a figure, highest first; equal figures share a rank; parks without it last.
pub fn rank(values: Vec<(String, Option<f64>)>) -> Vec<Rank> {
    let mut values = values;
    values.sort_by(|(a_id, a), (b_id, b)| match (a, b) {
        (Some(x), Some(y)) => y.total_cmp(x).then_with(|| a_id.cmp(b_id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a_id.cmp(b_id),
    });
    let mut out: Vec<Rank> = Vec::with_capacity(values.len());
    for (i, (park_id, value)) in values.into_iter().enumerate() {
        let rank = value.map(|v| match out.last() {
            Some(prev) if prev.value == Some(v) => prev.rank.unwrap_or(i + 1),
            _ => i + 1,
        });
        out.push(Rank {
            rank,
            park_id,
            value,
        });
    }
    out
}

/// The month's bulletin for every park, or only `park`'s page (a park's own view: no summary of
/// other parks, no rankings).
///
/// # Errors
/// Database errors that fail every park alike.
pub async fn monthly(
    pool: &PgPool,
    tz: Tz,
    park: Option<&str>,
    first_day: NaiveDate,
    threshold: f64,
    at: Basis,
) -> Result<Bulletin, StoreError> {
    let next = first_day + Months::new(1);
    let (from, _) = local_day_bounds(first_day, tz);
    let (to, _) = local_day_bounds(next, tz);
    let months = (0..HISTORY_MONTHS)
        .rev()
        .map(|back| months_before(first_day, back))
        .collect();
    let parks = parks_q::parks(pool, park).await?;
    let (history, years) = tokio::try_join!(
        History::load(pool, tz, park, months, threshold, at),
        energy_years(pool, park, &parks, first_day.year(), next, at),
    )?;
    let cutoff = at.cutoff();
    let (alerts, marks, corrections) = tokio::try_join!(
        q::month_alerts(pool, park, from, to, cutoff),
        review::in_force(pool, park, from, to, at.as_of_time()),
        q::month_corrections(pool, park, from, to, cutoff),
    )?;
    let last = HISTORY_MONTHS as usize - 1;
    let pages: Vec<ParkPage> = parks
        .iter()
        .map(|p| {
            let (report, error) = match history.report(last, &p.id) {
                Some(Ok(r)) => (Some(r.clone()), None),
                Some(Err(_)) | None => (None, Some(PARK_FAILED.to_string())),
            };
            ParkPage {
                park_id: p.id.clone(),
                name: p.name.clone(),
                name_en: p.name_en.clone(),
                error,
                report,
                history: history.figures(&p.id),
                energy_path: energy_path(p, &years),
                alerts: own(&alerts, &p.id, |a| &a.park_id),
                review_marks: own(&marks, &p.id, |m| &m.park_id),
                corrections: own(&corrections, &p.id, |c| &c.park_id),
            }
        })
        .collect();
    let reports = || pages.iter().filter_map(|p| p.report.as_ref());
    let summary = Summary {
        parks: pages.len(),
        parks_at_target: reports()
            .filter(|r| r.verdict == MonitoringVerdict::Passed)
            .map(|r| r.park_id.clone())
            .collect(),
        parks_on_energy_path: reports()
            .filter(|r| r.energy.is_some_and(|e| e.on_track))
            .map(|r| r.park_id.clone())
            .collect(),
    };
    let figure = |f: fn(&MonthlyReport) -> Option<f64>| {
        rank(
            pages
                .iter()
                .map(|p| (p.park_id.clone(), p.report.as_ref().and_then(f)))
                .collect(),
        )
    };
    // A park's own view ranks nothing: a ranking of one says nothing, and of more would show
    // other parks.
    let ranked = park.is_none();
    Ok(Bulletin {
        month: first_day.format("%Y-%m").to_string(),
        evaluated: at.evaluated(to),
        threshold,
        summary,
        ranking_monitoring: if ranked {
            figure(|r| r.monitoring_rate)
        } else {
            vec![]
        },
        ranking_energy: if ranked {
            figure(|r| r.energy.map(|e| e.reduction))
        } else {
            vec![]
        },
        parks: pages,
    })
}

/// What a park's page says when its figures could not be computed.
pub const PARK_FAILED: &str = "this park's figures could not be computed; the cause is logged";

/// The rows of one park.
fn own<T: Clone>(rows: &[T], park: &str, of: impl Fn(&T) -> &String) -> Vec<T> {
    rows.iter().filter(|r| of(r) == park).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_share_ties_and_put_missing_last() {
        let r = rank(vec![
            ("c".into(), Some(0.5)),
            ("a".into(), None),
            ("b".into(), Some(1.0)),
            ("d".into(), Some(0.5)),
        ]);
        let got: Vec<(Option<usize>, &str)> =
            r.iter().map(|r| (r.rank, r.park_id.as_str())).collect();
        assert_eq!(
            got,
            [(Some(1), "b"), (Some(2), "c"), (Some(2), "d"), (None, "a")]
        );
    }

    #[test]
    fn twelve_months_back_cross_the_year() {
        let march = NaiveDate::from_ymd_opt(2018, 3, 1).unwrap();
        assert_eq!(
            months_before(march, 11),
            NaiveDate::from_ymd_opt(2017, 4, 1).unwrap()
        );
    }
}

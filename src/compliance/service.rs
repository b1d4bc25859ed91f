//! The compliance engine's queries: reads the store and applies the pure maths of `status`,
//! `rates`, `exceedance` and `energy`. Input: a pool, the local zone and `now`. Output: serde
//! views for the CLI report, the API and the alert engine.
//!
//! Whatever reads the hourly rollups folds the pending aggregates first
//! ([`store::rollup::fold`](crate::store::rollup::fold)), so its answers include every reading
//! committed before the call, not only those the rollup worker has folded.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use sqlx::PgPool;

use super::energy::{energy_status, roll_up_year, EnergyStatus, Target};
use super::exceedance::{episodes, Episode, HourlyAvg, Limit};
use super::rates::{daily_rates_marked, local_day_bounds, DailyRates, HourSlot, MarkSpan, Service};
use super::status::{point_status, MonitoringRate, PointStatus, StatusInput};
pub use crate::domain::floor_hour;
use crate::domain::{ReviewEffect, ReviewKind};
use crate::store::compliance::{self as q, ParkRow, PointRow};
use crate::store::review::{self, ReviewMarkRow};
use crate::store::{api_queries, rollup, StoreError};

/// What figures are computed from: the data stored by now, or "as of" a past time, the data
/// known then (each reading's version current then, the review marks in force then, the energy
/// reports received by then). Hours after the cut-off are not owed yet. Built from `now` alone
/// (`Basis::from(now)`) for the live figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Basis {
    now: DateTime<Utc>,
    as_of: Option<DateTime<Utc>>,
}

impl Basis {
    /// As known at `as_of` (a time after `now` is `now`).
    pub fn as_of(now: DateTime<Utc>, as_of: DateTime<Utc>) -> Self {
        Self {
            now,
            as_of: Some(as_of.min(now)),
        }
    }

    /// The data cut-off: data stored after it is left out; hours after it are not owed yet.
    pub fn cutoff(self) -> DateTime<Utc> {
        self.as_of.unwrap_or(self.now)
    }

    /// The "as of" time, when the figures are asked as of a past time.
    pub fn as_of_time(self) -> Option<DateTime<Utc>> {
        self.as_of
    }
}

/// What a set of figures covers, stated with them (API, report, bulletin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Evaluated {
    /// The figures count hours up to here: the end of the range asked for, or the data cut-off
    /// when that comes first (a month in progress).
    pub up_to: DateTime<Utc>,
    /// Data stored after this time is not in the figures: the time of the computation, or the
    /// "as of" time.
    pub data_cutoff: DateTime<Utc>,
    /// Set when the figures reproduce what was known at a past time (`as_of`).
    pub as_of: Option<DateTime<Utc>>,
}

impl Basis {
    /// The statement of figures over a range ending at `range_end`.
    pub fn evaluated(self, range_end: DateTime<Utc>) -> Evaluated {
        Evaluated {
            up_to: range_end.min(self.cutoff()),
            data_cutoff: self.cutoff(),
            as_of: self.as_of,
        }
    }
}

impl From<DateTime<Utc>> for Basis {
    fn from(now: DateTime<Utc>) -> Self {
        Self { now, as_of: None }
    }
}

/// One point's status now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PointNow {
    pub point_id: String,
    pub name: String,
    pub kind: String,
    pub required: bool,
    /// Retired (its `retired_at` has passed): it no longer counts towards the park's monitoring
    /// rate.
    pub retired: bool,
    pub status: PointStatus,
    pub last_reading: Option<DateTime<Utc>>,
    pub last_valid: Option<DateTime<Utc>>,
}

/// A park's automatic online monitoring now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParkNow {
    pub park_id: String,
    /// The statuses are as of this time (the last readings stored by then).
    pub data_cutoff: DateTime<Utc>,
    pub name: String,
    pub required_points: u32,
    pub online_required_points: u32,
    /// Online required points / required points; the target is 1.0.
    pub monitoring_rate: f64,
    pub compliant: bool,
    /// Required points that keep the park below 100%, with their status.
    pub below_target: Vec<PointNow>,
    pub points: Vec<PointNow>,
}

/// Status of every point and the monitoring rate of every park (or one).
///
/// # Errors
/// Database errors.
pub async fn parks_now(
    pool: &PgPool,
    park: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<ParkNow>, StoreError> {
    Ok(statuses(&Registry::load(pool, park).await?, now))
}

/// The parks and points a computation covers, read once.
struct Registry {
    parks: Vec<ParkRow>,
    points: Vec<PointRow>,
}

impl Registry {
    async fn load(pool: &PgPool, park: Option<&str>) -> Result<Self, StoreError> {
        let (parks, points) = tokio::try_join!(q::parks(pool, park), q::points(pool, park))?;
        Ok(Self { parks, points })
    }
}

fn statuses(reg: &Registry, now: DateTime<Utc>) -> Vec<ParkNow> {
    reg.parks
        .iter()
        .map(|p| park_now(p, reg.points.iter().filter(|pt| pt.park_id == p.id), now))
        .collect()
}

fn park_now<'a>(
    park: &ParkRow,
    points: impl Iterator<Item = &'a PointRow>,
    now: DateTime<Utc>,
) -> ParkNow {
    let points: Vec<PointNow> = points
        .map(|pt| PointNow {
            point_id: pt.id.clone(),
            name: pt.name.clone(),
            kind: pt.kind.clone(),
            required: pt.required,
            retired: pt.retired_at.is_some_and(|r| r <= now),
            status: point_status(
                &StatusInput {
                    last_reading: pt.last_reading,
                    last_valid: pt.last_valid,
                    interval_secs: i64::from(pt.interval_secs),
                    allowed_gap_secs: pt.allowed_gap_secs.map(i64::from),
                },
                now,
            ),
            last_reading: pt.last_reading,
            last_valid: pt.last_valid,
        })
        .collect();
    let counted = |p: &&PointNow| p.required && !p.retired;
    let rate = MonitoringRate::from_statuses(points.iter().filter(counted).map(|p| p.status));
    ParkNow {
        park_id: park.id.clone(),
        data_cutoff: now,
        name: park.name.clone(),
        required_points: rate.required,
        online_required_points: rate.online,
        monitoring_rate: rate.rate(),
        compliant: rate.compliant(),
        below_target: points
            .iter()
            .filter(|p| counted(p) && p.status != PointStatus::Online)
            .cloned()
            .collect(),
        points,
    }
}

/// Data rates of one point over a day range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PointRates {
    pub point_id: String,
    pub required: bool,
    /// Commissioning: hours are owed from here.
    pub monitored_since: DateTime<Utc>,
    /// Retirement: no hours are owed from here.
    pub retired_at: Option<DateTime<Utc>>,
    /// Over all pollutants: an hour is valid when every pollutant's data in it is.
    pub rates: DailyRates,
    /// Per local day, in order.
    pub days: Vec<(NaiveDate, DailyRates)>,
    /// Each pollutant's own series over the range (pollutants with readings in the range or a
    /// review mark of their own), by code.
    pub pollutants: Vec<PollutantRates>,
}

/// The data rates of one pollutant's series of a point over a day range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PollutantRates {
    pub pollutant: String,
    pub rates: DailyRates,
}

/// Data rates of a park (sums over its required points) over a day range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParkRates {
    pub park_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Hours counted up to, and the data cut-off.
    pub evaluated: Evaluated,
    pub rates: DailyRates,
    pub transmission: Option<f64>,
    pub validity: Option<f64>,
    pub effective: Option<f64>,
    pub points: Vec<PointRates>,
}

/// Daily transmission, valid and effective transmission rates for local days `from..=to`.
///
/// # Errors
/// Database errors.
pub async fn rates(
    pool: &PgPool,
    tz: Tz,
    park: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
    at: impl Into<Basis>,
) -> Result<Vec<ParkRates>, StoreError> {
    let (reg, _) = tokio::try_join!(Registry::load(pool, park), rollup::fold(pool))?;
    rates_of(pool, &reg, tz, park, from, to, at.into()).await
}

async fn rates_of(
    pool: &PgPool,
    reg: &Registry,
    tz: Tz,
    park: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
    at: Basis,
) -> Result<Vec<ParkRates>, StoreError> {
    let (parks, points) = (&reg.parks, &reg.points);
    let (start, _) = local_day_bounds(from, tz);
    let (_, end) = local_day_bounds(to, tz);
    let now = at.cutoff();
    let point_slots = q::slots(pool, park, start, end, at.as_of).await?;
    let pollutant_slots = q::pollutant_slots(pool, park, start, end, at.as_of).await?;
    let marks = review::in_force(pool, park, start, end, at.as_of).await?;
    let count = |n: i64| u32::try_from(n).unwrap_or(if n < 0 { 0 } else { u32::MAX });
    let mut slots: HashMap<String, Vec<HourSlot>> = HashMap::new();
    for s in point_slots {
        slots.entry(s.point_id).or_default().push(HourSlot {
            hour_start: s.hour,
            count: count(s.count),
            valid_count: count(s.valid_count),
        });
    }
    let mut series: HashMap<(String, String), Vec<HourSlot>> = HashMap::new();
    for s in pollutant_slots {
        series
            .entry((s.point_id, s.pollutant))
            .or_default()
            .push(HourSlot {
                hour_start: s.hour,
                count: count(s.count),
                valid_count: count(s.valid_count),
            });
    }
    for m in marks.iter().filter(|m| m.pollutant.is_some()) {
        let key = (m.point_id.clone(), m.pollutant.clone().unwrap_or_default());
        series.entry(key).or_default();
    }
    // A pollutant's invalidating mark makes the point's hour abnormal where that pollutant has
    // data: one invalid value makes the hour invalid.
    for ((point, pollutant), own) in &series {
        let spans = spans(&marks, point, Some(pollutant));
        let invalid: Vec<HourSlot> = own
            .iter()
            .filter(|s| s.count > 0)
            .filter(|s| {
                let end = s.hour_start.checked_add_signed(Duration::hours(1));
                spans.iter().any(|m| {
                    m.effect == ReviewEffect::Invalid
                        && m.from <= s.hour_start
                        && end.is_some_and(|e| e <= m.to)
                })
            })
            .map(|s| HourSlot {
                hour_start: s.hour_start,
                count: 1,
                valid_count: 0,
            })
            .collect();
        slots.entry(point.clone()).or_default().extend(invalid);
    }
    let days: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    let score = |service: Service, own: &[HourSlot], spans: &[MarkSpan]| {
        let mut total = DailyRates::default();
        let per_day: Vec<(NaiveDate, DailyRates)> = days
            .iter()
            .map(|&d| {
                let r = daily_rates_marked(d, tz, service, now, own, spans);
                total.merge(r);
                (d, r)
            })
            .collect();
        (total, per_day)
    };
    Ok(parks
        .iter()
        .map(|p| {
            let mut park_rates = DailyRates::default();
            let points: Vec<PointRates> = points
                .iter()
                .filter(|pt| pt.park_id == p.id)
                .map(|pt| {
                    let own = slots.get(&pt.id).map(Vec::as_slice).unwrap_or_default();
                    let service = Service {
                        since: pt.monitored_since,
                        until: pt.retired_at,
                    };
                    let (total, per_day) = score(service, own, &spans(&marks, &pt.id, None));
                    let mut pollutants: Vec<PollutantRates> = series
                        .iter()
                        .filter(|((point, _), _)| *point == pt.id)
                        .map(|((_, pollutant), own)| PollutantRates {
                            pollutant: pollutant.clone(),
                            rates: score(service, own, &spans(&marks, &pt.id, Some(pollutant))).0,
                        })
                        .collect();
                    pollutants.sort_by(|a, b| a.pollutant.cmp(&b.pollutant));
                    if pt.required {
                        park_rates.merge(total);
                    }
                    PointRates {
                        point_id: pt.id.clone(),
                        required: pt.required,
                        monitored_since: pt.monitored_since,
                        retired_at: pt.retired_at,
                        rates: total,
                        days: per_day,
                        pollutants,
                    }
                })
                .collect();
            ParkRates {
                park_id: p.id.clone(),
                from,
                to,
                evaluated: at.evaluated(end),
                rates: park_rates,
                transmission: park_rates.transmission(),
                validity: park_rates.validity(),
                effective: park_rates.effective(),
                points,
            }
        })
        .collect())
}

/// The marks in force that apply to a series: the point's own marks, and for a pollutant's
/// series also that pollutant's. The point's series (all pollutants) takes only whole-point
/// marks here; a pollutant's invalidating marks reach it through its slots.
fn spans(marks: &[ReviewMarkRow], point: &str, pollutant: Option<&str>) -> Vec<MarkSpan> {
    marks
        .iter()
        .filter(|m| m.point_id == point)
        .filter(|m| m.pollutant.is_none() || m.pollutant.as_deref() == pollutant)
        .filter_map(|m| {
            let kind = m.kind.parse::<ReviewKind>().ok()?;
            Some(MarkSpan {
                from: m.starts_at,
                to: m.ends_at,
                effect: kind.effect(),
            })
        })
        .collect()
}

/// A discharge exceedance episode of one point and pollutant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Exceedance {
    pub park_id: String,
    pub point_id: String,
    pub pollutant: String,
    #[serde(flatten)]
    pub episode: Episode,
}

/// Exceedance episodes (hourly valid average outside the limits) overlapping `[from, to)`.
/// An episode is open when it reaches the latest complete hour before `now`.
///
/// # Errors
/// Database errors.
pub async fn exceedances(
    pool: &PgPool,
    park: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    at: impl Into<Basis>,
) -> Result<Vec<Exceedance>, StoreError> {
    rollup::fold(pool).await?;
    exceedances_of(pool, park, from, to, at.into()).await
}

/// [`exceedances`] on rollups already folded.
async fn exceedances_of(
    pool: &PgPool,
    park: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    at: Basis,
) -> Result<Vec<Exceedance>, StoreError> {
    let now = at.cutoff();
    let rows = q::exceeding_hours(pool, park, from, to, at.as_of).await?;
    let last_complete_hour_end = floor_hour(now);
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let key = (&rows[start].point_id, &rows[start].pollutant);
        let end = rows[start..]
            .iter()
            .position(|r| (&r.point_id, &r.pollutant) != key)
            .map_or(rows.len(), |n| start + n);
        let group = &rows[start..end];
        let limit = Limit {
            lower: group[0].lower,
            upper: group[0].upper,
        };
        let hours: Vec<HourlyAvg> = group
            .iter()
            .map(|r| HourlyAvg {
                hour_start: r.hour,
                avg: Some(r.valid_avg),
            })
            .collect();
        for mut episode in episodes(&hours, &limit) {
            // Only exceeding hours were read, so "still exceeding" means reaching the latest
            // complete hour (or the hour in progress).
            episode.open = episode.end >= last_complete_hour_end;
            out.push(Exceedance {
                park_id: group[0].park_id.clone(),
                point_id: group[0].point_id.clone(),
                pollutant: group[0].pollutant.clone(),
                episode,
            });
        }
        start = end;
    }
    Ok(out)
}

/// A park's energy intensity against its path.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ParkEnergy {
    pub park_id: String,
    pub baseline_year: i32,
    pub baseline_intensity: f64,
    pub target_year: i32,
    pub target_reduction: f64,
    /// Annual cut of the geometric path.
    pub annual_cut: f64,
    /// `None` when the park has no usable report for the year.
    pub status: Option<EnergyStatus>,
    /// The figures take the reports of periods that end by this local day.
    pub through: NaiveDate,
    /// Reports stored after this time are not in the figures: the time of the computation, or
    /// the "as of" time.
    pub data_cutoff: DateTime<Utc>,
    /// Set when the figures reproduce what was known at a past time.
    pub as_of: Option<DateTime<Utc>>,
}

/// Energy status of every park (or one) for `year`, from reports whose period ends on or before
/// `through` (so a past month's report shows the year to date as it stood then).
///
/// # Errors
/// Database errors.
pub async fn energy(
    pool: &PgPool,
    park: Option<&str>,
    year: i32,
    through: NaiveDate,
) -> Result<Vec<ParkEnergy>, StoreError> {
    energy_at(pool, park, year, through, Utc::now()).await
}

/// [`energy`] on a [`Basis`]: as of a past time, from each period's report as it stood then.
///
/// # Errors
/// Database errors.
pub async fn energy_at(
    pool: &PgPool,
    park: Option<&str>,
    year: i32,
    through: NaiveDate,
    at: impl Into<Basis>,
) -> Result<Vec<ParkEnergy>, StoreError> {
    let parks = q::parks(pool, park).await?;
    energy_of(pool, &parks, park, year, through, at.into()).await
}

async fn energy_of(
    pool: &PgPool,
    parks: &[ParkRow],
    park: Option<&str>,
    year: i32,
    through: NaiveDate,
    at: Basis,
) -> Result<Vec<ParkEnergy>, StoreError> {
    let first_year = parks.iter().map(|p| p.baseline_year).min().unwrap_or(year);
    let reports: Vec<_> = q::energy_reports(pool, park, first_year, year, at.as_of)
        .await?
        .into_iter()
        .filter(|r| r.period.end() <= through)
        .collect();
    Ok(parks
        .iter()
        .map(|p| {
            let target = Target {
                baseline_year: p.baseline_year,
                baseline_intensity: p.baseline_intensity,
                target_year: p.target_year,
                target_reduction: p.target_reduction,
            };
            let own: Vec<_> = reports
                .iter()
                .filter(|r| r.park.as_str() == p.id)
                .cloned()
                .collect();
            let years: Vec<_> = (p.baseline_year..=year)
                .filter_map(|y| roll_up_year(y, &own))
                .collect();
            ParkEnergy {
                park_id: p.id.clone(),
                baseline_year: p.baseline_year,
                baseline_intensity: p.baseline_intensity,
                target_year: p.target_year,
                target_reduction: p.target_reduction,
                annual_cut: target.annual_cut(),
                status: energy_status(&target, &years, year),
                through,
                data_cutoff: at.cutoff(),
                as_of: at.as_of,
            }
        })
        .collect())
}

/// One line of the bureau's overview.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BureauRow {
    pub park_id: String,
    pub name: String,
    pub required_points: u32,
    pub online_required_points: u32,
    pub monitoring_rate: f64,
    /// Effective transmission rate of the current local day so far (completed hours).
    pub effective_today: Option<f64>,
    /// Effective transmission rate of the previous local day.
    pub effective_yesterday: Option<f64>,
    pub open_exceedances: usize,
    pub energy: Option<EnergyStatus>,
}

/// Every park's monitoring rate, effective transmission rate, open exceedances and energy
/// status, for a dashboard refresh.
///
/// # Errors
/// Database errors.
pub async fn bureau_summary(
    pool: &PgPool,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Vec<BureauRow>, StoreError> {
    let (reg, _) = tokio::try_join!(Registry::load(pool, None), rollup::fold(pool))?;
    summary_of(pool, &reg, tz, None, now).await
}

/// One park's line of the overview, or the reason it could not be computed.
#[derive(Debug)]
pub struct ParkSummary {
    pub park_id: String,
    pub row: Result<BureauRow, StoreError>,
}

/// [`bureau_summary`] of every park (or one) in which one park's failure fails only its own
/// line: when the parks cannot be computed together, each is computed on its own, and a park
/// that fails is returned with its error (and logged, naming it) while the others are answered.
///
/// # Errors
/// Transient database errors (unreachable, pool exhausted), which would fail every park alike.
pub async fn bureau_summary_by_park(
    pool: &PgPool,
    tz: Tz,
    park: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<ParkSummary>, StoreError> {
    // Figures a fold behind are better than none.
    if let Err(e) = rollup::fold(pool).await {
        if e.is_retriable() {
            return Err(e);
        }
        tracing::warn!(error = %e, "Could not fold the rollups before the summary; it may lag.");
    }
    let all = async {
        let reg = Registry::load(pool, park).await?;
        summary_of(pool, &reg, tz, park, now).await
    };
    match all.await {
        Ok(rows) => return Ok(rows.into_iter().map(ParkSummary::ok).collect()),
        Err(e) if e.is_retriable() => return Err(e),
        Err(e) => tracing::warn!(
            error = %e,
            "The parks' summary failed as a whole; computing it park by park."
        ),
    }
    let mut out = Vec::new();
    for id in api_queries::park_ids(pool, park).await? {
        let one = async {
            let reg = Registry::load(pool, Some(&id)).await?;
            summary_of(pool, &reg, tz, Some(&id), now).await
        };
        match one.await {
            Ok(rows) => out.extend(rows.into_iter().map(ParkSummary::ok)),
            Err(e) if e.is_retriable() => return Err(e),
            Err(e) => {
                tracing::error!(
                    park = %id,
                    error = %e,
                    "A park's compliance figures could not be computed; its line is marked."
                );
                out.push(ParkSummary {
                    park_id: id,
                    row: Err(e),
                });
            }
        }
    }
    Ok(out)
}

impl ParkSummary {
    fn ok(row: BureauRow) -> Self {
        Self {
            park_id: row.park_id.clone(),
            row: Ok(row),
        }
    }
}

/// The overview's lines of the parks in `reg` (every park, or `park`'s).
async fn summary_of(
    pool: &PgPool,
    reg: &Registry,
    tz: Tz,
    park: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Vec<BureauRow>, StoreError> {
    let today = now.with_timezone(&tz).date_naive();
    let yesterday = today.pred_opt().unwrap_or(today);
    let parks_now = statuses(reg, now);
    // Only open episodes count: those reaching the latest complete hour.
    let hour = Duration::hours(1);
    let open_from = floor_hour(now).checked_sub_signed(hour).unwrap_or(now);
    let open_to = now.checked_add_signed(hour).unwrap_or(now);
    let (rates_yesterday, rates_today, open, energy) = tokio::try_join!(
        rates_of(pool, reg, tz, park, yesterday, yesterday, now.into()),
        rates_of(pool, reg, tz, park, today, today, now.into()),
        exceedances_of(pool, park, open_from, open_to, now.into()),
        energy_of(pool, &reg.parks, park, today.year(), today, now.into()),
    )?;
    let effective = |rates: &[ParkRates], id: &str| {
        rates
            .iter()
            .find(|r| r.park_id == id)
            .and_then(|r| r.effective)
    };
    Ok(parks_now
        .into_iter()
        .map(|p| BureauRow {
            effective_today: effective(&rates_today, &p.park_id),
            effective_yesterday: effective(&rates_yesterday, &p.park_id),
            open_exceedances: open
                .iter()
                .filter(|e| e.park_id == p.park_id && e.episode.open)
                .count(),
            energy: energy
                .iter()
                .find(|e| e.park_id == p.park_id)
                .and_then(|e| e.status),
            park_id: p.park_id,
            name: p.name,
            required_points: p.required_points,
            online_required_points: p.online_required_points,
            monitoring_rate: p.monitoring_rate,
        })
        .collect())
}

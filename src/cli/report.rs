//! `greenmon report`: a month's compliance per park (the monitoring rate against the 100%
//! target, data rates, points that fell short, discharge exceedances, energy intensity against
//! the path) and per point, as a rounded table, or exact CSV or JSON.

use anyhow::Context;

use crate::compliance::report as r;
use crate::compliance::report_text as t;
use crate::compliance::service::Basis;
use crate::config::Settings;
use crate::domain::Period;
use crate::store;

/// Flags of `greenmon report`.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// The park to report on.
    #[arg(long, required_unless_present = "all", conflicts_with = "all")]
    park: Option<String>,
    /// Report on every park.
    #[arg(long)]
    all: bool,
    /// The month, YYYY-MM (local calendar month).
    #[arg(long)]
    month: String,
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
    /// Effective transmission rate below which a required point falls short (and does not count
    /// as monitored in the park's monitoring rate).
    #[arg(long, default_value_t = crate::compliance::rates::DEFAULT_EFFECTIVE_THRESHOLD)]
    threshold: f64,
    /// Reproduce the month as it was known at this time (RFC 3339, e.g.
    /// 2018-04-02T09:00:00+08:00): each reading's version current then, the review marks in
    /// force then, the energy reports received by then.
    #[arg(long)]
    as_of: Option<chrono::DateTime<chrono::Utc>>,
}

/// `--format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Table,
    Json,
    Csv,
}

/// Builds and prints the report.
pub(super) async fn run(args: ReportArgs, settings: &Settings) -> anyhow::Result<()> {
    let ReportArgs {
        park,
        all: _,
        month,
        format,
        threshold,
        as_of,
    } = args;
    let tz = settings.timezone();
    let at = basis(as_of)?;
    let first_day = month_start(&month)?;
    check_threshold(threshold)?;
    let primary = store::pool(&settings.database);
    // The report reads a replica when database.read_url is set. A replica cannot fold the
    // pending rollups, so the primary folds them first; the replica shows them once it has
    // replayed that far (docs/scaling.md, "Reads on a replica").
    let pool = match store::read_pool(&settings.database, 2)? {
        Some(replica) => {
            store::rollup::fold(&primary).await?;
            replica
        }
        None => primary,
    };
    if let Some(id) = &park {
        if store::compliance::parks(&pool, Some(id)).await?.is_empty() {
            anyhow::bail!("park {id:?} is not registered");
        }
    }
    let reports = r::monthly(&pool, tz, park.as_deref(), first_day, threshold, at)
        .await
        .context("building the report")?;
    match format {
        ReportFormat::Table => print!("{}", t::render_table(&reports, tz)),
        ReportFormat::Csv => print!("{}", t::render_csv(&reports)),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
    }
    Ok(())
}

/// The basis of `--as-of`: now, or as known at a past time.
///
/// # Errors
/// A time in the future.
pub(super) fn basis(as_of: Option<chrono::DateTime<chrono::Utc>>) -> anyhow::Result<Basis> {
    let now = chrono::Utc::now();
    Ok(match as_of {
        None => Basis::from(now),
        Some(t) if t > now => anyhow::bail!("--as-of {} is in the future", t.to_rfc3339()),
        Some(t) => Basis::as_of(now, t),
    })
}

/// The first day of `--month` (YYYY-MM).
///
/// # Errors
/// Anything but a month.
pub(super) fn month_start(month: &str) -> anyhow::Result<chrono::NaiveDate> {
    match month.parse::<Period>() {
        Ok(p @ Period::Month { .. }) => Ok(p.start()),
        _ => anyhow::bail!("--month {month:?} must be a month like 2018-03"),
    }
}

/// `--threshold` lies in 0 to 1.
///
/// # Errors
/// Outside.
pub(super) fn check_threshold(threshold: f64) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&threshold) {
        anyhow::bail!("--threshold {threshold} must be between 0 and 1");
    }
    Ok(())
}

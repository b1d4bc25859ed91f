//! `greenmon bulletin`: the monthly bulletin (`--month`) or the annual assessment (`--year`)
//! written to a directory as self-contained HTML, its PDF (headless Chromium) and the JSON of the
//! same figures.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};

use super::report::{basis, check_threshold, month_start};
use crate::bulletin::lang::Lang;
use crate::bulletin::pdf::Chromium;
use crate::bulletin::{annual, annual_page, model, page};
use crate::config::Settings;
use crate::store;

/// First and last year a bulletin may cover (the span greenmon stores).
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// Flags of `greenmon bulletin`.
#[derive(clap::Args)]
pub struct BulletinArgs {
    /// The month of the monthly bulletin, YYYY-MM (local calendar month).
    #[arg(long, required_unless_present = "year", conflicts_with = "year")]
    month: Option<String>,
    /// The year of the annual assessment.
    #[arg(long)]
    year: Option<i32>,
    /// The language: zh (Simplified Chinese, the default) or en.
    #[arg(long, value_enum, default_value_t = Lang::Zh)]
    lang: Lang,
    /// The directory to write to (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Reproduce the figures as they were known at this time (RFC 3339, e.g.
    /// 2018-04-02T09:00:00+08:00).
    #[arg(long)]
    as_of: Option<DateTime<Utc>>,
    /// Effective transmission rate a required point must reach to count as monitored.
    #[arg(long, default_value_t = crate::compliance::rates::DEFAULT_EFFECTIVE_THRESHOLD)]
    threshold: f64,
    /// Write the HTML and JSON only, no PDF.
    #[arg(long)]
    no_pdf: bool,
    /// The Chromium executable that prints the PDF.
    #[arg(long, env = "GREENMON_CHROMIUM", default_value = "chromium")]
    chromium: PathBuf,
    /// Longest the PDF printing may take, in seconds.
    #[arg(long, default_value_t = 120)]
    pdf_timeout_secs: u64,
}

/// Builds the document and writes its files; prints each path written.
pub(super) async fn run(args: BulletinArgs, settings: &Settings) -> anyhow::Result<()> {
    let tz = settings.timezone();
    let at = basis(args.as_of)?;
    check_threshold(args.threshold)?;
    let lang_tag = match args.lang {
        Lang::Zh => "zh",
        Lang::En => "en",
    };
    let pool = store::pool(&settings.database);
    let (stem, html, json) = match (&args.month, args.year) {
        (Some(month), _) => {
            let first = month_start(month)?;
            in_years(first)?;
            let b = model::monthly(&pool, tz, None, first, args.threshold, at)
                .await
                .context("building the bulletin")?;
            (
                format!("bulletin-{}", b.month),
                page::render(&b, args.lang, tz),
                serde_json::to_string_pretty(&b)?,
            )
        }
        (None, Some(year)) => {
            let first = NaiveDate::from_ymd_opt(year, 1, 1)
                .filter(in_span)
                .with_context(|| format!("--year {year} must be 2000 to 2100"))?;
            let a = annual::assess(&pool, tz, first, args.threshold, at)
                .await
                .context("building the annual assessment")?;
            (
                format!("assessment-{year}"),
                annual_page::render(&a, args.lang, tz),
                serde_json::to_string_pretty(&a)?,
            )
        }
        (None, None) => anyhow::bail!("give --month or --year"),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let html_path = args.out.join(format!("{stem}.{lang_tag}.html"));
    write(&html_path, &html)?;
    write(&args.out.join(format!("{stem}.json")), &json)?;
    if !args.no_pdf {
        let pdf = args.out.join(format!("{stem}.{lang_tag}.pdf"));
        let chromium = Chromium {
            program: args.chromium,
            timeout: Duration::from_secs(args.pdf_timeout_secs),
        };
        chromium
            .print(&html_path, &pdf)
            .await
            .context("printing the PDF (--no-pdf writes the HTML only)")?;
        println!("{}", pdf.display());
    }
    Ok(())
}

fn in_span(d: &NaiveDate) -> bool {
    YEARS.contains(&chrono::Datelike::year(d))
}

fn in_years(d: NaiveDate) -> anyhow::Result<()> {
    if in_span(&d) {
        Ok(())
    } else {
        anyhow::bail!("--month must lie in 2000 to 2100")
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

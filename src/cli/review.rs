//! `greenmon review add | list | withdraw`: bureau staff's validity review marks
//! (docs/compliance.md, "Validity review"). Every change is kept in `review_mark_events`.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::domain::{check_mark, ReviewKind};
use crate::store::review::{self as q, NewMark, ReviewMarkRow, Withdrawal};

#[derive(clap::Subcommand)]
pub enum ReviewCommand {
    /// Mark a point, or one of its pollutants, over a time range.
    Add {
        #[arg(long)]
        point: String,
        /// A pollutant code or alias (cod, nh3n, w01018, …); without it, the whole point.
        #[arg(long)]
        pollutant: Option<String>,
        /// Start, RFC 3339 (2026-03-10T08:00:00+08:00).
        #[arg(long)]
        from: DateTime<Utc>,
        /// End (exclusive), RFC 3339.
        #[arg(long)]
        to: DateTime<Utc>,
        /// maintenance or calibration (hours not owed); fault or invalid (data not valid).
        #[arg(long)]
        kind: ReviewKind,
        #[arg(long)]
        reason: String,
        /// Who marks (name of the reviewer).
        #[arg(long)]
        by: String,
    },
    /// List marks, newest first, withdrawn ones included.
    List {
        #[arg(long)]
        park: Option<String>,
        #[arg(long)]
        point: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Withdraw a mark: it stays on record, and no longer affects the figures.
    Withdraw {
        id: i64,
        #[arg(long)]
        by: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Runs one review command.
///
/// # Errors
/// Database errors, an invalid mark, an unknown point or mark.
pub async fn run(command: ReviewCommand, pool: &PgPool) -> anyhow::Result<()> {
    match command {
        ReviewCommand::Add {
            point,
            pollutant,
            from,
            to,
            kind,
            reason,
            by,
        } => {
            let (reason, by) = (reason.trim(), by.trim());
            let code = check_mark(pollutant.as_deref(), from, to, reason, by)
                .map_err(anyhow::Error::msg)?;
            let mark = NewMark {
                point_id: &point,
                pollutant: code.as_deref(),
                starts_at: from,
                ends_at: to,
                kind,
                reason,
                by,
            };
            let Some(row) = q::add(pool, &mark).await.context("adding a review mark")? else {
                anyhow::bail!("no point {point:?}");
            };
            println!(
                "review mark {} added: {} {} {} to {} by {}",
                row.id,
                row.kind,
                target(&row),
                row.starts_at.to_rfc3339(),
                row.ends_at.to_rfc3339(),
                row.created_by
            );
            Ok(())
        }
        ReviewCommand::List {
            park,
            point,
            format,
        } => {
            let rows = q::list(pool, park.as_deref(), point.as_deref())
                .await
                .context("listing review marks")?;
            let mut out = std::io::stdout().lock();
            match format {
                Format::Json => {
                    for row in &rows {
                        writeln!(out, "{}", serde_json::to_string(row)?)?;
                    }
                }
                Format::Table => print_table(&mut out, &rows)?,
            }
            Ok(())
        }
        ReviewCommand::Withdraw { id, by, reason } => {
            let (by, reason) = (by.trim(), reason.trim());
            if by.is_empty() || reason.is_empty() {
                anyhow::bail!("--by and --reason must not be empty");
            }
            match q::withdraw(pool, id, None, by, reason).await? {
                Withdrawal::Withdrawn(_) => {
                    println!("review mark {id} withdrawn by {by}");
                    Ok(())
                }
                Withdrawal::AlreadyWithdrawn(m) => anyhow::bail!(
                    "review mark {id} was already withdrawn by {} at {}",
                    m.withdrawn_by.unwrap_or_default(),
                    m.withdrawn_at.map(|t| t.to_rfc3339()).unwrap_or_default()
                ),
                Withdrawal::NotFound => anyhow::bail!("no review mark {id}"),
            }
        }
    }
}

fn target(m: &ReviewMarkRow) -> String {
    match &m.pollutant {
        Some(p) => format!("{}/{p}", m.point_id),
        None => m.point_id.clone(),
    }
}

fn print_table(out: &mut impl Write, rows: &[ReviewMarkRow]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>6}  {:<12}  {:<28}  {:<25}  {:<25}  {:<12}  {:<10}  reason",
        "id", "kind", "point/pollutant", "from", "to", "by", "withdrawn"
    )?;
    for m in rows {
        writeln!(
            out,
            "{:>6}  {:<12}  {:<28}  {:<25}  {:<25}  {:<12}  {:<10}  {}",
            m.id,
            m.kind,
            target(m),
            m.starts_at.to_rfc3339(),
            m.ends_at.to_rfc3339(),
            m.created_by,
            m.withdrawn_by.as_deref().unwrap_or("-"),
            m.reason
        )?;
    }
    Ok(())
}

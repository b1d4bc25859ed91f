//! `greenmon alerts list` and `greenmon alerts ack`: what on-call staff use from a shell.

use std::io::Write;

use anyhow::Context;
use sqlx::PgPool;

use crate::store::alerts::{self as q, AckOutcome, AlertFilter, AlertRow};

#[derive(clap::Subcommand)]
pub enum AlertsCommand {
    /// List alerts, newest first.
    List {
        /// open (pending or firing), pending, firing, resolved or all.
        #[arg(long, default_value = "open", value_parser = clap::builder::PossibleValuesParser::new(q::STATE_FILTERS))]
        state: String,
        #[arg(long)]
        park: Option<String>,
        /// A rule name, e.g. point_offline.
        #[arg(long)]
        rule: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Acknowledge an alert: it is no longer re-notified or escalated, and still resolves on
    /// its own.
    Ack {
        id: i64,
        /// Who acknowledges (name or on-call handle).
        #[arg(long)]
        by: String,
        #[arg(long)]
        comment: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// Runs one alerts command.
///
/// # Errors
/// Database errors, an unknown rule, or an alert that cannot be acknowledged.
pub async fn run(command: AlertsCommand, pool: &PgPool) -> anyhow::Result<()> {
    match command {
        AlertsCommand::List {
            state,
            park,
            rule,
            limit,
            format,
        } => {
            if let Some(r) = &rule {
                crate::alerts::RuleKind::from_name(r).map_err(anyhow::Error::msg)?;
            }
            if limit < 1 {
                anyhow::bail!("--limit must be positive");
            }
            let filter = AlertFilter {
                state: (state != "all").then_some(state),
                park,
                rule,
                limit,
            };
            let rows = q::list(pool, &filter).await.context("listing alerts")?;
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
        AlertsCommand::Ack { id, by, comment } => {
            if by.trim().is_empty() {
                anyhow::bail!("--by must name who acknowledges");
            }
            match q::acknowledge(pool, id, by.trim(), comment.as_deref()).await? {
                AckOutcome::Acknowledged(a) => {
                    println!("acknowledged alert {id} ({}) as {}", a.summary, by.trim());
                    Ok(())
                }
                AckOutcome::AlreadyAcknowledged(a) => {
                    println!(
                        "alert {id} was already acknowledged by {} at {}",
                        a.acked_by.unwrap_or_default(),
                        a.acked_at.map(|t| t.to_rfc3339()).unwrap_or_default()
                    );
                    Ok(())
                }
                AckOutcome::Resolved(_) => {
                    anyhow::bail!("alert {id} is resolved; nothing to acknowledge")
                }
                AckOutcome::NotFound => anyhow::bail!("no alert {id}"),
            }
        }
    }
}

fn print_table(out: &mut impl Write, rows: &[AlertRow]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>6}  {:<8}  {:<8}  {:<22}  {:<12}  {:<16}  {:<8}  {:<20}  {:<10}  summary",
        "id", "state", "severity", "rule", "park", "point", "poll.", "since", "acked by"
    )?;
    for a in rows {
        writeln!(
            out,
            "{:>6}  {:<8}  {:<8}  {:<22}  {:<12}  {:<16}  {:<8}  {:<20}  {:<10}  {}",
            a.id,
            a.state,
            a.severity,
            a.rule,
            a.park_id,
            a.point_id,
            a.pollutant,
            a.active_since.format("%Y-%m-%d %H:%M:%SZ"),
            a.acked_by.as_deref().unwrap_or("-"),
            a.summary
        )?;
    }
    Ok(())
}

//! `greenmon import readings FILE`: history from a CSV file or an HJ 212 capture, through the
//! ingest pipeline's decode and batch writer ([`crate::ingest::import`]), with a progress bar on
//! a terminal and a summary line at the end.
//!
//! The command runs without the alert engine and its tap: imported hours page nobody
//! (docs/import.md).

use std::io::{BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Settings;
use crate::ingest::decode::DecodeContext;
use crate::ingest::import::{import, Format, ImportConfig, ImportSummary};

/// `greenmon import …`.
#[derive(clap::Subcommand)]
pub enum ImportCommand {
    /// Import readings from FILE (`-` for standard input): CSV with a header row
    /// (time,point,pollutant,value[,flag,min,max,cou,kind,park]) or HJ 212 packets, one a line.
    /// Validated and quarantined as live data; a re-run stores nothing twice.
    Readings(ReadingsArgs),
}

/// `greenmon import readings`.
#[derive(clap::Args)]
pub struct ReadingsArgs {
    /// The file to import, or `-` for standard input.
    file: PathBuf,
    /// The input's format; by default, HJ 212 if the first line starts with `##`, else CSV.
    #[arg(long)]
    format: Option<InputFormat>,
    /// Rows a batch holds (each batch commits in one transaction).
    #[arg(long, default_value_t = 10_000)]
    batch_rows: usize,
    /// Batches committing at once; default `ingest.parallel_commits`.
    #[arg(long)]
    parallel: Option<usize>,
    /// A bureau correction: the file's readings replace the stored ones and outrank any later
    /// re-send by a data logger (docs/compliance.md, "Corrections"). Needs `--by`.
    #[arg(long, requires = "by")]
    correction: bool,
    /// Who makes the correction (kept with every corrected reading and its revisions).
    #[arg(long, requires = "correction")]
    by: Option<String>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum InputFormat {
    Csv,
    Hj212,
}

/// Runs one import command.
pub(super) async fn run(command: ImportCommand, settings: &Settings) -> anyhow::Result<()> {
    let ImportCommand::Readings(args) = command;
    let (name, input): (String, Box<dyn BufRead + Send>) = if args.file.as_os_str() == "-" {
        ("-".into(), Box::new(BufReader::new(std::io::stdin())))
    } else {
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("opening {}", args.file.display()))?;
        (
            args.file.display().to_string(),
            Box::new(BufReader::with_capacity(1 << 20, file)),
        )
    };
    let parallel = args.parallel.unwrap_or(settings.ingest.parallel_commits);
    if parallel == 0 || args.batch_rows == 0 {
        anyhow::bail!("--parallel and --batch-rows must be positive");
    }
    let cfg = ImportConfig {
        ctx: DecodeContext {
            topic_prefix: settings.mqtt.topic_prefix.clone(),
            timezone: settings.timezone(),
            max_payload_bytes: settings.ingest.max_payload_bytes,
            max_future_secs: settings.ingest.max_future_secs,
            limits: Arc::new(settings.ingest.value_limits()),
        },
        name,
        format: args.format.map(|f| match f {
            InputFormat::Csv => Format::Csv,
            InputFormat::Hj212 => Format::Hj212,
        }),
        batch_rows: args.batch_rows,
        parallel,
        correction_by: match args.by {
            Some(by) if by.trim().is_empty() || by.chars().any(char::is_control) => {
                anyhow::bail!("--by must name who makes the correction")
            }
            by => by,
        },
    };
    // One connection per committing batch, plus one for the registry lookup.
    let mut database = settings.database.clone();
    database.max_connections = database.max_connections.max(parallel as u32 + 1);
    let pool = crate::store::pool(&database);

    let bar = progress_bar();
    let started = Instant::now();
    let result = import(&pool, cfg, input, |s| bar.set_position(s.readings)).await;
    bar.finish_and_clear();
    let summary = result.context("importing readings")?;
    println!("{}", summary_line(&summary, started.elapsed()));
    Ok(())
}

/// A bar of readings and readings/s on stderr; hidden when stderr is not a terminal.
fn progress_bar() -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(None, target);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {human_pos} readings ({per_sec})",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// `imported FILE: read …, stored …, duplicates …, quarantined … (reason n, …), elapsed …`.
fn summary_line(s: &ImportSummary, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.readings as f64 / secs
    } else {
        0.0
    };
    let reasons: Vec<String> = s
        .quarantined
        .iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    let reasons = if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", reasons.join(", "))
    };
    format!(
        "imported: {} lines, {} readings read, {} stored, {} duplicates, {} corrected, {} overruled, {} ignored, {} quarantined{reasons}; {secs:.2} s, {rate:.0} readings/s",
        s.lines,
        s.readings,
        s.stored,
        s.duplicates,
        s.corrected,
        s.overruled,
        s.ignored,
        s.quarantined_total(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_every_count_and_reason() {
        let mut s = ImportSummary {
            lines: 5,
            readings: 3,
            stored: 2,
            duplicates: 1,
            ..ImportSummary::default()
        };
        s.quarantined.insert("invalid_csv", 1);
        s.quarantined.insert("unknown_point", 1);
        let line = summary_line(&s, Duration::from_secs(2));
        assert_eq!(
            line,
            "imported: 5 lines, 3 readings read, 2 stored, 1 duplicates, 0 corrected, 0 overruled, 0 ignored, 2 quarantined (invalid_csv 1, unknown_point 1); 2.00 s, 2 readings/s"
        );
    }
}

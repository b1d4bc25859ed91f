//! The history import (`greenmon import readings FILE`): readings from a CSV file or an HJ 212
//! capture take the path live data takes, without MQTT. One blocking task reads and decodes
//! the input (the pure [`decode`](super::decode) functions, then [`plausible::check`]) into
//! batches of `batch_rows` rows; up to `parallel` batches commit at once through
//! [`write_batch`], the writer of live ingest (registry checks, quarantine, the rollups' pending
//! hours). The two are joined by a queue `parallel` batches deep, so decoding runs while the
//! previous batches commit and memory stays bounded.
//!
//! Every line ends as readings or as a quarantine row (source `import`, topic
//! `import://NAME:LINE`, the line as payload). A re-run stores nothing twice: readings have their
//! primary key, quarantine rows are unique by topic and payload.
//!
//! Nothing here announces exceedances: the import runs without the alert tap.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::stream::{FuturesUnordered, StreamExt};
use sqlx::PgPool;
use tokio::sync::mpsc;

use super::batch::{packet_content, rejected};
use super::decode::{
    decode_csv_line, decode_hj212, plausible, CsvColumns, DecodeContext, DecodeError, Decoded,
};
use crate::backoff::Backoff;
use crate::domain::ParkId;
use crate::store::batch::{point_parks, UNKNOWN_POINT};
use crate::store::corrections::BUREAU;
use crate::store::{write_batch, BatchItem, BatchOutcome, Content, StoreError};

/// The `source` of quarantine rows written by the import.
pub const SOURCE: &str = "import";

/// How often a batch is tried while the database is unavailable before the import gives up.
const ATTEMPTS: u32 = 5;

/// The input's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A header row, then one reading a line ([`CsvColumns`]).
    Csv,
    /// One HJ 212 packet a line, as `greenmon hj212 decode` reads them.
    Hj212,
}

impl Format {
    /// The format of an input whose first non-blank line is `line`: HJ 212 packets start with
    /// `##`; anything else is read as a CSV header.
    pub fn detect(line: &[u8]) -> Self {
        if line.trim_ascii_start().starts_with(b"##") {
            Self::Hj212
        } else {
            Self::Csv
        }
    }
}

/// What to import and how.
#[derive(Debug, Clone)]
pub struct ImportConfig {
    pub ctx: DecodeContext,
    /// The input's name in quarantine topics (`import://NAME:LINE`): the path as given, or `-`.
    pub name: String,
    /// `None`: detected from the first line.
    pub format: Option<Format>,
    /// Rows a batch holds (a rejected line counts as one).
    pub batch_rows: usize,
    /// Batches committing at once, each on its own connection.
    pub parallel: usize,
    /// `Some(author)`: a bureau correction, whose readings outrank the data loggers' (source
    /// `bureau`, sender the author). `None`: logger history (source `import`, no sender: the
    /// point's data logger).
    pub correction_by: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Lines read, blank ones included.
    pub lines: u64,
    /// Readings decoded (including those the registry check then quarantined).
    pub readings: u64,
    /// Reading rows inserted.
    pub stored: u64,
    /// Reading rows already stored (a re-run).
    pub duplicates: u64,
    /// Stored readings this import replaced with a different version (corrections).
    pub corrected: u64,
    /// Rows that lost to a stored bureau correction (kept as overruled revisions).
    pub overruled: u64,
    /// HJ 212 packets with nothing to store (another CN).
    pub ignored: u64,
    /// Quarantined lines (or packets) by reason code.
    pub quarantined: BTreeMap<&'static str, u64>,
}

impl ImportSummary {
    fn add(&mut self, chunk: &Chunk, outcome: &BatchOutcome) {
        self.lines += chunk.lines;
        self.readings += chunk.readings;
        self.stored += outcome.readings_inserted;
        self.duplicates += outcome.readings_duplicate;
        self.corrected += outcome.readings_corrected;
        self.overruled += outcome.readings_overruled;
        for (item, verdict) in chunk.items.iter().zip(&outcome.verdicts) {
            match verdict {
                Some(reason) => *self.quarantined.entry(reason).or_default() += 1,
                None if matches!(item.content, Content::Ignored) => self.ignored += 1,
                None => {}
            }
        }
    }

    /// Lines or packets quarantined, all reasons.
    pub fn quarantined_total(&self) -> u64 {
        self.quarantined.values().sum()
    }
}

/// Why an import stopped.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("reading the input: {0}")]
    Io(#[from] std::io::Error),
    #[error("CSV header (line {line}): {detail}")]
    Header { line: u64, detail: String },
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("the input reader stopped unexpectedly")]
    Reader,
}

/// A batch of decoded lines.
struct Chunk {
    items: Vec<BatchItem>,
    lines: u64,
    readings: u64,
    rows: usize,
}

impl Chunk {
    fn new(capacity: usize) -> Self {
        Self {
            items: Vec::with_capacity(capacity),
            lines: 0,
            readings: 0,
            rows: 0,
        }
    }
}

/// Imports `input`, calling `progress` after each committed batch with the totals so far.
///
/// # Errors
/// An unreadable input or CSV header, or the database unavailable for [`ATTEMPTS`] tries of one
/// batch. Batches committed before the error stay committed (a re-run skips them).
pub async fn import(
    pool: &PgPool,
    cfg: ImportConfig,
    input: Box<dyn BufRead + Send>,
    mut progress: impl FnMut(&ImportSummary),
) -> Result<ImportSummary, ImportError> {
    let parks = point_parks(pool).await?;
    let parallel = cfg.parallel.max(1);
    let (tx, mut rx) = mpsc::channel::<Chunk>(parallel);
    let reader = tokio::task::spawn_blocking(move || Reader { cfg, parks }.run(input, &tx));

    let mut summary = ImportSummary::default();
    let mut inflight = FuturesUnordered::new();
    let mut open = true;
    let mut failed = None;
    while open || !inflight.is_empty() {
        tokio::select! {
            chunk = rx.recv(), if open && failed.is_none() && inflight.len() < parallel => match chunk {
                Some(chunk) => inflight.push(async move {
                    let outcome = commit(pool, &chunk.items).await;
                    (chunk, outcome)
                }),
                None => open = false,
            },
            Some((chunk, outcome)) = inflight.next(), if !inflight.is_empty() => match outcome {
                Ok(outcome) => {
                    summary.add(&chunk, &outcome);
                    progress(&summary);
                }
                Err(e) => {
                    // Stop reading (the reader sees its queue closed) and let the batches
                    // already committing finish.
                    failed = Some(e);
                    rx.close();
                    open = false;
                }
            },
        }
    }
    if let Some(e) = failed {
        return Err(e.into());
    }
    reader.await.map_err(|_| ImportError::Reader)??;
    Ok(summary)
}

/// Writes one batch, retrying while the database is unavailable.
async fn commit(pool: &PgPool, items: &[BatchItem]) -> Result<BatchOutcome, StoreError> {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut attempt = 1;
    loop {
        match write_batch(pool, items).await {
            Ok(outcome) => return Ok(outcome),
            Err(e) if attempt < ATTEMPTS => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, attempt, retry_in_ms = delay.as_millis() as u64, "Database unavailable; retrying the batch.");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The decoding side, on a blocking thread.
struct Reader {
    cfg: ImportConfig,
    /// point id → park id, for CSV lines without a `park` column.
    parks: HashMap<String, String>,
}

impl Reader {
    /// Reads, decodes and queues batches until the input ends or the queue closes.
    fn run(
        self,
        mut input: Box<dyn BufRead + Send>,
        tx: &mpsc::Sender<Chunk>,
    ) -> Result<(), ImportError> {
        let cap = self.cfg.batch_rows.max(1);
        let mut chunk = Chunk::new(cap);
        let mut buf = Vec::with_capacity(256);
        let mut number = 0u64;
        let mut format = self.cfg.format;
        let mut columns: Option<CsvColumns> = None;
        let mut now = Utc::now();
        loop {
            buf.clear();
            if input.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            number += 1;
            chunk.lines += 1;
            let line = buf.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let format = *format.get_or_insert_with(|| Format::detect(line));
            match (format, &columns) {
                (Format::Csv, None) => {
                    let header = std::str::from_utf8(line).map_err(|_| ImportError::Header {
                        line: number,
                        detail: "not valid UTF-8".into(),
                    })?;
                    let parsed =
                        CsvColumns::parse(header).map_err(|detail| ImportError::Header {
                            line: number,
                            detail,
                        })?;
                    columns = Some(parsed);
                }
                (Format::Csv, Some(columns)) => {
                    self.csv_line(&mut chunk, columns, number, line, now)
                }
                (Format::Hj212, _) => self.hj212_line(&mut chunk, number, line, now),
            }
            if chunk.rows >= cap {
                let full = std::mem::replace(&mut chunk, Chunk::new(cap));
                if tx.blocking_send(full).is_err() {
                    // The committing side stopped; it reports why.
                    return Ok(());
                }
                now = Utc::now();
            }
        }
        if chunk.lines > 0 {
            let _ = tx.blocking_send(chunk);
        }
        Ok(())
    }

    fn item(&self, number: u64, payload: &[u8], content: Content) -> BatchItem {
        let (source, sender) = match &self.cfg.correction_by {
            Some(by) => (BUREAU, Some(by.clone())),
            None => (SOURCE, None),
        };
        BatchItem {
            source,
            sender,
            topic: format!("import://{}:{number}", self.cfg.name),
            payload: Bytes::copy_from_slice(payload),
            content,
        }
    }

    fn csv_line(
        &self,
        chunk: &mut Chunk,
        columns: &CsvColumns,
        number: u64,
        line: &[u8],
        now: chrono::DateTime<Utc>,
    ) {
        let ctx = &self.cfg.ctx;
        // Plausibility first, as for live data; then the park the line names, or the point's
        // registered one.
        let decoded = decode_csv_line(ctx, columns, line, now).and_then(|csv| {
            plausible::check_readings(&ctx.limits, std::slice::from_ref(&csv.reading))?;
            Ok(csv)
        });
        let content = match decoded {
            Err(e) => rejected(&e),
            Ok(csv) => {
                let point = csv.reading.point.clone();
                let registered = self.parks.get(point.as_str()).map(String::as_str);
                match csv.park.as_deref().or(registered).map(ParkId::parse) {
                    None => Content::Rejected {
                        reason: UNKNOWN_POINT,
                        detail: format!("point {point} is not registered"),
                    },
                    Some(Err(e)) => rejected(&DecodeError::InvalidCsv(format!("park: {e}"))),
                    Some(Ok(park)) => {
                        chunk.readings += 1;
                        chunk.rows += 1;
                        Content::Readings {
                            park,
                            point,
                            readings: vec![csv.reading],
                        }
                    }
                }
            }
        };
        chunk.rows += 1;
        chunk.items.push(self.item(number, line, content));
    }

    fn hj212_line(&self, chunk: &mut Chunk, number: u64, line: &[u8], now: chrono::DateTime<Utc>) {
        let ctx = &self.cfg.ctx;
        let packets = decode_hj212(line, ctx.timezone, ctx.max_future_secs, now);
        let checked = plausible::check(
            &ctx.limits,
            Decoded::Hj212 {
                park: None,
                packets,
            },
        );
        let Ok(Decoded::Hj212 { packets, .. }) = checked else {
            unreachable!("check returns HJ 212 packets as they came, each with its verdict")
        };
        for p in packets {
            let content = packet_content(None, p.result);
            if let Content::Hj212 { upload, .. } = &content {
                chunk.readings += upload.values.len() as u64;
                chunk.rows += upload.values.len();
            }
            chunk.rows += 1;
            chunk.items.push(self.item(number, &p.raw, content));
        }
    }
}

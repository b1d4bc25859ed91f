//! The committer: writes each batch in one transaction and only then acknowledges its messages,
//! in receive order. While the database is unavailable it holds the batch and retries with capped
//! backoff; nothing is acknowledged meanwhile, so the broker's window closes and the backlog
//! waits at the broker, not in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::ack::AckGate;
use super::batch::Batch;
use crate::store::{write_batch, BatchOutcome, Content};
use crate::telemetry::Metrics;

/// Writes batches and acks them.
pub struct Committer {
    pub pool: PgPool,
    pub gate: Arc<AckGate>,
    pub metrics: Metrics,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

impl Committer {
    /// Runs until the batcher closes its channel and every batch is committed and acked.
    pub async fn run(self, mut rx: mpsc::Receiver<Batch>) {
        while let Some(batch) = rx.recv().await {
            let span = tracing::info_span!(
                "commit",
                batch.size = batch.items.len(),
                batch.rows = batch.rows
            );
            let outcome = self.commit(&batch).instrument(span).await;
            self.record(&batch, &outcome);
            self.gate.ack(batch.tokens).await;
        }
    }

    async fn commit(&self, batch: &Batch) -> BatchOutcome {
        let mut delay = self.retry_initial;
        loop {
            let started = Instant::now();
            match write_batch(&self.pool, &batch.items).await {
                Ok(outcome) => {
                    self.metrics
                        .batch_commit_seconds
                        .observe(started.elapsed().as_secs_f64());
                    return outcome;
                }
                Err(e) => {
                    if e.is_retriable() {
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Database unavailable; holding the batch and retrying.");
                    } else {
                        tracing::error!(error = %e, retry_in_ms = delay.as_millis() as u64, "Batch could not be stored, not even in quarantine; retrying.");
                    }
                    self.metrics.commit_retries.inc();
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.retry_max);
                }
            }
        }
    }

    fn record(&self, batch: &Batch, outcome: &BatchOutcome) {
        let m = &self.metrics;
        m.batch_rows.observe(batch.rows as f64);
        m.messages_stored.inc_by(outcome.messages_stored);
        m.readings_stored.inc_by(outcome.readings_inserted);
        m.readings_duplicate.inc_by(outcome.readings_duplicate);
        m.energy_reports_stored.inc_by(outcome.energy_reports);
        for reason in &outcome.quarantined {
            m.quarantined.with_label_values(&[reason]).inc();
        }
        let now = Utc::now();
        for item in &batch.items {
            if let Content::Readings { readings, .. } = &item.content {
                if let Some(latest) = readings.iter().map(|r| r.time).max() {
                    let lag = (now - latest).num_milliseconds().max(0) as f64 / 1000.0;
                    m.ingest_lag_seconds.observe(lag);
                }
            }
        }
    }
}

//! The committer: writes each batch in one transaction and only then acknowledges its messages,
//! in receive order: PUBACKs to the broker, and to each HJ 212 logger the answer its packet's
//! verdict calls for. While the database is unavailable it holds the batch and retries with capped
//! backoff; nothing is acknowledged meanwhile, so the broker's window closes and the backlog
//! waits at the broker, not in memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::stream::{FuturesOrdered, StreamExt};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::ack::AckSender;
use super::batch::Batch;
use super::split::{SplitGap, SplitTracker};
use super::{Ack, LoggerEvent};
use crate::backoff::Backoff;
use crate::store::{write_batch, BatchOutcome, CommitObserver, Content};
use crate::telemetry::Metrics;

/// Writes batches and acks them.
pub struct Committer {
    pub pool: PgPool,
    /// Where the PUBACKs of committed MQTT messages go, in receive order.
    pub acks: AckSender,
    pub metrics: Metrics,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    /// How long to wait for the missing parts of a split HJ 212 upload.
    pub split_timeout: Duration,
    /// Batches committing at once.
    pub parallel: usize,
    /// Shown every committed batch (the alert engine's exceedance fast path).
    pub observer: Option<Arc<dyn CommitObserver>>,
    /// The requester's queue: loggers bridged over MQTT and their replies.
    pub requester: mpsc::Sender<LoggerEvent>,
    /// When each MQTT-bridged logger was last announced to the requester.
    pub bridged: std::sync::Mutex<HashMap<String, Instant>>,
}

/// An MQTT-bridged logger is announced to the requester at most this often.
const BRIDGED_EVERY: Duration = Duration::from_secs(60);

impl Committer {
    /// Runs until the batcher closes its channel and every batch is committed and acked. Up to
    /// `parallel` batches commit at once, on their own connections; their outcomes are taken
    /// in the order the batches arrived, so acks still go out in receive order.
    pub async fn run(self, mut rx: mpsc::Receiver<Batch>) {
        let mut splits = SplitTracker::new(self.split_timeout);
        let mut gaps: Vec<SplitGap> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        let mut inflight = FuturesOrdered::new();
        let mut open = true;
        let this = &self;
        while open || !inflight.is_empty() {
            tokio::select! {
                batch = rx.recv(), if open && inflight.len() < this.parallel => match batch {
                    Some(batch) => inflight.push_back(async move {
                        let span = tracing::info_span!("commit", batch.size = batch.items.len(), batch.rows = batch.rows);
                        let outcome = this.commit(&batch).instrument(span).await;
                        (batch, outcome)
                    }),
                    None => open = false,
                },
                Some((batch, outcome)) = inflight.next(), if !inflight.is_empty() => {
                    this.record(&batch, &outcome);
                    if let Some(observer) = &this.observer {
                        observer.committed(&batch.items, &outcome);
                    }
                    track_splits(&mut splits, &batch, &outcome);
                    this.acknowledge(batch, &outcome).await;
                }
                _ = tick.tick() => {
                    gaps.extend(splits.expire(std::time::Instant::now()));
                    this.record_gaps(&mut gaps).await;
                }
            }
        }
        gaps.extend(splits.expire(std::time::Instant::now() + self.split_timeout));
        self.record_gaps(&mut gaps).await;
    }

    /// Writes the gaps; those that fail stay for the next tick.
    async fn record_gaps(&self, gaps: &mut Vec<SplitGap>) {
        while let Some(g) = gaps.last() {
            let done = crate::store::hj212::record_gap(
                &self.pool,
                &g.mn,
                &g.cn,
                g.data_time,
                g.pnum,
                &g.received,
            )
            .await;
            if let Err(e) = done {
                tracing::warn!(error = %e, "Cannot record a split-upload gap; retrying later.");
                return;
            }
            tracing::warn!(mn = %g.mn, cn = %g.cn, pnum = g.pnum, received = ?g.received, "Split HJ 212 upload incomplete; the parts received are stored.");
            self.metrics.hj212_split_gaps.inc();
            gaps.pop();
        }
    }

    async fn commit(&self, batch: &Batch) -> BatchOutcome {
        let mut backoff = Backoff::new(self.retry_initial, self.retry_max);
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
                    // write_batch sets permanent failures aside message by message, so what
                    // comes back here is the database being unavailable: hold the batch (the
                    // broker's window closes meanwhile) and retry.
                    let delay = backoff.next_delay();
                    tracing::warn!(error = %e, retriable = e.is_retriable(), retry_in_ms = delay.as_millis() as u64, "Database unavailable; holding the batch and retrying.");
                    self.metrics.commit_retries.inc();
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    async fn acknowledge(&self, batch: Batch, outcome: &BatchOutcome) {
        let mut mqtt = Vec::with_capacity(batch.acks.len());
        self.tell_requester(&batch, outcome);
        for (ack, range) in batch.acks {
            match ack {
                Ack::Mqtt(token) => mqtt.push(token),
                Ack::Tcp(reply) => {
                    for i in range.clone() {
                        let answer = match outcome.verdicts.get(i).copied().flatten() {
                            None => batch.replies[i].stored(),
                            Some(reason) => batch.replies[i].for_reason(reason),
                        };
                        // Never waits: a logger that does not read has its connection closed
                        // instead. A closed connection is fine: the logger resends what it was
                        // not answered, and the primary key absorbs the repeat.
                        if let Some(bytes) = answer {
                            if reply.answer(bytes, &self.metrics) {
                                self.metrics.hj212_answers.inc();
                            }
                        }
                        if let (None, Content::Hj212 { upload, .. }) = (
                            outcome.verdicts.get(i).copied().flatten(),
                            &batch.items[i].content,
                        ) {
                            reply.conn.stored(
                                &upload.mn,
                                upload.password.as_deref(),
                                &self.metrics,
                            );
                            // Real-time data are stamped when sampled: their DataTime shows the
                            // logger's clock.
                            if let (Some(t), "2011") = (upload.data_time, upload.cn.as_str()) {
                                reply.conn.observe_clock(t, Utc::now());
                            }
                        }
                    }
                    // A reply to a request is passed on once committed (never quarantined:
                    // a reply whose CRC failed reaches no one, and the request is retried).
                    let accepted = range
                        .clone()
                        .all(|i| outcome.verdicts.get(i).copied().flatten().is_none());
                    if let (Some(r), true) = (reply.reply, accepted) {
                        reply.conn.replied(r, &self.metrics);
                    }
                }
            }
        }
        self.acks.ack(mqtt).await;
    }

    /// Tells the requester which loggers bridge over MQTT, and passes on their committed
    /// replies. Never waits: a full queue drops the event (counted).
    fn tell_requester(&self, batch: &Batch, outcome: &BatchOutcome) {
        let send = |event| {
            if let Err(mpsc::error::TrySendError::Full(_)) = self.requester.try_send(event) {
                self.metrics.hj212_requester_events_dropped.inc();
            }
        };
        let stored = |i: usize| outcome.verdicts.get(i).copied().flatten().is_none();
        let now = Instant::now();
        for (i, item) in batch.items.iter().enumerate() {
            let (
                Content::Hj212 {
                    park: Some(_),
                    upload,
                },
                true,
            ) = (&item.content, stored(i))
            else {
                continue;
            };
            let mut bridged = self
                .bridged
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if bridged
                .get(&upload.mn)
                .is_some_and(|t| now.duration_since(*t) < BRIDGED_EVERY)
            {
                continue;
            }
            bridged.insert(upload.mn.clone(), now);
            drop(bridged);
            send(LoggerEvent::Bridged {
                mn: upload.mn.clone(),
                password: upload.password.clone(),
            });
        }
        for (i, mn, reply) in &batch.logger_replies {
            if stored(*i) {
                send(LoggerEvent::BridgedReply {
                    mn: mn.clone(),
                    reply: reply.clone(),
                });
            }
        }
    }

    fn record(&self, batch: &Batch, outcome: &BatchOutcome) {
        let m = &self.metrics;
        m.batch_rows.observe(batch.rows as f64);
        m.messages_stored.inc_by(outcome.messages_stored);
        m.readings_stored.inc_by(outcome.readings_inserted);
        m.readings_duplicate.inc_by(outcome.readings_duplicate);
        m.readings_corrected.inc_by(outcome.readings_corrected);
        m.readings_overruled.inc_by(outcome.readings_overruled);
        m.energy_reports_stored.inc_by(outcome.energy_reports);
        for reason in outcome.verdicts.iter().flatten() {
            m.quarantined.with_label_values(&[reason]).inc();
        }
        let now = Utc::now();
        for item in &batch.items {
            let latest = match &item.content {
                Content::Readings { readings, .. } => readings.iter().map(|r| r.time).max(),
                Content::Hj212 { upload, .. } => upload.values.iter().map(|v| v.time).max(),
                Content::Ignored => {
                    m.hj212_ignored.inc();
                    None
                }
                _ => None,
            };
            if let Some(latest) = latest {
                let lag = (now - latest).num_milliseconds().max(0) as f64 / 1000.0;
                m.ingest_lag_seconds.observe(lag);
            }
        }
    }
}

/// Notes the stored parts of split uploads.
fn track_splits(splits: &mut SplitTracker, batch: &Batch, outcome: &BatchOutcome) {
    let now = std::time::Instant::now();
    for (item, verdict) in batch.items.iter().zip(&outcome.verdicts) {
        if let (Content::Hj212 { upload, .. }, None) = (&item.content, verdict) {
            if let Some(split) = upload.split {
                splits.part(&upload.mn, &upload.cn, upload.data_time, split, now);
            }
        }
    }
}

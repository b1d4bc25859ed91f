//! The batcher: decodes each message (pure) and groups messages into batches, flushed when
//! they reach `ingest.batch_max_rows` rows or are `ingest.linger_ms` old, whichever comes first.
//! When its input closes it flushes what it holds and ends, which ends the committer.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ack::AckToken;
use super::decode::{decode, DecodeContext, Decoded};
use super::Inbound;
use crate::store::{BatchItem, Content};

/// A batch on its way to the committer: the store's items and, in the same order, the tokens to
/// acknowledge once they are committed.
#[derive(Debug, Default)]
pub struct Batch {
    pub items: Vec<BatchItem>,
    pub tokens: Vec<AckToken>,
    pub rows: usize,
}

/// Groups decoded messages.
pub struct Batcher {
    pub ctx: DecodeContext,
    pub max_rows: usize,
    pub linger: Duration,
}

impl Batcher {
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<Inbound>, tx: mpsc::Sender<Batch>) {
        let mut batch = Batch::default();
        let mut deadline = Instant::now();
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => {
                        if batch.items.is_empty() {
                            deadline = Instant::now() + self.linger;
                        }
                        self.push(&mut batch, msg);
                        if batch.rows >= self.max_rows && tx.send(std::mem::take(&mut batch)).await.is_err() {
                            return;
                        }
                    }
                    None => break,
                },
                () = tokio::time::sleep_until(deadline), if !batch.items.is_empty() => {
                    if tx.send(std::mem::take(&mut batch)).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !batch.items.is_empty() {
            // If the committer is gone the app is tearing down; the broker redelivers.
            let _ = tx.send(batch).await;
        }
    }

    fn push(&self, batch: &mut Batch, msg: Inbound) {
        let content = match decode(&self.ctx, &msg.topic, &msg.payload, Utc::now()) {
            Ok(Decoded::Readings {
                park,
                point,
                readings,
            }) => Content::Readings {
                park,
                point,
                readings,
            },
            Ok(Decoded::Energy(report)) => Content::Energy(report),
            Err(e) => Content::Rejected {
                reason: e.code(),
                detail: e.to_string(),
            },
        };
        batch.rows += match &content {
            Content::Readings { readings, .. } => readings.len(),
            _ => 1,
        };
        batch.items.push(BatchItem {
            source: "mqtt",
            topic: msg.topic,
            payload: msg.payload,
            content,
        });
        batch.tokens.push(msg.token);
    }
}

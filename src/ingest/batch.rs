//! The batcher: decodes each message (pure) and groups messages into batches, flushed when
//! they reach `ingest.batch_max_rows` rows or are `ingest.linger_ms` old, whichever comes first.
//! When its input closes it flushes what it holds and ends, which ends the committer.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::decode::{
    decode, decode_hj212, plausible, DecodeContext, DecodeError, Decoded, Hj212Item, Replies,
    QUARANTINED_HEAD_BYTES,
};
use super::{Ack, Inbound};
use crate::store::{BatchItem, Content};

/// A batch on its way to the committer: the store's items, the HJ 212 answers each item may be
/// owed, and each message's acknowledgement with the items it produced (a payload of several
/// HJ 212 packets makes several items).
#[derive(Debug, Default)]
pub struct Batch {
    pub items: Vec<BatchItem>,
    /// Parallel to `items`.
    pub replies: Vec<Replies>,
    /// In receive order.
    pub acks: Vec<(Ack, Range<usize>)>,
    pub rows: usize,
    /// Replies of loggers bridged over MQTT to greenmon's requests: (item, MN, reply). (TCP
    /// connections find their loggers' replies themselves.)
    pub logger_replies: Vec<(usize, String, hj212::LoggerReply)>,
}

/// Groups decoded messages.
pub struct Batcher {
    pub ctx: DecodeContext,
    pub max_rows: usize,
    pub linger: Duration,
}

impl Batcher {
    /// Runs until every source has closed its queue, then flushes and ends. `sources` are the
    /// bounded queues of the MQTT source and the HJ 212 listener; each keeps its own order (MQTT
    /// acks go out in receive order), and one source's backlog never fills the other's queue.
    pub async fn run(self, mut sources: Vec<mpsc::Receiver<Inbound>>, tx: mpsc::Sender<Batch>) {
        let mut batch = Batch::default();
        let mut deadline = Instant::now();
        while !sources.is_empty() {
            tokio::select! {
                (msg, i) = next(&mut sources) => match msg {
                    Some(msg) => {
                        if batch.acks.is_empty() {
                            deadline = Instant::now() + self.linger;
                        }
                        self.push(&mut batch, msg);
                        if batch.rows >= self.max_rows && tx.send(std::mem::take(&mut batch)).await.is_err() {
                            return;
                        }
                    }
                    None => {
                        sources.swap_remove(i);
                    }
                },
                () = tokio::time::sleep_until(deadline), if !batch.acks.is_empty() => {
                    if tx.send(std::mem::take(&mut batch)).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !batch.acks.is_empty() {
            // If the committer is gone the app is tearing down; the broker redelivers.
            let _ = tx.send(batch).await;
        }
    }

    fn push(&self, batch: &mut Batch, msg: Inbound) {
        let now = Utc::now();
        let first = batch.items.len();
        let decoded = match &msg.ack {
            // A logger on TCP: one HJ 212 frame, claimed by no park.
            Ack::Tcp(_) => Ok(Decoded::Hj212 {
                park: None,
                packets: decode_hj212(
                    &msg.payload,
                    self.ctx.timezone,
                    self.ctx.max_future_secs,
                    now,
                ),
            }),
            Ack::Mqtt(_) => decode(&self.ctx, &msg.topic, &msg.payload, now),
        }
        .and_then(|d| plausible::check(&self.ctx.limits, d));
        let item = |payload: Bytes, content: Content| BatchItem {
            source: match msg.ack {
                Ack::Mqtt(_) => "mqtt",
                Ack::Tcp(_) => "tcp",
            },
            sender: None,
            topic: msg.topic.clone(),
            payload,
            content,
        };
        match decoded {
            Ok(Decoded::Hj212 { park, packets }) => {
                for p in packets {
                    if park.is_some() {
                        let reply = hj212::frames(&p.raw, hj212::LENIENT_MAX_DATA_LEN)
                            .next()
                            .and_then(Result::ok)
                            .and_then(hj212::LoggerReply::of_frame);
                        if let Some((mn, reply)) = reply {
                            batch.logger_replies.push((batch.items.len(), mn, reply));
                        }
                    }
                    let content = packet_content(park.as_ref(), p.result);
                    if let Content::Hj212 { upload, .. } = &content {
                        batch.rows += upload.values.len();
                    }
                    batch.items.push(item(Bytes::from(p.raw), content));
                    batch.replies.push(p.replies);
                }
            }
            other => {
                // Keep the first bytes only of an oversized message: enough to tell what it
                // was, and the whole message need not stay in memory until the commit.
                let payload = if matches!(other, Err(DecodeError::PayloadTooLarge { .. })) {
                    let head = msg.payload.len().min(QUARANTINED_HEAD_BYTES);
                    Bytes::copy_from_slice(&msg.payload[..head])
                } else {
                    msg.payload.clone()
                };
                let content = match other {
                    Ok(Decoded::Readings {
                        park,
                        point,
                        readings,
                    }) => {
                        batch.rows += readings.len();
                        Content::Readings {
                            park,
                            point,
                            readings,
                        }
                    }
                    Ok(Decoded::Energy(report)) => Content::Energy(report),
                    Ok(Decoded::Hj212 { .. }) => unreachable!("handled above"),
                    Err(e) => rejected(&e),
                };
                batch.items.push(item(payload, content));
                batch.replies.push(Replies::default());
            }
        }
        batch.rows += 1;
        let last = batch.items.len();
        batch.acks.push((msg.ack, first..last));
    }
}

/// The next message of any source, with the index of its source (`None`: that source closed).
/// Polling starts from a random source, so a busy one cannot starve the other.
async fn next(sources: &mut [mpsc::Receiver<Inbound>]) -> (Option<Inbound>, usize) {
    std::future::poll_fn(|cx| {
        let n = sources.len();
        let start = if n > 1 {
            rand::random::<u32>() as usize % n
        } else {
            0
        };
        for k in 0..n {
            let i = (start + k) % n;
            if let std::task::Poll::Ready(msg) = sources[i].poll_recv(cx) {
                return std::task::Poll::Ready((msg, i));
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// What one decoded HJ 212 packet brings to the store (shared with the history import).
pub(crate) fn packet_content(
    park: Option<&crate::domain::ParkId>,
    result: Result<Hj212Item, super::decode::DecodeError>,
) -> Content {
    match result {
        Ok(Hj212Item::Upload(upload)) => Content::Hj212 {
            park: park.cloned(),
            upload,
        },
        Ok(Hj212Item::Ignored { .. }) => Content::Ignored,
        Err(e) => rejected(&e),
    }
}

/// A message rejected before the store, with its reason code.
pub(crate) fn rejected(e: &super::decode::DecodeError) -> Content {
    Content::Rejected {
        reason: e.code(),
        detail: e.to_string(),
    }
}

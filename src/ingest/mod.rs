//! Ingest: source → decode → batch → commit → acknowledge.
//!
//! Tasks joined by channels, each owning its input:
//! - [`mqtt::MqttSource`] polls the broker and forwards each publish with an MQTT ack token;
//! - [`hj212_tcp::Hj212Listener`] accepts data loggers on TCP and forwards each HJ 212 frame
//!   with a reply handle to its connection;
//! - [`batch::Batcher`] decodes messages (pure, [`decode`]) and groups them by size or linger;
//! - [`commit::Committer`] writes each batch in one transaction, retrying while the database is
//!   unavailable, then acknowledges: PUBACKs in receive order, and HJ 212 answers (9014, or a 9011
//!   naming the problem) to each logger.
//!
//! The history import ([`import`]) feeds files through the same decode and the same batch
//! writer, without a source or acknowledgements.
//!
//! Every queue between these tasks has a hard cap (docs/operations.md, "Queues and limits"):
//! - each source's queue to the batcher holds `ingest.queue` messages; a source that finds it
//!   full waits (backpressure), so the queue never grows. For MQTT the broker's in-flight window
//!   bounds it first (greenmon acknowledges only after commit, and the broker sends no more than
//!   its window of unacknowledged messages), so with `ingest.queue` at least that window the
//!   event loop practically never waits;
//! - batches to the committer: `ingest.parallel_commits`;
//! - for TCP, the connection limit, a per-connection limit of unanswered frames, and the
//!   per-connection queue of answers ([`TcpReply`]), which the committer never waits on: when it
//!   is full, or an answer cannot be written within `hj212.write_timeout_secs`, the connection is
//!   closed.

pub mod ack;
pub mod batch;
pub mod commit;
pub mod decode;
pub mod hj212_tcp;
pub mod import;
pub mod mqtt;
pub mod split;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use crate::telemetry::Metrics;

/// One message on its way from a source to the committer.
#[derive(Debug)]
pub struct Inbound {
    /// The MQTT topic, or `tcp://<peer>` for a logger connected over TCP.
    pub topic: String,
    pub payload: Bytes,
    pub ack: Ack,
}

/// How a message is acknowledged once committed.
#[derive(Debug)]
pub enum Ack {
    /// A PUBACK to the broker.
    Mqtt(ack::AckToken),
    /// HJ 212 answers written back on the logger's connection.
    Tcp(TcpReply),
}

/// Where a TCP frame's answers go.
#[derive(Debug)]
pub struct TcpReply {
    /// The connection's writer; as deep as `hj212.max_unanswered_per_connection`.
    pub tx: mpsc::Sender<Vec<u8>>,
    /// Closes the connection.
    pub close: CloseHandle,
    /// Bounds the connection's unanswered frames; released once answered.
    pub _permit: OwnedSemaphorePermit,
}

impl TcpReply {
    /// Queues `answer` for the connection's writer without waiting: the committer must not be
    /// held up by a logger that does not read. When the writer is that far behind, the
    /// connection is closed (`answers_full`); the logger resends what it was not answered, and
    /// the primary key absorbs the repeat. Returns whether it was queued.
    pub fn answer(&self, answer: Vec<u8>, metrics: &Metrics) -> bool {
        match self.tx.try_send(answer) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if self.close.close("answers_full", metrics) {
                    tracing::warn!(
                        "HJ 212 logger not reading its answers; closing its connection."
                    );
                }
                false
            }
            // The connection is gone: nothing to do.
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// Closes one HJ 212 connection, once, counting the first reason given in
/// `greenmon_hj212_connections_closed_total{reason}`.
#[derive(Debug, Clone, Default)]
pub struct CloseHandle {
    token: CancellationToken,
    reason: Arc<OnceLock<&'static str>>,
}

impl CloseHandle {
    /// Closes the connection for `reason`; true if this call closed it (and counted it).
    pub fn close(&self, reason: &'static str, metrics: &Metrics) -> bool {
        let first = self.reason.set(reason).is_ok();
        if first {
            metrics
                .hj212_connections_closed
                .with_label_values(&[reason])
                .inc();
        }
        self.token.cancel();
        first
    }

    /// Closes the connection without counting it (the logger hung up).
    pub fn hang_up(&self) {
        let _ = self.reason.set("hung_up");
        self.token.cancel();
    }

    /// Completes once the connection is being closed.
    pub async fn closed(&self) {
        self.token.cancelled().await;
    }
}

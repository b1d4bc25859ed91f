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
//! Memory is bounded by the broker's in-flight window (greenmon acknowledges only after commit,
//! and the broker sends no more than its window of unacknowledged messages) and, for TCP, by the
//! connection limit and a per-connection limit of unanswered frames.

pub mod ack;
pub mod batch;
pub mod commit;
pub mod decode;
pub mod hj212_tcp;
pub mod mqtt;
pub mod split;

use bytes::Bytes;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

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
    /// The connection's writer.
    pub tx: mpsc::UnboundedSender<Vec<u8>>,
    /// Bounds the connection's unanswered frames; released once answered.
    pub _permit: OwnedSemaphorePermit,
}

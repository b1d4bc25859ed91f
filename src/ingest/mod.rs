//! Ingest: broker → decode → batch → commit → ack.
//!
//! Three tasks joined by bounded channels, each owning its input:
//! - [`mqtt::MqttSource`] polls the broker and forwards each publish with an [`ack::AckToken`];
//! - [`batch::Batcher`] decodes messages (pure, [`decode`]) and groups them by size or linger;
//! - [`commit::Committer`] writes each batch in one transaction, retrying while the database is
//!   unavailable, then acknowledges the batch's messages in receive order.
//!
//! Memory is bounded by the broker's in-flight window: greenmon acknowledges only after commit,
//! and the broker sends no more than its window of unacknowledged messages.

pub mod ack;
pub mod batch;
pub mod commit;
pub mod decode;
pub mod mqtt;
pub mod mqtt_options;

use bytes::Bytes;

/// One message on its way from a source to the committer.
#[derive(Debug)]
pub struct Inbound {
    pub topic: String,
    pub payload: Bytes,
    pub token: ack::AckToken,
}

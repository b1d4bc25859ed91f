//! Acknowledgements that reach the broker only for the connection the message came on.
//!
//! Every CONNACK starts a new connection *generation*. A token records the generation of its
//! message. When the connection fails, [`AckGate::invalidate`] bumps the generation and removes
//! every PUBACK still queued inside rumqttc (under the same lock the committer acks under), so a
//! PUBACK from an old connection can never be sent on a new one, where its packet id may name a
//! different message. The broker redelivers those messages; `ON CONFLICT DO NOTHING` absorbs them.

use std::sync::Mutex;

use rumqttc::{AsyncClient, EventLoop, Publish, QoS, Request};
use tokio::sync::OwnedSemaphorePermit;

use crate::telemetry::Metrics;

/// Proof that a message was received, to be turned into a PUBACK after commit.
#[derive(Debug)]
pub struct AckToken {
    generation: u64,
    pkid: u16,
    qos: QoS,
    /// Released when the token is consumed: bounds the messages held in the pipeline.
    _permit: OwnedSemaphorePermit,
}

/// Shared by the MQTT task (which invalidates) and the committer (which acks).
pub struct AckGate {
    generation: Mutex<u64>,
    client: AsyncClient,
    metrics: Metrics,
}

impl AckGate {
    pub fn new(client: AsyncClient, metrics: Metrics) -> Self {
        Self {
            generation: Mutex::new(0),
            client,
            metrics,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // A poisoned lock only means a panic elsewhere; the counter itself is always valid.
        self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A token for a publish received on the current connection.
    pub fn token(&self, publish: &Publish, permit: OwnedSemaphorePermit) -> AckToken {
        AckToken {
            generation: *self.lock(),
            pkid: publish.pkid,
            qos: publish.qos,
            _permit: permit,
        }
    }

    /// Queues PUBACKs for the tokens, in the order given (receive order); tokens of an earlier
    /// connection are dropped instead.
    pub fn ack(&self, tokens: impl IntoIterator<Item = AckToken>) {
        let generation = self.lock();
        for t in tokens {
            self.metrics.unacked.dec();
            if t.generation != *generation {
                self.metrics.mqtt_acks_dropped.inc();
                continue;
            }
            if t.qos == QoS::AtMostOnce {
                continue;
            }
            let mut p = Publish::new("", t.qos, Vec::new());
            p.pkid = t.pkid;
            match self.client.try_ack(&p) {
                Ok(()) => self.metrics.mqtt_acked.inc(),
                Err(e) => {
                    // Cannot happen while the request channel is larger than the permit count;
                    // the broker redelivers the message on the next connection.
                    tracing::error!(error = %e, pkid = t.pkid, "Could not queue a PUBACK.");
                    self.metrics.mqtt_acks_dropped.inc();
                }
            }
        }
    }

    /// Called by the MQTT task after the connection failed: starts a new generation and drops
    /// every PUBACK still queued for the old connection.
    pub fn invalidate(&self, eventloop: &mut EventLoop) {
        let mut generation = self.lock();
        *generation += 1;
        // Move requests still in rumqttc's channel into `pending`, then drop the PUBACKs there.
        eventloop.clean();
        let before = eventloop.pending.len();
        eventloop
            .pending
            .retain(|r| !matches!(r, Request::PubAck(_)));
        let dropped = before - eventloop.pending.len();
        if dropped > 0 {
            self.metrics.mqtt_acks_dropped.inc_by(dropped as u64);
        }
    }
}

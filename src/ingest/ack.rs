//! Acknowledgements that reach the broker only for the connection the message came on.
//!
//! Every connection is a *generation*. A token records the generation of its message. When the
//! connection fails, [`AckGate::invalidate`] starts a new generation and removes every PUBACK
//! still queued inside rumqttc (under the same lock the committer acks under), so a PUBACK from
//! an old connection can never be sent on a new one, where its packet id may name a different
//! message. The broker redelivers those messages; `ON CONFLICT DO NOTHING` absorbs them.
//!
//! A PUBACK is never dropped for lack of room: when rumqttc's request channel is full the
//! committer waits for the event loop to drain it, which is backpressure on the committer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rumqttc::{AsyncClient, EventLoop, Publish, QoS, Request};

use crate::telemetry::Metrics;

/// Proof that a message was received, to be turned into a PUBACK after commit.
#[derive(Debug)]
pub struct AckToken {
    generation: u64,
    pkid: u16,
    qos: QoS,
}

/// Shared by the MQTT task (which invalidates) and the committer (which acks).
pub struct AckGate {
    generation: Mutex<u64>,
    client: AsyncClient,
    metrics: Metrics,
    /// Set when the MQTT task has ended: nothing can be acked any more.
    closed: AtomicBool,
}

impl AckGate {
    pub fn new(client: AsyncClient, metrics: Metrics) -> Self {
        Self {
            generation: Mutex::new(0),
            client,
            metrics,
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        // A poisoned lock only means a panic elsewhere; the counter itself is always valid.
        self.generation.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A token for a publish received on the current connection.
    pub fn token(&self, publish: &Publish) -> AckToken {
        self.metrics.unacked.inc();
        AckToken {
            generation: *self.lock(),
            pkid: publish.pkid,
            qos: publish.qos,
        }
    }

    /// Queues PUBACKs for the tokens in the order given (receive order), waiting while rumqttc's
    /// request channel is full. Tokens of an earlier connection are dropped instead.
    pub async fn ack(&self, tokens: Vec<AckToken>) {
        let mut tokens: VecDeque<AckToken> = tokens.into();
        while !tokens.is_empty() {
            {
                let generation = self.lock();
                while let Some(t) = tokens.front() {
                    if t.generation != *generation || self.closed.load(Ordering::Relaxed) {
                        self.metrics.mqtt_acks_dropped.inc();
                    } else if t.qos != QoS::AtMostOnce {
                        let mut p = Publish::new("", t.qos, Vec::new());
                        p.pkid = t.pkid;
                        if self.client.try_ack(&p).is_err() {
                            break; // full: wait below, without holding the lock
                        }
                        self.metrics.mqtt_acked.inc();
                    }
                    tokens.pop_front();
                    self.metrics.unacked.dec();
                }
            }
            if !tokens.is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
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

    /// Called when the MQTT task ends: outstanding and future acks are dropped (the broker
    /// redelivers those messages to the next session).
    pub fn close(&self) {
        let _generation = self.lock();
        self.closed.store(true, Ordering::Relaxed);
    }
}

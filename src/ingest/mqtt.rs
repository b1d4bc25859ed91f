//! The MQTT source: one task that polls rumqttc's event loop, forwards each publish with an ack
//! token, and never blocks: it must keep polling for the committer's acks to reach the broker.
//! What it holds is bounded by the broker's in-flight window (Mosquitto `max_inflight_messages`):
//! the broker sends no more until greenmon acks, and greenmon acks only after commit. It
//! reconnects with capped backoff, subscribes again when the broker has no session for it, and on
//! shutdown stops forwarding but keeps polling until the committer's last acks are flushed, then
//! disconnects.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Outgoing, Packet, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ack::AckGate;
use super::decode::subscriptions;
use super::{Ack, Inbound};
use crate::backoff::Backoff;
use crate::config::MqttConfig;
use crate::telemetry::Metrics;

/// Owns the event loop.
pub struct MqttSource {
    pub eventloop: EventLoop,
    pub client: AsyncClient,
    pub gate: Arc<AckGate>,
    pub cfg: MqttConfig,
    pub metrics: Metrics,
    /// True while connected, for `/readyz`.
    pub connected: Arc<AtomicBool>,
}

impl MqttSource {
    /// Runs until `shutdown` is cancelled and `drained` (the committer finished) fires.
    pub async fn run(
        mut self,
        tx: mpsc::UnboundedSender<Inbound>,
        shutdown: CancellationToken,
        drained: CancellationToken,
    ) {
        let mut tx = Some(tx);
        let initial = Duration::from_millis(self.cfg.reconnect_initial_ms);
        let mut backoff = Backoff::new(initial, Duration::from_millis(self.cfg.reconnect_max_ms));
        let mut first_connack = true;
        loop {
            if tx.is_some() && shutdown.is_cancelled() {
                // Stop forwarding: the batcher flushes and the committer acks what it has.
                tx = None;
            }
            if tx.is_none() && drained.is_cancelled() {
                self.disconnect().await;
                self.gate.close();
                return;
            }
            let event = tokio::select! {
                ev = self.eventloop.poll() => ev,
                () = shutdown.cancelled(), if tx.is_some() => continue,
                () = drained.cancelled(), if tx.is_none() => continue,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    backoff.reset();
                    self.connected.store(true, Ordering::Relaxed);
                    self.metrics.mqtt_connected.set(1);
                    self.metrics.mqtt_connections.inc();
                    tracing::info!(
                        session_present = ack.session_present,
                        "Connected to the MQTT broker."
                    );
                    if !ack.session_present || first_connack {
                        self.subscribe();
                    }
                    first_connack = false;
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    self.metrics.mqtt_received.inc();
                    let Some(sender) = &tx else {
                        // Shutting down: not acked, so the broker keeps it for the next session.
                        continue;
                    };
                    let inbound = Inbound {
                        ack: Ack::Mqtt(self.gate.token(&publish)),
                        topic: publish.topic,
                        payload: publish.payload,
                    };
                    // Unbounded so this task never waits: the broker's window bounds it.
                    if sender.send(inbound).is_err() {
                        tx = None;
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    tracing::debug!(?ack, "Subscribed.");
                }
                Ok(_) => {}
                Err(e) => {
                    let was_connected = self.connected.swap(false, Ordering::Relaxed);
                    self.metrics.mqtt_connected.set(0);
                    self.gate.invalidate(&mut self.eventloop);
                    let delay = backoff.next_delay();
                    if was_connected {
                        tracing::warn!(error = %e, "MQTT connection lost; reconnecting.");
                    } else {
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Cannot connect to the MQTT broker; retrying.");
                    }
                    if tx.is_none() && drained.is_cancelled() {
                        self.gate.close();
                        return;
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled(), if tx.is_some() => {}
                        () = drained.cancelled(), if tx.is_none() => {}
                    }
                }
            }
        }
    }

    fn subscribe(&self) {
        for filter in subscriptions(&self.cfg.topic_prefix) {
            if let Err(e) = self.client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                tracing::error!(error = %e, filter, "Cannot queue the subscription.");
            }
        }
    }

    /// Sends DISCONNECT after every queued PUBACK (requests leave in order), bounded in time.
    async fn disconnect(&mut self) {
        if !self.connected.load(Ordering::Relaxed) {
            return;
        }
        if self.client.try_disconnect().is_err() {
            return;
        }
        let flush = async {
            loop {
                match self.eventloop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(3), flush)
            .await
            .is_err()
        {
            tracing::warn!(
                "Timed out flushing the last acks to the broker; it will redeliver them."
            );
        }
        self.connected.store(false, Ordering::Relaxed);
        self.metrics.mqtt_connected.set(0);
    }
}

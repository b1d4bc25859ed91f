//! The MQTT source: one task that polls rumqttc's event loop and forwards each publish with an ack
//! token into a queue of `ingest.queue` messages, and writes the PUBACKs of what the committer
//! stored ([`super::ack`]). What it holds is bounded by that queue: when the queue is full the
//! task waits for room (backpressure) and reads nothing more, so the broker's messages wait in the
//! socket and at the broker; meanwhile it keeps taking the committer's acks, so the committer
//! never waits on it for long and keeps making room. A wait of a whole keep-alive (the database
//! is stuck) means no PINGREQ went out and the broker is about to drop the connection, so this
//! task drops it first (the acks of that connection are dropped, the broker redelivers), waits
//! for room, and reconnects. It reconnects with capped backoff, subscribes again when the broker
//! has no session for it, and on shutdown stops forwarding but keeps polling until the
//! committer's last acks are written, then disconnects. With `mqtt.share_group` it subscribes to
//! `$share/{group}/...`: the broker gives each message to one instance of the group, and each
//! instance acks what it committed, as alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, Outgoing, Packet, QoS};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::ack::AckLedger;
use super::decode::subscriptions;
use super::{Ack, Inbound};
use crate::backoff::Backoff;
use crate::config::MqttConfig;
use crate::telemetry::Metrics;

/// Whether there is room in the queue to the batcher.
enum Room<'a> {
    Permit(mpsc::Permit<'a, Inbound>),
    /// The batcher is gone, or shutdown began.
    Closed,
    /// Full for a whole keep-alive.
    Stalled,
}

/// Owns the event loop.
pub struct MqttSource {
    pub eventloop: EventLoop,
    pub client: AsyncClient,
    pub acks: AckLedger,
    pub cfg: MqttConfig,
    pub metrics: Metrics,
    /// True while connected, for `/readyz`.
    pub connected: Arc<AtomicBool>,
}

impl MqttSource {
    /// Runs until `shutdown` is cancelled and `drained` (the committer finished) fires.
    pub async fn run(
        mut self,
        tx: mpsc::Sender<Inbound>,
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
                self.acks.take(&mut self.eventloop);
                self.disconnect().await;
                self.acks.close();
                return;
            }
            // The acks the committer queued meanwhile go out with the next write.
            self.acks.take(&mut self.eventloop);
            let Some(event) = self.next_event(tx.is_some(), &shutdown, &drained).await else {
                continue;
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
                    let closed = match self.reserve(sender, &shutdown).await {
                        Room::Permit(permit) => {
                            // The token only now, so `greenmon_unacked_messages` counts what
                            // was forwarded.
                            permit.send(Inbound {
                                ack: Ack::Mqtt(self.acks.token(&publish)),
                                topic: publish.topic,
                                payload: publish.payload,
                            });
                            false
                        }
                        Room::Closed => true,
                        Room::Stalled => {
                            // Not acked: the broker redelivers it on the next connection.
                            self.stall_reconnect(sender, &shutdown).await;
                            false
                        }
                    };
                    if closed {
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
                    self.acks.invalidate(&mut self.eventloop);
                    let delay = backoff.next_delay();
                    if was_connected {
                        tracing::warn!(error = %e, "MQTT connection lost; reconnecting.");
                    } else {
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Cannot connect to the MQTT broker; retrying.");
                    }
                    if tx.is_none() && drained.is_cancelled() {
                        self.acks.close();
                        return;
                    }
                    let wait = async {
                        tokio::select! {
                            () = tokio::time::sleep(delay) => {}
                            () = shutdown.cancelled(), if tx.is_some() => {}
                            () = drained.cancelled(), if tx.is_none() => {}
                        }
                    };
                    self.taking_acks(wait).await;
                }
            }
        }
    }

    /// The next event of the event loop; `None` when the wait was cut short by shutdown or by
    /// acks to write. While connected with nothing left to write, acks from the committer cut
    /// the wait short, so they go out at once even when the broker sends nothing.
    ///
    /// rumqttc's `poll` may be dropped anywhere except while it writes to the socket, and it
    /// writes only what is in its write buffer. So the wait is cut short only when the buffer
    /// starts empty, and if it is not empty after the drop, `poll` was cut in the middle of its
    /// own write: the connection may hold half a packet and is dropped (the broker redelivers).
    async fn next_event(
        &mut self,
        forwarding: bool,
        shutdown: &CancellationToken,
        drained: &CancellationToken,
    ) -> Option<Result<Event, ConnectionError>> {
        let cuttable = self.eventloop.state.write.is_empty();
        let connected = self.connected.load(Ordering::Relaxed);
        let mut tokens = Vec::new();
        tokio::select! {
            ev = self.eventloop.poll() => return Some(ev),
            () = self.acks.recv(&mut tokens), if cuttable && connected => {}
            () = shutdown.cancelled(), if cuttable && forwarding => {}
            () = drained.cancelled(), if cuttable && !forwarding => {}
        }
        if !self.eventloop.state.write.is_empty() {
            tracing::warn!(
                "MQTT write interrupted; dropping the broker connection (the broker redelivers)."
            );
            self.drop_connection();
        }
        self.acks.write(&mut self.eventloop, tokens);
        None
    }

    /// Drops the network connection and every PUBACK not yet written for it; the next poll
    /// reconnects.
    fn drop_connection(&mut self) {
        self.connected.store(false, Ordering::Relaxed);
        self.metrics.mqtt_connected.set(0);
        self.acks.invalidate(&mut self.eventloop);
    }

    /// Runs `wait` while writing the committer's acks as they come, so the committer never
    /// waits on this task for long (what is written goes out with the next poll).
    async fn taking_acks<T>(&mut self, wait: impl std::future::Future<Output = T>) -> T {
        tokio::pin!(wait);
        let mut tokens = Vec::new();
        loop {
            tokio::select! {
                out = &mut wait => return out,
                () = self.acks.recv(&mut tokens) => {
                    self.acks.write(&mut self.eventloop, std::mem::take(&mut tokens));
                }
            }
        }
    }

    /// Room in the queue to the batcher: at once when there is some; otherwise waits, up to one
    /// keep-alive.
    async fn reserve<'a>(
        &mut self,
        sender: &'a mpsc::Sender<Inbound>,
        shutdown: &CancellationToken,
    ) -> Room<'a> {
        match sender.try_reserve() {
            Ok(p) => return Room::Permit(p),
            Err(mpsc::error::TrySendError::Closed(())) => return Room::Closed,
            Err(mpsc::error::TrySendError::Full(())) => {}
        }
        self.metrics
            .ingest_queue_full
            .with_label_values(&["mqtt"])
            .inc();
        let keep_alive = Duration::from_secs(self.cfg.keep_alive_secs);
        let wait = async {
            tokio::select! {
                p = sender.reserve() => match p {
                    Ok(p) => Room::Permit(p),
                    Err(_) => Room::Closed,
                },
                () = tokio::time::sleep(keep_alive) => Room::Stalled,
                // Shutting down: the message is not acked, and the broker keeps it.
                () = shutdown.cancelled() => Room::Closed,
            }
        };
        self.taking_acks(wait).await
    }

    /// The queue stayed full for a keep-alive (no PINGREQ went out): drop the connection and its
    /// unwritten acks, wait for room, then let the next poll reconnect.
    async fn stall_reconnect(
        &mut self,
        sender: &mpsc::Sender<Inbound>,
        shutdown: &CancellationToken,
    ) {
        tracing::warn!(
            keep_alive_secs = self.cfg.keep_alive_secs,
            "Ingest queue full for a keep-alive; dropping the broker connection until there is room (the broker redelivers)."
        );
        self.drop_connection();
        self.metrics.mqtt_queue_stalls.inc();
        let wait = async {
            tokio::select! {
                // Only waits for room; the permit is given back at once.
                _ = sender.reserve() => {}
                () = shutdown.cancelled() => {}
            }
        };
        self.taking_acks(wait).await;
    }

    fn subscribe(&self) {
        for filter in subscriptions(&self.cfg.topic_prefix) {
            let filter = self.cfg.subscription(&filter);
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

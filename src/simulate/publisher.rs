//! The simulator's MQTT side: a QoS 1 publisher whose eventloop runs in its own task, counting
//! every PUBACK, so the simulator can wait until the broker has acknowledged all it sent.
//!
//! Input: client options and topics with payloads. Output: published and acknowledged counts.
//! The eventloop task only polls and counts; it reconnects with capped backoff (rumqttc replays
//! unacknowledged publishes after a reconnect) and gives up only when the broker refuses the
//! first connection, e.g. for bad credentials.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rumqttc::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Publishes with QoS 1 and tracks acknowledgements.
pub(crate) struct Publisher {
    client: AsyncClient,
    published: Arc<AtomicU64>,
    acked: watch::Receiver<u64>,
    /// The eventloop task; taken once it has been awaited to completion (a `JoinHandle` must
    /// not be polled again after that).
    driver: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Counts to report progress from another task.
#[derive(Clone)]
pub(crate) struct Progress {
    published: Arc<AtomicU64>,
    acked: watch::Receiver<u64>,
}

impl Progress {
    /// Messages handed to the client, and PUBACKs received.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (self.published.load(Ordering::Relaxed), *self.acked.borrow())
    }
}

impl Publisher {
    /// Creates the client and spawns its eventloop task. `channel_capacity` bounds the requests
    /// queued in front of the eventloop; `publish` waits when it is full.
    pub(crate) fn start(
        opts: MqttOptions,
        channel_capacity: usize,
        backoff_initial: Duration,
        backoff_max: Duration,
    ) -> Self {
        let (client, eventloop) = AsyncClient::new(opts, channel_capacity);
        let (acked_tx, acked) = watch::channel(0u64);
        let driver = tokio::spawn(drive(eventloop, acked_tx, backoff_initial, backoff_max));
        Self {
            client,
            published: Arc::new(AtomicU64::new(0)),
            acked,
            driver: Some(driver),
        }
    }

    /// A handle for progress logging.
    pub(crate) fn progress(&self) -> Progress {
        Progress {
            published: self.published.clone(),
            acked: self.acked.clone(),
        }
    }

    /// Messages handed to the client so far.
    pub(crate) fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// PUBACKs received so far.
    pub(crate) fn acked(&self) -> u64 {
        *self.acked.borrow()
    }

    /// Queues one QoS 1 publish; waits while the request channel is full.
    ///
    /// # Errors
    /// When the eventloop has stopped; the error says why (e.g. the broker refused us).
    pub(crate) async fn publish(&mut self, topic: String, payload: Vec<u8>) -> anyhow::Result<()> {
        if self
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .is_err()
        {
            return Err(self.failure().await);
        }
        self.published.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Waits until every published message is acknowledged, at most `timeout`. Returns how many
    /// are still unacknowledged (0 on success).
    ///
    /// # Errors
    /// When the eventloop stops while waiting.
    pub(crate) async fn drain(&mut self, timeout: Duration) -> anyhow::Result<u64> {
        let target = self.published();
        let wait = self.acked.wait_for(|&a| a >= target);
        // Drop the `Ref` at once: holding it would block the eventloop's next ack.
        let waited = tokio::time::timeout(timeout, wait)
            .await
            .map(|r| r.map(|_| ()));
        match waited {
            Ok(Ok(_)) | Err(_) => Ok(target.saturating_sub(self.acked())),
            Ok(Err(_)) => Err(self.failure().await),
        }
    }

    /// Sends DISCONNECT and waits (briefly) for the eventloop to finish. When messages are still
    /// unacknowledged (the broker is likely unreachable) or the request channel is full, the
    /// eventloop is simply stopped instead.
    pub(crate) async fn close(mut self) {
        let queued = self.acked() >= self.published() && self.client.try_disconnect().is_ok();
        if let Some(mut driver) = self.driver.take() {
            if !queued {
                driver.abort();
                return;
            }
            match tokio::time::timeout(Duration::from_secs(2), &mut driver).await {
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "MQTT eventloop ended with an error."),
                Ok(_) => {}
                Err(_) => driver.abort(),
            }
        }
    }

    /// Why the eventloop stopped (it only stops on a fatal error or a disconnect).
    async fn failure(&mut self) -> anyhow::Error {
        let Some(mut driver) = self.driver.take() else {
            return anyhow::anyhow!("the MQTT connection was closed");
        };
        match tokio::time::timeout(Duration::from_secs(5), &mut driver).await {
            Ok(Ok(Err(e))) => e,
            Ok(Ok(Ok(()))) => anyhow::anyhow!("the MQTT connection was closed"),
            Ok(Err(join)) => anyhow::anyhow!("the MQTT eventloop task failed: {join}"),
            Err(_) => {
                self.driver = Some(driver);
                anyhow::anyhow!("the MQTT client stopped accepting messages")
            }
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // The eventloop holds a sender of its own request channel, so it would poll (and
        // reconnect) forever after an error return; stop it with the publisher.
        if let Some(driver) = &self.driver {
            driver.abort();
        }
    }
}

/// Polls the eventloop until DISCONNECT is sent or the first connection is refused.
async fn drive(
    mut eventloop: EventLoop,
    acked: watch::Sender<u64>,
    backoff_initial: Duration,
    backoff_max: Duration,
) -> anyhow::Result<()> {
    let mut connected_once = false;
    let mut delay = backoff_initial;
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => acked.send_modify(|a| *a += 1),
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                tracing::info!(
                    session_present = ack.session_present,
                    "Connected to the MQTT broker."
                );
                connected_once = true;
                delay = backoff_initial;
            }
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return Ok(()),
            Ok(_) => {}
            Err(ConnectionError::ConnectionRefused(code)) if !connected_once => {
                return Err(anyhow::anyhow!(
                    "the MQTT broker refused the connection: {code:?}"
                ))
                .context("connecting to the MQTT broker");
            }
            Err(ConnectionError::RequestsDone) => return Ok(()),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "MQTT connection failed; retrying."
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(backoff_max);
            }
        }
    }
}

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
//! [`requester::Requester`] asks connected loggers for the hours they failed to deliver (and
//! sets their clocks): its requests go out on the logger's connection, and the logger's replies
//! reach it through the committer, after the data uploaded before them are stored.
//!
//! The history import ([`import`]) feeds files through the same decode and the same batch
//! writer, without a source or acknowledgements.
//!
//! Every queue between these tasks has a hard cap (docs/operations.md, "Queues and limits"):
//! - each source's queue to the batcher holds `ingest.queue` messages; a source that finds it
//!   full waits (backpressure), so the queue never grows. For MQTT the broker's in-flight window
//!   bounds it first (greenmon acknowledges only after commit, and the broker sends no more than
//!   its window of unacknowledged messages), so with `ingest.queue` at least that window the
//!   MQTT task practically never waits (except while Mosquitto drains a backlog past its window);
//! - batches to the committer: `ingest.parallel_commits`;
//! - acks of committed MQTT messages to the MQTT task: `ingest.ack_queue` ([`ack`]);
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
pub mod requester;
pub mod split;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

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
    /// The connection, as the requester reaches it.
    pub conn: Arc<LoggerConn>,
    /// The frame is the logger's reply to one of greenmon's requests: passed on to the
    /// requester once committed, so the data it uploaded before the reply are stored by then.
    pub reply: Option<hj212::LoggerReply>,
    /// When the frame was read off the connection.
    pub received: std::time::Instant,
}

/// One logger connection as the requester ([`requester`]) knows it.
#[derive(Debug)]
pub struct LoggerConn {
    /// Unique per process.
    pub id: u64,
    /// The connection's writer: requests go out through it, beside the answers. Weak, so that
    /// the requester holding it does not keep the writer open after the connection ended.
    pub tx: mpsc::WeakSender<Vec<u8>>,
    pub close: CloseHandle,
    /// To the requester; `None` when it does not run.
    pub events: Option<mpsc::Sender<LoggerEvent>>,
    /// The MN last announced to the requester.
    announced: std::sync::Mutex<Option<String>>,
    /// The last clock drift seen in the DataTime of real-time data (ms, the logger's clock
    /// minus greenmon's), and when (Unix ms; 0 = never).
    drift_ms: AtomicI64,
    drift_at_ms: AtomicI64,
}

impl LoggerConn {
    pub fn new(
        id: u64,
        tx: mpsc::WeakSender<Vec<u8>>,
        close: CloseHandle,
        events: Option<mpsc::Sender<LoggerEvent>>,
    ) -> Self {
        Self {
            id,
            tx,
            close,
            events,
            announced: std::sync::Mutex::new(None),
            drift_ms: AtomicI64::new(0),
            drift_at_ms: AtomicI64::new(0),
        }
    }

    /// After real-time data stamped `data_time` were stored at `now`: notes the logger's clock.
    pub fn observe_clock(&self, data_time: DateTime<Utc>, now: DateTime<Utc>) {
        self.drift_ms
            .store((data_time - now).num_milliseconds(), Ordering::Relaxed);
        self.drift_at_ms
            .store(now.timestamp_millis(), Ordering::Relaxed);
    }

    /// The last clock observation: (drift, when), if any.
    pub fn clock(&self) -> Option<(chrono::TimeDelta, DateTime<Utc>)> {
        let at = self.drift_at_ms.load(Ordering::Relaxed);
        let drift = self.drift_ms.load(Ordering::Relaxed);
        let at = DateTime::from_timestamp_millis(at).filter(|_| at > 0)?;
        Some((chrono::TimeDelta::milliseconds(drift), at))
    }

    /// After a packet of `mn` (with `password`) was stored from this connection: tells the
    /// requester the first time, and whenever the MN changes (a gateway for several loggers).
    pub fn stored(self: &Arc<Self>, mn: &str, password: Option<&str>, metrics: &Metrics) {
        {
            // A poisoned lock only means another thread panicked while holding it; the
            // announced MN is still a valid string.
            let mut last = self
                .announced
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if last.as_deref() == Some(mn) {
                return;
            }
            *last = Some(mn.to_string());
        }
        self.send(
            LoggerEvent::Connected {
                mn: mn.to_string(),
                password: password.map(str::to_string),
                conn: self.clone(),
            },
            metrics,
        );
    }

    /// Passes a committed reply on to the requester.
    pub fn replied(self: &Arc<Self>, reply: hj212::LoggerReply, metrics: &Metrics) {
        self.send(
            LoggerEvent::Reply {
                conn: self.id,
                reply,
            },
            metrics,
        );
    }

    /// Never waits: the committer calls it. A full queue drops the event (counted); the
    /// request it concerned times out and is retried.
    fn send(&self, event: LoggerEvent, metrics: &Metrics) {
        if let Some(events) = &self.events {
            if let Err(mpsc::error::TrySendError::Full(_)) = events.try_send(event) {
                metrics.hj212_requester_events_dropped.inc();
            }
        }
    }
}

/// What the committer tells the requester, after the commit.
#[derive(Debug)]
pub enum LoggerEvent {
    /// A logger's packet was stored from this connection: requests for `mn` go through it.
    Connected {
        mn: String,
        password: Option<String>,
        conn: Arc<LoggerConn>,
    },
    /// A logger answered a request on connection `conn`.
    Reply {
        conn: u64,
        reply: hj212::LoggerReply,
    },
    /// A packet of the logger `mn` was stored from MQTT (`{prefix}/parks/{park}/hj212`): requests
    /// for it go to its command topic.
    Bridged {
        mn: String,
        password: Option<String>,
    },
    /// The logger `mn`, bridged over MQTT, answered a request.
    BridgedReply {
        mn: String,
        reply: hj212::LoggerReply,
    },
}

impl TcpReply {
    /// Queues `answer` for the connection's writer without waiting: the committer must not be
    /// held up by a logger that does not read. When the writer is that far behind, the
    /// connection is closed (`answers_full`); the logger resends what it was not answered, and
    /// the primary key absorbs the repeat. Returns whether it was queued.
    pub fn answer(&self, answer: Vec<u8>, metrics: &Metrics) -> bool {
        match self.tx.try_send(answer) {
            Ok(()) => {
                metrics
                    .hj212_answer_seconds
                    .observe(self.received.elapsed().as_secs_f64());
                true
            }
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

//! The HJ 212 TCP listener: data loggers connect directly, as most Chinese online-monitoring
//! equipment does. One task per connection (bounded by `hj212.max_connections`: the next logger
//! is accepted only when a slot is free), an idle timeout on reads, frames found by length across
//! fragmented and concatenated reads, and answers written only after the data are committed (the
//! committer sends them back through the connection's writer). A logger that disconnects
//! mid-packet loses nothing that was answered: the partial frame was never forwarded, and the
//! logger resends what was not answered.
//!
//! A logger that stops reading its socket cannot hold a task or memory: each connection's answers
//! wait in a queue of `hj212.max_unanswered_per_connection`, each write has
//! `hj212.write_timeout_secs`, and when the queue is full or a write times out the connection is
//! closed (`greenmon_hj212_connections_closed_total{reason}`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hj212::{Deframer, LoggerReply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Ack, CloseHandle, Inbound, LoggerConn, LoggerEvent, TcpReply};
use crate::config::Hj212Config;
use crate::telemetry::Metrics;

/// Pending connections the kernel queues before greenmon accepts them.
const LISTEN_BACKLOG: u32 = 4096;

/// Accepts loggers until shutdown.
pub struct Hj212Listener {
    pub listener: TcpListener,
    pub cfg: Hj212Config,
    pub tx: mpsc::Sender<Inbound>,
    pub metrics: Metrics,
    /// The requester's queue, when it runs ([`Self::with_requester`]).
    pub events: Option<mpsc::Sender<LoggerEvent>>,
}

/// Connection ids, unique per process.
static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

impl Hj212Listener {
    /// Lets the requester reach this listener's loggers (`ingest::requester`).
    #[must_use]
    pub fn with_requester(mut self, events: mpsc::Sender<LoggerEvent>) -> Self {
        self.events = Some(events);
        self
    }

    /// Binds the configured address.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(
        cfg: Hj212Config,
        tx: mpsc::Sender<Inbound>,
        metrics: Metrics,
    ) -> std::io::Result<Self> {
        let addr: SocketAddr = cfg
            .listen
            .parse()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        // A fleet reconnecting after a restart arrives at once: tokio's default backlog of 128
        // made a thousand loggers wait for the kernel's one-second SYN retry.
        let listener = socket.listen(LISTEN_BACKLOG)?;
        Ok(Self {
            listener,
            cfg,
            tx,
            metrics,
            events: None,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts until `shutdown`, then waits for open connections to end (they stop reading at
    /// once and close when their answers are written).
    pub async fn run(self, shutdown: CancellationToken) {
        let limit = Arc::new(Semaphore::new(self.cfg.max_connections));
        let connections = TaskTracker::new();
        let mut backoff = Duration::from_millis(10);
        loop {
            // Wait for a free slot before accepting: excess loggers wait in the listen backlog.
            let permit = tokio::select! {
                p = limit.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
                () = shutdown.cancelled() => break,
            };
            let accepted = tokio::select! {
                a = self.listener.accept() => a,
                () = shutdown.cancelled() => break,
            };
            let (socket, peer) = match accepted {
                Ok(a) => {
                    backoff = Duration::from_millis(10);
                    a
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "Cannot accept an HJ 212 connection; backing off.");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let conn = Connection {
                peer,
                tx: self.tx.clone(),
                metrics: self.metrics.clone(),
                idle: Duration::from_secs(self.cfg.idle_timeout_secs),
                write_timeout: Duration::from_secs(self.cfg.write_timeout_secs),
                max_unanswered: self.cfg.max_unanswered_per_connection,
                max_frame: self.cfg.max_frame_bytes,
                unanswered: Arc::new(Semaphore::new(self.cfg.max_unanswered_per_connection)),
                events: self.events.clone(),
            };
            let shutdown = shutdown.clone();
            connections.spawn(async move {
                conn.run(socket, shutdown).await;
                drop(permit);
            });
        }
        connections.close();
        connections.wait().await;
    }
}

struct Connection {
    peer: SocketAddr,
    tx: mpsc::Sender<Inbound>,
    metrics: Metrics,
    idle: Duration,
    write_timeout: Duration,
    max_unanswered: usize,
    max_frame: usize,
    unanswered: Arc<Semaphore>,
    events: Option<mpsc::Sender<LoggerEvent>>,
}

impl Connection {
    async fn run(self, socket: TcpStream, shutdown: CancellationToken) {
        self.metrics.hj212_connections.inc();
        let (mut reader, writer) = socket.into_split();
        // One answer per frame at most, and at most `max_unanswered` frames are unanswered, so
        // a writer that keeps up never lets this fill; the committer closes the connection when
        // it does (TcpReply::answer).
        let (answers_tx, answers_rx) = mpsc::channel::<Vec<u8>>(self.max_unanswered);
        let close = CloseHandle::default();
        let conn = Arc::new(LoggerConn::new(
            NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed),
            answers_tx.downgrade(),
            close.clone(),
            self.events.clone(),
        ));
        let write = tokio::spawn(write_answers(
            writer,
            answers_rx,
            self.write_timeout,
            close.clone(),
            self.metrics.clone(),
        ));
        let topic = format!("tcp://{}", self.peer);
        let mut deframer = Deframer::new(self.max_frame);
        let mut buf = vec![0u8; 8192];
        'read: loop {
            let read = tokio::select! {
                r = tokio::time::timeout(self.idle, reader.read(&mut buf)) => r,
                () = shutdown.cancelled() => break,
                () = close.closed() => break,
            };
            let n = match read {
                Ok(Ok(0)) | Ok(Err(_)) => break, // closed or reset
                Ok(Ok(n)) => n,
                Err(_) => {
                    tracing::debug!(peer = %self.peer, "HJ 212 connection idle; closing.");
                    close.close("idle", &self.metrics);
                    break;
                }
            };
            deframer.push(&buf[..n]);
            while let Some(frame) = deframer.next_frame() {
                let (raw, reply) = match frame {
                    Ok(f) => {
                        // Only 9011, 9012 and 1011 frames are parsed here, the others only
                        // peeked at.
                        let reply = LoggerReply::of_frame(f.as_frame_ref()).map(|(_, r)| r);
                        (f.raw, reply)
                    }
                    Err(e) => (e.raw().to_vec(), None),
                };
                // At most this many frames wait for their answers; then stop reading.
                let permit = tokio::select! {
                    p = self.unanswered.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break 'read,
                    },
                    () = shutdown.cancelled() => break 'read,
                    () = close.closed() => break 'read,
                };
                let inbound = Inbound {
                    topic: topic.clone(),
                    payload: Bytes::from(raw),
                    ack: Ack::Tcp(TcpReply {
                        tx: answers_tx.clone(),
                        close: close.clone(),
                        _permit: permit,
                        conn: conn.clone(),
                        reply,
                    }),
                };
                // The queue to the batcher is bounded: when it is full this connection waits,
                // and so, through TCP flow control, does its logger.
                let permit = match self.tx.try_reserve() {
                    Ok(p) => p,
                    Err(mpsc::error::TrySendError::Full(())) => {
                        self.metrics
                            .ingest_queue_full
                            .with_label_values(&["tcp"])
                            .inc();
                        tokio::select! {
                            p = self.tx.reserve() => match p {
                                Ok(p) => p,
                                Err(_) => break 'read, // ingest is shutting down
                            },
                            () = shutdown.cancelled() => break 'read,
                            () = close.closed() => break 'read,
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(())) => break 'read,
                };
                permit.send(inbound);
            }
        }
        // Bytes of an incomplete frame are dropped: they were never answered, so the logger
        // sends them again.
        drop(answers_tx);
        let _ = write.await;
        self.metrics.hj212_connections.dec();
    }
}

/// Writes a connection's answers until every sender is gone (after the last answer of the
/// connection) or the connection is closed. A write that does not finish within
/// `write_timeout` (the logger stopped reading and the socket buffers are full) closes it.
async fn write_answers(
    mut writer: OwnedWriteHalf,
    mut answers: mpsc::Receiver<Vec<u8>>,
    write_timeout: Duration,
    close: CloseHandle,
    metrics: Metrics,
) {
    loop {
        let bytes = tokio::select! {
            b = answers.recv() => match b {
                Some(b) => b,
                None => break,
            },
            () = close.closed() => return,
        };
        let written = tokio::select! {
            w = tokio::time::timeout(write_timeout, writer.write_all(&bytes)) => w,
            () = close.closed() => return,
        };
        match written {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                close.hang_up();
                return;
            }
            Err(_) => {
                if close.close("write_timeout", &metrics) {
                    tracing::warn!(
                        timeout_secs = write_timeout.as_secs(),
                        "HJ 212 logger not reading its answers; closing its connection."
                    );
                }
                return;
            }
        }
    }
    // Bounded too: a logger that stops reading cannot hold the close either.
    let _ = tokio::time::timeout(write_timeout, writer.shutdown()).await;
}

//! The HJ 212 TCP listener: data loggers connect directly, as most Chinese online-monitoring
//! equipment does. One task per connection, at most `hj212.max_connections` of them (one more is
//! accepted and closed at once, counted and logged, so that it can retry or go to another
//! instance behind a balancer; the default cap follows the open-file limit, which greenmon raises
//! to its hard limit at start), an idle timeout on reads, frames found by length across
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
    /// once and close when their answers are written). `open_files` is the process's soft
    /// open-file limit, which sets the cap when `hj212.max_connections` is unset.
    pub async fn run(self, open_files: u64, shutdown: CancellationToken) {
        let cap = self.cfg.connection_cap(open_files);
        self.metrics
            .hj212_connection_cap
            .set(i64::try_from(cap).unwrap_or(i64::MAX));
        tracing::info!(
            max_connections = cap,
            open_files,
            "HJ 212 listener holds at most this many loggers."
        );
        let limit = Arc::new(Semaphore::new(cap));
        let connections = TaskTracker::new();
        let mut refusals = RefusalLog::default();
        let mut backoff = Duration::from_millis(10);
        loop {
            // Accept whatever waits, even at the cap: a logger left in the kernel's backlog
            // would connect and get no answer; one closed at once retries or goes elsewhere.
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
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                // Closed at once: the logger sees its connection end, not a silent platform.
                drop(socket);
                self.metrics.hj212_connections_refused.inc();
                refusals.refused(peer, cap);
                continue;
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

/// At most one WARN per [`REFUSAL_LOG_EVERY`] about loggers refused at the cap, with how many
/// since the last one: a fleet over the cap reconnects in a loop, and a line per refusal would
/// flood the log.
#[derive(Default)]
struct RefusalLog {
    last: Option<std::time::Instant>,
    unlogged: u64,
}

/// Least time between two refusal warnings.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(10);

impl RefusalLog {
    fn refused(&mut self, peer: SocketAddr, cap: usize) {
        self.unlogged += 1;
        let due = self.last.is_none_or(|t| t.elapsed() >= REFUSAL_LOG_EVERY);
        if due {
            tracing::warn!(
                %peer,
                refused = self.unlogged,
                max_connections = cap,
                "HJ 212 loggers refused: the connection cap is reached (hj212.max_connections); \
                 each was accepted and closed at once."
            );
            self.last = Some(std::time::Instant::now());
            self.unlogged = 0;
        }
    }
}

/// Raises the soft open-file limit (RLIMIT_NOFILE) to the hard limit, as servers do, and returns
/// the soft limit in force: each logger holds a file descriptor, and distributions start
/// processes with a soft limit of 1024 under a far higher hard one.
pub fn raise_open_file_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    let Some(soft) = limit.current else {
        return u64::MAX; // unlimited
    };
    if limit.current == limit.maximum {
        return soft;
    }
    let raised = rustix::process::Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    match setrlimit(Resource::Nofile, raised) {
        Ok(()) => {
            let now = limit.maximum.unwrap_or(u64::MAX);
            tracing::info!(
                from = soft,
                to = now,
                "Raised the open-file limit to the hard limit."
            );
            now
        }
        Err(e) => {
            tracing::warn!(error = %e, soft, "Cannot raise the open-file limit; keeping it.");
            soft
        }
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
            let received = std::time::Instant::now();
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
                        received,
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

//! The HJ 212 TCP listener: data loggers connect directly, as most Chinese online-monitoring
//! equipment does. One task per connection (bounded by `hj212.max_connections`), an idle
//! timeout, frames found by length across fragmented and concatenated reads, and answers written
//! only after the data are committed (the committer sends them back through the connection's
//! writer). A logger that disconnects mid-packet loses nothing that was answered: the partial
//! frame was never forwarded, and the logger resends what was not answered.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hj212::Deframer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Ack, Inbound, TcpReply};
use crate::config::Hj212Config;
use crate::telemetry::Metrics;

/// Pending connections the kernel queues before greenmon accepts them.
const LISTEN_BACKLOG: u32 = 4096;

/// Accepts loggers until shutdown.
pub struct Hj212Listener {
    pub listener: TcpListener,
    pub cfg: Hj212Config,
    pub tx: mpsc::UnboundedSender<Inbound>,
    pub metrics: Metrics,
}

impl Hj212Listener {
    /// Binds the configured address.
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn bind(
        cfg: Hj212Config,
        tx: mpsc::UnboundedSender<Inbound>,
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
                max_frame: self.cfg.max_frame_bytes,
                unanswered: Arc::new(Semaphore::new(self.cfg.max_unanswered_per_connection)),
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
    tx: mpsc::UnboundedSender<Inbound>,
    metrics: Metrics,
    idle: Duration,
    max_frame: usize,
    unanswered: Arc<Semaphore>,
}

impl Connection {
    async fn run(self, socket: TcpStream, shutdown: CancellationToken) {
        self.metrics.hj212_connections.inc();
        let (mut reader, mut writer) = socket.into_split();
        let (answers_tx, mut answers_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        // The writer ends when every sender (this task's and those in pending replies) is gone:
        // after the last answer of this connection has been written.
        let write = tokio::spawn(async move {
            while let Some(bytes) = answers_rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            let _ = writer.shutdown().await;
        });
        let topic = format!("tcp://{}", self.peer);
        let mut deframer = Deframer::new(self.max_frame);
        let mut buf = vec![0u8; 8192];
        'read: loop {
            let read = tokio::select! {
                r = tokio::time::timeout(self.idle, reader.read(&mut buf)) => r,
                () = shutdown.cancelled() => break,
            };
            let n = match read {
                Ok(Ok(0)) | Ok(Err(_)) => break, // closed or reset
                Ok(Ok(n)) => n,
                Err(_) => {
                    tracing::debug!(peer = %self.peer, "HJ 212 connection idle; closing.");
                    break;
                }
            };
            deframer.push(&buf[..n]);
            while let Some(frame) = deframer.next_frame() {
                let raw = match frame {
                    Ok(f) => f.raw,
                    Err(e) => e.raw().to_vec(),
                };
                // At most this many frames wait for their answers; then stop reading.
                let permit = tokio::select! {
                    p = self.unanswered.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break 'read,
                    },
                    () = shutdown.cancelled() => break 'read,
                };
                let inbound = Inbound {
                    topic: topic.clone(),
                    payload: Bytes::from(raw),
                    ack: Ack::Tcp(TcpReply {
                        tx: answers_tx.clone(),
                        _permit: permit,
                    }),
                };
                if self.tx.send(inbound).is_err() {
                    break 'read; // ingest is shutting down
                }
            }
        }
        // Bytes of an incomplete frame are dropped: they were never answered, so the logger
        // sends them again.
        drop(answers_tx);
        let _ = write.await;
        self.metrics.hj212_connections.dec();
    }
}

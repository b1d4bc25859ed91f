//! `greenmon simulate --hj212-tcp HOST:PORT`: data loggers connected over TCP, as the real ones
//! are. Each logger keeps one connection and sends real-time data (CN 2011, asking for an answer)
//! every `--every` seconds. A packet not answered within `--over-time` is sent again, up to
//! `--re-count` times (the standard's OverTime and ReCount); then the logger drops the connection
//! and reconnects with jittered backoff, and sends the packet again on the new connection, so a
//! packet is never given up: it is stored at least once, and the platform's primary key makes the
//! repeats harmless. A logger whose connection fails or is closed reconnects the same way.
//!
//! Loggers answer the platform's requests as real ones do: a history request (CN 2051/2061/2031)
//! with 9011 `QnRtn=1`, the hourly data of its history buffer in the range, and 9012 `ExeRtn=1`
//! (`ExeRtn=100` when the buffer has none); a clock request (CN 1011) with the logger's clock; a
//! clock setting (CN 1012) by setting it. `--fail` makes them fail as real ones do: no data,
//! rejection (`QnRtn=2`), slow answers, a wrong CRC on the uploads, or the connection dropped in
//! the middle of an upload. `--clock-offset` makes their clocks wrong; `offline` and `online` on
//! standard input take every logger off the line and back (their history buffers keep the hours
//! meanwhile).
//!
//! Input: the loggers (registry points with an MN), the address and the timing flags. Output:
//! the fleet's counts and answer latencies ([`FleetStats`]), and the summary line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hj212::{answer_9011, answer_9012, Deframer, Packet, QnRtn, Request};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::logger::{incoming, Incoming, LoggerIdentity};
use super::pacing::next_unique_ts;
use crate::backoff::Backoff;

/// Largest frame a simulated logger accepts from the platform.
const MAX_FRAME: usize = 4096;
/// Bytes read at a time: answers are short, and 20,000 loggers each hold one buffer.
const READ_BUFFER: usize = 1024;
/// First and largest reconnect delay.
const RECONNECT_INITIAL: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// How the loggers behave.
#[derive(Debug, Clone)]
pub(crate) struct FleetConfig {
    /// `HOST:PORT` of the platform.
    pub(crate) addr: String,
    /// Between two uploads of one logger.
    pub(crate) every: Duration,
    /// Wait for an answer before sending again (OverTime).
    pub(crate) over_time: Duration,
    /// Sends again per connection after the first (ReCount).
    pub(crate) re_count: u32,
    /// Stop once this many uploads were answered (over all loggers).
    pub(crate) count: Option<u64>,
    pub(crate) seed: u64,
    /// Hours of hourly data each logger's history buffer holds.
    pub(crate) history_hours: u32,
    /// How the loggers fail the platform's history requests.
    pub(crate) fail: Failure,
    /// How wrong the loggers' clocks are at the start.
    pub(crate) clock_offset: TimeDelta,
    /// `true`: every logger off the line.
    pub(crate) offline: watch::Receiver<bool>,
}

/// How a logger answers a history request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Failure {
    /// As a healthy logger: the data it holds, then `ExeRtn=1` (`100` when it holds none).
    None,
    /// `QnRtn=1`, then `ExeRtn=100` whatever it holds.
    NoData,
    /// `QnRtn=2`: refused.
    Reject,
    /// Each uploaded packet after a pause (`--slow-secs`).
    Slow,
    /// The uploaded packets carry a wrong CRC.
    BadCrc,
    /// The connection dropped in the middle of the upload (half of the middle packet sent).
    Drop,
}

/// Answer latencies in buckets: 1 ms wide below 1 s, 10 ms below 10 s, 100 ms above (the last
/// bucket takes everything from 99.9 s on). Fixed memory however long the run.
#[derive(Debug)]
pub(crate) struct Latency {
    buckets: Vec<AtomicU64>,
}

const LATENCY_BUCKETS: usize = 1000 + 900 + 1000;

impl Default for Latency {
    fn default() -> Self {
        Self {
            buckets: (0..LATENCY_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Latency {
    fn bucket(ms: u64) -> usize {
        let i = match ms {
            0..1000 => ms,
            1000..10_000 => 1000 + (ms - 1000) / 10,
            _ => 1900 + (ms - 10_000) / 100,
        };
        usize::try_from(i).map_or(LATENCY_BUCKETS - 1, |i| i.min(LATENCY_BUCKETS - 1))
    }

    /// The upper bound of a bucket, in ms.
    fn upper_ms(i: usize) -> u64 {
        let i = i as u64;
        match i {
            0..1000 => i + 1,
            1000..1900 => 1000 + (i - 1000 + 1) * 10,
            _ => 10_000 + (i - 1900 + 1) * 100,
        }
    }

    pub(crate) fn record(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.buckets[Self::bucket(ms)].fetch_add(1, Ordering::Relaxed);
    }

    /// Answers recorded.
    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The latency below which a fraction `q` of answers came, in ms (bucket upper bound);
    /// `None` before any answer.
    pub(crate) fn quantile_ms(&self, q: f64) -> Option<u64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Self::upper_ms(i));
            }
        }
        Some(Self::upper_ms(LATENCY_BUCKETS - 1))
    }
}

/// What the fleet did.
#[derive(Debug, Default)]
pub(crate) struct FleetStats {
    /// Uploads sent for the first time.
    pub(crate) sent: AtomicU64,
    /// Uploads sent again (no answer within OverTime, or after a reconnect).
    pub(crate) resent: AtomicU64,
    /// Uploads answered with 9014.
    pub(crate) stored: AtomicU64,
    /// Uploads answered with 9011 (refused: wrong password, unknown MN, bad CRC…).
    pub(crate) refused: AtomicU64,
    /// Connections opened after the first one (the platform closed one, or it went silent).
    pub(crate) reconnects: AtomicU64,
    /// Connection attempts that failed.
    pub(crate) connect_failures: AtomicU64,
    /// Loggers in the fleet, and how many of them have connected at least once.
    pub(crate) loggers: AtomicU64,
    pub(crate) connected: AtomicU64,
    pub(crate) latency: Latency,
    /// The latencies of uploads first sent once every logger had connected: the fleet's steady
    /// state, without the ramp, when the platform accepts thousands of connections at once.
    pub(crate) steady: Latency,
}

impl FleetStats {
    fn answered(&self) -> u64 {
        self.stored.load(Ordering::Relaxed) + self.refused.load(Ordering::Relaxed)
    }

    /// Whether every logger has connected at least once.
    fn all_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed) >= self.loggers.load(Ordering::Relaxed)
    }

    /// One line for the end of a run.
    pub(crate) fn summary(&self, loggers: usize, elapsed: Duration) -> String {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let ms = |latency: &Latency, q| {
            latency
                .quantile_ms(q)
                .map_or_else(|| "-".to_string(), |v| format!("{v} ms"))
        };
        format!(
            "{loggers} HJ 212 loggers sent {} uploads ({} re-sent) in {:.2} s: {} stored, {} refused; {} reconnects, {} failed connects; answer latency p50 {}, p99 {}; once all were connected ({} answers): p50 {}, p99 {}",
            n(&self.sent),
            n(&self.resent),
            elapsed.as_secs_f64(),
            n(&self.stored),
            n(&self.refused),
            n(&self.reconnects),
            n(&self.connect_failures),
            ms(&self.latency, 0.5),
            ms(&self.latency, 0.99),
            self.steady.count(),
            ms(&self.steady, 0.5),
            ms(&self.steady, 0.99),
        )
    }
}

/// Runs `loggers` until `stop` is cancelled (or `--count` uploads are answered, which cancels
/// it). Their first uploads are spread evenly over the first `every`.
pub(crate) async fn run_fleet(
    loggers: Vec<LoggerIdentity>,
    cfg: FleetConfig,
    stats: Arc<FleetStats>,
    stop: CancellationToken,
) {
    let tracker = TaskTracker::new();
    stats.loggers.store(loggers.len() as u64, Ordering::Relaxed);
    let n = loggers.len().max(1) as u32;
    for (i, id) in loggers.into_iter().enumerate() {
        let i = i as u32;
        let logger = TcpLogger {
            id,
            cfg: cfg.clone(),
            stats: stats.clone(),
            stop: stop.clone(),
            rng: StdRng::seed_from_u64(cfg.seed.wrapping_add(u64::from(i))),
            first_upload: cfg.every * i / n,
            clock_offset: cfg.clock_offset,
        };
        tracker.spawn(logger.run());
    }
    tracker.close();
    tracker.wait().await;
}

/// An upload waiting for its answer.
struct Pending {
    qn: String,
    bytes: Vec<u8>,
    first_sent: Instant,
    /// First sent once every logger had connected.
    steady: bool,
}

/// Why a connection ended.
enum Ended {
    Stop,
    Reconnect,
    Offline,
}

/// The pause of `--fail slow` before each uploaded packet.
pub(crate) const SLOW_UPLOAD: Duration = Duration::from_secs(2);

struct TcpLogger {
    id: LoggerIdentity,
    cfg: FleetConfig,
    stats: Arc<FleetStats>,
    stop: CancellationToken,
    rng: StdRng,
    first_upload: Duration,
    /// How far the logger's clock is ahead of the true time (set by CN 1012).
    clock_offset: TimeDelta,
}

impl TcpLogger {
    async fn run(mut self) {
        let mut backoff = Backoff::new(RECONNECT_INITIAL, RECONNECT_MAX);
        let mut pending: Option<Pending> = None;
        let mut next_due = Instant::now() + self.first_upload;
        let mut prev_ts: Option<DateTime<Utc>> = None;
        let mut first = true;
        let mut offline = self.cfg.offline.clone();
        loop {
            let is_offline = *offline.borrow_and_update();
            if is_offline {
                tokio::select! {
                    back = async { offline.wait_for(|o| !*o).await.is_ok() } => if !back { return },
                    () = self.stop.cancelled() => return,
                }
            }
            let connected = tokio::select! {
                c = TcpStream::connect(&self.cfg.addr) => c,
                () = self.stop.cancelled() => return,
            };
            let ended = match connected {
                Ok(stream) => {
                    if first {
                        self.stats.connected.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    first = false;
                    let ended = self
                        .connection(stream, &mut pending, &mut next_due, &mut prev_ts)
                        .await;
                    match ended {
                        Ended::Stop => return,
                        // Straight back to waiting for `online`.
                        Ended::Offline => continue,
                        Ended::Reconnect => ended,
                    }
                }
                Err(e) => {
                    tracing::debug!(mn = %self.id.mn, error = %e, "Simulated logger cannot connect.");
                    self.stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                    Ended::Reconnect
                }
            };
            debug_assert!(matches!(ended, Ended::Reconnect));
            tokio::select! {
                () = tokio::time::sleep(backoff.next_delay()) => {}
                () = self.stop.cancelled() => return,
            }
            if pending.is_none() {
                backoff.reset();
            }
        }
    }

    /// One connection: uploads when due, sends unanswered ones again, reads answers.
    async fn connection(
        &mut self,
        mut stream: TcpStream,
        pending: &mut Option<Pending>,
        next_due: &mut Instant,
        prev_ts: &mut Option<DateTime<Utc>>,
    ) -> Ended {
        let mut offline = self.cfg.offline.clone();
        let mut commands = true;
        let mut deframer = Deframer::new(MAX_FRAME);
        let mut buf = [0u8; READ_BUFFER];
        // Sends of the pending upload on this connection, and when its answer is due.
        let mut sends = 0u32;
        let mut answer_due = Instant::now();
        if let Some(p) = pending.as_ref() {
            // Unanswered on the last connection: send it again at once.
            if !self.write(&mut stream, &p.bytes).await {
                return Ended::Reconnect;
            }
            self.stats.resent.fetch_add(1, Ordering::Relaxed);
            sends = 1;
            answer_due = Instant::now() + self.cfg.over_time;
        }
        loop {
            let wake = if pending.is_some() {
                answer_due
            } else {
                *next_due
            };
            tokio::select! {
                () = self.stop.cancelled() => return Ended::Stop,
                went = async { offline.wait_for(|o| *o).await.is_ok() }, if commands => {
                    if went {
                        return Ended::Offline;
                    }
                    // No more commands can come: stay online.
                    commands = false;
                }
                read = stream.read(&mut buf) => {
                    let n = match read {
                        Ok(0) | Err(_) => return Ended::Reconnect,
                        Ok(n) => n,
                    };
                    deframer.push(&buf[..n]);
                    while let Some(frame) = deframer.next_frame() {
                        let Ok(frame) = frame else { continue };
                        match incoming(&frame) {
                            Incoming::Request(request, packet) => {
                                if !self.serve(&mut stream, request, &packet, prev_ts).await {
                                    return Ended::Reconnect;
                                }
                            }
                            other => self.answer(other, pending),
                        }
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    if let Some(p) = pending.as_ref() {
                        if sends > self.cfg.re_count {
                            tracing::debug!(mn = %self.id.mn, qn = %p.qn, "Simulated logger got no answer; reconnecting.");
                            return Ended::Reconnect;
                        }
                        if !self.write(&mut stream, &p.bytes).await {
                            return Ended::Reconnect;
                        }
                        self.stats.resent.fetch_add(1, Ordering::Relaxed);
                    } else {
                        let ts = next_unique_ts(*prev_ts, Utc::now() + self.clock_offset);
                        *prev_ts = Some(ts);
                        let (qn, bytes) = self.id.realtime(ts, &mut self.rng);
                        let now = Instant::now();
                        // A logger that fell behind (a long outage) does not catch up in a burst.
                        *next_due = (*next_due + self.cfg.every).max(now);
                        let p = pending.insert(Pending {
                            qn,
                            bytes,
                            first_sent: now,
                            steady: self.stats.all_connected(),
                        });
                        sends = 0;
                        self.stats.sent.fetch_add(1, Ordering::Relaxed);
                        if !self.write(&mut stream, &p.bytes).await {
                            return Ended::Reconnect;
                        }
                    }
                    sends += 1;
                    answer_due = Instant::now() + self.cfg.over_time;
                }
            }
            if self.cfg.count.is_some_and(|c| self.stats.answered() >= c) {
                self.stop.cancel();
            }
        }
    }

    /// Settles the pending upload if `msg` answers it.
    fn answer(&self, msg: Incoming, pending: &mut Option<Pending>) {
        let (qn, refused) = match &msg {
            Incoming::Stored { qn } => (qn, false),
            Incoming::Refused { qn, qn_rtn } => {
                tracing::debug!(mn = %self.id.mn, %qn, qn_rtn, "Simulated logger's upload refused.");
                (qn, true)
            }
            Incoming::Other | Incoming::Request(..) => return,
        };
        let Some(p) = pending.take_if(|p| &p.qn == qn) else {
            return;
        };
        let latency = p.first_sent.elapsed();
        self.stats.latency.record(latency);
        if p.steady {
            self.stats.steady.record(latency);
        }
        let counter = if refused {
            &self.stats.refused
        } else {
            &self.stats.stored
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Answers a request of the platform's; false when the connection is gone (or dropped on
    /// purpose, `--fail drop`).
    async fn serve(
        &mut self,
        stream: &mut TcpStream,
        request: Request,
        packet: &Packet,
        prev_ts: &mut Option<DateTime<Utc>>,
    ) -> bool {
        let qn = packet.qn.clone().unwrap_or_default();
        let fail = self.cfg.fail;
        let refuse = fail == Failure::Reject && matches!(request, Request::History { .. });
        let qn_rtn = if refuse {
            QnRtn::Rejected
        } else {
            QnRtn::Ready
        };
        if !self.write(stream, &answer_9011(packet, qn_rtn)).await {
            return false;
        }
        if refuse {
            return true;
        }
        let exe_rtn = match request {
            Request::History { begin, end, .. } => {
                let now = Utc::now() + self.clock_offset;
                let hours = if fail == Failure::NoData {
                    Vec::new()
                } else {
                    self.id
                        .buffered_hours(&begin, &end, now, self.cfg.history_hours)
                };
                for (i, hour) in hours.iter().enumerate() {
                    let mut bytes = self.id.hourly(*hour, &qn);
                    match fail {
                        Failure::Slow => tokio::time::sleep(SLOW_UPLOAD).await,
                        Failure::BadCrc => corrupt_crc(&mut bytes),
                        Failure::Drop if i == hours.len() / 2 => {
                            let _ = stream.write_all(&bytes[..bytes.len() / 2]).await;
                            return false;
                        }
                        _ => {}
                    }
                    if !self.write(stream, &bytes).await {
                        return false;
                    }
                }
                if hours.is_empty() {
                    hj212::EXE_RTN_NO_DATA
                } else {
                    hj212::EXE_RTN_OK
                }
            }
            Request::GetTime => {
                let clock = Utc::now() + self.clock_offset;
                if !self.write(stream, &self.id.clock(clock, &qn)).await {
                    return false;
                }
                hj212::EXE_RTN_OK
            }
            Request::SetTime(t) => match self.id.instant(&t) {
                Some(set) => {
                    self.clock_offset = set - Utc::now();
                    // The data it sends from now on are on the new clock.
                    *prev_ts = None;
                    hj212::EXE_RTN_OK
                }
                None => 3,
            },
        };
        let exe_rtn = u8::try_from(exe_rtn).unwrap_or(2);
        self.write(stream, &answer_9012(packet, exe_rtn)).await
    }

    /// Writes within OverTime; false when the connection is gone or stuck.
    async fn write(&self, stream: &mut TcpStream, bytes: &[u8]) -> bool {
        matches!(
            tokio::time::timeout(self.cfg.over_time, stream.write_all(bytes)).await,
            Ok(Ok(()))
        )
    }
}

/// Makes a frame's CRC wrong (its first hex digit changed).
fn corrupt_crc(frame: &mut [u8]) {
    // ##, 4 digits of length, the data segment, 4 hex digits of CRC, CRLF.
    if let Some(i) = frame.len().checked_sub(6) {
        frame[i] = if frame[i] == b'0' { b'1' } else { b'0' };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_quantiles_are_bucket_upper_bounds() {
        let l = Latency::default();
        assert_eq!(l.quantile_ms(0.5), None);
        for ms in [0, 1, 2, 3, 4, 5, 6, 7, 8, 1234] {
            l.record(Duration::from_millis(ms));
        }
        assert_eq!(l.quantile_ms(0.5), Some(5));
        assert_eq!(l.quantile_ms(0.99), Some(1240));
        l.record(Duration::from_secs(3600));
        assert_eq!(
            l.quantile_ms(1.0),
            Some(Latency::upper_ms(LATENCY_BUCKETS - 1))
        );
        for ms in [0, 999, 1000, 9_999, 10_000, u64::MAX] {
            let b = Latency::bucket(ms);
            assert!(b < LATENCY_BUCKETS);
            assert!(Latency::upper_ms(b) > ms.min(109_900), "{ms}");
        }
    }
}

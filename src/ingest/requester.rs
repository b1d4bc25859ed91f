//! The requester: greenmon's half of the exchanges a platform starts (HJ 212-2017 §6.6.5). It
//! asks connected loggers for the hours their required points are missing (CN 2061 with
//! `BeginTime`/`EndTime`; by hand also 2051 and 2031), over the logger's own connection, and
//! records every request and its outcome in `hj212_requests`. It also keeps the loggers'
//! clocks: it records the drift their real-time data show (`hj212_clocks`, which the
//! `clock_drift` alert rule reads) and, where the point allows it (`hj212_set_clock`), sets a
//! clock beyond the limit (CN 1012 `SystemTime`) and reads it back (CN 1011).
//!
//! Input: [`LoggerEvent`]s from the committer (a logger's packet stored on a connection; a
//! logger's reply, after the data it uploaded before it are committed) and the queued requests
//! of `hj212_requests` (the scan's, and `greenmon hj212 recover`'s). Output: request frames on
//! the loggers' connections, the rows' outcomes, and metrics.
//!
//! A weak logger is never flooded: at most one request per logger is in flight, two requests
//! to one logger are `hj212.recovery.spacing_secs` apart, and a request is sent at most
//! `max_attempts` times. The data a logger uploads in answer take the normal ingest path
//! (validation, quarantine, rollups, exceedances, rates); hours older than the alert look-back
//! page nobody.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use hj212::{LoggerReply, Request, EXE_RTN_NO_DATA, EXE_RTN_OK};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{LoggerConn, LoggerEvent};
use crate::config::Hj212RecoveryConfig;
use crate::store::hj212::{self as requests, Claimed, NewRequest};
use crate::store::StoreError;
use crate::telemetry::Metrics;

/// Events queued for the requester; a full queue drops them (counted), and the requests they
/// concerned time out and are retried.
pub const EVENT_QUEUE: usize = 4096;
/// System code of greenmon's requests: surface-water pollution sources (wastewater outlets).
const ST_WASTEWATER: &str = "32";
/// How often the requester looks at its loggers and timers.
const TICK: Duration = Duration::from_secs(1);
/// A timed-out or failed request is asked again by the scan after this long.
const RETRY_AFTER_HOURS: i64 = 24;
/// Loggers scanned for missing hours in one tick at most.
const SCANS_PER_TICK: usize = 100;
/// A logger's clock, as its real-time data show it, is recorded at most this often.
const CLOCK_RECORD_SECS: i64 = 60;
/// A logger whose clock was set is not set again for this long.
const CLOCK_RESET_AFTER: Duration = Duration::from_secs(3600);

/// The period one data packet of a history CN covers, and the reading kind it is stored as.
pub fn history_period(cn: &str) -> Option<(TimeDelta, &'static str)> {
    match cn {
        "2051" => Some((TimeDelta::minutes(1), "min")),
        "2061" => Some((TimeDelta::hours(1), "hour")),
        "2031" => Some((TimeDelta::days(1), "day")),
        _ => None,
    }
}

/// Consecutive hours grouped into ranges `[begin, end)` of at most `max_hours` hours each.
pub fn ranges(hours: &[DateTime<Utc>], max_hours: u32) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let hour = TimeDelta::hours(1);
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for &h in hours {
        match out.last_mut() {
            Some((begin, end)) if *end == h && (h - *begin) < hour * max_hours as i32 => {
                *end = h + hour;
            }
            _ => out.push((h, h + hour)),
        }
    }
    out
}

/// The outcome a 9012 `ExeRtn` gives a history request.
pub fn outcome_of(exe_rtn: Option<u16>) -> &'static str {
    match exe_rtn {
        Some(EXE_RTN_OK) => "recovered",
        Some(EXE_RTN_NO_DATA) => "no_data",
        _ => "failed",
    }
}

/// A logger's last connection and the password it sends.
struct Link {
    route: Route,
    password: Option<String>,
    /// Scan it for missing hours, and why (`reconnect` or `scan`).
    scan: Option<&'static str>,
}

/// How requests reach a logger.
enum Route {
    /// Its TCP connection.
    Tcp(Arc<LoggerConn>),
    /// Its command topic (`{prefix}/parks/{park}/points/{point}/hj212/down`): it bridges HJ 212
    /// over MQTT, and was last heard from then.
    Mqtt { seen: Instant },
}

/// The route id of MQTT-bridged loggers (TCP connection ids start at 1).
const MQTT_ROUTE: u64 = 0;
/// An MQTT-bridged logger not heard from for this long is no longer asked.
const MQTT_SILENCE: Duration = Duration::from_secs(3600);

impl Route {
    fn id(&self) -> u64 {
        match self {
            Route::Tcp(conn) => conn.id,
            Route::Mqtt { .. } => MQTT_ROUTE,
        }
    }

    fn alive(&self) -> bool {
        match self {
            Route::Tcp(conn) => conn.tx.strong_count() > 0,
            Route::Mqtt { seen } => seen.elapsed() < MQTT_SILENCE,
        }
    }
}

/// Where requests to MQTT-bridged loggers are published.
pub struct MqttDown {
    pub client: rumqttc::AsyncClient,
    /// `mqtt.topic_prefix`.
    pub prefix: String,
}

impl MqttDown {
    /// The command topic of a point's logger.
    pub fn topic(&self, park: &str, point: &str) -> String {
        format!(
            "{}/parks/{park}/points/{point}/hj212/down",
            self.prefix.trim_end_matches('/')
        )
    }
}

/// The one request of a logger in flight.
struct InFlight {
    claimed: Claimed,
    qn: String,
    conn: u64,
    /// Readings of the range before the request (history).
    before: i64,
    /// 9011 `QnRtn=1` received: now waiting for 9012.
    accepted: bool,
    deadline: Instant,
}

/// Asks loggers for their missing hours, and keeps their clocks.
pub struct Requester {
    pub pool: PgPool,
    pub cfg: Hj212RecoveryConfig,
    pub tz: Tz,
    pub metrics: Metrics,
    /// The drift beyond which a logger's clock is set, where its point allows it
    /// (`alerts.rules.clock_drift.limit_secs`).
    pub clock_limit: Option<TimeDelta>,
    /// Requests to loggers bridged over MQTT.
    pub mqtt: MqttDown,
}

/// What the requester remembers of the loggers' clocks.
#[derive(Default)]
struct Clocks {
    /// The last observation recorded, per MN.
    recorded: HashMap<String, DateTime<Utc>>,
    /// When each logger's clock was last set.
    set: HashMap<String, Instant>,
}

impl Requester {
    /// Runs until `shutdown`.
    pub async fn run(self, mut events: mpsc::Receiver<LoggerEvent>, shutdown: CancellationToken) {
        let mut links: HashMap<String, Link> = HashMap::new();
        let mut inflight: HashMap<String, InFlight> = HashMap::new();
        let mut last_sent: HashMap<String, Instant> = HashMap::new();
        let mut clocks = Clocks::default();
        let mut next_scan = Instant::now() + Duration::from_secs(self.cfg.scan_interval_secs);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Requests an earlier run left in flight: queued again.
        let stale = Utc::now() - exec_timeout(&self.cfg);
        if let Err(e) = requests::requeue_stale(&self.pool, stale).await {
            tracing::warn!(error = %e, "Cannot requeue stale HJ 212 requests.");
        }
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                event = events.recv() => match event {
                    None => return,
                    Some(LoggerEvent::Connected { mn, password, conn }) => {
                        let scan = self.cfg.enabled.then_some("reconnect");
                        links.insert(mn, Link { route: Route::Tcp(conn), password, scan });
                    }
                    Some(LoggerEvent::Bridged { mn, password }) => {
                        let seen = Instant::now();
                        // A logger already known on this route is not scanned again.
                        let known = links.get(&mn).is_some_and(|l| l.route.id() == MQTT_ROUTE);
                        let scan = (self.cfg.enabled && !known).then_some("reconnect");
                        links.insert(mn, Link { route: Route::Mqtt { seen }, password, scan });
                    }
                    Some(LoggerEvent::Reply { conn, reply }) => {
                        let mn = inflight
                            .iter()
                            .find(|(_, f)| f.conn == conn && f.qn == reply.qn())
                            .map(|(mn, _)| mn.clone());
                        if let Some(mn) = mn {
                            self.reply_logged(&mut inflight, &mn, reply).await;
                        }
                    }
                    Some(LoggerEvent::BridgedReply { mn, reply }) => {
                        let ours = inflight
                            .get(&mn)
                            .is_some_and(|f| f.conn == MQTT_ROUTE && f.qn == reply.qn());
                        if ours {
                            self.reply_logged(&mut inflight, &mn, reply).await;
                        }
                    }
                },
                _ = tick.tick() => {
                    links.retain(|_, l| l.route.alive());
                    let now = Instant::now();
                    if self.cfg.enabled && now >= next_scan {
                        next_scan = now + Duration::from_secs(self.cfg.scan_interval_secs);
                        for link in links.values_mut() {
                            link.scan = link.scan.or(Some("scan"));
                        }
                    }
                    if let Err(e) = self.clocks(&links, &mut clocks).await {
                        tracing::warn!(error = %e, "Cannot record HJ 212 logger clocks; retrying.");
                    }
                    if let Err(e) = self.round(&mut links, &mut inflight, &mut last_sent).await {
                        tracing::warn!(error = %e, "HJ 212 requester round failed; retrying.");
                    }
                }
            }
        }
    }

    /// Records the clocks the loggers' real-time data show; queues a clock setting (CN 1012,
    /// then a check with CN 1011) for a logger beyond the limit whose point allows it.
    async fn clocks(
        &self,
        links: &HashMap<String, Link>,
        clocks: &mut Clocks,
    ) -> Result<(), StoreError> {
        for (mn, link) in links {
            let Route::Tcp(conn) = &link.route else {
                continue;
            };
            let Some((drift, at)) = conn.clock() else {
                continue;
            };
            if clocks
                .recorded
                .get(mn)
                .is_some_and(|last| at - *last < TimeDelta::seconds(CLOCK_RECORD_SECS))
            {
                continue;
            }
            let Some(point) = requests::point_of_mn(&self.pool, mn).await? else {
                continue;
            };
            let secs = drift.num_milliseconds() as f64 / 1000.0;
            requests::record_clock(&self.pool, &point.id, mn, secs, "datatime", at).await?;
            clocks.recorded.insert(mn.clone(), at);
            let beyond = self.clock_limit.is_some_and(|l| drift.abs() > l);
            let now = Instant::now();
            let recently = clocks
                .set
                .get(mn)
                .is_some_and(|t| now < *t + CLOCK_RESET_AFTER);
            if point.hj212_set_clock && beyond && !recently {
                tracing::warn!(%mn, point = %point.id, drift_secs = secs, "HJ 212 logger clock drifts; setting it.");
                let request = |cn: &str| NewRequest {
                    point_id: point.id.clone(),
                    mn: mn.clone(),
                    cn: cn.to_string(),
                    range: None,
                    origin: "clock",
                };
                requests::queue(&self.pool, &[request("1012"), request("1011")]).await?;
                clocks.set.insert(mn.clone(), now);
            }
        }
        Ok(())
    }

    /// One tick: expire timeouts, scan, send what is due.
    async fn round(
        &self,
        links: &mut HashMap<String, Link>,
        inflight: &mut HashMap<String, InFlight>,
        last_sent: &mut HashMap<String, Instant>,
    ) -> Result<(), StoreError> {
        let now = Instant::now();
        let expired: Vec<String> = inflight
            .iter()
            .filter(|(mn, f)| {
                f.deadline <= now || links.get(*mn).is_none_or(|l| l.route.id() != f.conn)
            })
            .map(|(mn, _)| mn.clone())
            .collect();
        for mn in expired {
            if let Some(f) = inflight.remove(&mn) {
                self.timed_out(&mn, f).await?;
            }
        }
        // A fleet reconnecting at once is scanned over several ticks, so that replies and
        // timeouts are still handled meanwhile.
        let mut scans = 0;
        for (mn, link) in links.iter_mut() {
            if scans == SCANS_PER_TICK {
                break;
            }
            if let Some(origin) = link.scan.take() {
                scans += 1;
                if let Err(e) = self.scan(mn, origin).await {
                    // Scanned again at the next tick.
                    link.scan = Some(origin);
                    return Err(e);
                }
            }
        }
        let spacing = Duration::from_secs(self.cfg.spacing_secs);
        // One query for every logger: most have nothing queued.
        for mn in requests::queued_mns(&self.pool).await? {
            let Some(link) = links.get(&mn) else {
                continue;
            };
            if inflight.contains_key(&mn) || last_sent.get(&mn).is_some_and(|t| now < *t + spacing)
            {
                continue;
            }
            if let Some(f) = self.send_next(&mn, link).await? {
                last_sent.insert(mn.clone(), now);
                inflight.insert(mn.clone(), f);
            }
        }
        Ok(())
    }

    /// Queues requests for the missing hours of `mn`'s point, if it is required and in service.
    async fn scan(&self, mn: &str, origin: &'static str) -> Result<(), StoreError> {
        let Some(point) = requests::point_of_mn(&self.pool, mn).await? else {
            return Ok(());
        };
        if !point.required {
            return Ok(());
        }
        let now = Utc::now();
        let hour = TimeDelta::hours(1);
        // Bounded by the configuration's validation (at most a year).
        let settle = i64::try_from(self.cfg.settle_secs).unwrap_or(0);
        let settled = now - TimeDelta::try_seconds(settle).unwrap_or_default();
        let mut to = trunc_hour(settled);
        if let Some(retired) = point.retired_at {
            to = to.min(retired);
        }
        let back = now - TimeDelta::days(i64::from(self.cfg.scan_days));
        let from = trunc_hour(back.max(point.monitored_since));
        let from = if from < point.monitored_since {
            from + hour
        } else {
            from
        };
        if from >= to {
            return Ok(());
        }
        let missing = requests::missing_hours(
            &self.pool,
            &point.id,
            from,
            to,
            TimeDelta::hours(RETRY_AFTER_HOURS),
        )
        .await?;
        let new: Vec<NewRequest> = ranges(&missing, self.cfg.max_hours_per_request)
            .into_iter()
            .map(|range| NewRequest {
                point_id: point.id.clone(),
                mn: mn.to_string(),
                cn: "2061".into(),
                range: Some(range),
                origin,
            })
            .collect();
        if !new.is_empty() {
            tracing::info!(%mn, point = %point.id, hours = missing.len(), requests = new.len(), "Missing hours found; asking the logger.");
            requests::queue(&self.pool, &new).await?;
        }
        Ok(())
    }

    /// Sends `mn`'s oldest queued request on its connection (or command topic).
    async fn send_next(&self, mn: &str, link: &Link) -> Result<Option<InFlight>, StoreError> {
        let Some(point) = requests::point_of_mn(&self.pool, mn).await? else {
            return Ok(None);
        };
        let now = Utc::now();
        let local_now = now.with_timezone(&self.tz).naive_local();
        let qn = local_now.format("%Y%m%d%H%M%S%3f").to_string();
        let Some(claimed) = requests::claim_next(&self.pool, mn, &qn, Some(now)).await? else {
            return Ok(None);
        };
        let local = |t: DateTime<Utc>| t.with_timezone(&self.tz).naive_local();
        let (request, before) = match (
            history_period(&claimed.cn),
            claimed.begin_time,
            claimed.end_time,
        ) {
            (Some((period, kind)), Some(begin), Some(end)) => {
                let before =
                    requests::count_readings(&self.pool, &claimed.point_id, kind, begin, end)
                        .await?;
                let request = Request::History {
                    cn: claimed.cn.clone(),
                    begin: local(begin),
                    end: local(end - period),
                };
                (request, before)
            }
            _ if claimed.cn == "1011" => (Request::GetTime, 0),
            _ if claimed.cn == "1012" => (Request::SetTime(local_now), 0),
            _ => {
                requests::finish(&self.pool, claimed.id, "failed", None).await?;
                return Ok(None);
            }
        };
        let password = point.hj212_password.or_else(|| link.password.clone());
        let st = point.hj212_st.as_deref().unwrap_or(ST_WASTEWATER);
        let bytes = request.encode(&qn, st, password.as_deref(), mn);
        let sent = match &link.route {
            Route::Tcp(conn) => conn
                .tx
                .upgrade()
                .is_some_and(|tx| tx.try_send(bytes).is_ok()),
            Route::Mqtt { .. } => self
                .mqtt
                .client
                .try_publish(
                    self.mqtt.topic(&point.park_id, &point.id),
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    bytes,
                )
                .is_ok(),
        };
        if !sent {
            // The connection is going or its writer is backed up: try again later.
            requests::finish(&self.pool, claimed.id, "queued", None).await?;
            return Ok(None);
        }
        self.metrics
            .hj212_requests
            .with_label_values(&[&claimed.cn])
            .inc();
        tracing::debug!(%mn, %qn, cn = %claimed.cn, attempt = claimed.attempts, "HJ 212 request sent.");
        Ok(Some(InFlight {
            claimed,
            qn,
            conn: link.route.id(),
            before,
            accepted: false,
            deadline: Instant::now() + Duration::from_secs(self.cfg.answer_timeout_secs),
        }))
    }

    async fn reply_logged(
        &self,
        inflight: &mut HashMap<String, InFlight>,
        mn: &str,
        reply: LoggerReply,
    ) {
        if let Err(e) = self.reply(inflight, mn, reply).await {
            tracing::warn!(error = %e, %mn, "Cannot record an HJ 212 reply.");
        }
    }

    /// A reply to `mn`'s request in flight.
    async fn reply(
        &self,
        inflight: &mut HashMap<String, InFlight>,
        mn: &str,
        reply: LoggerReply,
    ) -> Result<(), StoreError> {
        let Some(f) = inflight.get_mut(mn) else {
            return Ok(());
        };
        let id = f.claimed.id;
        match reply {
            LoggerReply::Answer { qn_rtn, .. } => {
                let text = format!("9011 QnRtn={}", number(qn_rtn));
                requests::note_answer(&self.pool, id, &text, qn_rtn.map(i32::from), None).await?;
                if qn_rtn == Some(1) {
                    f.accepted = true;
                    f.deadline = Instant::now() + exec_timeout(&self.cfg);
                } else {
                    tracing::warn!(%mn, qn_rtn = %number(qn_rtn), cn = %f.claimed.cn, "HJ 212 logger refused a request.");
                    inflight.remove(mn);
                    self.done(id, "rejected", None).await?;
                }
            }
            LoggerReply::Result { exe_rtn, .. } => {
                let text = format!("9012 ExeRtn={}", number(exe_rtn));
                requests::note_answer(&self.pool, id, &text, None, exe_rtn.map(i32::from)).await?;
                let Some(f) = inflight.remove(mn) else {
                    return Ok(());
                };
                let recovered = match (
                    history_period(&f.claimed.cn),
                    f.claimed.begin_time,
                    f.claimed.end_time,
                ) {
                    (Some((_, kind)), Some(begin), Some(end)) => {
                        let after = requests::count_readings(
                            &self.pool,
                            &f.claimed.point_id,
                            kind,
                            begin,
                            end,
                        )
                        .await?;
                        Some((after - f.before).max(0))
                    }
                    _ => None,
                };
                let outcome = if recovered.is_some() {
                    outcome_of(exe_rtn)
                } else if exe_rtn == Some(EXE_RTN_OK) {
                    "done"
                } else {
                    "failed"
                };
                if let Some(n) = recovered {
                    self.metrics
                        .hj212_recovered_readings
                        .inc_by(u64::try_from(n).unwrap_or(0));
                    tracing::info!(%mn, point = %f.claimed.point_id, recovered = n, outcome, "HJ 212 history request finished.");
                }
                self.done(id, outcome, recovered).await?;
            }
            LoggerReply::Time { system_time, .. } => {
                let text = format!("1011 SystemTime={}", hj212::format_hj_time(&system_time));
                requests::note_answer(&self.pool, id, &text, None, None).await?;
                let now = Utc::now();
                if let Some(clock) = self.tz.from_local_datetime(&system_time).earliest() {
                    let drift =
                        (clock.with_timezone(&Utc) - now).num_milliseconds() as f64 / 1000.0;
                    tracing::info!(%mn, point = %f.claimed.point_id, drift_secs = drift, "HJ 212 logger clock read.");
                    requests::record_clock(&self.pool, &f.claimed.point_id, mn, drift, "1011", now)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// No answer in time: sent again later while the budget lasts, else timed out.
    async fn timed_out(&self, mn: &str, f: InFlight) -> Result<(), StoreError> {
        let budget = i32::try_from(self.cfg.max_attempts).unwrap_or(i32::MAX);
        if f.claimed.attempts < budget {
            tracing::debug!(%mn, attempts = f.claimed.attempts, "HJ 212 request unanswered; it will be sent again.");
            requests::finish(&self.pool, f.claimed.id, "queued", None).await
        } else {
            tracing::warn!(%mn, attempts = f.claimed.attempts, accepted = f.accepted, cn = %f.claimed.cn, "HJ 212 logger did not complete a request; giving up.");
            self.done(f.claimed.id, "timed_out", None).await
        }
    }

    async fn done(&self, id: i64, outcome: &str, recovered: Option<i64>) -> Result<(), StoreError> {
        requests::finish(&self.pool, id, outcome, recovered).await?;
        self.metrics
            .hj212_request_outcomes
            .with_label_values(&[outcome])
            .inc();
        Ok(())
    }
}

fn exec_timeout(cfg: &Hj212RecoveryConfig) -> Duration {
    Duration::from_secs(cfg.exec_timeout_secs)
}

fn number(v: Option<u16>) -> String {
    v.map_or_else(|| "?".to_string(), |v| v.to_string())
}

fn trunc_hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        format!("2026-01-01T{h:02}:00:00Z").parse().unwrap()
    }

    #[test]
    fn consecutive_hours_make_capped_ranges() {
        let hours = [at(1), at(2), at(3), at(5), at(6), at(7), at(8), at(9)];
        assert_eq!(
            ranges(&hours, 3),
            [(at(1), at(4)), (at(5), at(8)), (at(8), at(10))]
        );
        assert_eq!(ranges(&hours[..1], 24), [(at(1), at(2))]);
        assert!(ranges(&[], 24).is_empty());
    }

    #[test]
    fn outcomes_and_periods() {
        assert_eq!(outcome_of(Some(1)), "recovered");
        assert_eq!(outcome_of(Some(100)), "no_data");
        assert_eq!(outcome_of(Some(5)), "failed");
        assert_eq!(outcome_of(None), "failed");
        assert_eq!(history_period("2061"), Some((TimeDelta::hours(1), "hour")));
        assert_eq!(history_period("1011"), None);
    }
}

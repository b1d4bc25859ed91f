//! The alert engine: elects one evaluating instance through a PostgreSQL advisory lock, and on
//! that instance evaluates every rule periodically (and the exceedance rule at once when ingest
//! announces a reading beyond a limit), writes transitions with their events and notifications
//! in one transaction, and runs the outbox delivery.
//!
//! The lock is a session lock held by a dedicated connection: if the leader dies, its
//! connection closes, PostgreSQL releases the lock, and a standby polling every
//! `alerts.leader_poll_ms` takes over. An evaluation cut short rolls back, so its transitions
//! (and their notifications) are made again by the next leader, once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::delivery::{dashboard_url, Delivery, ALERTMANAGER, WEBHOOK_PREFIX};
use super::notify::Notification;
use super::plan::{plan, resolve, OpenAlert, Scope};
use super::rules;
use super::tap::{self, AlertTap, HourKey};
use crate::clock::Clock;
use crate::compliance::exceedance::Episode;
use crate::compliance::service::{self, Exceedance};
use crate::config::AlertsConfig;
use crate::domain::alert::Event;
use crate::domain::alert::{Condition, RuleKind, Severity};
use crate::store::alerts::{self as q, AlertRow, Queued};
use crate::store::StoreError;
use crate::telemetry::Metrics;

/// A logger clock measured longer ago than this speaks for now no more (a logger that went
/// away keeps its last drift): its `clock_drift` alert resolves.
const CLOCK_FRESH_SECS: i64 = 3600;

/// The engine of one instance.
pub struct Engine {
    pub pool: PgPool,
    /// For the leader's own connection (it holds the lock).
    pub connect: PgConnectOptions,
    pub cfg: Arc<AlertsConfig>,
    pub tz: Tz,
    pub metrics: Metrics,
    pub tap: Arc<AlertTap>,
    pub http: reqwest::Client,
    /// "Now" of every evaluation: the system clock in production, a manual one in tests.
    pub clock: Clock,
}

impl Engine {
    /// Competes for leadership until `shutdown`; leads while it holds the lock.
    pub async fn run(self, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.cfg.leader_poll_ms);
        while !shutdown.is_cancelled() {
            if let Err(e) = self.contend(&shutdown).await {
                tracing::warn!(error = %e, "Alert engine connection failed; competing again.");
            }
            self.metrics.alert_leader.set(0);
            tokio::select! {
                () = tokio::time::sleep(poll) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }

    /// Waits for the lock on a fresh connection, then leads until the connection fails or
    /// `shutdown`. Closing the connection releases the lock.
    async fn contend(&self, shutdown: &CancellationToken) -> Result<(), StoreError> {
        let mut conn = self.connect.connect().await?;
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(self.cfg.leader_lock_key)
                .fetch_one(&mut conn)
                .await?;
            if got {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(self.cfg.leader_poll_ms)) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
        }
        tracing::info!("This instance now evaluates alerts and delivers notifications.");
        self.metrics.alert_leader.set(1);
        let wake = Arc::new(Notify::new());
        let delivery = Delivery {
            pool: self.pool.clone(),
            http: self.http.clone(),
            cfg: self.cfg.clone(),
            metrics: self.metrics.clone(),
            wake: wake.clone(),
        };
        let stop = shutdown.child_token();
        let worker = tokio::spawn(delivery.clone().run(stop.clone()));
        let result = self.lead(&mut conn, &delivery, &wake, shutdown).await;
        stop.cancel();
        let _ = worker.await;
        let _ = conn.close().await;
        result
    }

    async fn lead(
        &self,
        conn: &mut PgConnection,
        delivery: &Delivery,
        wake: &Notify,
        shutdown: &CancellationToken,
    ) -> Result<(), StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(tap::CHANNEL).await?;
        let mut tick = tokio::time::interval(Duration::from_secs(self.cfg.evaluate_interval_secs));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut repost =
            tokio::time::interval(Duration::from_secs(self.cfg.alertmanager.repost_secs));
        repost.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let am = !self.cfg.alertmanager.url.is_empty();
        loop {
            let applied = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                _ = tick.tick() => {
                    let now = self.clock.now();
                    let (conditions, scope) = self.conditions(now).await;
                    self.apply(conn, conditions, scope, now, wake).await
                }
                n = listener.recv() => {
                    let n = n?;
                    let Some(keys) = tap::parse_payload(n.payload()) else {
                        tracing::warn!(payload = n.payload(), "Ignoring an unreadable exceedance announcement.");
                        continue;
                    };
                    // Hours older than the rule's look-back page nobody, as in the periodic
                    // evaluation (a logger's backlog arriving late, say).
                    let keys = tap::recent(keys, self.clock.now());
                    if keys.is_empty() {
                        continue;
                    }
                    match self.fast_conditions(&keys).await {
                        Ok(conditions) if conditions.is_empty() => Ok(()),
                        Ok(conditions) => {
                            let now = self.clock.now();
                            self.apply(conn, conditions, Scope::ConditionsOnly, now, wake).await
                        }
                        Err(e) => {
                            // The next full evaluation covers these hours too.
                            self.evaluation_failed("fast_path", &e);
                            Ok(())
                        }
                    }
                }
                _ = repost.tick(), if am => {
                    delivery.repost().await;
                    Ok(())
                }
            };
            if let Err(e) = applied {
                self.evaluation_failed("apply", &e);
                // Only a lost connection ends the leadership (the lock went with it); anything
                // else is retried at the next evaluation, as leader.
                sqlx::query("SELECT 1").execute(&mut *conn).await?;
            }
        }
    }

    fn evaluation_failed(&self, step: &str, e: &StoreError) {
        self.metrics
            .alert_evaluation_failures
            .with_label_values(&[step])
            .inc();
        tracing::error!(error = %e, step, "Alert evaluation step failed; the other rules go on, and it is retried at the next evaluation.");
    }

    /// Writes one evaluation's changes, as of `now`, in one transaction on the leader's
    /// connection.
    async fn apply(
        &self,
        conn: &mut PgConnection,
        conditions: Vec<Condition>,
        scope: Scope,
        now: DateTime<Utc>,
        wake: &Notify,
    ) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let mut tx = conn.begin().await?;
        let open: Vec<OpenAlert> = q::open_alerts(&mut tx)
            .await?
            .into_iter()
            .filter_map(|row| {
                let (key, lifecycle) = row.lifecycle()?;
                Some(OpenAlert {
                    id: row.id,
                    key,
                    lifecycle,
                    value: row.value,
                    summary: row.summary,
                })
            })
            .collect();
        let full = scope != Scope::ConditionsOnly;
        let changes = plan(&self.cfg, open, conditions, scope, now);
        let mut notified = false;
        for change in &changes {
            q::apply(&mut tx, change, |event, row| {
                let queued = self.route(event, row, change.previous_severity);
                notified |= !queued.is_empty();
                queued
            })
            .await?;
        }
        tx.commit().await?;
        for change in &changes {
            for e in &change.events {
                tracing::info!(rule = %change.key.rule, park = %change.key.park, point = %change.key.point, pollutant = %change.key.pollutant, event = e.as_str(), "Alert transition.");
            }
        }
        if notified {
            wake.notify_one();
        }
        self.metrics.alert_evaluations.inc();
        self.metrics
            .alert_evaluation_seconds
            .observe(started.elapsed().as_secs_f64());
        if full {
            self.update_firing_gauge().await;
        }
        Ok(())
    }

    async fn update_firing_gauge(&self) {
        let Ok(firing) = q::firing(&self.pool).await else {
            return;
        };
        let g = &self.metrics.alerts_firing;
        for rule in RuleKind::ALL {
            for sev in Severity::ALL {
                let n = firing
                    .iter()
                    .filter(|a| a.rule == rule.as_str() && a.severity == sev.as_str())
                    .count();
                g.with_label_values(&[rule.as_str(), sev.as_str()])
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }

    /// The notifications of one event: Alertmanager hears of firing, escalation and
    /// resolution (it repeats on its own); webhooks of every notifying event, filtered by
    /// their minimum severity and, for escalation receivers, by escalation.
    fn route(&self, event: Event, row: &AlertRow, previous: Severity) -> Vec<Queued> {
        let dashboard = dashboard_url(&self.cfg, &row.park_id);
        let payload = || {
            serde_json::to_value(Notification {
                event: event.as_str().to_string(),
                alert: row.clone(),
                previous_severity: previous.as_str().to_string(),
                dashboard_url: dashboard.clone(),
            })
            .expect("a notification serialises")
        };
        let mut out = Vec::new();
        if !self.cfg.alertmanager.url.is_empty() && event != Event::Renotified {
            out.push(Queued {
                receiver: ALERTMANAGER.to_string(),
                payload: payload(),
            });
        }
        let severity = Severity::parse(&row.severity).unwrap_or(Severity::Critical);
        for hook in &self.cfg.webhooks {
            if severity < hook.min_severity || (hook.escalation_only && row.escalated_at.is_none())
            {
                continue;
            }
            out.push(Queued {
                receiver: format!("{WEBHOOK_PREFIX}{}", hook.name),
                payload: payload(),
            });
        }
        out
    }

    /// Every rule's conditions now, and which rules they speak for. Each query runs on its
    /// own: one that fails skips only the rules built on it (their alerts stay as they are), is
    /// logged and counted, and the others are evaluated as usual.
    async fn conditions(&self, now: DateTime<Utc>) -> (Vec<Condition>, Scope) {
        let tz = self.tz;
        let today = now.with_timezone(&tz).date_naive();
        let yesterday = today - chrono::Duration::days(1);
        let pool = &self.pool;
        let (parks, exceedances, rates, energy, reports, clocks) = tokio::join!(
            service::parks_now(pool, None, now),
            service::exceedances(
                pool,
                None,
                tap::lookback_start(now),
                now + chrono::Duration::hours(1),
                now
            ),
            service::rates(pool, tz, None, yesterday, yesterday, now),
            service::energy(pool, None, today.year(), today),
            crate::store::compliance::energy_reports(
                pool,
                None,
                today.year() - 1,
                today.year(),
                None
            ),
            crate::store::hj212::clocks(pool, now - chrono::Duration::seconds(CLOCK_FRESH_SECS)),
        );
        let cfg = &self.cfg;
        let mut skipped = Vec::new();
        let mut out = Vec::new();
        let mut ok = |step: &str, rules: &[RuleKind], failed: Option<&StoreError>| match failed {
            None => true,
            Some(e) => {
                self.evaluation_failed(step, e);
                skipped.extend_from_slice(rules);
                false
            }
        };
        if ok(
            "parks",
            &[
                RuleKind::PointOffline,
                RuleKind::ParkMonitoringRate,
                RuleKind::EnergyReportOverdue,
            ],
            parks.as_ref().err(),
        ) {
            let parks = parks.as_deref().unwrap_or_default();
            out.extend(rules::point_offline(parks));
            out.extend(rules::park_monitoring_rate(parks));
            let park_names: Vec<(String, String)> = parks
                .iter()
                .map(|p| (p.park_id.clone(), p.name.clone()))
                .collect();
            if ok(
                "energy_reports",
                &[RuleKind::EnergyReportOverdue],
                reports.as_ref().err(),
            ) {
                out.extend(rules::energy_report_overdue(
                    &park_names,
                    reports.as_deref().unwrap_or_default(),
                    today,
                    tz,
                    |park| {
                        let key = crate::domain::alert::AlertKey::park(
                            RuleKind::EnergyReportOverdue,
                            park,
                        );
                        resolve(cfg, &key).grace_days.unwrap_or(15)
                    },
                ));
            }
        }
        if ok(
            "exceedances",
            &[RuleKind::DischargeExceedance],
            exceedances.as_ref().err(),
        ) {
            out.extend(rules::discharge_exceedance(
                exceedances.as_deref().unwrap_or_default(),
            ));
        }
        if ok("rates", &[RuleKind::LowEffectiveRate], rates.as_ref().err()) {
            out.extend(rules::low_effective_rate(
                rates.as_deref().unwrap_or_default(),
                |park, point| {
                    let key = crate::domain::alert::AlertKey::point(
                        RuleKind::LowEffectiveRate,
                        park,
                        point,
                    );
                    resolve(cfg, &key).threshold.unwrap_or(0.0)
                },
            ));
        }
        if ok(
            "energy",
            &[RuleKind::EnergyOffTrack, RuleKind::EnergyTargetMissed],
            energy.as_ref().err(),
        ) {
            let energy = energy.as_deref().unwrap_or_default();
            out.extend(rules::energy_off_track(energy));
            out.extend(rules::energy_target_missed(energy));
        }
        if ok("clocks", &[RuleKind::ClockDrift], clocks.as_ref().err()) {
            out.extend(rules::clock_drift(
                clocks.as_deref().unwrap_or_default(),
                |_, _| cfg.rules.clock_drift.limit_secs.unwrap_or(u64::MAX),
            ));
        }
        let scope = if skipped.is_empty() {
            Scope::All
        } else {
            Scope::AllBut(skipped)
        };
        (out, scope)
    }

    /// Exceedance conditions of the announced hours, from raw readings.
    async fn fast_conditions(&self, keys: &[HourKey]) -> Result<Vec<Condition>, StoreError> {
        let index = self.tap.index();
        let averages = q::hour_averages(&self.pool, keys).await?;
        let exceedances: Vec<Exceedance> = averages
            .into_iter()
            .filter_map(|(point, pollutant, hour, avg)| {
                let (park, limit) = index.limit(&point, &pollutant)?;
                let (direction, bound) = limit.crossed(avg)?;
                Some(Exceedance {
                    park_id: park.to_string(),
                    point_id: point,
                    pollutant,
                    episode: Episode {
                        start: hour,
                        end: hour + chrono::Duration::hours(1),
                        peak: avg,
                        limit: bound,
                        direction,
                        hours: 1,
                        open: true,
                    },
                })
            })
            .collect();
        Ok(rules::discharge_exceedance(&exceedances))
    }
}

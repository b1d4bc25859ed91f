//! The outbox worker: claims due notifications, sends them (concurrently within a round), and
//! records each outcome in the same transaction that claimed it: delivered, retried later with
//! capped exponential backoff, or dead after `alerts.delivery.max_attempts` failures. Runs only
//! on the instance that leads the alert engine.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::notify::{am_alerts_for, post_alertmanager, post_webhook, Notification, NotifyError};
use crate::config::{AlertsConfig, WebhookConfig};
use crate::store::alerts::{self as q, OutboxRow};
use crate::store::StoreError;
use crate::telemetry::Metrics;

/// The receiver name of Alertmanager in the outbox.
pub const ALERTMANAGER: &str = "alertmanager";
/// Webhook receivers are named `webhook:<name>`.
pub const WEBHOOK_PREFIX: &str = "webhook:";

/// Delivers the outbox.
#[derive(Clone)]
pub struct Delivery {
    pub pool: PgPool,
    pub http: reqwest::Client,
    pub cfg: Arc<AlertsConfig>,
    pub metrics: Metrics,
    /// Woken when the engine has queued notifications.
    pub wake: Arc<Notify>,
}

impl Delivery {
    /// Delivers until `stop`; rounds follow each other while there is work, otherwise wait
    /// for a wake-up or one second.
    pub async fn run(self, stop: CancellationToken) {
        let hooks: HashMap<String, WebhookConfig> = self
            .cfg
            .webhooks
            .iter()
            .map(|w| (format!("{WEBHOOK_PREFIX}{}", w.name), w.clone()))
            .collect();
        loop {
            let busy = match self.round(&hooks).await {
                Ok(n) => n >= self.cfg.delivery.batch as usize,
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot deliver notifications; retrying.");
                    false
                }
            };
            self.update_stats().await;
            if busy {
                if stop.is_cancelled() {
                    return;
                }
                continue;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = stop.cancelled() => return,
            }
        }
    }

    async fn update_stats(&self) {
        if let Ok(s) = q::outbox_stats(&self.pool).await {
            self.metrics.outbox_pending.set(s.pending);
            self.metrics.outbox_dead.set(s.dead);
            self.metrics
                .outbox_oldest_seconds
                .set(s.oldest_pending_secs);
        }
    }

    /// One round: claims due notifications, sends them concurrently, and records each outcome
    /// as soon as it is known. Returns how many it claimed.
    async fn round(&self, hooks: &HashMap<String, WebhookConfig>) -> Result<usize, StoreError> {
        // The lease outlasts one request (`timeout_ms`) plus 5 s for recording the outcome, so
        // nothing is sent twice by the same leader. A leader that dies mid-send leaves its claims
        // to the next leader once the lease ends: `timeout_ms` + 5 s, 10 s by default
        // (docs/alerts.md). At most `alerts.delivery.batch` notifications are claimed and held in
        // memory per round.
        let lease = chrono::Duration::milliseconds(
            i64::try_from(self.cfg.delivery.timeout_ms).unwrap_or(i64::MAX / 2) + 5_000,
        );
        let rows = q::claim_due(&self.pool, i64::from(self.cfg.delivery.batch), lease).await?;
        let outcomes = futures::future::join_all(rows.iter().map(|row| async move {
            let result = self.send(row, hooks).await;
            self.record(row, result).await
        }))
        .await;
        outcomes.into_iter().collect::<Result<Vec<()>, _>>()?;
        Ok(rows.len())
    }

    async fn record(
        &self,
        row: &OutboxRow,
        result: Result<(), NotifyError>,
    ) -> Result<(), StoreError> {
        let notifier = notifier_of(&row.receiver);
        match result {
            Ok(()) => {
                q::delivered(&self.pool, row.id).await?;
                self.count(notifier, "delivered");
            }
            Err(error) => {
                let attempts = u32::try_from(row.attempts).unwrap_or(0) + 1;
                let retry_at = (error.is_transient() && attempts < self.cfg.delivery.max_attempts)
                    .then(|| Utc::now() + self.backoff(attempts));
                if retry_at.is_some() {
                    tracing::warn!(id = row.id, receiver = %row.receiver, attempts, %error, "Notification failed; will retry.");
                    self.count(notifier, "retry");
                } else if error.is_transient() {
                    tracing::error!(id = row.id, receiver = %row.receiver, attempts, %error, "Notification dead-lettered after its last attempt.");
                    self.count(notifier, "dead");
                } else {
                    tracing::error!(id = row.id, receiver = %row.receiver, attempts, %error, "Notification refused by its receiver; dead-lettered without retrying.");
                    self.count(notifier, "dead");
                }
                q::failed(&self.pool, row.id, &error.to_string(), retry_at).await?;
            }
        }
        Ok(())
    }

    fn count(&self, notifier: &str, outcome: &str) {
        self.metrics
            .notifications
            .with_label_values(&[notifier, outcome])
            .inc();
    }

    /// Delay before attempt `attempts + 1`: the initial delay doubled per failure, capped,
    /// with jitter.
    fn backoff(&self, attempts: u32) -> chrono::Duration {
        let d = &self.cfg.delivery;
        let delay = crate::backoff::delay(
            Duration::from_millis(d.retry_initial_ms),
            Duration::from_millis(d.retry_max_ms),
            attempts.saturating_sub(1),
        );
        chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    }

    async fn send(
        &self,
        row: &OutboxRow,
        hooks: &HashMap<String, WebhookConfig>,
    ) -> Result<(), NotifyError> {
        let n: Notification = serde_json::from_value(row.payload.clone())
            .map_err(|e| NotifyError::Permanent(format!("unreadable notification: {e}")))?;
        let timeout = Duration::from_millis(self.cfg.delivery.timeout_ms);
        if row.receiver == ALERTMANAGER {
            if self.cfg.alertmanager.url.is_empty() {
                return Err(NotifyError::Permanent(
                    "alerts.alertmanager.url is not configured".into(),
                ));
            }
            let alerts = am_alerts_for(&n, Utc::now(), self.am_hold());
            return post_alertmanager(&self.http, &self.cfg.alertmanager.url, &alerts, timeout)
                .await;
        }
        match hooks.get(&row.receiver) {
            Some(hook) => post_webhook(&self.http, hook, row.id, &n, timeout).await,
            None => Err(NotifyError::Permanent(format!(
                "receiver {} is not configured",
                row.receiver
            ))),
        }
    }

    /// How long Alertmanager keeps a firing alert without a re-post.
    pub fn am_hold(&self) -> chrono::Duration {
        chrono::Duration::seconds(
            i64::try_from(self.cfg.alertmanager.repost_secs.saturating_mul(4))
                .unwrap_or(i64::MAX / 1000),
        )
    }

    /// Re-posts every firing alert to Alertmanager, as it expects of its clients.
    pub async fn repost(&self) {
        let alerts = match q::firing(&self.pool).await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read firing alerts to re-post.");
                return;
            }
        };
        if alerts.is_empty() {
            return;
        }
        let now = Utc::now();
        let am: Vec<_> = alerts
            .iter()
            .map(|a| {
                let url = dashboard_url(&self.cfg, &a.park_id);
                super::notify::am_alert(a, &a.severity, &url, now + self.am_hold())
            })
            .collect();
        let timeout = Duration::from_millis(self.cfg.delivery.timeout_ms);
        // At most `alerts.delivery.batch` alerts per request, so one request stays small however
        // many alerts fire (there is at most one per rule, point and pollutant).
        for chunk in am.chunks(self.cfg.delivery.batch as usize) {
            match post_alertmanager(&self.http, &self.cfg.alertmanager.url, chunk, timeout).await {
                Ok(()) => self.count("alertmanager", "reposted"),
                Err(e) => {
                    tracing::warn!(error = %e, "Re-posting firing alerts to Alertmanager failed.");
                    self.count("alertmanager", "repost_failed");
                    return;
                }
            }
        }
    }
}

/// The metric label of a receiver.
fn notifier_of(receiver: &str) -> &'static str {
    if receiver == ALERTMANAGER {
        "alertmanager"
    } else {
        "webhook"
    }
}

/// The dashboard link of a park.
pub fn dashboard_url(cfg: &AlertsConfig, park: &str) -> String {
    cfg.dashboard_url.replace("{park}", park)
}

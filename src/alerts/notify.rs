//! The notifiers: Prometheus Alertmanager (its v2 API) and signed JSON webhooks. Each turns a
//! stored [`Notification`] into one HTTP request; success is a 2xx answer.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::config::WebhookConfig;
use crate::store::alerts::AlertRow;

/// Header carrying the signature: `sha256=` and the hex HMAC-SHA256 of `"{timestamp}.{body}"`.
pub const SIGNATURE_HEADER: &str = "x-greenmon-signature";
/// Header carrying the Unix time (seconds) the request was signed at.
pub const TIMESTAMP_HEADER: &str = "x-greenmon-timestamp";
/// Header carrying the notification's id: the same on every retry (receivers deduplicate on it).
pub const DELIVERY_HEADER: &str = "x-greenmon-delivery";

/// What the outbox stores for one notification: the alert as it was at the transition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    /// firing, renotified, escalated or resolved.
    pub event: String,
    pub alert: AlertRow,
    /// The severity before an escalation (equal to the alert's otherwise).
    pub previous_severity: String,
    pub dashboard_url: String,
}

/// The webhook body (schema version 1, docs/alerts.md).
#[derive(Debug, Serialize)]
struct WebhookBody<'a> {
    version: &'static str,
    delivery_id: i64,
    sent_at: DateTime<Utc>,
    #[serde(flatten)]
    notification: &'a Notification,
}

/// The signature of `body` signed at `timestamp` with `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a notification was not delivered, classified: a transient failure (connection refused,
/// timeout, 5xx, 408, 429) is retried with backoff; a permanent one (any other 4xx, a body that
/// cannot be encoded, a receiver no longer configured) would fail the same way every time, so
/// it goes straight to the dead letter with its status and body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Permanent(String),
}

impl NotifyError {
    /// Whether a later attempt may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }

    /// The classification of a receiver's HTTP status (success is not an error).
    pub fn from_status(status: reqwest::StatusCode, message: String) -> Self {
        let retry = status.is_server_error()
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
        if retry {
            Self::Transient(message)
        } else {
            Self::Permanent(message)
        }
    }
}

/// Posts one notification to a webhook.
///
/// # Errors
/// [`NotifyError`]: transient (connection, timeout, 5xx, 408, 429) or permanent (other 4xx).
pub async fn post_webhook(
    http: &reqwest::Client,
    hook: &WebhookConfig,
    delivery_id: i64,
    n: &Notification,
    timeout: Duration,
) -> Result<(), NotifyError> {
    let now = Utc::now();
    let body = serde_json::to_vec(&WebhookBody {
        version: "1",
        delivery_id,
        sent_at: now,
        notification: n,
    })
    .map_err(|e| NotifyError::Permanent(format!("cannot encode the body: {e}")))?;
    let sig = signature(
        hook.secret.expose_secret().as_bytes(),
        now.timestamp(),
        &body,
    );
    let resp = http
        .post(&hook.url)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, now.timestamp().to_string())
        .header(SIGNATURE_HEADER, sig)
        .header(DELIVERY_HEADER, delivery_id.to_string())
        .body(body)
        .send()
        .await
        .map_err(|e| NotifyError::Transient(format!("webhook {}: {e}", hook.name)))?;
    check(resp, &hook.name).await
}

async fn check(resp: reqwest::Response, what: &str) -> Result<(), NotifyError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let text: String = text.chars().take(200).collect();
    Err(NotifyError::from_status(
        status,
        format!("{what} answered {status}: {text}"),
    ))
}

/// One alert in Alertmanager's v2 `postableAlert` form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AmAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "startsAt")]
    pub starts_at: DateTime<Utc>,
    #[serde(rename = "endsAt")]
    pub ends_at: DateTime<Utc>,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
}

/// The Alertmanager alert for `alert` with `severity`, ending at `ends_at`.
pub fn am_alert(
    alert: &AlertRow,
    severity: &str,
    dashboard_url: &str,
    ends_at: DateTime<Utc>,
) -> AmAlert {
    let rule = crate::alerts::RuleKind::parse(&alert.rule);
    let mut labels = BTreeMap::from([
        (
            "alertname".to_string(),
            rule.map_or(alert.rule.as_str(), |r| r.alert_name())
                .to_string(),
        ),
        ("rule".to_string(), alert.rule.clone()),
        ("park".to_string(), alert.park_id.clone()),
        ("severity".to_string(), severity.to_string()),
        ("source".to_string(), "greenmon".to_string()),
    ]);
    // An empty label is no label in Alertmanager; park-wide alerts simply lack these.
    if !alert.point_id.is_empty() {
        labels.insert("point".into(), alert.point_id.clone());
    }
    if !alert.pollutant.is_empty() {
        labels.insert("pollutant".into(), alert.pollutant.clone());
    }
    let mut annotations = BTreeMap::from([
        ("summary".to_string(), alert.summary.clone()),
        ("summary_zh".to_string(), alert.summary_zh.clone()),
        ("description".to_string(), alert.description.clone()),
        ("description_zh".to_string(), alert.description_zh.clone()),
        ("dashboard".to_string(), dashboard_url.to_string()),
        ("greenmon_alert_id".to_string(), alert.id.to_string()),
    ]);
    if let Some(by) = &alert.acked_by {
        annotations.insert("acknowledged_by".into(), by.clone());
    }
    AmAlert {
        labels,
        annotations,
        starts_at: alert.fired_at.unwrap_or(alert.active_since),
        ends_at,
        generator_url: dashboard_url.to_string(),
    }
}

/// The Alertmanager alerts a notification posts. A firing alert ends `hold` from now unless
/// re-posted (as Alertmanager expects of its clients); a resolved one ends when it resolved.
/// An escalation changes the `severity` label, which Alertmanager treats as a new alert: the
/// old one is ended at the same time.
pub fn am_alerts_for(n: &Notification, now: DateTime<Utc>, hold: chrono::Duration) -> Vec<AmAlert> {
    let a = &n.alert;
    let url = &n.dashboard_url;
    match n.event.as_str() {
        "resolved" => vec![am_alert(a, &a.severity, url, a.resolved_at.unwrap_or(now))],
        "escalated" if n.previous_severity != a.severity => vec![
            am_alert(a, &n.previous_severity, url, now),
            am_alert(a, &a.severity, url, now + hold),
        ],
        _ => vec![am_alert(a, &a.severity, url, now + hold)],
    }
}

/// Posts alerts to Alertmanager's `/api/v2/alerts`.
///
/// # Errors
/// [`NotifyError`], classified as for webhooks.
pub async fn post_alertmanager(
    http: &reqwest::Client,
    base_url: &str,
    alerts: &[AmAlert],
    timeout: Duration,
) -> Result<(), NotifyError> {
    let url = format!("{}/api/v2/alerts", base_url.trim_end_matches('/'));
    let resp = http
        .post(&url)
        .timeout(timeout)
        .json(alerts)
        .send()
        .await
        .map_err(|e| NotifyError::Transient(format!("alertmanager: {e}")))?;
    check(resp, "alertmanager").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        use reqwest::StatusCode as S;
        for (status, transient) in [
            (S::INTERNAL_SERVER_ERROR, true),
            (S::BAD_GATEWAY, true),
            (S::SERVICE_UNAVAILABLE, true),
            (S::REQUEST_TIMEOUT, true),
            (S::TOO_MANY_REQUESTS, true),
            (S::BAD_REQUEST, false),
            (S::UNAUTHORIZED, false),
            (S::NOT_FOUND, false),
            (S::UNPROCESSABLE_ENTITY, false),
        ] {
            let e = NotifyError::from_status(status, String::new());
            assert_eq!(e.is_transient(), transient, "{status}");
        }
    }

    #[test]
    fn signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently with:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'key-of-sixteen-chars'
        let sig = signature(b"key-of-sixteen-chars", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            sig,
            "sha256=83da986b13614c0a5976656d090651c6ac5b6cd549670963be6b806aa3cd3c55"
        );
    }
}

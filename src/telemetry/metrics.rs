//! The metrics of one greenmon instance. Names follow `greenmon_<thing>_<unit>_total`; labels
//! stay bounded (reason codes, kinds), never point ids or topics.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

pub const MQTT_MESSAGES_RECEIVED: &str = "greenmon_mqtt_messages_received_total";
pub const MQTT_MESSAGES_ACKED: &str = "greenmon_mqtt_messages_acked_total";
pub const MQTT_ACKS_DROPPED: &str = "greenmon_mqtt_stale_acks_dropped_total";
pub const MQTT_CONNECTED: &str = "greenmon_mqtt_connected";
pub const MQTT_CONNECTIONS: &str = "greenmon_mqtt_connections_total";
pub const MESSAGES_STORED: &str = "greenmon_messages_stored_total";
pub const QUARANTINED: &str = "greenmon_quarantined_messages_total";
pub const READINGS_STORED: &str = "greenmon_readings_stored_total";
pub const READINGS_DUPLICATE: &str = "greenmon_readings_duplicate_total";
pub const READINGS_CORRECTED: &str = "greenmon_readings_corrected_total";
pub const READINGS_OVERRULED: &str = "greenmon_readings_overruled_total";
pub const ENERGY_REPORTS_STORED: &str = "greenmon_energy_reports_stored_total";
pub const UNACKED: &str = "greenmon_unacked_messages";
pub const BATCH_ROWS: &str = "greenmon_batch_rows";
pub const BATCH_COMMIT_SECONDS: &str = "greenmon_batch_commit_seconds";
pub const COMMIT_RETRIES: &str = "greenmon_db_commit_retries_total";
pub const INGEST_LAG_SECONDS: &str = "greenmon_ingest_lag_seconds";
pub const HJ212_ANSWERS: &str = "greenmon_hj212_answers_sent_total";
pub const HJ212_IGNORED: &str = "greenmon_hj212_ignored_packets_total";
pub const HJ212_CONNECTIONS: &str = "greenmon_hj212_connections";
pub const HJ212_ANSWER_SECONDS: &str = "greenmon_hj212_answer_seconds";
pub const HJ212_SPLIT_GAPS: &str = "greenmon_hj212_split_gaps_total";
pub const HJ212_CONNECTIONS_CLOSED: &str = "greenmon_hj212_connections_closed_total";
pub const HJ212_CONNECTIONS_REFUSED: &str = "greenmon_hj212_connections_refused_total";
pub const HJ212_CONNECTION_CAP: &str = "greenmon_hj212_connection_cap";
pub const HJ212_REQUESTS: &str = "greenmon_hj212_requests_total";
pub const HJ212_REQUEST_OUTCOMES: &str = "greenmon_hj212_request_outcomes_total";
pub const HJ212_RECOVERED_READINGS: &str = "greenmon_hj212_recovered_readings_total";
pub const HJ212_REQUESTER_EVENTS_DROPPED: &str = "greenmon_hj212_requester_events_dropped_total";
pub const INGEST_QUEUE_FULL: &str = "greenmon_ingest_queue_full_total";
pub const MQTT_QUEUE_STALLS: &str = "greenmon_mqtt_queue_stalls_total";
pub const ALERT_ANNOUNCEMENTS_DROPPED: &str = "greenmon_alert_announcements_dropped_total";
pub const ROLLUP_FOLDED: &str = "greenmon_rollup_readings_folded_total";
pub const ROLLUP_FOLD_SECONDS: &str = "greenmon_rollup_fold_seconds";
pub const ROLLUP_FOLD_FAILURES: &str = "greenmon_rollup_fold_failures_total";
pub const ROLLUP_SET_ASIDE: &str = "greenmon_rollup_set_aside";
pub const ALERTS_FIRING: &str = "greenmon_alerts_firing";
pub const NOTIFICATIONS: &str = "greenmon_notifications_total";
pub const OUTBOX_PENDING: &str = "greenmon_notification_outbox_pending";
pub const OUTBOX_DEAD: &str = "greenmon_notification_outbox_dead";
pub const OUTBOX_OLDEST_SECONDS: &str = "greenmon_notification_outbox_oldest_pending_seconds";
pub const ALERT_LEADER: &str = "greenmon_alert_leader";
pub const ALERT_EVALUATIONS: &str = "greenmon_alert_evaluations_total";
pub const ALERT_EVALUATION_FAILURES: &str = "greenmon_alert_evaluation_failures_total";
pub const ALERT_EVALUATION_SECONDS: &str = "greenmon_alert_evaluation_seconds";

/// Every metric greenmon exports, registered in its own [`Registry`].
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub mqtt_received: IntCounter,
    pub mqtt_acked: IntCounter,
    pub mqtt_acks_dropped: IntCounter,
    pub mqtt_connected: IntGauge,
    pub mqtt_connections: IntCounter,
    pub messages_stored: IntCounter,
    pub quarantined: IntCounterVec,
    pub readings_stored: IntCounter,
    pub readings_duplicate: IntCounter,
    pub readings_corrected: IntCounter,
    pub readings_overruled: IntCounter,
    pub energy_reports_stored: IntCounter,
    pub unacked: IntGauge,
    pub batch_rows: Histogram,
    pub batch_commit_seconds: Histogram,
    pub commit_retries: IntCounter,
    pub ingest_lag_seconds: Histogram,
    pub hj212_answers: IntCounter,
    /// From an HJ 212 frame read off its connection to its answer queued for writing.
    pub hj212_answer_seconds: Histogram,
    pub hj212_ignored: IntCounter,
    pub hj212_connections: IntGauge,
    pub hj212_split_gaps: IntCounter,
    /// Logger connections greenmon closed, by reason (idle, write_timeout, answers_full).
    pub hj212_connections_closed: IntCounterVec,
    /// Loggers accepted and closed at once because `hj212.max_connections` were connected.
    pub hj212_connections_refused: IntCounter,
    /// The cap in force (`hj212.max_connections`, or the one derived from the open-file limit).
    pub hj212_connection_cap: IntGauge,
    /// Requests sent to loggers (history, clock), by CN.
    pub hj212_requests: IntCounterVec,
    /// Requests finished, by outcome (recovered, no_data, rejected, failed, timed_out, done).
    pub hj212_request_outcomes: IntCounterVec,
    /// Readings stored from the loggers' answers to history requests.
    pub hj212_recovered_readings: IntCounter,
    /// Logger replies and connections the requester's full queue could not take.
    pub hj212_requester_events_dropped: IntCounter,
    /// Times a source found its queue to the batcher full and waited, by source (mqtt, tcp).
    pub ingest_queue_full: IntCounterVec,
    /// Broker connections dropped because the MQTT queue stayed full for a keep-alive.
    pub mqtt_queue_stalls: IntCounter,
    /// Exceedance announcements of the fast path dropped because its queue was full.
    pub alert_announcements_dropped: IntCounter,
    pub rollup_readings_folded: IntCounter,
    pub rollup_fold_seconds: Histogram,
    pub rollup_fold_failures: IntCounter,
    /// Series-hours the fold could not add to the rollups (`rollup_set_aside`).
    pub rollup_set_aside: IntGauge,
    pub alerts_firing: IntGaugeVec,
    pub notifications: IntCounterVec,
    pub outbox_pending: IntGauge,
    pub outbox_dead: IntGauge,
    pub outbox_oldest_seconds: Gauge,
    pub alert_leader: IntGauge,
    pub alert_evaluations: IntCounter,
    /// Evaluation steps that failed (and were skipped), by step.
    pub alert_evaluation_failures: IntCounterVec,
    pub alert_evaluation_seconds: Histogram,
}

impl Metrics {
    /// Creates and registers every metric.
    ///
    /// # Panics
    /// Never in practice: names are constants, unique and valid (checked by a unit test).
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric name");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric name");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric name");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric name");
            g
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("valid metric name");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric name");
            h
        };
        let quarantined = IntCounterVec::new(
            Opts::new(QUARANTINED, "Messages quarantined, by reason code."),
            &["reason"],
        )
        .expect("valid metric name");
        registry
            .register(Box::new(quarantined.clone()))
            .expect("unique metric name");
        let alerts_firing = IntGaugeVec::new(
            Opts::new(
                ALERTS_FIRING,
                "Firing alerts, by rule and severity (on the leader).",
            ),
            &["rule", "severity"],
        )
        .expect("valid metric name");
        registry
            .register(Box::new(alerts_firing.clone()))
            .expect("unique metric name");
        let alert_evaluation_failures = IntCounterVec::new(
            Opts::new(
                ALERT_EVALUATION_FAILURES,
                "Alert evaluation steps that failed and were skipped, by step (parks, exceedances, \
                 rates, energy, energy_reports, fast_path, apply); the other rules went on.",
            ),
            &["step"],
        )
        .expect("valid metric name");
        registry
            .register(Box::new(alert_evaluation_failures.clone()))
            .expect("unique metric name");
        let notifications = IntCounterVec::new(
            Opts::new(
                NOTIFICATIONS,
                "Notification attempts, by notifier (alertmanager, webhook) and outcome \
                 (delivered, retry, dead, reposted, repost_failed).",
            ),
            &["notifier", "outcome"],
        )
        .expect("valid metric name");
        registry
            .register(Box::new(notifications.clone()))
            .expect("unique metric name");
        let counter_vec = |name: &str, help: &str, label: &str| {
            let c = IntCounterVec::new(Opts::new(name, help), &[label]).expect("valid metric name");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric name");
            c
        };
        let hj212_connections_closed = counter_vec(
            HJ212_CONNECTIONS_CLOSED,
            "HJ 212 logger connections closed by greenmon, by reason (idle, write_timeout, \
             answers_full).",
            "reason",
        );
        let hj212_requests = counter_vec(
            HJ212_REQUESTS,
            "HJ 212 requests sent to data loggers (history CN 2051/2061/2031, clock 1011/1012), \
             by CN; retries included.",
            "cn",
        );
        let hj212_request_outcomes = counter_vec(
            HJ212_REQUEST_OUTCOMES,
            "HJ 212 requests finished, by outcome (recovered, no_data, rejected, failed, \
             timed_out, done).",
            "outcome",
        );
        let ingest_queue_full = counter_vec(
            INGEST_QUEUE_FULL,
            "Times a source found its queue to the batcher full and waited, by source (mqtt, tcp).",
            "source",
        );
        let outbox_oldest_seconds = Gauge::new(
            OUTBOX_OLDEST_SECONDS,
            "Age of the oldest undelivered notification (on the leader).",
        )
        .expect("valid metric name");
        registry
            .register(Box::new(outbox_oldest_seconds.clone()))
            .expect("unique metric name");
        Self {
            rollup_readings_folded: counter(
                ROLLUP_FOLDED,
                "Readings folded from the pending table into the hourly rollups (plain PostgreSQL).",
            ),
            rollup_fold_seconds: histogram(
                ROLLUP_FOLD_SECONDS,
                "Time of one periodic fold of the pending rollups.",
                prometheus::exponential_buckets(0.0005, 3.0, 12).expect("valid buckets"),
            ),
            rollup_fold_failures: counter(
                ROLLUP_FOLD_FAILURES,
                "Periodic folds that failed (retried at the next tick).",
            ),
            alerts_firing,
            notifications,
            outbox_pending: gauge(OUTBOX_PENDING, "Notifications waiting for delivery (on the leader)."),
            outbox_dead: gauge(OUTBOX_DEAD, "Notifications dead-lettered after their last attempt."),
            outbox_oldest_seconds,
            alert_leader: gauge(ALERT_LEADER, "1 while this instance evaluates alerts and notifies."),
            alert_evaluations: counter(ALERT_EVALUATIONS, "Alert evaluations written (periodic and fast path)."),
            alert_evaluation_failures,
            alert_evaluation_seconds: histogram(
                ALERT_EVALUATION_SECONDS,
                "Time to write one alert evaluation.",
                prometheus::exponential_buckets(0.001, 3.0, 10).expect("valid buckets"),
            ),
            mqtt_received: counter(MQTT_MESSAGES_RECEIVED, "MQTT messages received from the broker."),
            mqtt_acked: counter(MQTT_MESSAGES_ACKED, "MQTT messages acknowledged after commit."),
            mqtt_acks_dropped: counter(
                MQTT_ACKS_DROPPED,
                "Acks dropped because the connection they belonged to is gone (the broker redelivers).",
            ),
            mqtt_connected: gauge(MQTT_CONNECTED, "1 while connected to the broker."),
            mqtt_connections: counter(MQTT_CONNECTIONS, "Successful broker connections (CONNACK)."),
            messages_stored: counter(MESSAGES_STORED, "Messages committed as readings or reports."),
            quarantined,
            readings_stored: counter(READINGS_STORED, "Reading rows inserted."),
            readings_duplicate: counter(
                READINGS_DUPLICATE,
                "Readings already stored (redelivery or duplicates), skipped.",
            ),
            readings_corrected: counter(
                READINGS_CORRECTED,
                "Stored readings replaced by a different version (the old one kept as a revision).",
            ),
            readings_overruled: counter(
                READINGS_OVERRULED,
                "Readings that differed from a stored bureau correction and were kept as overruled revisions.",
            ),
            energy_reports_stored: counter(ENERGY_REPORTS_STORED, "Energy reports stored or updated."),
            unacked: gauge(UNACKED, "Messages received and not yet acknowledged."),
            batch_rows: histogram(
                BATCH_ROWS,
                "Rows per committed batch.",
                prometheus::exponential_buckets(1.0, 4.0, 9).expect("valid buckets"),
            ),
            batch_commit_seconds: histogram(
                BATCH_COMMIT_SECONDS,
                "Time to write and commit one batch.",
                prometheus::exponential_buckets(0.0005, 2.5, 12).expect("valid buckets"),
            ),
            commit_retries: counter(COMMIT_RETRIES, "Batch commits retried after a database error."),
            ingest_lag_seconds: histogram(
                INGEST_LAG_SECONDS,
                "Delay from a reading's own time to its commit.",
                prometheus::exponential_buckets(0.01, 3.0, 12).expect("valid buckets"),
            ),
            hj212_answers: counter(HJ212_ANSWERS, "HJ 212 answers (9014, 9011) sent to loggers."),
            hj212_answer_seconds: histogram(
                HJ212_ANSWER_SECONDS,
                "From an HJ 212 frame read off its connection to its answer queued for writing (commit included).",
                vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0],
            ),
            hj212_ignored: counter(
                HJ212_IGNORED,
                "HJ 212 packets accepted with nothing to store (commands greenmon does not use).",
            ),
            hj212_connections: gauge(HJ212_CONNECTIONS, "Data loggers connected over TCP."),
            rollup_set_aside: gauge(
                ROLLUP_SET_ASIDE,
                "Series-hours set aside because their fold failed (table rollup_set_aside).",
            ),
            hj212_split_gaps: counter(
                HJ212_SPLIT_GAPS,
                "Split HJ 212 uploads whose parts did not all arrive in time.",
            ),
            hj212_connections_closed,
            hj212_connections_refused: counter(
                HJ212_CONNECTIONS_REFUSED,
                "HJ 212 loggers accepted and closed at once because the connection cap was reached.",
            ),
            hj212_connection_cap: gauge(
                HJ212_CONNECTION_CAP,
                "Loggers the HJ 212 listener holds at once (hj212.max_connections).",
            ),
            hj212_requests,
            hj212_request_outcomes,
            hj212_recovered_readings: counter(
                HJ212_RECOVERED_READINGS,
                "Readings stored from data loggers' answers to history requests.",
            ),
            hj212_requester_events_dropped: counter(
                HJ212_REQUESTER_EVENTS_DROPPED,
                "Logger replies and connections dropped because the HJ 212 requester's queue was \
                 full (the request times out and is retried).",
            ),
            ingest_queue_full,
            mqtt_queue_stalls: counter(
                MQTT_QUEUE_STALLS,
                "Broker connections dropped because the ingest queue stayed full for a keep-alive \
                 (the broker redelivers).",
            ),
            alert_announcements_dropped: counter(
                ALERT_ANNOUNCEMENTS_DROPPED,
                "Exceedance announcements dropped because the fast path's queue was full (the \
                 periodic evaluation covers them).",
            ),
            registry,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_and_renders() {
        let m = Metrics::new();
        m.quarantined.with_label_values(&["invalid_json"]).inc();
        m.mqtt_received.inc();
        let text = m.render();
        assert!(text.contains("greenmon_quarantined_messages_total{reason=\"invalid_json\"} 1"));
        assert!(text.contains("greenmon_mqtt_messages_received_total 1"));
        // A second instance has its own registry.
        assert!(!Metrics::new().render().contains("invalid_json"));
    }
}

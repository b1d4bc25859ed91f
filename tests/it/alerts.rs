//! Alerts end to end: a real Prometheus Alertmanager (Debian's prometheus-alertmanager), signed
//! webhooks to a local HTTP receiver with failures, the `greenmon alerts` CLI, and two service
//! processes sharing the evaluator role.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use greenmon::alerts::notify::{DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use greenmon::clock::ManualClock;
use greenmon::config::{Settings, WebhookConfig};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::helpers::{
    env_for, eventually, free_port, greenmon, metric_value, mid_hour_before_now, unique, Publisher,
    ServiceProcess, TestApp, TestDb,
};

const SECRET: &str = "a-test-secret-of-some-length";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
    answered: StatusCode,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Verifies the signature with the shared secret, computed here independently.
    fn signature_ok(&self) -> bool {
        let ts = self.headers[TIMESTAMP_HEADER].to_str().unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        self.headers[SIGNATURE_HEADER].to_str().unwrap() == want
    }
}

#[derive(Default)]
struct ReceiverState {
    requests: Vec<Received>,
    /// Per path: how many requests to fail before answering 200 (`u32::MAX` = always fail).
    fail_first: HashMap<String, u32>,
}

/// A local HTTP receiver of webhooks: records every request, fails as told.
pub(crate) struct Receiver {
    base: String,
    state: Arc<Mutex<ReceiverState>>,
}

impl Receiver {
    pub(crate) async fn start(fail_first: &[(&str, u32)]) -> Self {
        let state = Arc::new(Mutex::new(ReceiverState {
            requests: Vec::new(),
            fail_first: fail_first
                .iter()
                .map(|(p, n)| (p.to_string(), *n))
                .collect(),
        }));
        let app = axum::Router::new()
            .route("/{path}", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, state }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    pub(crate) fn requests(&self, path: &str) -> Vec<Received> {
        let s = self.state.lock().unwrap();
        s.requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    pub(crate) fn webhook(&self, path: &str) -> WebhookConfig {
        WebhookConfig {
            name: path.to_string(),
            url: self.url(path),
            secret: SECRET.to_string().into(),
            min_severity: greenmon::alerts::Severity::Info,
            escalation_only: false,
        }
    }
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let mut s = state.lock().unwrap();
    let left = s.fail_first.get(&path).copied().unwrap_or(0);
    let answered = if path.starts_with("reject") {
        // A receiver that refuses the notification itself: retrying cannot help.
        StatusCode::BAD_REQUEST
    } else if left > 0 {
        if left != u32::MAX {
            s.fail_first.insert(path.clone(), left - 1);
        }
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    s.requests.push(Received {
        path,
        headers,
        body: body.to_vec(),
        answered,
    });
    answered
}

/// A Prometheus Alertmanager of the test's own, on a free loopback port.
struct Alertmanager {
    url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n",
        )
        .unwrap();
        let port = free_port();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager is installed (.ci/run installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let ready = format!("{url}/-/ready");
        eventually(Duration::from_secs(20), "Alertmanager ready", || {
            let ready = ready.clone();
            async move {
                let r = reqwest::get(&ready).await.ok()?;
                r.status().is_success().then_some(())
            }
        })
        .await;
        Self {
            url,
            child,
            _dir: dir,
        }
    }

    /// Alertmanager's own view: active alerts whose labels match `filter` (`name="value"`).
    async fn alerts(&self, filter: &str) -> Vec<Value> {
        let resp = reqwest::Client::new()
            .get(format!("{}/api/v2/alerts", self.url))
            .query(&[("filter", filter)])
            .send()
            .await
            .unwrap();
        resp.json().await.unwrap()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Only `keep` of the rules stays enabled, evaluated every second, resolving at once.
pub(crate) fn only_rules(s: &mut Settings, keep: &[&str]) {
    let r = &mut s.alerts.rules;
    for (name, rule) in [
        ("point_offline", &mut r.point_offline),
        ("park_monitoring_rate", &mut r.park_monitoring_rate),
        ("discharge_exceedance", &mut r.discharge_exceedance),
        ("low_effective_rate", &mut r.low_effective_rate),
        ("energy_off_track", &mut r.energy_off_track),
        ("energy_target_missed", &mut r.energy_target_missed),
        ("energy_report_overdue", &mut r.energy_report_overdue),
    ] {
        rule.enabled = keep.contains(&name);
        rule.for_secs = 0;
    }
    s.alerts.evaluate_interval_secs = 1;
    s.alerts.resolve_after_secs = 0;
}

fn payload(ts: DateTime<Utc>, cod: f64, ph: f64) -> Vec<u8> {
    format!(
        r#"{{"ts":"{}","values":{{"cod":{cod},"ph":{ph}}}}}"#,
        ts.to_rfc3339()
    )
    .into_bytes()
}

/// Publishes a reading of a-out with COD 500 against its upper limit of 50, timed now, and waits
/// for the broker's ack. Its hour's average is above the limit, an exceedance that stays open
/// (the latest exceeding hour) until the end of the next hour.
pub(crate) async fn publish_cod_exceedance(app: &TestApp) {
    publish_cod_exceedance_at(app, Utc::now()).await;
}

/// [`publish_cod_exceedance`] with the reading timed `ts`.
async fn publish_cod_exceedance_at(app: &TestApp, ts: DateTime<Utc>) {
    let mut publisher = Publisher::connect(1883).await;
    publisher
        .publish(&app.topic("park-a", "a-out"), payload(ts, 500.0, 7.0))
        .await;
    publisher.flush().await;
}

/// Waits until the engine has finished `n` more evaluations than `before`, so at least one
/// began after whatever the caller did last (say, moving the clock).
async fn evaluations_after(app: &TestApp, before: u64, n: u64) {
    let metrics = app.registry().clone();
    eventually(Duration::from_secs(30), "alert evaluations", || {
        let done = metrics.alert_evaluations.get();
        async move { (done >= before + n).then_some(()) }
    })
    .await;
}

/// Waits until no notification waits for delivery: each has been delivered or dead-lettered,
/// and its receiver has had the request.
async fn outbox_settled(db: &TestDb) {
    eventually(Duration::from_secs(30), "an idle outbox", || async {
        (db.count("SELECT count(*) FROM notification_outbox WHERE status = 'pending'")
            .await
            == 0)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn alertmanager_shows_a_silent_point_and_its_resolution() {
    let am = Alertmanager::start().await;
    let am_url = am.url.clone();
    let clock = ManualClock::new(mid_hour_before_now());
    // No point counts until a-out has reported, so nothing is offline for never reporting.
    let db = TestDb::new().await;
    sqlx::query("UPDATE monitoring_points SET required = false")
        .execute(&db.pool)
        .await
        .unwrap();
    let app = TestApp::spawn_on(db, 1883, clock.clone(), |s| {
        only_rules(s, &["point_offline"]);
        s.alerts.alertmanager.url = am_url;
        s.alerts.alertmanager.repost_secs = 1;
    })
    .await;
    let db = &app.db;
    let mut publisher = Publisher::connect(1883).await;
    let topic = app.topic("park-a", "a-out");
    publisher
        .publish(&topic, payload(clock.now(), 20.0, 7.0))
        .await;
    publisher.flush().await;
    eventually(Duration::from_secs(30), "a-out's reading stored", || async {
        (db.count("SELECT count(*) FROM point_last_seen WHERE point_id = 'a-out' AND last_valid IS NOT NULL")
            .await
            == 1)
            .then_some(())
    })
    .await;
    // Only a-out counts, and it goes offline 2 s after its last valid reading: 3 s on, it is.
    sqlx::query("UPDATE monitoring_points SET required = (id = 'a-out'), interval_secs = 1, allowed_gap_secs = 2")
        .execute(&db.pool)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3));

    let filter = r#"point="a-out""#;
    let shown = eventually(
        Duration::from_secs(30),
        "the offline alert in Alertmanager",
        || async {
            let alerts = am.alerts(filter).await;
            (!alerts.is_empty()).then_some(alerts)
        },
    )
    .await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    let labels = &shown[0]["labels"];
    assert_eq!(labels["alertname"], "GreenmonPointOffline");
    assert_eq!(labels["rule"], "point_offline");
    assert_eq!(labels["park"], "park-a");
    assert_eq!(labels["point"], "a-out");
    assert_eq!(labels["severity"], "major");
    assert!(labels.get("pollutant").is_none(), "{labels}");
    let ann = &shown[0]["annotations"];
    assert!(ann["summary"].as_str().unwrap().contains("a-out"));
    assert!(ann["summary_zh"].as_str().unwrap().contains("离线"));
    assert!(ann["dashboard"].as_str().unwrap().contains("park-a"));
    assert_eq!(shown[0]["status"]["state"], "active");

    // The point reports again: the alert resolves here and there.
    publisher
        .publish(&topic, payload(clock.now(), 20.0, 7.0))
        .await;
    publisher.flush().await;
    eventually(
        Duration::from_secs(30),
        "the alert resolved in Alertmanager",
        || async { am.alerts(filter).await.is_empty().then_some(()) },
    )
    .await;
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT e.kind FROM alert_events e JOIN alerts a ON a.id = e.alert_id
         WHERE a.point_id = 'a-out' ORDER BY e.id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(events, ["firing", "resolved"]);
    let delivered = db
        .count(
            "SELECT count(*) FROM notification_outbox o JOIN alerts a ON a.id = o.alert_id
             WHERE a.point_id = 'a-out' AND o.receiver = 'alertmanager' AND o.status = 'delivered'",
        )
        .await;
    assert_eq!(delivered, 2);
}

#[tokio::test]
async fn webhooks_are_signed_retried_once_delivered_or_dead_lettered() {
    let receiver = Receiver::start(&[("flaky", 3), ("down", u32::MAX)]).await;
    let hooks = vec![receiver.webhook("flaky"), receiver.webhook("down")];
    let clock = ManualClock::new(mid_hour_before_now());
    let mut app = TestApp::spawn_clocked(1883, clock.clone(), |s| {
        only_rules(s, &["discharge_exceedance"]);
        s.alerts.webhooks = hooks;
        s.alerts.delivery.retry_initial_ms = 100;
        s.alerts.delivery.retry_max_ms = 300;
        s.alerts.delivery.max_attempts = 4;
    })
    .await;
    publish_cod_exceedance_at(&app, clock.now()).await;

    let ok = eventually(
        Duration::from_secs(30),
        "the flaky receiver's success",
        || async {
            let r = receiver.requests("flaky");
            r.iter().any(|r| r.answered == StatusCode::OK).then_some(r)
        },
    )
    .await;
    // Three failures, then one success: the same notification (same delivery id) each time.
    assert_eq!(ok.len(), 4, "{ok:?}");
    let ids: Vec<&str> = ok
        .iter()
        .map(|r| r.headers[DELIVERY_HEADER].to_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(ok.iter().all(Received::signature_ok), "signatures verify");
    let body = ok[3].json();
    assert_eq!(body["version"], "1");
    assert_eq!(body["event"], "firing");
    assert_eq!(body["alert"]["rule"], "discharge_exceedance");
    assert_eq!(body["alert"]["park_id"], "park-a");
    assert_eq!(body["alert"]["point_id"], "a-out");
    assert_eq!(body["alert"]["pollutant"], "w01018");
    assert_eq!(body["alert"]["severity"], "critical");
    assert_eq!(body["alert"]["value"], 500.0);
    assert_eq!(body["alert"]["threshold"], 50.0);

    // The receiver that never answers 200 ends in dead-letter after 4 attempts.
    let dead = eventually(Duration::from_secs(30), "dead-letter", || async {
        let row: Option<(i32, String)> = sqlx::query_as(
            "SELECT attempts, last_error FROM notification_outbox
             WHERE receiver = 'webhook:down' AND status = 'dead'",
        )
        .fetch_optional(&app.db.pool)
        .await
        .unwrap();
        row
    })
    .await;
    assert_eq!(dead.0, 4);
    assert!(dead.1.contains("503"), "{}", dead.1);
    assert_eq!(receiver.requests("down").len(), 4);
    // Both outcomes of the last round are counted once each is recorded, in either order.
    let metrics = eventually(Duration::from_secs(10), "both outcomes counted", || async {
        let m = app.metrics().await;
        let n = |outcome: &str| {
            metric_value(
                &m,
                &format!(
                    r#"greenmon_notifications_total{{notifier="webhook",outcome="{outcome}"}}"#
                ),
            )
        };
        (n("dead") > 0.0 && n("delivered") > 0.0).then_some(m)
    })
    .await;
    assert_eq!(
        metric_value(
            &metrics,
            r#"greenmon_notifications_total{notifier="webhook",outcome="dead"}"#
        ),
        1.0
    );
    assert_eq!(
        metric_value(
            &metrics,
            r#"greenmon_notifications_total{notifier="webhook",outcome="delivered"}"#
        ),
        1.0
    );
    assert_eq!(
        metric_value(
            &metrics,
            r#"greenmon_alerts_firing{rule="discharge_exceedance",severity="critical"}"#
        ),
        1.0
    );

    // Nothing more arrives: exactly once, through two more evaluations and their deliveries.
    evaluations_after(&app, app.registry().alert_evaluations.get(), 2).await;
    outbox_settled(&app.db).await;
    assert_eq!(receiver.requests("flaky").len(), 4);

    // On-call acknowledges from the shell.
    let id: i64 = sqlx::query_scalar("SELECT id FROM alerts WHERE state = 'firing'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let cli = |args: &[&str]| {
        greenmon(&app.db.name)
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let out = cli(&[
        "alerts",
        "ack",
        &id.to_string(),
        "--by",
        "alice",
        "--comment",
        "on site",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = cli(&["alerts", "list", "--format", "json"]);
    let rows: Vec<Value> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["acked_by"], "alice");
    assert_eq!(rows[0]["ack_comment"], "on site");
    let again = cli(&["alerts", "ack", &id.to_string(), "--by", "bob"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already acknowledged by alice"));
    let missing = cli(&["alerts", "ack", "999999", "--by", "bob"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no alert 999999"));
    let bad_rule = cli(&["alerts", "list", "--rule", "nonsense"]);
    assert!(!bad_rule.status.success());
    assert!(String::from_utf8_lossy(&bad_rule.stderr).contains("unknown rule"));
    app.shutdown().await;
}

/// Config file of a service process: evaluator timing, the webhook, only the exceedance rule.
fn failover_config(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("greenmon.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[alerts]
evaluate_interval_secs = 1
resolve_after_secs = 0
leader_poll_ms = 200

[[alerts.webhooks]]
name = "oncall"
url = "{url}"
secret = "{SECRET}"

[alerts.rules.point_offline]
enabled = false
[alerts.rules.park_monitoring_rate]
enabled = false
[alerts.rules.low_effective_rate]
enabled = false
[alerts.rules.energy_off_track]
enabled = false
[alerts.rules.energy_target_missed]
enabled = false
[alerts.rules.energy_report_overdue]
enabled = false
"#
        ),
    )
    .unwrap();
    path
}

async fn metric_of(port: u16, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(metric_value(&text, name))
}

#[tokio::test]
async fn a_standby_takes_over_and_each_transition_is_notified_once() {
    let db = TestDb::new().await;
    let receiver = Receiver::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = failover_config(dir.path(), &receiver.url("oncall"));
    let prefix = format!("t/{}", unique("p"));
    let start = |port: u16| {
        let mut env = env_for(&db.name, 1883, &prefix, &unique("gm"));
        env.push(("GREENMON__HTTP__LISTEN".into(), format!("127.0.0.1:{port}")));
        env.push(("GREENMON_CONFIG".into(), config.display().to_string()));
        ServiceProcess::start(&env)
    };
    let (port_a, port_b) = (free_port(), free_port());
    let a = start(port_a);
    eventually(Duration::from_secs(30), "instance A leading", || async {
        (metric_of(port_a, "greenmon_alert_leader").await? == 1.0).then_some(())
    })
    .await;
    let b = start(port_b);
    eventually(
        Duration::from_secs(30),
        "instance B up as a standby",
        || async { (metric_of(port_b, "greenmon_alert_leader").await? == 0.0).then_some(()) },
    )
    .await;
    // Both instances ingest (their own MQTT sessions); the primary key absorbs the repeats.
    crate::helpers::wait_subscribed(&db.pool, 1883, &prefix).await;
    // The service processes run on the system clock: every reading is timed in one hour, which
    // stays open (the latest exceeding hour) for the rest of the test.
    let at = mid_hour_before_now();
    let topic = format!("{prefix}/parks/park-a/points/a-out/readings");
    let mut publisher = Publisher::connect(1883).await;

    // COD above its limit: A notifies.
    publisher.publish(&topic, payload(at, 500.0, 7.0)).await;
    publisher.flush().await;
    let firing = |pollutant: &'static str| {
        let receiver = &receiver;
        move || async move {
            receiver
                .requests("oncall")
                .iter()
                .any(|r| {
                    let j = r.json();
                    j["event"] == "firing" && j["alert"]["pollutant"] == pollutant
                })
                .then_some(())
        }
    };
    eventually(Duration::from_secs(30), "COD firing", firing("w01018")).await;

    // pH below its lower limit, and the leader killed once the reading is stored, while the
    // exceedance it announced is being evaluated.
    let ph_at = at + chrono::Duration::seconds(1);
    publisher.publish(&topic, payload(ph_at, 20.0, 3.0)).await;
    publisher.flush().await;
    eventually(Duration::from_secs(30), "the pH reading stored", || async {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM readings WHERE point_id = 'a-out' AND pollutant = 'w01001' AND time = $1",
        )
        .bind(ph_at)
        .fetch_one(&db.pool)
        .await
        .unwrap();
        (n > 0).then_some(())
    })
    .await;
    a.kill9();
    let killed = Instant::now();
    eventually(Duration::from_secs(30), "instance B leading", || async {
        (metric_of(port_b, "greenmon_alert_leader").await? == 1.0).then_some(())
    })
    .await;
    let takeover = killed.elapsed();
    assert!(
        takeover < Duration::from_secs(10),
        "took over in {takeover:?}"
    );
    eventually(Duration::from_secs(30), "pH firing", firing("w01001")).await;

    // Normal readings earlier in the hour bring both hourly averages back within limits.
    for i in 1..=30 {
        publisher
            .publish(
                &topic,
                payload(at - chrono::Duration::seconds(i), 10.0, 7.5),
            )
            .await;
    }
    publisher.flush().await;
    eventually(Duration::from_secs(30), "both resolved", || async {
        let n = receiver
            .requests("oncall")
            .iter()
            .filter(|r| r.json()["event"] == "resolved")
            .count();
        (n >= 2).then_some(())
    })
    .await;
    // Let any repeat show: B evaluates twice more and delivers everything it queued.
    let evaluations = "greenmon_alert_evaluations_total";
    let before = metric_of(port_b, evaluations).await.unwrap();
    eventually(
        Duration::from_secs(30),
        "two more evaluations on B",
        || async { (metric_of(port_b, evaluations).await? >= before + 2.0).then_some(()) },
    )
    .await;
    outbox_settled(&db).await;

    // Every transition once in alert_events, and each notified exactly once.
    let transitions: Vec<(i64, String)> = sqlx::query_as(
        "SELECT alert_id, kind FROM alert_events WHERE kind IN ('firing', 'resolved') ORDER BY id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(transitions.len(), 4, "{transitions:?}");
    // A leader killed between a receiver's answer and recording it leaves that notification to
    // be sent again by the next leader, with the same delivery id: receivers deduplicate on it.
    let mut by_delivery: HashMap<String, (i64, String)> = HashMap::new();
    for r in receiver.requests("oncall") {
        let j = r.json();
        let transition = (
            j["alert"]["id"].as_i64().unwrap(),
            j["event"].as_str().unwrap().to_string(),
        );
        let id = r.headers[DELIVERY_HEADER].to_str().unwrap().to_string();
        let before = by_delivery.insert(id, transition.clone());
        assert!(
            before.is_none() || before == Some(transition),
            "one delivery id, one transition"
        );
    }
    let mut seen: Vec<(i64, String)> = by_delivery.into_values().collect();
    seen.sort();
    let mut want = transitions.clone();
    want.sort();
    assert_eq!(
        seen, want,
        "each transition notified once (per delivery id)"
    );
    assert!(b.terminate(), "the standby shut down cleanly");
}

#[tokio::test]
async fn escalation_adds_the_pager_and_acknowledgement_stops_renotification() {
    let receiver = Receiver::start(&[]).await;
    let mut pager = receiver.webhook("pager");
    pager.escalation_only = true;
    let hooks = vec![receiver.webhook("all"), pager];
    let clock = ManualClock::new(mid_hour_before_now());
    let mut app = TestApp::spawn_clocked(1883, clock.clone(), |s| {
        only_rules(s, &["discharge_exceedance"]);
        s.alerts.rules.discharge_exceedance.severity = greenmon::alerts::Severity::Warning;
        s.alerts.renotify_secs = 1;
        s.alerts.escalate_after_secs = 2;
        s.alerts.escalate_severity = greenmon::alerts::Severity::Critical;
        s.alerts.webhooks = hooks;
    })
    .await;
    publish_cod_exceedance_at(&app, clock.now()).await;
    let events = |path: &str| -> Vec<(String, String, String)> {
        receiver
            .requests(path)
            .iter()
            .map(|r| {
                let j = r.json();
                (
                    j["event"].as_str().unwrap().to_string(),
                    j["alert"]["severity"].as_str().unwrap().to_string(),
                    j["previous_severity"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    // It fires, and while the clock stands still nothing else happens to it.
    eventually(Duration::from_secs(30), "the firing", || async {
        (!events("all").is_empty()).then_some(())
    })
    .await;
    // Unacknowledged 2 s after firing, it escalates.
    clock.advance(Duration::from_secs(2));
    let pager_events = eventually(Duration::from_secs(30), "the escalation", || async {
        let e = events("pager");
        (!e.is_empty()).then_some(e)
    })
    .await;
    // The pager hears of the alert only from its escalation on.
    assert_eq!(
        pager_events[0],
        ("escalated".into(), "critical".into(), "warning".into())
    );
    let all = events("all");
    assert_eq!(
        all[0],
        ("firing".into(), "warning".into(), "warning".into())
    );
    assert!(all.contains(&("escalated".into(), "critical".into(), "warning".into())));
    // Unacknowledged, it is re-notified (every second here) to both.
    clock.advance(Duration::from_secs(1));
    eventually(
        Duration::from_secs(20),
        "re-notification to the pager",
        || async {
            events("pager")
                .iter()
                .any(|e| e.0 == "renotified")
                .then_some(())
        },
    )
    .await;

    let id: i64 = sqlx::query_scalar("SELECT id FROM alerts WHERE state = 'firing'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let acked = greenmon::store::alerts::acknowledge(&app.db.pool, id, "bob", None)
        .await
        .unwrap();
    assert!(matches!(
        acked,
        greenmon::store::alerts::AckOutcome::Acknowledged(_)
    ));
    // The clock stood still since the re-notification, so no evaluation under way could
    // re-notify. Long past several re-notification periods on, silence.
    outbox_settled(&app.db).await;
    let settled = receiver.requests("all").len();
    clock.advance(Duration::from_secs(10));
    evaluations_after(&app, app.registry().alert_evaluations.get(), 2).await;
    outbox_settled(&app.db).await;
    assert_eq!(
        receiver.requests("all").len(),
        settled,
        "acknowledged: no more re-notification"
    );
    let state: String = sqlx::query_scalar("SELECT state FROM alerts WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        state, "firing",
        "acknowledged alerts still fire until they resolve"
    );
    app.shutdown().await;
}

/// A logger re-sends the exceeding reading corrected (COD 30, within the limit): the rollup
/// follows the correction, and the open exceedance alert resolves at the next evaluation.
#[tokio::test]
async fn a_corrected_reading_resolves_its_exceedance() {
    let clock = ManualClock::new(mid_hour_before_now());
    let mut app = TestApp::spawn_clocked(1883, clock.clone(), |s| {
        only_rules(s, &["discharge_exceedance"]);
    })
    .await;
    let ts = clock.now();
    publish_cod_exceedance_at(&app, ts).await;
    let state = |db: &TestDb| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT state FROM alerts WHERE rule = 'discharge_exceedance'",
            )
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };
    eventually(Duration::from_secs(30), "the firing", || async {
        (state(&app.db).await.as_deref() == Some("firing")).then_some(())
    })
    .await;

    let mut publisher = Publisher::connect(1883).await;
    publisher
        .publish(&app.topic("park-a", "a-out"), payload(ts, 30.0, 7.0))
        .await;
    publisher.flush().await;
    eventually(Duration::from_secs(30), "the correction stored", || async {
        (app.db
            .count("SELECT count(*) FROM reading_revisions WHERE outcome = 'replaced'")
            .await
            == 1)
            .then_some(())
    })
    .await;
    let before = app.registry().alert_evaluations.get();
    clock.advance(Duration::from_secs(1));
    evaluations_after(&app, before, 1).await;
    eventually(Duration::from_secs(30), "the resolution", || async {
        (state(&app.db).await.as_deref() == Some("resolved")).then_some(())
    })
    .await;
    assert_eq!(
        app.db
            .count("SELECT count(*) FROM readings WHERE value = 30 AND pollutant = 'w01018'")
            .await,
        1
    );
    app.shutdown().await;
}

//! HJ 212 both ways, end to end: greenmon finds the hours a required point is missing, asks the
//! connected logger for them (CN 2061), and the data the logger uploads take the normal path.
//! The loggers are `greenmon simulate --hj212-tcp`, the real binary, with their history buffers
//! and failure modes; the service and the database are real.

use std::process::{Child, Stdio};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use greenmon::clock::Clock;

use crate::helpers::{eventually, greenmon, run_ok, TestApp, TestDb, TEST_REGISTRY};

/// A test database where a-out (MN AAAA…A) is park-a's only required point, owing hours from
/// yesterday 00:00 Beijing time, and holding every hour up to the current one but yesterday's
/// 10:00-13:00 (a 3-hour outage). Returns the database and yesterday's date.
async fn outage_db() -> (TestDb, NaiveDate) {
    let db = TestDb::new().await;
    let today = Utc::now().with_timezone(&Shanghai).date_naive();
    let yesterday = today.pred_opt().unwrap();
    let start = Shanghai
        .from_local_datetime(&yesterday.and_hms_opt(0, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc);
    sqlx::query("UPDATE monitoring_points SET required = false WHERE id = 'a-in'")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE monitoring_points SET monitored_since = $1 WHERE id = 'a-out'")
        .bind(start)
        .execute(&db.pool)
        .await
        .unwrap();
    let now_hour = greenmon::compliance::service::floor_hour(Utc::now());
    let mut csv = String::from("time,point,pollutant,value,kind\n");
    let mut h = start;
    while h < now_hour {
        let local = h.with_timezone(&Shanghai);
        let outage =
            local.date_naive() == yesterday && (10..13).contains(&chrono::Timelike::hour(&local));
        if !outage {
            csv.push_str(&format!("{},a-out,cod,20.5,hour\n", h.to_rfc3339()));
        }
        h += chrono::Duration::hours(1);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.csv");
    std::fs::write(&file, csv).unwrap();
    let name = db.name.clone();
    tokio::task::spawn_blocking(move || {
        run_ok(greenmon(&name).args(["import", "readings", file.to_str().unwrap()]))
    })
    .await
    .unwrap();
    (db, yesterday)
}

/// greenmon with the TCP listener on and the requester quick to ask.
async fn recovery_app(db: TestDb) -> TestApp {
    recovery_app_with(db, |_| {}).await
}

async fn recovery_app_with(
    db: TestDb,
    tweak: impl FnOnce(&mut greenmon::config::Settings),
) -> TestApp {
    TestApp::spawn_on(db, 1883, Clock::System, |s| {
        s.hj212.listen = "127.0.0.1:0".into();
        s.hj212.recovery.scan_days = 2;
        s.hj212.recovery.spacing_secs = 1;
        s.hj212.recovery.answer_timeout_secs = 10;
        s.hj212.recovery.exec_timeout_secs = 30;
        tweak(s);
    })
    .await
}

/// The simulated loggers of park-a (a-out only) connected to `app`, with `extra` flags. Killed
/// when dropped.
struct Loggers(Child);

impl Loggers {
    fn start(app: &TestApp, dir: &tempfile::TempDir, extra: &[&str]) -> Self {
        let registry = dir.path().join("registry.toml");
        std::fs::write(&registry, TEST_REGISTRY).unwrap();
        let addr = app.app.as_ref().unwrap().hj212_addr.unwrap().to_string();
        let log = std::env::var("TEST_LOG").is_ok();
        let child: Child = greenmon(&app.db.name)
            .args(["simulate", "--registry", registry.to_str().unwrap()])
            .args(["--parks", "park-a", "--hj212-tcp", &addr])
            .args(if extra.contains(&"--every") {
                &[][..]
            } else {
                &["--every", "5"][..]
            })
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(if log { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .unwrap();
        Self(child)
    }
}

impl Drop for Loggers {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Park-a's transmission rate on `day`.
async fn day_rate(app: &TestApp, day: NaiveDate) -> Option<f64> {
    let rates = greenmon::compliance::service::rates(
        &app.db.pool,
        Shanghai,
        Some("park-a"),
        day,
        day,
        Utc::now(),
    )
    .await
    .unwrap();
    rates[0].transmission
}

/// The requests for a-out: (cn, begin, end, status, qn_rtn, exe_rtn, recovered).
type RequestRow = (
    String,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    String,
    Option<i32>,
    Option<i32>,
    Option<i32>,
);

async fn finished_requests(app: &TestApp) -> Vec<RequestRow> {
    sqlx::query_as(
        "SELECT cn, begin_time, end_time, status, qn_rtn, exe_rtn, recovered FROM hj212_requests
         WHERE point_id = 'a-out' AND status NOT IN ('queued', 'sent') ORDER BY id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap()
}

/// The outcome of a-out's request, once it has one: (status, qn_rtn, exe_rtn, recovered). It
/// must be the only request, asking for the outage's hours as hourly data.
async fn outage_outcome(
    app: &TestApp,
    day: NaiveDate,
) -> (String, Option<i32>, Option<i32>, Option<i32>) {
    let requests = eventually(Duration::from_secs(60), "the request's outcome", || async {
        let r = finished_requests(app).await;
        (!r.is_empty()).then_some(r)
    })
    .await;
    let (from, to) = outage(day);
    let [(cn, begin, end, status, qn_rtn, exe_rtn, recovered)] = &requests[..] else {
        panic!("one request expected: {requests:?}");
    };
    assert_eq!((cn.as_str(), *begin, *end), ("2061", Some(from), Some(to)));
    (status.clone(), *qn_rtn, *exe_rtn, *recovered)
}

fn outage(day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let at = |h| {
        Shanghai
            .from_local_datetime(&day.and_hms_opt(h, 0, 0).unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    (at(10), at(13))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_hour_outage_is_recovered_and_the_day_is_whole_again() {
    let (db, yesterday) = outage_db().await;
    let mut app = recovery_app(db).await;
    assert_eq!(day_rate(&app, yesterday).await, Some(21.0 / 24.0));
    let dir = tempfile::tempdir().unwrap();
    let _loggers = Loggers::start(&app, &dir, &["--history-hours", "72"]);
    assert_eq!(
        outage_outcome(&app, yesterday).await,
        ("recovered".to_string(), Some(1), Some(1), Some(18)),
        "one request for the three hours; 6 pollutants × 3 hours recovered"
    );
    assert_eq!(day_rate(&app, yesterday).await, Some(1.0));
    // Stored as hourly data through the normal path.
    let hours = app
        .db
        .count(
            "SELECT count(DISTINCT time) FROM readings WHERE kind = 'hour' AND point_id = 'a-out'",
        )
        .await;
    assert!(hours >= 24, "{hours}");
    assert_eq!(app.db.quarantined().await, 0);
    assert_eq!(
        app.metric("greenmon_hj212_recovered_readings_total").await,
        18.0
    );
    assert_eq!(
        app.metric("greenmon_hj212_requests_total{cn=\"2061\"}")
            .await,
        1.0
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logger_without_the_data_answers_exe_rtn_100_and_the_day_stays_short() {
    let (db, yesterday) = outage_db().await;
    let mut app = recovery_app(db).await;
    let dir = tempfile::tempdir().unwrap();
    let _loggers = Loggers::start(&app, &dir, &["--fail", "no-data"]);
    assert_eq!(
        outage_outcome(&app, yesterday).await,
        ("no_data".to_string(), Some(1), Some(100), Some(0))
    );
    assert_eq!(day_rate(&app, yesterday).await, Some(21.0 / 24.0));
    assert_eq!(
        app.metric("greenmon_hj212_request_outcomes_total{outcome=\"no_data\"}")
            .await,
        1.0
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_by_hand_to_a_logger_that_refuses_is_recorded_as_rejected() {
    let (db, yesterday) = outage_db().await;
    // No scan: only the request made by hand goes out.
    let mut app = recovery_app_with(db, |s| s.hj212.recovery.enabled = false).await;
    let dir = tempfile::tempdir().unwrap();
    let _loggers = Loggers::start(&app, &dir, &["--fail", "reject"]);
    let (from, to) = outage(yesterday);
    let name = app.db.name.clone();
    let out = tokio::task::spawn_blocking(move || {
        let (from, to) = (from.to_rfc3339(), to.to_rfc3339());
        run_ok(greenmon(&name).args([
            "hj212", "recover", "--point", "a-out", "--from", &from, "--to", &to,
        ]))
    })
    .await
    .unwrap();
    assert!(out.starts_with("queued 1 request(s) (id "), "{out}");
    assert_eq!(
        outage_outcome(&app, yesterday).await,
        ("rejected".to_string(), Some(2), None, None)
    );
    let name = app.db.name.clone();
    let listing = tokio::task::spawn_blocking(move || {
        run_ok(greenmon(&name).args(["hj212", "requests", "--point", "a-out", "--format", "json"]))
    })
    .await
    .unwrap();
    let rows: Vec<serde_json::Value> = listing
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{listing}");
    assert_eq!(rows[0]["origin"], "manual");
    assert_eq!(rows[0]["park_id"], "park-a");
    assert_eq!(rows[0]["answers"], serde_json::json!(["9011 QnRtn=2"]));
    assert_eq!(day_rate(&app, yesterday).await, Some(21.0 / 24.0));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logger_that_drops_mid_upload_is_asked_again_within_the_budget() {
    let (db, yesterday) = outage_db().await;
    let mut app = recovery_app_with(db, |s| s.hj212.recovery.max_attempts = 2).await;
    let dir = tempfile::tempdir().unwrap();
    let _loggers = Loggers::start(&app, &dir, &["--fail", "drop"]);
    assert_eq!(
        outage_outcome(&app, yesterday).await,
        ("timed_out".to_string(), Some(1), None, None)
    );
    let attempts = app
        .db
        .count("SELECT attempts::bigint FROM hj212_requests WHERE point_id = 'a-out'")
        .await;
    assert_eq!(attempts, 2);
    // The packet uploaded before the drop is stored (whole packets only); the half packet is not.
    let (from, to) = outage(yesterday);
    let hours = app
        .db
        .count(&format!(
            "SELECT count(DISTINCT time) FROM readings WHERE point_id = 'a-out' AND kind = 'hour'
             AND time >= '{}' AND time < '{}'",
            from.to_rfc3339(),
            to.to_rfc3339()
        ))
        .await;
    assert_eq!(hours, 1);
    assert_eq!(app.db.quarantined().await, 0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drifting_clock_raises_clock_drift_and_is_set() {
    let db = TestDb::new().await;
    sqlx::query("UPDATE monitoring_points SET hj212_set_clock = true WHERE id = 'a-out'")
        .execute(&db.pool)
        .await
        .unwrap();
    let mut app = recovery_app_with(db, |s| {
        s.hj212.recovery.enabled = false;
        s.alerts.evaluate_interval_secs = 1;
        s.alerts.resolve_after_secs = 1;
        s.alerts.rules.clock_drift.limit_secs = Some(60);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    // Ten minutes slow (a clock ahead would have its data quarantined as from the future).
    let _loggers = Loggers::start(&app, &dir, &["--clock-offset", "-600", "--every", "1"]);
    let alert_state = |app: &TestApp| {
        let pool = app.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT state FROM alerts WHERE rule = 'clock_drift' AND point_id = 'a-out'",
            )
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };
    eventually(Duration::from_secs(60), "clock_drift firing", || async {
        (alert_state(&app).await.as_deref() == Some("firing")).then_some(())
    })
    .await;
    // greenmon set the clock (1012), then read it back (1011).
    let done: Vec<(String, String, Vec<String>)> =
        eventually(Duration::from_secs(60), "the clock set and checked", || async {
            let rows: Vec<(String, String, Vec<String>)> = sqlx::query_as(
                "SELECT cn, status, answers FROM hj212_requests WHERE point_id = 'a-out' ORDER BY id",
            )
            .fetch_all(&app.db.pool)
            .await
            .unwrap();
            (rows.len() == 2 && rows.iter().all(|r| r.1 != "queued" && r.1 != "sent"))
                .then_some(rows)
        })
        .await;
    assert_eq!(
        (done[0].0.as_str(), done[0].1.as_str()),
        ("1012", "done"),
        "{done:?}"
    );
    assert_eq!(done[0].2, ["9011 QnRtn=1", "9012 ExeRtn=1"]);
    assert_eq!(
        (done[1].0.as_str(), done[1].1.as_str()),
        ("1011", "done"),
        "{done:?}"
    );
    assert!(done[1].2[1].starts_with("1011 SystemTime="), "{done:?}");
    let (drift, source): (f64, String) =
        sqlx::query_as("SELECT drift_secs, source FROM hj212_clocks WHERE point_id = 'a-out'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(drift.abs() < 5.0, "{drift} from {source}");
    eventually(Duration::from_secs(60), "clock_drift resolved", || async {
        (alert_state(&app).await.as_deref() == Some("resolved")).then_some(())
    })
    .await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logger_bridged_over_mqtt_is_asked_on_its_command_topic_and_old_hours_page_nobody() {
    use hj212::{
        answer_9011, answer_9012, parse_packet, split_frames, PacketBuilder, QnRtn, Request,
    };
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

    const MN: &str = "AAAA0000000000000000000A";
    let (db, yesterday) = outage_db().await;
    let mut app = recovery_app_with(db, |s| s.alerts.evaluate_interval_secs = 1).await;
    // The logger's side: it reads its command topic, and publishes on the park's HJ 212 topic.
    let down = format!("{}/parks/park-a/points/a-out/hj212/down", app.prefix);
    let up = format!("{}/parks/park-a/hj212", app.prefix);
    let mut opts = MqttOptions::new(crate::helpers::unique("logger"), "127.0.0.1", app.mqtt_port);
    opts.set_keep_alive(Duration::from_secs(10));
    let (client, mut eventloop) = AsyncClient::new(opts, 100);
    client.subscribe(&down, QoS::AtLeastOnce).await.unwrap();
    let (requests_tx, mut requests) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut subscribed_tx = Some(subscribed_tx);
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(tx) = subscribed_tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if requests_tx.send(p.payload.to_vec()).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    subscribed.await.unwrap();
    let mut publisher = crate::helpers::Publisher::connect(app.mqtt_port).await;
    let now = Utc::now()
        .with_timezone(&Shanghai)
        .format("%Y%m%d%H%M%S")
        .to_string();
    let realtime = PacketBuilder {
        qn: Some(format!("{now}000")),
        st: "32".into(),
        cn: "2011".into(),
        mn: MN.into(),
        flag: Some(hj212::PacketFlag { raw: 4 }),
        cp: format!("DataTime={now};w01018-Rtd=20.1,w01018-Flag=N"),
        ..Default::default()
    };
    publisher.publish(&up, realtime.encode()).await;
    publisher.flush().await;
    // greenmon asks for the three missing hours on the command topic.
    let bytes = tokio::time::timeout(Duration::from_secs(60), requests.recv())
        .await
        .expect("a request within 60 s")
        .unwrap();
    let request = parse_packet(split_frames(&bytes)[0].as_ref().unwrap()).unwrap();
    assert_eq!((request.cn.as_str(), request.mn.as_str()), ("2061", MN));
    let (begin, end) = match Request::parse(
        &hj212::parse_packet_ref(split_frames(&bytes)[0].as_ref().unwrap().as_frame_ref()).unwrap(),
    ) {
        Some(Request::History { begin, end, .. }) => (begin, end),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (begin.to_string(), end.to_string()),
        (
            format!("{yesterday} 10:00:00"),
            format!("{yesterday} 12:00:00")
        )
    );
    // The logger answers as the standard says, over MQTT: 9011, the data, 9012.
    publisher
        .publish(&up, answer_9011(&request, QnRtn::Ready))
        .await;
    for h in 10..13 {
        // 11:00 is above a-out's COD limit (50 mg/L).
        let cod = if h == 11 { 80.5 } else { 21.5 };
        let data = PacketBuilder {
            qn: request.qn.clone(),
            st: "32".into(),
            cn: "2061".into(),
            mn: MN.into(),
            flag: Some(hj212::PacketFlag { raw: 4 }),
            cp: format!(
                "DataTime={}{h:02}0000;w01018-Avg={cod},w01018-Flag=N",
                yesterday.format("%Y%m%d")
            ),
            ..Default::default()
        };
        publisher.publish(&up, data.encode()).await;
    }
    publisher.publish(&up, answer_9012(&request, 1)).await;
    publisher.flush().await;
    assert_eq!(
        outage_outcome(&app, yesterday).await,
        ("recovered".to_string(), Some(1), Some(1), Some(3))
    );
    assert_eq!(day_rate(&app, yesterday).await, Some(1.0));
    // The recovered exceedance is on record, and pages nobody: it is older than the alert
    // look-back. Two full evaluations after the recovery find no alert for it.
    let (from, to) = outage(yesterday);
    let exceedances = greenmon::compliance::service::exceedances(
        &app.db.pool,
        Some("park-a"),
        from,
        to,
        Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(exceedances.len(), 1, "{exceedances:?}");
    assert_eq!(exceedances[0].pollutant, "w01018");
    let evaluated = app.registry().alert_evaluations.get();
    eventually(Duration::from_secs(30), "two alert evaluations", || async {
        (app.registry().alert_evaluations.get() >= evaluated + 2).then_some(())
    })
    .await;
    let paged = app
        .db
        .count("SELECT count(*) FROM alerts WHERE rule = 'discharge_exceedance'")
        .await;
    assert_eq!(paged, 0);
    client.disconnect().await.unwrap();
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_within_the_timeout_are_recovered() {
    let (db, yesterday) = outage_db().await;
    let mut app = recovery_app(db).await;
    let dir = tempfile::tempdir().unwrap();
    // Two seconds before each of the three hourly packets.
    let _loggers = Loggers::start(&app, &dir, &["--fail", "slow"]);
    assert_eq!(
        outage_outcome(&app, yesterday).await,
        ("recovered".to_string(), Some(1), Some(1), Some(18))
    );
    assert_eq!(day_rate(&app, yesterday).await, Some(1.0));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_with_a_wrong_crc_are_quarantined_and_recover_nothing() {
    let (db, yesterday) = outage_db().await;
    let mut app = recovery_app(db).await;
    let dir = tempfile::tempdir().unwrap();
    let _loggers = Loggers::start(&app, &dir, &["--fail", "bad-crc"]);
    assert_eq!(
        outage_outcome(&app, yesterday).await,
        ("recovered".to_string(), Some(1), Some(1), Some(0)),
        "the logger said it was done; nothing it sent could be stored"
    );
    assert_eq!(app.db.quarantine().await, [("crc_mismatch".to_string(), 3)]);
    assert_eq!(day_rate(&app, yesterday).await, Some(21.0 / 24.0));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_loggers_go_offline_and_back_on_command_and_stop_on_sigterm() {
    use std::io::Write;

    let mut app =
        recovery_app_with(TestDb::new().await, |s| s.hj212.recovery.enabled = false).await;
    let dir = tempfile::tempdir().unwrap();
    let mut loggers = Loggers::start(&app, &dir, &["--every", "1"]);
    let connections = |app: &TestApp| app.registry().hj212_connections.get();
    eventually(Duration::from_secs(30), "the logger connected", || async {
        (connections(&app) == 1).then_some(())
    })
    .await;
    let mut stdin = loggers.0.stdin.take().unwrap();
    stdin.write_all(b"offline\n").unwrap();
    stdin.flush().unwrap();
    eventually(
        Duration::from_secs(30),
        "the logger off the line",
        || async { (connections(&app) == 0).then_some(()) },
    )
    .await;
    let before = app.db.readings().await;
    stdin.write_all(b"online\n").unwrap();
    stdin.flush().unwrap();
    eventually(
        Duration::from_secs(30),
        "the logger back, uploading",
        || async { (connections(&app) == 1 && app.db.readings().await > before).then_some(()) },
    )
    .await;
    // SIGTERM with its standard input still open: it stops and prints its summary.
    let pid = loggers.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || {
        let status = loggers.0.wait().unwrap();
        drop(stdin);
        status
    });
    let status = tokio::time::timeout(Duration::from_secs(20), status)
        .await
        .expect("the simulator exits on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    app.shutdown().await;
}

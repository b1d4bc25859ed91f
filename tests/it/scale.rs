//! Past one instance: three instances sharing one MQTT subscription (`mqtt.share_group`) on a
//! Mosquitto of their own, one of them killed and restarted mid-load; the API's reads sent to a
//! replica (`database.read_url`); and HJ 212 loggers past the connection cap refused visibly.

use std::time::Duration;

use greenmon::store::tokens::{self, TokenRole};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

use crate::helpers::{
    env_for, eventually, free_port, metric_value, unique, Mosquitto, Publisher, ServiceProcess,
    TestApp, TestDb,
};
use crate::resilience::{publish_load, wait_for_counts};

/// One `greenmon serve` of a share group, with its own client id and HTTP port.
struct Member {
    env: Vec<(String, String)>,
    http: String,
    process: Option<ServiceProcess>,
}

impl Member {
    fn start(db: &str, broker: u16, prefix: &str, group: &str) -> Self {
        let port = free_port();
        let mut env = env_for(db, broker, prefix, &unique("gm-share"));
        env.retain(|(k, _)| k != "GREENMON__HTTP__LISTEN");
        env.push(("GREENMON__HTTP__LISTEN".into(), format!("127.0.0.1:{port}")));
        env.push(("GREENMON__MQTT__SHARE_GROUP".into(), group.into()));
        let process = Some(ServiceProcess::start(&env));
        Self {
            env,
            http: format!("http://127.0.0.1:{port}"),
            process,
        }
    }

    /// Messages this process received since it started (0 while it does not answer).
    async fn received(&self) -> f64 {
        let Ok(r) = reqwest::get(format!("{}/metrics", self.http)).await else {
            return 0.0;
        };
        let text = r.text().await.unwrap_or_default();
        metric_value(&text, "greenmon_mqtt_messages_received_total")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_group_spreads_the_load_and_a_killed_member_loses_and_duplicates_nothing() {
    let broker = Mosquitto::start();
    let db = TestDb::new().await;
    let prefix = format!("t/{}", unique("share"));
    let group = unique("g");
    let mut members: Vec<Member> = (0..3)
        .map(|_| Member::start(&db.name, broker.port, &prefix, &group))
        .collect();

    // Each member is subscribed once a probe (an unregistered point: quarantined, and left out
    // of the counts below) has reached it; the broker hands probes out in turn.
    let publisher = tokio::sync::Mutex::new(Publisher::connect(broker.port).await);
    let probe = format!("{prefix}/parks/park-a/points/probe/readings");
    eventually(
        Duration::from_secs(60),
        "every member subscribed",
        || async {
            publisher
                .lock()
                .await
                .publish(&probe, b"probe".to_vec())
                .await;
            for m in &members {
                if m.received().await < 1.0 {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    let mut publisher = publisher.into_inner();
    publisher.flush().await;

    // Phase 1: 3,000 messages (every 500th malformed), all stored; each member took a share.
    let first = 3_000;
    let invalid_1 = publish_load(&mut publisher, &prefix, 0..first, 500, 3_000, |_| {}).await;
    let valid_1 = (first - invalid_1) as i64;
    wait_for_counts(&db, valid_1 * 6, invalid_1 as i64, Duration::from_secs(60)).await;
    let mut shares = Vec::new();
    for m in &members {
        shares.push(m.received().await);
    }
    let total: f64 = shares.iter().sum();
    for share in &shares {
        assert!(
            *share >= total * 0.2,
            "the load is spread across the three: {shares:?}"
        );
    }

    // Phase 2: 6,000 more at 2,000 msg/s; member 0 is killed a second in and restarted once
    // the other two have stored more. Mosquitto keeps routing the dead member's turn to its
    // session, which holds them (and what was in flight, unacknowledged) until it returns.
    let load_prefix = prefix.clone();
    let load = tokio::spawn(async move {
        // New messages: readings at later times, and malformed ones of other bytes.
        publish_load(
            &mut publisher,
            &load_prefix,
            first..first + 6_000,
            500,
            2_000,
            |_| {},
        )
        .await
    });
    eventually(Duration::from_secs(30), "phase 2 under way", || async {
        (db.readings().await >= (valid_1 + 1_000) * 6).then_some(())
    })
    .await;
    members[0].process.take().unwrap().kill9();
    let at_kill = db.readings().await;
    eventually(
        Duration::from_secs(30),
        "the other members going on",
        || async { (db.readings().await >= at_kill + 3_000).then_some(()) },
    )
    .await;
    let env = members[0].env.clone();
    members[0].process = Some(ServiceProcess::start(&env));
    let invalid_2 = load.await.unwrap();
    assert!(invalid_2 > 0);

    let expected_valid = valid_1 + 6_000 - invalid_2 as i64;
    let expected_invalid = (invalid_1 + invalid_2) as i64;
    wait_for_counts(
        &db,
        expected_valid * 6,
        expected_invalid,
        Duration::from_secs(120),
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "the restarted member's queued share",
        || async { (members[0].received().await >= 1.0).then_some(()) },
    )
    .await;
    for m in &mut members {
        assert!(
            m.process.take().unwrap().terminate(),
            "graceful exit after SIGTERM"
        );
    }
    let distinct = db
        .count("SELECT count(*) FROM (SELECT DISTINCT point_id, pollutant, time FROM readings) d")
        .await;
    assert_eq!(distinct, expected_valid * 6);
    assert_eq!(db.readings().await, expected_valid * 6);
    assert_eq!(
        db.quarantine().await,
        vec![("invalid_json".to_string(), expected_invalid)]
    );
    eprintln!("share group: shares of phase 1 {shares:?}; member killed and restarted mid-load");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_url_serves_api_reads_from_the_replica_and_writes_to_the_primary() {
    // The "replica": a database of its own with the same registry, standing for a streaming
    // replica that has not replayed the latest write yet (it never will: nothing replicates).
    let replica = TestDb::new().await;
    let primary = TestDb::new().await;
    let report = "INSERT INTO energy_reports (park_id, period, period_kind, period_start,
                      period_end, energy_tce, value_added_10k_yuan)
                  VALUES ('park-a', '2026-01', 'month', '2026-01-01', '2026-02-01', 90, 100)";
    for db in [&replica, &primary] {
        sqlx::query(report).execute(&db.pool).await.unwrap();
    }
    let (_, token) = tokens::create(&primary.pool, "bureau", &TokenRole::Bureau)
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{}", replica.name);
    let mut app = TestApp::spawn_on(primary, 1883, greenmon::clock::Clock::System, |s| {
        s.database.read_url = Some(secrecy::SecretString::from(url));
    })
    .await;
    let http = reqwest::Client::new();
    let reports = |http: reqwest::Client, base: String, token: String| async move {
        let r = http
            .get(format!("{base}/api/v1/parks/park-a/energy-reports"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let b: Value = r.json().await.unwrap();
        b["reports"][0]["energy_tce"].as_f64().unwrap()
    };

    // A correction is a write: it goes to the primary.
    let r = http
        .post(format!("{}/api/v1/parks/park-a/energy-reports", app.http))
        .bearer_auth(&token)
        .json(&json!({"period": "2026-01", "energy_tce": 60.0, "value_added_10k_yuan": 100.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let stored = "SELECT energy_tce::bigint FROM energy_reports WHERE period = '2026-01'";
    assert_eq!(app.db.count(stored).await, 60);
    assert_eq!(replica.count(stored).await, 90);
    // Reads go to the replica, and show what it has replayed: the old figure.
    assert_eq!(
        reports(http.clone(), app.http.clone(), token.clone()).await,
        90.0
    );
    // Once the replica has caught up, so do the reads.
    sqlx::query("UPDATE energy_reports SET energy_tce = 60 WHERE period = '2026-01'")
        .execute(&replica.pool)
        .await
        .unwrap();
    assert_eq!(
        reports(http.clone(), app.http.clone(), token.clone()).await,
        60.0
    );
    let read_conns: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
    )
    .bind(&replica.name)
    .bind(greenmon::store::READ_APPLICATION_NAME)
    .fetch_one(&replica.pool)
    .await
    .unwrap();
    assert!(read_conns > 0, "the read pool is connected to the replica");
    app.shutdown().await;
}

#[tokio::test]
async fn hj212_loggers_past_the_cap_are_accepted_and_closed_at_once() {
    let warnings = crate::helpers::capture_warnings();
    let mut app = TestApp::spawn_with(1883, |s| {
        s.hj212.listen = "127.0.0.1:0".into();
        s.hj212.max_connections = Some(2);
    })
    .await;
    let addr = app.app.as_ref().unwrap().hj212_addr.unwrap();
    assert_eq!(app.metric("greenmon_hj212_connection_cap").await, 2.0);
    let held = [
        tokio::net::TcpStream::connect(addr).await.unwrap(),
        tokio::net::TcpStream::connect(addr).await.unwrap(),
    ];
    eventually(Duration::from_secs(10), "two loggers connected", || async {
        (app.metric("greenmon_hj212_connections").await == 2.0).then_some(())
    })
    .await;
    // The third connects (the kernel accepts it), and greenmon closes it at once: end of file,
    // not a silence that looks like a dead platform.
    for n in 1..=3 {
        let mut over = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(10), over.read(&mut buf))
            .await
            .expect("the connection over the cap is closed at once");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert_eq!(
            app.metric("greenmon_hj212_connections_refused_total").await,
            f64::from(n)
        );
    }
    // One warning for the three: the log is rate-limited.
    let refused: Vec<String> = warnings
        .take()
        .into_iter()
        .filter(|w| w.contains("connection cap is reached"))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    // A slot that frees takes the next logger.
    drop(held);
    eventually(Duration::from_secs(10), "the slots freed", || async {
        (app.metric("greenmon_hj212_connections").await == 0.0).then_some(())
    })
    .await;
    let _next = tokio::net::TcpStream::connect(addr).await.unwrap();
    eventually(Duration::from_secs(10), "the next logger held", || async {
        (app.metric("greenmon_hj212_connections").await == 1.0).then_some(())
    })
    .await;
    assert_eq!(
        app.metric("greenmon_hj212_connections_refused_total").await,
        3.0
    );
    app.shutdown().await;
}

/// HAProxy in TCP mode in front of two HJ 212 listeners, started by the test.
struct Haproxy {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    fn start(backends: &[u16]) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| {
                // Health checks every 200 ms; one failure takes a server out.
                format!("    server g{i} 127.0.0.1:{p} check inter 200ms fall 1 rise 2\n")
            })
            .collect();
        let conf = format!(
            "defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 60s\n    \
             timeout server 60s\n\
             frontend hj212\n    bind 127.0.0.1:{port}\n    default_backend greenmon\n\
             backend greenmon\n    balance roundrobin\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, conf).unwrap();
        let haproxy = ["/usr/sbin/haproxy", "haproxy"]
            .into_iter()
            .find(|h| std::path::Path::new(h).exists())
            .unwrap_or("haproxy");
        let child = std::process::Command::new(haproxy)
            .arg("-db") // foreground
            .arg("-f")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("haproxy is installed (scripts/test installs it)");
        crate::helpers::wait_listening(port, "haproxy");
        Self {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A registry of one park with `n` points, each with an MN of its own.
fn logger_registry(n: usize) -> String {
    let mut r =
        String::from("[[parks]]\nid = \"park-h\"\nname = \"H 园区\"\nbaseline_intensity = 0.5\n");
    for i in 0..n {
        r.push_str(&format!(
            "[[parks.points]]\nid = \"h-{i:03}\"\nname = \"H {i}\"\nkind = \"sewage_outlet\"\n\
             mn = \"HAPROXY00000000000000{i:03}\"\n"
        ));
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hj212_loggers_behind_haproxy_survive_a_killed_instance_and_are_stored_once() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("loggers.toml");
    std::fs::write(&registry, logger_registry(20)).unwrap();
    crate::helpers::run_ok(crate::helpers::greenmon(&db.name).args([
        "registry",
        "import",
        registry.to_str().unwrap(),
    ]));
    // Two instances, each with an HJ 212 listener and its own HTTP port.
    let prefix = format!("t/{}", unique("lb"));
    let mut instances = Vec::new();
    for _ in 0..2 {
        let (tcp, http) = (free_port(), free_port());
        let mut env = env_for(&db.name, 1883, &prefix, &unique("gm-lb"));
        env.retain(|(k, _)| k != "GREENMON__HTTP__LISTEN");
        env.push(("GREENMON__HTTP__LISTEN".into(), format!("127.0.0.1:{http}")));
        env.push(("GREENMON__HJ212__LISTEN".into(), format!("127.0.0.1:{tcp}")));
        instances.push((
            Some(ServiceProcess::start(&env)),
            tcp,
            format!("http://127.0.0.1:{http}"),
        ));
    }
    for (_, tcp, _) in &instances {
        let tcp = *tcp;
        eventually(
            Duration::from_secs(30),
            "the HJ 212 listener",
            || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", tcp))
                    .await
                    .ok()
            },
        )
        .await;
    }
    let haproxy = Haproxy::start(&[instances[0].1, instances[1].1]);
    let stored_by = |http: String| async move {
        let Ok(r) = reqwest::get(format!("{http}/metrics")).await else {
            return 0.0;
        };
        metric_value(
            &r.text().await.unwrap_or_default(),
            "greenmon_readings_stored_total",
        )
    };

    // 20 loggers through HAProxy, each uploading every 200 ms (100 uploads/s), until 1,500 are
    // answered; one instance is killed once both have stored some.
    let loggers = crate::helpers::greenmon(&db.name)
        .args([
            "simulate",
            "--registry",
            registry.to_str().unwrap(),
            "--hj212-tcp",
            &format!("127.0.0.1:{}", haproxy.port),
            "--every",
            "0.2",
            "--over-time",
            "1",
            "--re-count",
            "1",
            "--count",
            "1500",
            "--seed",
            "16",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    for (_, _, http) in &instances {
        eventually(Duration::from_secs(30), "both instances storing", || {
            let stored = stored_by(http.clone());
            async move { (stored.await > 0.0).then_some(()) }
        })
        .await;
    }
    instances[0].0.take().unwrap().kill9();
    let survivor = instances[1].2.clone();
    let at_kill = stored_by(survivor.clone()).await;
    let out = tokio::task::spawn_blocking(move || loggers.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success());
    let out = String::from_utf8(out.stdout).unwrap();
    let number_before = |word: &str| -> i64 {
        let head = &out[..out.find(word).unwrap_or_else(|| panic!("{word}: {out}"))];
        head.trim_end_matches(['(', ' '])
            .split_whitespace()
            .last()
            .unwrap()
            .trim_start_matches('(')
            .parse()
            .unwrap()
    };
    // `sent` counts each upload once, `re-sent` its repeats (OverTime/ReCount, and the packet
    // in flight when a connection died, sent again on the next).
    let (sent, answered) = (number_before(" uploads"), number_before(" stored"));
    assert!(answered >= 1500, "{out}");
    assert!(
        number_before(" reconnects") >= 1,
        "the loggers reconnected: {out}"
    );
    assert!(
        stored_by(survivor).await > at_kill,
        "the survivor took the loggers over"
    );
    // The survivor stops cleanly, committing what it still held (uploads the loggers sent
    // after their last counted answer), so the counts below hold still.
    assert!(instances[1].0.take().unwrap().terminate());
    // Every upload answered is stored, each exactly once: six readings per (point, time), and
    // no more distinct uploads than the loggers made (re-sent packets added nothing).
    let (readings, uploads): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT (point_id, time)) FROM readings")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(
        uploads >= answered && uploads <= sent,
        "{uploads} uploads stored: {out}"
    );
    assert_eq!(readings, 6 * uploads, "{out}");
    assert_eq!(db.quarantined().await, 0);
    eprintln!("haproxy: {out}");
}

//! Losing nothing: SIGKILL mid-stream, a backlog built while the service is down, a broker
//! restart, and a database outage. Each test runs its own Mosquitto from config/mosquitto.conf.

use std::time::{Duration, Instant};

use crate::helpers::{
    env_for, eventually, reading_payload, unique, wait_subscribed, Mosquitto, Publisher,
    ServiceProcess, TestApp, TestDb,
};

const POINTS: [(&str, &str); 3] = [("park-a", "a-out"), ("park-a", "a-in"), ("park-b", "b-out")];

fn topic(prefix: &str, i: u64) -> String {
    let (park, point) = POINTS[(i % 3) as usize];
    format!("{prefix}/parks/{park}/points/{point}/readings")
}

/// Publishes messages `range` of six readings, each at its own time (message `i` at `i` seconds
/// past a fixed time); every `invalid_every`-th is malformed on purpose. Paced at `per_sec` (0 =
/// as fast as the broker acks). Returns the number of invalid messages.
pub(crate) async fn publish_load(
    publisher: &mut Publisher,
    prefix: &str,
    range: std::ops::Range<u64>,
    invalid_every: u64,
    per_sec: u64,
    mut at: impl FnMut(u64),
) -> u64 {
    let start = Instant::now();
    let first = range.start;
    let mut invalid = 0;
    for i in range {
        at(i);
        let payload = if invalid_every > 0 && i % invalid_every == invalid_every - 1 {
            invalid += 1;
            format!("{{broken message {i}").into_bytes()
        } else {
            reading_payload(i as i64)
        };
        publisher.publish(&topic(prefix, i), payload).await;
        if per_sec > 0 && i % 100 == 0 {
            let due = Duration::from_secs_f64((i - first) as f64 / per_sec as f64);
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    publisher.flush().await;
    invalid
}

pub(crate) async fn wait_for_counts(
    db: &TestDb,
    readings: i64,
    quarantined: i64,
    timeout: Duration,
) {
    eventually(
        timeout,
        &format!("{readings} readings and {quarantined} quarantined"),
        || async {
            let r = db.readings().await;
            let q = db.quarantined().await;
            assert!(
                r <= readings && q <= quarantined,
                "too many rows: {r} readings, {q} quarantined"
            );
            (r == readings && q == quarantined).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twice_mid_stream_loses_and_duplicates_nothing() {
    let broker = Mosquitto::start();
    let db = TestDb::new().await;
    let prefix = format!("t/{}", unique("crash"));
    // HTTP on port 0: this test only talks to the broker and the database.
    let env = env_for(&db.name, broker.port, &prefix, &unique("gm-crash"));
    let mut service = Some(ServiceProcess::start(&env));
    wait_subscribed(&db.pool, broker.port, &prefix).await;

    // 16,688 messages at ~2,500 msg/s, every 800th malformed: 16,668 × 6 = 100,008 readings.
    let total = 16_667 + 21;
    let mut publisher = Publisher::connect(broker.port).await;
    let mut kills = 0;
    let invalid = publish_load(&mut publisher, &prefix, 0..total, 800, 2_500, |i| {
        if i == total / 3 || i == 2 * total / 3 {
            service.take().unwrap().kill9();
            kills += 1;
            service = Some(ServiceProcess::start(&env));
        }
    })
    .await;
    assert_eq!(kills, 2);
    let valid = (total - invalid) as i64;
    assert!(valid * 6 >= 100_000);
    wait_for_counts(&db, valid * 6, invalid as i64, Duration::from_secs(120)).await;
    // Nothing more trickles in afterwards: the service stops cleanly, committing whatever it
    // still held (redeliveries, if any), and the counts are unchanged.
    assert!(
        service.take().unwrap().terminate(),
        "graceful exit after SIGTERM"
    );
    assert_eq!(db.readings().await, valid * 6);
    let distinct = db
        .count("SELECT count(*) FROM (SELECT DISTINCT point_id, pollutant, time FROM readings) d")
        .await;
    assert_eq!(distinct, valid * 6);
    assert_eq!(
        db.quarantine().await,
        vec![("invalid_json".to_string(), invalid as i64)]
    );
    eprintln!(
        "crash test: {total} messages published, service killed twice; {} distinct readings \
         stored, {invalid} malformed messages quarantined",
        valid * 6
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backlog_published_while_down_is_all_stored() {
    let broker = Mosquitto::start();
    let mut app = TestApp::spawn_with(broker.port, |_| {}).await;
    let settings_prefix = app.prefix.clone();
    let client_id = app.client_id.clone();
    app.shutdown().await;

    // 100,000 messages wait in the persistent session while the service is down.
    let mut publisher = Publisher::connect(broker.port).await;
    let n = 100_000;
    publish_load(&mut publisher, &settings_prefix, 0..n, 0, 0, |_| {}).await;

    let settings = {
        let mut s =
            crate::helpers::settings_for(&app.db.name, broker.port, &settings_prefix, &client_id);
        s.database.max_connections = 4;
        s
    };
    let started = Instant::now();
    let restarted = greenmon::app::start(settings).await.unwrap();
    wait_for_counts(&app.db, n as i64 * 6, 0, Duration::from_secs(180)).await;
    eprintln!("backlog of {n} messages drained in {:?}", started.elapsed());
    restarted.shutdown_token().cancel();
    restarted.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream_loses_nothing() {
    let mut broker = Mosquitto::start();
    let mut app = TestApp::spawn_with(broker.port, |_| {}).await;
    let prefix = app.prefix.clone();
    let mut publisher = Publisher::connect(broker.port).await;
    let n = 12_000;
    let mut restarted = false;
    publish_load(&mut publisher, &prefix, 0..n, 0, 3_000, |i| {
        if i == n / 2 {
            broker.restart();
            restarted = true;
        }
    })
    .await;
    assert!(restarted);
    wait_for_counts(&app.db, n as i64 * 6, 0, Duration::from_secs(120)).await;
    assert!(app.metric("greenmon_mqtt_connections_total").await >= 2.0);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_that_lost_the_session_gets_a_new_subscription() {
    let mut broker = Mosquitto::start_with(false);
    let mut app = TestApp::spawn_with(broker.port, |_| {}).await;
    broker.restart();
    eventually(Duration::from_secs(20), "the reconnection", || async {
        (app.metric("greenmon_mqtt_connections_total").await >= 2.0).then_some(())
    })
    .await;
    // The broker has no session and no subscription for greenmon any more; greenmon subscribes
    // again, so what is published now arrives.
    let publisher = tokio::sync::Mutex::new(Publisher::connect(broker.port).await);
    let topic = topic(&app.prefix, 0);
    eventually(
        Duration::from_secs(20),
        "readings published after the restart",
        || async {
            publisher
                .lock()
                .await
                .publish(&topic, reading_payload(0))
                .await;
            (app.db.readings().await >= 6).then_some(())
        },
    )
    .await;
    assert_eq!(app.db.readings().await, 6);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_acks_nothing_and_stores_everything_after() {
    let broker = Mosquitto::start();
    let mut app = TestApp::spawn_with(broker.port, |_| {}).await;
    let prefix = app.prefix.clone();
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(greenmon::store::connect_options(
            &crate::helpers::settings_for("postgres", 1883, "x", "x").database,
        ))
        .await
        .unwrap();
    let dbname = app.db.name.clone();
    let metrics = app.app.as_ref().unwrap().metrics.clone();

    // 6,000 messages at 2,000 msg/s; the database goes away one second in.
    let mut publisher = Publisher::connect(broker.port).await;
    let n = 6_000;
    let load_prefix = prefix.clone();
    let load = tokio::spawn(async move {
        publish_load(&mut publisher, &load_prefix, 0..n, 1000, 2_000, |_| {}).await
    });
    // The database goes away once the load is under way.
    eventually(Duration::from_secs(30), "the first readings", || async {
        (app.db.readings().await > 0).then_some(())
    })
    .await;
    sqlx::query(&format!("ALTER DATABASE {dbname} ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&dbname)
        .execute(&admin)
        .await
        .unwrap();
    // A commit that finished just before the outage may still be acking: the count is taken
    // once the committer has failed three times on the outage. Then nothing moves while it
    // fails five times more (each retry at most ingest.retry_max_ms apart), the load finished.
    eventually(
        Duration::from_secs(30),
        "the committer retrying",
        || async { (metrics.commit_retries.get() >= 3).then_some(()) },
    )
    .await;
    let acked_during = metrics.mqtt_acked.get();
    let retries = metrics.commit_retries.get();
    let mut max_unacked = 0;
    eventually(
        Duration::from_secs(60),
        "five more retries after the load",
        || {
            max_unacked = max_unacked.max(metrics.unacked.get());
            let done = load.is_finished() && metrics.commit_retries.get() >= retries + 5;
            async move { done.then_some(()) }
        },
    )
    .await;
    assert_eq!(
        metrics.mqtt_acked.get(),
        acked_during,
        "nothing is acked while the database is down"
    );
    assert!(metrics.commit_retries.get() > 0, "the committer retried");
    assert!(
        max_unacked > 0 && max_unacked <= 1000,
        "held messages bounded by the broker window: {max_unacked}"
    );
    let invalid = load.await.unwrap();

    sqlx::query(&format!("ALTER DATABASE {dbname} ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .unwrap();
    let valid = (n - invalid) as i64;
    wait_for_counts(&app.db, valid * 6, invalid as i64, Duration::from_secs(120)).await;
    app.shutdown().await;
}

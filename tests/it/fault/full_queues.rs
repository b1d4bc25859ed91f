//! Full queues: a data logger that never reads its answers, and a broker that sends past any
//! window while the database is stuck. Every queue inside greenmon has a cap (docs/operations.md,
//! "Queues and limits"); these tests fill them and check that what greenmon holds stays under the
//! cap, that the client at fault is cut off while everyone else is served, and that nothing is
//! lost once the database is back.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hj212::{PacketBuilder, PacketFlag};
use sqlx::{Connection, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{eventually, free_port, reading_payload, Publisher, TestApp};

const A_OUT_MN: &str = "AAAA0000000000000000000A";

/// Minute data for a-out at 2026-01-01 `hh:mm` Beijing time, asking for an answer (flag 5).
fn minute(qn: &str, hh: u32, mm: u32) -> Vec<u8> {
    PacketBuilder {
        qn: Some(qn.into()),
        st: "32".into(),
        cn: "2051".into(),
        pw: Some("123456".into()),
        mn: A_OUT_MN.into(),
        flag: Some(PacketFlag { raw: 5 }),
        cp: format!("DataTime=20260101{hh:02}{mm:02}00;w01018-Avg=23.5,w01018-Flag=N"),
        ..Default::default()
    }
    .encode()
}

/// Reads one answer frame (up to CRLF).
async fn answer(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_secs(20), async {
        while !got.ends_with(b"\r\n") {
            stream.read_exact(&mut byte).await.unwrap();
            got.push(byte[0]);
        }
    })
    .await
    .expect("an answer within 20 s");
    String::from_utf8(got).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logger_that_never_reads_is_cut_off_and_the_others_are_served() {
    let mut app = TestApp::spawn_with(1883, |s| {
        s.hj212.listen = "127.0.0.1:0".into();
        s.hj212.write_timeout_secs = 1;
        s.hj212.max_unanswered_per_connection = 256;
    })
    .await;
    let addr = app.app.as_ref().unwrap().hj212_addr.unwrap();

    // A logger that sends packets asking for answers as fast as it can and never reads: its
    // receive window is tiny, so greenmon's socket buffer fills and its answers back up.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut deaf = socket.connect(addr).await.unwrap();
    let sender = tokio::spawn(async move {
        let packet = minute("20260101080000001", 8, 0);
        let mut burst = Vec::new();
        for _ in 0..100 {
            burst.extend_from_slice(&packet);
        }
        // Until greenmon closes the connection; the limit only stops a broken run.
        for _ in 0..10_000 {
            if deaf.write_all(&burst).await.is_err() {
                return true;
            }
        }
        false
    });
    eventually(
        Duration::from_secs(60),
        "the deaf logger's packets committed and answered",
        || async {
            (app.metric("greenmon_hj212_answers_sent_total").await >= 1000.0).then_some(())
        },
    )
    .await;

    // Meanwhile another logger and MQTT are served.
    let mut good = TcpStream::connect(addr).await.unwrap();
    good.write_all(&minute("20260101090000001", 9, 0))
        .await
        .unwrap();
    let a = answer(&mut good).await;
    assert!(a.contains("QN=20260101090000001"), "{a}");
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    publisher
        .publish(&app.topic("park-a", "a-in"), reading_payload(0))
        .await;
    publisher.flush().await;
    eventually(
        Duration::from_secs(20),
        "the MQTT reading stored",
        || async {
            let n = app
                .db
                .count("SELECT count(*) FROM readings WHERE point_id = 'a-in'")
                .await;
            (n == 6).then_some(())
        },
    )
    .await;

    // The deaf logger is cut off (its writes stuck past hj212.write_timeout_secs, or its answer
    // queue full), and only the good logger stays connected.
    let closed = eventually(
        Duration::from_secs(60),
        "the deaf logger's connection closed",
        || async {
            let text = app.metrics().await;
            let n = crate::helpers::metric_value(
                &text,
                r#"greenmon_hj212_connections_closed_total{reason="write_timeout"}"#,
            ) + crate::helpers::metric_value(
                &text,
                r#"greenmon_hj212_connections_closed_total{reason="answers_full"}"#,
            );
            (n >= 1.0).then_some(n)
        },
    )
    .await;
    assert_eq!(closed, 1.0, "only the deaf logger is cut off");
    assert!(
        tokio::time::timeout(Duration::from_secs(30), sender)
            .await
            .expect("the deaf logger's writes fail once it is cut off")
            .unwrap(),
        "greenmon closed the deaf logger's connection"
    );
    eventually(Duration::from_secs(20), "one logger connected", || async {
        (app.metric("greenmon_hj212_connections").await == 1.0).then_some(())
    })
    .await;

    // The good logger is still served on its connection.
    good.write_all(&minute("20260101090100001", 9, 1))
        .await
        .unwrap();
    let a = answer(&mut good).await;
    assert!(a.contains("QN=20260101090100001"), "{a}");
    drop(good);
    eventually(Duration::from_secs(20), "no logger connected", || async {
        (app.metric("greenmon_hj212_connections").await == 0.0).then_some(())
    })
    .await;
    app.shutdown().await;
}

/// A Mosquitto of this test's own with no in-flight window at all (`max_inflight_messages 0`):
/// it sends every queued message without waiting for acks, so greenmon's own queue is the only
/// bound on what it holds.
struct UnboundedBroker {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl UnboundedBroker {
    fn start() -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
             max_inflight_messages 0\nmax_queued_messages 1000000\nmax_queued_bytes 0\nuser root\n"
        );
        let path = dir.path().join("mosquitto.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed");
        crate::helpers::wait_listening(port, "mosquitto");
        Self {
            port,
            child,
            _dir: dir,
        }
    }
}

impl Drop for UnboundedBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Messages published while the database is stuck.
const FLOOD: i64 = 1000;
/// `ingest.queue` in these tests.
const QUEUE: usize = 50;
/// `ingest.batch_max_rows`: a reading message is 7 rows (6 readings and the message), so a batch
/// holds at most 10 messages.
const BATCH_ROWS: usize = 70;
const MESSAGES_PER_BATCH: usize = 10;

/// What greenmon may hold unacknowledged with one commit at a time (`parallel_commits = 1`): the
/// queue, plus a batch committing, one queued for the committer and one the batcher holds.
const CAP: f64 = (QUEUE + 3 * MESSAGES_PER_BATCH) as f64;

async fn flood_app(broker: &UnboundedBroker, keep_alive_secs: u64) -> TestApp {
    TestApp::spawn_with(broker.port, |s| {
        s.ingest.queue = QUEUE;
        s.ingest.batch_max_rows = BATCH_ROWS;
        s.ingest.parallel_commits = 1;
        s.mqtt.keep_alive_secs = keep_alive_secs;
        // Only ingest touches the database while it is stuck.
        s.alerts.enabled = false;
    })
    .await
}

/// Takes an exclusive lock on `readings` on a connection of its own, so every commit waits: the
/// database is stuck until the transaction ends.
async fn stick_readings(app: &TestApp) -> PgConnection {
    let opts = greenmon::store::connect_options(
        &crate::helpers::settings_for(&app.db.name, 1883, "unused", "unused").database,
    );
    let mut conn = PgConnection::connect_with(&opts).await.unwrap();
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    sqlx::query("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

async fn publish_flood(app: &TestApp) {
    publish_messages(app, FLOOD).await;
}

async fn publish_messages(app: &TestApp, n: i64) {
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let topic = app.topic("park-a", "a-out");
    for i in 0..n {
        publisher.publish(&topic, reading_payload(i * 60)).await;
    }
    // Accepted by the broker: from here on it pushes them at greenmon without any window.
    publisher.flush().await;
}

async fn everything_arrives_once(app: &TestApp) {
    eventually(
        Duration::from_secs(120),
        "every reading stored once the database is back",
        || async { (app.db.readings().await == FLOOD * 6).then_some(()) },
    )
    .await;
    eventually(Duration::from_secs(30), "every message acked", || async {
        (app.metric("greenmon_unacked_messages").await == 0.0).then_some(())
    })
    .await;
    assert_eq!(app.db.quarantined().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_database_holds_no_more_than_the_queue_however_much_the_broker_sends() {
    let broker = UnboundedBroker::start();
    let mut app = flood_app(&broker, 30).await;
    let lock = stick_readings(&app).await;
    // Probes of the subscription were received and acked before.
    let before = app.metric("greenmon_mqtt_messages_received_total").await;
    publish_flood(&app).await;

    // The broker pushes past any window; greenmon's queue fills and the event loop waits (or,
    // were the queue unbounded, greenmon takes in more than the cap).
    eventually(Duration::from_secs(30), "the MQTT queue full", || async {
        let text = app.metrics().await;
        let full = crate::helpers::metric_value(
            &text,
            r#"greenmon_ingest_queue_full_total{source="mqtt"}"#,
        );
        let received = crate::helpers::metric_value(&text, "greenmon_mqtt_messages_received_total");
        (full >= 1.0 || received - before > CAP + 1.0).then_some(())
    })
    .await;
    let text = app.metrics().await;
    let unacked = crate::helpers::metric_value(&text, "greenmon_unacked_messages");
    let received =
        crate::helpers::metric_value(&text, "greenmon_mqtt_messages_received_total") - before;
    assert!(
        unacked > 0.0 && unacked <= CAP,
        "{unacked} unacked messages, above the cap of {CAP}"
    );
    assert!(
        // What is queued, plus the message waiting for room.
        received <= CAP + 1.0,
        "{received} messages taken from the broker while the database is stuck"
    );

    // The database is back: everything arrives, once.
    lock.close().await.unwrap();
    everything_arrives_once(&app).await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_full_for_a_keep_alive_drops_the_broker_connection_and_loses_nothing() {
    let broker = UnboundedBroker::start();
    let mut app = flood_app(&broker, 5).await;
    let lock = stick_readings(&app).await;
    publish_flood(&app).await;

    // Full for a whole keep-alive (no PINGREQ can go out): greenmon drops the connection and
    // waits for room rather than hold the committer's acks behind a stuck event loop.
    eventually(
        Duration::from_secs(60),
        "the broker connection dropped",
        || async { (app.metric("greenmon_mqtt_queue_stalls_total").await >= 1.0).then_some(()) },
    )
    .await;
    assert_eq!(app.metric("greenmon_mqtt_connected").await, 0.0);
    assert!(app.metric("greenmon_unacked_messages").await <= CAP);

    // Back: it reconnects, the broker redelivers what was not acked, and the primary key absorbs
    // what had been committed already.
    lock.close().await.unwrap();
    everything_arrives_once(&app).await;
    assert!(app.metric("greenmon_mqtt_connections_total").await >= 2.0);
    app.shutdown().await;
}

/// A backlog many times every queue, delivered by a broker with no window: greenmon reads only
/// as fast as it commits, and the acks of what it committed keep flowing meanwhile, so the drain
/// never stalls and the broker redelivers nothing. (Before, PUBACKs went out one per turn of
/// rumqttc's event loop while messages came in ten at a time; the acks backed up until the
/// committer waited on the event loop while the event loop waited on the committer, for a whole
/// keep-alive, and the broker then redelivered everything not acked.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_many_times_the_queues_drains_without_a_stall() {
    const BACKLOG: i64 = 5000;
    let broker = UnboundedBroker::start();
    let mut app = TestApp::spawn_with(broker.port, |s| {
        s.ingest.queue = QUEUE;
        s.ingest.ack_queue = 16;
        s.ingest.batch_max_rows = BATCH_ROWS;
        s.ingest.parallel_commits = 2;
        s.mqtt.keep_alive_secs = 5;
        s.alerts.enabled = false;
    })
    .await;
    let before = app.metric("greenmon_mqtt_messages_received_total").await;
    let lock = stick_readings(&app).await;
    publish_messages(&app, BACKLOG).await;
    eventually(Duration::from_secs(30), "the MQTT queue full", || async {
        let text = app.metrics().await;
        let full = crate::helpers::metric_value(
            &text,
            r#"greenmon_ingest_queue_full_total{source="mqtt"}"#,
        );
        (full >= 1.0).then_some(())
    })
    .await;
    lock.close().await.unwrap();

    eventually(Duration::from_secs(120), "the backlog stored", || async {
        (app.db.readings().await == BACKLOG * 6).then_some(())
    })
    .await;
    eventually(Duration::from_secs(30), "every message acked", || async {
        (app.metric("greenmon_unacked_messages").await == 0.0).then_some(())
    })
    .await;
    let text = app.metrics().await;
    let metric = |name: &str| crate::helpers::metric_value(&text, name);
    assert_eq!(metric("greenmon_mqtt_queue_stalls_total"), 0.0, "no stall");
    assert_eq!(
        metric("greenmon_mqtt_connections_total"),
        1.0,
        "one connection throughout"
    );
    assert_eq!(
        metric("greenmon_mqtt_messages_received_total") - before,
        BACKLOG as f64,
        "each message received once: nothing redelivered"
    );
    assert_eq!(metric("greenmon_readings_duplicate_total"), 0.0);
    assert_eq!(app.db.quarantined().await, 0);
    app.shutdown().await;
}

//! HJ 212 end to end: packets over MQTT, and data loggers over TCP that get their 9014 answers
//! after the commit, 9011 answers naming a bad CRC, MN or password, lose nothing when they drop
//! mid-packet, and connect by the thousand.

use std::time::Duration;

use hj212::{crc16_modbus, PacketBuilder, PacketFlag};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{eventually, Publisher, TestApp};

const A_OUT_MN: &str = "AAAA0000000000000000000A";
const B_OUT_MN: &str = "88888880000001";

fn packet(mn: &str, pw: &str, cn: &str, flag: u8, qn: &str, cp: &str) -> PacketBuilder {
    PacketBuilder {
        qn: Some(qn.into()),
        st: "32".into(),
        cn: cn.into(),
        pw: Some(pw.into()),
        mn: mn.into(),
        flag: Some(PacketFlag { raw: flag }),
        cp: cp.into(),
        ..Default::default()
    }
}

/// Minute data for a-out at 2026-01-01 `hh:mm` Beijing time, asking for an answer.
fn minute(qn: &str, hh: u32, mm: u32) -> Vec<u8> {
    packet(
        A_OUT_MN,
        "123456",
        "2051",
        5,
        qn,
        &format!("DataTime=20260101{hh:02}{mm:02}00;w01018-Min=20.1,w01018-Avg=23.5,w01018-Max=26.0,w01018-Flag=N;w00000-Cou=10.5,w00000-Avg=17.5,w00000-Flag=N"),
    )
    .encode()
}

async fn tcp_app() -> TestApp {
    TestApp::spawn_with(1883, |s| {
        s.hj212.listen = "127.0.0.1:0".into();
        s.hj212.split_timeout_secs = 1;
    })
    .await
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

#[tokio::test]
async fn packets_over_mqtt_are_stored_and_bad_ones_quarantined() {
    let mut app = TestApp::spawn().await;
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let mut payload = minute("20260101080000001", 8, 0);
    payload.extend(minute("20260101080100001", 8, 1));
    payload.extend(
        packet(
            "FFFF0000000000000000FFFF",
            "1",
            "2051",
            4,
            "1",
            "DataTime=20260101080000;w01018-Avg=1",
        )
        .encode(),
    );
    publisher
        .publish(&format!("{}/parks/park-a/hj212", app.prefix), payload)
        .await;
    // a-out is park-a's: published under park-b, it is refused.
    publisher
        .publish(
            &format!("{}/parks/park-b/hj212", app.prefix),
            minute("20260101090000001", 9, 0),
        )
        .await;
    publisher.flush().await;
    eventually(
        Duration::from_secs(20),
        "4 readings and 2 quarantined packets",
        || async {
            (app.db.readings().await == 4 && app.db.quarantined().await == 2).then_some(())
        },
    )
    .await;
    let (kind, min, max, cou): (String, Option<f64>, Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT kind, min, max, cou FROM readings WHERE pollutant = 'w01018' ORDER BY time LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), min, max, cou),
        ("min", Some(20.1), Some(26.0), None)
    );
    let utc: String =
        sqlx::query_scalar("SELECT to_char(min(time) AT TIME ZONE 'UTC', 'HH24:MI') FROM readings")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(utc, "00:00", "DataTime is Beijing time");
    assert_eq!(
        app.db.quarantine().await,
        [
            ("park_mismatch".to_string(), 1),
            ("unknown_mn".to_string(), 1)
        ]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_logger_over_tcp_gets_its_answers_after_the_commit() {
    let mut app = tcp_app().await;
    let addr = app.app.as_ref().unwrap().hj212_addr.unwrap();
    let mut logger = TcpStream::connect(addr).await.unwrap();

    // Minute data, sent in two fragments: answered with 9014 and the same QN, once stored.
    let data = minute("20260101080000001", 8, 0);
    logger.write_all(&data[..20]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    logger.write_all(&data[20..]).await.unwrap();
    let a = answer(&mut logger).await;
    assert!(
        a.contains("CN=9014") && a.contains("QN=20260101080000001") && a.contains("ST=91"),
        "{a}"
    );
    assert_eq!(
        app.db.readings().await,
        2,
        "answered only after the rows were committed"
    );

    // A corrupted CRC: 9011 with QnRtn=9, and the packet is quarantined.
    let mut bad = minute("20260101080100001", 8, 1);
    let n = bad.len();
    bad[n - 4] = if bad[n - 4] == b'0' { b'1' } else { b'0' };
    logger.write_all(&bad).await.unwrap();
    let a = answer(&mut logger).await;
    assert!(a.contains("CN=9011") && a.contains("QnRtn=9"), "{a}");

    // An unknown MN: QnRtn=4. A wrong password for b-out: QnRtn=3.
    logger
        .write_all(
            &packet(
                "FFFF0000000000000000FFFF",
                "1",
                "2051",
                5,
                "20260101080200001",
                "DataTime=20260101080200;w01018-Avg=1",
            )
            .encode(),
        )
        .await
        .unwrap();
    assert!(answer(&mut logger).await.contains("QnRtn=4"));
    logger
        .write_all(
            &packet(
                B_OUT_MN,
                "000000",
                "2051",
                5,
                "20260101080300001",
                "DataTime=20260101080300;w01018-Avg=1",
            )
            .encode(),
        )
        .await
        .unwrap();
    assert!(answer(&mut logger).await.contains("QnRtn=3"));

    // b-out may send MODBUS CRCs; a-out may not.
    let modbus = |b: PacketBuilder| {
        let data = b.build();
        format!(
            "##{:04}{data}{:04X}\r\n",
            data.len(),
            crc16_modbus(data.as_bytes())
        )
        .into_bytes()
    };
    logger
        .write_all(&modbus(packet(
            B_OUT_MN,
            "654321",
            "2051",
            5,
            "20260101080400001",
            "DataTime=20260101080400;w01018-Avg=2",
        )))
        .await
        .unwrap();
    assert!(answer(&mut logger).await.contains("CN=9014"));
    logger
        .write_all(&modbus(packet(
            A_OUT_MN,
            "123456",
            "2051",
            5,
            "20260101080500001",
            "DataTime=20260101080500;w01018-Avg=2",
        )))
        .await
        .unwrap();
    assert!(answer(&mut logger).await.contains("QnRtn=9"));

    // A command greenmon does not use is answered and stored nowhere.
    logger
        .write_all(
            &packet(
                A_OUT_MN,
                "123456",
                "2081",
                5,
                "20260101080600001",
                "DataTime=20260101080600;RestartTime=20260101070000",
            )
            .encode(),
        )
        .await
        .unwrap();
    assert!(answer(&mut logger).await.contains("CN=9014"));
    assert_eq!(app.db.readings().await, 3);
    let mut q = app.db.quarantine().await;
    q.sort();
    assert_eq!(
        q,
        [
            ("bad_password".to_string(), 1),
            ("crc_mismatch".to_string(), 1),
            ("crc_mode_not_allowed".to_string(), 1),
            ("unknown_mn".to_string(), 1)
        ]
    );
    assert!(app.metric("greenmon_hj212_ignored_packets_total").await >= 1.0);
    // Every answer queued had its wait measured.
    let answers = app.metric("greenmon_hj212_answers_sent_total").await;
    assert!(answers >= 7.0, "{answers} answers");
    assert_eq!(
        app.metric("greenmon_hj212_answer_seconds_count").await,
        answers
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_logger_that_drops_mid_packet_loses_nothing_answered() {
    let mut app = tcp_app().await;
    let addr = app.app.as_ref().unwrap().hj212_addr.unwrap();
    let mut logger = TcpStream::connect(addr).await.unwrap();
    logger
        .write_all(&minute("20260101080000001", 8, 0))
        .await
        .unwrap();
    assert!(answer(&mut logger).await.contains("CN=9014"));
    // Half of the next packet, then the line drops.
    let next = minute("20260101080100001", 8, 1);
    logger.write_all(&next[..next.len() / 2]).await.unwrap();
    drop(logger);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.db.readings().await,
        2,
        "the half packet is neither stored nor answered"
    );
    // The logger reconnects and sends the unanswered packet again, in full.
    let mut logger = TcpStream::connect(addr).await.unwrap();
    logger.write_all(&next).await.unwrap();
    assert!(answer(&mut logger).await.contains("QN=20260101080100001"));
    assert_eq!(app.db.readings().await, 4);
    assert_eq!(app.db.quarantined().await, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_split_upload_missing_a_part_is_recorded() {
    let mut app = tcp_app().await;
    let addr = app.app.as_ref().unwrap().hj212_addr.unwrap();
    let mut logger = TcpStream::connect(addr).await.unwrap();
    // Part 1 of 2 (flag 7: 2017, split, answer required); part 2 never comes.
    let mut part = packet(
        A_OUT_MN,
        "123456",
        "2061",
        7,
        "20260101090000001",
        "DataTime=20260101080000;w00000-Avg=80.5,w00000-Flag=N",
    );
    part.pnum = Some(2);
    part.pno = Some(1);
    logger.write_all(&part.encode()).await.unwrap();
    assert!(answer(&mut logger).await.contains("CN=9014"));
    assert_eq!(app.db.readings().await, 1, "the part received is stored");
    let (pnum, received): (i32, Vec<i32>) =
        eventually(Duration::from_secs(20), "the gap", || async {
            sqlx::query_as("SELECT pnum, received_pno FROM hj212_gaps WHERE mn = $1")
                .bind(A_OUT_MN)
                .fetch_optional(&app.db.pool)
                .await
                .unwrap()
        })
        .await;
    assert_eq!((pnum, received), (2, vec![1]));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_loggers_at_once() {
    let mut app = tcp_app().await;
    let addr = app.app.as_ref().unwrap().hj212_addr.unwrap();
    let mut loggers = Vec::new();
    for i in 0..1000u32 {
        loggers.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            // Each logger its own minute of the day.
            let qn = format!("20260101{:02}{:02}00{i:03}", i / 60 % 24, i % 60);
            s.write_all(&minute(&qn, i / 60 % 24, i % 60))
                .await
                .unwrap();
            let a = answer(&mut s).await;
            assert!(a.contains(&format!("QN={qn}")), "{a}");
        }));
    }
    for l in loggers {
        l.await.unwrap();
    }
    assert_eq!(app.db.readings().await, 2000);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_tcp_loggers_upload_and_are_answered() {
    let mut app = tcp_app().await;
    let addr = app.app.as_ref().unwrap().hj212_addr.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry.toml");
    std::fs::write(&registry, crate::helpers::TEST_REGISTRY).unwrap();
    // The test registry has two points with an MN: a-out, and b-out with its own password.
    let out = tokio::task::spawn_blocking({
        let db = app.db.name.clone();
        move || {
            crate::helpers::run_ok(crate::helpers::greenmon(&db).args([
                "simulate",
                "--registry",
                registry.to_str().unwrap(),
                "--hj212-tcp",
                &addr.to_string(),
                "--every",
                "0.2",
                "--count",
                "20",
                "--seed",
                "7",
            ]))
        }
    })
    .await
    .unwrap();
    assert!(
        out.starts_with("2 HJ 212 loggers sent ") && out.contains(" refused; "),
        "{out}"
    );
    let number_before = |word: &str| -> i64 {
        let head = &out[..out.find(word).unwrap()];
        head.split_whitespace().last().unwrap().parse().unwrap()
    };
    let (sent, stored) = (number_before(" uploads"), number_before(" stored"));
    assert!(stored >= 20 && sent >= stored, "{out}");
    assert_eq!(number_before(" refused"), 0, "{out}");
    // Six values per upload; every stored upload is in the database, under both points.
    let readings = app.db.readings().await;
    assert!(
        readings >= 6 * stored && readings <= 6 * sent,
        "{readings} readings: {out}"
    );
    let points = app
        .db
        .count("SELECT count(DISTINCT point_id) FROM readings")
        .await;
    assert_eq!(points, 2);
    assert_eq!(app.db.quarantined().await, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_wrong_system_code_is_answered_qn_rtn_5_and_quarantined() {
    let mut app = tcp_app().await;
    sqlx::query("UPDATE monitoring_points SET hj212_st = '32' WHERE id = 'b-out'")
        .execute(&app.db.pool)
        .await
        .unwrap();
    let addr = app.app.as_ref().unwrap().hj212_addr.unwrap();
    let mut logger = TcpStream::connect(addr).await.unwrap();
    let mut p = packet(
        B_OUT_MN,
        "654321",
        "2051",
        5,
        "20260101080000001",
        "DataTime=20260101080000;w01018-Avg=1",
    );
    p.st = "31".into();
    logger.write_all(&p.encode()).await.unwrap();
    let a = answer(&mut logger).await;
    assert!(
        a.contains("CN=9011") && a.contains("QnRtn=5") && a.contains("QN=20260101080000001"),
        "{a}"
    );
    // The registered ST passes.
    p.st = "32".into();
    logger.write_all(&p.encode()).await.unwrap();
    assert!(answer(&mut logger).await.contains("CN=9014"));
    assert_eq!(app.db.quarantine().await, [("bad_st".to_string(), 1)]);
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM quarantine WHERE reason = 'bad_st'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert!(
        detail.contains("ST=31") && detail.contains("ST=32"),
        "{detail}"
    );
    app.shutdown().await;
}

//! Extreme values: implausible values are quarantined at the edge, and a series whose rollup
//! sums overflow anyway (data stored before the check) is set aside without blocking the others.

use std::time::Duration;

use greenmon::store;

use crate::helpers::{eventually, Publisher, TestApp, TestDb};

#[tokio::test]
async fn implausible_values_are_quarantined_and_the_rest_is_stored() {
    let mut app = TestApp::spawn().await;
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let topic = app.topic("park-a", "a-out");
    let bad = [
        r#"{"ts":"2026-01-01T00:00:00Z","values":{"cod":1.7e308}}"#,
        r#"{"ts":"2026-01-01T00:01:00Z","values":{"cod":1.7e308}}"#,
        r#"{"ts":"2026-01-01T00:02:00Z","values":{"ph":15}}"#,
        r#"{"ts":"2026-01-01T00:03:00Z","values":{"w99999":-1e10}}"#,
        r#"{"ts":"1970-01-01T00:00:00Z","values":{"cod":20}}"#,
        r#"{"ts":"0001-01-01T00:00:00Z","values":{"cod":20}}"#,
    ];
    for b in bad {
        publisher.publish(&topic, b.as_bytes().to_vec()).await;
    }
    // An HJ 212 packet over MQTT with an absurd hourly average.
    let cp = "DataTime=20260101080000;w01018-Avg=99999999999.9,w01018-Flag=N";
    let packet = greenmon_hj212_packet(cp);
    publisher
        .publish(&format!("{}/parks/park-a/hj212", app.prefix), packet)
        .await;
    publisher
        .publish(
            &topic,
            br#"{"ts":"2026-01-01T00:04:00Z","values":{"cod":23.5,"ph":7}}"#.to_vec(),
        )
        .await;
    publisher.flush().await;

    eventually(
        Duration::from_secs(20),
        "every message accounted for",
        || async {
            (app.db.quarantined().await == 7 && app.db.readings().await == 2).then_some(())
        },
    )
    .await;
    assert_eq!(
        app.db.quarantine().await,
        [
            ("time_out_of_range".to_string(), 2),
            ("value_out_of_range".to_string(), 5)
        ]
    );
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM quarantine WHERE reason = 'value_out_of_range' AND source = 'mqtt'
         AND convert_from(payload, 'UTF8') LIKE '%ph%' LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert!(detail.contains("w01001 value = 15"), "{detail}");
    app.shutdown().await;
}

/// An HJ 212-2017 hourly-data packet of point a-out (MN AAAA…A, no password) with `cp`.
fn greenmon_hj212_packet(cp: &str) -> Vec<u8> {
    let data = format!("QN=20260101080000001;ST=32;CN=2061;PW=123456;MN=AAAA0000000000000000000A;Flag=4;CP=&&{cp}&&");
    let crc = hj212::crc16_hj212(data.as_bytes());
    format!("##{:04}{data}{crc:04X}\r\n", data.len()).into_bytes()
}

#[tokio::test]
async fn a_series_whose_sums_overflow_is_set_aside_and_the_others_fold() {
    let db = TestDb::new().await;
    // Two stored readings of 1.7e308 in one hour, in separate statements, as the service
    // stored them before values were checked; and a normal reading of another park.
    for (point, minute, value) in [
        ("a-out", 0, 1.7e308),
        ("a-out", 1, 1.7e308),
        ("b-out", 0, 20.0),
    ] {
        sqlx::query(
            "INSERT INTO readings (time, point_id, pollutant, kind, value, flag)
             VALUES ('2026-01-01T00:00:00Z'::timestamptz + make_interval(mins => $2),
                     $1, 'w01018', 'rtd', $3, 'N')",
        )
        .bind(point)
        .bind(minute)
        .bind(value)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let folded = store::rollup::fold(&db.pool).await.unwrap();
    assert_eq!(folded, 1, "b-out's reading folds");
    let b: i64 = db
        .count("SELECT count FROM readings_hourly WHERE point_id = 'b-out'")
        .await;
    assert_eq!(b, 1);
    let (point, readings, reason): (String, i64, String) =
        sqlx::query_as("SELECT point_id, readings, reason FROM rollup_set_aside")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((point.as_str(), readings), ("a-out", 2));
    assert!(reason.contains("out of range"), "{reason}");
    assert_eq!(store::rollup::set_aside(&db.pool).await.unwrap(), 1);
    // Nothing is left pending, and the next fold runs clean.
    assert_eq!(
        db.count("SELECT count(*) FROM readings_hourly_pending")
            .await,
        0
    );
    assert_eq!(store::rollup::fold(&db.pool).await.unwrap(), 0);
}

//! Publish → rows, redelivery, quarantine reasons, energy reports, metrics, graceful shutdown.

use std::time::Duration;

use crate::helpers::{eventually, reading_payload, Publisher, TestApp};

#[tokio::test]
async fn publish_stores_rows_and_redelivery_stores_no_duplicates() {
    let mut app = TestApp::spawn().await;
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let topic = app.topic("park-a", "a-out");
    for i in 0..50 {
        publisher.publish(&topic, reading_payload(i * 60)).await;
    }
    // A batch payload with two timestamps and local (zone-less) time.
    let batch = br#"{"readings":[{"ts":"2026-02-01 08:00:00","values":{"cod":30}},{"ts":"2026-02-01T08:01:00","values":{"cod":31},"flags":{"cod":"M"}}]}"#;
    publisher
        .publish(&app.topic("park-b", "b-out"), batch.to_vec())
        .await;
    publisher.flush().await;
    eventually(Duration::from_secs(20), "302 readings", || async {
        (app.db.readings().await == 302).then_some(())
    })
    .await;

    // The same messages again, as a redelivery would bring them: nothing new is stored.
    for i in 0..50 {
        publisher.publish(&topic, reading_payload(i * 60)).await;
    }
    publisher.flush().await;
    eventually(
        Duration::from_secs(20),
        "the duplicates to be counted",
        || async { (app.metric("greenmon_readings_duplicate_total").await == 300.0).then_some(()) },
    )
    .await;
    assert_eq!(app.db.readings().await, 302);

    // Stored as HJ 212-2017 codes, with flags, and local time read in Asia/Shanghai.
    let (flag, utc): (String, String) = sqlx::query_as(
        "SELECT flag, to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM readings
         WHERE point_id = 'b-out' AND pollutant = 'w01018' ORDER BY time DESC LIMIT 1",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!((flag.as_str(), utc.as_str()), ("M", "2026-02-01 00:01"));
    let codes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT pollutant FROM readings WHERE point_id = 'a-out' ORDER BY 1",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        codes,
        ["w00000", "w01001", "w01018", "w21001", "w21003", "w21011"]
    );

    let m = app.metrics().await;
    assert!(
        crate::helpers::metric_value(&m, "greenmon_readings_stored_total") == 302.0,
        "{m}"
    );
    assert_eq!(
        crate::helpers::metric_value(&m, "greenmon_unacked_messages"),
        0.0
    );
    assert!(crate::helpers::metric_value(&m, "greenmon_mqtt_connected") == 1.0);
    assert!(m.contains("greenmon_batch_commit_seconds_count"));
    assert!(m.contains("greenmon_ingest_lag_seconds_count"));
    app.shutdown().await;
}

#[tokio::test]
async fn every_rejection_reason_lands_in_quarantine() {
    let mut app = TestApp::spawn_with(1883, |s| s.ingest.max_payload_bytes = 4096).await;
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let ok_ts = "2026-01-01T00:00:00Z";
    let future = (chrono::Utc::now() + chrono::Duration::minutes(10)).to_rfc3339();
    let readings = |b: &str| (app.topic("park-a", "a-out"), b.to_string());
    let cases: Vec<(&str, (String, String))> = vec![
        ("payload_too_large", readings(&"x".repeat(5000))),
        (
            "invalid_topic",
            (format!("{}/parks/Park_A/energy", app.prefix), "{}".into()),
        ),
        ("invalid_json", readings("{not json")),
        (
            "invalid_schema",
            readings(&format!(r#"{{"ts":"{ok_ts}","vals":{{"cod":1}}}}"#)),
        ),
        (
            "unknown_pollutant",
            readings(&format!(r#"{{"ts":"{ok_ts}","values":{{"chlorine":1}}}}"#)),
        ),
        (
            "non_finite_value",
            readings(&format!(r#"{{"ts":"{ok_ts}","values":{{"cod":"NaN"}}}}"#)),
        ),
        (
            "invalid_timestamp",
            readings(r#"{"ts":"yesterday","values":{"cod":1}}"#),
        ),
        (
            "future_timestamp",
            readings(&format!(r#"{{"ts":"{future}","values":{{"cod":1}}}}"#)),
        ),
        (
            "invalid_flag",
            readings(&format!(
                r#"{{"ts":"{ok_ts}","values":{{"cod":1}},"flag":"Z"}}"#
            )),
        ),
        (
            "duplicate_pollutant",
            readings(&format!(
                r#"{{"ts":"{ok_ts}","values":{{"cod":1,"w01018":2}}}}"#
            )),
        ),
        ("empty_message", readings(r#"{"readings":[]}"#)),
        (
            "invalid_period",
            (
                format!("{}/parks/park-a/energy", app.prefix),
                r#"{"period":"2018-13","energy_tce":1,"value_added_10k_yuan":2}"#.into(),
            ),
        ),
        (
            "invalid_energy_report",
            (
                format!("{}/parks/park-a/energy", app.prefix),
                r#"{"period":"2018-03","energy_tce":-1,"value_added_10k_yuan":2}"#.into(),
            ),
        ),
        (
            "unknown_point",
            (
                app.topic("park-a", "nowhere"),
                format!(r#"{{"ts":"{ok_ts}","values":{{"cod":1}}}}"#),
            ),
        ),
        (
            "park_mismatch",
            (
                app.topic("park-b", "a-out"),
                format!(r#"{{"ts":"{ok_ts}","values":{{"cod":1}}}}"#),
            ),
        ),
        (
            "unknown_park",
            (
                format!("{}/parks/park-zz/energy", app.prefix),
                r#"{"period":"2018-03","energy_tce":1,"value_added_10k_yuan":2}"#.into(),
            ),
        ),
    ];
    for (_, (topic, payload)) in &cases {
        publisher.publish(topic, payload.clone().into_bytes()).await;
    }
    publisher.flush().await;
    let mut expected: Vec<(String, i64)> = cases.iter().map(|(r, _)| (r.to_string(), 1)).collect();
    expected.sort();
    eventually(
        Duration::from_secs(20),
        "one quarantine row per reason",
        || async { (app.db.quarantine().await == expected).then_some(()) },
    )
    .await;
    // The raw bytes are kept, and nothing of a rejected message was stored.
    let raw: Vec<u8> = sqlx::query_scalar(
        "SELECT payload FROM quarantine WHERE reason = 'invalid_json' AND topic NOT LIKE '%probe%'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(raw, b"{not json");
    assert_eq!(app.db.readings().await, 0);
    assert_eq!(app.db.count("SELECT count(*) FROM energy_reports").await, 0);
    eventually(Duration::from_secs(5), "quarantine metrics", || async {
        let m = app.metrics().await;
        (crate::helpers::metric_value(
            &m,
            r#"greenmon_quarantined_messages_total{reason="park_mismatch"}"#,
        ) == 1.0
            && crate::helpers::metric_value(&m, "greenmon_unacked_messages") == 0.0)
            .then_some(())
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn energy_reports_are_stored_and_corrected() {
    let mut app = TestApp::spawn().await;
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let topic = format!("{}/parks/park-a/energy", app.prefix);
    for payload in [
        r#"{"period":"2018-03","energy_tce":100.0,"value_added_10k_yuan":200.0,"price_index":1.1}"#,
        r#"{"period":"2018-Q1","energy_tce":300.0,"value_added_10k_yuan":600.0}"#,
        r#"{"period":"2018","energy_tce":1200.0,"value_added_10k_yuan":2500.0,"price_index":1.08}"#,
    ] {
        publisher.publish(&topic, payload.as_bytes().to_vec()).await;
    }
    publisher.flush().await;
    eventually(Duration::from_secs(20), "3 energy reports", || async {
        (app.db.count("SELECT count(*) FROM energy_reports").await == 3).then_some(())
    })
    .await;
    // A corrected report for the same period replaces the earlier one.
    publisher
        .publish(&topic, br#"{"period":"2018-03","energy_tce":90.0,"value_added_10k_yuan":200.0,"price_index":1.1}"#.to_vec())
        .await;
    publisher.flush().await;
    eventually(Duration::from_secs(20), "the corrected report", || async {
        let e: f64 =
            sqlx::query_scalar("SELECT energy_tce FROM energy_reports WHERE period = '2018-03'")
                .fetch_one(&app.db.pool)
                .await
                .unwrap();
        (e == 90.0).then_some(())
    })
    .await;
    let (kind, start, end, pi): (String, String, String, f64) = sqlx::query_as(
        "SELECT period_kind, period_start::text, period_end::text, price_index FROM energy_reports WHERE period = '2018-Q1'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (kind.as_str(), start.as_str(), end.as_str(), pi),
        ("quarter", "2018-01-01", "2018-04-01", 1.0)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_flushes_a_partial_batch() {
    // A linger far longer than the test: only the shutdown flush can commit these messages.
    let mut app = TestApp::spawn_with(1883, |s| {
        s.ingest.linger_ms = 600_000;
        s.ingest.batch_max_rows = 1_000_000;
    })
    .await;
    let metrics = app.app.as_ref().unwrap().metrics.clone();
    // The subscription probes are held too.
    let probes = metrics.mqtt_received.get() as i64;
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let topic = app.topic("park-a", "a-out");
    for i in 0..10 {
        publisher.publish(&topic, reading_payload(i)).await;
    }
    publisher.flush().await;
    eventually(
        Duration::from_secs(10),
        "10 messages held unacked",
        || async { (metrics.unacked.get() == probes + 10).then_some(()) },
    )
    .await;
    assert_eq!(
        app.db.readings().await,
        0,
        "nothing is committed before the linger or shutdown"
    );
    app.shutdown().await;
    assert_eq!(app.db.readings().await, 60);
    assert_eq!(metrics.mqtt_acked.get() as i64, probes + 10);
    assert_eq!(metrics.unacked.get(), 0);
}

#[tokio::test]
async fn health_and_readiness() {
    let mut app = TestApp::spawn().await;
    let health = reqwest::get(format!("{}/healthz", app.http)).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{}/readyz", app.http)).await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"database": "up", "broker": "up"}));
    app.shutdown().await;
}

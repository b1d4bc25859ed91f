//! Oversized messages: quarantined with their topic, size and first bytes, acknowledged, and
//! never a reason for the client to drop its connection.

use std::time::Duration;

use crate::helpers::{eventually, reading_payload, Publisher, TestApp};

#[tokio::test]
async fn an_oversized_message_is_quarantined_and_ingest_goes_on() {
    let mut app = TestApp::spawn().await;
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let topic = app.topic("park-a", "a-out");
    // 1 MiB and a bit: above ingest.max_payload_bytes (256 KiB) and above the 1 MiB client
    // packet limit greenmon used to have, which made it reconnect and be redelivered forever.
    let mut big = br#"{"ts":"2026-01-01T00:00:00Z","values":{"cod":"#.to_vec();
    big.resize((1 << 20) + 100, b'1');
    publisher.publish(&topic, big).await;
    publisher.publish(&topic, reading_payload(60)).await;
    publisher.flush().await;

    eventually(
        Duration::from_secs(20),
        "the good reading stored",
        || async { (app.db.readings().await == 6).then_some(()) },
    )
    .await;
    let (size_detail, kept, head): (String, i32, Vec<u8>) = eventually(
        Duration::from_secs(20),
        "the oversized message in quarantine",
        || async {
            sqlx::query_as(
                "SELECT detail, length(payload), substring(payload FROM 1 FOR 20) FROM quarantine
                 WHERE reason = 'payload_too_large' AND topic = $1",
            )
            .bind(&topic)
            .fetch_optional(&app.db.pool)
            .await
            .unwrap()
        },
    )
    .await;
    assert!(size_detail.contains("1048676 bytes"), "{size_detail}");
    assert_eq!(
        kept, 4096,
        "the first bytes are kept, not the whole message"
    );
    assert_eq!(&head, br#"{"ts":"2026-01-01T00"#);

    // Acknowledged (nothing unacked), and the connection never dropped.
    eventually(Duration::from_secs(10), "every message acked", || async {
        (app.metric("greenmon_unacked_messages").await == 0.0).then_some(())
    })
    .await;
    assert_eq!(app.metric("greenmon_mqtt_connections_total").await, 1.0);
    assert_eq!(
        app.metric(r#"greenmon_quarantined_messages_total{reason="payload_too_large"}"#)
            .await,
        1.0
    );
    app.shutdown().await;
}

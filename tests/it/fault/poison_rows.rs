//! Poison rows: a message whose rows the database refuses (a NUL byte PostgreSQL cannot store in
//! text, for one) is quarantined with the database's message, and the rest of its batch is
//! committed. Nothing is retried forever.

use std::time::Duration;

use crate::helpers::{eventually, reading_payload, Publisher, TestApp};

fn hj212_packet(mn: &str, cp: &str) -> Vec<u8> {
    let data = format!("QN=20260101080000001;ST=32;CN=2061;PW=123456;MN={mn};Flag=4;CP=&&{cp}&&");
    let crc = hj212::crc16_hj212(data.as_bytes());
    format!("##{:04}{data}{crc:04X}\r\n", data.len()).into_bytes()
}

#[tokio::test]
async fn nul_bytes_are_quarantined_and_the_batch_goes_on() {
    let mut app = TestApp::spawn_with(1883, |s| s.ingest.linger_ms = 200).await;
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let topic = app.topic("park-a", "a-out");
    let hj212 = format!("{}/parks/park-a/hj212", app.prefix);
    publisher.publish(&topic, reading_payload(0)).await;
    // A NUL in an unknown pollutant's name, in a flag, and in an HJ 212 MN.
    publisher
        .publish(
            &topic,
            b"{\"ts\":\"2026-01-01T00:00:00Z\",\"values\":{\"c\\u0000d\":1}}".to_vec(),
        )
        .await;
    publisher
        .publish(
            &topic,
            b"{\"ts\":\"2026-01-01T00:00:00Z\",\"values\":{\"cod\":1},\"flags\":{\"cod\":\"\\u0000\"}}"
                .to_vec(),
        )
        .await;
    publisher
        .publish(
            &hj212,
            hj212_packet(
                "AAAA\0",
                "DataTime=20260101080000;w01018-Avg=20,w01018-Flag=N",
            ),
        )
        .await;
    publisher.publish(&topic, reading_payload(60)).await;
    publisher.flush().await;

    eventually(
        Duration::from_secs(30),
        "the good readings and the quarantine",
        || async {
            (app.db.readings().await == 12 && app.db.quarantined().await == 3).then_some(())
        },
    )
    .await;
    let details: Vec<String> = sqlx::query_scalar(
        "SELECT detail FROM quarantine WHERE topic NOT LIKE '%/probe/%' ORDER BY id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert!(details.iter().all(|d| !d.contains('\0')), "{details:?}");
    assert_eq!(app.metric("greenmon_unacked_messages").await, 0.0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_row_the_database_refuses_is_quarantined_and_the_rest_committed() {
    let mut app = TestApp::spawn_with(1883, |s| s.ingest.linger_ms = 300).await;
    // A database that refuses one row: any reading of 666.
    refuse(
        &app.db.pool,
        "readings",
        "NEW.value = 666",
        "poison reading refused",
    )
    .await;
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let topic = app.topic("park-a", "a-out");
    let poison = |minute: u32| {
        format!(r#"{{"ts":"2026-01-01T00:{minute:02}:00Z","values":{{"cod":666}}}}"#).into_bytes()
    };
    publisher.publish(&topic, reading_payload(0)).await;
    publisher.publish(&topic, poison(5)).await;
    publisher.publish(&topic, reading_payload(60)).await;
    publisher.flush().await;
    eventually(Duration::from_secs(30), "the rest committed", || async {
        (app.db.readings().await == 12).then_some(())
    })
    .await;
    let (reason, detail): (String, String) = eventually(
        Duration::from_secs(10),
        "the refused message in quarantine",
        || async {
            sqlx::query_as("SELECT reason, detail FROM quarantine WHERE topic NOT LIKE '%/probe/%'")
                .fetch_optional(&app.db.pool)
                .await
                .unwrap()
        },
    )
    .await;
    assert_eq!(reason, "rejected_by_database");
    assert!(detail.contains("poison reading refused"), "{detail}");

    // Now the database refuses even its quarantine row: the message is acknowledged (logged),
    // and ingest goes on.
    refuse(
        &app.db.pool,
        "quarantine",
        "NEW.detail LIKE '%poison%'",
        "no room for poison",
    )
    .await;
    publisher.publish(&topic, poison(6)).await;
    publisher.publish(&topic, reading_payload(120)).await;
    publisher.flush().await;
    eventually(Duration::from_secs(30), "ingest going on", || async {
        (app.db.readings().await == 18).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), "every message acked", || async {
        (app.metric("greenmon_unacked_messages").await == 0.0).then_some(())
    })
    .await;
    assert_eq!(
        app.metric(r#"greenmon_quarantined_messages_total{reason="rejected_by_database"}"#)
            .await,
        2.0
    );
    app.shutdown().await;
}

/// Makes the database refuse the rows of `table` for which `condition` holds, with `message`.
async fn refuse(pool: &sqlx::PgPool, table: &str, condition: &str, message: &str) {
    sqlx::raw_sql(&format!(
        "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF {condition} THEN RAISE EXCEPTION '{message}'; END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table}
             FOR EACH ROW EXECUTE FUNCTION refuse_{table}();"
    ))
    .execute(pool)
    .await
    .unwrap();
}

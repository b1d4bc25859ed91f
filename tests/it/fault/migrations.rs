//! A migration that no longer matches what was applied stops start-up at once, naming it,
//! instead of being retried forever.

use greenmon::app;

use crate::helpers::{settings_for, unique, TestDb};

#[tokio::test]
async fn an_edited_migration_stops_start_up_naming_it() {
    let db = TestDb::new().await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 20261127000003")
        .execute(&db.pool)
        .await
        .unwrap();
    let settings = settings_for(&db.name, 1883, &unique("t"), &unique("gm"));
    let started = tokio::time::timeout(std::time::Duration::from_secs(30), app::start(settings))
        .await
        .expect("start-up gives up at once, not after retries");
    let Err(e) = started else {
        panic!("started on a schema whose migration was edited")
    };
    let message = format!("{e:#}");
    assert!(
        message.contains("migration 20261127000003 (compliance)"),
        "{message}"
    );
}

//! Tokens that should no longer open anything: expired ones get 401 like revoked ones, every
//! failed authentication is counted by a bounded reason, use is recorded at most once a minute,
//! and `greenmon token create --expires` refuses nonsense.

use std::process::Command;

use chrono::{Duration, Utc};
use greenmon::store::tokens::{self, TokenRole};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{repo_path, TestApp};

async fn get(app: &TestApp, auth: Option<&str>) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().get(format!("{}/api/v1/parks", app.http));
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let res = req.send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

async fn last_used(app: &TestApp, id: i64) -> Option<chrono::DateTime<Utc>> {
    sqlx::query_scalar("SELECT last_used_at FROM api_tokens WHERE id = $1")
        .bind(id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn expired_tokens_are_refused_and_failures_counted() {
    let mut app = TestApp::spawn_with(1883, |s| s.alerts.enabled = false).await;
    let pool = &app.db.pool;
    let (live_id, live) = tokens::create_expiring(
        pool,
        "live",
        &TokenRole::Bureau,
        Some(Utc::now() + Duration::days(1)),
    )
    .await
    .unwrap();
    let (expired_id, expired) = tokens::create_expiring(
        pool,
        "expired",
        &TokenRole::Park("park-a".into()),
        Some(Utc::now() + Duration::days(1)),
    )
    .await
    .unwrap();
    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(expired_id)
        .execute(pool)
        .await
        .unwrap();
    let (revoked_id, revoked) = tokens::create(pool, "revoked", &TokenRole::Bureau)
        .await
        .unwrap();
    assert!(tokens::revoke(pool, revoked_id).await.unwrap());

    let (s, _) = get(&app, Some(&format!("Bearer {live}"))).await;
    assert_eq!(s, StatusCode::OK);
    let unknown = format!("Bearer gm_{}", "0".repeat(64));
    let refused = [
        (None, "missing"),
        (Some("Basic abc".to_string()), "malformed"),
        (Some("Bearer not-a-greenmon-token".to_string()), "malformed"),
        (Some(unknown), "unknown"),
        (Some(format!("Bearer {revoked}")), "revoked"),
        (Some(format!("Bearer {expired}")), "expired"),
        (Some(format!("Bearer {expired}")), "expired"),
    ];
    for (auth, reason) in &refused {
        let (s, b) = get(&app, auth.as_deref()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{reason}: {b}");
        assert_eq!(b["error"], "unauthorized", "{b}");
    }
    let metrics = app.metrics().await;
    for (reason, n) in [
        ("missing", 1.0),
        ("malformed", 2.0),
        ("unknown", 1.0),
        ("revoked", 1.0),
        ("expired", 2.0),
    ] {
        let name = format!(r#"greenmon_http_auth_failures_total{{reason="{reason}"}}"#);
        assert_eq!(
            crate::helpers::metric_value(&metrics, &name),
            n,
            "{name}\n{metrics}"
        );
    }

    // Use is recorded, at most once a minute.
    let first = last_used(&app, live_id)
        .await
        .expect("last_used_at set on use");
    get(&app, Some(&format!("Bearer {live}"))).await;
    assert_eq!(
        last_used(&app, live_id).await,
        Some(first),
        "updated twice within a minute"
    );
    sqlx::query("UPDATE api_tokens SET last_used_at = now() - interval '2 minutes' WHERE id = $1")
        .bind(live_id)
        .execute(&app.db.pool)
        .await
        .unwrap();
    get(&app, Some(&format!("Bearer {live}"))).await;
    let later = last_used(&app, live_id).await.unwrap();
    assert!(later > Utc::now() - Duration::seconds(30), "{later}");
    // Refused tokens are not marked as used.
    assert_eq!(last_used(&app, expired_id).await, None);
    app.shutdown().await;
}

fn greenmon(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_greenmon"));
    c.current_dir(repo_path("."))
        .env("GREENMON__DATABASE__DBNAME", db);
    c
}

#[tokio::test]
async fn token_create_takes_an_expiry_and_list_shows_it() {
    let mut app = TestApp::spawn_with(1883, |s| s.alerts.enabled = false).await;
    let db = app.db.name.clone();
    for expires in ["90d", "12h", "2099-01-01T00:00:00Z"] {
        let out = greenmon(&db)
            .args(["token", "create", "--role", "bureau", "--name"])
            .arg(format!("ops {expires}"))
            .args(["--expires", expires])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{expires}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let expiries: Vec<(String, chrono::DateTime<Utc>)> = sqlx::query_as(
        "SELECT name, expires_at FROM api_tokens WHERE expires_at IS NOT NULL ORDER BY id",
    )
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(expiries.len(), 3, "{expiries:?}");
    let days = (expiries[0].1 - Utc::now()).num_hours();
    assert!((89 * 24..=90 * 24).contains(&days), "{expiries:?}");
    let hours = (expiries[1].1 - Utc::now()).num_minutes();
    assert!((11 * 60..=12 * 60).contains(&hours), "{expiries:?}");
    assert_eq!(expiries[2].1.to_rfc3339(), "2099-01-01T00:00:00+00:00");

    for bad in [
        "soon",
        "0d",
        "-3d",
        "90",
        "9999999999999d",
        "2020-01-01T00:00:00Z",
        "d",
    ] {
        let out = greenmon(&db)
            .args([
                "token",
                "create",
                "--role",
                "bureau",
                "--name",
                "x",
                "--expires",
                bad,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--expires {bad} was accepted");
        assert!(stderr.contains("--expires"), "{bad}: {stderr}");
        assert!(!stderr.contains("panicked"), "{bad}: {stderr}");
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM api_tokens WHERE name = 'x'")
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    assert_eq!(n, 0);

    let list = String::from_utf8(
        greenmon(&db)
            .args(["token", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let header = list.lines().next().unwrap_or_default();
    assert!(
        header.contains("expires") && header.contains("last used"),
        "{list}"
    );
    assert!(list.contains("2099-01-01T00:00:00Z"), "{list}");
    app.shutdown().await;
}

//! One park whose figures cannot be computed is marked erroneous in the bureau's summary (and
//! listed apart in the park list), and every other park is computed as usual.

use greenmon::store::tokens::{self, TokenRole};
use serde_json::Value;

use crate::helpers::{metric_value, TestApp};

#[tokio::test]
async fn a_park_that_cannot_be_computed_is_marked_and_the_others_are_not() {
    let mut app = TestApp::spawn_with(1883, |s| s.alerts.enabled = false).await;
    let pool = &app.db.pool;
    // A row the engine cannot read, as a hand-made fix or a half-applied migration might leave
    // one: park-a's baseline is gone.
    sqlx::query("ALTER TABLE parks ALTER COLUMN baseline_intensity DROP NOT NULL")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE parks SET baseline_intensity = NULL WHERE id = 'park-a'")
        .execute(pool)
        .await
        .unwrap();
    let (_, bureau) = tokens::create(pool, "ops", &TokenRole::Bureau)
        .await
        .unwrap();
    let (_, park_b) = tokens::create(pool, "b", &TokenRole::Park("park-b".into()))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let summary = |token: String| {
        let http = http.clone();
        let url = format!("{}/api/v1/compliance", app.http);
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            (status, body)
        }
    };
    let (status, body) = summary(bureau.clone()).await;
    assert_eq!(status, 200, "{body}");
    let parks = body["parks"].as_array().unwrap();
    let ids: Vec<&str> = parks
        .iter()
        .map(|p| p["park_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["park-a", "park-b"], "{body}");
    let (a, b) = (&parks[0], &parks[1]);
    assert!(a["error"].is_string(), "{a}");
    assert!(a["monitoring_rate"].is_null(), "{a}");
    assert!(a["required_points"].is_null(), "{a}");
    let text = a["error"].as_str().unwrap().to_lowercase();
    assert!(
        !text.contains("null") && !text.contains("sqlx"),
        "leaks the cause: {a}"
    );
    assert!(b["error"].is_null(), "{b}");
    assert!(b["monitoring_rate"].is_number(), "{b}");
    assert!(b["required_points"].is_number(), "{b}");

    // park-b's own view never touches park-a.
    let (status, body) = summary(park_b).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["parks"][0]["park_id"], "park-b");
    assert!(body["parks"][0]["error"].is_null(), "{body}");

    // The park list leaves park-a out, says so, and lists park-b.
    let r = http
        .get(format!("{}/api/v1/parks", app.http))
        .bearer_auth(&bureau)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let ids: Vec<&str> = body["parks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["park-b"], "{body}");
    assert_eq!(body["errors"][0]["park_id"], "park-a", "{body}");

    let metrics = app.metrics().await;
    assert_eq!(
        metric_value(&metrics, "greenmon_http_park_failures_total"),
        2.0,
        "{metrics}"
    );
    app.shutdown().await;
}

//! One park's faulty data never fails another park's view or the bureau's summary.

use greenmon::store::tokens::{self, TokenRole};
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn one_parks_absurd_energy_reports_fail_only_that_park() {
    let mut app = TestApp::spawn().await;
    // Stored before reports were checked: two months of 1.7e308 tce for park-a.
    for month in ["2026-01", "2026-02"] {
        sqlx::query(
            "INSERT INTO energy_reports (park_id, period, period_kind, period_start, period_end,
                                         energy_tce, value_added_10k_yuan, price_index)
             VALUES ('park-a', $1, 'month', ($1 || '-01')::date,
                     ($1 || '-01')::date + interval '1 month', 1.7e308, 1, 1)",
        )
        .bind(month)
        .execute(&app.db.pool)
        .await
        .unwrap();
    }
    let (_, bureau) = tokens::create(&app.db.pool, "ops", &TokenRole::Bureau)
        .await
        .unwrap();
    let (_, park_b) = tokens::create(&app.db.pool, "b", &TokenRole::Park("park-b".into()))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for (path, token) in [
        ("/api/v1/compliance", &bureau),
        ("/api/v1/parks/park-b/compliance", &park_b),
        ("/api/v1/parks/park-b/energy?year=2026", &park_b),
        ("/api/v1/parks/park-a/energy?year=2026", &bureau),
    ] {
        let r = http
            .get(format!("{}{path}", app.http))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 200, "{path}: {body}");
        if path == "/api/v1/compliance" {
            let parks: Vec<&str> = body["parks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["park_id"].as_str().unwrap())
                .collect();
            assert_eq!(parks, ["park-a", "park-b"], "{body}");
        }
    }
    // And the API refuses such a report, naming the field.
    let r = http
        .post(format!("{}/api/v1/parks/park-b/energy-reports", app.http))
        .bearer_auth(&park_b)
        .json(&serde_json::json!({"period": "2026-03", "energy_tce": 1.7e308, "value_added_10k_yuan": 10.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("energy_tce"),
        "{body}"
    );
    app.shutdown().await;
}

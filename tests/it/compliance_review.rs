//! Validity review marks on a day with hand-computed figures, on plain PostgreSQL and on
//! TimescaleDB; park isolation of the marks; the `greenmon review` round trip; the audit trail.
//!
//! 2026-03-10 in Asia/Shanghai. park-r's required point r-out (in service since 2026-01-01)
//! reads COD and NH3-N at every hour hh:00, all flagged N. park-o has o-out, with a mark of its
//! own. Marks on r-out (added through the API by the bureau):
//!
//! 1. the whole point, maintenance 08:00–14:00: 6 hours excused, not owed;
//! 2. COD only, fault 16:00–19:00: 3 hours whose COD data is invalid;
//! 3. the whole point, calibration 20:00–23:00, then withdrawn: no effect.
//!
//! | series      | expected          | received | valid        | transmission | valid rate |
//! | ----------- | ----------------- | -------- | ------------ | ------------ | ---------- |
//! | no marks    | 24                | 24       | 24           | 24/24        | 24/24      |
//! | r-out (all) | 24 − 6 = 18       | 18       | 18 − 3 = 15  | 18/18        | 15/18      |
//! | COD         | 24 − 6 = 18       | 18       | 18 − 3 = 15  | 18/18        | 15/18      |
//! | NH3-N       | 24 − 6 = 18       | 18       | 18           | 18/18        | 18/18      |
//!
//! The point's hour is valid only when every pollutant's data in it is, so COD's 3 invalid
//! hours are the point's too. The park (one required point) has r-out's counts.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use greenmon::compliance::service;
use greenmon::domain::Flag;
use greenmon::store::tokens::{self, TokenRole};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::compliance::{reading, store_readings};
use crate::helpers::{greenmon, succeeded, BackendApp, TestBackend};

fn bj(h: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(2026, 3, 10, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()
}

fn after() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap()
}

struct Api {
    http: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.http))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap())
    }
}

/// Registers park-r and park-o (bureau) and stores r-out's day.
async fn seed(pool: &PgPool, api: &Api, bureau: &str) {
    for (park, point) in [("park-r", "r-out"), ("park-o", "o-out")] {
        let body = json!({
            "id": park, "name": park, "baseline_intensity": 1.0,
            "points": [{"id": point, "name": point, "kind": "sewage_outlet",
                        "monitored_since": "2026-01-01"}]
        });
        let (s, b) = api
            .call(
                bureau,
                Method::PUT,
                &format!("/api/v1/parks/{park}"),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let day: Vec<_> = (0..24)
        .flat_map(|h| {
            [
                reading("r-out", "cod", bj(h), 20.0, Flag::Normal),
                reading("r-out", "nh3n", bj(h), 1.0, Flag::Normal),
            ]
        })
        .collect();
    store_readings(pool, "park-r", "r-out", day).await;
}

/// (expected, received, valid) of r-out, of its COD and NH3-N series, and of park-r.
async fn figures(pool: &PgPool) -> [(u32, u32, u32); 4] {
    let rates = service::rates(pool, Shanghai, Some("park-r"), day(), day(), after())
        .await
        .unwrap();
    let park = &rates[0];
    let point = &park.points[0];
    let of = |r: greenmon::compliance::rates::DailyRates| (r.expected, r.received, r.valid);
    let series = |code: &str| {
        of(point
            .pollutants
            .iter()
            .find(|p| p.pollutant == code)
            .unwrap_or_else(|| panic!("no {code} in {:?}", point.pollutants))
            .rates)
    };
    [
        of(point.rates),
        series("w01018"),
        series("w21003"),
        of(park.rates),
    ]
}

async fn marks_change_the_day(backend: TestBackend) {
    let app = BackendApp::spawn(backend).await;
    let pool = app.app.db.pool.clone();
    let (_, bureau) = tokens::create(&pool, "bureau", &TokenRole::Bureau)
        .await
        .unwrap();
    let api = Api {
        http: app.app.http.clone(),
        client: reqwest::Client::new(),
    };
    seed(&pool, &api, &bureau).await;
    let (_, park_r) = tokens::create(&pool, "park r", &TokenRole::Park("park-r".into()))
        .await
        .unwrap();
    // No marks: every hour owed, received and valid.
    assert_eq!(figures(&pool).await, [(24, 24, 24); 4]);

    let add = |point: &str, body: Value| {
        let path = format!(
            "/api/v1/parks/{}/points/{point}/review-marks",
            if point == "r-out" { "park-r" } else { "park-o" }
        );
        let (api, bureau) = (&api, bureau.clone());
        async move {
            let (s, b) = api.call(&bureau, Method::POST, &path, Some(body)).await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            b["mark"]["id"].as_i64().unwrap()
        }
    };
    // 1. Maintenance 08:00–14:00 on the point: 24 − 6 = 18 owed hours, all received and valid.
    add(
        "r-out",
        json!({"from": "2026-03-10T08:00:00+08:00", "to": "2026-03-10T14:00:00+08:00",
                        "kind": "maintenance", "reason": "quarterly maintenance", "by": "王工"}),
    )
    .await;
    assert_eq!(figures(&pool).await, [(18, 18, 18); 4]);

    // 2. COD fault 16:00–19:00: COD's valid hours 18 − 3 = 15 (valid rate 15/18 = 83.3%);
    //    NH3-N keeps 18/18; the point's hours 16–18 are invalid too.
    add(
        "r-out",
        json!({"pollutant": "cod", "from": "2026-03-10T16:00:00+08:00",
                        "to": "2026-03-10T19:00:00+08:00", "kind": "fault",
                        "reason": "COD analyser reagent empty", "by": "李工"}),
    )
    .await;
    let marked = [(18, 18, 15), (18, 18, 15), (18, 18, 18), (18, 18, 15)];
    assert_eq!(figures(&pool).await, marked);
    let rates = service::rates(&pool, Shanghai, Some("park-r"), day(), day(), after())
        .await
        .unwrap();
    let cod = &rates[0].points[0].pollutants[0];
    assert_eq!(cod.pollutant, "w01018");
    assert_eq!(cod.rates.validity(), Some(15.0 / 18.0));
    assert_eq!(cod.rates.transmission(), Some(1.0));

    // 3. A calibration 20:00–23:00, withdrawn: nothing changes.
    let id = add(
        "r-out",
        json!({"from": "2026-03-10T20:00:00+08:00",
                                 "to": "2026-03-10T23:00:00+08:00", "kind": "calibration",
                                 "reason": "entered by mistake", "by": "王工"}),
    )
    .await;
    assert_eq!(
        figures(&pool).await[0],
        (15, 15, 12),
        "in force: 3 more hours excused"
    );
    let withdraw = format!("/api/v1/parks/park-r/review-marks/{id}/withdraw");
    let body = json!({"by": "张科长", "reason": "wrong point"});
    let (s, b) = api
        .call(&bureau, Method::POST, &withdraw, Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["mark"]["withdrawn_by"], "张科长");
    assert_eq!(figures(&pool).await, marked);
    let (s, _) = api.call(&bureau, Method::POST, &withdraw, Some(body)).await;
    assert_eq!(s, StatusCode::CONFLICT, "withdrawn once only");
    // The rates API answers the per-pollutant series as well.
    let (s, b) = api
        .call(
            &park_r,
            Method::GET,
            "/api/v1/parks/park-r/compliance/rates?from=2026-03-10&to=2026-03-10",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["points"][0]["pollutants"][0]["rates"]["valid"], 15, "{b}");

    // park-o's mark; the park token sees its own park's marks only.
    add(
        "o-out",
        json!({"from": "2026-03-10T00:00:00+08:00", "to": "2026-03-10T01:00:00+08:00",
                        "kind": "invalid", "reason": "other park", "by": "王工"}),
    )
    .await;
    let (s, b) = api
        .call(
            &park_r,
            Method::GET,
            "/api/v1/parks/park-r/review-marks",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let marks = b["marks"].as_array().unwrap();
    assert_eq!(marks.len(), 3, "{b}");
    assert!(marks.iter().all(|m| m["point_id"] == "r-out"), "{b}");
    for path in [
        "/api/v1/parks/park-o/review-marks",
        "/api/v1/parks/park-o/points/o-out/review-marks",
        "/api/v1/parks/park-r/points/o-out/review-marks",
    ] {
        let (s, b) = api.call(&park_r, Method::GET, path, None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {b}");
    }
    let (s, _) = api
        .call(
            &park_r,
            Method::POST,
            "/api/v1/parks/park-r/points/r-out/review-marks",
            Some(
                json!({"from": "2026-03-10T00:00:00Z", "to": "2026-03-10T01:00:00Z",
                          "kind": "fault", "reason": "x", "by": "park"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The audit trail: three creations and one withdrawal on park-r, with who and why.
    let events: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT e.event, e.by_whom, e.reason FROM review_mark_events e
         JOIN review_marks m ON m.id = e.mark_id WHERE m.point_id = 'r-out' ORDER BY e.id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let events: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|(e, b, r)| (e.as_str(), b.as_str(), r.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("created", "王工", "quarterly maintenance"),
            ("created", "李工", "COD analyser reagent empty"),
            ("created", "王工", "entered by mistake"),
            ("withdrawn", "张科长", "wrong point"),
        ]
    );
    // Nothing is overwritten: the database refuses edits and deletions.
    for sql in [
        "UPDATE review_marks SET reason = 'rewritten'",
        "UPDATE review_marks SET withdrawn_at = NULL, withdrawn_by = NULL, withdraw_reason = NULL",
        "DELETE FROM review_marks",
        "UPDATE review_mark_events SET by_whom = 'someone else'",
        "DELETE FROM review_mark_events",
    ] {
        assert!(
            sqlx::query(sql).execute(&pool).await.is_err(),
            "{sql} was allowed"
        );
    }
}

#[tokio::test]
async fn marks_change_the_day_on_postgres() {
    marks_change_the_day(TestBackend::Postgres).await;
}

#[tokio::test]
async fn marks_change_the_day_on_timescaledb() {
    marks_change_the_day(TestBackend::TimescaleDb).await;
}

/// `greenmon review add`, `list` and `withdraw`, and what they leave in the audit trail.
#[tokio::test]
async fn review_cli_round_trip() {
    let app = BackendApp::spawn(TestBackend::Postgres).await;
    let pool = app.app.db.pool.clone();
    let (_, bureau) = tokens::create(&pool, "bureau", &TokenRole::Bureau)
        .await
        .unwrap();
    let api = Api {
        http: app.app.http.clone(),
        client: reqwest::Client::new(),
    };
    seed(&pool, &api, &bureau).await;
    let run = |args: &[&str]| {
        greenmon(&app.app.db.name)
            .arg("review")
            .args(args)
            .output()
            .unwrap()
    };
    let text = |out: std::process::Output| String::from_utf8(succeeded(out).stdout).unwrap();

    let added = text(run(&[
        "add",
        "--point",
        "r-out",
        "--pollutant",
        "cod",
        "--from",
        "2026-03-10T16:00:00+08:00",
        "--to",
        "2026-03-10T19:00:00+08:00",
        "--kind",
        "fault",
        "--reason",
        "reagent empty",
        "--by",
        "李工",
    ]));
    assert!(added.starts_with("review mark "), "{added}");
    let id: i64 = added.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(
        added.contains("fault r-out/w01018 2026-03-10T08:00:00+00:00"),
        "{added}"
    );
    assert_eq!(figures(&pool).await[1], (24, 24, 21), "COD: 24 − 3 valid");

    let table = text(run(&["list", "--park", "park-r"]));
    assert!(
        table.lines().nth(1).unwrap().contains("reagent empty"),
        "{table}"
    );
    let json = text(run(&["list", "--point", "r-out", "--format", "json"]));
    let row: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(
        (row["id"].as_i64(), row["kind"].as_str()),
        (Some(id), Some("fault"))
    );
    assert!(row["withdrawn_at"].is_null());
    assert!(
        text(run(&["list", "--park", "park-o"])).lines().count() == 1,
        "header only"
    );

    let id_s = id.to_string();
    let out = text(run(&[
        "withdraw",
        &id_s,
        "--by",
        "张科长",
        "--reason",
        "fixed at 15:50",
    ]));
    assert!(out.contains("withdrawn by 张科长"), "{out}");
    assert_eq!(
        figures(&pool).await[1],
        (24, 24, 24),
        "withdrawn: no effect"
    );
    let again = run(&["withdraw", &id_s, "--by", "x", "--reason", "y"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already withdrawn by 张科长"));
    // Refused before any write: an unknown kind, a reversed range, no reason, an unknown point.
    for args in [
        &[
            "--kind",
            "repair",
            "--from",
            "2026-03-10T00:00:00Z",
            "--to",
            "2026-03-10T01:00:00Z",
            "--reason",
            "r",
        ][..],
        &[
            "--kind",
            "fault",
            "--from",
            "2026-03-10T02:00:00Z",
            "--to",
            "2026-03-10T01:00:00Z",
            "--reason",
            "r",
        ],
        &[
            "--kind",
            "fault",
            "--from",
            "2026-03-10T00:00:00Z",
            "--to",
            "2026-03-10T01:00:00Z",
            "--reason",
            " ",
        ],
    ] {
        let mut all = vec!["add", "--point", "r-out", "--by", "a"];
        all.extend_from_slice(args);
        assert!(!run(&all).status.success(), "{all:?}");
    }
    let unknown = run(&[
        "add",
        "--point",
        "nope",
        "--from",
        "2026-03-10T00:00:00Z",
        "--to",
        "2026-03-10T01:00:00Z",
        "--kind",
        "fault",
        "--reason",
        "r",
        "--by",
        "a",
    ]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no point \"nope\""));

    let events: Vec<(String, String)> =
        sqlx::query_as("SELECT event, by_whom FROM review_mark_events ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        events,
        [
            ("created".into(), "李工".into()),
            ("withdrawn".into(), "张科长".into())
        ]
    );
}

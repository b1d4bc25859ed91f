//! The compliance record end to end, with hand-computed figures, on plain PostgreSQL and on
//! TimescaleDB: a month loaded by the history import, a maintenance window, corrections in the
//! middle of the month, and the same month asked "as of" before and after each (library and API).
//!
//! March 2018, Asia/Shanghai. park-a's a-out (COD limit 50 mg/L) is commissioned on 16 March
//! 00:00, so it owes 16 days × 24 = 384 hours; a-in is made optional, so the park is a-out.
//!
//! 1. Import (t_import): hourly COD readings of 30 mg/L from 16 March 00:00 to 31 March 23:00,
//!    except 20 March 08:00–17:00 (10 hours missing); 25 March 10:00 reads 80 (an exceedance).
//! 2. A maintenance mark on a-out, 20 March 08:00–12:00 (t_mark): 4 hours not owed.
//! 3. Corrections (t_fix): the bureau corrects 25 March 10:00 to 40 mg/L; the logger re-sends
//!    27 March 05:00 flagged D (instrument fault: not valid).
//!
//! | as of        | expected      | received      | valid | exceedance hours |
//! | ------------ | ------------- | ------------- | ----- | ---------------- |
//! | before 1     | 384           | 0             | 0     | 0                |
//! | after 1      | 384           | 384 − 10 = 374| 374   | 1 (peak 80)      |
//! | after 2      | 384 − 4 = 380 | 374           | 374   | 1                |
//! | after 3, now | 380           | 374           | 373   | 0                |
//!
//! The monitoring rate is 1.0 throughout the imported states (effective 373/380 ≥ 0.9), and no
//! required point owed hours unserved before the import made the park "below target".

use std::io::Cursor;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use greenmon::compliance::report::{self, MonitoringVerdict, MonthlyReport};
use greenmon::compliance::service::Basis;
use greenmon::domain::limits::ValueLimits;
use greenmon::domain::Flag;
use greenmon::ingest::decode::DecodeContext;
use greenmon::ingest::import::{import, ImportConfig};
use greenmon::store::tokens::{self, TokenRole};
use sqlx::PgPool;

use crate::compliance::{reading, store_readings};
use crate::helpers::{on_both_backends, BackendApp, TestBackend};

on_both_backends!(a_backfilled_corrected_reviewed_month_as_of);

fn bj(day: u32, hour: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(2018, 3, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn march() -> NaiveDate {
    NaiveDate::from_ymd_opt(2018, 3, 1).unwrap()
}

/// The history file: 374 hourly lines.
fn history() -> String {
    let mut csv = String::from("time,point,pollutant,value,flag\n");
    for day in 16..=31 {
        for hour in 0..24 {
            if day == 20 && (8..18).contains(&hour) {
                continue;
            }
            let value = if day == 25 && hour == 10 { 80 } else { 30 };
            csv.push_str(&format!(
                "{},a-out,cod,{value},N\n",
                bj(day, hour).to_rfc3339()
            ));
        }
    }
    csv
}

async fn import_csv(pool: &PgPool, csv: String, correction_by: Option<&str>) -> u64 {
    let cfg = ImportConfig {
        ctx: DecodeContext {
            topic_prefix: "unused".into(),
            timezone: Shanghai,
            max_payload_bytes: 1 << 20,
            max_future_secs: 300,
            limits: Arc::new(ValueLimits::default()),
        },
        name: "march.csv".into(),
        format: None,
        batch_rows: 100,
        parallel: 2,
        correction_by: correction_by.map(str::to_owned),
    };
    let summary = import(pool, cfg, Box::new(Cursor::new(csv)), |_| {})
        .await
        .unwrap();
    assert_eq!(summary.quarantined_total(), 0, "{summary:?}");
    summary.stored + summary.corrected
}

/// The database's clock now: the boundary between two steps.
async fn db_now(pool: &PgPool) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn month(pool: &PgPool, at: Basis) -> MonthlyReport {
    report::monthly(pool, Shanghai, Some("park-a"), march(), 0.9, at)
        .await
        .unwrap()
        .remove(0)
}

/// (expected, received, valid, exceedance hours) of the month.
fn figures(r: &MonthlyReport) -> (u32, u32, u32, u32) {
    (
        r.hours.expected,
        r.hours.received,
        r.hours.valid,
        r.exceedance_hours,
    )
}

async fn a_backfilled_corrected_reviewed_month_as_of(backend: TestBackend) {
    let app = BackendApp::spawn(backend).await;
    let pool = app.app.db.pool.clone();
    sqlx::query("UPDATE monitoring_points SET monitored_since = $1 WHERE id = 'a-out'")
        .bind(bj(16, 0))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE monitoring_points SET required = false WHERE id = 'a-in'")
        .execute(&pool)
        .await
        .unwrap();
    let t_before = db_now(&pool).await;

    // 1. The backfill.
    assert_eq!(import_csv(&pool, history(), None).await, 374);
    let t_import = db_now(&pool).await;

    // 2. The maintenance window.
    sqlx::query(
        "INSERT INTO review_marks (point_id, starts_at, ends_at, kind, reason, created_by)
         VALUES ('a-out', $1, $2, 'maintenance', 'pump replaced', 'Zhao')",
    )
    .bind(bj(20, 8))
    .bind(bj(20, 12))
    .execute(&pool)
    .await
    .unwrap();
    let t_mark = db_now(&pool).await;

    // 3. The corrections: the bureau's, then a logger's re-send.
    let fix = format!(
        "time,point,pollutant,value,flag\n{},a-out,cod,40,N\n",
        bj(25, 10).to_rfc3339()
    );
    assert_eq!(import_csv(&pool, fix, Some("Wang Li")).await, 1);
    store_readings(
        &pool,
        "park-a",
        "a-out",
        vec![reading("a-out", "cod", bj(27, 5), 30.0, Flag::Fault)],
    )
    .await;
    let now = Utc::now();

    let live = month(&pool, now.into()).await;
    assert_eq!(figures(&live), (380, 374, 373, 0));
    assert_eq!(live.verdict, MonitoringVerdict::Passed);
    assert_eq!(live.monitoring_rate, Some(1.0));
    assert_eq!(live.evaluated.up_to, bj(31, 0) + chrono::Duration::days(1));
    assert_eq!(live.evaluated.data_cutoff, now);
    assert_eq!(live.evaluated.as_of, None);

    let as_of = |t| month(&pool, Basis::as_of(now, t));
    let before = as_of(t_before).await;
    assert_eq!(figures(&before), (384, 0, 0, 0));
    assert_eq!(before.verdict, MonitoringVerdict::BelowTarget);
    let imported = as_of(t_import).await;
    assert_eq!(figures(&imported), (384, 374, 374, 1));
    assert_eq!(imported.points[1].exceedances[0].peak, 80.0, "{imported:?}");
    assert_eq!(imported.evaluated.as_of, Some(t_import));
    assert_eq!(imported.evaluated.data_cutoff, t_import);
    assert_eq!(figures(&as_of(t_mark).await), (380, 374, 374, 1));
    // Asked again as of the same time, after everything: the same answer.
    assert_eq!(figures(&as_of(t_import).await), (384, 374, 374, 1));

    // The API reproduces it too, and says what it covers.
    let (_, token) = tokens::create(&pool, "bureau", &TokenRole::Bureau)
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let get = |query: String| {
        let req = client
            .get(format!(
                "{}/api/v1/parks/park-a/reports/2018-03{query}",
                app.app.http
            ))
            .bearer_auth(&token);
        async move {
            let res = req.send().await.unwrap();
            (
                res.status().as_u16(),
                res.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, body) = get(format!("?as_of={}", urlencode(&t_import.to_rfc3339()))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["hours"]["received"], 374);
    assert_eq!(body["exceedance_hours"], 1);
    assert_eq!(
        body["evaluated"]["as_of"]
            .as_str()
            .map(|t| t.parse::<DateTime<Utc>>().unwrap()),
        Some(t_import)
    );
    let (status, body) = get(String::new()).await;
    assert_eq!(
        (status, &body["hours"]["valid"]),
        (200, &serde_json::json!(373))
    );
    let (status, body) = get("?as_of=2099-01-01T00:00:00Z".into()).await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("as_of"),
        "{body}"
    );
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

//! The compliance engine against PostgreSQL with seeded readings whose compliance is known in
//! advance: daily rates with gaps, a maintenance flag and late data; exceedance episodes; point
//! status; energy intensity against the path; the monthly report.

use bytes::Bytes;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use greenmon::compliance::{report, service};
use greenmon::domain::{parse_pollutant, Flag, ParkId, PointId, Reading};
use greenmon::store::{self, BatchItem, Content};
use sqlx::PgPool;

use crate::helpers::{greenmon, run_ok, TestDb};

/// The seeded day, in Beijing time.
const DAY: (i32, u32, u32) = (2026, 3, 10);

pub(crate) fn local(h: u32, m: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(DAY.0, DAY.1, DAY.2, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

pub(crate) fn reading(
    point: &str,
    pollutant: &str,
    time: DateTime<Utc>,
    value: f64,
    flag: Flag,
) -> Reading {
    Reading::sample(
        time,
        PointId::parse(point).unwrap(),
        parse_pollutant(pollutant).unwrap(),
        value,
        flag,
    )
}

/// A batch item carrying `readings` of `point`, as ingest would make it.
pub(crate) fn readings_item(park: &str, point: &str, readings: Vec<Reading>) -> BatchItem {
    BatchItem {
        source: "mqtt",
        sender: None,
        topic: format!("t/parks/{park}/points/{point}/readings"),
        payload: Bytes::from(format!("{} readings", readings.len())),
        content: Content::Readings {
            park: ParkId::parse(park).unwrap(),
            point: PointId::parse(point).unwrap(),
            readings,
        },
    }
}

pub(crate) async fn store_readings(pool: &PgPool, park: &str, point: &str, readings: Vec<Reading>) {
    store::write_batch(pool, &[readings_item(park, point, readings)])
        .await
        .unwrap();
}

/// a-out: every 10 minutes, except hours 5 and 6 (a gap); hour 10 has one reading flagged M;
/// COD at 80 mg/L in hours 14-16 (limit 50); pH 5.5 in hour 20 (limit 6-9).
/// a-in: every hour complete and valid.
pub(crate) async fn seed_day(pool: &PgPool) {
    sqlx::query("UPDATE monitoring_points SET monitored_since = '2026-01-01T00:00:00Z'")
        .execute(pool)
        .await
        .unwrap();
    let mut out = Vec::new();
    for h in (0..24).filter(|h| *h != 5 && *h != 6) {
        for m in (0..60).step_by(10) {
            let t = local(h, m);
            let flag = if h == 10 && m == 30 {
                Flag::Maintenance
            } else {
                Flag::Normal
            };
            let cod = if (14..17).contains(&h) { 80.0 } else { 30.0 };
            let ph = if h == 20 { 5.5 } else { 7.2 };
            out.push(reading("a-out", "cod", t, cod, flag));
            out.push(reading("a-out", "ph", t, ph, Flag::Normal));
        }
    }
    store_readings(pool, "park-a", "a-out", out).await;
    let inlet = (0..24)
        .map(|h| reading("a-in", "cod", local(h, 0), 300.0, Flag::Normal))
        .collect();
    store_readings(pool, "park-a", "a-in", inlet).await;
}

pub(crate) fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(DAY.0, DAY.1, DAY.2).unwrap()
}

#[tokio::test]
async fn daily_rates_exceedances_and_late_data() {
    let db = TestDb::new().await;
    seed_day(&db.pool).await;
    let now = local(0, 0) + Duration::days(3);

    let rates = service::rates(&db.pool, Shanghai, Some("park-a"), day(), day(), now)
        .await
        .unwrap();
    assert_eq!(rates.len(), 1);
    let park = &rates[0];
    let point = |id: &str| park.points.iter().find(|p| p.point_id == id).unwrap().rates;
    assert_eq!(
        (
            point("a-out").expected,
            point("a-out").received,
            point("a-out").valid
        ),
        (24, 22, 21)
    );
    assert_eq!(
        (
            point("a-in").expected,
            point("a-in").received,
            point("a-in").valid
        ),
        (24, 24, 24)
    );
    assert_eq!(
        (park.rates.expected, park.rates.received, park.rates.valid),
        (48, 46, 45)
    );
    assert!((park.effective.unwrap() - 45.0 / 48.0).abs() < 1e-9);
    assert!((park.transmission.unwrap() - 46.0 / 48.0).abs() < 1e-9);

    let (from, to) = (local(0, 0), local(0, 0) + Duration::days(1));
    let mut ex = service::exceedances(&db.pool, Some("park-a"), from, to, now)
        .await
        .unwrap();
    ex.sort_by_key(|e| e.pollutant.clone());
    assert_eq!(ex.len(), 2, "{ex:?}");
    let ph = &ex[0];
    assert_eq!(
        (ph.pollutant.as_str(), ph.episode.start, ph.episode.hours),
        ("w01001", local(20, 0), 1)
    );
    assert_eq!((ph.episode.peak, ph.episode.limit), (5.5, 6.0));
    let cod = &ex[1];
    assert_eq!(
        (cod.pollutant.as_str(), cod.episode.start, cod.episode.end),
        ("w01018", local(14, 0), local(17, 0))
    );
    assert_eq!(
        (cod.episode.peak, cod.episode.limit, cod.episode.hours),
        (80.0, 50.0, 3)
    );
    assert!(!cod.episode.open, "the episode ended long before now");

    // Late data: hour 5 arrives days later; its hourly rollup and the rates follow.
    let late = (0..60)
        .step_by(10)
        .map(|m| reading("a-out", "cod", local(5, m), 30.0, Flag::Normal))
        .collect();
    store_readings(&db.pool, "park-a", "a-out", late).await;
    let rates = service::rates(&db.pool, Shanghai, Some("park-a"), day(), day(), now)
        .await
        .unwrap();
    let a_out = rates[0]
        .points
        .iter()
        .find(|p| p.point_id == "a-out")
        .unwrap()
        .rates;
    assert_eq!((a_out.received, a_out.valid), (23, 22));
    let hourly: (i64, i64) = sqlx::query_as(
        "SELECT count, valid_count FROM readings_hourly WHERE point_id = 'a-out' AND pollutant = 'w01018' AND hour = $1",
    )
    .bind(local(10, 0))
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(hourly, (6, 5), "hour 10 holds one maintenance reading");
}

#[tokio::test]
async fn point_status_and_monitoring_rate_now() {
    let db = TestDb::new().await;
    let now = Utc::now();
    // a-out reports valid data now; a-in reports only maintenance data; b-out never reported.
    store_readings(
        &db.pool,
        "park-a",
        "a-out",
        vec![reading(
            "a-out",
            "cod",
            now - Duration::seconds(30),
            20.0,
            Flag::Normal,
        )],
    )
    .await;
    store_readings(
        &db.pool,
        "park-a",
        "a-in",
        vec![
            reading("a-in", "cod", now - Duration::hours(2), 20.0, Flag::Normal),
            reading(
                "a-in",
                "cod",
                now - Duration::seconds(30),
                20.0,
                Flag::Maintenance,
            ),
        ],
    )
    .await;
    let parks = service::parks_now(&db.pool, None, now).await.unwrap();
    let a = parks.iter().find(|p| p.park_id == "park-a").unwrap();
    let status = |id: &str| {
        a.points
            .iter()
            .find(|p| p.point_id == id)
            .map(|p| serde_json::to_value(p.status).unwrap())
    };
    assert_eq!(status("a-out"), Some(serde_json::json!("online")));
    assert_eq!(status("a-in"), Some(serde_json::json!("invalid")));
    assert_eq!(
        (a.required_points, a.online_required_points, a.compliant),
        (2, 1, false)
    );
    assert_eq!(a.monitoring_rate, 0.5);
    assert_eq!(
        a.below_target
            .iter()
            .map(|p| p.point_id.as_str())
            .collect::<Vec<_>>(),
        ["a-in"]
    );
    let b = parks.iter().find(|p| p.park_id == "park-b").unwrap();
    assert_eq!(
        serde_json::to_value(b.points[0].status).unwrap(),
        serde_json::json!("never_reported")
    );

    // An hour later with nothing new, a-out is offline.
    let later = service::parks_now(&db.pool, Some("park-a"), now + Duration::hours(1))
        .await
        .unwrap();
    let a_out = later[0]
        .points
        .iter()
        .find(|p| p.point_id == "a-out")
        .unwrap();
    assert_eq!(
        serde_json::to_value(a_out.status).unwrap(),
        serde_json::json!("offline")
    );
}

async fn seed_energy(pool: &PgPool) {
    // park-a: baseline 0.8 tce / 10,000 yuan in 2015; 2016 a full-year report; 2017 Q1 as months.
    for (period, kind, start, end, energy, va, pi) in [
        (
            "2016",
            "year",
            "2016-01-01",
            "2017-01-01",
            760.0,
            1000.0,
            1.0,
        ),
        (
            "2017-01",
            "month",
            "2017-01-01",
            "2017-02-01",
            70.0,
            100.0,
            1.05,
        ),
        (
            "2017-02",
            "month",
            "2017-02-01",
            "2017-03-01",
            70.0,
            100.0,
            1.05,
        ),
        (
            "2017-03",
            "month",
            "2017-03-01",
            "2017-04-01",
            70.0,
            100.0,
            1.05,
        ),
    ] {
        sqlx::query(
            "INSERT INTO energy_reports (park_id, period, period_kind, period_start, period_end,
                                         energy_tce, value_added_10k_yuan, price_index)
             VALUES ('park-a', $1, $2, $3::date, $4::date, $5, $6, $7)",
        )
        .bind(period)
        .bind(kind)
        .bind(start)
        .bind(end)
        .bind(energy)
        .bind(va)
        .bind(pi)
        .execute(pool)
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn energy_intensity_against_the_path() {
    let db = TestDb::new().await;
    seed_energy(&db.pool).await;
    let e2016 = service::energy(
        &db.pool,
        Some("park-a"),
        2016,
        NaiveDate::from_ymd_opt(2017, 1, 1).unwrap(),
    )
    .await
    .unwrap();
    let s = e2016[0].status.unwrap();
    assert!((s.intensity - 0.76).abs() < 1e-9);
    assert!((s.reduction - 0.05).abs() < 1e-9);
    assert!((s.required_reduction - 0.0436).abs() < 1e-3);
    assert!(s.on_track);
    assert!((e2016[0].annual_cut - 0.043_59).abs() < 1e-4);

    // 2017 Q1: 210 tce over 300 / 1.05 = 285.71 → 0.735, an 8.1% cut, short of the 8.5% path.
    let e2017 = service::energy(
        &db.pool,
        Some("park-a"),
        2017,
        NaiveDate::from_ymd_opt(2017, 4, 1).unwrap(),
    )
    .await
    .unwrap();
    let s = e2017[0].status.unwrap();
    assert_eq!(s.months_covered, 3);
    assert!((s.intensity - 0.735).abs() < 1e-9, "{s:?}");
    assert!(!s.on_track, "{s:?}");
    // Reports after `through` are not seen: as of February only January counts.
    let feb = service::energy(
        &db.pool,
        Some("park-a"),
        2017,
        NaiveDate::from_ymd_opt(2017, 2, 1).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(feb[0].status.unwrap().months_covered, 1);
    let b = service::energy(
        &db.pool,
        Some("park-b"),
        2017,
        NaiveDate::from_ymd_opt(2017, 4, 1).unwrap(),
    )
    .await
    .unwrap();
    assert!(b[0].status.is_none(), "park-b reported nothing");
}

#[tokio::test]
async fn monthly_report_and_bureau_summary() {
    let db = TestDb::new().await;
    seed_day(&db.pool).await;
    let now = local(0, 0) + Duration::days(40);
    let march = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let reports = report::monthly(&db.pool, Shanghai, None, march, 0.9, now)
        .await
        .unwrap();
    assert_eq!(reports.len(), 2);
    let a = reports.iter().find(|r| r.park_id == "park-a").unwrap();
    assert_eq!(a.exceedance_episodes, 2);
    assert_eq!(a.exceedance_hours, 4);
    // 31 days × 24 hours × 2 required points owed; only one day delivered.
    assert!((a.transmission.unwrap() - 46.0 / (31.0 * 48.0)).abs() < 1e-9);
    assert_eq!(a.points_below_threshold.len(), 2);

    let summary = service::bureau_summary(&db.pool, Shanghai, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        summary
            .iter()
            .map(|r| r.park_id.as_str())
            .collect::<Vec<_>>(),
        ["park-a", "park-b"]
    );

    // The CLI prints the same report as JSON and CSV.
    let run = |format: &str| {
        greenmon(&db.name)
            .args([
                "report", "--park", "park-a", "--month", "2026-03", "--format", format,
            ])
            .output()
            .unwrap()
    };
    let json = run("json");
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v[0]["park_id"], "park-a");
    assert_eq!(v[0]["exceedance_episodes"], 2);
    let csv = run("csv");
    let text = String::from_utf8(csv.stdout).unwrap();
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("park-a,2026-03,2,"),
        "{text}"
    );
    let bad = greenmon(&db.name)
        .args(["report", "--park", "park-a", "--month", "2026-13"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("2026-13"));
}

/// Rollup rows that differ from the same aggregates computed from the raw readings (plain
/// PostgreSQL): per series-hour sums, counts, minima and maxima, and per point-hour counts.
/// Empty when the rollups are exact.
async fn rollup_mismatches(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "WITH raw AS (
             SELECT point_id, pollutant, date_trunc('hour', time, 'UTC') AS hour,
                    sum(value) AS sum, min(value) AS min, max(value) AS max, count(*) AS count,
                    count(*) FILTER (WHERE flag = 'N') AS valid_count,
                    coalesce(sum(value) FILTER (WHERE flag = 'N'), 0) AS valid_sum
             FROM readings WHERE kind <> 'day' GROUP BY 1, 2, 3)
         SELECT format('%s %s %s: raw %s, rollup %s', coalesce(r.point_id, h.point_id),
                       coalesce(r.pollutant, h.pollutant), coalesce(r.hour, h.hour),
                       row(r.sum, r.min, r.max, r.count, r.valid_count, r.valid_sum),
                       row(h.sum, h.min, h.max, h.count, h.valid_count, h.valid_sum))
         FROM raw r FULL JOIN readings_hourly h
           ON h.point_id = r.point_id AND h.pollutant = r.pollutant AND h.hour = r.hour
         WHERE h.point_id IS NULL OR r.point_id IS NULL
            OR abs(h.sum - r.sum) > 1e-6 OR abs(h.valid_sum - r.valid_sum) > 1e-6
            OR h.min <> r.min OR h.max <> r.max
            OR h.count <> r.count OR h.valid_count <> r.valid_count
         UNION ALL
         SELECT format('%s %s: raw %s, per-point rollup %s', coalesce(r.point_id, p.point_id),
                       coalesce(r.hour, p.hour), row(r.count, r.valid_count),
                       row(p.count, p.valid_count))
         FROM (SELECT point_id, hour, sum(count)::bigint AS count,
                      sum(valid_count)::bigint AS valid_count
               FROM raw GROUP BY 1, 2) r
         FULL JOIN readings_hourly_point p ON p.point_id = r.point_id AND p.hour = r.hour
         WHERE p.point_id IS NULL OR r.point_id IS NULL
            OR p.count <> r.count OR p.valid_count <> r.valid_count",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// `n` readings of `point` from `start`, one a minute, alternating COD and pH, every 7th
/// flagged M, values varying with `seed`.
fn minutes(point: &str, start: DateTime<Utc>, n: i64, seed: f64) -> Vec<Reading> {
    (0..n)
        .map(|i| {
            let flag = if i % 7 == 3 {
                Flag::Maintenance
            } else {
                Flag::Normal
            };
            let pollutant = if i % 2 == 0 { "cod" } else { "ph" };
            let t = start + Duration::minutes(i / 2);
            reading(point, pollutant, t, seed + (i % 13) as f64 * 1.5, flag)
        })
        .collect()
}

/// Ingest only appends to `readings_hourly_pending`; a fold moves it into both rollup tables
/// exactly, late data included; redeliveries count once; readers fold before they read, so the
/// compliance engine and `greenmon report` see every committed reading; and folds running
/// alongside ingest and each other fold every pending row exactly once.
#[tokio::test]
async fn rollup_fold_is_exact_with_late_data_and_concurrency() {
    let db = TestDb::new().await;
    let pool = &db.pool;
    seed_day(pool).await;
    // Committed but not folded: the rollups lag, the pending table holds the aggregates.
    assert_eq!(count(pool, "SELECT count(*) FROM readings_hourly").await, 0);
    assert!(count(pool, "SELECT count(*) FROM readings_hourly_pending").await > 0);

    // `greenmon report` folds before it reads: it sees the whole seeded day.
    let run_report = || {
        let out = run_ok(greenmon(&db.name).args([
            "report", "--park", "park-a", "--month", "2026-03", "--format", "json",
        ]));
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let v = run_report();
    assert_eq!(v[0]["exceedance_episodes"], 2);
    assert!((v[0]["transmission"].as_f64().unwrap() - 46.0 / (31.0 * 48.0)).abs() < 1e-9);
    assert_eq!(
        count(pool, "SELECT count(*) FROM readings_hourly_pending").await,
        0
    );
    assert_eq!(rollup_mismatches(pool).await, Vec::<String>::new());
    let folded = store::rollup::fold(pool).await.unwrap();
    assert_eq!(folded, 0, "nothing left to fold");

    // Late data into hours already folded (hour 5 was missing; hour 14 exceeded at 80 mg/L),
    // plus a redelivery of a stored reading, which must not count twice.
    let mut late: Vec<Reading> = (0..60)
        .step_by(10)
        .map(|m| reading("a-out", "cod", local(5, m), 30.0, Flag::Normal))
        .collect();
    late.push(reading("a-out", "cod", local(14, 5), 20.0, Flag::Normal));
    late.push(reading("a-out", "cod", local(14, 0), 80.0, Flag::Normal)); // stored already
    store_readings(pool, "park-a", "a-out", late).await;
    let v = run_report();
    assert!((v[0]["transmission"].as_f64().unwrap() - 47.0 / (31.0 * 48.0)).abs() < 1e-9);
    assert_eq!(rollup_mismatches(pool).await, Vec::<String>::new());
    let hour14: (i64, f64, f64) = sqlx::query_as(
        "SELECT count, min, valid_avg FROM readings_hourly
         WHERE point_id = 'a-out' AND pollutant = 'w01018' AND hour = $1",
    )
    .bind(local(14, 0))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(hour14, (7, 20.0, (6.0 * 80.0 + 20.0) / 7.0));

    // Four writers (COPY, each batch its own commit, overlapping hours) and three folders at
    // once; then one last fold. Every reading is counted once, whatever interleaving happened.
    let base = local(0, 0) + Duration::days(1);
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..4_i64 {
        let pool = pool.clone();
        tasks.spawn(async move {
            for b in 0..15_i64 {
                let point = if w % 2 == 0 { "a-out" } else { "a-in" };
                // Writers 0/1 and 2/3 share points but not minutes: no duplicates.
                let start = base + Duration::minutes((w / 2) * 100_000 + b * 40);
                let rows = minutes(point, start, 80, (w * 100 + b) as f64);
                let park = "park-a";
                store_readings(&pool, park, point, rows).await;
            }
        });
    }
    for _ in 0..3 {
        let pool = pool.clone();
        tasks.spawn(async move {
            for _ in 0..20 {
                store::rollup::fold(&pool).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    store::rollup::fold(pool).await.unwrap();
    assert_eq!(
        count(pool, "SELECT count(*) FROM readings_hourly_pending").await,
        0
    );
    let readings = count(pool, "SELECT count(*) FROM readings").await;
    assert_eq!(
        count(pool, "SELECT sum(count)::bigint FROM readings_hourly").await,
        readings
    );
    assert_eq!(rollup_mismatches(pool).await, Vec::<String>::new());
}

/// The rollup worker folds on its own at its cadence, with no reader asking, and folds once
/// more when it stops.
#[tokio::test]
async fn rollup_worker_folds_at_its_cadence() {
    let db = TestDb::new().await;
    let pool = db.pool.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let metrics = greenmon::telemetry::Metrics::new();
    let worker = store::rollup::RollupWorker {
        pool: pool.clone(),
        interval: std::time::Duration::from_millis(200),
        metrics: metrics.clone(),
        clock: Default::default(),
    };
    let handle = tokio::spawn(worker.run(stop.clone()));
    seed_day(&pool).await;
    crate::helpers::eventually(
        std::time::Duration::from_secs(10),
        "the worker folds the seeded day",
        || async {
            (count(
                &pool,
                "SELECT coalesce(sum(count), 0)::bigint FROM readings_hourly",
            )
            .await
                == count(&pool, "SELECT count(*) FROM readings").await)
                .then_some(())
        },
    )
    .await;
    assert_eq!(
        count(&pool, "SELECT count(*) FROM readings_hourly_pending").await,
        0
    );
    let readings = u64::try_from(count(&pool, "SELECT count(*) FROM readings").await).unwrap();
    assert_eq!(metrics.rollup_readings_folded.get(), readings);
    assert!(metrics.rollup_fold_seconds.get_sample_count() > 0);

    // Readings committed just before the stop are folded by the last fold.
    let worker = store::rollup::RollupWorker {
        pool: pool.clone(),
        interval: std::time::Duration::from_secs(3600),
        metrics,
        clock: Default::default(),
    };
    stop.cancel();
    handle.await.unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let handle = tokio::spawn(worker.run(stop.clone()));
    store_readings(
        &pool,
        "park-b",
        "b-out",
        minutes("b-out", local(3, 0), 40, 1.0),
    )
    .await;
    stop.cancel();
    handle.await.unwrap();
    assert_eq!(
        count(&pool, "SELECT count(*) FROM readings_hourly_pending").await,
        0
    );
    assert_eq!(rollup_mismatches(&pool).await, Vec::<String>::new());
}

/// A database created before the pending table (rollups kept by the old trigger) migrates with
/// its rollups intact, and new readings in the same hours add to them exactly. The old schema is
/// built in a schema of its own inside the test database, from the migrations before
/// 20261128000100.
#[tokio::test]
async fn rollups_stay_exact_across_the_pending_migration() {
    let db = TestDb::new().await;
    sqlx::query("CREATE SCHEMA legacy")
        .execute(&db.pool)
        .await
        .unwrap();
    let settings = crate::helpers::settings_for(&db.name, 1883, "unused", "unused");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(
            store::connect_options(&settings.database).options([("search_path", "legacy")]),
        )
        .await
        .unwrap();
    let before = sqlx::migrate::Migrator {
        migrations: std::borrow::Cow::Owned(
            store::MIGRATOR
                .iter()
                .filter(|m| m.version < 20261128000100)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    before.run(&pool).await.unwrap();
    let insert = |start: DateTime<Utc>, n: i64, seed: f64| {
        let pool = pool.clone();
        async move {
            let rows = minutes("a-out", start, n, seed);
            let mut tx = pool.begin().await.unwrap();
            for r in rows {
                sqlx::query(
                    "INSERT INTO readings (time, point_id, pollutant, value, flag)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(r.time)
                .bind(r.point.as_str())
                .bind(r.pollutant.as_str())
                .bind(r.value)
                .bind(r.flag.code())
                .execute(&mut *tx)
                .await
                .unwrap();
            }
            tx.commit().await.unwrap();
        }
    };
    // Old trigger: the rollups are current at once, there is no pending table.
    insert(local(8, 0), 150, 10.0).await;
    assert_eq!(rollup_mismatches(&pool).await, Vec::<String>::new());
    assert_eq!(
        count(&pool, "SELECT count(*) FROM pg_tables WHERE schemaname = 'legacy' AND tablename = 'readings_hourly_pending'").await,
        0
    );

    store::migrate(&pool).await.unwrap();
    // The same hours (and later ones) after the migration: pended, then folded on top.
    insert(local(8, 0) + Duration::seconds(30), 150, 20.0).await;
    insert(local(10, 0), 100, 30.0).await;
    assert!(count(&pool, "SELECT count(*) FROM readings_hourly_pending").await > 0);
    store::rollup::fold(&pool).await.unwrap();
    assert_eq!(rollup_mismatches(&pool).await, Vec::<String>::new());
    assert_eq!(
        count(&pool, "SELECT sum(count)::bigint FROM readings_hourly").await,
        400
    );
}

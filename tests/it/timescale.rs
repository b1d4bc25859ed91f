//! Both storage paths, for real: every scenario here runs once on the plain PostgreSQL
//! (`..::on_postgres`) and once on TimescaleDB (`..::on_timescaledb`), a PGlite + TimescaleDB
//! test double of the test's own (`tests/timescaledb/server.mjs`; `npm ci --prefix
//! tests/timescaledb` installs it). Each run asserts which backend greenmon detected and prints it
//! on stderr. A few scenarios exist only on TimescaleDB (compression, retention, the continuous
//! aggregate's refresh); their names end in `_on_timescaledb`.
//!
//! Covered: the migrations and what they set up on each path, ingest over MQTT with redelivery,
//! both write paths of a batch (binary COPY, and the upsert a redelivery falls back to),
//! quarantine, energy upserts, registry import, and every compliance query on the hourly rollups.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Asia::Shanghai;
use greenmon::compliance::{report, service};
use greenmon::domain::registry::RegistryFile;
use greenmon::domain::{EnergyReport, Flag, ParkId, Reading};
use greenmon::store::{self, Backend, BatchItem, Content};
use sqlx::PgPool;

use crate::compliance::{day, local, reading, readings_item, seed_day, store_readings};
use crate::helpers::{
    capture_warnings, eventually, on_both_backends, reading_payload, BackendApp, BackendDb,
    Publisher, TestBackend, TEST_REGISTRY,
};

on_both_backends!(
    migrations_set_up_the_backend,
    ingest_over_mqtt_stores_once,
    batch_writes_copy_then_upsert,
    registry_import_is_idempotent,
    compliance_queries_read_the_rollups,
);

// --- Fixtures -----------------------------------------------------------------------------------

fn rejected_item(payload: &'static [u8]) -> BatchItem {
    BatchItem {
        source: "mqtt",
        sender: None,
        topic: "t/parks/park-a/points/a-out/readings".into(),
        payload: Bytes::from_static(payload),
        content: Content::Rejected {
            reason: "invalid_json",
            detail: "not JSON".into(),
        },
    }
}

fn energy_item(park: &str, period: &str, energy_tce: f64) -> BatchItem {
    BatchItem {
        source: "mqtt",
        sender: None,
        topic: format!("t/parks/{park}/energy"),
        payload: Bytes::from(format!("{period} {energy_tce}")),
        content: Content::Energy(EnergyReport {
            park: ParkId::parse(park).unwrap(),
            period: period.parse().unwrap(),
            energy_tce,
            value_added_10k_yuan: 1000.0,
            price_index: 1.0,
        }),
    }
}

async fn scalar_i64(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// Brings `readings_hourly` up to date, as TimescaleDB's refresh policy does every minute in
/// production (PGlite runs no background workers), or as the rollup worker's fold does every
/// `rollup.fold_interval_ms` on plain PostgreSQL.
async fn refresh_rollups(db: &BackendDb) {
    match db.backend {
        TestBackend::TimescaleDb => {
            sqlx::raw_sql("CALL refresh_continuous_aggregate('readings_hourly', NULL, NULL)")
                .execute(&db.db.pool)
                .await
                .unwrap();
        }
        TestBackend::Postgres => {
            store::rollup::fold(&db.db.pool).await.unwrap();
        }
    }
}

// --- Scenarios on both backends -------------------------------------------------------------

/// The migrations apply (and apply again as a no-op), and set up what each path promises.
async fn migrations_set_up_the_backend(backend: TestBackend) {
    let db = BackendDb::new(backend).await;
    let pool = &db.db.pool;
    // Again, as every `greenmon serve` start does.
    assert_eq!(store::migrate(pool).await.unwrap(), backend.expected());
    let failed = scalar_i64(
        pool,
        "SELECT count(*) FROM _sqlx_migrations WHERE NOT success",
    )
    .await;
    assert_eq!(failed, 0);
    let applied = scalar_i64(pool, "SELECT count(*) FROM _sqlx_migrations").await;
    assert_eq!(applied, store::MIGRATOR.iter().count() as i64);

    // The primary key that makes redelivery idempotent is there on both paths.
    let pkey = scalar_i64(
        pool,
        "SELECT count(*) FROM pg_constraint WHERE conname = 'readings_pkey' AND contype = 'p'",
    )
    .await;
    assert_eq!(pkey, 1);
    // readings_hourly answers with the same columns on both paths.
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_name = 'readings_hourly' ORDER BY column_name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for c in [
        "point_id",
        "pollutant",
        "hour",
        "avg",
        "min",
        "max",
        "count",
        "valid_count",
        "valid_avg",
    ] {
        assert!(
            columns.iter().any(|x| x == c),
            "readings_hourly.{c} missing: {columns:?}"
        );
    }

    match backend.expected() {
        Backend::TimescaleDb => {
            let (name, compression): (String, bool) = sqlx::query_as(
                "SELECT hypertable_name::text, compression_enabled
                 FROM timescaledb_information.hypertables WHERE hypertable_name = 'readings'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            assert_eq!((name.as_str(), compression), ("readings", true));
            let chunk: String = sqlx::query_scalar(
                "SELECT time_interval::text FROM timescaledb_information.dimensions
                 WHERE hypertable_name = 'readings' AND column_name = 'time'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            assert_eq!(chunk, "7 days");
            let segment_by: Vec<String> = sqlx::query_scalar(
                "SELECT attname::text FROM timescaledb_information.compression_settings
                 WHERE hypertable_name = 'readings' AND segmentby_column_index IS NOT NULL
                 ORDER BY segmentby_column_index",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            assert_eq!(segment_by[..2], ["point_id", "pollutant"]);
            let order_by: (String, bool) = sqlx::query_as(
                "SELECT attname::text, orderby_asc FROM timescaledb_information.compression_settings
                 WHERE hypertable_name = 'readings' AND orderby_column_index = 1",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            assert_eq!(order_by, ("time".to_string(), false));
            let policy = |proc: &'static str, key: &'static str| {
                sqlx::query_scalar::<_, String>(
                    "SELECT config ->> $2 FROM timescaledb_information.jobs
                     WHERE proc_name = $1 AND hypertable_name = 'readings'",
                )
                .bind(proc)
                .bind(key)
                .fetch_one(pool)
            };
            assert_eq!(
                policy("policy_compression", "compress_after")
                    .await
                    .unwrap(),
                "30 days"
            );
            assert_eq!(
                policy("policy_retention", "drop_after").await.unwrap(),
                "10 years"
            );
            let (materialized_only, refresh): (bool, i64) = sqlx::query_as(
                "SELECT c.materialized_only,
                        (SELECT count(*) FROM timescaledb_information.jobs j
                         WHERE j.proc_name = 'policy_refresh_continuous_aggregate'
                           AND j.hypertable_name = c.view_name)
                 FROM timescaledb_information.continuous_aggregates c
                 WHERE c.view_name = 'readings_hourly'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            assert!(!materialized_only, "real-time aggregation is on");
            assert_eq!(refresh, 1, "a refresh policy keeps the rollups current");
        }
        Backend::PlainPostgres => {
            let brin = scalar_i64(
                pool,
                "SELECT count(*) FROM pg_indexes
                 WHERE tablename = 'readings' AND indexdef LIKE '%USING brin (\"time\")%'",
            )
            .await;
            assert_eq!(brin, 1, "a BRIN index on readings(time)");
            let timescale = scalar_i64(
                pool,
                "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'",
            )
            .await;
            assert_eq!(timescale, 0);
            let trigger = scalar_i64(
                pool,
                "SELECT count(*) FROM pg_trigger WHERE tgname = 'readings_roll_up'",
            )
            .await;
            assert_eq!(
                trigger, 1,
                "a trigger pends the rollups of inserted readings"
            );
            let pending_indexes = scalar_i64(
                pool,
                "SELECT count(*) FROM pg_index WHERE indrelid = 'readings_hourly_pending'::regclass",
            )
            .await;
            assert_eq!(
                pending_indexes, 0,
                "appends to the pending table touch no index"
            );
        }
    }
}

/// Readings published over MQTT are stored once, however often they are delivered; bad input is
/// quarantined once; an energy report's correction replaces it.
async fn ingest_over_mqtt_stores_once(backend: TestBackend) {
    let mut app = BackendApp::spawn(backend).await;
    let mut publisher = Publisher::connect(app.mqtt_port).await;
    let topic = app.topic("park-a", "a-out");
    for i in 0..50 {
        publisher.publish(&topic, reading_payload(i * 60)).await;
    }
    let batch = br#"{"readings":[{"ts":"2026-02-01 08:00:00","values":{"cod":30}},{"ts":"2026-02-01T08:01:00","values":{"cod":31},"flags":{"cod":"M"}}]}"#;
    publisher
        .publish(&app.topic("park-b", "b-out"), batch.to_vec())
        .await;
    publisher.flush().await;
    eventually(Duration::from_secs(30), "302 readings", || async {
        (app.db.readings().await == 302).then_some(())
    })
    .await;

    // A redelivery of the same messages stores nothing new.
    for i in 0..50 {
        publisher.publish(&topic, reading_payload(i * 60)).await;
    }
    publisher.flush().await;
    eventually(
        Duration::from_secs(30),
        "300 duplicates counted",
        || async { (app.metric("greenmon_readings_duplicate_total").await == 300.0).then_some(()) },
    )
    .await;
    assert_eq!(app.db.readings().await, 302);
    assert_eq!(app.metric("greenmon_readings_stored_total").await, 302.0);

    // The same malformed message twice: one quarantine row (generated sha256 key).
    for _ in 0..2 {
        publisher.publish(&topic, b"{not json".to_vec()).await;
    }
    // An energy report, then its correction.
    let energy = format!("{}/parks/park-a/energy", app.prefix);
    for tce in [1200.0, 1150.5] {
        let report = format!(
            r#"{{"period":"2018-03","energy_tce":{tce},"value_added_10k_yuan":5000,"price_index":1.08}}"#
        );
        publisher.publish(&energy, report.into_bytes()).await;
    }
    publisher.flush().await;
    eventually(Duration::from_secs(30), "quarantine and energy", || async {
        let q = app.db.quarantine().await;
        let e: (i64, Option<f64>) = sqlx::query_as(
            "SELECT count(*), max(energy_tce) FROM energy_reports WHERE park_id = 'park-a'",
        )
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
        (q == [("invalid_json".to_string(), 1)] && e == (1, Some(1150.5))).then_some(())
    })
    .await;

    // The hourly rollups and the last-seen times follow the stored rows, not the deliveries.
    // On plain PostgreSQL the service's rollup worker folds them within its interval.
    eventually(
        Duration::from_secs(30),
        "300 readings rolled up",
        || async {
            let hourly = scalar_i64(
            &app.db.pool,
            "SELECT coalesce(sum(count), 0)::bigint FROM readings_hourly WHERE point_id = 'a-out'",
        )
        .await;
            (hourly == 300).then_some(())
        },
    )
    .await;
    let fold = store::rollup::fold(&app.db.pool).await.unwrap();
    assert_eq!(fold, 0, "the worker left nothing to fold");
    let last: DateTime<Utc> =
        sqlx::query_scalar("SELECT last_reading FROM point_last_seen WHERE point_id = 'a-out'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap();
    assert_eq!(
        last,
        DateTime::parse_from_rfc3339("2026-01-01T00:49:00+08:00").unwrap()
    );
    assert_eq!(app.metric("greenmon_unacked_messages").await, 0.0);
    // /readyz pings the database.
    let ready = reqwest::get(format!("{}/readyz", app.http)).await.unwrap();
    assert_eq!(ready.status(), 200, "{}", ready.text().await.unwrap());
    app.shutdown().await;
}

/// `store::write_batch` directly: a fresh batch goes through binary COPY; a batch that holds a
/// stored reading fails COPY with a unique violation of the readings key and is written again in
/// one transaction with `INSERT ... ON CONFLICT DO NOTHING`, without splitting the batch (which
/// logs a warning and commits message by message). Quarantine and energy rows ride along.
async fn batch_writes_copy_then_upsert(backend: TestBackend) {
    let db = BackendDb::new(backend).await;
    let pool = &db.db.pool;
    let at = |i: u32| local(8, 0) + chrono::Duration::minutes(10 * i64::from(i));
    let first: Vec<Reading> = (0..6)
        .map(|m| {
            reading(
                "a-out",
                "cod",
                local(8, m * 10),
                20.0 + f64::from(m),
                Flag::Normal,
            )
        })
        .collect();
    let batch = [
        readings_item("park-a", "a-out", first.clone()),
        rejected_item(b"{broken"),
        energy_item("park-a", "2026-02", 900.0),
    ];
    let warnings = capture_warnings();
    let out = store::write_batch(pool, &batch).await.unwrap();
    assert_eq!(
        (
            out.readings_inserted,
            out.readings_duplicate,
            out.energy_reports
        ),
        (6, 0, 1)
    );
    assert_eq!(out.verdicts, [None, Some("invalid_json"), None]);

    // What the fallback relies on: COPY of a stored reading fails with a unique violation that
    // `StoreError::is_unique_violation("readings_pkey")` recognises. On a hypertable the index
    // that refuses the row is the chunk's copy of the key.
    let mut tx = pool.begin().await.unwrap();
    let mut copy = tx
        .copy_in_raw(
            "COPY readings (time, point_id, pollutant, value) FROM STDIN WITH (FORMAT csv)",
        )
        .await
        .unwrap();
    copy.send(format!("{},a-out,w01018,1\n", local(8, 0).to_rfc3339()).into_bytes())
        .await
        .unwrap();
    let err = store::StoreError::from(copy.finish().await.unwrap_err());
    tx.rollback().await.unwrap();
    let sqlx_err = match &err {
        store::StoreError::Db(sqlx::Error::Database(e)) => (
            e.code().map(|c| c.to_string()),
            e.constraint().map(str::to_string),
        ),
        other => panic!("not a database error: {other}"),
    };
    eprintln!("COPY of a stored reading: {err} (code, constraint) = {sqlx_err:?}");
    assert_eq!(sqlx_err.0.as_deref(), Some("23505"));

    // Redelivery of the whole batch plus three new readings, in one batch.
    let mut again = first.clone();
    again.extend((6..9).map(|m| reading("a-out", "cod", at(m), 30.0, Flag::Normal)));
    let batch = [
        readings_item("park-a", "a-out", again),
        rejected_item(b"{broken"),
        energy_item("park-a", "2026-02", 950.0),
    ];
    let out = store::write_batch(pool, &batch).await.unwrap();
    assert_eq!(
        (
            out.readings_inserted,
            out.readings_duplicate,
            out.energy_reports
        ),
        (3, 6, 1)
    );
    assert_eq!(db.db.readings().await, 9);
    assert_eq!(db.db.quarantine().await, [("invalid_json".to_string(), 1)]);
    let tce: f64 = sqlx::query_scalar("SELECT energy_tce FROM energy_reports")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(tce, 950.0);
    let logged = warnings.take();
    assert!(
        logged.is_empty(),
        "a redelivery must go through the upsert in one transaction, not split the batch \
         ({backend:?}; COPY error {sqlx_err:?}); logged: {logged:#?}"
    );
    assert!(
        err.is_unique_violation("readings_pkey"),
        "the COPY fallback does not recognise {sqlx_err:?} as a redelivery"
    );
}

/// Registry import writes the same rows on both paths, is idempotent, and updates in place.
async fn registry_import_is_idempotent(backend: TestBackend) {
    let db = BackendDb::new(backend).await;
    let pool = &db.db.pool;
    let registry = RegistryFile::parse(TEST_REGISTRY)
        .unwrap()
        .validate()
        .unwrap();
    let summary = store::registry::import(pool, &registry, chrono_tz::Asia::Shanghai)
        .await
        .unwrap();
    assert_eq!((summary.parks, summary.points, summary.limits), (2, 3, 2));
    let counts = || async {
        (
            scalar_i64(pool, "SELECT count(*) FROM parks").await,
            scalar_i64(pool, "SELECT count(*) FROM monitoring_points").await,
            scalar_i64(pool, "SELECT count(*) FROM discharge_limits").await,
        )
    };
    assert_eq!(counts().await, (2, 3, 2));

    let changed = TEST_REGISTRY
        .replace("name = \"A 园区\"", "name = \"A 园区 (renamed)\"")
        .replace("cod = { upper = 50 }", "cod = { upper = 40 }");
    let registry = RegistryFile::parse(&changed).unwrap().validate().unwrap();
    store::registry::import(pool, &registry, chrono_tz::Asia::Shanghai)
        .await
        .unwrap();
    assert_eq!(counts().await, (2, 3, 2));
    let (name, upper): (String, f64) = sqlx::query_as(
        "SELECT p.name, l.upper FROM parks p
         JOIN monitoring_points m ON m.park_id = p.id
         JOIN discharge_limits l ON l.point_id = m.id AND l.pollutant = 'w01018'
         WHERE p.id = 'park-a'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!((name.as_str(), upper), ("A 园区 (renamed)", 40.0));
}

/// Seeds a day with known compliance and checks every compliance query on it: a-out every
/// 10 minutes except hours 5 and 6, one maintenance reading in hour 10, COD 80 in hours 14-16
/// (limit 50), pH 5.5 in hour 20 (limit 6-9); a-in hourly and valid.
async fn compliance_queries_read_the_rollups(backend: TestBackend) {
    let db = BackendDb::new(backend).await;
    let pool = &db.db.pool;
    seed_day(pool).await;
    let now = local(0, 0) + chrono::Duration::days(3);

    // Before any refresh: on TimescaleDB real-time aggregation computes the hours from the raw
    // readings; on plain PostgreSQL the engine folds the pending rollups before it reads.
    let rates_of = |pool: PgPool| async move {
        let rates = service::rates(&pool, Shanghai, Some("park-a"), day(), day(), now)
            .await
            .unwrap();
        let park = &rates[0];
        let point = |id: &str| {
            let r = park.points.iter().find(|p| p.point_id == id).unwrap().rates;
            (r.expected, r.received, r.valid)
        };
        (point("a-out"), point("a-in"))
    };
    assert_eq!(rates_of(pool.clone()).await, ((24, 22, 21), (24, 24, 24)));

    // Materialised (what the refresh policy does): the same answers.
    refresh_rollups(&db).await;
    assert_eq!(rates_of(pool.clone()).await, ((24, 22, 21), (24, 24, 24)));
    let (from, to) = (local(0, 0), local(0, 0) + chrono::Duration::days(1));
    let mut ex = service::exceedances(pool, Some("park-a"), from, to, now)
        .await
        .unwrap();
    ex.sort_by_key(|e| e.pollutant.clone());
    let episodes: Vec<_> = ex
        .iter()
        .map(|e| {
            (
                e.pollutant.as_str(),
                e.episode.start,
                e.episode.hours,
                e.episode.peak,
            )
        })
        .collect();
    assert_eq!(
        episodes,
        [
            ("w01001", local(20, 0), 1, 5.5),
            ("w01018", local(14, 0), 3, 80.0)
        ]
    );
    let hour10: (i64, i64, f64) = sqlx::query_as(
        "SELECT count, valid_count, valid_avg FROM readings_hourly
         WHERE point_id = 'a-out' AND pollutant = 'w01018' AND hour = $1",
    )
    .bind(local(10, 0))
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(
        hour10,
        (6, 5, 30.0),
        "hour 10 holds one maintenance reading"
    );

    // Late data into materialised hours: visible once the rollups are refreshed (at once on
    // plain PostgreSQL; within the refresh policy's minute on TimescaleDB).
    let late = (0..60)
        .step_by(10)
        .map(|m| reading("a-out", "cod", local(5, m), 30.0, Flag::Normal))
        .collect();
    store_readings(pool, "park-a", "a-out", late).await;
    let before_refresh = rates_of(pool.clone()).await;
    eprintln!("{backend:?}: rates after late data, before a refresh: {before_refresh:?}");
    refresh_rollups(&db).await;
    assert_eq!(rates_of(pool.clone()).await, ((24, 23, 22), (24, 24, 24)));

    // The monthly report, the status now and the bureau summary run on the same rollups.
    let march = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
    let reports = report::monthly(pool, Shanghai, Some("park-a"), march, 0.9, now)
        .await
        .unwrap();
    assert_eq!(
        (reports[0].exceedance_episodes, reports[0].exceedance_hours),
        (2, 4)
    );
    let parks = service::parks_now(pool, None, local(23, 55)).await.unwrap();
    let a = parks.iter().find(|p| p.park_id == "park-a").unwrap();
    assert_eq!((a.required_points, a.online_required_points), (2, 1));
    let summary = service::bureau_summary(pool, Shanghai, Utc::now())
        .await
        .unwrap();
    assert_eq!(summary.len(), 2);

    // Energy: reports upserted through a batch, read back by the energy path.
    store::write_batch(
        pool,
        &[
            energy_item("park-a", "2016", 760.0),
            energy_item("park-b", "2016", 1100.0),
        ],
    )
    .await
    .unwrap();
    let energy = service::energy(
        pool,
        None,
        2016,
        NaiveDate::from_ymd_opt(2017, 1, 1).unwrap(),
    )
    .await
    .unwrap();
    let a = energy.iter().find(|e| e.park_id == "park-a").unwrap();
    let status = a.status.unwrap();
    assert!((status.intensity - 0.76).abs() < 1e-9, "{status:?}");
    assert!(status.on_track);
}

// --- TimescaleDB only ----------------------------------------------------------------------------

/// Readings 60 days old land in chunks the compression policy compresses; afterwards a
/// redelivery of them stores nothing twice (COPY fails, the upsert checks the compressed rows),
/// late data still lands in the compressed chunk, and the queries see all of it.
#[tokio::test]
async fn compressed_chunks_take_redeliveries_and_late_data_on_timescaledb() {
    let db = BackendDb::new(TestBackend::TimescaleDb).await;
    let pool = &db.db.pool;
    let base = Utc::now() - chrono::Duration::days(60);
    let base = base - chrono::Duration::nanoseconds(i64::from(base.timestamp_subsec_nanos()));
    let old: Vec<Reading> = (0..500)
        .flat_map(|i| {
            let t = base + chrono::Duration::minutes(i);
            [
                reading("a-out", "cod", t, 20.0 + (i % 7) as f64, Flag::Normal),
                reading("a-out", "ph", t, 7.0 + (i % 3) as f64 / 10.0, Flag::Normal),
            ]
        })
        .collect();
    store_readings(pool, "park-a", "a-out", old.clone()).await;
    store_readings(
        pool,
        "park-a",
        "a-in",
        vec![reading("a-in", "cod", Utc::now(), 300.0, Flag::Normal)],
    )
    .await;

    // The compression policy's job, run now (PGlite has no background workers).
    let job: i32 = sqlx::query_scalar(
        "SELECT job_id FROM timescaledb_information.jobs
         WHERE proc_name = 'policy_compression' AND hypertable_name = 'readings'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::raw_sql(&format!("CALL run_job({job})"))
        .execute(pool)
        .await
        .unwrap();
    let (compressed, uncompressed): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE is_compressed), count(*) FILTER (WHERE NOT is_compressed)
         FROM timescaledb_information.chunks WHERE hypertable_name = 'readings'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert!(compressed >= 1, "old chunks compressed");
    assert_eq!(uncompressed, 1, "this week's chunk stays uncompressed");
    let (before, after): (i64, i64) = sqlx::query_as(
        "SELECT before_compression_total_bytes, after_compression_total_bytes
         FROM hypertable_compression_stats('readings')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    eprintln!(
        "compressed {compressed} chunk(s) of {} readings: {before} → {after} bytes ({:.1}×)",
        old.len(),
        before as f64 / after as f64
    );
    assert!(after < before);

    // Redelivery of the compressed readings, with two late ones among them.
    let mut again = old.clone();
    let late_t = base + chrono::Duration::seconds(30);
    again.push(reading("a-out", "cod", late_t, 99.0, Flag::Normal));
    again.push(reading("a-out", "ph", late_t, 7.5, Flag::Normal));
    let out = store::write_batch(pool, &[readings_item("park-a", "a-out", again)])
        .await
        .unwrap();
    assert_eq!((out.readings_inserted, out.readings_duplicate), (2, 1000));
    assert_eq!(db.db.readings().await, 1003);
    let dupes = scalar_i64(
        pool,
        "SELECT count(*) FROM (SELECT 1 FROM readings GROUP BY point_id, pollutant, time
                                HAVING count(*) > 1) d",
    )
    .await;
    assert_eq!(dupes, 0);

    // The rollups over the compressed range, after the refresh policy's run.
    sqlx::raw_sql("CALL refresh_continuous_aggregate('readings_hourly', NULL, NULL)")
        .execute(pool)
        .await
        .unwrap();
    let hourly = scalar_i64(
        pool,
        "SELECT sum(count)::bigint FROM readings_hourly WHERE point_id = 'a-out'",
    )
    .await;
    assert_eq!(hourly, 1002);
    let peak: f64 = sqlx::query_scalar(
        "SELECT max(max) FROM readings_hourly WHERE point_id = 'a-out' AND pollutant = 'w01018'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(peak, 99.0);
}

/// The retention policy's job drops chunks past ten years and keeps the rest.
#[tokio::test]
async fn retention_drops_readings_past_ten_years_on_timescaledb() {
    let db = BackendDb::new(TestBackend::TimescaleDb).await;
    let pool = &db.db.pool;
    let now = Utc::now();
    store_readings(
        pool,
        "park-a",
        "a-out",
        vec![
            reading(
                "a-out",
                "cod",
                now - chrono::Duration::days(11 * 366),
                1.0,
                Flag::Normal,
            ),
            reading(
                "a-out",
                "cod",
                now - chrono::Duration::days(9 * 365),
                2.0,
                Flag::Normal,
            ),
            reading("a-out", "cod", now, 3.0, Flag::Normal),
        ],
    )
    .await;
    let job: i32 = sqlx::query_scalar(
        "SELECT job_id FROM timescaledb_information.jobs
         WHERE proc_name = 'policy_retention' AND hypertable_name = 'readings'",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    sqlx::raw_sql(&format!("CALL run_job({job})"))
        .execute(pool)
        .await
        .unwrap();
    let kept: Vec<f64> = sqlx::query_scalar("SELECT value FROM readings ORDER BY time")
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(kept, [2.0, 3.0]);
}

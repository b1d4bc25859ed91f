//! Probe.
use crate::helpers::{BackendDb, TestBackend};

#[tokio::test]
async fn probe() {
    let t = std::time::Instant::now();
    let b = BackendDb::new(TestBackend::TimescaleDb).await;
    eprintln!("started+migrated in {:?}", t.elapsed());
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT hypertable_name::text, num_chunks::text FROM timescaledb_information.hypertables").fetch_all(&b.db.pool).await.unwrap();
    eprintln!("{rows:?}");
    for q in ["INSERT INTO readings (time, point_id, pollutant, value) VALUES ('2026-01-01', 'a-out', 'w01018', 1)",
              "INSERT INTO readings (time, point_id, pollutant, value) VALUES ('2026-01-01', 'a-out', 'w01018', 1)"] {
        match sqlx::query(q).execute(&b.db.pool).await {
            Ok(r) => eprintln!("ok {}", r.rows_affected()),
            Err(sqlx::Error::Database(e)) => eprintln!("err code={:?} constraint={:?} table={:?} msg={}", e.code(), e.constraint(), e.table(), e.message()),
            Err(e) => eprintln!("other {e}"),
        }
    }
    // concurrent use of two connections + a second pool
    let settings = b.settings(1883, "x", "y");
    let pool2 = greenmon::store::pool(&settings.database);
    for i in 0..20 {
        let (a, c) = tokio::join!(
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM readings WHERE value > $1").bind(i as f64).fetch_one(&b.db.pool),
            sqlx::query_scalar::<_, String>("SELECT id FROM parks WHERE id = $1").bind("park-a").fetch_one(&pool2),
        );
        if a.is_err() || c.is_err() { eprintln!("iteration {i}: {a:?} {c:?}"); break; }
    }
    eprintln!("{}", b.server.as_ref().unwrap().stderr());
}

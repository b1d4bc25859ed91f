//! Grafana: the provisioned dashboards are valid JSON that use only the provisioned datasource,
//! and every panel's SQL (and every template variable's), with Grafana's macros expanded as
//! Grafana expands them, runs against seeded data on plain PostgreSQL and on TimescaleDB and
//! returns rows of the shape its panel format needs. The row-level security role of
//! `greenmon grafana-role create` sees only its park's rows in every table it can read.

use std::collections::BTreeMap;
use std::process::Command;

use chrono::{DateTime, Duration, Utc};
use greenmon::domain::Flag;
use greenmon::store;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::{Column, ConnectOptions, Connection, PgPool, Row, TypeInfo};

use crate::compliance::{local, reading, seed_day, store_readings};
use crate::helpers::{repo_path, settings_for, unique, BackendDb, TestBackend, TestDb};

/// The uids of the provisioned datasources.
fn provisioned_uids() -> Vec<String> {
    let yaml = std::fs::read_to_string(repo_path("grafana/provisioning/datasources/greenmon.yaml"))
        .unwrap();
    yaml.lines()
        .filter_map(|l| l.trim().strip_prefix("uid:"))
        .map(|v| v.trim().to_string())
        .collect()
}

fn dashboards() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_path("grafana/dashboards")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let json: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
        out.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            json,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 3, "bureau, park and point dashboards");
    out
}

/// Every `datasource` object anywhere in the document.
fn datasource_refs<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "datasource" {
                    out.push(child);
                } else {
                    datasource_refs(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|c| datasource_refs(c, out)),
        _ => {}
    }
}

#[test]
fn dashboards_reference_only_provisioned_datasources() {
    let uids = provisioned_uids();
    assert_eq!(uids, ["greenmon-pg"]);
    let provider =
        std::fs::read_to_string(repo_path("grafana/provisioning/dashboards/greenmon.yaml"))
            .unwrap();
    assert!(provider.contains("path: /var/lib/grafana/dashboards"));
    let mut dashboard_uids = Vec::new();
    for (name, d) in dashboards() {
        dashboard_uids.push(d["uid"].as_str().unwrap().to_string());
        let mut refs = Vec::new();
        datasource_refs(&d, &mut refs);
        assert!(!refs.is_empty(), "{name}");
        for r in refs {
            let uid = r["uid"].as_str().unwrap_or_else(|| panic!("{name}: {r}"));
            assert!(uids.iter().any(|u| u == uid), "{name} refers to {uid}");
        }
        let ids: Vec<_> = d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["id"])
            .collect();
        let mut unique_ids = ids.clone();
        unique_ids.dedup();
        assert_eq!(ids.len(), unique_ids.len(), "{name}: panel ids repeat");
    }
    dashboard_uids.sort();
    dashboard_uids.dedup();
    assert_eq!(dashboard_uids.len(), 4);
}

/// A time range and the values of the template variables.
struct Scope {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    /// Grafana's `$__interval`, in seconds (at least the panel's minimum interval).
    interval_secs: i64,
    timescaledb: bool,
    vars: BTreeMap<&'static str, &'static str>,
}

fn grafana_duration(secs: i64) -> String {
    match secs {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Splits `name(args)` at the start of `s` into the argument text and the rest.
fn macro_args(s: &str) -> (&str, &str) {
    let open = s.find('(').unwrap();
    let mut depth = 0;
    for (i, c) in s.char_indices().skip(open) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return (&s[open + 1..i], &s[i + 1..]);
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced macro in {s}")
}

/// Expands the macros the dashboards use as Grafana's PostgreSQL datasource does
/// (`pkg/tsdb/grafana-postgresql-datasource/macros.go`), then the template variables.
fn expand(sql: &str, scope: &Scope) -> String {
    let ts = |t: DateTime<Utc>| format!("'{}'", t.format("%Y-%m-%dT%H:%M:%SZ"));
    let mut out = String::new();
    let mut rest = sql;
    while let Some(at) = rest.find("$__") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let name: String = tail[3..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let after = &tail[3 + name.len()..];
        let (args, remainder) = if after.starts_with('(') {
            macro_args(after)
        } else {
            ("", after)
        };
        let args: Vec<&str> = args.split(',').map(str::trim).collect();
        let group = |col: &str, alias: bool| {
            let secs = scope.interval_secs;
            let expr = if scope.timescaledb {
                format!("time_bucket('{secs}s',{col})")
            } else {
                format!("floor(extract(epoch from {col})/{secs})*{secs}")
            };
            if alias {
                format!("{expr} AS \"time\"")
            } else {
                expr
            }
        };
        let expanded = match name.as_str() {
            "timeFilter" => format!(
                "{} BETWEEN {} AND {}",
                args[0],
                ts(scope.from),
                ts(scope.to)
            ),
            "timeFrom" => ts(scope.from),
            "timeTo" => ts(scope.to),
            "timeGroupAlias" => group(args[0], true),
            "timeGroup" => group(args[0], false),
            "interval_ms" => (scope.interval_secs * 1000).to_string(),
            "interval" => grafana_duration(scope.interval_secs),
            other => panic!("macro $__{other} is not expanded by this test"),
        };
        out.push_str(&expanded);
        rest = remainder;
    }
    out.push_str(rest);
    for (k, v) in &scope.vars {
        out = out
            .replace(&format!("${{{k}}}"), v)
            .replace(&format!("${k}"), v);
    }
    assert!(
        !out.contains('$') || out.contains("$$"),
        "unexpanded: {out}"
    );
    out
}

fn is_numeric(type_name: &str) -> bool {
    matches!(
        type_name,
        "INT2" | "INT4" | "INT8" | "FLOAT4" | "FLOAT8" | "NUMERIC"
    )
}

/// Checks a result against its panel format; returns the number of rows.
fn check_shape(rows: &[PgRow], format: &str, what: &str) -> usize {
    let Some(first) = rows.first() else { return 0 };
    let cols: Vec<(String, String)> = first
        .columns()
        .iter()
        .map(|c| (c.name().to_string(), c.type_info().name().to_string()))
        .collect();
    match format {
        "time_series" => {
            let (name, ty) = &cols[0];
            assert_eq!(
                name, "time",
                "{what}: the first column must be time: {cols:?}"
            );
            assert!(
                ty == "TIMESTAMPTZ" || is_numeric(ty),
                "{what}: time is {ty}"
            );
            let values: Vec<_> = cols[1..].iter().filter(|(n, _)| n != "metric").collect();
            assert!(!values.is_empty(), "{what}: no value column: {cols:?}");
            for (n, ty) in values {
                assert!(is_numeric(ty), "{what}: value column {n} is {ty}");
            }
            if let Some((_, ty)) = cols.iter().find(|(n, _)| n == "metric") {
                assert_eq!(ty, "TEXT", "{what}: metric is {ty}");
            }
        }
        "table" => assert!(!cols.is_empty(), "{what}"),
        other => panic!("{what}: unknown format {other}"),
    }
    rows.len()
}

async fn seed(pool: &PgPool) {
    seed_day(pool).await;
    store_readings(
        pool,
        "park-b",
        "b-out",
        vec![reading("b-out", "cod", local(12, 0), 42.0, Flag::Normal)],
    )
    .await;
    for sql in [
        "INSERT INTO energy_reports (park_id, period, period_kind, period_start, period_end, energy_tce, value_added_10k_yuan)
         VALUES ('park-a', '2026-01', 'month', '2026-01-01', '2026-02-01', 60, 100),
                ('park-a', '2026-02', 'month', '2026-02-01', '2026-03-01', 55, 100),
                ('park-b', '2026-01', 'month', '2026-01-01', '2026-02-01', 120, 100)",
        "INSERT INTO discharge_limits (point_id, pollutant, upper) VALUES ('b-out', 'w01018', 40)",
        "INSERT INTO quarantine (received_at, source, topic, payload, reason, detail)
         VALUES ('2026-03-10T04:00:00Z', 'mqtt', 't/parks/park-a/points/x/readings', 'x', 'invalid_json', 'not JSON')",
        // A firing and a resolved alert of park-a, a resolved one of park-b, with history and
        // notifications.
        "INSERT INTO alerts (id, rule, park_id, point_id, pollutant, state, severity, summary,
                             summary_zh, description, description_zh, value, threshold,
                             active_since, fired_at, resolved_at)
         VALUES (1, 'discharge_exceedance', 'park-a', 'a-out', 'w01018', 'firing', 'critical',
                 'COD above', 'COD 超标', 'd', 'd', 80, 50, '2026-03-10T03:00:00Z',
                 '2026-03-10T03:10:00Z', NULL),
                (2, 'point_offline', 'park-b', 'b-out', '', 'resolved', 'major', 'offline',
                 '离线', 'd', 'd', NULL, NULL, '2026-03-10T01:00:00Z', '2026-03-10T01:15:00Z',
                 '2026-03-10T05:00:00Z'),
                (3, 'low_effective_rate', 'park-a', 'a-in', '', 'resolved', 'warning', 'low rate',
                 '有效传输率低', 'd', 'd', 0.5, 0.9, '2026-03-10T00:00:00Z',
                 '2026-03-10T00:00:00Z', '2026-03-10T06:00:00Z')",
        "INSERT INTO alert_events (id, alert_id, at, kind, severity)
         VALUES (1, 1, '2026-03-10T03:10:00Z', 'firing', 'critical'),
                (2, 2, '2026-03-10T01:15:00Z', 'firing', 'major'),
                (3, 2, '2026-03-10T05:00:00Z', 'resolved', 'major')",
        // Review marks of park-a (one withdrawn) and park-b, with their audit rows.
        "INSERT INTO review_marks (id, point_id, pollutant, starts_at, ends_at, kind, reason,
                                  created_by, withdrawn_at, withdrawn_by, withdraw_reason)
         OVERRIDING SYSTEM VALUE
         VALUES (1, 'a-out', NULL, '2026-03-10T00:00:00Z', '2026-03-10T06:00:00Z', 'maintenance',
                 'quarterly', 'wang', NULL, NULL, NULL),
                (2, 'a-out', 'w01018', '2026-03-10T08:00:00Z', '2026-03-10T11:00:00Z', 'fault',
                 'reagent', 'li', '2026-03-11T00:00:00Z', 'zhang', 'wrong point'),
                (3, 'b-out', NULL, '2026-03-10T00:00:00Z', '2026-03-10T02:00:00Z', 'calibration',
                 'span check', 'wang', NULL, NULL, NULL)",
        "INSERT INTO review_mark_events (mark_id, event, by_whom, reason)
         VALUES (1, 'created', 'wang', 'quarterly'), (2, 'created', 'li', 'reagent'),
                (2, 'withdrawn', 'zhang', 'wrong point'), (3, 'created', 'wang', 'span check')",
        // A revision of a reading and of an energy report of each park (the update keeps the
        // figures: only the provenance changes, and the trigger keeps the old version).
        "UPDATE readings SET sender = 'seed' WHERE time = '2026-03-10T04:00:00Z' AND pollutant = 'w01018'",
        "UPDATE energy_reports SET source = 'api' WHERE period = '2026-01'",
        "INSERT INTO notification_outbox (alert_id, event_id, receiver, payload, status, attempts, created_at)
         VALUES (1, 1, 'webhook:oncall', '{}', 'delivered', 1, '2026-03-10T03:10:00Z'),
                (2, 3, 'webhook:oncall', '{}', 'dead', 8, '2026-03-10T05:00:00Z')",
    ] {
        sqlx::query(sql).execute(pool).await.unwrap();
    }
    // What the rollup worker does within rollup.fold_interval_ms (a no-op on TimescaleDB).
    store::rollup::fold(pool).await.unwrap();
}

async fn panels_run_against_seeded_data(backend: TestBackend) {
    let bdb = BackendDb::new(backend).await;
    let pool = &bdb.db.pool;
    seed(pool).await;
    let day = local(0, 0);
    let windows = [
        (day, day + Duration::days(1)),
        (day - Duration::days(20), day + Duration::days(10)),
    ];
    let vars = BTreeMap::from([
        ("park", "park-a"),
        ("point", "a-out"),
        ("pollutant", "w01018"),
    ]);
    for (name, d) in dashboards() {
        for v in d["templating"]["list"].as_array().unwrap() {
            let scope = Scope {
                from: windows[0].0,
                to: windows[0].1,
                interval_secs: 3600,
                timescaledb: backend == TestBackend::TimescaleDb,
                vars: vars.clone(),
            };
            let sql = expand(v["query"].as_str().unwrap(), &scope);
            let rows = sqlx::query(&sql)
                .fetch_all(pool)
                .await
                .unwrap_or_else(|e| panic!("{name} variable {}: {e}\n{sql}", v["name"]));
            assert!(
                !rows.is_empty(),
                "{name} variable {} has no values",
                v["name"]
            );
        }
        for panel in d["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            // The panel's minimum interval; Grafana never goes below it.
            let min_secs = match panel["interval"].as_str() {
                Some("1d") => 86_400,
                Some("1h") | None => 3600,
                Some(other) => panic!("{name}/{title}: interval {other}"),
            };
            for target in panel["targets"].as_array().unwrap() {
                let what = format!("{name} / {title} / {}", target["refId"]);
                let format = target["format"].as_str().unwrap();
                let mut total = 0;
                for (from, to) in windows {
                    let scope = Scope {
                        from,
                        to,
                        interval_secs: min_secs
                            .max(((to - from).num_seconds() / 500 / 3600) * 3600),
                        timescaledb: backend == TestBackend::TimescaleDb,
                        vars: vars.clone(),
                    };
                    let sql = expand(target["rawSql"].as_str().unwrap(), &scope);
                    let rows = sqlx::query(&sql)
                        .fetch_all(pool)
                        .await
                        .unwrap_or_else(|e| panic!("{what}: {e}\n{sql}"));
                    total += check_shape(&rows, format, &what);
                }
                assert!(total > 0, "{what} returned no rows on the seeded data");
            }
        }
    }
}

#[tokio::test]
async fn panels_run_on_postgres() {
    panels_run_against_seeded_data(TestBackend::Postgres).await;
}

#[tokio::test]
async fn panels_run_on_timescaledb() {
    panels_run_against_seeded_data(TestBackend::TimescaleDb).await;
}

/// How to tell a row's park in each table a park role might read.
async fn park_expr(pool: &PgPool, table: &str) -> String {
    let cols: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name = $1",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap();
    let has = |c: &str| cols.iter().any(|x| x == c);
    if table == "parks" {
        "id".into()
    } else if table == "alert_events" {
        "(SELECT park_id FROM alerts a WHERE a.id = alert_id)".into()
    } else if table == "review_mark_events" {
        let marks = Box::pin(park_expr(pool, "review_marks")).await;
        format!("(SELECT {marks} FROM review_marks m WHERE m.id = mark_id)")
    } else if has("park_id") {
        "park_id".into()
    } else if has("point_id") {
        // Points of each park as the owner sees them, inlined so the role needs no join grant.
        let pairs: Vec<(String, String)> =
            sqlx::query_as("SELECT id, park_id FROM monitoring_points")
                .fetch_all(pool)
                .await
                .unwrap();
        let cases: String = pairs
            .iter()
            .map(|(pt, pk)| format!(" WHEN '{pt}' THEN '{pk}'"))
            .collect();
        format!("CASE point_id{cases} END")
    } else {
        panic!("no park column in {table}: {cols:?}")
    }
}

/// `greenmon grafana-role create --park park-a --role-name ROLE` on database `db`.
fn create_role(db: &str, role: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_greenmon"))
        .args([
            "grafana-role",
            "create",
            "--park",
            "park-a",
            "--role-name",
            role,
        ])
        .env("GREENMON__DATABASE__DBNAME", db)
        .output()
        .unwrap()
}

#[tokio::test]
async fn park_role_sees_only_its_park() {
    let db = TestDb::new().await;
    seed(&db.pool).await;
    let role = unique("grafana_t");
    let out = create_role(&db.name, &role);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap()
        .to_string();
    let settings = settings_for(&db.name, 1883, "unused", "unused");
    let mut conn = store::connect_options(&settings.database)
        .username(&role)
        .password(&password)
        .connect()
        .await
        .unwrap();

    // Every relation of the schema the role may read, from the catalog.
    let readable: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
           AND has_any_column_privilege($1, c.oid, 'SELECT')
         ORDER BY 1",
    )
    .bind(&role)
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert!(readable.len() >= 8, "{readable:?}");
    for table in &readable {
        let expr = park_expr(&db.pool, table).await;
        let by_park = format!("SELECT {expr} AS park, count(*) FROM {table} GROUP BY 1 ORDER BY 1");
        let seen: Vec<(Option<String>, i64)> = sqlx::query_as(&by_park)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        let all: Vec<(Option<String>, i64)> =
            sqlx::query_as(&by_park).fetch_all(&db.pool).await.unwrap();
        let own = all
            .iter()
            .find(|(p, _)| p.as_deref() == Some("park-a"))
            .map(|(_, n)| *n);
        assert!(
            all.iter().any(|(p, _)| p.as_deref() != Some("park-a")),
            "{table}: seed rows of another park so the test means something"
        );
        assert_eq!(
            seen,
            vec![(
                Some("park-a".to_string()),
                own.unwrap_or_else(|| panic!("{table}: no park-a rows"))
            )],
            "{table}: the role sees exactly park-a's rows"
        );
    }
    // Tables outside the park's view are not readable at all.
    for table in [
        "api_tokens",
        "quarantine",
        "grafana_park_roles",
        "hj212_gaps",
    ] {
        assert!(
            !readable.contains(&table.to_string()),
            "{table} is readable"
        );
        let err = sqlx::query(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut conn)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{table}: {err}"
        );
    }
    // The loggers' HJ 212 passwords stay with the bureau.
    let err = sqlx::query("SELECT hj212_password FROM monitoring_points")
        .fetch_all(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    // Writes are refused.
    let err = sqlx::query("UPDATE parks SET name = 'x'")
        .execute(&mut conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    conn.close().await.unwrap();
    // A second role of the same name is refused with a clear message.
    let out = create_role(&db.name, &role);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    sqlx::query(&format!("DROP OWNED BY {role}; DROP ROLE {role}"))
        .execute(&db.pool)
        .await
        .ok();
}

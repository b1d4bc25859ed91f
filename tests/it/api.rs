//! The HTTP API against a real greenmon, PostgreSQL and Mosquitto: a table-driven isolation
//! matrix over every endpoint (bureau token, a park token on its own and on another park's
//! resources, no token, a revoked token), malformed input, and what the endpoints answer on
//! seeded data. The `greenmon token` commands end to end.

use chrono::Duration;
use greenmon::api::openapi::{self, Access, Operation};
use greenmon::domain::Flag;
use greenmon::store::tokens::{self, TokenRole};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::compliance::{local, reading, seed_day, store_readings};
use crate::helpers::{greenmon, run_ok, TestApp};

/// The request body an endpoint needs, made for the park in its path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    None,
    ParkEntry,
    EnergyReport,
    Ack,
    ReviewMark,
    Withdraw,
}

/// One row per endpoint: what a park token gets on its own park follows from `access`; on
/// another park's resources it gets 404; lists (no park in the path) are filtered.
struct Row {
    method: Method,
    path: &'static str,
    body: Body,
}

const fn row(method: Method, path: &'static str, body: Body) -> Row {
    Row { method, path, body }
}

/// Every endpoint that takes a token. Adding one (e.g. `/api/v1/alerts`) is a row here.
fn matrix() -> Vec<Row> {
    use Body::*;
    vec![
        row(Method::GET, "/api/v1/compliance", None),
        row(Method::GET, "/api/v1/parks", None),
        row(Method::GET, "/api/v1/parks/{park}", None),
        row(Method::PUT, "/api/v1/parks/{park}", ParkEntry),
        row(Method::GET, "/api/v1/parks/{park}/points", None),
        row(
            Method::GET,
            "/api/v1/parks/{park}/points/{point}/readings?pollutant=cod&from=2026-03-09T00:00:00Z&to=2026-03-11T00:00:00Z",
            None,
        ),
        row(Method::GET, "/api/v1/parks/{park}/compliance", None),
        row(
            Method::GET,
            "/api/v1/parks/{park}/compliance/rates?from=2026-03-10&to=2026-03-10",
            None,
        ),
        row(
            Method::GET,
            "/api/v1/parks/{park}/exceedances?from=2026-03-09T00:00:00Z&to=2026-03-12T00:00:00Z",
            None,
        ),
        row(Method::GET, "/api/v1/parks/{park}/energy?year=2026", None),
        row(
            Method::GET,
            "/api/v1/parks/{park}/reports/2026-03?as_of=2026-04-02T00:00:00Z",
            None,
        ),
        row(Method::GET, "/api/v1/bulletins/2026-03", None),
        row(Method::GET, "/api/v1/parks/{park}/bulletins/2026-03", None),
        row(Method::GET, "/api/v1/parks/{park}/energy-reports", None),
        row(Method::POST, "/api/v1/parks/{park}/energy-reports", EnergyReport),
        row(Method::GET, "/api/v1/alerts?state=all", None),
        row(Method::GET, "/api/v1/alerts/{alert}", None),
        row(Method::POST, "/api/v1/alerts/{alert}/ack", Ack),
        row(Method::GET, "/api/v1/parks/{park}/review-marks", None),
        row(Method::GET, "/api/v1/parks/{park}/points/{point}/review-marks", None),
        row(Method::POST, "/api/v1/parks/{park}/points/{point}/review-marks", ReviewMark),
        row(Method::POST, "/api/v1/parks/{park}/review-marks/{mark}/withdraw", Withdraw),
        row(Method::GET, "/api/v1/hj212/requests", None),
    ]
}

/// Every operation of the generated OpenAPI document.
fn operations() -> Vec<Operation> {
    openapi::operations(&openapi::document())
}

/// The document's path of a matrix row (`{alert}` and `{mark}` are the document's `{id}`).
fn doc_path(row: &Row) -> String {
    row.path
        .split('?')
        .next()
        .unwrap()
        .replace("{alert}", "{id}")
        .replace("{mark}", "{id}")
        .replace("/reports/2026-03", "/reports/{month}")
        .replace("/bulletins/2026-03", "/bulletins/{month}")
}

fn access_of(row: &Row) -> Access {
    let path = doc_path(row);
    operations()
        .into_iter()
        .find(|op| op.path == path && op.method == row.method.as_str().to_lowercase())
        .unwrap_or_else(|| panic!("{} {path} is not in the OpenAPI document", row.method))
        .access
        .unwrap_or_else(|| panic!("{} {path} has no valid x-access", row.method))
}

/// Checks an answer against the document: its status is documented for the operation, and the
/// body has every required field of the documented schema, with the documented JSON types, down
/// through objects and arrays.
fn assert_documented(doc: &Value, row: &Row, status: StatusCode, body: &Value) {
    let path = doc_path(row);
    let method = row.method.as_str().to_lowercase();
    let what = format!("{method} {path} {status}");
    let response = &doc["paths"][&path][&method]["responses"][status.as_str()];
    assert!(response.is_object(), "{what} is not documented");
    let schema = &response["content"]["application/json"]["schema"];
    let problems = conformance(doc, schema, body, "$");
    assert!(problems.is_empty(), "{what}: {problems:?}\n{body}");
}

/// What in `value` contradicts `schema` (empty when it conforms). Covers what our documents use:
/// `$ref`, `allOf`, `oneOf`, `type` (or a list of types), `required`, `properties`, `items` and
/// `prefixItems`.
fn conformance(doc: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        if target.is_null() {
            return vec![format!("{at}: dangling {r}")];
        }
        return conformance(doc, target, value, at);
    }
    let mut problems = Vec::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        problems.extend(conformance(doc, part, value, at));
    }
    if let Some(variants) = schema["oneOf"].as_array() {
        if !variants
            .iter()
            .any(|v| conformance(doc, v, value, at).is_empty())
        {
            problems.push(format!("{at}: matches none of oneOf"));
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let type_ok = |t: &str| match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    };
    if !types.is_empty() && !types.iter().any(|t| type_ok(t)) {
        problems.push(format!("{at}: {value} is not {types:?}"));
        return problems;
    }
    if let Some(obj) = value.as_object() {
        for name in schema["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !obj.contains_key(name) {
                problems.push(format!("{at}: lacks required {name}"));
            }
        }
        for (name, sub) in schema["properties"].as_object().into_iter().flatten() {
            if let Some(v) = obj.get(name) {
                problems.extend(conformance(doc, sub, v, &format!("{at}.{name}")));
            }
        }
    }
    if let Some(items) = value.as_array() {
        let prefix = schema["prefixItems"].as_array();
        for (i, v) in items.iter().enumerate() {
            let sub = match prefix {
                Some(p) => p.get(i).unwrap_or(&Value::Null),
                None => &schema["items"],
            };
            if sub.is_object() {
                problems.extend(conformance(doc, sub, v, &format!("{at}[{i}]")));
            }
        }
    }
    problems
}

/// Park and point of each test park.
const A: (&str, &str) = ("park-a", "a-out");
const B: (&str, &str) = ("park-b", "b-out");

fn body_for(body: Body, park: &str) -> Option<Value> {
    match body {
        Body::None => None,
        Body::ParkEntry => Some(if park == "park-a" {
            json!({"id": "park-a", "name": "A 园区", "baseline_intensity": 0.8})
        } else {
            json!({"id": "park-b", "name": "B 园区", "baseline_intensity": 1.2})
        }),
        Body::Ack => Some(json!({"by": "matrix", "comment": "seen"})),
        Body::ReviewMark => Some(json!({
            "pollutant": "cod", "from": "2025-01-01T00:00:00Z", "to": "2025-01-01T06:00:00Z",
            "kind": "maintenance", "reason": "pump overhaul", "by": "matrix"
        })),
        Body::Withdraw => Some(json!({"by": "matrix", "reason": "entered twice"})),
        Body::EnergyReport => {
            Some(json!({"period": "2026-02", "energy_tce": 100.0, "value_added_10k_yuan": 200.0}))
        }
    }
}

struct Api {
    http: String,
    client: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.http));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: answer is not JSON ({e}): {text}"));
        (status, value)
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let res = self
            .client
            .request(method, format!("{}{path}", self.http))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap())
    }
}

/// An error answer has exactly `error` and `message`, and leaks nothing internal.
fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, what: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    let obj = body.as_object().unwrap_or_else(|| panic!("{what}: {body}"));
    assert_eq!(obj.len(), 2, "{what}: {body}");
    assert!(
        obj["error"].is_string() && obj["message"].is_string(),
        "{what}: {body}"
    );
    let text = body.to_string().to_lowercase();
    for leak in ["sqlx", "postgres", "select ", "panicked", "gm_"] {
        assert!(!text.contains(leak), "{what} leaks {leak:?}: {body}");
    }
}

struct Fixture {
    app: TestApp,
    api: Api,
    bureau: String,
    park_a: String,
    revoked: String,
}

async fn fixture() -> Fixture {
    // The alert engine stays off: the alerts below are the only ones.
    let app = TestApp::spawn_with(1883, |s| s.alerts.enabled = false).await;
    let pool = &app.db.pool;
    seed_day(pool).await;
    for (id, park, point) in [(ALERT_A, "park-a", "a-out"), (ALERT_B, "park-b", "b-out")] {
        sqlx::query(
            "INSERT INTO alerts (id, rule, park_id, point_id, state, severity, summary, summary_zh,
                                 description, description_zh, active_since, fired_at)
             VALUES ($1, 'point_offline', $2, $3, 'firing', 'major', 'Point ' || $3 || ' offline',
                     '监测点 ' || $3 || ' 离线', 'silent', '无数据', now(), now())",
        )
        .bind(id)
        .bind(park)
        .bind(point)
        .execute(pool)
        .await
        .unwrap();
    }
    // A review mark on each park (in 2025: no effect on the seeded day's rates).
    for (id, point) in [(MARK_A, "a-out"), (MARK_B, "b-out")] {
        sqlx::query(
            "INSERT INTO review_marks (id, point_id, starts_at, ends_at, kind, reason, created_by)
             OVERRIDING SYSTEM VALUE
             VALUES ($1, $2, '2025-02-01T00:00:00Z', '2025-02-01T03:00:00Z', 'fault', 'probe', 'fixture')",
        )
        .bind(id)
        .bind(point)
        .execute(pool)
        .await
        .unwrap();
    }
    // A request to each park's logger (hj212_requests).
    for point in ["a-out", "b-out"] {
        sqlx::query(
            "INSERT INTO hj212_requests (point_id, mn, cn, begin_time, end_time, origin)
             SELECT id, mn, '2061', '2026-03-10T00:00:00Z', '2026-03-10T03:00:00Z', 'scan'
             FROM monitoring_points WHERE id = $1",
        )
        .bind(point)
        .execute(pool)
        .await
        .unwrap();
    }
    // park-b has data too, so a leak would show.
    store_readings(
        pool,
        "park-b",
        "b-out",
        vec![reading("b-out", "cod", local(12, 0), 424.2, Flag::Normal)],
    )
    .await;
    sqlx::query(
        "INSERT INTO energy_reports (park_id, period, period_kind, period_start, period_end,
                                     energy_tce, value_added_10k_yuan)
         VALUES ('park-b', '2026-01', 'month', '2026-01-01', '2026-02-01', 999, 1000)",
    )
    .execute(pool)
    .await
    .unwrap();
    // What the rollup worker does within rollup.fold_interval_ms: the long-range readings and
    // dashboards read the folded rollups.
    greenmon::store::rollup::fold(pool).await.unwrap();
    let (_, bureau) = tokens::create(pool, "bureau ops", &TokenRole::Bureau)
        .await
        .unwrap();
    let (_, park_a) = tokens::create(pool, "park a", &TokenRole::Park("park-a".into()))
        .await
        .unwrap();
    let (revoked_id, revoked) = tokens::create(pool, "old", &TokenRole::Bureau)
        .await
        .unwrap();
    assert!(tokens::revoke(pool, revoked_id).await.unwrap());
    let api = Api {
        http: app.http.clone(),
        client: reqwest::Client::new(),
    };
    Fixture {
        app,
        api,
        bureau,
        park_a,
        revoked,
    }
}

/// Ids of the fixture's alerts of park-a and park-b.
const ALERT_A: i64 = 1001;
const ALERT_B: i64 = 2002;

/// Ids of the fixture's review marks of park-a and park-b.
const MARK_A: i64 = 3003;
const MARK_B: i64 = 4004;

fn fill(path: &str, (park, point): (&str, &str)) -> String {
    let (alert, mark) = if park == "park-a" {
        (ALERT_A, MARK_A)
    } else {
        (ALERT_B, MARK_B)
    };
    path.replace("{park}", park)
        .replace("{point}", point)
        .replace("{alert}", &alert.to_string())
        .replace("{mark}", &mark.to_string())
}

#[tokio::test]
async fn isolation_matrix() {
    let mut f = fixture().await;
    let rows = matrix();
    let doc = serde_json::to_value(openapi::document()).unwrap();
    // Every operation of the OpenAPI document that takes a token has a row.
    for op in operations()
        .iter()
        .filter(|op| op.access != Some(Access::Public))
    {
        assert!(
            rows.iter()
                .any(|r| doc_path(r) == op.path
                    && r.method.as_str().eq_ignore_ascii_case(&op.method)),
            "no isolation row for {} {}",
            op.method,
            op.path
        );
    }
    for r in &rows {
        let access = access_of(r);
        let ok = |m: &Method| {
            if *m == Method::POST {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            }
        };
        let own = fill(r.path, A);
        let other = fill(r.path, B);
        let what = |who: &str, p: &str| format!("{who} {} {p}", r.method);

        // Bureau: both parks.
        for (path, park) in [(&own, "park-a"), (&other, "park-b")] {
            let (s, b) = f
                .api
                .call(
                    r.method.clone(),
                    path,
                    Some(&f.bureau),
                    body_for(r.body, park),
                )
                .await;
            assert!(s.is_success(), "{}: {s} {b}", what("bureau", path));
            // The live answer has what the document says it has.
            assert_documented(&doc, r, s, &b);
        }

        // The park token on its own park.
        let (s, b) = f
            .api
            .call(
                r.method.clone(),
                &own,
                Some(&f.park_a),
                body_for(r.body, "park-a"),
            )
            .await;
        match access {
            Access::ParkScoped => assert_eq!(s, ok(&r.method), "{}: {b}", what("park", &own)),
            Access::Bureau => assert_error(s, &b, StatusCode::FORBIDDEN, &what("park", &own)),
            Access::Public => unreachable!("public operations take no token"),
        }
        assert_documented(&doc, r, s, &b);
        if r.path.contains("{park}") || r.path.contains("{alert}") {
            // Another park's resource: 404, whatever the operation.
            let (s, b) = f
                .api
                .call(
                    r.method.clone(),
                    &other,
                    Some(&f.park_a),
                    body_for(r.body, "park-b"),
                )
                .await;
            assert_error(s, &b, StatusCode::NOT_FOUND, &what("park", &other));
            assert_documented(&doc, r, s, &b);
        } else if access != Access::Bureau {
            // A list: only park-a's rows.
            let text = b.to_string();
            assert!(text.contains("park-a"), "{}: {text}", what("park", &own));
            assert!(
                !text.contains("park-b") && !text.contains("b-out"),
                "{} leaks park-b: {text}",
                what("park", &own)
            );
        }

        // No token, a revoked one, a malformed header.
        for (token, who) in [(None, "anonymous"), (Some(f.revoked.as_str()), "revoked")] {
            let (s, b) = f
                .api
                .call(r.method.clone(), &own, token, body_for(r.body, "park-a"))
                .await;
            assert_error(s, &b, StatusCode::UNAUTHORIZED, &what(who, &own));
            assert_documented(&doc, r, s, &b);
        }
        let res = f
            .api
            .client
            .request(r.method.clone(), format!("{}{own}", f.api.http))
            .header("authorization", format!("Basic {}", f.bureau))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::UNAUTHORIZED,
            "{}",
            what("basic", &own)
        );
    }
    // Nothing park-a did through the API reached park-b.
    let b_reports: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM energy_reports WHERE park_id = 'park-b' AND source = 'api'",
    )
    .fetch_one(&f.app.db.pool)
    .await
    .unwrap();
    assert_eq!(b_reports, 1, "only the bureau's report for park-b");
    f.app.shutdown().await;
}

#[tokio::test]
async fn endpoints_answer_the_seeded_data() {
    let mut f = fixture().await;
    let t = Some(f.park_a.as_str());
    // OpenAPI needs no token and lists every operation: it is the generated document.
    let (s, doc) = f
        .api
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    for op in operations() {
        assert!(
            doc["paths"][&op.path][&op.method].is_object(),
            "{} {}",
            op.method,
            op.path
        );
    }
    assert_eq!(doc, serde_json::to_value(openapi::document()).unwrap());
    assert_documented(
        &doc,
        &row(Method::GET, "/api/v1/openapi.json", Body::None),
        s,
        &doc,
    );

    // Raw readings for a short range: the seeded day at a-out, COD every 10 minutes.
    let base = "/api/v1/parks/park-a/points/a-out/readings?pollutant=cod";
    let (from, to) = (local(14, 0), local(15, 0));
    let q = format!("{base}&from={}&to={}", from.to_rfc3339(), to.to_rfc3339()).replace('+', "%2B");
    let (s, b) = f.api.call(Method::GET, &q, t, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["resolution"], "raw");
    assert_eq!(b["pollutant"], "w01018");
    let values: Vec<f64> = b["readings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_f64().unwrap())
        .collect();
    assert_eq!(values, vec![80.0; 6]);

    // Paginated: pages of 4 continue at next_from and cover the hour once.
    let mut seen = 0;
    let mut page_from = from;
    loop {
        let q = format!(
            "{base}&from={}&to={}&limit=4",
            page_from.to_rfc3339(),
            to.to_rfc3339()
        )
        .replace('+', "%2B");
        let (s, b) = f.api.call(Method::GET, &q, t, None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        seen += b["readings"].as_array().unwrap().len();
        match b["next_from"].as_str() {
            Some(next) => page_from = next.parse().unwrap(),
            None => break,
        }
    }
    assert_eq!(seen, 6);

    // A 30-day range: hourly rollups, 22 hours of the seeded day.
    let q = format!(
        "{base}&from={}&to={}",
        (local(0, 0) - Duration::days(15)).to_rfc3339(),
        (local(0, 0) + Duration::days(15)).to_rfc3339()
    )
    .replace('+', "%2B");
    let (s, b) = f.api.call(Method::GET, &q, t, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["resolution"], "hour");
    let hours = b["readings"].as_array().unwrap();
    assert_eq!(hours.len(), 22);
    let h14 = hours
        .iter()
        .find(|h| {
            h["hour"]
                .as_str()
                .unwrap()
                .starts_with("2026-03-10T06:00:00")
        })
        .unwrap();
    assert_eq!(
        (h14["avg"].as_f64(), h14["count"].as_i64()),
        (Some(80.0), Some(6))
    );

    // Exceedances: COD 14-17 h and pH at 20 h of the seeded day.
    let (s, b) = f
        .api
        .call(
            Method::GET,
            "/api/v1/parks/park-a/exceedances?from=2026-03-09T00:00:00Z&to=2026-03-12T00:00:00Z",
            t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut ex: Vec<(String, i64)> = b["exceedances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["pollutant"].as_str().unwrap().to_string(),
                e["hours"].as_i64().unwrap(),
            )
        })
        .collect();
    ex.sort();
    assert_eq!(ex, [("w01001".to_string(), 1), ("w01018".to_string(), 3)]);

    // Daily rates of the seeded day (as the compliance tests compute them).
    let (s, b) = f
        .api
        .call(
            Method::GET,
            "/api/v1/parks/park-a/compliance/rates?from=2026-03-10&to=2026-03-10",
            t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            b["rates"]["expected"].as_i64(),
            b["rates"]["received"].as_i64()
        ),
        (Some(48), Some(46))
    );

    // Points with status and limits; compliance now.
    let (_, b) = f
        .api
        .call(Method::GET, "/api/v1/parks/park-a/points", t, None)
        .await;
    let points = b["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    let a_out = points.iter().find(|p| p["point_id"] == "a-out").unwrap();
    assert_eq!(a_out["limits"].as_array().unwrap().len(), 2);
    assert_eq!(a_out["status"], "offline");
    let (_, b) = f
        .api
        .call(Method::GET, "/api/v1/parks/park-a/compliance", t, None)
        .await;
    assert_eq!(
        (b["required_points"].as_i64(), b["monitoring_rate"].as_f64()),
        (Some(2), Some(0.0))
    );

    // The park submits its energy report; a correction replaces it; the status follows.
    for energy in [90.0, 60.0] {
        let (s, b) = f
            .api
            .call(
                Method::POST,
                "/api/v1/parks/park-a/energy-reports",
                t,
                Some(json!({"period": "2026-01", "energy_tce": energy, "value_added_10k_yuan": 100.0})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (_, b) = f
        .api
        .call(Method::GET, "/api/v1/parks/park-a/energy-reports", t, None)
        .await;
    let reports = b["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(
        (
            reports[0]["energy_tce"].as_f64(),
            reports[0]["source"].as_str()
        ),
        (Some(60.0), Some("api"))
    );
    let (_, b) = f
        .api
        .call(
            Method::GET,
            "/api/v1/parks/park-a/energy?year=2026",
            t,
            None,
        )
        .await;
    assert!(
        (b["status"]["intensity"].as_f64().unwrap() - 0.6).abs() < 1e-9,
        "{b}"
    );
    assert!(
        (b["status"]["reduction"].as_f64().unwrap() - 0.25).abs() < 1e-9,
        "{b}"
    );

    // The bureau registers a new park with a point and a limit; a park token sees nothing of it.
    let bureau = Some(f.bureau.as_str());
    let entry = json!({
        "id": "park-c", "name": "C 园区", "baseline_intensity": 1.0,
        "points": [{"id": "c-out", "name": "C outlet", "kind": "sewage_outlet", "mn": "CCC1",
                    "limits": {"cod": {"upper": 60}}}],
    });
    let (s, b) = f
        .api
        .call(
            Method::PUT,
            "/api/v1/parks/park-c",
            bureau,
            Some(entry.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, _) = f
        .api
        .call(Method::PUT, "/api/v1/parks/park-c", bureau, Some(entry))
        .await;
    assert_eq!(s, StatusCode::OK, "re-putting updates");
    let (_, b) = f
        .api
        .call(Method::GET, "/api/v1/parks/park-c/points", bureau, None)
        .await;
    assert_eq!(b["points"][0]["limits"][0]["upper"].as_f64(), Some(60.0));
    let (_, b) = f.api.call(Method::GET, "/api/v1/parks", t, None).await;
    assert_eq!(b["parks"].as_array().unwrap().len(), 1);
    let (_, b) = f.api.call(Method::GET, "/api/v1/parks", bureau, None).await;
    assert_eq!(b["parks"].as_array().unwrap().len(), 3);
    f.app.shutdown().await;
}

#[tokio::test]
async fn malformed_input_gets_clear_errors() {
    let mut f = fixture().await;
    let (t, bureau) = (Some(f.park_a.as_str()), Some(f.bureau.as_str()));
    let readings = "/api/v1/parks/park-a/points/a-out/readings";
    let mut cases: Vec<(Method, String, Option<Value>, StatusCode)> = vec![
        (Method::GET, readings.to_string(), None, StatusCode::BAD_REQUEST),
        (Method::GET, format!("{readings}?pollutant=chlorine"), None, StatusCode::UNPROCESSABLE_ENTITY),
        (Method::GET, format!("{readings}?pollutant=cod&from=yesterday"), None, StatusCode::BAD_REQUEST),
        (Method::GET, format!("{readings}?pollutant=cod&colour=red"), None, StatusCode::BAD_REQUEST),
        (
            Method::GET,
            format!("{readings}?pollutant=cod&from=2026-03-11T00:00:00Z&to=2026-03-10T00:00:00Z"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("{readings}?pollutant=cod&from=2026-03-01T00:00:00Z&to=2026-03-10T00:00:00Z&resolution=raw"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            format!("{readings}?pollutant=cod&from=2024-01-01T00:00:00Z&to=2026-03-10T00:00:00Z"),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (Method::GET, format!("{readings}?pollutant=cod&limit=0&resolution=raw"), None, StatusCode::UNPROCESSABLE_ENTITY),
        (Method::GET, format!("{readings}?pollutant=cod&resolution=weekly"), None, StatusCode::BAD_REQUEST),
        (Method::GET, "/api/v1/parks/park-a/points/b-out/readings?pollutant=cod".into(), None, StatusCode::NOT_FOUND),
        (Method::GET, "/api/v1/parks/park-a/points/nope/readings?pollutant=cod".into(), None, StatusCode::NOT_FOUND),
        (Method::GET, "/api/v1/parks/park-a/compliance/rates?from=10%2F03%2F2026".into(), None, StatusCode::BAD_REQUEST),
        (Method::GET, "/api/v1/parks/park-a/compliance/rates?from=2026-03-11&to=2026-03-10".into(), None, StatusCode::UNPROCESSABLE_ENTITY),
        (Method::GET, "/api/v1/parks/park-a/energy?year=1066".into(), None, StatusCode::BAD_REQUEST),
        (Method::GET, "/api/v1/parks/park-a/energy?year=soon".into(), None, StatusCode::BAD_REQUEST),
        (
            Method::POST,
            "/api/v1/parks/park-a/energy-reports".into(),
            Some(json!({"period": "2026-13", "energy_tce": 1, "value_added_10k_yuan": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/parks/park-a/energy-reports".into(),
            Some(json!({"period": "2026-01", "energy_tce": -1, "value_added_10k_yuan": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            "/api/v1/parks/park-a/energy-reports".into(),
            Some(json!({"period": "2026-01", "energy_tce": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (Method::GET, "/api/v1/parks/nowhere".into(), None, StatusCode::NOT_FOUND),
        (Method::GET, "/api/v1/no/such/thing".into(), None, StatusCode::NOT_FOUND),
    ];
    cases.push((
        Method::DELETE,
        "/api/v1/parks/park-a".into(),
        None,
        StatusCode::METHOD_NOT_ALLOWED,
    ));
    for (method, path, body, expected) in cases {
        let (s, b) = f.api.call(method.clone(), &path, t, body).await;
        assert_error(s, &b, expected, &format!("{method} {path}"));
    }
    let (s, b) = f
        .api
        .raw(
            Method::POST,
            "/api/v1/parks/park-a/energy-reports",
            &f.park_a,
            "{\"period\": ",
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "truncated JSON");

    // Registry changes by the bureau: every problem named, conflicts as 409.
    let registry: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"id": "park-x", "name": "X", "baseline_intensity": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "differs",
        ),
        (
            json!({"id": "park-a", "name": "", "baseline_intensity": -1,
                   "points": [{"id": "a-new", "name": "n", "kind": "chimney"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "kind must be",
        ),
        (
            json!({"id": "park-a", "name": "A", "baseline_intensity": 1, "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "colour",
        ),
        (
            json!({"id": "park-a", "name": "A", "baseline_intensity": 1,
                   "points": [{"id": "a-new", "name": "n", "kind": "other", "mn": "88888880000001"}]}),
            StatusCode::CONFLICT,
            "MN",
        ),
    ];
    for (body, expected, needle) in registry {
        let (s, b) = f
            .api
            .call(
                Method::PUT,
                "/api/v1/parks/park-a",
                bureau,
                Some(body.clone()),
            )
            .await;
        assert_error(s, &b, expected, &format!("PUT {body}"));
        assert!(b["message"].as_str().unwrap().contains(needle), "{b}");
    }
    let (s, b) = f
        .api
        .raw(Method::PUT, "/api/v1/parks/park-a", &f.bureau, "{\"id\": ")
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "PUT truncated JSON");
    // Nothing of the refused changes was stored.
    let points: i64 =
        sqlx::query_scalar("SELECT count(*) FROM monitoring_points WHERE id = 'a-new'")
            .fetch_one(&f.app.db.pool)
            .await
            .unwrap();
    assert_eq!(points, 0);
    f.app.shutdown().await;
}

#[tokio::test]
async fn token_commands_create_list_revoke() {
    let mut app = TestApp::spawn().await;
    let db = app.db.name.clone();
    let secret = run_ok(greenmon(&db).args([
        "token", "create", "--role", "park", "--park", "park-b", "--name", "b office",
    ]))
    .trim()
    .to_string();
    assert!(secret.starts_with("gm_") && secret.len() == 67, "{secret}");
    // Stored hashed: the secret is nowhere in the table.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM api_tokens WHERE token_sha256 = sha256(convert_to($1, 'UTF8'))
           AND length(prefix) < 16 AND name = 'b office'",
    )
    .bind(&secret)
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    assert_eq!(stored, 1);
    let api = Api {
        http: app.http.clone(),
        client: reqwest::Client::new(),
    };
    let (s, b) = api
        .call(Method::GET, "/api/v1/parks", Some(&secret), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["parks"][0]["id"], "park-b");

    let list = run_ok(greenmon(&db).args(["token", "list"]));
    assert!(
        list.contains("b office") && list.contains("park-b"),
        "{list}"
    );
    assert!(!list.contains(&secret), "token list shows the secret");
    let id = list
        .lines()
        .find(|l| l.contains("b office"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    run_ok(greenmon(&db).args(["token", "revoke", &id]));
    let (s, _) = api
        .call(Method::GET, "/api/v1/parks", Some(&secret), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Revoking twice, an unknown park, a park token without a park: clear errors.
    for args in [
        vec!["token", "revoke", id.as_str()],
        vec![
            "token", "create", "--role", "park", "--park", "nowhere", "--name", "x",
        ],
        vec!["token", "create", "--role", "park", "--name", "x"],
    ] {
        let out = greenmon(&db).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
    app.shutdown().await;
}

#[tokio::test]
async fn alerts_are_listed_shown_and_acknowledged() {
    let mut f = fixture().await;
    let api = &f.api;
    // Filters: the bureau sees both parks' firing alerts; a park token its own only.
    let (s, b) = api
        .call(
            Method::GET,
            "/api/v1/alerts?state=firing&rule=point_offline",
            Some(&f.bureau),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let parks: Vec<&str> = b["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["park_id"].as_str().unwrap())
        .collect();
    assert_eq!(parks, ["park-b", "park-a"], "newest first");
    let (_, b) = api
        .call(
            Method::GET,
            "/api/v1/alerts?park=park-b",
            Some(&f.bureau),
            None,
        )
        .await;
    assert_eq!(b["alerts"].as_array().unwrap().len(), 1);
    let (_, b) = api
        .call(
            Method::GET,
            "/api/v1/alerts?state=resolved",
            Some(&f.bureau),
            None,
        )
        .await;
    assert!(b["alerts"].as_array().unwrap().is_empty());
    let (s, b) = api
        .call(
            Method::GET,
            "/api/v1/alerts?park=park-b",
            Some(&f.park_a),
            None,
        )
        .await;
    assert_error(
        s,
        &b,
        StatusCode::NOT_FOUND,
        "park token asking for park-b's alerts",
    );

    // Acknowledged by the bureau, once; the history shows it.
    let ack = format!("/api/v1/alerts/{ALERT_A}/ack");
    let body = json!({"by": "duty officer", "comment": "crew sent"});
    let (s, b) = api
        .call(Method::POST, &ack, Some(&f.bureau), Some(body.clone()))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["alert"]["acked_by"], "duty officer");
    let (s, b) = api
        .call(Method::POST, &ack, Some(&f.bureau), Some(body))
        .await;
    assert_error(s, &b, StatusCode::CONFLICT, "second acknowledgement");
    assert!(b["message"].as_str().unwrap().contains("duty officer"));
    let (s, b) = api
        .call(
            Method::GET,
            &format!("/api/v1/alerts/{ALERT_A}"),
            Some(&f.park_a),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let kinds: Vec<&str> = b["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["acknowledged"]);
    assert_eq!(b["events"][0]["actor"], "duty officer");

    // Malformed requests.
    for (method, path, body, expected) in [
        (
            Method::GET,
            "/api/v1/alerts?state=burning".to_string(),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/api/v1/alerts?rule=nonsense".to_string(),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/api/v1/alerts?limit=0".to_string(),
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::GET,
            "/api/v1/alerts?colour=red".to_string(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/alerts/abc".to_string(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            "/api/v1/alerts/424242".to_string(),
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            format!("/api/v1/alerts/{ALERT_B}/ack"),
            Some(json!({"comment": "no by"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            Method::POST,
            format!("/api/v1/alerts/{ALERT_B}/ack"),
            Some(json!({"by": "  "})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let what = format!("{method} {path}");
        let (s, b) = api.call(method, &path, Some(&f.bureau), body).await;
        assert_error(s, &b, expected, &what);
    }
    let (s, b) = api
        .raw(
            Method::POST,
            &format!("/api/v1/alerts/{ALERT_B}/ack"),
            &f.bureau,
            "{not json",
        )
        .await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "ack with broken JSON");
    f.app.shutdown().await;
}

//! The monthly report a bureau reads, on a month with hand-computed figures: points commissioned
//! and retired mid-month (set through the API), a point that owes nothing, a park with no
//! required point, a rate that rounds half up (1.25% → 1.3%). The same rates on plain PostgreSQL
//! and on TimescaleDB; the `greenmon report` table and JSON on PostgreSQL.
//!
//! March 2018 in Asia/Shanghai, every point reading COD once an hour at hh:00.
//!
//! park-m (baseline 1.0 tce / 10^4 yuan in 2015, −20% by 2020), four required points:
//!
//! | point     | service                        | owed hours in March          | received | valid |
//! | --------- | ------------------------------ | ---------------------------- | -------- | ----- |
//! | m-new     | from 2018-03-16 (a date)       | 16 days × 24 = 384           | 384      | 383   |
//! | m-retired | 2018-01-01 to 2018-03-11       | 10 days × 24 = 240           | 240      | 240   |
//! | m-late    | from 2018-03-28T16:00+08:00    | 8 + 3 days × 24 = 80         | 2        | 1     |
//! | m-future  | from 2018-04-10                | 0                            | 0        | 0     |
//!
//! - m-new reads every hour of 03-15 to 03-31 (03-15 is before commissioning: not counted); the
//!   03-20 10:00 reading is flagged M (received, not valid): 383 / 384 = 99.7396% → 99.7%.
//!   COD 60, 80, 70 mg/L on 03-25 14:00–16:00 (limit 50): one episode, 3 hours, peak 80.
//! - m-retired reads every hour of 03-01 to 03-12; 03-11 and 03-12 are after retirement.
//! - m-late reads at 03-28 15:00 (before commissioning), 17:00 (N) and 03-29 09:00 (M):
//!   transmission 2 / 80 = 2.5%, validity 1 / 2 = 50.0%, effective 1 / 80 = 1.25% → 1.3% (half
//!   up; half-even would show 1.2%).
//! - m-future owes nothing: not below the threshold, not counted in the monitoring rate.
//!
//! Park: expected 384 + 240 + 80 = 704, received 384 + 240 + 2 = 626, valid 383 + 240 + 1 = 624.
//! Transmission 626 / 704 = 88.92% → 88.9%; validity 624 / 626 = 99.68% → 99.7%; effective
//! 624 / 704 = 88.64% → 88.6%. At the 90% threshold m-late falls short: the monitoring rate is
//! (3 owing − 1 short) / 3 owing = 66.67% → 66.7%, below target.
//! Energy: March 2018 80 tce for 100 (10^4 yuan) at price index 1 → 0.8, a 20.0% reduction; the
//! path requires 1 − 0.8^(3/5) = 12.53% → 12.5% by 2018: on the path.
//!
//! park-none has one optional point only: "no monitoring registered", not passed.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;
use greenmon::compliance::{report, service};
use greenmon::domain::{EnergyReport, Flag, ParkId};
use greenmon::store::tokens::{self, TokenRole};
use greenmon::store::{self, BatchItem, Content};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::compliance::{reading, store_readings};
use crate::helpers::{greenmon, run_ok, BackendApp, TestBackend};

pub(crate) fn bj(d: u32, h: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(2018, 3, d, h, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn march() -> NaiveDate {
    NaiveDate::from_ymd_opt(2018, 3, 1).unwrap()
}

/// Well after March: every hour of it has ended.
fn after() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2018, 5, 1, 0, 0, 0).unwrap()
}

pub(crate) struct Client {
    pub(crate) http: String,
    pub(crate) token: String,
    pub(crate) client: reqwest::Client,
}

impl Client {
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.http))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap())
    }
}

/// Registers park-m and park-none through the API (bureau), seeds March's readings and energy.
pub(crate) async fn seed(pool: &PgPool, api: &Client) {
    let park_m = json!({
        "id": "park-m", "name": "M 园区", "baseline_intensity": 1.0,
        "points": [
            {"id": "m-new", "name": "new", "kind": "sewage_outlet",
             "monitored_since": "2018-03-16", "limits": {"cod": {"upper": 50}}},
            {"id": "m-retired", "name": "retired", "kind": "sewage_outlet",
             "monitored_since": "2018-01-01", "retired_at": "2018-03-11"},
            {"id": "m-late", "name": "late", "kind": "sewage_outlet",
             "monitored_since": "2018-03-28T16:00:00+08:00"},
            {"id": "m-future", "name": "future", "kind": "sewage_outlet",
             "monitored_since": "2018-04-10"},
        ]
    });
    let park_none = json!({
        "id": "park-none", "name": "N 园区", "baseline_intensity": 1.0,
        "points": [{"id": "n-opt", "name": "optional", "kind": "other", "required": false,
                    "monitored_since": "2018-01-01"}]
    });
    for (id, body) in [("park-m", park_m), ("park-none", park_none)] {
        let (s, b) = api
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/parks/{id}"),
                Some(body),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    // A retirement not after the commissioning is refused, naming park, point and field.
    let (s, b) = api
        .call(
            reqwest::Method::PUT,
            "/api/v1/parks/park-none",
            Some(json!({
                "id": "park-none", "name": "N 园区", "baseline_intensity": 1.0,
                "points": [{"id": "n-opt", "name": "optional", "kind": "other",
                            "monitored_since": "2018-03-01", "retired_at": "2018-02-01"}]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let msg = b["message"].as_str().unwrap();
    assert!(
        msg.contains(
            "park \"park-none\", point \"n-opt\": retired_at must be after monitored_since"
        ),
        "{msg}"
    );

    let hourly = |point: &str, days: std::ops::RangeInclusive<u32>| {
        let point = point.to_string();
        days.flat_map(move |d| (0..24).map(move |h| (d, h)))
            .map(move |(d, h)| {
                let flag = if point == "m-new" && (d, h) == (20, 10) {
                    Flag::Maintenance
                } else {
                    Flag::Normal
                };
                let cod = match (point.as_str(), d, h) {
                    ("m-new", 25, 14) => 60.0,
                    ("m-new", 25, 15) => 80.0,
                    ("m-new", 25, 16) => 70.0,
                    _ => 30.0,
                };
                reading(&point, "cod", bj(d, h), cod, flag)
            })
            .collect::<Vec<_>>()
    };
    store_readings(pool, "park-m", "m-new", hourly("m-new", 15..=31)).await;
    store_readings(pool, "park-m", "m-retired", hourly("m-retired", 1..=12)).await;
    let late = vec![
        reading("m-late", "cod", bj(28, 15), 30.0, Flag::Normal),
        reading("m-late", "cod", bj(28, 17), 30.0, Flag::Normal),
        reading("m-late", "cod", bj(29, 9), 30.0, Flag::Maintenance),
    ];
    store_readings(pool, "park-m", "m-late", late).await;
    store_readings(pool, "park-none", "n-opt", hourly("n-opt", 1..=1)).await;
    store_energy(pool, "park-m", "2018-03", 80.0, 100.0).await;
}

/// Stores an energy report of `park` for `period` (price index 1), as ingest would.
pub(crate) async fn store_energy(pool: &PgPool, park: &str, period: &str, tce: f64, va: f64) {
    let energy = BatchItem {
        source: "mqtt",
        sender: None,
        topic: format!("t/parks/{park}/energy"),
        payload: period.to_string().into(),
        content: Content::Energy(EnergyReport {
            park: ParkId::parse(park).unwrap(),
            period: period.parse().unwrap(),
            energy_tce: tce,
            value_added_10k_yuan: va,
            price_index: 1.0,
        }),
    };
    store::write_batch(pool, &[energy]).await.unwrap();
}

fn counts(v: &Value) -> (u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap();
    (n("expected"), n("received"), n("valid"))
}

/// The scenario's rates, from the engine, the API and the report builder.
async fn month_with_commissioning(backend: TestBackend) {
    let app = BackendApp::spawn(backend).await;
    let pool = app.app.db.pool.clone();
    let (_, token) = tokens::create(&pool, "bureau", &TokenRole::Bureau)
        .await
        .unwrap();
    let api = Client {
        http: app.app.http.clone(),
        token,
        client: reqwest::Client::new(),
    };
    seed(&pool, &api).await;

    // The engine.
    let last = NaiveDate::from_ymd_opt(2018, 3, 31).unwrap();
    let rates = service::rates(&pool, Shanghai, Some("park-m"), march(), last, after())
        .await
        .unwrap();
    let point = |id: &str| {
        let r = rates[0]
            .points
            .iter()
            .find(|p| p.point_id == id)
            .unwrap()
            .rates;
        (r.expected, r.received, r.valid)
    };
    assert_eq!(point("m-new"), (384, 384, 383));
    assert_eq!(point("m-retired"), (240, 240, 240));
    assert_eq!(point("m-late"), (80, 2, 1));
    assert_eq!(point("m-future"), (0, 0, 0));
    let park = rates[0].rates;
    assert_eq!((park.expected, park.received, park.valid), (704, 626, 624));

    // The API: the same counts, and the commissioning of each point.
    let (s, b) = api
        .call(
            reqwest::Method::GET,
            "/api/v1/parks/park-m/compliance/rates?from=2018-03-01&to=2018-03-31",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(counts(&b["rates"]), (704, 626, 624));
    assert_eq!(b["effective"].as_f64(), Some(624.0 / 704.0));
    let p = |id: &str| {
        b["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["point_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(counts(&p("m-late")["rates"]), (80, 2, 1));
    assert_eq!(p("m-new")["monitored_since"], "2018-03-15T16:00:00Z");
    assert_eq!(p("m-retired")["retired_at"], "2018-03-10T16:00:00Z");
    assert_eq!(p("m-future")["rates"]["expected"], 0);
    // One day's view: 03-16 is m-new's first owed day, 03-11 m-retired's first free one.
    let (_, d) = api
        .call(
            reqwest::Method::GET,
            "/api/v1/parks/park-m/compliance/rates?from=2018-03-11&to=2018-03-11",
            None,
        )
        .await;
    assert_eq!(counts(&d["rates"]), (0, 0, 0), "{d}");

    // The report builder: verdicts, monitoring rate, point flags, exceedances, energy.
    let reports = report::monthly(&pool, Shanghai, None, march(), 0.9, after())
        .await
        .unwrap();
    let m = reports.iter().find(|r| r.park_id == "park-m").unwrap();
    assert_eq!(m.verdict, report::MonitoringVerdict::BelowTarget);
    assert_eq!(m.monitoring_rate, Some(2.0 / 3.0));
    assert_eq!(
        (
            m.required_points,
            m.required_points_owing,
            m.required_points_short
        ),
        (4, 3, 1)
    );
    let below: Vec<&str> = m
        .points_below_threshold
        .iter()
        .map(|p| p.point_id.as_str())
        .collect();
    assert_eq!(
        below,
        ["m-late"],
        "m-future owed nothing, so it is not flagged"
    );
    let new = m.points.iter().find(|p| p.point_id == "m-new").unwrap();
    let ex = &new.exceedances;
    assert_eq!(ex.len(), 1);
    assert_eq!(
        (
            ex[0].pollutant.as_str(),
            ex[0].hours,
            ex[0].peak,
            ex[0].limit,
            ex[0].unit
        ),
        ("w01018", 3, 80.0, 50.0, Some("mg/L"))
    );
    let energy = m.energy.unwrap();
    assert!((energy.reduction - 0.2).abs() < 1e-12 && energy.on_track);
    let none = reports.iter().find(|r| r.park_id == "park-none").unwrap();
    assert_eq!(
        none.verdict,
        report::MonitoringVerdict::NoMonitoringRegistered
    );
    assert_eq!((none.monitoring_rate, none.effective), (None, None));
}

#[tokio::test]
async fn month_with_commissioning_on_postgres() {
    month_with_commissioning(TestBackend::Postgres).await;
}

#[tokio::test]
async fn month_with_commissioning_on_timescaledb() {
    month_with_commissioning(TestBackend::TimescaleDb).await;
}

/// `greenmon report`: the table (rounded, units in the headers) and the JSON (exact).
#[tokio::test]
async fn report_cli_shows_the_rounded_month() {
    let app = BackendApp::spawn(TestBackend::Postgres).await;
    let pool = app.app.db.pool.clone();
    let (_, token) = tokens::create(&pool, "bureau", &TokenRole::Bureau)
        .await
        .unwrap();
    let api = Client {
        http: app.app.http.clone(),
        token,
        client: reqwest::Client::new(),
    };
    seed(&pool, &api).await;
    let run = |format: &str| {
        run_ok(
            greenmon(&app.app.db.name)
                .args(["report", "--all", "--month", "2018-03", "--format", format]),
        )
    };

    let table = run("table");
    let mut lines = table.lines();
    assert!(
        lines.next().unwrap().starts_with(
            "hours counted up to 2018-04-01 00:00:00 (Asia/Shanghai); data received up to 20"
        ),
        "{table}"
    );
    let header = lines.next().unwrap();
    for unit in [
        "monitoring rate (%)",
        "effective (%)",
        "exceedance hours (h)",
        "intensity (tce/10^4 yuan)",
    ] {
        assert!(header.contains(unit), "{header}");
    }
    let row = |first: &str, second: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|t| t.len() > 1 && t[0] == first && t[1] == second)
            .unwrap_or_else(|| panic!("no row {first} {second}:\n{table}"))
    };
    // park, month, verdict (2 words), monitoring rate, required, short, transmission, validity,
    // effective, exceedance hours, intensity, reduction since 2015, path requires by 2018, target
    // cut by 2020, on path, below.
    assert_eq!(
        row("park-m", "2018-03"),
        [
            "park-m", "2018-03", "below", "target", "66.7", "4", "1", "88.9", "99.7", "88.6", "3",
            "0.8000", "20.0", "12.5", "20.0", "yes", "m-late"
        ]
    );
    let none = row("park-none", "2018-03");
    assert_eq!(none[2..5], ["no", "monitoring", "registered"]);
    assert_eq!(none[5], "-", "no monitoring rate: {none:?}");
    // park, point, required, owed hours, transmission, validity, effective, below threshold.
    assert_eq!(
        row("park-m", "m-late"),
        ["park-m", "m-late", "yes", "80", "2.5", "50.0", "1.3", "yes"]
    );
    assert_eq!(
        row("park-m", "m-new"),
        ["park-m", "m-new", "yes", "384", "100.0", "99.7", "99.7", "no"]
    );
    assert_eq!(
        row("park-m", "m-future"),
        ["park-m", "m-future", "yes", "0", "-", "-", "-", "no"]
    );
    assert_eq!(
        row("park-m", "m-retired")[3..7],
        ["240", "100.0", "100.0", "100.0"]
    );
    // Exceedances: park, point, pollutant, hours, peak, limit, bound, unit.
    let ex = table
        .lines()
        .find(|l| l.contains("w01018"))
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>();
    assert_eq!(
        ex,
        ["park-m", "m-new", "w01018", "3", "80.00", "50", "upper", "mg/L"]
    );

    let v: Value = serde_json::from_str(&run("json")).unwrap();
    let m = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["park_id"] == "park-m")
        .unwrap();
    assert_eq!(m["verdict"], "below_target");
    assert_eq!(m["monitoring_rate"].as_f64(), Some(2.0 / 3.0));
    assert_eq!(m["transmission"].as_f64(), Some(626.0 / 704.0));
    assert_eq!(m["validity"].as_f64(), Some(624.0 / 626.0));
    let late = m["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["point_id"] == "m-late")
        .unwrap();
    assert_eq!(late["effective"].as_f64(), Some(0.0125), "exact, not 1.3");
    assert_eq!(late["below_threshold"], true);
    let none = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["park_id"] == "park-none")
        .unwrap();
    assert_eq!(none["verdict"], "no_monitoring_registered");
    assert!(none["monitoring_rate"].is_null());

    let csv = run("csv");
    let line = csv.lines().find(|l| l.starts_with("park-m,")).unwrap();
    assert!(
        line.starts_with("park-m,2018-03,4,below_target,0.6666666666666666,3,1,704,626,624,"),
        "{line}"
    );
}

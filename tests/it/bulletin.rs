//! The monthly bulletin and the annual assessment on the hand-computed month of
//! `compliance_report` (March 2018, park-m and park-none), with what the bulletin adds:
//!
//! - a 2017 year report for park-m: 90 tce for 100 (10^4 yuan) → 0.9000, a 10.0% reduction
//!   against the path's 1 − 0.8^(2/5) = 8.54% → 8.5%: on the path. With March 2018 (0.8000),
//!   the trend 0.8 / 0.9 a year projects 0.8 × (8/9)² = 0.6321 in 2020, a 36.8% reduction;
//! - February 2018: only m-retired (commissioned 2018-01-01) owed hours, and it sent nothing:
//!   0.0%. March's 66.7% is ↑ 66.7 points since last month; January is 0.0% too, December
//!   2017 owed nothing (—);
//! - an alert fired 2018-03-20 10:00 (Beijing), acknowledged 10:30 by 张工: took 0:30; one
//!   fired in February is not the month's;
//! - a maintenance mark on m-retired (after its retirement: listed, no effect on the counts);
//! - a correction of m-new's COD at 2018-03-25 15:00 from 80 to 90 mg/L: the exceedance's peak
//!   becomes 90.00; asked "as of" before it, the peak is 80.00 and no correction is listed.
//!
//! The test app's registry also holds park-a and park-b (no data in 2018): four parks in all.
//!
//! The HTML's figures (`data-figure`) are checked against these numbers, and against the JSON's
//! (rounded as `compliance::rounding` rounds). Chromium prints the PDF; pdftotext reads it back.

use std::path::Path;

use chrono::{DateTime, Utc};
use greenmon::compliance::rounding::percent;
use greenmon::domain::Flag;
use greenmon::store::tokens::{self, TokenRole};
use reqwest::StatusCode;
use serde_json::Value;

use crate::compliance::{reading, store_readings};
use crate::compliance_report::{bj, seed, store_energy, Client};
use crate::helpers::{greenmon, repo_path, run_ok, TestApp};

struct Scenario {
    app: TestApp,
    bureau: String,
    park_m: String,
    /// A time after the seeding and before the correction.
    before_correction: DateTime<Utc>,
}

async fn scenario() -> Scenario {
    // The alert engine stays off: the alerts below are the only ones.
    let app = TestApp::spawn_with(1883, |s| s.alerts.enabled = false).await;
    let pool = app.db.pool.clone();
    let (_, bureau) = tokens::create(&pool, "bureau", &TokenRole::Bureau)
        .await
        .unwrap();
    let api = Client {
        http: app.http.clone(),
        token: bureau.clone(),
        client: reqwest::Client::new(),
    };
    seed(&pool, &api).await;
    let (_, park_m) = tokens::create(&pool, "park m", &TokenRole::Park("park-m".into()))
        .await
        .unwrap();
    store_energy(&pool, "park-m", "2017", 90.0, 100.0).await;
    sqlx::query(
        "INSERT INTO alerts (rule, park_id, point_id, state, severity, summary, summary_zh,
                             description, description_zh, active_since, fired_at, acked_by,
                             acked_at, resolved_at)
         VALUES ('discharge_exceedance', 'park-m', 'm-new', 'resolved', 'major',
                 'COD above its limit at m-new', '监测点 m-new 化学需氧量超标', 'd', 'd',
                 $1, $1, '张工', $2, $3),
                ('point_offline', 'park-m', 'm-retired', 'resolved', 'major',
                 'February alert', '二月告警', 'd', 'd', $4, $4, NULL, NULL, $4)",
    )
    .bind(bj(20, 10))
    .bind(bj(20, 10) + chrono::Duration::minutes(30))
    .bind(bj(20, 12))
    .bind(bj(1, 0) - chrono::Duration::days(10))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO review_marks (point_id, starts_at, ends_at, kind, reason, created_by)
         VALUES ('m-retired', $1, $2, 'maintenance', '停运后检修', '李工')",
    )
    .bind(bj(12, 0))
    .bind(bj(12, 6))
    .execute(&pool)
    .await
    .unwrap();
    let before_correction = Utc::now();
    store_readings(
        &pool,
        "park-m",
        "m-new",
        vec![reading("m-new", "cod", bj(25, 15), 90.0, Flag::Normal)],
    )
    .await;
    Scenario {
        app,
        bureau,
        park_m,
        before_correction,
    }
}

/// A GET with a token and an optional `Accept`; the status, content type and body.
async fn get(
    app: &TestApp,
    path: &str,
    token: &str,
    accept: Option<&str>,
) -> (StatusCode, String, String) {
    let mut req = reqwest::Client::new()
        .get(format!("{}{path}", app.http))
        .bearer_auth(token);
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, res.text().await.unwrap())
}

/// The HTML of a park's section (or the whole document for `None`).
fn section<'a>(html: &'a str, park: Option<&str>) -> &'a str {
    let Some(park) = park else { return html };
    let start = html
        .find(&format!("<section class=\"park\" data-park=\"{park}\""))
        .unwrap_or_else(|| panic!("no page of {park}"));
    let rest = &html[start..];
    let end = rest[1..].find("<section").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// The text of the element carrying `data-figure="name"` in a park's section.
fn figure(html: &str, park: Option<&str>, name: &str) -> String {
    let s = section(html, park);
    let key = format!("data-figure=\"{name}\">");
    let at = s
        .find(&key)
        .unwrap_or_else(|| panic!("no figure {name} on {park:?}'s page"));
    let rest = &s[at + key.len()..];
    rest[..rest.find('<').unwrap()].to_string()
}

/// A fraction of the JSON as the HTML shows it.
fn shown(v: &Value) -> String {
    match v.as_f64() {
        Some(x) => format!("{}%", percent(Some(x))),
        None => "—".into(),
    }
}

#[tokio::test]
async fn bulletin_shows_the_hand_computed_figures_in_html_and_json() {
    let mut s = scenario().await;
    let app = &s.app;
    let (status, kind, html) = get(
        app,
        "/api/v1/bulletins/2018-03",
        &s.bureau,
        Some("text/html"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("lang=\"zh-CN\""));
    assert!(html.contains("园区绿色发展监测月报 2018年3月"), "zh title");
    // Self-contained: nothing is fetched.
    for fetch in ["<script", "<link", "src=\"http", "url(http", "@import"] {
        assert!(!html.contains(fetch), "the bulletin fetches: {fetch}");
    }
    let m = Some("park-m");
    let golden = [
        ("monitoring_rate", "66.7%"),
        ("change.monitoring_rate", "↑ 66.7"),
        ("required_points", "3 / 1"),
        ("transmission", "88.9%"),
        ("validity", "99.7%"),
        ("effective", "88.6%"),
        ("exceedance_hours", "3"),
        ("change.exceedance_hours", "↑ 3"),
        ("energy.intensity", "0.8000"),
        ("energy.reduction", "20.0%"),
        ("energy.on_track", "✓ 是"),
        ("points.m-new.expected", "384"),
        ("points.m-new.effective", "99.7%"),
        ("points.m-late.transmission", "2.5%"),
        ("points.m-late.validity", "50.0%"),
        ("points.m-late.effective", "1.3%"),
        ("points.m-future.effective", "—"),
        ("exceedances.m-new.w01018.hours", "3"),
        ("exceedances.m-new.w01018.peak", "90.00"),
        ("exceedances.m-new.w01018.limit", "≤ 50"),
        ("history.2018-03.monitoring_rate", "66.7%"),
        ("history.2018-02.monitoring_rate", "0.0%"),
        ("history.2018-01.monitoring_rate", "0.0%"),
        ("history.2017-12.monitoring_rate", "—"),
        ("energy.2015.intensity", "1.0000"),
        ("energy.2017.intensity", "0.9000"),
        ("energy.2017.reduction", "10.0%"),
        ("energy.2018.intensity", "0.8000"),
        ("energy.2018.reduction", "20.0%"),
        ("energy.projected.intensity", "0.6321"),
        ("energy.projected.reduction", "36.8%"),
        ("corrections", "1"),
        ("evaluated.up_to", "2018-04-01 00:00"),
    ];
    for (name, want) in golden {
        assert_eq!(figure(&html, m, name), want, "park-m {name}");
    }
    assert_eq!(figure(&html, Some("park-none"), "monitoring_rate"), "—");
    assert!(section(&html, Some("park-none")).contains("未登记监测点"));
    assert_eq!(figure(&html, None, "summary.parks_at_target"), "0 / 4");
    assert_eq!(figure(&html, None, "summary.parks_on_energy_path"), "1 / 4");
    assert_eq!(figure(&html, None, "ranking_monitoring.park-m"), "66.7%");
    assert_eq!(figure(&html, None, "ranking_energy.park-m"), "20.0%");
    // The path's requirement in 2017 and 2018, with units and words in Chinese.
    let page = section(&html, m);
    for text in [
        "<td class=\"num\">8.5%</td>",
        "路径要求 12.5%",
        "吨标准煤/万元",
        "化学需氧量 (w01018)",
        "<td>mg/L</td>",
        "监测点 m-new 化学需氧量超标",
        "<td class=\"time\">2018-03-20 10:00</td>",
        "<td class=\"time\">2018-03-20 10:30</td>",
        "<td>张工</td>",
        "<td class=\"num\">0:30</td>",
        "停运后检修",
        "维护",
        "<td class=\"num\">80</td>",
        "<svg",
    ] {
        assert!(page.contains(text), "park-m's page lacks {text:?}");
    }
    assert!(
        !page.contains("二月告警"),
        "February's alert is not March's"
    );

    // The JSON: the same figures, exact.
    let (status, kind, json) = get(app, "/api/v1/bulletins/2018-03", &s.bureau, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(kind.starts_with("application/json"), "{kind}");
    let b: Value = serde_json::from_str(&json).unwrap();
    let pm = b["parks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["park_id"] == "park-m")
        .unwrap();
    let r = &pm["report"];
    assert_eq!(r["monitoring_rate"].as_f64(), Some(2.0 / 3.0));
    let point = |id: &str| {
        r["points"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["point_id"] == id)
            .unwrap()
            .clone()
    };
    let same: Vec<(&str, Value)> = vec![
        ("monitoring_rate", r["monitoring_rate"].clone()),
        ("transmission", r["transmission"].clone()),
        ("validity", r["validity"].clone()),
        ("effective", r["effective"].clone()),
        ("energy.reduction", r["energy"]["reduction"].clone()),
        (
            "points.m-late.effective",
            point("m-late")["effective"].clone(),
        ),
        (
            "points.m-new.effective",
            point("m-new")["effective"].clone(),
        ),
        (
            "history.2018-02.monitoring_rate",
            pm["history"][10]["monitoring_rate"].clone(),
        ),
        (
            "history.2017-12.monitoring_rate",
            pm["history"][8]["monitoring_rate"].clone(),
        ),
    ];
    for (name, v) in same {
        assert_eq!(figure(&html, m, name), shown(&v), "{name}: JSON {v}");
    }
    assert_eq!(
        point("m-new")["exceedances"][0]["peak"].as_f64(),
        Some(90.0)
    );
    assert_eq!(r["exceedance_hours"], 3);
    assert_eq!(pm["corrections"][0]["value"].as_f64(), Some(80.0));
    assert_eq!(pm["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(pm["review_marks"].as_array().unwrap().len(), 1);
    let proj = pm["energy_path"]["projected"]["intensity"]
        .as_f64()
        .unwrap();
    assert!((proj - 0.8 * 64.0 / 81.0).abs() < 1e-12, "{proj}");
    assert_eq!(b["summary"]["parks_on_energy_path"][0], "park-m");
    assert_eq!(b["ranking_monitoring"][0]["park_id"], "park-m");
    assert_eq!(b["ranking_monitoring"][0]["rank"], 1);
    assert!(
        b["ranking_monitoring"][1]["rank"].is_null(),
        "park-none has no rate"
    );

    // As of before the correction: the peak as it was, no correction, the as-of time stated.
    let as_of = s
        .before_correction
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let path = format!(
        "/api/v1/bulletins/2018-03?format=html&as_of={}",
        as_of.replace('+', "%2B")
    );
    let (status, _, then) = get(app, &path, &s.bureau, None).await;
    assert_eq!(status, StatusCode::OK, "{then}");
    assert_eq!(figure(&then, m, "exceedances.m-new.w01018.peak"), "80.00");
    assert_eq!(figure(&then, m, "corrections"), "0");
    assert_eq!(figure(&then, m, "monitoring_rate"), "66.7%");
    assert!(then.contains("data-figure=\"evaluated.as_of\""));

    // English, on request.
    let (_, _, en) = get(
        app,
        "/api/v1/bulletins/2018-03?format=html&lang=en",
        &s.bureau,
        None,
    )
    .await;
    assert!(
        en.contains("lang=\"en\"") && en.contains("Park green development bulletin March 2018")
    );
    assert_eq!(figure(&en, m, "energy.on_track"), "✓ yes");
    assert!(en.contains("M 园区"), "no English name: the Chinese one");

    // A park: its own page only; the whole bulletin is the bureau's.
    let (status, _, body) = get(app, "/api/v1/bulletins/2018-03", &s.park_m, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _, own) = get(
        app,
        "/api/v1/parks/park-m/bulletins/2018-03",
        &s.park_m,
        Some("text/html"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(figure(&own, m, "monitoring_rate"), "66.7%");
    for leak in ["park-none", "N 园区", "ranking_"] {
        assert!(!own.contains(leak), "a park's page shows {leak:?}");
    }
    let (status, _, body) = get(
        app,
        "/api/v1/parks/park-none/bulletins/2018-03",
        &s.park_m,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Bad parameters: 4xx naming the parameter.
    for (query, status, name) in [
        ("2018-13", StatusCode::BAD_REQUEST, "`month`"),
        ("2018", StatusCode::BAD_REQUEST, "`month`"),
        ("1999-12", StatusCode::BAD_REQUEST, "`month`"),
        ("2018-03?format=xml", StatusCode::BAD_REQUEST, "`format`"),
        ("2018-03?lang=fr", StatusCode::BAD_REQUEST, "`lang`"),
        (
            "2018-03?threshold=2",
            StatusCode::UNPROCESSABLE_ENTITY,
            "`threshold`",
        ),
        (
            "2018-03?as_of=2999-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "`as_of`",
        ),
    ] {
        let (got, _, body) = get(app, &format!("/api/v1/bulletins/{query}"), &s.bureau, None).await;
        assert_eq!(got, status, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["message"].as_str().unwrap().starts_with(name),
            "{query}: {body}"
        );
    }
    s.app.shutdown().await;
}

/// Runs a command, returning its stdout; panics with stderr on failure.
fn tool(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is installed (scripts/test installs it): {e}"));
    assert!(
        out.status.success(),
        "{program}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Pages of a PDF, by pdfinfo.
fn pages(pdf: &Path) -> u32 {
    tool("pdfinfo", &[pdf.to_str().unwrap()])
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo names the pages")
}

#[tokio::test]
async fn bulletin_cli_writes_html_and_a_pdf_chromium_renders() {
    let mut s = scenario().await;
    let db = s.app.db.name.clone();
    let dir = repo_path("target/bulletin");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.to_str().unwrap();
    let written = run_ok(greenmon(&db).args(["bulletin", "--month", "2018-03", "--out", out]));
    let html = dir.join("bulletin-2018-03.zh.html");
    let pdf = dir.join("bulletin-2018-03.zh.pdf");
    assert!(written.contains("bulletin-2018-03.zh.pdf"), "{written}");
    assert!(dir.join("bulletin-2018-03.json").exists());
    // The cover with the summary and rankings, then a page or more per park.
    let n = pages(&pdf);
    assert!((3..=12).contains(&n), "{n} pages");
    let text = tool("pdftotext", &["-layout", pdf.to_str().unwrap(), "-"]);
    for needle in [
        "园区绿色发展监测月报 2018年3月",
        "本月概况",
        "M 园区",
        "66.7%",
        "88.6%",
        "化学需氧量",
        "吨标准煤/万元",
        "2018-03-20 10:30",
    ] {
        assert!(text.contains(needle), "the PDF lacks {needle:?}:\n{text}");
    }
    // A screenshot to look at: Chinese glyphs, not boxes.
    let shot = dir.join("bulletin.png");
    let _ = std::fs::remove_file(&shot);
    crate::portal::chromium(&format!("file://{}", html.display()), Some(&shot)).await;
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);

    // The annual assessment: every month of 2018 owed hours and fell short; energy on the path.
    run_ok(greenmon(&db).args(["bulletin", "--year", "2018", "--out", out]));
    let annual = std::fs::read_to_string(dir.join("assessment-2018.zh.html")).unwrap();
    assert_eq!(figure(&annual, None, "park-m.monitoring.met"), "✗ 未达标");
    assert_eq!(figure(&annual, None, "park-m.energy_met"), "✓ 达标");
    assert_eq!(
        figure(&annual, None, "park-m.energy.reduction"),
        "20.0% (要求 12.5%)"
    );
    assert_eq!(
        figure(&annual, None, "park-none.monitoring.met"),
        "✗ 未达标"
    );
    assert_eq!(
        figure(&annual, Some("park-m"), "history.2018-03.monitoring_rate"),
        "66.7%"
    );
    let apdf = dir.join("assessment-2018.zh.pdf");
    let n = pages(&apdf);
    assert!((2..=10).contains(&n), "{n} pages");
    let text = tool("pdftotext", &[apdf.to_str().unwrap(), "-"]);
    assert!(text.contains("园区绿色发展年度考核 2018年"), "{text}");
    crate::portal::chromium(
        &format!("file://{}", dir.join("assessment-2018.zh.html").display()),
        Some(&dir.join("assessment.png")),
    )
    .await;

    // No Chromium: a clear error, no hang; the HTML is still written.
    let missing = dir.join("no-chromium");
    let out2 = greenmon(&db)
        .args([
            "bulletin",
            "--month",
            "2018-03",
            "--out",
            missing.to_str().unwrap(),
            "--chromium",
            "/nonexistent/chromium",
        ])
        .output()
        .unwrap();
    assert!(!out2.status.success());
    let err = String::from_utf8_lossy(&out2.stderr);
    assert!(err.contains("Chromium was not found"), "{err}");
    assert!(missing.join("bulletin-2018-03.zh.html").exists());
    s.app.shutdown().await;
}

//! The park portal in headless Chromium (Debian's `chromium`, installed by `.ci/run`): signed in
//! with park-a's token it renders park-a's numbers and its own page of last month's bulletin,
//! and nothing of park-b; a revoked token gets the sign-in form and an error. A screenshot is kept at `target/portal/portal.png`.

use std::path::Path;
use std::time::Duration as StdDuration;

use tokio::process::Command;

use chrono::{Duration, DurationRound, Utc};
use greenmon::domain::Flag;
use greenmon::store::tokens::{self, TokenRole};

use crate::compliance::{reading, seed_day, store_readings};
use crate::helpers::{repo_path, TestApp};

/// Runs headless Chromium on `url` with a fresh profile and returns the DOM after scripts ran.
/// Awaited, not waited for: the app under test serves on this test's runtime.
pub(crate) async fn chromium(url: &str, screenshot: Option<&Path>) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1200,1800",
        "--virtual-time-budget=15000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()));
    match screenshot {
        Some(path) => cmd.arg(format!("--screenshot={}", path.display())),
        None => cmd.arg("--dump-dom"),
    };
    cmd.arg(url).kill_on_drop(true);
    let out = tokio::time::timeout(StdDuration::from_secs(120), cmd.output())
        .await
        .expect("chromium finished within 2 minutes")
        .expect("chromium is installed (.ci/run installs Debian's chromium)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn portal_shows_the_parks_own_numbers_only() {
    // The alert engine stays off: the two alerts below are the only ones.
    let mut app = TestApp::spawn_with(1883, |s| s.alerts.enabled = false).await;
    let pool = &app.db.pool;
    seed_day(pool).await;
    sqlx::query(
        "INSERT INTO alerts (rule, park_id, point_id, state, severity, summary, summary_zh,
                             description, description_zh, active_since, fired_at, acked_by, acked_at)
         VALUES ('point_offline', 'park-a', 'a-in', 'firing', 'major', 'Point a-in of park park-a is offline',
                 '园区 park-a 监测点 a-in 离线', 'd', 'd', now(), now(), 'duty officer', now()),
                ('point_offline', 'park-b', 'b-out', 'firing', 'major', 'Point b-out of park park-b is offline',
                 '园区 park-b 监测点 b-out 离线', 'd', 'd', now(), now(), NULL, NULL)",
    )
    .execute(pool)
    .await
    .unwrap();
    // A review mark on each park's point: park-a's shows, park-b's does not.
    sqlx::query(
        "INSERT INTO review_marks (point_id, pollutant, starts_at, ends_at, kind, reason, created_by)
         VALUES ('a-out', 'w01018', '2026-03-10T00:00:00Z', '2026-03-10T03:00:00Z', 'fault',
                 '试剂耗尽 reagent empty', '李工'),
                ('b-out', NULL, '2026-03-10T00:00:00Z', '2026-03-10T03:00:00Z', 'maintenance',
                 'b-secret-maintenance', '王工')",
    )
    .execute(pool)
    .await
    .unwrap();
    // Recent data, so the last-7-days charts have something: a-out COD every 10 minutes for the
    // last 6 hours, above its limit of 50 in one hour; park-b reports too.
    let start = Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(6);
    let recent = (0..36)
        .map(|i| {
            let t = start + Duration::minutes(10 * i);
            let v = if (12..18).contains(&i) { 77.0 } else { 31.0 };
            reading("a-out", "cod", t, v, Flag::Normal)
        })
        .collect();
    store_readings(pool, "park-a", "a-out", recent).await;
    // A valid pH reading seconds ago keeps a-out online.
    store_readings(
        pool,
        "park-a",
        "a-out",
        vec![reading(
            "a-out",
            "ph",
            Utc::now() - Duration::seconds(30),
            7.0,
            Flag::Normal,
        )],
    )
    .await;
    store_readings(
        pool,
        "park-b",
        "b-out",
        vec![reading(
            "b-out",
            "cod",
            Utc::now() - Duration::minutes(1),
            4242.0,
            Flag::Normal,
        )],
    )
    .await;
    // What the rollup worker does within rollup.fold_interval_ms: the charts read the rollups.
    greenmon::store::rollup::fold(pool).await.unwrap();
    let year = chrono::Datelike::year(&Utc::now());
    sqlx::query(
        "INSERT INTO energy_reports (park_id, period, period_kind, period_start, period_end,
                                     energy_tce, value_added_10k_yuan)
         VALUES ('park-a', $1 || '-01', 'month', make_date($2, 1, 1), make_date($2, 2, 1), 52, 100),
                ('park-b', $1 || '-01', 'month', make_date($2, 1, 1), make_date($2, 2, 1), 999, 100)",
    )
    .bind(year.to_string())
    .bind(year)
    .execute(pool)
    .await
    .unwrap();
    let (_, token) = tokens::create(pool, "park a portal", &TokenRole::Park("park-a".into()))
        .await
        .unwrap();

    let url = format!("{}/portal#token={token}", app.http);
    let dom = chromium(&url, None).await;
    assert!(
        dom.contains("data-loaded=\"park-a\""),
        "the page did not load: {dom}"
    );
    for needle in [
        "A 园区",
        // a-out reported minutes ago; a-in not since the seeded day: one of two online.
        "50.0%",
        "1 of 2 required points online",
        "data-point=\"a-out\"",
        "data-point=\"a-in\"",
        // The COD chart of a-out: latest hourly average 31, one hour over the limit.
        "data-pollutant=\"w01018\"",
        "<span class=\"latest\">31.00</span>",
        "<span class=\"bad over\">1</span>",
        // Its own open alert, acknowledged.
        "监测点 a-in 离线",
        "duty officer",
        // Its review mark, times in Beijing time: 2026-03-10T00:00Z is 08:00 there.
        "试剂耗尽 reagent empty",
        "<td class=\"time\">2026/03/10 08:00:00</td>",
        "<td class=\"time\">2026/03/10 11:00:00</td>",
    ] {
        assert!(dom.contains(needle), "portal lacks {needle:?}:\n{dom}");
    }
    // Times in Asia/Shanghai, 24-hour, zh-CN: 2026/12/02 15:00:09, never 12/2/2026, 3:00:09 PM.
    let zh_time = regex_like_zh_time(&dom);
    assert!(zh_time, "no zh-CN 24-hour time in the portal:\n{dom}");
    assert!(!dom.contains(" AM<") && !dom.contains(" PM<"), "{dom}");
    // Energy: 52 / 100 = 0.520 tce per 10,000 yuan against a baseline of 0.8.
    assert!(
        dom.contains("<td id=\"energy-intensity\">0.520</td>"),
        "portal lacks the energy intensity:\n{dom}"
    );
    for leak in [
        "park-b",
        "B 园区",
        "b-out",
        "4242",
        "999",
        "b-secret-maintenance",
    ] {
        assert!(
            !dom.contains(leak),
            "portal shows park-b's {leak:?}:\n{dom}"
        );
    }
    assert!(!dom.contains(&token), "the token stays out of the page");
    // Its own page of last month's bulletin, in a sandboxed frame (the leaks above include it).
    assert!(
        dom.contains("data-bulletin-month=\""),
        "no bulletin:\n{dom}"
    );
    let frame = dom
        .split("id=\"bulletin-frame\"")
        .nth(1)
        .map(|f| f.split("</iframe>").next().unwrap_or_default())
        .unwrap_or_default();
    for needle in [
        "srcdoc=",
        "园区绿色发展监测月报",
        "A 园区",
        "近 12 个月监测率",
    ] {
        assert!(
            frame.contains(needle),
            "the bulletin lacks {needle:?}:\n{frame}"
        );
    }

    let dir = repo_path("target/portal");
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("portal.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&url, Some(&shot)).await;
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "screenshot {} is {size} bytes",
        shot.display()
    );

    // A revoked token: the sign-in form with an error, and no numbers.
    let (id, revoked) = tokens::create(pool, "gone", &TokenRole::Park("park-a".into()))
        .await
        .unwrap();
    tokens::revoke(pool, id).await.unwrap();
    let dom = chromium(&format!("{}/portal#token={revoked}", app.http), None).await;
    assert!(dom.contains("data-loaded=\"error\""), "{dom}");
    assert!(dom.contains("not valid"), "{dom}");
    assert!(!dom.contains("A 园区"), "{dom}");
    app.shutdown().await;
}

/// Whether the page shows a time as `YYYY/MM/DD hh:mm:ss` (zh-CN, 24-hour) in a table cell.
fn regex_like_zh_time(dom: &str) -> bool {
    dom.split("<td class=\"time\">").skip(1).any(|cell| {
        let b = cell.as_bytes();
        b.len() >= 19
            && b[..19].iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'/',
                10 => *c == b' ',
                13 | 16 => *c == b':',
                _ => c.is_ascii_digit(),
            })
    })
}

//! `greenmon import readings`: the real binary on CSV and HJ 212 files; what it stores, what it
//! quarantines and why, that a re-run adds nothing, and that the rollups see imported hours.

use std::process::{Command, Output};

use greenmon::store;

use crate::helpers::{greenmon, repo_path, TestDb};

fn import(db: &TestDb, file: &std::path::Path, extra: &[&str]) -> Output {
    let out = greenmon(&db.name)
        .args(["import", "readings"])
        .arg(file)
        .args(extra)
        .output()
        .unwrap();
    crate::helpers::succeeded(out)
}

const CSV: &str = "time,point,pollutant,value,flag
2026-01-05T01:00:00Z,a-out,cod,40,N
2026-01-05T01:30:00Z,a-out,cod,60,N

2026-01-05 09:10:00,a-in,ph,7.1,M
this,is,not,a,line,at,all
2026-01-05T01:15:00Z,a-out,cod,1e9,N
2026-01-05T01:20:00Z,nowhere,cod,40,N
";

#[tokio::test]
async fn csv_rows_are_stored_or_quarantined_with_their_reason_and_a_rerun_adds_nothing() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("history.csv");
    std::fs::write(&file, CSV).unwrap();

    let out = import(&db, &file, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("3 stored, 0 duplicates")
            && stdout
                .contains("3 quarantined (invalid_csv 1, unknown_point 1, value_out_of_range 1)"),
        "{stdout}"
    );
    assert_eq!(db.readings().await, 3);
    let expected = [
        ("invalid_csv".to_string(), 1),
        ("unknown_point".to_string(), 1),
        ("value_out_of_range".to_string(), 1),
    ];
    assert_eq!(db.quarantine().await, expected);
    // Quarantine rows name the import, the file and the line, and keep the line.
    let rows: Vec<(String, String, Vec<u8>)> =
        sqlx::query_as("SELECT source, topic, payload FROM quarantine ORDER BY reason")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    let name = file.display().to_string();
    assert_eq!(rows[0].0, "import");
    assert_eq!(rows[0].1, format!("import://{name}:6"));
    assert_eq!(rows[0].2, b"this,is,not,a,line,at,all");
    assert_eq!(rows[1].1, format!("import://{name}:8"));
    // The local time is read in ingest.timezone (Asia/Shanghai), and the flag kept.
    let flag: String = sqlx::query_scalar(
        "SELECT flag FROM readings WHERE point_id = 'a-in' AND time = '2026-01-05T01:10:00Z'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(flag, "M");

    // The same file again: nothing new, neither readings nor quarantine rows.
    let out = import(&db, &file, &["--format", "csv"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0 stored, 3 duplicates"), "{stdout}");
    assert_eq!(db.readings().await, 3);
    assert_eq!(db.quarantine().await, expected);

    // The rollups see the imported hour once folded.
    store::rollup::fold(&db.pool).await.unwrap();
    let (count, avg): (i64, f64) = sqlx::query_as(
        "SELECT count, avg FROM readings_hourly
         WHERE point_id = 'a-out' AND pollutant = 'w01018' AND hour = '2026-01-05T01:00:00Z'",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!((count, avg), (2, 50.0));
}

#[tokio::test]
async fn hj212_captures_are_stored_through_the_registry_checks() {
    let db = TestDb::new().await;
    let packet = |cn: &str, mn: &str, pw: &str, cp: &str| {
        hj212::PacketBuilder {
            qn: Some("20260105090000000".into()),
            st: "32".into(),
            cn: cn.into(),
            pw: Some(pw.into()),
            mn: mn.into(),
            flag: Some(hj212::PacketFlag { raw: 4 }),
            cp: cp.into(),
            ..Default::default()
        }
        .encode()
    };
    let mut capture = Vec::new();
    capture.extend(packet(
        "2051",
        "AAAA0000000000000000000A",
        "123456",
        "DataTime=20260105090000;w01018-Avg=30.5,w01018-Flag=N;w01001-Avg=7.2,w01001-Flag=N",
    ));
    capture.extend(packet(
        "2061",
        "88888880000001",
        "654321",
        "DataTime=20260105090000;w01018-Avg=20,w01018-Flag=N",
    ));
    // A wrong password and an unknown MN are quarantined, as they would be live.
    capture.extend(packet(
        "2061",
        "88888880000001",
        "000000",
        "DataTime=20260105100000;w01018-Avg=20",
    ));
    capture.extend(packet(
        "2061",
        "99999990000009",
        "123456",
        "DataTime=20260105100000;w01018-Avg=20",
    ));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("capture.txt");
    std::fs::write(&file, &capture).unwrap();

    let out = import(&db, &file, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 stored"), "{stdout}");
    assert_eq!(db.readings().await, 3);
    assert_eq!(
        db.quarantine().await,
        [
            ("bad_password".to_string(), 1),
            ("unknown_mn".to_string(), 1)
        ]
    );
    let kinds: Vec<(String, String)> =
        sqlx::query_as("SELECT point_id, kind FROM readings ORDER BY point_id, pollutant")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        kinds,
        [
            ("a-out".to_string(), "min".to_string()),
            ("a-out".to_string(), "min".to_string()),
            ("b-out".to_string(), "hour".to_string()),
        ]
    );
    // Again, through `--format hj212`: nothing new.
    import(&db, &file, &["--format", "hj212"]);
    assert_eq!(db.readings().await, 3);
    assert_eq!(db.quarantined().await, 2);
}

#[tokio::test]
async fn standard_input_is_read_with_a_dash() {
    use std::io::Write;
    let db = TestDb::new().await;
    let mut child = greenmon(&db.name)
        .args(["import", "readings", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"point,time,pollutant,value\nb-out,2026-01-05T01:00:00Z,nh3n,1.5\nb-out,2026-01-05T01:00:00Z,cod\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(db.readings().await, 1);
    let topic: String =
        sqlx::query_scalar("SELECT topic FROM quarantine WHERE reason = 'invalid_csv'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(topic, "import://-:3");
}

#[tokio::test]
async fn a_bad_header_stops_the_import_before_anything_is_written() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.csv");
    std::fs::write(&file, "time,point,value\n2026-01-05T01:00:00Z,a-out,1\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_greenmon"))
        .current_dir(repo_path("."))
        .args(["import", "readings"])
        .arg(&file)
        .env("GREENMON__DATABASE__DBNAME", &db.name)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"pollutant\""), "{stderr}");
    assert_eq!((db.readings().await, db.quarantined().await), (0, 0));
}

//! The command line: check-config names every bad key; registry import is idempotent.

use std::process::Command;

use crate::helpers::{repo_path, TestDb};

fn greenmon() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_greenmon"));
    c.current_dir(repo_path("."));
    c
}

#[test]
fn check_config_names_every_bad_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[mqtt]\nport = 99999\nhots = \"x\"\n[database]\npassword = \"s3cret-pw\"\n",
    )
    .unwrap();
    let out = greenmon()
        .args(["check-config", "--config"])
        .arg(&file)
        .env("GREENMON__INGEST__BATCH_MAX_ROWS", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for key in ["mqtt.port", "mqtt.hots", "ingest.batch_max_rows"] {
        assert!(err.contains(key), "{key} missing from: {err}");
    }
    assert!(!err.contains("s3cret-pw"), "secret leaked: {err}");

    let ok = greenmon().arg("check-config").output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[tokio::test]
async fn registry_import_is_idempotent_and_updates() {
    let db = TestDb::new().await;
    let env = [("GREENMON__DATABASE__DBNAME", db.name.as_str())];
    let demo = repo_path("config/demo-registry.toml");
    for _ in 0..2 {
        let out = greenmon()
            .args(["registry", "import"])
            .arg(&demo)
            .envs(env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("imported"));
    }
    // The test registry's 2 parks plus the demo's, each once.
    let parks = db.count("SELECT count(*) FROM parks").await;
    let demo_parks = std::fs::read_to_string(&demo)
        .unwrap()
        .matches("[[parks]]")
        .count() as i64;
    assert_eq!(parks, 2 + demo_parks);

    // A changed file updates in place.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.toml");
    std::fs::write(
        &file,
        "[[parks]]\nid = \"park-a\"\nname = \"A renamed\"\nbaseline_intensity = 0.7\n[[parks.points]]\nid = \"a-out\"\nname = \"A outlet\"\nkind = \"treatment_outlet\"\ninterval_secs = 300\n[parks.points.limits]\ncod = { upper = 60 }\n",
    )
    .unwrap();
    let out = greenmon()
        .args(["registry", "import"])
        .arg(&file)
        .envs(env)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (name, intensity): (String, f64) =
        sqlx::query_as("SELECT name, baseline_intensity FROM parks WHERE id = 'park-a'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((name.as_str(), intensity), ("A renamed", 0.7));
    let limits: Vec<(String, f64)> =
        sqlx::query_as("SELECT pollutant, upper FROM discharge_limits WHERE point_id = 'a-out'")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(limits, [("w01018".to_string(), 60.0)]);

    // An invalid file is refused with the problems listed, and changes nothing.
    std::fs::write(
        &file,
        "[[parks]]\nid = \"Bad Id\"\nname = \"x\"\nbaseline_intensity = 1\n",
    )
    .unwrap();
    let out = greenmon()
        .args(["registry", "import"])
        .arg(&file)
        .envs(env)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Bad Id"));
    assert_eq!(db.count("SELECT count(*) FROM parks").await, parks);
}

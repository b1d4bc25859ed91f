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
        let out = crate::helpers::succeeded(out);
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
    crate::helpers::succeeded(out);
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

#[test]
fn hj212_encode_then_decode_round_trips() {
    let out = greenmon()
        .args([
            "hj212",
            "encode",
            "--cn",
            "2051",
            "--mn",
            "010000A8900016F000169DC0",
        ])
        .args([
            "--pw",
            "123456",
            "--qn",
            "20160801085000001",
            "--crc",
            "modbus",
        ])
        .args(["--cp", "DataTime=20160801084000;011-Avg=40.1,011-Flag=M"])
        .output()
        .unwrap();
    let out = crate::helpers::succeeded(out);
    let packet = out.stdout;
    assert!(packet.starts_with(b"##0134QN=") && packet.ends_with(b"\r\n"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("capture.txt");
    // Two copies, the second with a corrupted value: one ok, one CRC mismatch.
    let mut capture = packet.clone();
    capture.extend(
        String::from_utf8(packet)
            .unwrap()
            .replace("40.1", "41.1")
            .into_bytes(),
    );
    std::fs::write(&file, capture).unwrap();
    let out = greenmon()
        .args(["hj212", "decode"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["verdict"], "ok");
    assert_eq!(lines[0]["crc"]["matched"], "modbus");
    assert_eq!(lines[0]["values"][0]["code"], "w01018");
    assert_eq!(lines[0]["values"][0]["original_code"], "011");
    assert_eq!(lines[0]["values"][0]["flag"], "M");
    assert_eq!(lines[1]["verdict"], "crc_mismatch");
}

/// `greenmon simulate --count` against the shared broker, on a topic prefix of its own (so no
/// subscriber's session queues the messages), with its log on stderr.
fn simulate_logging(format: &str) -> std::process::Output {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let out = greenmon()
        .args(["simulate", "--count", "5", "--rate", "0", "--client-id"])
        .arg(format!("it-logs-{id}"))
        .env("GREENMON__MQTT__TOPIC_PREFIX", format!("it-logs-{id}"))
        .env("GREENMON__TELEMETRY__LOG_FORMAT", format)
        .env("GREENMON__TELEMETRY__LOG_LEVEL", "info")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    crate::helpers::succeeded(out)
}

#[test]
fn text_logs_have_no_colour_codes_when_not_on_a_terminal() {
    let out = simulate_logging("text");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Simulator starting."), "{err}");
    assert!(!err.contains("\x1b["), "ANSI escape in: {err:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\x1b["));

    // A failing command logs at ERROR (red on a terminal): no escapes either.
    let out = greenmon()
        .args(["registry", "import", "/nonexistent/registry.toml"])
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ERROR") && err.contains("Command failed."),
        "{err}"
    );
    assert!(!err.contains("\x1b["), "ANSI escape in: {err:?}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let out = simulate_logging("json");
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(lines.len() >= 2, "{err}");
    for line in &lines {
        assert!(
            line["timestamp"].as_str().is_some_and(|t| t.len() >= 20),
            "{line}"
        );
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&line["level"].as_str().unwrap()),
            "{line}"
        );
        assert!(
            line["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("greenmon")),
            "{line}"
        );
        assert!(line["fields"]["message"].is_string(), "{line}");
    }
    let start = lines
        .iter()
        .find(|l| l["fields"]["message"] == "Simulator starting.")
        .unwrap_or_else(|| panic!("no start line in {err}"));
    assert_eq!(start["level"], "INFO");
    assert!(start["fields"]["seed"].is_u64(), "{start}");
}

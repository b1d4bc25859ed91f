//! A broker as a bureau runs it: TLS with the bureau's own CA, and a password. greenmon connects
//! with `mqtt.tls.ca_file`, `mqtt.username` and `mqtt.password`; a wrong password keeps it out
//! (and not ready) without crashing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::helpers::{eventually, free_port, settings_for, unique, TestDb};

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("tool is installed");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, and a server certificate for 127.0.0.1 signed by it.
fn make_certs(dir: &Path) {
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=greenmon test CA",
        ]));
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
        ])
        .args(["-out", "server.csr", "-subj", "/CN=127.0.0.1"]));
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
        ])
        .args([
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]));
}

/// How many connections the broker refused for bad credentials (from its log).
fn refused(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("mosquitto.log"))
        .unwrap_or_default()
        .matches("not authorised")
        .count()
}

struct TlsBroker {
    port: u16,
    child: Child,
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tls_broker(dir: &Path) -> TlsBroker {
    make_certs(dir);
    run(Command::new("mosquitto_passwd")
        .current_dir(dir)
        .args(["-b", "-c", "passwd", "greenmon", "s3cret"]));
    let port = free_port();
    let d = dir.display();
    std::fs::write(
        dir.join("mosquitto.conf"),
        format!(
            "listener {port} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\n\
             allow_anonymous false\npassword_file {d}/passwd\npersistence false\n\
             log_dest file {d}/mosquitto.log\n\
             # run as root, mosquitto would switch to its own user, which cannot read these keys\nuser root\n"
        ),
    )
    .unwrap();
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(dir.join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    crate::helpers::wait_listening(port, "TLS broker");
    TlsBroker { port, child }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_a_custom_ca_and_a_password() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_tls_broker(dir.path());
    let db = TestDb::new().await;
    let prefix = format!("t/{}", unique("tls"));
    let mut settings = settings_for(&db.name, broker.port, &prefix, &unique("gm-tls"));
    settings.mqtt.tls.enabled = true;
    settings.mqtt.tls.ca_file = Some(dir.path().join("ca.crt"));
    settings.mqtt.username = Some("greenmon".into());
    settings.mqtt.password = Some("s3cret".into());
    let app = greenmon::app::start(settings.clone()).await.unwrap();
    let ready = format!("http://{}/readyz", app.http_addr);
    eventually(Duration::from_secs(20), "the TLS connection", || async {
        (reqwest::get(&ready).await.ok()?.status() == 200).then_some(())
    })
    .await;

    // A logger publishing over TLS with the same credentials.
    let topic = format!("{prefix}/parks/park-a/points/a-out/readings");
    let payload = r#"{"ts":"2026-01-01T08:00:00+08:00","values":{"cod":21.5,"ph":7.1}}"#;
    eventually(Duration::from_secs(20), "the readings over TLS", || {
        let (topic, dir) = (topic.clone(), dir.path().to_path_buf());
        let pool = db.pool.clone();
        async move {
            let status = Command::new("mosquitto_pub")
                .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1"])
                .args(["--cafile", &dir.join("ca.crt").display().to_string()])
                .args([
                    "-u", "greenmon", "-P", "s3cret", "-t", &topic, "-m", payload,
                ])
                .status()
                .unwrap();
            assert!(status.success());
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM readings")
                .fetch_one(&pool)
                .await
                .unwrap();
            (n == 2).then_some(())
        }
    })
    .await;
    app.shutdown_token().cancel();
    app.wait().await.unwrap();

    // The wrong password: greenmon keeps retrying, reports the broker down, and stops cleanly.
    // The broker's log shows the attempts it refused; so far it has refused none.
    assert_eq!(refused(dir.path()), 0, "only right passwords so far");
    settings.mqtt.password = Some("wrong".into());
    settings.mqtt.client_id = unique("gm-tls-bad");
    let app = greenmon::app::start(settings).await.unwrap();
    eventually(
        Duration::from_secs(20),
        "the broker refusing greenmon twice",
        || async { (refused(dir.path()) >= 2).then_some(()) },
    )
    .await;
    let ready = reqwest::get(format!("http://{}/readyz", app.http_addr))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["broker"], "down");
    assert_eq!(app.metrics.mqtt_connections.get(), 0, "never connected");
    let health = reqwest::get(format!("http://{}/healthz", app.http_addr))
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "still serving");
    app.shutdown_token().cancel();
    app.wait().await.unwrap();
}

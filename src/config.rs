//! Typed settings: built-in `config/default.toml` ← `--config FILE` ← `GREENMON__SECTION__KEY`.
//!
//! Input: an optional file path and the process environment. Output: a validated [`Settings`] or
//! every problem found, each naming its key. Secrets are [`SecretString`] and are redacted in
//! `Debug`.
//!
//! The `config` crate merges the layers. Environment values stay strings (no `try_parsing`): a
//! string key gets its value byte for byte (`GREENMON__DATABASE__PASSWORD=0123` is `0123`), and
//! a numeric or boolean key converts the string when it is deserialised. Only `__` separates
//! levels (`GREENMON__DATABASE__MAX_CONNECTIONS`); an empty value is the empty string, not unset.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use config::Source as _;
use secrecy::SecretString;
use serde::Deserialize;

use crate::domain::alert::{RuleKind, Severity};
use crate::domain::limits::ValueLimits;

/// The built-in defaults; every non-optional key appears here.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "GREENMON__";

/// All settings of one greenmon process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseConfig,
    pub mqtt: MqttConfig,
    pub ingest: IngestConfig,
    pub hj212: Hj212Config,
    pub rollup: RollupConfig,
    pub http: HttpConfig,
    pub telemetry: TelemetryConfig,
    pub shutdown: ShutdownConfig,
    pub alerts: AlertsConfig,
}

/// PostgreSQL connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<SecretString>,
    pub dbname: String,
    pub max_connections: u32,
    pub acquire_timeout_secs: u64,
    pub migrate_on_start: bool,
    /// A streaming replica for the reads of the API, the portal and the reports, as a connection
    /// URL (`postgres://user:password@replica:5432/greenmon`). Secret: it may carry a password.
    /// Unset = they read the primary.
    pub read_url: Option<SecretString>,
}

/// MQTT broker connection and topics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub topic_prefix: String,
    /// Shared-subscription group: with a name, greenmon subscribes to `$share/{group}/...` and
    /// the broker splits the messages among the instances of the group. Empty = a subscription
    /// of its own.
    pub share_group: String,
    pub keep_alive_secs: u64,
    pub max_packet_bytes: usize,
    pub reconnect_initial_ms: u64,
    pub reconnect_max_ms: u64,
    pub tls: TlsConfig,
}

impl MqttConfig {
    /// The filter greenmon subscribes with for `filter`: `$share/{group}/{filter}` in a share
    /// group, else `filter` itself. The topics of the messages are the same either way.
    pub fn subscription(&self, filter: &str) -> String {
        if self.share_group.is_empty() {
            filter.to_string()
        } else {
            format!("$share/{}/{filter}", self.share_group)
        }
    }
}

/// TLS to the broker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub enabled: bool,
    /// PEM file with the CA certificate(s) that signed the broker's certificate.
    pub ca_file: Option<PathBuf>,
}

/// Ingest pipeline tuning and validation limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    pub batch_max_rows: usize,
    pub linger_ms: u64,
    /// Batches committing at once (acks still go out in receive order).
    pub parallel_commits: usize,
    /// Acks of committed MQTT messages queued for the MQTT task, which writes them; the committer
    /// waits when it is full (briefly: the MQTT task takes them whenever it waits).
    pub ack_queue: usize,
    /// Messages each source (MQTT, the HJ 212 listener) may queue for the batcher; when it is
    /// full the source waits (backpressure). At least the broker's in-flight window.
    pub queue: usize,
    pub max_payload_bytes: usize,
    pub max_future_secs: i64,
    pub timezone: String,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Plausible value ranges by pollutant code or alias (or `default`), over the built-in ones
    /// of [`crate::domain::limits`]; values outside are quarantined (`value_out_of_range`).
    #[serde(default)]
    pub value_limits: std::collections::BTreeMap<String, crate::domain::limits::ValueRange>,
}

/// HJ 212 data loggers on TCP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hj212Config {
    /// Address of the TCP listener; empty = off.
    pub listen: String,
    /// Loggers connected at once; one more is accepted and closed at once. Unset = the process's
    /// open-file limit less [`FD_RESERVE`] (`hj212::connection_cap`).
    pub max_connections: Option<usize>,
    pub idle_timeout_secs: u64,
    /// Seconds one answer may take to be written before greenmon closes the connection (a
    /// logger that stops reading its socket).
    pub write_timeout_secs: u64,
    /// Frames of one connection waiting for their answers before greenmon stops reading it.
    pub max_unanswered_per_connection: usize,
    /// Largest data segment accepted (the standard's limit is 1024; real loggers exceed it).
    pub max_frame_bytes: usize,
    /// Seconds to wait for the missing parts of a split upload before recording the gap.
    pub split_timeout_secs: u64,
    /// Asking connected loggers for the hours they failed to deliver.
    pub recovery: Hj212RecoveryConfig,
}

/// Gap recovery: history requests (CN 2061) to connected loggers (`ingest::requester`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hj212RecoveryConfig {
    /// Look for missing hours and ask for them; requests made by hand are sent either way.
    pub enabled: bool,
    /// Days back the scan looks for missing hours of required points.
    pub scan_days: u32,
    /// Seconds between two scans of every connected logger (also scanned when it connects).
    pub scan_interval_secs: u64,
    /// An hour is owed only this many seconds after it ends (the logger's own hourly upload
    /// comes first).
    pub settle_secs: u64,
    /// Hours asked for in one request at most; a longer gap makes several requests.
    pub max_hours_per_request: u32,
    /// Seconds between two requests to the same logger, at least.
    pub spacing_secs: u64,
    /// Seconds to wait for the logger's 9011 request answer.
    pub answer_timeout_secs: u64,
    /// Seconds to wait, after a 9011 `QnRtn=1`, for the 9012 execution result.
    pub exec_timeout_secs: u64,
    /// Sends of one request (the first included) before it is given up as timed out.
    pub max_attempts: u32,
}

impl Hj212RecoveryConfig {
    /// Every problem, each naming its key.
    fn problems(&self, bad: &mut impl FnMut(&str, &str)) {
        let positive: [(&str, u64); 7] = [
            ("hj212.recovery.scan_days", u64::from(self.scan_days)),
            ("hj212.recovery.scan_interval_secs", self.scan_interval_secs),
            (
                "hj212.recovery.max_hours_per_request",
                u64::from(self.max_hours_per_request),
            ),
            ("hj212.recovery.spacing_secs", self.spacing_secs),
            (
                "hj212.recovery.answer_timeout_secs",
                self.answer_timeout_secs,
            ),
            ("hj212.recovery.exec_timeout_secs", self.exec_timeout_secs),
            ("hj212.recovery.max_attempts", u64::from(self.max_attempts)),
        ];
        for (key, v) in positive {
            if v == 0 {
                bad(key, "must be positive");
            }
        }
        // Seconds beyond a year are typing errors, and would overflow the timers.
        let seconds = [
            ("hj212.recovery.scan_interval_secs", self.scan_interval_secs),
            ("hj212.recovery.settle_secs", self.settle_secs),
            ("hj212.recovery.spacing_secs", self.spacing_secs),
            (
                "hj212.recovery.answer_timeout_secs",
                self.answer_timeout_secs,
            ),
            ("hj212.recovery.exec_timeout_secs", self.exec_timeout_secs),
        ];
        for (key, v) in seconds {
            if v > 366 * 86_400 {
                bad(key, "must be at most a year (31622400)");
            }
        }
        if self.scan_days > 366 {
            bad("hj212.recovery.scan_days", "must be at most 366");
        }
        if self.max_hours_per_request > 24 * 31 {
            bad(
                "hj212.recovery.max_hours_per_request",
                "must be at most 744 (31 days)",
            );
        }
    }
}

/// Open files kept back from the default `hj212.max_connections` for the database pools, the
/// broker, HTTP clients and the process's own files.
pub const FD_RESERVE: u64 = 1024;

impl Hj212Config {
    /// Loggers the listener holds at once: `max_connections` when set, else `open_files` (the
    /// process's soft open-file limit) less [`FD_RESERVE`], and at least 64.
    pub fn connection_cap(&self, open_files: u64) -> usize {
        self.max_connections.unwrap_or_else(|| {
            usize::try_from(open_files.saturating_sub(FD_RESERVE).max(64)).unwrap_or(usize::MAX)
        })
    }
}

/// Hourly-rollup maintenance on plain PostgreSQL (`store::rollup`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollupConfig {
    /// Milliseconds between folds of the pending aggregates into the rollup tables: the most
    /// that dashboards reading `readings_hourly` lag behind ingest (plus one fold).
    pub fold_interval_ms: u64,
}

impl RollupConfig {
    /// Time between folds.
    pub fn fold_interval(&self) -> Duration {
        Duration::from_millis(self.fold_interval_ms)
    }
}

/// HTTP listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: String,
    /// Longest readings range answered with raw readings; longer ranges read hourly rollups.
    pub raw_max_hours: i64,
    /// Longest range any API query may ask for.
    pub max_range_days: i64,
    /// Connections of the API's own pool, apart from ingest's (`database.max_connections`), so
    /// slow API queries cannot starve ingest commits.
    pub max_db_connections: u32,
    /// Largest request body accepted; larger ones answer 413.
    pub max_body_bytes: usize,
    /// A request not answered within this answers 503.
    pub request_timeout_secs: u64,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    pub log_format: String,
    pub log_level: String,
}

/// Graceful shutdown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownConfig {
    pub grace_secs: u64,
}

/// Alert rules, lifecycle timing and receivers (see docs/alerts.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    pub enabled: bool,
    pub evaluate_interval_secs: u64,
    pub resolve_after_secs: u64,
    /// 0 = never.
    pub renotify_secs: u64,
    /// 0 = never.
    pub escalate_after_secs: u64,
    pub escalate_severity: Severity,
    /// `{park}` is replaced by the park id.
    pub dashboard_url: String,
    pub leader_lock_key: i64,
    pub leader_poll_ms: u64,
    pub delivery: DeliveryConfig,
    pub alertmanager: AlertmanagerConfig,
    pub webhooks: Vec<WebhookConfig>,
    pub rules: RulesConfig,
    pub overrides: Vec<RuleOverride>,
}

/// Outbox delivery: retries with capped exponential backoff, then dead-letter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    pub max_attempts: u32,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    pub timeout_ms: u64,
    pub batch: u32,
}

/// Prometheus Alertmanager (v2 API).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    /// Base URL, e.g. `http://127.0.0.1:9093`; empty = off.
    pub url: String,
    pub repost_secs: u64,
}

/// A signed JSON webhook receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    /// HMAC-SHA256 key for the signature header.
    pub secret: SecretString,
    /// Alerts below this severity are not sent here.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Only escalated alerts are sent here (an escalation receiver).
    #[serde(default)]
    pub escalation_only: bool,
}

fn default_min_severity() -> Severity {
    Severity::Info
}

/// Every rule's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    pub point_offline: RuleConfig,
    pub park_monitoring_rate: RuleConfig,
    pub discharge_exceedance: RuleConfig,
    pub low_effective_rate: RuleConfig,
    pub energy_off_track: RuleConfig,
    pub energy_target_missed: RuleConfig,
    pub energy_report_overdue: RuleConfig,
    pub clock_drift: RuleConfig,
}

impl RulesConfig {
    pub fn get(&self, rule: RuleKind) -> &RuleConfig {
        match rule {
            RuleKind::PointOffline => &self.point_offline,
            RuleKind::ParkMonitoringRate => &self.park_monitoring_rate,
            RuleKind::DischargeExceedance => &self.discharge_exceedance,
            RuleKind::LowEffectiveRate => &self.low_effective_rate,
            RuleKind::EnergyOffTrack => &self.energy_off_track,
            RuleKind::EnergyTargetMissed => &self.energy_target_missed,
            RuleKind::EnergyReportOverdue => &self.energy_report_overdue,
            RuleKind::ClockDrift => &self.clock_drift,
        }
    }
}

/// One rule's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub enabled: bool,
    pub severity: Severity,
    pub for_secs: u64,
    /// low_effective_rate: the rate below which a day alerts (0..1).
    pub threshold: Option<f64>,
    /// energy_report_overdue: days after a period's end before its report is overdue.
    pub grace_days: Option<u32>,
    /// clock_drift: seconds a logger's clock may differ from greenmon's.
    pub limit_secs: Option<u64>,
}

/// A per-park or per-point change to one rule; the most specific match wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    pub rule: RuleKind,
    pub park: String,
    pub point: Option<String>,
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub for_secs: Option<u64>,
    pub threshold: Option<f64>,
}

/// One problem with the configuration, naming its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key, e.g. `mqtt.port`.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// The configuration could not be loaded; every problem found is listed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid configuration:\n{}", list(.0))]
    Invalid(Vec<ConfigProblem>),
}

fn list(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Settings {
    /// Loads the layers from `file` (if any) and the process environment, then validates.
    ///
    /// # Errors
    /// [`ConfigError`] naming every unknown key, invalid value or failed check.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    /// As [`Settings::load`], with the environment given explicitly (for tests).
    ///
    /// # Errors
    /// See [`Settings::load`].
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let settings = Self::layered(file, env)?;
        let problems = settings.validate();
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError::Invalid(problems))
        }
    }

    /// The three layers merged by the `config` crate and deserialised, not yet validated.
    ///
    /// Environment values stay strings (no `try_parsing`): a string key gets the value byte for
    /// byte, and a numeric or boolean key converts the string when it is deserialised.
    fn layered(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let file_layer = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let layer = config::File::from_str(&text, config::FileFormat::Toml);
                // Parse once here so that a syntax error names the file.
                let table = layer.collect().map_err(|e| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
                Some((layer, table))
            }
            None => None,
        };
        let env_layer = config::Environment::with_prefix(ENV_PREFIX.trim_end_matches('_'))
            .prefix_separator("__")
            .separator("__")
            .source(Some(env.into_iter().collect()));

        let mut builder = config::Config::builder().add_source(default_layer());
        if let Some((layer, _)) = &file_layer {
            builder = builder.add_source(layer.clone());
        }
        let merged = builder
            .add_source(env_layer.clone())
            .build()
            .and_then(config::Config::try_deserialize::<Settings>);
        match merged {
            Ok(settings) => Ok(settings),
            Err(error) => {
                // serde stops at the first bad value; find all of them, one key at a time.
                let mut overrides = Vec::new();
                if let Some((_, table)) = file_layer {
                    leaves(String::new(), table, &mut overrides);
                }
                let env_values = env_layer.collect().map_err(|e| {
                    ConfigError::Invalid(vec![ConfigProblem {
                        key: "(environment)".into(),
                        message: e.to_string(),
                    }])
                })?;
                overrides.extend(env_values);
                Err(ConfigError::Invalid(diagnose(overrides, &error)))
            }
        }
    }

    /// Semantic checks that types alone cannot express; returns every problem.
    pub fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let mut bad = |key: &str, message: &str| {
            p.push(ConfigProblem {
                key: key.to_string(),
                message: message.to_string(),
            })
        };
        if self.database.host.is_empty() {
            bad("database.host", "must not be empty");
        }
        if self.database.max_connections < 2 {
            bad(
                "database.max_connections",
                "must be at least 2 (ingest and HTTP)",
            );
        }
        if self.mqtt.host.is_empty() {
            bad("mqtt.host", "must not be empty");
        }
        if self.mqtt.client_id.is_empty() || self.mqtt.client_id.len() > 64 {
            bad("mqtt.client_id", "must be 1 to 64 characters");
        }
        let prefix = &self.mqtt.topic_prefix;
        if prefix.is_empty()
            || prefix.starts_with('/')
            || prefix.ends_with('/')
            || prefix.contains(['+', '#'])
        {
            bad(
                "mqtt.topic_prefix",
                "must be non-empty, without leading or trailing '/' and without wildcards",
            );
        }
        let group = &self.mqtt.share_group;
        if group.len() > 64
            || !group
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bad(
                "mqtt.share_group",
                "must be at most 64 characters of A-Z, a-z, 0-9, - and _",
            );
        }
        if let Some(url) = &self.database.read_url {
            use secrecy::ExposeSecret;
            let url = url.expose_secret();
            let scheme = url.starts_with("postgres://") || url.starts_with("postgresql://");
            if !scheme || url.parse::<sqlx::postgres::PgConnectOptions>().is_err() {
                // The URL itself is not repeated: it may hold a password.
                bad(
                    "database.read_url",
                    "is not a PostgreSQL connection URL (postgres://user:password@host:port/db)",
                );
            }
        }
        if self.mqtt.keep_alive_secs < 5 {
            bad("mqtt.keep_alive_secs", "must be at least 5");
        }
        if self.mqtt.reconnect_initial_ms == 0
            || self.mqtt.reconnect_initial_ms > self.mqtt.reconnect_max_ms
        {
            bad(
                "mqtt.reconnect_initial_ms",
                "must be positive and not above mqtt.reconnect_max_ms",
            );
        }
        if self.mqtt.username.is_none() && self.mqtt.password.is_some() {
            bad("mqtt.password", "is set without mqtt.username");
        }
        if let Some(ca) = &self.mqtt.tls.ca_file {
            if !self.mqtt.tls.enabled {
                bad("mqtt.tls.ca_file", "is set but mqtt.tls.enabled is false");
            } else if !ca.is_file() {
                bad("mqtt.tls.ca_file", "file does not exist");
            }
        }
        if !(1..=16).contains(&self.ingest.parallel_commits) {
            bad("ingest.parallel_commits", "must be 1 to 16");
        }
        if self.database.max_connections as usize <= self.ingest.parallel_commits {
            bad(
                "database.max_connections",
                "must be above ingest.parallel_commits (the HTTP side needs connections too)",
            );
        }
        if self.ingest.batch_max_rows == 0 {
            bad("ingest.batch_max_rows", "must be positive");
        }
        if !(1..=1_000_000).contains(&self.ingest.ack_queue) {
            bad("ingest.ack_queue", "must be 1 to 1000000");
        }
        if !(1..=1_000_000).contains(&self.ingest.queue) {
            bad("ingest.queue", "must be 1 to 1000000");
        }
        if self.ingest.max_payload_bytes == 0
            || self.ingest.max_payload_bytes > self.mqtt.max_packet_bytes
        {
            bad(
                "ingest.max_payload_bytes",
                "must be positive and not above mqtt.max_packet_bytes",
            );
        }
        if let Err(problems) = ValueLimits::with_overrides(&self.ingest.value_limits) {
            for (key, why) in problems {
                bad(&format!("ingest.value_limits.{key}"), &why);
            }
        }
        if self.ingest.max_future_secs < 0 {
            bad("ingest.max_future_secs", "must not be negative");
        }
        if self.ingest.timezone.parse::<chrono_tz::Tz>().is_err() {
            bad(
                "ingest.timezone",
                "is not an IANA time zone (e.g. Asia/Shanghai)",
            );
        }
        if self.ingest.retry_initial_ms == 0
            || self.ingest.retry_initial_ms > self.ingest.retry_max_ms
        {
            bad(
                "ingest.retry_initial_ms",
                "must be positive and not above ingest.retry_max_ms",
            );
        }
        if !self.hj212.listen.is_empty() && self.hj212.listen.parse::<SocketAddr>().is_err() {
            bad(
                "hj212.listen",
                "is not an address like 0.0.0.0:9212 (or empty for off)",
            );
        }
        if self.hj212.max_connections == Some(0) {
            bad("hj212.max_connections", "must be positive");
        }
        if self.hj212.idle_timeout_secs == 0 {
            bad("hj212.idle_timeout_secs", "must be positive");
        }
        if self.hj212.write_timeout_secs == 0
            || self.hj212.write_timeout_secs > self.hj212.idle_timeout_secs
        {
            bad(
                "hj212.write_timeout_secs",
                "must be positive and not above hj212.idle_timeout_secs",
            );
        }
        if self.hj212.max_unanswered_per_connection == 0 {
            bad("hj212.max_unanswered_per_connection", "must be positive");
        }
        if !(1024..=9999).contains(&self.hj212.max_frame_bytes) {
            bad(
                "hj212.max_frame_bytes",
                "must be 1024 to 9999 (four length digits)",
            );
        }
        if self.hj212.split_timeout_secs == 0 {
            bad("hj212.split_timeout_secs", "must be positive");
        }
        self.hj212.recovery.problems(&mut bad);
        if !(100..=3_600_000).contains(&self.rollup.fold_interval_ms) {
            bad(
                "rollup.fold_interval_ms",
                "must be 100 to 3600000 (0.1 s to an hour)",
            );
        }
        if self.http.listen.parse::<SocketAddr>().is_err() {
            bad("http.listen", "is not an address like 127.0.0.1:8080");
        }
        if !(1..=24 * 31).contains(&self.http.raw_max_hours) {
            bad("http.raw_max_hours", "must be 1 to 744");
        }
        if !(1..=3660).contains(&self.http.max_range_days) {
            bad("http.max_range_days", "must be 1 to 3660");
        }
        if !(1..=100).contains(&self.http.max_db_connections) {
            bad("http.max_db_connections", "must be 1 to 100");
        }
        if !(1024..=64 << 20).contains(&self.http.max_body_bytes) {
            bad("http.max_body_bytes", "must be 1024 to 67108864 (64 MiB)");
        }
        if !(1..=600).contains(&self.http.request_timeout_secs) {
            bad("http.request_timeout_secs", "must be 1 to 600");
        }
        if !matches!(self.telemetry.log_format.as_str(), "text" | "json") {
            bad("telemetry.log_format", "must be \"text\" or \"json\"");
        }
        if tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_level).is_err() {
            bad("telemetry.log_level", "is not a valid tracing filter");
        }
        if self.shutdown.grace_secs == 0 {
            bad("shutdown.grace_secs", "must be positive");
        }
        p.extend(self.alerts.validate());
        p
    }

    /// The configured local zone (validated at load).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.ingest
            .timezone
            .parse()
            .expect("ingest.timezone is checked by validate()")
    }

    /// The HTTP listen address (validated at load).
    pub fn http_addr(&self) -> SocketAddr {
        self.http
            .listen
            .parse()
            .expect("http.listen is checked by validate()")
    }
}

impl AlertsConfig {
    fn validate(&self) -> Vec<ConfigProblem> {
        let mut p = Vec::new();
        let mut bad = |key: String, message: &str| {
            p.push(ConfigProblem {
                key,
                message: message.to_string(),
            })
        };
        if self.evaluate_interval_secs == 0 {
            bad("alerts.evaluate_interval_secs".into(), "must be positive");
        }
        if self.leader_poll_ms == 0 {
            bad("alerts.leader_poll_ms".into(), "must be positive");
        }
        let d = &self.delivery;
        if d.max_attempts == 0 {
            bad("alerts.delivery.max_attempts".into(), "must be positive");
        }
        if d.retry_initial_ms == 0 || d.retry_initial_ms > d.retry_max_ms {
            bad(
                "alerts.delivery.retry_initial_ms".into(),
                "must be positive and not above alerts.delivery.retry_max_ms",
            );
        }
        if d.timeout_ms == 0 {
            bad("alerts.delivery.timeout_ms".into(), "must be positive");
        }
        if !(1..=1000).contains(&d.batch) {
            bad("alerts.delivery.batch".into(), "must be 1 to 1000");
        }
        if !self.alertmanager.url.is_empty() && !is_http_url(&self.alertmanager.url) {
            bad(
                "alerts.alertmanager.url".into(),
                "must be an http:// or https:// URL (or empty for off)",
            );
        }
        if self.alertmanager.repost_secs == 0 {
            bad("alerts.alertmanager.repost_secs".into(), "must be positive");
        }
        let mut names = std::collections::HashSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            let key = |field: &str| format!("alerts.webhooks[{i}].{field}");
            if w.name.is_empty() || !names.insert(w.name.as_str()) {
                bad(key("name"), "must be non-empty and unique");
            }
            if !is_http_url(&w.url) {
                bad(key("url"), "must be an http:// or https:// URL");
            }
            if secrecy::ExposeSecret::expose_secret(&w.secret).len() < 16 {
                bad(key("secret"), "must be at least 16 characters");
            }
        }
        for rule in RuleKind::ALL {
            let r = self.rules.get(rule);
            let key = |field: &str| format!("alerts.rules.{rule}.{field}");
            if let Some(t) = r.threshold {
                if !(0.0..=1.0).contains(&t) {
                    bad(key("threshold"), "must be between 0 and 1");
                }
            }
            if rule == RuleKind::LowEffectiveRate && r.threshold.is_none() {
                bad(key("threshold"), "is required for this rule");
            }
            if rule == RuleKind::EnergyReportOverdue && r.grace_days.is_none() {
                bad(key("grace_days"), "is required for this rule");
            }
            if rule == RuleKind::ClockDrift
                && !r.limit_secs.is_some_and(|l| (1..=86_400).contains(&l))
            {
                bad(key("limit_secs"), "is required for this rule, 1 to 86400");
            }
        }
        for (i, o) in self.overrides.iter().enumerate() {
            if o.park.is_empty() {
                bad(format!("alerts.overrides[{i}].park"), "must not be empty");
            }
            if o.threshold.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
                bad(
                    format!("alerts.overrides[{i}].threshold"),
                    "must be between 0 and 1",
                );
            }
        }
        p
    }
}

fn is_http_url(s: &str) -> bool {
    (s.starts_with("http://") || s.starts_with("https://")) && s.len() > "https://".len()
}

impl IngestConfig {
    /// The plausible ranges: built-in, with `value_limits` on top. Invalid overrides are
    /// reported by [`Settings::validate`]; here they fall back to the built-in ranges.
    pub fn value_limits(&self) -> ValueLimits {
        ValueLimits::with_overrides(&self.value_limits).unwrap_or_default()
    }

    /// Batch linger time.
    pub fn linger(&self) -> Duration {
        Duration::from_millis(self.linger_ms)
    }
}

/// The built-in defaults as a `config` source.
fn default_layer() -> config::File<config::FileSourceString, config::FileFormat> {
    config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml)
}

/// One overridden key (dotted path) and its value, as a `config` source of its own.
#[derive(Debug, Clone)]
struct Override(String, config::Value);

impl config::Source for Override {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        Ok(config::Map::from_iter([(self.0.clone(), self.1.clone())]))
    }
}

/// Flattens a table into (dotted path, leaf value) pairs. Arrays and empty tables are leaves.
fn leaves(
    prefix: String,
    table: config::Map<String, config::Value>,
    out: &mut Vec<(String, config::Value)>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value.kind {
            config::ValueKind::Table(t) if !t.is_empty() => leaves(path, t, out),
            _ => out.push((path, value)),
        }
    }
}

/// Applies the overrides one by one on top of the defaults, lowest layer first, and names each
/// one that makes deserialisation fail (it is then left out, so later keys are judged on their
/// own). Falls back to the merged error if no single key is to blame.
fn diagnose(
    overrides: Vec<(String, config::Value)>,
    merged: &config::ConfigError,
) -> Vec<ConfigProblem> {
    let mut accepted: Vec<Override> = Vec::new();
    let mut problems = Vec::new();
    for (key, value) in overrides {
        let candidate = Override(key, value);
        let probe = accepted
            .iter()
            .chain([&candidate])
            .fold(
                config::Config::builder().add_source(default_layer()),
                |builder, o| builder.add_source(o.clone()),
            )
            .build()
            .and_then(config::Config::try_deserialize::<Settings>);
        match probe {
            Ok(_) => accepted.push(candidate),
            Err(e) => problems.push(ConfigProblem {
                key: candidate.0,
                message: message_of(&e),
            }),
        }
    }
    if problems.is_empty() {
        problems.push(ConfigProblem {
            key: key_of(merged).unwrap_or_else(|| "(config)".into()),
            message: message_of(merged),
        });
    }
    problems
}

/// The error without the " for key `...`" the `config` crate appends (the problem names the key).
fn message_of(e: &config::ConfigError) -> String {
    match e {
        config::ConfigError::At { error, .. } => message_of(error),
        config::ConfigError::Type {
            unexpected,
            expected,
            ..
        } => format!("invalid type: {unexpected}, expected {expected}"),
        config::ConfigError::NotFound(path) => format!("missing key {}", dotted(path)),
        other => other.to_string(),
    }
}

/// `alerts.webhooks[0]url` (as the `config` crate joins a missing field's path) →
/// `alerts.webhooks[0].url`.
fn dotted(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if out.ends_with(']') && c != '[' && c != '.' {
            out.push('.');
        }
        out.push(c);
    }
    out
}

fn key_of(e: &config::ConfigError) -> Option<String> {
    match e {
        config::ConfigError::At { key, .. } | config::ConfigError::Type { key, .. } => key.clone(),
        config::ConfigError::NotFound(key) => Some(dotted(key)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    /// Flattens a TOML table into (path, leaf value) pairs. Arrays count as leaves.
    fn flatten(
        prefix: &mut Vec<String>,
        value: &toml::Value,
        out: &mut Vec<(Vec<String>, toml::Value)>,
    ) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    prefix.push(k.clone());
                    flatten(prefix, v, out);
                    prefix.pop();
                }
            }
            leaf => out.push((prefix.clone(), leaf.clone())),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load_and_validate() {
        let s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.mqtt.topic_prefix, "greenmon/v1");
        assert_eq!(s.timezone(), chrono_tz::Asia::Shanghai);
        assert!(s.database.password.is_none());
    }

    #[test]
    fn env_overrides_and_secrets_stay_strings() {
        let s = Settings::load_from(
            None,
            env(&[
                ("GREENMON__MQTT__PORT", "18830"),
                ("GREENMON__DATABASE__PASSWORD", "123456"),
                ("GREENMON__MQTT__USERNAME", "svc"),
                ("GREENMON__MQTT__PASSWORD", "hunter2"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(s.mqtt.port, 18830);
        assert_eq!(s.database.password.unwrap().expose_secret(), "123456");
        let debug = format!("{:?}", s.mqtt);
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn every_bad_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(
            &path,
            "[mqtt]\nport = \"high\"\nclinet_id = \"x\"\n[ingest]\ntimezone = \"Mars/Base\"\n[nosuch]\na = 1\n",
        )
        .unwrap();
        let err = Settings::load_from(Some(&path), env(&[("GREENMON__HTTP__LISTEN", "nope")]))
            .unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid, got {err}")
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.contains(&"mqtt.port"), "{problems:?}");
        assert!(keys.contains(&"mqtt.clinet_id"), "{problems:?}");
        assert!(keys.contains(&"nosuch.a"), "{problems:?}");
        // Type errors stop before semantic checks; fix them and the semantic ones show, all at once.
        std::fs::write(
            &path,
            "[ingest]\ntimezone = \"Mars/Base\"\nbatch_max_rows = 0\n",
        )
        .unwrap();
        let err = Settings::load_from(Some(&path), env(&[("GREENMON__HTTP__LISTEN", "nope")]))
            .unwrap_err();
        let ConfigError::Invalid(problems) = err else {
            panic!("expected Invalid")
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["ingest.batch_max_rows", "ingest.timezone", "http.listen"],
            "{problems:?}"
        );
    }

    #[test]
    fn scale_out_settings_name_their_keys() {
        let bad = [
            ("GREENMON__DATABASE__READ_URL", "replica.internal:5432"),
            ("GREENMON__MQTT__SHARE_GROUP", "a/b"),
            ("GREENMON__HJ212__MAX_CONNECTIONS", "0"),
        ];
        let Err(ConfigError::Invalid(problems)) = Settings::load_from(None, env(&bad)) else {
            panic!("expected Invalid")
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "mqtt.share_group",
                "database.read_url",
                "hj212.max_connections"
            ],
            "{problems:?}"
        );
        // The URL may carry a password: the message does not repeat it.
        assert!(
            problems.iter().all(|p| !p.message.contains("replica")),
            "{problems:?}"
        );
        let s = Settings::load_from(
            None,
            env(&[
                ("GREENMON__MQTT__SHARE_GROUP", "greenmon-1"),
                (
                    "GREENMON__DATABASE__READ_URL",
                    "postgres://ro:pw@replica:5432/greenmon",
                ),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.mqtt.subscription("p/parks/+/energy"),
            "$share/greenmon-1/p/parks/+/energy"
        );
        assert!(!format!("{:?}", s.database).contains("pw@"));
    }

    #[test]
    fn the_connection_cap_follows_the_open_file_limit() {
        let mut s = Settings::load_from(None, env(&[])).unwrap();
        assert_eq!(s.hj212.max_connections, None);
        assert_eq!(s.hj212.connection_cap(20_000), 18_976);
        assert_eq!(s.hj212.connection_cap(1024), 64);
        assert_eq!(s.mqtt.subscription("p/parks/+/energy"), "p/parks/+/energy");
        s.hj212.max_connections = Some(2000);
        assert_eq!(s.hj212.connection_cap(20_000), 2000);
    }

    #[test]
    fn http_limits_name_their_keys() {
        let bad = [
            ("GREENMON__HTTP__MAX_DB_CONNECTIONS", "0"),
            ("GREENMON__HTTP__MAX_BODY_BYTES", "10"),
            ("GREENMON__HTTP__REQUEST_TIMEOUT_SECS", "0"),
        ];
        let Err(ConfigError::Invalid(problems)) = Settings::load_from(None, env(&bad)) else {
            panic!("expected Invalid")
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "http.max_db_connections",
                "http.max_body_bytes",
                "http.request_timeout_secs"
            ],
            "{problems:?}"
        );
    }

    #[test]
    fn hj212_recovery_and_clock_limits_name_their_keys() {
        let bad = [
            ("GREENMON__HJ212__RECOVERY__SCAN_DAYS", "0"),
            ("GREENMON__HJ212__RECOVERY__SPACING_SECS", "99999999999"),
            ("GREENMON__HJ212__RECOVERY__MAX_ATTEMPTS", "0"),
            ("GREENMON__ALERTS__RULES__CLOCK_DRIFT__LIMIT_SECS", "0"),
        ];
        let Err(ConfigError::Invalid(problems)) = Settings::load_from(None, env(&bad)) else {
            panic!("expected Invalid")
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "hj212.recovery.scan_days",
                "hj212.recovery.max_attempts",
                "hj212.recovery.spacing_secs",
                "alerts.rules.clock_drift.limit_secs"
            ],
            "{problems:?}"
        );
        let Err(ConfigError::Invalid(problems)) = Settings::load_from(
            None,
            env(&[("GREENMON__HJ212__RECOVERY__NO_SUCH_KEY", "1")]),
        ) else {
            panic!("expected Invalid")
        };
        assert_eq!(
            problems[0].key, "hj212.recovery.no_such_key",
            "{problems:?}"
        );
    }

    /// The README's configuration table lists exactly the keys of config/default.toml (plus the
    /// optional ones that default to unset), with the same defaults.
    #[test]
    fn readme_table_matches_the_defaults() {
        let readme = include_str!("../README.md");
        let rows: Vec<(String, String)> = readme
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let key = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
                key.contains('.')
                    .then(|| (key.to_string(), cells[2].trim_matches('`').to_string()))
            })
            .collect();
        let table: toml::Table = toml::from_str(DEFAULT_TOML).unwrap();
        let mut defaults = Vec::new();
        flatten(&mut Vec::new(), &toml::Value::Table(table), &mut defaults);
        for (path, value) in &defaults {
            let key = path.join(".");
            let shown = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert!(
                rows.contains(&(key.clone(), shown.clone())),
                "README lacks `{key}` with default `{shown}`"
            );
        }
        let optional = [
            "database.password",
            "database.read_url",
            "hj212.max_connections",
            "mqtt.username",
            "mqtt.password",
            "mqtt.tls.ca_file",
        ];
        for (key, default) in &rows {
            let known = defaults.iter().any(|(p, _)| p.join(".") == *key);
            assert!(
                known || (optional.contains(&key.as_str()) && default == "unset"),
                "README lists unknown key {key}"
            );
        }
    }

    #[test]
    fn bad_alert_settings_name_their_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.toml");
        let keys_of = |text: &str| -> Vec<String> {
            std::fs::write(&path, text).unwrap();
            let Err(ConfigError::Invalid(problems)) = Settings::load_from(Some(&path), env(&[]))
            else {
                panic!("expected Invalid")
            };
            problems.into_iter().map(|p| p.key).collect()
        };
        let bad_rest = r#"
[[alerts.webhooks]]
name = "oncall"
url = "ftp://example"
secret = "short"

[alerts.rules.low_effective_rate]
threshold = 1.5
"#;
        // A value serde refuses is reported on its own (the rest is checked once it parses).
        assert_eq!(
            keys_of(&format!(
                "[alerts]\nescalate_severity = \"urgent\"\n{bad_rest}"
            )),
            ["alerts.escalate_severity"]
        );
        assert_eq!(
            keys_of(bad_rest),
            [
                "alerts.webhooks[0].url",
                "alerts.webhooks[0].secret",
                "alerts.rules.low_effective_rate.threshold"
            ]
        );
    }

    #[test]
    fn missing_webhook_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hook.toml");
        std::fs::write(&path, "[[alerts.webhooks]]\nname = \"a\"\nsecret = \"x\"\n").unwrap();
        let Err(ConfigError::Invalid(problems)) = Settings::load_from(Some(&path), env(&[])) else {
            panic!("expected Invalid")
        };
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "alerts.webhooks");
        assert!(
            problems[0].message.contains("alerts.webhooks[0].url"),
            "{problems:?}"
        );
    }

    #[test]
    fn syntax_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[mqtt\n").unwrap();
        let err = Settings::load_from(Some(&path), env(&[])).unwrap_err();
        assert!(err.to_string().contains("bad.toml"), "{err}");
    }

    /// Values a guessing environment layer would turn into numbers, booleans or floats, or
    /// otherwise mangle. Each must reach every string key byte for byte.
    const TRICKY: &[(&str, &str)] = &[
        ("leading zero", "0123"),
        (
            "20 digits (beyond i64, rounded through f64)",
            "12345678901234567890",
        ),
        ("exponent", "1e3"),
        ("plus sign", "+42"),
        ("negative zero", "-0"),
        ("negative", "-17"),
        ("float with trailing zero", "1.50"),
        ("hex", "0x1F"),
        ("infinity", "inf"),
        ("not a number", "NaN"),
        ("boolean", "true"),
        ("boolean, capitals", "FALSE"),
        ("yes", "yes"),
        // The empty string is a value like any other: an Option key becomes Some(""), not unset
        // (as before the config crate; an empty GREENMON__DATABASE__PASSWORD is an empty password).
        ("empty", ""),
        ("unicode", "密码ü"),
        ("spaces", "  a b  "),
        ("TOML-looking array", "[1, 2]"),
        ("comma list", "a,b"),
        ("quotes and backslash", "\"q\" 'x' \\n"),
        ("hash", "#not-a-comment"),
    ];

    /// The environment variable of a dotted key: `mqtt.tls.ca_file` → `GREENMON__MQTT__TLS__CA_FILE`.
    fn env_var(key: &str) -> String {
        format!(
            "{ENV_PREFIX}{}",
            key.replace('.', "__").to_ascii_uppercase()
        )
    }

    /// Every key whose value deserialises from a string (`String`, `SecretString`, `PathBuf`, in
    /// or out of `Option`), found by walking [`Settings`] with a deserializer that records them,
    /// so that a new string key is covered by the tests below without being listed.
    fn string_keys() -> Vec<String> {
        let found = std::cell::RefCell::new(Vec::new());
        Settings::deserialize(KeyProbe {
            path: String::new(),
            found: &found,
        })
        .expect("the key probe walks Settings");
        found.into_inner()
    }

    struct KeyProbe<'a> {
        path: String,
        found: &'a std::cell::RefCell<Vec<String>>,
    }

    type ProbeError = serde::de::value::Error;

    impl<'de> serde::Deserializer<'de> for KeyProbe<'_> {
        type Error = ProbeError;

        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, ProbeError> {
            Err(serde::de::Error::custom(format!(
                "{}: a type the key probe does not know",
                self.path
            )))
        }
        fn deserialize_bool<V: serde::de::Visitor<'de>>(
            self,
            v: V,
        ) -> Result<V::Value, ProbeError> {
            v.visit_bool(false)
        }
        fn deserialize_u8<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_u8(0)
        }
        fn deserialize_u16<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_u8(0)
        }
        fn deserialize_u32<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_u8(0)
        }
        fn deserialize_u64<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_u8(0)
        }
        fn deserialize_i8<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_u8(0)
        }
        fn deserialize_i16<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_u8(0)
        }
        fn deserialize_i32<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_u8(0)
        }
        fn deserialize_i64<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_u8(0)
        }
        fn deserialize_f32<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_f64(0.0)
        }
        fn deserialize_f64<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_f64(0.0)
        }
        fn deserialize_str<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            self.found.borrow_mut().push(self.path);
            v.visit_str("")
        }
        fn deserialize_string<V: serde::de::Visitor<'de>>(
            self,
            v: V,
        ) -> Result<V::Value, ProbeError> {
            self.deserialize_str(v)
        }
        fn deserialize_option<V: serde::de::Visitor<'de>>(
            self,
            v: V,
        ) -> Result<V::Value, ProbeError> {
            v.visit_some(self)
        }
        fn deserialize_newtype_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            v: V,
        ) -> Result<V::Value, ProbeError> {
            v.visit_newtype_struct(self)
        }
        /// Arrays (webhooks, overrides) are walked empty: their keys are not env-addressable.
        fn deserialize_seq<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_seq(serde::de::value::SeqDeserializer::<_, ProbeError>::new(
                std::iter::empty::<()>(),
            ))
        }
        /// Tables keyed by the operator (value limits) are walked empty, like arrays.
        fn deserialize_map<V: serde::de::Visitor<'de>>(self, v: V) -> Result<V::Value, ProbeError> {
            v.visit_map(serde::de::value::MapDeserializer::<_, ProbeError>::new(
                std::iter::empty::<((), ())>(),
            ))
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, ProbeError> {
            v.visit_map(ProbeFields {
                fields: fields.iter(),
                current: None,
                path: self.path,
                found: self.found,
            })
        }
        fn deserialize_enum<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            v: V,
        ) -> Result<V::Value, ProbeError> {
            v.visit_enum(serde::de::IntoDeserializer::<ProbeError>::into_deserializer(variants[0]))
        }

        serde::forward_to_deserialize_any! {
            i128 u128 char bytes byte_buf unit unit_struct tuple tuple_struct identifier
            ignored_any
        }
    }

    struct ProbeFields<'a> {
        fields: std::slice::Iter<'static, &'static str>,
        current: Option<&'static str>,
        path: String,
        found: &'a std::cell::RefCell<Vec<String>>,
    }

    impl<'de> serde::de::MapAccess<'de> for ProbeFields<'_> {
        type Error = ProbeError;

        fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, ProbeError> {
            let Some(field) = self.fields.next() else {
                return Ok(None);
            };
            self.current = Some(field);
            seed.deserialize(serde::de::IntoDeserializer::<ProbeError>::into_deserializer(*field))
                .map(Some)
        }

        fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
            &mut self,
            seed: V,
        ) -> Result<V::Value, ProbeError> {
            let field = self.current.take().expect("a key before its value");
            let path = if self.path.is_empty() {
                field.to_string()
            } else {
                format!("{}.{field}", self.path)
            };
            seed.deserialize(KeyProbe {
                path,
                found: self.found,
            })
        }
    }

    /// The value of string key `key` in `s`. A new string key fails the tests here until it is
    /// added.
    fn string_at(s: &Settings, key: &str) -> Option<String> {
        let secret = |v: &Option<SecretString>| v.as_ref().map(|p| p.expose_secret().to_string());
        match key {
            "database.host" => Some(s.database.host.clone()),
            "database.user" => Some(s.database.user.clone()),
            "database.password" => secret(&s.database.password),
            "database.dbname" => Some(s.database.dbname.clone()),
            "database.read_url" => secret(&s.database.read_url),
            "mqtt.host" => Some(s.mqtt.host.clone()),
            "mqtt.client_id" => Some(s.mqtt.client_id.clone()),
            "mqtt.username" => s.mqtt.username.clone(),
            "mqtt.password" => secret(&s.mqtt.password),
            "mqtt.topic_prefix" => Some(s.mqtt.topic_prefix.clone()),
            "mqtt.share_group" => Some(s.mqtt.share_group.clone()),
            "mqtt.tls.ca_file" => s.mqtt.tls.ca_file.as_ref().map(|p| {
                p.to_str()
                    .expect("a path set from a str is UTF-8")
                    .to_string()
            }),
            "ingest.timezone" => Some(s.ingest.timezone.clone()),
            "hj212.listen" => Some(s.hj212.listen.clone()),
            "http.listen" => Some(s.http.listen.clone()),
            "telemetry.log_format" => Some(s.telemetry.log_format.clone()),
            "telemetry.log_level" => Some(s.telemetry.log_level.clone()),
            "alerts.dashboard_url" => Some(s.alerts.dashboard_url.clone()),
            "alerts.alertmanager.url" => Some(s.alerts.alertmanager.url.clone()),
            other => panic!("string key {other} has no arm in string_at: add one"),
        }
    }

    #[test]
    fn string_keys_are_found() {
        let keys = string_keys();
        for key in [
            "database.host",
            "database.user",
            "database.password",
            "mqtt.client_id",
            "mqtt.username",
            "mqtt.password",
            "mqtt.topic_prefix",
            "mqtt.tls.ca_file",
            "alerts.alertmanager.url",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} not in {keys:?}");
        }
        assert!(!keys.iter().any(|k| k == "database.port"), "{keys:?}");
        assert!(
            !keys.iter().any(|k| k == "alerts.escalate_severity"),
            "{keys:?}"
        );
    }

    /// Every string key, set through the environment, gets the value byte for byte. (Before the
    /// config crate, `GREENMON__DATABASE__PASSWORD=0123` connected with password `123`.) Checked
    /// before `validate`, which would refuse most of these values for hosts, zones and addresses.
    #[test]
    fn every_string_key_keeps_its_env_value_byte_for_byte() {
        let mut wrong = Vec::new();
        for key in string_keys() {
            let var = env_var(&key);
            for (what, value) in TRICKY {
                match Settings::layered(None, env(&[(&var, value)])) {
                    Ok(s) => {
                        let got = string_at(&s, &key);
                        if got.as_deref() != Some(*value) {
                            wrong.push(format!("{var}={value:?} ({what}) gave {got:?}"));
                        }
                    }
                    Err(e) => wrong.push(format!("{var}={value:?} ({what}) failed: {e}")),
                }
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }

    /// The same through a `--config` file: a TOML string is a string (trivially, but in the table).
    #[test]
    fn every_string_key_keeps_its_file_value_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strings.toml");
        let mut wrong = Vec::new();
        for key in string_keys() {
            for (what, value) in TRICKY {
                let quoted = toml::Value::String(value.to_string()).to_string();
                std::fs::write(&path, format!("{key} = {quoted}\n")).unwrap();
                match Settings::layered(Some(&path), env(&[])) {
                    Ok(s) => {
                        let got = string_at(&s, &key);
                        if got.as_deref() != Some(*value) {
                            wrong.push(format!("{key} = {quoted} ({what}) gave {got:?}"));
                        }
                    }
                    Err(e) => wrong.push(format!("{key} = {quoted} ({what}) failed: {e}")),
                }
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }

    /// Webhook secrets live in the file's `[[alerts.webhooks]]`; the environment can replace one
    /// by index, `GREENMON__ALERTS__WEBHOOKS[0]__SECRET`. Either way the secret is exact.
    #[test]
    fn webhook_secrets_are_exact_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hooks.toml");
        for (what, value) in TRICKY {
            let quoted = toml::Value::String(value.to_string()).to_string();
            std::fs::write(
                &path,
                format!(
                    "[[alerts.webhooks]]\nname = \"a\"\nurl = \"https://a.example\"\nsecret = {quoted}\n"
                ),
            )
            .unwrap();
            let s = Settings::layered(Some(&path), env(&[])).unwrap();
            assert_eq!(
                s.alerts.webhooks[0].secret.expose_secret(),
                *value,
                "{what}"
            );

            std::fs::write(
                &path,
                "[[alerts.webhooks]]\nname = \"a\"\nurl = \"https://a.example\"\nsecret = \"from the file\"\n",
            )
            .unwrap();
            let s = Settings::layered(
                Some(&path),
                env(&[("GREENMON__ALERTS__WEBHOOKS[0]__SECRET", value)]),
            )
            .unwrap();
            assert_eq!(
                s.alerts.webhooks[0].secret.expose_secret(),
                *value,
                "{what}"
            );
            assert_eq!(s.alerts.webhooks[0].name, "a");
        }
    }

    /// End to end through `load_from` (with `validate`): numeric-looking passwords and user names
    /// connect as typed, and none of the secrets shows in `Debug`.
    #[test]
    fn numeric_looking_secrets_load_exactly_and_stay_redacted() {
        let s = Settings::load_from(
            None,
            env(&[
                ("GREENMON__DATABASE__PASSWORD", "0123"),
                ("GREENMON__DATABASE__USER", "007"),
                ("GREENMON__MQTT__USERNAME", "+42"),
                ("GREENMON__MQTT__PASSWORD", "12345678901234567890"),
                ("GREENMON__MQTT__CLIENT_ID", "1e3"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.database.password.as_ref().unwrap().expose_secret(),
            "0123"
        );
        assert_eq!(s.database.user, "007");
        assert_eq!(s.mqtt.username.as_deref(), Some("+42"));
        assert_eq!(
            s.mqtt.password.as_ref().unwrap().expose_secret(),
            "12345678901234567890"
        );
        assert_eq!(s.mqtt.client_id, "1e3");
        let debug = format!("{s:?}");
        assert!(!debug.contains("0123"), "{debug}");
        assert!(!debug.contains("12345678901234567890"), "{debug}");

        // Empty is a value, not "unset": an empty password, and a password without a user name.
        let s = Settings::load_from(None, env(&[("GREENMON__DATABASE__PASSWORD", "")])).unwrap();
        assert_eq!(s.database.password.as_ref().unwrap().expose_secret(), "");
        let Err(ConfigError::Invalid(problems)) =
            Settings::load_from(None, env(&[("GREENMON__MQTT__PASSWORD", "")]))
        else {
            panic!("expected Invalid")
        };
        assert_eq!(problems[0].key, "mqtt.password", "{problems:?}");
    }

    /// A numeric key converts its env string when deserialised: it parses, or the error names the
    /// key.
    #[test]
    fn numeric_env_values_parse_or_name_their_key() {
        let cases: &[(&str, Option<u16>)] = &[
            ("5433", Some(5433)),
            ("0123", Some(123)),
            ("+42", Some(42)),
            // The config crate reads true/yes/on as 1 (and false/no/off as 0) for integer keys.
            ("true", Some(1)),
            ("abc", None),
            ("70000", None),
            ("1e3", None),
            ("-0", None),
            ("-1", None),
            ("5432.0", None),
            ("12345678901234567890", None),
            (" 5432", None),
            ("", None),
        ];
        for (value, want) in cases {
            match (
                Settings::load_from(None, env(&[("GREENMON__DATABASE__PORT", value)])),
                want,
            ) {
                (Ok(s), Some(port)) => assert_eq!(s.database.port, *port, "{value:?}"),
                (Err(ConfigError::Invalid(problems)), None) => {
                    assert_eq!(problems.len(), 1, "{value:?}: {problems:?}");
                    assert_eq!(problems[0].key, "database.port", "{value:?}");
                }
                (other, _) => panic!("GREENMON__DATABASE__PORT={value:?}: {other:?}"),
            }
        }
        let Err(ConfigError::Invalid(problems)) = Settings::load_from(
            None,
            env(&[
                ("GREENMON__DATABASE__MIGRATE_ON_START", "maybe"),
                (
                    "GREENMON__ALERTS__RULES__ENERGY_REPORT_OVERDUE__GRACE_DAYS",
                    "-1",
                ),
                (
                    "GREENMON__ALERTS__RULES__LOW_EFFECTIVE_RATE__THRESHOLD",
                    "high",
                ),
                ("GREENMON__ALERTS__ESCALATE_SEVERITY", "0"),
            ]),
        ) else {
            panic!("expected Invalid")
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "database.migrate_on_start",
                "alerts.rules.energy_report_overdue.grace_days",
                "alerts.rules.low_effective_rate.threshold",
                "alerts.escalate_severity",
            ],
            "{problems:?}"
        );
        let s = Settings::load_from(
            None,
            env(&[(
                "GREENMON__ALERTS__RULES__LOW_EFFECTIVE_RATE__THRESHOLD",
                "0.75",
            )]),
        )
        .unwrap();
        assert_eq!(s.alerts.rules.low_effective_rate.threshold, Some(0.75));
    }

    /// Only `__` separates levels; single underscores stay inside key names.
    #[test]
    fn nested_env_keys_split_on_double_underscores_only() {
        let s = Settings::layered(
            None,
            env(&[
                ("GREENMON__MQTT__TLS__ENABLED", "true"),
                ("GREENMON__MQTT__TLS__CA_FILE", "/etc/greenmon/ca.pem"),
                ("GREENMON__ALERTS__RULES__POINT_OFFLINE__FOR_SECS", "60"),
                ("GREENMON__DATABASE__MAX_CONNECTIONS", "9"),
                ("GREENMON__HJ212__MAX_UNANSWERED_PER_CONNECTION", "7"),
            ]),
        )
        .unwrap();
        assert!(s.mqtt.tls.enabled);
        assert_eq!(
            s.mqtt.tls.ca_file.as_deref(),
            Some(Path::new("/etc/greenmon/ca.pem"))
        );
        assert_eq!(s.alerts.rules.point_offline.for_secs, 60);
        assert_eq!(s.database.max_connections, 9);
        assert_eq!(s.hj212.max_unanswered_per_connection, 7);

        let Err(ConfigError::Invalid(problems)) = Settings::load_from(
            None,
            env(&[
                ("GREENMON__DATABASE__PASWORD", "x"),
                ("GREENMON__MQTT_PORT", "1"),
                ("GREENMON__NOSUCH__A", "1"),
                ("GREENMON_DATABASE__HOST", "ignored: not the prefix"),
            ]),
        ) else {
            panic!("expected Invalid")
        };
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["database.pasword", "mqtt_port", "nosuch.a"],
            "{problems:?}"
        );
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, "[mqtt]\nport = 1884\nhost = \"broker\"\n").unwrap();
        let s = Settings::load_from(Some(&path), env(&[])).unwrap();
        assert_eq!((s.mqtt.port, s.mqtt.host.as_str()), (1884, "broker"));
        assert_eq!(s.mqtt.client_id, "greenmon-ingest");
        let s = Settings::load_from(Some(&path), env(&[("GREENMON__MQTT__PORT", "1885")])).unwrap();
        assert_eq!((s.mqtt.port, s.mqtt.host.as_str()), (1885, "broker"));
    }
}

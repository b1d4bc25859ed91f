//! Wiring: builds the pool, metrics and tasks, owns shutdown, and returns when everything has
//! drained.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rumqttc::AsyncClient;
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::engine::Engine;
use crate::alerts::tap::AlertTap;
use crate::api::{self, AppState};
use crate::backoff::Backoff;
use crate::broker::mqtt_options;
use crate::clock::Clock;
use crate::config::Settings;
use crate::ingest::ack;
use crate::ingest::batch::Batcher;
use crate::ingest::commit::Committer;
use crate::ingest::decode::DecodeContext;
use crate::ingest::hj212_tcp::Hj212Listener;
use crate::ingest::mqtt::MqttSource;
use crate::ingest::requester::{self, MqttDown, Requester};
use crate::store;
use crate::store::rollup::RollupWorker;
use crate::store::CommitObserver;
use crate::telemetry::Metrics;

/// A started service.
pub struct RunningApp {
    /// Where HTTP listens (useful with port 0).
    pub http_addr: SocketAddr,
    /// Where the HJ 212 TCP listener listens, when it is on.
    pub hj212_addr: Option<SocketAddr>,
    pub metrics: Metrics,
    pub pool: PgPool,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    grace: Duration,
}

impl RunningApp {
    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits for shutdown to be requested, then for every task to drain (bounded by
    /// `shutdown.grace_secs`).
    ///
    /// # Errors
    /// When draining exceeded the grace period.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        self.tracker.close();
        match tokio::time::timeout(self.grace, self.tracker.wait()).await {
            Ok(()) => {
                tracing::info!("Shut down cleanly.");
                Ok(())
            }
            Err(_) => anyhow::bail!(
                "shutdown did not finish within {} s; unacknowledged messages will be redelivered",
                self.grace.as_secs()
            ),
        }
    }
}

/// Requests rumqttc's event loop queues: subscriptions, the disconnect, messages to loggers.
const MQTT_REQUEST_QUEUE: usize = 1024;

/// Runs the service until `shutdown` completes, then drains.
///
/// # Errors
/// Start-up failures (HTTP port in use, unreadable TLS CA) and a shutdown past its deadline.
pub async fn run(settings: Settings, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let app = start(settings).await?;
    let token = app.shutdown_token();
    tokio::select! {
        () = shutdown => {
            tracing::info!("Shutdown requested; flushing.");
            token.cancel();
        }
        () = token.cancelled() => {}
    }
    app.wait().await
}

/// Starts every task and returns at once.
///
/// # Errors
/// When the HTTP listener cannot bind or the broker options are invalid.
pub async fn start(settings: Settings) -> anyhow::Result<RunningApp> {
    start_with(settings, Clock::System).await
}

/// [`start`] with the alert engine and rollup worker on `clock` (tests pass a manual one).
///
/// # Errors
/// As [`start`].
pub async fn start_with(settings: Settings, clock: Clock) -> anyhow::Result<RunningApp> {
    let open_files = crate::ingest::hj212_tcp::raise_open_file_limit();
    let metrics = Metrics::new();
    let pool = store::pool(&settings.database);
    let shutdown = CancellationToken::new();
    let tracker = TaskTracker::new();
    let connected = Arc::new(AtomicBool::new(false));

    // HTTP first, so /healthz and /readyz answer while the rest comes up.
    let listener = tokio::net::TcpListener::bind(settings.http_addr())
        .await
        .with_context(|| format!("binding http.listen {}", settings.http.listen))?;
    let http_addr = listener.local_addr()?;
    // The API has a pool of its own, so slow API queries cannot take the connections ingest
    // commits with.
    let http_db = crate::config::DatabaseConfig {
        max_connections: settings.http.max_db_connections,
        ..settings.database.clone()
    };
    let http_pool = store::pool(&http_db);
    let router = api::router(AppState {
        // A replica's (database.read_url) when set, else the API's own pool on the primary.
        read: store::read_pool(&settings.database, settings.http.max_db_connections)?
            .unwrap_or_else(|| http_pool.clone()),
        pool: http_pool,
        metrics: metrics.clone(),
        http_metrics: crate::telemetry::HttpMetrics::register(&metrics.registry),
        broker_connected: connected.clone(),
        tz: settings.timezone(),
        limits: api::QueryLimits {
            raw_max_hours: settings.http.raw_max_hours,
            max_range_days: settings.http.max_range_days,
            max_body_bytes: settings.http.max_body_bytes,
            request_timeout: Duration::from_secs(settings.http.request_timeout_secs),
        },
    });
    let http_shutdown = shutdown.clone();
    tracker.spawn(async move {
        let serve = axum::serve(listener, router)
            .with_graceful_shutdown(async move { http_shutdown.cancelled().await });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "HTTP server failed.");
        }
    });
    tracing::info!(%http_addr, "HTTP listening.");

    // Migrations before ingest: retried until the database is reachable.
    if settings.database.migrate_on_start {
        migrate_with_retry(&pool, &settings, &shutdown).await?;
    }

    let mut opts = mqtt_options(&settings.mqtt, &settings.mqtt.client_id, false)?;
    opts.set_manual_acks(true);
    // rumqttc's own request queue carries subscriptions, the disconnect and the requester's
    // messages to loggers (it drops those when full); PUBACKs take a queue of their own.
    let (client, eventloop) = AsyncClient::new(opts, MQTT_REQUEST_QUEUE);
    let (ack_sender, ack_ledger) = ack::channel(settings.ingest.ack_queue, metrics.clone());
    // One bounded queue per source (docs/operations.md, "Queues and limits"): a source that
    // finds its queue full waits.
    let (in_tx, in_rx) = mpsc::channel(settings.ingest.queue);
    let (tcp_tx, tcp_rx) = mpsc::channel(settings.ingest.queue);
    let (batch_tx, batch_rx) = mpsc::channel(settings.ingest.parallel_commits);
    let drained = CancellationToken::new();
    let drained_for_rollup = drained.clone();

    // The requester asks loggers for missing hours and keeps their clocks: over their TCP
    // connections, or over MQTT for loggers that bridge HJ 212 there.
    let (events_tx, events_rx) = mpsc::channel(requester::EVENT_QUEUE);
    let requester = Requester {
        pool: pool.clone(),
        cfg: settings.hj212.recovery.clone(),
        tz: settings.timezone(),
        metrics: metrics.clone(),
        clock_limit: settings
            .alerts
            .rules
            .clock_drift
            .limit_secs
            .and_then(|s| chrono::TimeDelta::try_seconds(i64::try_from(s).ok()?)),
        mqtt: MqttDown {
            client: client.clone(),
            prefix: settings.mqtt.topic_prefix.clone(),
        },
    };
    tracker.spawn(requester.run(events_rx, shutdown.clone()));
    let hj212_addr = if settings.hj212.listen.is_empty() {
        None
    } else {
        let listener = Hj212Listener::bind(settings.hj212.clone(), tcp_tx, metrics.clone())
            .await
            .with_context(|| format!("binding hj212.listen {}", settings.hj212.listen))?
            .with_requester(events_tx.clone());
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "HJ 212 TCP listener up.");
        tracker.spawn(listener.run(open_files, shutdown.clone()));
        Some(addr)
    };

    let source = MqttSource {
        eventloop,
        client,
        acks: ack_ledger,
        cfg: settings.mqtt.clone(),
        metrics: metrics.clone(),
        connected,
    };
    tracker.spawn(source.run(in_tx, shutdown.clone(), drained.clone()));
    let batcher = Batcher {
        ctx: DecodeContext {
            topic_prefix: settings.mqtt.topic_prefix.clone(),
            timezone: settings.timezone(),
            max_payload_bytes: settings.ingest.max_payload_bytes,
            max_future_secs: settings.ingest.max_future_secs,
            limits: Arc::new(settings.ingest.value_limits()),
        },
        max_rows: settings.ingest.batch_max_rows,
        linger: settings.ingest.linger(),
    };
    tracker.spawn(batcher.run(vec![in_rx, tcp_rx], batch_tx));
    let tap = settings
        .alerts
        .enabled
        .then(|| Arc::new(AlertTap::new(pool.clone(), metrics.clone())));
    if let Some(tap) = &tap {
        // One announcer for the fast path, fed by a bounded queue; it ends once ingest drained.
        tracker.spawn(tap.clone().announce_until(drained.clone()));
        tracker.spawn(tap.clone().refresh(
            Duration::from_secs(settings.alerts.evaluate_interval_secs),
            shutdown.clone(),
        ));
        let engine = Engine {
            pool: pool.clone(),
            connect: store::connect_options(&settings.database),
            cfg: Arc::new(settings.alerts.clone()),
            tz: settings.timezone(),
            metrics: metrics.clone(),
            tap: tap.clone(),
            http: reqwest::Client::new(),
            clock: clock.clone(),
        };
        tracker.spawn(engine.run(shutdown.clone()));
    }
    let committer = Committer {
        pool: pool.clone(),
        acks: ack_sender,
        metrics: metrics.clone(),
        retry_initial: Duration::from_millis(settings.ingest.retry_initial_ms),
        retry_max: Duration::from_millis(settings.ingest.retry_max_ms),
        split_timeout: Duration::from_secs(settings.hj212.split_timeout_secs),
        parallel: settings.ingest.parallel_commits,
        observer: tap.map(|t| t as Arc<dyn CommitObserver>),
        requester: events_tx,
        bridged: std::sync::Mutex::default(),
    };
    tracker.spawn(async move {
        committer.run(batch_rx).await;
        drained.cancel();
    });
    // Folds the readings ingest pends into the hourly rollups (a no-op on TimescaleDB). It stops
    // after the committer has drained, so its last fold takes the last batches too.
    let rollup = RollupWorker {
        pool: pool.clone(),
        interval: settings.rollup.fold_interval(),
        metrics: metrics.clone(),
        clock,
    };
    tracker.spawn(rollup.run(drained_for_rollup));

    Ok(RunningApp {
        http_addr,
        hj212_addr,
        metrics,
        pool,
        shutdown,
        tracker,
        grace: Duration::from_secs(settings.shutdown.grace_secs),
    })
}

async fn migrate_with_retry(
    pool: &PgPool,
    settings: &Settings,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let mut backoff = Backoff::new(
        Duration::from_millis(settings.ingest.retry_initial_ms),
        Duration::from_millis(settings.ingest.retry_max_ms),
    );
    loop {
        match store::migrate(pool).await {
            Ok(backend) => {
                tracing::info!(%backend, "Database migrated.");
                return Ok(());
            }
            Err(e) if e.is_retriable() => {
                let delay = backoff.next_delay();
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "Cannot migrate the database; retrying.");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = shutdown.cancelled() => return Ok(()),
                }
            }
            // A migration that was edited after it was applied, or one this binary does not
            // know: retrying cannot help, and running on the wrong schema would be worse.
            Err(e) => return Err(anyhow::anyhow!(e).context("migrating the database")),
        }
    }
}

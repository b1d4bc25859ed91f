//! greenmon: a green-development compliance monitor for industrial parks.
//!
//! Modules from the top down; dependencies point down this list, never up. The `greenmon`
//! binary (`src/main.rs`) only parses the command line and hands over to [`cli`].
//! - [`cli`]: the commands (clap) and their handlers, one file per command group.
//! - [`app`]: wiring and graceful shutdown.
//! - [`api`]: HTTP: the `/api/v1` API with park-scoped tokens, the park portal, health, metrics.
//! - [`bulletin`]: the monthly bulletin and annual assessment: HTML with SVG charts, PDF by
//!   headless Chromium.
//! - [`alerts`]: rules → lifecycle → outbox → notifiers (Alertmanager, webhooks).
//! - [`compliance`]: monitoring rate, data-validity rates, exceedances, energy-intensity path.
//! - [`ingest`]: MQTT and HJ 212 over TCP → decode → batch → commit → ack, losing nothing.
//! - [`simulate`]: a publisher of realistic demo and load data.
//! - [`broker`]: MQTT client options (credentials, TLS) for ingest and the simulator.
//! - [`store`]: PostgreSQL pool, migrations, batch writes, quarantine, registry import.
//! - [`telemetry`]: tracing set-up and the per-instance Prometheus registry.
//! - [`config`]: layered settings (built-in defaults, file, environment), validated up front.
//! - [`domain`]: ids, pollutant codes, HJ 212 flags, periods, readings, alert vocabulary,
//!   plausibility limits, the registry file.
//! - [`backoff`]: jittered exponential retry delays, shared by every retrying path (a leaf).
//! - [`clock`]: the alert engine's and rollup worker's time source, manual in tests (a leaf).
//!
//! The HJ 212 data-logger protocol codec (pure) is the `hj212` crate (`crates/hj212`), below
//! all of these.

pub mod alerts;
pub mod api;
pub mod app;
pub mod backoff;
pub mod broker;
pub mod bulletin;
pub mod cli;
pub mod clock;
pub mod compliance;
pub mod config;
pub mod domain;
pub mod ingest;
pub mod simulate;
pub mod store;
pub mod telemetry;

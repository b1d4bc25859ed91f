//! greenmon: a green-development compliance monitor for industrial parks.
//!
//! Modules in data-flow order, from the `greenmon` binary (`src/main.rs`: parse the command line,
//! load the settings, start logging) down:
//! - [`cli`]: the commands (clap) and their handlers, one file per command group.
//! - [`app`]: wiring and graceful shutdown.
//! - [`config`]: layered settings (built-in defaults, file, environment), validated up front.
//! - [`domain`]: ids, pollutant codes, HJ 212 flags, periods, readings, the registry file.
//! - [`hj212`]: the HJ 212 data-logger protocol codec (pure).
//! - [`ingest`]: MQTT → decode → batch → commit → ack, losing nothing.
//! - [`store`]: PostgreSQL pool, migrations, batch writes, quarantine, registry import.
//! - [`compliance`]: monitoring rate, data-validity rates, exceedances, energy-intensity path.
//! - [`api`]: HTTP: the `/api/v1` API with park-scoped tokens, the park portal, health, metrics.
//! - [`telemetry`]: tracing set-up and the per-instance Prometheus registry.
//! - [`simulate`]: a publisher of realistic demo and load data.

pub mod alerts;
pub mod api;
pub mod app;
pub mod cli;
pub mod compliance;
pub mod config;
pub mod domain;
pub mod hj212;
pub mod ingest;
pub mod simulate;
pub mod store;
pub mod telemetry;

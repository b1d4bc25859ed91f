//! greenmon: a green-development compliance monitor for industrial parks.
//!
//! Modules in data-flow order:
//! - [`config`]: layered settings (built-in defaults, file, environment), validated up front.
//! - [`domain`]: ids, pollutant codes, HJ 212 flags, periods, readings, the registry file.
//! - The HJ 212 data-logger protocol codec (pure) is the `hj212` crate (`crates/hj212`).
//! - [`ingest`]: MQTT → decode → batch → commit → ack, losing nothing.
//! - [`store`]: PostgreSQL pool, migrations, batch writes, quarantine, registry import.
//! - [`compliance`]: monitoring rate, data-validity rates, exceedances, energy-intensity path.
//! - [`api`]: HTTP: the `/api/v1` API with park-scoped tokens, the park portal, health, metrics.
//! - [`telemetry`]: tracing set-up and the per-instance Prometheus registry.
//! - [`app`]: wiring and graceful shutdown.
//! - [`backoff`]: jittered exponential retry delays, shared by every retrying path (a leaf).
//! - [`simulate`]: a publisher of realistic demo and load data.

pub mod alerts;
pub mod api;
pub mod app;
pub mod backoff;
pub mod compliance;
pub mod config;
pub mod domain;
pub mod ingest;
pub mod simulate;
pub mod store;
pub mod telemetry;

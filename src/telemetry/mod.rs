//! Logging (tracing) and metrics (one prometheus registry per app instance).

mod metrics;

pub use metrics::Metrics;

use crate::config::TelemetryConfig;

/// Installs the global tracing subscriber: text or JSON lines on stderr. `RUST_LOG` overrides
/// the configured filter.
///
/// # Errors
/// When a subscriber is already installed or the filter is invalid.
pub fn init_tracing(cfg: &TelemetryConfig) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cfg.log_level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if cfg.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

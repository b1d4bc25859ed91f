//! Logging (tracing) and metrics (one prometheus registry per app instance).

mod http;
mod metrics;

use std::io::IsTerminal;

pub use http::{HttpMetrics, AUTH_FAILURE_REASONS};
pub use metrics::Metrics;

use crate::config::TelemetryConfig;

/// Installs the global tracing subscriber: text or JSON lines on stderr. `RUST_LOG` overrides
/// the configured filter. Text is coloured only when stderr is a terminal (and `NO_COLOR` is unset), so a log file or a
/// journal gets no ANSI escape codes. JSON is one object per line: `timestamp`, `level`,
/// `target`, `fields` (`message` and the event's fields), `span` and `spans` (the current span
/// and its parents, each with its `name` and fields); see docs/operations.md.
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
        builder
            .json()
            .with_ansi(false)
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder.with_ansi(colour_stderr()).try_init()
    };
    result.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

/// Whether text logs get ANSI colours: only on a terminal, and not when `NO_COLOR` is set
/// (<https://no-color.org>).
fn colour_stderr() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

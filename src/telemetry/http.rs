//! Metrics of the HTTP API, registered in the app's [`Registry`](prometheus::Registry) next to
//! the others. Labels stay bounded: the authentication failure reasons are a fixed set.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

pub const HTTP_AUTH_FAILURES: &str = "greenmon_http_auth_failures_total";
pub const HTTP_PANICS: &str = "greenmon_http_panics_total";
pub const HTTP_PARK_FAILURES: &str = "greenmon_http_park_failures_total";

/// Why a request was refused authentication: the values of the `reason` label.
pub const AUTH_FAILURE_REASONS: [&str; 5] =
    ["missing", "malformed", "unknown", "revoked", "expired"];

/// The HTTP API's counters.
#[derive(Clone)]
pub struct HttpMetrics {
    /// Refused bearer tokens, by reason (one of [`AUTH_FAILURE_REASONS`]).
    pub auth_failures: IntCounterVec,
    /// Handlers that panicked; each answered a JSON 500.
    pub panics: IntCounter,
    /// Parks whose figures could not be computed in a multi-park answer (marked erroneous in
    /// it; the other parks were answered).
    pub park_failures: IntCounter,
}

impl HttpMetrics {
    /// Creates the counters and registers them in `registry`.
    ///
    /// # Panics
    /// When called twice on one registry (the names would not be unique): `app::start` calls it
    /// once per app.
    pub fn register(registry: &Registry) -> Self {
        let auth_failures = IntCounterVec::new(
            Opts::new(
                HTTP_AUTH_FAILURES,
                "API requests refused authentication, by reason (missing, malformed, unknown, \
                 revoked, expired).",
            ),
            &["reason"],
        )
        .expect("valid metric name");
        for reason in AUTH_FAILURE_REASONS {
            // Every series exists from the start, at 0, so rates and alerts see it.
            auth_failures.with_label_values(&[reason]);
        }
        let panics = IntCounter::new(
            HTTP_PANICS,
            "HTTP handlers that panicked; each answered a JSON 500 and logged the panic.",
        )
        .expect("valid metric name");
        let park_failures = IntCounter::new(
            HTTP_PARK_FAILURES,
            "Parks whose figures could not be computed in a multi-park API answer; the other parks \
             were answered.",
        )
        .expect("valid metric name");
        for m in [
            Box::new(auth_failures.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(panics.clone()),
            Box::new(park_failures.clone()),
        ] {
            registry.register(m).expect("unique metric name");
        }
        Self {
            auth_failures,
            panics,
            park_failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_every_reason_at_zero() {
        let registry = Registry::new();
        let m = HttpMetrics::register(&registry);
        m.auth_failures.with_label_values(&["expired"]).inc();
        let families = registry.gather();
        let auth = families
            .iter()
            .find(|f| f.name() == HTTP_AUTH_FAILURES)
            .unwrap();
        assert_eq!(auth.get_metric().len(), AUTH_FAILURE_REASONS.len());
        assert!(families.iter().any(|f| f.name() == HTTP_PANICS));
    }
}

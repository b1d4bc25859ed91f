//! HTTP: `/healthz`, `/readyz` and `/metrics`.

mod health;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use sqlx::PgPool;

use crate::telemetry::Metrics;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub metrics: Metrics,
    /// True while the MQTT source is connected to the broker.
    pub broker_connected: Arc<AtomicBool>,
}

/// The router of every endpoint.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(state)
}

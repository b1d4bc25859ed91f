//! HTTP: `/healthz`, `/readyz`, `/metrics`, the API under `/api/v1` (bearer tokens, park
//! isolation, OpenAPI document) and the park portal at `/portal`.

mod alerts;
mod compliance;
mod energy_reports;
pub mod error;
mod extract;
mod health;
pub mod openapi;
mod parks;
mod portal;
mod readings;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use chrono_tz::Tz;
use sqlx::PgPool;

use crate::telemetry::Metrics;

/// Bounds of API queries (from `[http]`).
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Ranges up to this many hours are served raw; longer ones from hourly rollups.
    pub raw_max_hours: i64,
    /// Longest range of any query.
    pub max_range_days: i64,
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub metrics: Metrics,
    /// True while the MQTT source is connected to the broker.
    pub broker_connected: Arc<AtomicBool>,
    /// Local zone of calendar days (`ingest.timezone`).
    pub tz: Tz,
    pub limits: QueryLimits,
}

/// The router of every endpoint.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/portal", get(portal::page))
        .nest("/api/v1", api_v1())
        .with_state(state)
}

/// `/api/v1`; every route is a row of [`openapi::OPERATIONS`].
fn api_v1() -> Router<AppState> {
    Router::new()
        .route(
            "/openapi.json",
            get(|| async { axum::Json(openapi::document()) }),
        )
        .route("/compliance", get(compliance::summary))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{id}", get(alerts::get))
        .route("/alerts/{id}/ack", axum::routing::post(alerts::ack))
        .route("/parks", get(parks::list))
        .route("/parks/{park}", get(parks::get).put(parks::put))
        .route("/parks/{park}/points", get(parks::points))
        .route("/parks/{park}/points/{point}/readings", get(readings::get))
        .route("/parks/{park}/compliance", get(compliance::now))
        .route("/parks/{park}/compliance/rates", get(compliance::rates))
        .route("/parks/{park}/exceedances", get(compliance::exceedances))
        .route("/parks/{park}/energy", get(compliance::energy))
        .route(
            "/parks/{park}/energy-reports",
            get(energy_reports::list).post(energy_reports::submit),
        )
        .fallback(|| async { error::ApiError::NotFound("no such API endpoint".into()) })
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
}

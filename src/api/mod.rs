//! HTTP: `/healthz`, `/readyz`, `/metrics`, the API under `/api/v1` (bearer tokens, park
//! isolation, OpenAPI document) and the park portal at `/portal`.
//!
//! Every answer passes through [`harden`]: a request body limit, a timeout, a catch-panic
//! layer, and a last layer that turns any error answer that is not yet JSON (axum's own
//! rejections, unknown paths, the layers' answers) into the API's `{error, message}`.

mod alerts;
mod bulletins;
mod compliance;
mod energy_reports;
pub mod error;
mod extract;
mod harden;
mod health;
mod hj212;
pub mod openapi;
mod params;
mod parks;
mod portal;
mod readings;
mod review;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Router};
use chrono_tz::Tz;
use sqlx::PgPool;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use harden::harden;

use crate::telemetry::{HttpMetrics, Metrics};

/// Bounds of API requests (from `[http]`).
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Ranges up to this many hours are served raw; longer ones from hourly rollups.
    pub raw_max_hours: i64,
    /// Longest range of any query.
    pub max_range_days: i64,
    /// Largest request body (`http.max_body_bytes`).
    pub max_body_bytes: usize,
    /// Longest a request may take (`http.request_timeout_secs`).
    pub request_timeout: Duration,
}

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The API's own pool (`http.max_db_connections`) on the primary, apart from ingest's: for
    /// writes, the reads that precede a write, authentication and `/readyz`.
    pub pool: PgPool,
    /// The pool of the read-only queries (as many connections): a replica's when
    /// `database.read_url` is set, else the primary's.
    pub read: PgPool,
    pub metrics: Metrics,
    /// The API's counters, registered in `metrics.registry`.
    pub http_metrics: HttpMetrics,
    /// True while the MQTT source is connected to the broker.
    pub broker_connected: Arc<AtomicBool>,
    /// Local zone of calendar days (`ingest.timezone`).
    pub tz: Tz,
    pub limits: QueryLimits,
}

/// The router of every endpoint.
pub fn router(state: AppState) -> Router {
    let limits = state.limits;
    let metrics = state.http_metrics.clone();
    let router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/portal", get(portal::page))
        .nest("/api/v1", api_v1().0)
        .fallback(|| async { error::ApiError::NotFound("no such path".into()) })
        .with_state(state);
    harden(router, limits, metrics)
}

/// `/api/v1` and its OpenAPI document. Every route is added with `routes!`, which documents it
/// in the same call (see [`openapi`]).
fn api_v1() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, paths) = OpenApiRouter::<AppState>::new()
        .routes(routes!(openapi::serve))
        .routes(routes!(compliance::summary))
        .routes(routes!(alerts::list))
        .routes(routes!(alerts::get))
        .routes(routes!(alerts::ack))
        .routes(routes!(parks::list))
        .routes(routes!(parks::get, parks::put))
        .routes(routes!(parks::points))
        .routes(routes!(readings::get))
        .routes(routes!(compliance::now))
        .routes(routes!(compliance::rates))
        .routes(routes!(compliance::exceedances))
        .routes(routes!(compliance::energy))
        .routes(routes!(compliance::monthly_report))
        .routes(routes!(bulletins::bureau))
        .routes(routes!(bulletins::park))
        .routes(routes!(energy_reports::list, energy_reports::submit))
        .routes(routes!(review::list_park))
        .routes(routes!(review::list_point, review::add))
        .routes(routes!(review::withdraw))
        .routes(routes!(hj212::list))
        .split_for_parts();
    let doc = openapi::with_common_errors(openapi::ApiDoc::openapi().nest("/api/v1", paths));
    let router = router
        .layer(Extension(Arc::new(doc.clone())))
        .fallback(|| async { error::ApiError::NotFound("no such API endpoint".into()) })
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed });
    (router, doc)
}

//! HJ 212 requests over HTTP: what greenmon asked the data loggers (history to recover missing
//! hours, clock reads and settings) and what came of it. A park token sees its own park's
//! requests only. The requests themselves are made by `ingest::requester` and
//! `greenmon hj212 recover`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Query};
use super::{params, AppState};
use crate::store::hj212::{list_requests, RequestRow};

/// Filters of the request list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// One park.
    pub park: Option<String>,
    /// One monitoring point.
    pub point: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Requests to loggers, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Hj212RequestList {
    pub requests: Vec<RequestRow>,
}

/// `GET /api/v1/hj212/requests`.
#[utoipa::path(
    get,
    path = "/hj212/requests",
    operation_id = "list_hj212_requests",
    tag = "hj212",
    summary = "Requests greenmon sent to HJ 212 data loggers (gap recovery, clocks), newest first",
    description = "Each request with its range, status (queued, sent, recovered, no_data, rejected, failed, timed_out, done), the logger's answers and the readings recovered. A park token sees its own park's only.",
    params(RequestsQuery),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The matching requests", body = Hj212RequestList),
        (status = 400, description = "Malformed query string, or a malformed `park` or `point`", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "`park` is another park's (park tokens)", body = ErrorBody),
        (status = 422, description = "A limit outside 1 to 1000", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<RequestsQuery>,
) -> Result<axum::Json<Hj212RequestList>, ApiError> {
    let limit = params::list_limit(q.limit)?;
    if let Some(p) = &q.park {
        caller.may_read(p)?;
    }
    if let Some(p) = &q.point {
        params::point(p)?;
    }
    // A park token lists its own park, whatever else it asks.
    let park = caller.scope().map(str::to_string).or(q.park);
    let requests = list_requests(&state.pool, park.as_deref(), q.point.as_deref(), limit).await?;
    Ok(axum::Json(Hj212RequestList { requests }))
}

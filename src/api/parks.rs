//! Parks and their points: list, one park, its points with status and limits, and (bureau only)
//! creating or updating a park with its points, limits and baseline through the registry import.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{not_found_park, Caller, Json, Path};
use super::AppState;
use crate::compliance::service::{self, PointNow};
use crate::domain::registry::{ParkEntry, RegistryFile};
use crate::store::api_queries::{self, LimitRow};
use crate::store::compliance::{self as q, ParkRow};
use crate::store::{self, StoreError};

/// The park, when it exists and the caller may read it.
///
/// # Errors
/// 404 for a park unknown or not the caller's; database errors.
pub async fn visible_park(
    state: &AppState,
    caller: &Caller,
    park: &str,
) -> Result<ParkRow, ApiError> {
    caller.may_read(park)?;
    q::parks(&state.pool, Some(park))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found_park(park))
}

/// The parks a token may read.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParkList {
    pub parks: Vec<ParkRow>,
    /// Parks that could not be read (left out of `parks`; the cause is logged). Empty normally.
    pub errors: Vec<ParkFailure>,
}

/// A park a multi-park answer could not compute or read.
#[derive(Debug, Serialize, ToSchema)]
pub struct ParkFailure {
    pub park_id: String,
    /// What could not be done (the cause is logged, not sent).
    pub error: String,
}

/// `GET /api/v1/parks`: every park the caller may read.
#[utoipa::path(
    get,
    path = "/parks",
    operation_id = "list_parks",
    tag = "parks",
    summary = "Parks the token may read",
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "Every park for the bureau, its own for a park token; a park that cannot be read is listed in `errors`", body = ParkList),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<ParkList>, ApiError> {
    let (parks, errors) = match q::parks(&state.read, caller.scope()).await {
        Ok(parks) => (parks, Vec::new()),
        Err(e) if e.is_retriable() => return Err(e.into()),
        // One park's row must not hide the others: read them one by one.
        Err(e) => {
            tracing::warn!(error = %e, "The parks could not be read together; reading them one by one.");
            parks_one_by_one(&state, caller.scope()).await?
        }
    };
    Ok(axum::Json(ParkList { parks, errors }))
}

/// Every park (or `scope`'s), each read on its own; those that fail are counted, logged with
/// their id, and returned as failures.
async fn parks_one_by_one(
    state: &AppState,
    scope: Option<&str>,
) -> Result<(Vec<ParkRow>, Vec<ParkFailure>), ApiError> {
    let (mut parks, mut errors) = (Vec::new(), Vec::new());
    for id in api_queries::park_ids(&state.read, scope).await? {
        match q::parks(&state.read, Some(&id)).await {
            Ok(rows) => parks.extend(rows),
            Err(e) if e.is_retriable() => return Err(e.into()),
            Err(e) => {
                tracing::error!(park = %id, error = %e, "A park's row could not be read; it is left out of the list.");
                state.http_metrics.park_failures.inc();
                errors.push(ParkFailure {
                    park_id: id,
                    error: "this park could not be read; the cause is logged".into(),
                });
            }
        }
    }
    Ok((parks, errors))
}

/// `GET /api/v1/parks/{park}`.
#[utoipa::path(
    get,
    path = "/parks/{park}",
    operation_id = "get_park",
    tag = "parks",
    summary = "A park with its energy baseline and target",
    params(("park" = String, Path, description = "Park id")),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The park", body = ParkRow),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
) -> Result<axum::Json<ParkRow>, ApiError> {
    Ok(axum::Json(visible_park(&state, &caller, &park).await?))
}

/// A point with its status now and its discharge limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointView {
    #[serde(flatten)]
    pub point: PointNow,
    pub limits: Vec<LimitRow>,
}

/// A park's points.
#[derive(Debug, Serialize, ToSchema)]
pub struct PointList {
    pub park_id: String,
    pub points: Vec<PointView>,
}

/// `GET /api/v1/parks/{park}/points`: each point's status now, with its limits.
#[utoipa::path(
    get,
    path = "/parks/{park}/points",
    operation_id = "list_points",
    tag = "parks",
    summary = "The park's points with their status now and their discharge limits",
    params(("park" = String, Path, description = "Park id")),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The park's points", body = PointList),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn points(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
) -> Result<axum::Json<PointList>, ApiError> {
    visible_park(&state, &caller, &park).await?;
    let (now, limits) = tokio::try_join!(
        service::parks_now(&state.read, Some(&park), Utc::now()),
        api_queries::limits(&state.read, &park),
    )?;
    let points: Vec<PointView> = now
        .into_iter()
        .flat_map(|p| p.points)
        .map(|point| PointView {
            limits: limits
                .iter()
                .filter(|l| l.point_id == point.point_id)
                .cloned()
                .collect(),
            point,
        })
        .collect();
    Ok(axum::Json(PointList {
        park_id: park,
        points,
    }))
}

/// `PUT /api/v1/parks/{park}` (bureau): creates or updates the park, its points, their limits
/// and its baseline, exactly as `greenmon registry import` does for one park.
#[utoipa::path(
    put,
    path = "/parks/{park}",
    operation_id = "put_park",
    tag = "parks",
    summary = "Create or update a park with its points, limits and baseline (registry entry)",
    description = "Bureau tokens only. The body is one park of the registry file (see `greenmon registry import`), as JSON; its `id` must be the path's park.",
    params(("park" = String, Path, description = "Park id")),
    request_body = ParkEntry,
    security(("bearer" = [])),
    extensions(("x-access" = json!("bureau"))),
    responses(
        (status = 200, description = "The park existed and was updated", body = ParkRow),
        (status = 201, description = "The park was created", body = ParkRow),
        (status = 400, description = "Malformed JSON, or a malformed park id", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 403, description = "Park tokens may not change the registry", body = ErrorBody),
        (status = 404, description = "Another park's (park tokens)", body = ErrorBody),
        (status = 409, description = "An MN in the request is used by another point", body = ErrorBody),
        (status = 422, description = "Unknown fields, wrong types, a NUL character, or registry problems", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
    Json(entry): Json<ParkEntry>,
) -> Result<(StatusCode, axum::Json<ParkRow>), ApiError> {
    // Another park's resource is a 404 for a park token, as everywhere; its own park a 403.
    caller.may_read(&park)?;
    caller.require_bureau("change the registry")?;
    if entry.id != park {
        return Err(ApiError::Unprocessable(format!(
            "body id {:?} differs from the path's park {park:?}",
            entry.id
        )));
    }
    let registry = RegistryFile { parks: vec![entry] }
        .validate()
        .map_err(|problems| ApiError::Unprocessable(problems.join("; ")))?;
    let existed = !q::parks(&state.pool, Some(&park)).await?.is_empty();
    store::registry::import(&state.pool, &registry, state.tz)
        .await
        .map_err(registry_conflict)?;
    let row = q::parks(&state.pool, Some(&park))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| not_found_park(&park))?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(row)))
}

/// Unique violations of the registry (an MN another point uses) are the client's conflict; a
/// retirement not after the commissioning (in the service's zone) is an invalid value.
fn registry_conflict(e: StoreError) -> ApiError {
    if e.is_unique_violation("monitoring_points_mn_key") {
        ApiError::Conflict("an MN in the request is used by another point".into())
    } else if e.is_check_violation("monitoring_points_retired_after_since") {
        ApiError::Unprocessable("a point's retired_at must be after its monitored_since".into())
    } else {
        e.into()
    }
}

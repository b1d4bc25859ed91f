//! Validity review marks over HTTP: a park's marks (a park token sees its own park's only), a
//! point's marks, and the bureau's creation and withdrawal. Every change is kept in
//! `review_mark_events` (`store::review`); the effect on the data rates is in
//! `compliance::rates`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path};
use super::{params, AppState};
use crate::domain::{check_mark, ReviewKind};
use crate::store::api_queries;
use crate::store::review::{self as q, NewMark, ReviewMarkRow, Withdrawal};

/// Longest reason, and longest author name.
const MAX_REASON_CHARS: usize = 2000;
const MAX_BY_CHARS: usize = 200;

/// Review marks, newest first, withdrawn ones included.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewMarkList {
    pub marks: Vec<ReviewMarkRow>,
}

/// One review mark.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewMarkAnswer {
    pub mark: ReviewMarkRow,
}

/// Body of a new mark.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReviewMark {
    /// A pollutant code or alias; absent: the whole point.
    pub pollutant: Option<String>,
    /// Start (RFC 3339).
    pub from: DateTime<Utc>,
    /// End, exclusive (RFC 3339).
    pub to: DateTime<Utc>,
    pub kind: ReviewKind,
    /// Why (1 to 2,000 characters).
    pub reason: String,
    /// Who marks (1 to 200 characters).
    pub by: String,
}

/// Body of a withdrawal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawReviewMark {
    /// Who withdraws (1 to 200 characters).
    pub by: String,
    /// Why (1 to 2,000 characters).
    pub reason: String,
}

fn check_texts(reason: &str, by: &str) -> Result<(), ApiError> {
    params::text("reason", reason, MAX_REASON_CHARS)?;
    params::text("by", by, MAX_BY_CHARS)
}

/// The point's park must be `park`, and the caller may read it.
async fn visible_point(
    state: &AppState,
    caller: &Caller,
    park: &str,
    point: &str,
) -> Result<(), ApiError> {
    caller.may_read(park)?;
    params::point(point)?;
    if api_queries::point_park(&state.pool, point)
        .await?
        .as_deref()
        != Some(park)
    {
        return Err(ApiError::NotFound(format!(
            "point {point:?} not found in park {park:?}"
        )));
    }
    Ok(())
}

/// `GET /api/v1/parks/{park}/review-marks`.
#[utoipa::path(
    get,
    path = "/parks/{park}/review-marks",
    operation_id = "list_park_review_marks",
    tag = "review",
    summary = "Validity review marks on a park's points, newest first (withdrawn ones included)",
    params(("park" = String, Path, description = "Park id")),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The park's marks", body = ReviewMarkList),
        (status = 400, description = "A malformed park id", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn list_park(
    State(state): State<AppState>,
    caller: Caller,
    Path(park): Path<String>,
) -> Result<axum::Json<ReviewMarkList>, ApiError> {
    caller.may_read(&park)?;
    if api_queries::park_ids(&state.read, Some(&park))
        .await?
        .is_empty()
    {
        return Err(super::extract::not_found_park(&park));
    }
    let marks = q::list(&state.read, Some(&park), None).await?;
    Ok(axum::Json(ReviewMarkList { marks }))
}

/// `GET /api/v1/parks/{park}/points/{point}/review-marks`.
#[utoipa::path(
    get,
    path = "/parks/{park}/points/{point}/review-marks",
    operation_id = "list_point_review_marks",
    tag = "review",
    summary = "Validity review marks on a point, newest first (withdrawn ones included)",
    params(
        ("park" = String, Path, description = "Park id"),
        ("point" = String, Path, description = "Monitoring point id"),
    ),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The point's marks", body = ReviewMarkList),
        (status = 400, description = "A malformed park or point id", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park or point, or another park's (park tokens)", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn list_point(
    State(state): State<AppState>,
    caller: Caller,
    Path((park, point)): Path<(String, String)>,
) -> Result<axum::Json<ReviewMarkList>, ApiError> {
    visible_point(&state, &caller, &park, &point).await?;
    let marks = q::list(&state.read, Some(&park), Some(&point)).await?;
    Ok(axum::Json(ReviewMarkList { marks }))
}

/// `POST /api/v1/parks/{park}/points/{point}/review-marks`.
#[utoipa::path(
    post,
    path = "/parks/{park}/points/{point}/review-marks",
    operation_id = "add_review_mark",
    tag = "review",
    summary = "Mark a point, or one of its pollutants, over a time range",
    description = "Bureau tokens only. maintenance and calibration excuse the hours they cover wholly (not owed); fault and invalid make the data in them invalid.",
    params(
        ("park" = String, Path, description = "Park id"),
        ("point" = String, Path, description = "Monitoring point id"),
    ),
    request_body = NewReviewMark,
    security(("bearer" = [])),
    extensions(("x-access" = json!("bureau"))),
    responses(
        (status = 201, description = "The mark, stored with its `created` event", body = ReviewMarkAnswer),
        (status = 400, description = "Malformed JSON, or a malformed park or point id", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 403, description = "Park tokens may not mark", body = ErrorBody),
        (status = 404, description = "Unknown park or point, or another park's (park tokens)", body = ErrorBody),
        (status = 422, description = "Unknown fields or kind, an unknown pollutant, an empty or reversed range, an empty reason or author", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path((park, point)): Path<(String, String)>,
    Json(body): Json<NewReviewMark>,
) -> Result<(StatusCode, axum::Json<ReviewMarkAnswer>), ApiError> {
    visible_point(&state, &caller, &park, &point).await?;
    caller.require_bureau("mark data for review")?;
    let (reason, by) = (body.reason.trim(), body.by.trim());
    check_texts(reason, by)?;
    let code = check_mark(body.pollutant.as_deref(), body.from, body.to, reason, by)
        .map_err(ApiError::Unprocessable)?;
    let mark = NewMark {
        point_id: &point,
        pollutant: code.as_deref(),
        starts_at: body.from,
        ends_at: body.to,
        kind: body.kind,
        reason,
        by,
    };
    let mark = q::add(&state.pool, &mark)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("point {point:?} not found")))?;
    Ok((StatusCode::CREATED, axum::Json(ReviewMarkAnswer { mark })))
}

/// `POST /api/v1/parks/{park}/review-marks/{id}/withdraw`.
#[utoipa::path(
    post,
    path = "/parks/{park}/review-marks/{id}/withdraw",
    operation_id = "withdraw_review_mark",
    tag = "review",
    summary = "Withdraw a review mark: it stays on record and no longer affects the figures",
    description = "Bureau tokens only.",
    params(
        ("park" = String, Path, description = "Park id"),
        ("id" = i64, Path, description = "Review mark id"),
    ),
    request_body = WithdrawReviewMark,
    security(("bearer" = [])),
    extensions(("x-access" = json!("bureau"))),
    responses(
        (status = 200, description = "The mark, withdrawn", body = ReviewMarkAnswer),
        (status = 400, description = "Malformed JSON, a malformed park id, or an id that is not a positive integer", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 403, description = "Park tokens may not withdraw marks", body = ErrorBody),
        (status = 404, description = "Unknown mark, or another park's (park tokens)", body = ErrorBody),
        (status = 409, description = "Already withdrawn", body = ErrorBody),
        (status = 422, description = "Unknown fields, an empty reason or author", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Path((park, id)): Path<(String, String)>,
    Json(body): Json<WithdrawReviewMark>,
) -> Result<axum::Json<ReviewMarkAnswer>, ApiError> {
    caller.may_read(&park)?;
    let id = match id.parse::<i64>() {
        Ok(id) if id > 0 => id,
        _ => {
            return Err(ApiError::BadRequest(
                "`id` must be a positive integer (a review mark id)".into(),
            ))
        }
    };
    caller.require_bureau("withdraw review marks")?;
    let (reason, by) = (body.reason.trim(), body.by.trim());
    check_texts(reason, by)?;
    if reason.is_empty() || by.is_empty() {
        return Err(ApiError::Unprocessable(
            "`by` and `reason` must not be empty".into(),
        ));
    }
    match q::withdraw(&state.pool, id, Some(&park), by, reason).await? {
        Withdrawal::Withdrawn(mark) => Ok(axum::Json(ReviewMarkAnswer { mark })),
        Withdrawal::AlreadyWithdrawn(m) => Err(ApiError::Conflict(format!(
            "review mark {id} was already withdrawn by {} at {}",
            m.withdrawn_by.unwrap_or_default(),
            m.withdrawn_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        ))),
        Withdrawal::NotFound => Err(ApiError::NotFound(format!(
            "review mark {id} not found in park {park:?}"
        ))),
    }
}

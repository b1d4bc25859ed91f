//! Alerts over HTTP: list and filter (a park token sees its own park's only), one alert with its
//! history, and acknowledgement (bureau tokens only). The lifecycle itself is the alert engine's
//! (`crate::alerts`); these handlers read and acknowledge through `store::alerts`.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{Caller, Json, Path, Query};
use super::AppState;
use crate::alerts::RuleKind;
use crate::store::alerts::{self as q, AckOutcome, AlertFilter, AlertRow, STATE_FILTERS};

/// Filters of the alert list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// open (default: pending or firing), pending, firing, resolved or all.
    pub state: Option<String>,
    pub park: Option<String>,
    pub rule: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// `GET /api/v1/alerts`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let wanted = q.state.unwrap_or_else(|| "open".into());
    if !STATE_FILTERS.contains(&wanted.as_str()) {
        return Err(ApiError::Unprocessable(format!(
            "state must be one of {}, not {wanted:?}",
            STATE_FILTERS.join(", ")
        )));
    }
    if let Some(r) = &q.rule {
        RuleKind::from_name(r).map_err(ApiError::Unprocessable)?;
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Unprocessable("limit must be 1 to 1000".into()));
    }
    // A park token lists its own park; asking for another is the same 404 as elsewhere.
    if let Some(p) = &q.park {
        caller.may_read(p)?;
    }
    let park = caller.scope().map(str::to_string).or(q.park);
    let filter = AlertFilter {
        state: (wanted != "all").then_some(wanted),
        park,
        rule: q.rule,
        limit,
    };
    let alerts = q::list(&state.pool, &filter).await?;
    Ok(axum::Json(json!({ "alerts": alerts })))
}

/// The alert, if the caller may see it (another park's is the same 404 as a missing one).
async fn visible_alert(state: &AppState, caller: &Caller, id: i64) -> Result<AlertRow, ApiError> {
    let not_found = || ApiError::NotFound(format!("alert {id} not found"));
    let alert = q::get(&state.pool, id).await?.ok_or_else(not_found)?;
    if caller.scope().is_some_and(|p| p != alert.park_id) {
        return Err(not_found());
    }
    Ok(alert)
}

/// `GET /api/v1/alerts/{id}`: the alert and its history.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<axum::Json<Value>, ApiError> {
    let alert = visible_alert(&state, &caller, id).await?;
    let events = q::events(&state.pool, id).await?;
    Ok(axum::Json(json!({ "alert": alert, "events": events })))
}

/// Body of an acknowledgement.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// Who acknowledges (name or on-call handle).
    pub by: String,
    pub comment: Option<String>,
}

/// `POST /api/v1/alerts/{id}/ack`: stops re-notification and escalation (bureau tokens).
pub async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<AckBody>,
) -> Result<axum::Json<Value>, ApiError> {
    visible_alert(&state, &caller, id).await?;
    caller.require_bureau("acknowledge alerts")?;
    let by = body.by.trim();
    if by.is_empty() || by.len() > 200 {
        return Err(ApiError::Unprocessable(
            "by must name who acknowledges (1 to 200 characters)".into(),
        ));
    }
    match q::acknowledge(&state.pool, id, by, body.comment.as_deref()).await? {
        AckOutcome::Acknowledged(alert) => Ok(axum::Json(json!({ "alert": alert }))),
        AckOutcome::AlreadyAcknowledged(a) => Err(ApiError::Conflict(format!(
            "alert {id} was already acknowledged by {} at {}",
            a.acked_by.unwrap_or_default(),
            a.acked_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        ))),
        AckOutcome::Resolved(_) => Err(ApiError::Conflict(format!(
            "alert {id} is resolved; nothing to acknowledge"
        ))),
        AckOutcome::NotFound => Err(ApiError::NotFound(format!("alert {id} not found"))),
    }
}

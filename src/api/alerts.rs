//! Alerts over HTTP: list and filter (a park token sees its own park's only), one alert with its
//! history, and acknowledgement (bureau tokens only). The lifecycle itself is the alert engine's
//! (the `alerts` module); these handlers read and acknowledge through `store::alerts`.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Json, Path, Query};
use super::{params, AppState};
use crate::domain::alert::RuleKind;
use crate::store::alerts::{self as q, AckOutcome, AlertFilter, AlertRow, EventRow, STATE_FILTERS};

/// Filters of the alert list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// open (default: pending or firing), pending, firing, resolved or all.
    pub state: Option<String>,
    /// One park.
    pub park: Option<String>,
    /// One rule, e.g. `point_offline`.
    pub rule: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Alerts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertList {
    pub alerts: Vec<AlertRow>,
}

/// `GET /api/v1/alerts`.
#[utoipa::path(
    get,
    path = "/alerts",
    operation_id = "list_alerts",
    tag = "alerts",
    summary = "Alerts, newest first (a park token sees its own park's only)",
    params(ListQuery),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The matching alerts", body = AlertList),
        (status = 400, description = "Malformed query string, or a malformed `park`, `state` or `rule`", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "`park` is another park's (park tokens)", body = ErrorBody),
        (status = 422, description = "Unknown state or rule, or a limit outside 1 to 1000", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<AlertList>, ApiError> {
    let wanted = q.state.unwrap_or_else(|| "open".into());
    // Names are short lowercase words; anything else is malformed, and not echoed back.
    let word = |v: &str| {
        !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    };
    for (name, value) in [("state", Some(&wanted)), ("rule", q.rule.as_ref())] {
        if value.is_some_and(|v| !word(v)) {
            return Err(ApiError::BadRequest(format!(
                "`{name}` must be a name of lowercase letters and '_'"
            )));
        }
    }
    if !STATE_FILTERS.contains(&wanted.as_str()) {
        return Err(ApiError::Unprocessable(format!(
            "state must be one of {}, not {wanted:?}",
            STATE_FILTERS.join(", ")
        )));
    }
    if let Some(r) = &q.rule {
        RuleKind::from_name(r).map_err(ApiError::Unprocessable)?;
    }
    let limit = params::list_limit(q.limit)?;
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
    let alerts = q::list(&state.read, &filter).await?;
    Ok(axum::Json(AlertList { alerts }))
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

/// An alert with its history.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertDetail {
    pub alert: AlertRow,
    /// Transitions and acknowledgements, oldest first.
    pub events: Vec<EventRow>,
}

/// `GET /api/v1/alerts/{id}`: the alert and its history.
#[utoipa::path(
    get,
    path = "/alerts/{id}",
    operation_id = "get_alert",
    tag = "alerts",
    summary = "An alert with its history (transitions and acknowledgements)",
    params(("id" = i64, Path, description = "Alert id")),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The alert and its events", body = AlertDetail),
        (status = 400, description = "An id that is not a positive integer", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown alert, or another park's (park tokens)", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<AlertDetail>, ApiError> {
    let id = params::alert_id(&id)?;
    let alert = visible_alert(&state, &caller, id).await?;
    let events = q::events(&state.read, id).await?;
    Ok(axum::Json(AlertDetail { alert, events }))
}

/// Body of an acknowledgement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Ack)]
pub struct AckBody {
    /// Who acknowledges (name or on-call handle), 1 to 200 characters.
    pub by: String,
    /// At most 2,000 characters.
    pub comment: Option<String>,
}

/// Longest acknowledgement comment.
const MAX_COMMENT_CHARS: usize = 2000;

/// The acknowledged alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct Acknowledged {
    pub alert: AlertRow,
}

/// `POST /api/v1/alerts/{id}/ack`: stops re-notification and escalation (bureau tokens).
#[utoipa::path(
    post,
    path = "/alerts/{id}/ack",
    operation_id = "ack_alert",
    tag = "alerts",
    summary = "Acknowledge an alert: no more re-notification or escalation; it still resolves by itself",
    description = "Bureau tokens only.",
    params(("id" = i64, Path, description = "Alert id")),
    request_body = AckBody,
    security(("bearer" = [])),
    extensions(("x-access" = json!("bureau"))),
    responses(
        (status = 200, description = "The alert, acknowledged", body = Acknowledged),
        (status = 400, description = "An id that is not a positive integer, or malformed JSON", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 403, description = "Park tokens may not acknowledge alerts", body = ErrorBody),
        (status = 404, description = "Unknown alert, or another park's (park tokens)", body = ErrorBody),
        (status = 409, description = "Already acknowledged, or resolved", body = ErrorBody),
        (status = 422, description = "Unknown fields, an empty or too long `by`, a too long `comment`, or control characters", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn ack(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<AckBody>,
) -> Result<axum::Json<Acknowledged>, ApiError> {
    let id = params::alert_id(&id)?;
    visible_alert(&state, &caller, id).await?;
    caller.require_bureau("acknowledge alerts")?;
    let by = body.by.trim();
    if by.is_empty() || by.len() > 200 {
        return Err(ApiError::Unprocessable(
            "by must name who acknowledges (1 to 200 characters)".into(),
        ));
    }
    params::text("by", by, 200)?;
    if let Some(c) = &body.comment {
        params::text("comment", c, MAX_COMMENT_CHARS)?;
    }
    match q::acknowledge(&state.pool, id, by, body.comment.as_deref()).await? {
        AckOutcome::Acknowledged(alert) => Ok(axum::Json(Acknowledged { alert })),
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

//! The monthly bulletin over HTTP: the whole bulletin for the bureau, and each park's own page
//! of it for that park (the portal shows it). JSON carries the exact figures; HTML
//! (`Accept: text/html` or `?format=html`) is the same self-contained document
//! `greenmon bulletin` writes.

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, Path, Query};
use super::parks::visible_park;
use super::{params, AppState};
use crate::bulletin::lang::Lang;
use crate::bulletin::model::{self, Bulletin};
use crate::bulletin::page;
use crate::compliance::service::Basis;

/// The bulletin's options.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BulletinQuery {
    /// `json` (the default) or `html`; `Accept: text/html` asks for HTML too.
    pub format: Option<String>,
    /// Language of the HTML: `zh` (the default) or `en`.
    pub lang: Option<String>,
    /// Effective transmission rate a required point must reach to count as monitored (0 to 1;
    /// default 0.9).
    pub threshold: Option<f64>,
    /// Reproduce the month as it was known at this time (RFC 3339; default: now).
    pub as_of: Option<DateTime<Utc>>,
}

/// What the path, the query and the `Accept` header ask for.
struct Wanted {
    first_day: NaiveDate,
    threshold: f64,
    at: Basis,
    html: bool,
    lang: Lang,
}

fn wanted(month: &str, q: &BulletinQuery, headers: &HeaderMap) -> Result<Wanted, ApiError> {
    let first_day = params::month(month)?;
    let threshold = params::threshold(q.threshold)?;
    let at = params::as_of(q.as_of, Utc::now())?;
    let html = match q.format.as_deref() {
        Some("html") => true,
        Some("json") => false,
        Some(_) => return Err(ApiError::BadRequest("`format` must be json or html".into())),
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html")),
    };
    let lang = match q.lang.as_deref() {
        None | Some("zh") => Lang::Zh,
        Some("en") => Lang::En,
        Some(_) => return Err(ApiError::BadRequest("`lang` must be zh or en".into())),
    };
    Ok(Wanted {
        first_day,
        threshold,
        at,
        html,
        lang,
    })
}

/// The bulletin as JSON, or as the HTML document.
fn answer(state: &AppState, b: Bulletin, w: &Wanted) -> Response {
    if w.html {
        (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                // Self-contained: nothing to load, no script to run.
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
                ),
            ],
            page::render(&b, w.lang, state.tz),
        )
            .into_response()
    } else {
        axum::Json(b).into_response()
    }
}

/// `GET /api/v1/bulletins/{month}`: the month's bulletin (bureau only).
#[utoipa::path(
    get,
    path = "/bulletins/{month}",
    operation_id = "get_bulletin",
    tag = "bulletins",
    summary = "The monthly bulletin: the month in short, rankings, and a page per park",
    description = "JSON with exact figures, or the self-contained HTML document (`Accept: text/html` or `format=html`) that `greenmon bulletin` writes. Bureau tokens only; a park gets its own page at `/parks/{park}/bulletins/{month}`.",
    params(("month" = String, Path, description = "Local calendar month, YYYY-MM"), BulletinQuery),
    security(("bearer" = [])),
    extensions(("x-access" = json!("bureau"))),
    responses(
        (status = 200, description = "The bulletin, with what its figures cover (`evaluated`)", content(
            (Bulletin = "application/json"),
            (String = "text/html"),
        )),
        (status = 400, description = "Malformed query string or month, `format` or `lang` not one of theirs, or a time outside 2000 to 2100", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 403, description = "A park token", body = ErrorBody),
        (status = 422, description = "A threshold outside 0 to 1, or `as_of` in the future", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn bureau(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(month): Path<String>,
    Query(q): Query<BulletinQuery>,
) -> Result<Response, ApiError> {
    caller.require_bureau("read the whole bulletin")?;
    let w = wanted(&month, &q, &headers)?;
    let b = model::monthly(&state.pool, state.tz, None, w.first_day, w.threshold, w.at).await?;
    Ok(answer(&state, b, &w))
}

/// `GET /api/v1/parks/{park}/bulletins/{month}`: the park's own page of the bulletin.
#[utoipa::path(
    get,
    path = "/parks/{park}/bulletins/{month}",
    operation_id = "get_park_bulletin",
    tag = "bulletins",
    summary = "A park's page of the monthly bulletin",
    description = "The park's page only: no other park's figures, no rankings. JSON, or HTML with `Accept: text/html` or `format=html`.",
    params(
        ("park" = String, Path, description = "Park id"),
        ("month" = String, Path, description = "Local calendar month, YYYY-MM"),
        BulletinQuery
    ),
    security(("bearer" = [])),
    extensions(("x-access" = json!("park_scoped"))),
    responses(
        (status = 200, description = "The bulletin holding the park's page alone", content(
            (Bulletin = "application/json"),
            (String = "text/html"),
        )),
        (status = 400, description = "Malformed query string, park id or month, `format` or `lang` not one of theirs, or a time outside 2000 to 2100", body = ErrorBody),
        (status = 401, description = "No token, or an unknown, revoked or expired one", body = ErrorBody),
        (status = 404, description = "Unknown park, or another park's (park tokens)", body = ErrorBody),
        (status = 422, description = "A threshold outside 0 to 1, or `as_of` in the future", body = ErrorBody),
        (status = 500, description = "Database failure", body = ErrorBody),
    )
)]
pub async fn park(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path((park, month)): Path<(String, String)>,
    Query(q): Query<BulletinQuery>,
) -> Result<Response, ApiError> {
    let w = wanted(&month, &q, &headers)?;
    visible_park(&state, &caller, &park).await?;
    let b = model::monthly(
        &state.pool,
        state.tz,
        Some(&park),
        w.first_day,
        w.threshold,
        w.at,
    )
    .await?;
    Ok(answer(&state, b, &w))
}

//! The one error type of the HTTP API. Every error answers JSON `{error, message}`: `error` is a
//! stable code, `message` says what to fix. Internal causes are logged here and never sent.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::store::StoreError;

/// The body of every error answer, and its schema (`ApiError`) in the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ApiError)]
pub struct ErrorBody {
    /// Stable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `unsupported_media_type`,
    /// `unprocessable`, `internal` or `unavailable`.
    pub error: &'static str,
    /// What went wrong and what to fix.
    pub message: String,
}

/// An API failure, each variant with its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (query string, path, JSON syntax).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, or an unknown or revoked one.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 403: the token may see the resource but not do this (a park changing the registry).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource, or one of another park (never revealed to a park token).
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists, the method does not.
    #[error("this method is not allowed here")]
    MethodNotAllowed,
    /// 409: the change conflicts with another row (an MN already used by another point).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than `http.max_body_bytes`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: a JSON body without `Content-Type: application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid values (a range too long, a bad period, registry problems).
    #[error("{0}")]
    Unprocessable(String),
    /// 500: a database failure; the cause is logged, not sent. 503 when the failure is
    /// transient (the database unreachable, the API's pool exhausted).
    #[error("internal error")]
    Internal(#[from] StoreError),
    /// 503: the database is unreachable or the request took longer than
    /// `http.request_timeout_secs`.
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    /// The stable code in the `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Internal(e) if e.is_retriable() => "unavailable",
            ApiError::Internal(_) => "internal",
            ApiError::Unavailable(_) => "unavailable",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            // The database unreachable or the API's pool exhausted: worth a retry.
            ApiError::Internal(e) if e.is_retriable() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The error of an axum rejection, by its status: 413, 415, 422 or 400.
    fn from_rejection(status: StatusCode, text: String) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
                "the request body is larger than the limit (http.max_body_bytes bytes): {text}"
            )),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(text),
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(text),
            _ => ApiError::BadRequest(text),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal(e) if e.is_retriable() => {
                tracing::warn!(error = %e, "API request failed; the database is busy or unreachable.");
                "the database is busy or unreachable; retry shortly".to_string()
            }
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "API request failed.");
                self.to_string()
            }
            _ => self.to_string(),
        };
        let mut res = error_response(self.status(), self.code(), message);
        if matches!(self, ApiError::Unauthorized) {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

/// A JSON error answer.
pub fn error_response(status: StatusCode, code: &'static str, message: String) -> Response {
    (
        status,
        Json(ErrorBody {
            error: code,
            message,
        }),
    )
        .into_response()
}

/// The `error` code of a status that no [`ApiError`] produced (axum's own answers, the
/// tower-http layers).
pub fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::from_rejection(e.status(), e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::from_rejection(e.status(), e.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError::from_rejection(e.status(), e.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        ApiError::from_rejection(e.status(), e.body_text())
    }
}

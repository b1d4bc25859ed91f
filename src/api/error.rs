//! The one error type of the HTTP API. Every error answers JSON `{error, message}`: `error` is a
//! stable code, `message` says what to fix. Internal causes are logged here and never sent.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
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
    /// `method_not_allowed`, `conflict`, `unprocessable` or `internal`.
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
    /// 422: well-formed but invalid values (a range too long, a bad period, registry problems).
    #[error("{0}")]
    Unprocessable(String),
    /// 500: a database failure; the cause is logged, not sent.
    #[error("internal error")]
    Internal(#[from] StoreError),
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
            ApiError::Unprocessable(_) => "unprocessable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error = %e, "API request failed.");
        }
        let mut res = (
            self.status(),
            Json(ErrorBody {
                error: self.code(),
                message: self.to_string(),
            }),
        )
            .into_response();
        if matches!(self, ApiError::Unauthorized) {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::BadRequest(e.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        match e {
            JsonRejection::JsonDataError(d) => ApiError::Unprocessable(d.body_text()),
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

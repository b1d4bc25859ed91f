//! Extractors whose rejections are [`ApiError`]s, so a malformed path, query or body answers the
//! API's JSON error shape instead of axum's plain text; and [`Caller`], the authenticated token.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::store::tokens::{self, TokenRole};

/// `axum::extract::Query` answering [`ApiError::BadRequest`].
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(v) =
            axum::extract::Query::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// `axum::extract::Path` answering [`ApiError::BadRequest`].
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(v) = axum::extract::Path::from_request_parts(parts, state).await?;
        Ok(Self(v))
    }
}

/// `axum::Json` answering [`ApiError::BadRequest`] (syntax) or [`ApiError::Unprocessable`]
/// (shape).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::from_request(req, state).await?;
        Ok(Self(v))
    }
}

/// The holder of a live bearer token. The token itself is hashed and dropped here: it is never
/// logged or kept.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: TokenRole,
}

impl Caller {
    /// Succeeds when the caller may read `park`; a park token asking for another park gets the
    /// same 404 as for a park that does not exist.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub fn may_read(&self, park: &str) -> Result<(), ApiError> {
        match &self.role {
            TokenRole::Park(own) if own != park => Err(not_found_park(park)),
            _ => Ok(()),
        }
    }

    /// The park a park token is confined to; `None` for the bureau.
    pub fn scope(&self) -> Option<&str> {
        match &self.role {
            TokenRole::Bureau => None,
            TokenRole::Park(p) => Some(p),
        }
    }

    /// Succeeds for bureau tokens.
    ///
    /// # Errors
    /// [`ApiError::Forbidden`] for park tokens.
    pub fn require_bureau(&self, what: &str) -> Result<(), ApiError> {
        match self.role {
            TokenRole::Bureau => Ok(()),
            TokenRole::Park(_) => Err(ApiError::Forbidden(format!(
                "only bureau tokens may {what}"
            ))),
        }
    }
}

/// The 404 of a park that is unknown or not the caller's.
pub fn not_found_park(park: &str) -> ApiError {
    ApiError::NotFound(format!("park {park:?} not found"))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        match tokens::authenticate(&state.pool, token).await? {
            Some(role) => Ok(Self { role }),
            None => Err(ApiError::Unauthorized),
        }
    }
}

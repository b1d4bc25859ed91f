//! Extractors whose rejections are [`ApiError`]s, so a malformed path, query or body answers the
//! API's JSON error shape instead of axum's plain text; and [`Caller`], the authenticated token.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use super::{params, AppState};
use crate::store::tokens::{self, Authentication, TokenRole};

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

/// `axum::Json` answering [`ApiError::BadRequest`] (syntax), [`ApiError::UnsupportedMediaType`]
/// (no JSON content type), [`ApiError::PayloadTooLarge`] or [`ApiError::Unprocessable`] (shape,
/// with the path of the field, or a NUL character in any string, which PostgreSQL refuses).
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<Value>::from_request(req, state).await?;
        if let Some(at) = nul_at(&value, String::new()) {
            return Err(ApiError::Unprocessable(format!(
                "`{at}` must not contain a NUL character"
            )));
        }
        serde_path_to_error::deserialize(value)
            .map(Self)
            .map_err(|e| match e.path().to_string().as_str() {
                "." => ApiError::Unprocessable(e.inner().to_string()),
                at => ApiError::Unprocessable(format!("`{at}`: {}", e.inner())),
            })
    }
}

/// The path (`points[0].name`) of the first string or key holding a NUL character.
fn nul_at(value: &Value, at: String) -> Option<String> {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(if at.is_empty() { ".".into() } else { at }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_at(v, format!("{at}[{i}]"))),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join("(a key)"))
            } else {
                nul_at(v, join(k))
            }
        }),
        _ => None,
    }
}

/// The raw body, answering [`ApiError::PayloadTooLarge`] beyond `http.max_body_bytes`.
pub struct Body(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(axum::body::Bytes::from_request(req, state).await?))
    }
}

/// The holder of a live bearer token. The token itself is hashed and dropped here: it is never
/// logged or kept.
#[derive(Debug, Clone)]
pub struct Caller {
    pub role: TokenRole,
}

impl Caller {
    /// Succeeds when `park` is a well-formed park id and the caller may read it; a park token
    /// asking for another park gets the same 404 as for a park that does not exist.
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for a malformed id (before any lookup), [`ApiError::NotFound`].
    pub fn may_read(&self, park: &str) -> Result<(), ApiError> {
        params::park(park)?;
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
        // Counted by a bounded reason; the token itself is never logged.
        let refuse = |reason: &'static str| {
            state
                .http_metrics
                .auth_failures
                .with_label_values(&[reason])
                .inc();
            ApiError::Unauthorized
        };
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Err(refuse("missing"));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| refuse("malformed"))?;
        match tokens::authenticate(&state.pool, token).await? {
            Authentication::Live { role, .. } => Ok(Self { role }),
            other => Err(refuse(other.failure_reason().unwrap_or("unknown"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_paths() {
        let v: Value =
            serde_json::json!({"id": "a", "points": [{"name": "ok"}, {"name": "b\u{0}"}]});
        assert_eq!(nul_at(&v, String::new()).as_deref(), Some("points[1].name"));
        let v: Value = serde_json::json!({"a\u{0}": 1});
        assert_eq!(nul_at(&v, String::new()).as_deref(), Some("(a key)"));
        assert_eq!(
            nul_at(&serde_json::json!("\u{0}"), String::new()).as_deref(),
            Some(".")
        );
        assert_eq!(
            nul_at(&serde_json::json!({"a": ["x", 1, null]}), String::new()),
            None
        );
    }
}

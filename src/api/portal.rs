//! The park portal: one static page (HTML and plain JavaScript) that asks for the park's token,
//! keeps it in `sessionStorage`, and draws the park's compliance from the API. Everything it
//! shows comes through `/api/v1` with that token, so it shows exactly what the token may read.

use axum::http::header;
use axum::response::IntoResponse;

const PAGE: &str = include_str!("portal.html");

/// `GET /portal`.
pub async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page loads nothing from elsewhere and is never framed.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 img-src 'self' data:; frame-ancestors 'none'",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
}

//! The layers every HTTP answer passes through, outermost first:
//!
//! 1. catch-panic: a handler that panics answers a JSON 500, counts
//!    `greenmon_http_panics_total` and logs the panic; the connection is never dropped;
//! 2. JSON errors: an error answer that is not JSON yet (axum's own rejections, an unknown path
//!    or method, the layers below) gets the API's `{error, message}` body, keeping its status
//!    and headers (`Allow`, `WWW-Authenticate`);
//! 3. a timeout (`http.request_timeout_secs`): 503, the handler's future (and its query) dropped;
//! 4. the request body limit (`http.max_body_bytes`): 413, whether the body announces its length
//!    or not.

use std::any::Any;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{middleware, Router};
use prometheus::IntCounter;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::error::{code_of, error_response};
use super::QueryLimits;
use crate::telemetry::HttpMetrics;

/// Wraps `router` (with its state) in the layers above.
pub fn harden(router: Router, limits: QueryLimits, metrics: HttpMetrics) -> Router {
    router
        // axum's extractors have a limit of their own (2 MiB); make it the configured one.
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(middleware::map_response_with_state(limits, json_errors))
        .layer(CatchPanicLayer::custom(panic_answer(metrics.panics)))
}

/// Whether an answer already has a JSON body.
fn is_json(res: &Response) -> bool {
    res.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Gives an error answer that is not JSON the API's `{error, message}` body.
async fn json_errors(State(limits): State<QueryLimits>, res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&res) {
        return res;
    }
    let (parts, body) = res.into_parts();
    // axum's rejections say what was wrong in a short text; keep it as the message.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => format!(
            "the request body is larger than http.max_body_bytes ({} bytes)",
            limits.max_body_bytes
        ),
        StatusCode::SERVICE_UNAVAILABLE => format!(
            "no answer within http.request_timeout_secs ({:?}); ask for less, or retry later",
            limits.request_timeout
        ),
        StatusCode::NOT_FOUND if text.is_empty() => "no such path".to_string(),
        StatusCode::METHOD_NOT_ALLOWED if text.is_empty() => {
            "this method is not allowed here".to_string()
        }
        // Never a cause that was not meant for the client.
        s if s.is_server_error() => "internal error".to_string(),
        _ if !text.is_empty() => text,
        s => s.canonical_reason().unwrap_or("error").to_lowercase(),
    };
    let mut answer = error_response(status, code_of(status), message);
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            answer.headers_mut().append(name.clone(), value.clone());
        }
    }
    answer
}

/// The answer of a panicked handler: counted, logged, a JSON 500.
fn panic_answer(panics: IntCounter) -> impl Fn(Box<dyn Any + Send + 'static>) -> Response + Clone {
    move |payload| {
        panics.inc();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        tracing::error!(panic = %what, "An HTTP handler panicked; answered 500.");
        error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error".to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::{get, post};
    use serde_json::Value;
    use tower::ServiceExt;

    use super::*;

    fn limits() -> QueryLimits {
        QueryLimits {
            raw_max_hours: 48,
            max_range_days: 366,
            max_body_bytes: 1024,
            request_timeout: Duration::from_millis(200),
        }
    }

    fn app(metrics: &HttpMetrics) -> Router {
        let router = Router::new()
            .route(
                "/panic",
                get(|| async {
                    // The kind of bug the layer is the last resort for.
                    let ids: Vec<u8> = std::hint::black_box(Vec::new());
                    ids.first().copied().expect("a handler bug").to_string()
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "late"
                }),
            )
            .route("/echo", post(|body: axum::body::Bytes| async move { body }));
        harden(router, limits(), metrics.clone())
    }

    async fn call(app: Router, req: Request<Body>) -> (StatusCode, Value, Response) {
        let res = app.oneshot(req).await.unwrap();
        let status = res.status();
        assert!(is_json(&res), "{status}: {:?}", res.headers());
        let (parts, body) = res.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        assert!(
            value["error"].is_string() && value["message"].is_string(),
            "{value}"
        );
        (status, value, Response::from_parts(parts, Body::empty()))
    }

    fn registry() -> HttpMetrics {
        HttpMetrics::register(&prometheus::Registry::new())
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_json_500_and_is_counted() {
        let metrics = registry();
        for _ in 0..2 {
            let req = Request::get("/panic").body(Body::empty()).unwrap();
            let (status, body, _) = call(app(&metrics), req).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(body["error"], "internal");
            assert!(!body.to_string().contains("handler bug"), "{body}");
        }
        assert_eq!(metrics.panics.get(), 2);
    }

    #[tokio::test]
    async fn a_slow_handler_answers_json_503() {
        let req = Request::get("/slow").body(Body::empty()).unwrap();
        let (status, body, _) = call(app(&registry()), req).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"], "unavailable");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("request_timeout_secs"));
    }

    #[tokio::test]
    async fn axum_and_layer_answers_become_json() {
        let m = registry();
        let big = vec![b'x'; 2048];
        let req = Request::post("/echo")
            .header("content-length", big.len())
            .body(Body::from(big.clone()))
            .unwrap();
        let (status, body, _) = call(app(&m), req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"], "payload_too_large");
        assert!(body["message"].as_str().unwrap().contains("1024 bytes"));
        // Without a length: the limit holds while the body is read.
        let stream = futures::stream::iter(
            big.chunks(100)
                .map(|c| Ok::<_, std::io::Error>(axum::body::Bytes::copy_from_slice(c)))
                .collect::<Vec<_>>(),
        );
        let req = Request::post("/echo")
            .body(Body::from_stream(stream))
            .unwrap();
        let (status, _, _) = call(app(&m), req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

        let req = Request::get("/nowhere").body(Body::empty()).unwrap();
        let (status, body, _) = call(app(&m), req).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body["error"], "not_found");
        let req = Request::delete("/echo").body(Body::empty()).unwrap();
        let (status, body, res) = call(app(&m), req).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"], "method_not_allowed");
        assert!(res.headers().get("allow").is_some(), "{:?}", res.headers());
        // Success answers are left alone.
        let req = Request::post("/echo").body(Body::from("hi")).unwrap();
        let res = app(&m).oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(!is_json(&res));
    }
}

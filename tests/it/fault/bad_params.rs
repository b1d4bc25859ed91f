//! Hostile request parameters: times at the edge of chrono's range, dates and years outside the
//! span greenmon stores, NUL bytes and overlong ids, bad alert ids, oversized and malformed
//! bodies, unknown paths and methods. Each answers a JSON `{error, message}` with a 4xx that
//! names the parameter; none drops the connection or answers 500.

use greenmon::store::tokens::{self, TokenRole};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;

struct Client {
    http: String,
    client: reqwest::Client,
}

impl Client {
    /// Sends a request; the answer must be a JSON object (never a dropped connection).
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.http));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some((content_type, bytes)) = body {
            if !content_type.is_empty() {
                req = req.header("content-type", content_type);
            }
            req = req.body(bytes);
        }
        let res = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer ({e})"));
        let status = res.status();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = res.text().await.unwrap();
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {status} answered {content_type:?}: {text:?}"
        );
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: {status} is not JSON ({e}): {text:?}"));
        (status, value)
    }
}

/// An error answer: the status, exactly `{error, message}`, and the message naming `needle`.
fn assert_error(what: &str, status: StatusCode, body: &Value, expected: StatusCode, needle: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    let obj = body.as_object().unwrap_or_else(|| panic!("{what}: {body}"));
    assert_eq!(obj.len(), 2, "{what}: {body}");
    let message = obj["message"].as_str().unwrap_or_default();
    assert!(obj["error"].is_string(), "{what}: {body}");
    assert!(
        message.contains(needle),
        "{what}: the message does not name {needle:?}: {body}"
    );
    let lower = message.to_lowercase();
    for leak in ["sqlx", "postgres", "select ", "panicked", "overflow"] {
        assert!(!lower.contains(leak), "{what} leaks {leak:?}: {body}");
    }
}

async fn setup() -> (TestApp, Client, String, String) {
    let app = TestApp::spawn_with(1883, |s| s.alerts.enabled = false).await;
    let (_, bureau) = tokens::create(&app.db.pool, "ops", &TokenRole::Bureau)
        .await
        .unwrap();
    let (_, park_a) = tokens::create(&app.db.pool, "a", &TokenRole::Park("park-a".into()))
        .await
        .unwrap();
    let client = Client {
        http: app.http.clone(),
        client: reqwest::Client::new(),
    };
    (app, client, bureau, park_a)
}

#[tokio::test]
async fn times_dates_and_years_outside_the_span_name_the_parameter() {
    let (mut app, c, bureau, _) = setup().await;
    let readings = "/api/v1/parks/park-a/points/a-out/readings?pollutant=cod";
    let exceedances = "/api/v1/parks/park-a/exceedances";
    let rates = "/api/v1/parks/park-a/compliance/rates";
    let energy = "/api/v1/parks/park-a/energy";
    let report = "/api/v1/parks/park-a/reports";
    let bulletin = "/api/v1/bulletins";
    let park_bulletin = "/api/v1/parks/park-a/bulletins";
    let cases: Vec<(String, &str)> = vec![
        // The edge of chrono's range, with and without `from` (used to panic in the handler).
        (format!("{readings}&to=-262143-01-01T00:00:00Z"), "`to`"),
        (
            format!("{readings}&from=-262143-01-01T00:00:00Z&to=2026-03-10T00:00:00Z"),
            "`from`",
        ),
        (
            format!("{readings}&from=2026-03-10T00:00:00Z&to=%2B262142-12-31T23:59:59Z"),
            "`to`",
        ),
        (
            format!("{readings}&from=%2B262142-01-01T00:00:00Z&to=%2B262142-01-02T00:00:00Z"),
            "`from`",
        ),
        // Outside PostgreSQL's or greenmon's span (used to answer 500).
        (
            format!("{readings}&from=1970-01-01T00:00:00Z&to=1970-01-02T00:00:00Z"),
            "`from`",
        ),
        (format!("{readings}&to=9999-12-31T00:00:00Z"), "`to`"),
        (format!("{exceedances}?to=-262143-01-01T00:00:00Z"), "`to`"),
        (
            format!("{exceedances}?from=-262143-01-01T00:00:00Z&to=-262143-01-02T00:00:00Z"),
            "`from`",
        ),
        (
            format!("{exceedances}?to=%2B262142-12-31T00:00:00Z"),
            "`to`",
        ),
        (format!("{rates}?to=%2B262142-12-31"), "`to`"),
        (
            format!("{rates}?from=-262143-01-01&to=2026-03-10"),
            "`from`",
        ),
        (format!("{rates}?from=0001-01-01&to=0001-01-02"), "`from`"),
        (format!("{rates}?from=2026-03-01&to=2101-01-01"), "`to`"),
        (format!("{energy}?year=-1"), "`year`"),
        (format!("{energy}?year=99999"), "`year`"),
        (format!("{energy}?year=1999"), "`year`"),
        (format!("{energy}?year=2147483647"), "`year`"),
        (format!("{rates}?as_of=-262143-01-01T00:00:00Z"), "`as_of`"),
        (
            format!("{exceedances}?as_of=1970-01-01T00:00:00Z"),
            "`as_of`",
        ),
        (
            format!("{energy}?as_of=%2B262142-01-01T00:00:00Z"),
            "`as_of`",
        ),
        (
            format!("{report}/2018-03?as_of=1999-12-31T23:59:59Z"),
            "`as_of`",
        ),
        (format!("{report}/1999-12"), "`month`"),
        (format!("{report}/2018-13"), "`month`"),
        (format!("{report}/2018"), "`month`"),
        (format!("{report}/%00"), "`month`"),
        (format!("{bulletin}/1999-12"), "`month`"),
        (format!("{bulletin}/%00"), "`month`"),
        (format!("{park_bulletin}/2018-13"), "`month`"),
        (format!("{bulletin}/2018-03?format=pdf"), "`format`"),
        (format!("{park_bulletin}/2018-03?lang=de"), "`lang`"),
        (
            format!("{bulletin}/2018-03?as_of=1970-01-01T00:00:00Z"),
            "`as_of`",
        ),
    ];
    for (path, needle) in cases {
        let (s, b) = c.send(Method::GET, &path, Some(&bureau), None).await;
        assert_error(&path, s, &b, StatusCode::BAD_REQUEST, needle);
        // The parameter is named by greenmon's check, not by a rejected query string.
        assert!(
            b["message"].as_str().unwrap().starts_with(needle),
            "{path}: {b}"
        );
    }
    for path in [
        // The edges of the span itself are fine.
        format!("{readings}&from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z"),
        // `to` alone near the start of the span: the default `from` is kept inside it.
        format!("{exceedances}?to=2000-01-01T01:00:00Z"),
        format!("{energy}?year=2100"),
        format!("{report}/2000-01?as_of=2000-01-01T00:00:00Z"),
    ] {
        let (s, b) = c.send(Method::GET, &path, Some(&bureau), None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
    }
    // In the span but in the future, or a threshold outside 0 to 1: 422, naming it.
    for (path, needle) in [
        (
            format!("{report}/2018-03?as_of=2099-01-01T00:00:00Z"),
            "`as_of`",
        ),
        (format!("{rates}?as_of=2099-01-01T00:00:00Z"), "`as_of`"),
        (format!("{report}/2018-03?threshold=1.5"), "`threshold`"),
        (format!("{report}/2018-03?threshold=NaN"), "`threshold`"),
        (format!("{bulletin}/2018-03?threshold=NaN"), "`threshold`"),
        (
            format!("{park_bulletin}/2018-03?as_of=2099-01-01T00:00:00Z"),
            "`as_of`",
        ),
    ] {
        let (s, b) = c.send(Method::GET, &path, Some(&bureau), None).await;
        assert_error(&path, s, &b, StatusCode::UNPROCESSABLE_ENTITY, needle);
    }
    for path in [format!("{report}/2018-03?threshold=0")] {
        let (s, b) = c.send(Method::GET, &path, Some(&bureau), None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {b}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_ids_are_refused_before_they_reach_sql() {
    let (mut app, c, bureau, park_a) = setup().await;
    let long = "x".repeat(65);
    let cases: Vec<(Method, String, &str)> = vec![
        (Method::GET, "/api/v1/parks/park%00a".into(), "`park`"),
        (Method::GET, format!("/api/v1/parks/{long}"), "`park`"),
        (
            Method::GET,
            "/api/v1/parks/park%00a/points".into(),
            "`park`",
        ),
        (
            Method::GET,
            "/api/v1/parks/park%00a/compliance".into(),
            "`park`",
        ),
        (
            Method::GET,
            "/api/v1/parks/park%00a/energy-reports".into(),
            "`park`",
        ),
        (
            Method::GET,
            "/api/v1/parks/park-a/points/a%00out/readings?pollutant=cod".into(),
            "`point`",
        ),
        (
            Method::GET,
            format!("/api/v1/parks/park-a/points/{long}/readings?pollutant=cod"),
            "`point`",
        ),
        (
            Method::GET,
            "/api/v1/parks/park-a/points/a-out/readings?pollutant=c%00od".into(),
            "`pollutant`",
        ),
        (
            Method::GET,
            format!("/api/v1/parks/park-a/points/a-out/readings?pollutant={long}"),
            "`pollutant`",
        ),
        (Method::GET, "/api/v1/alerts?park=park%00a".into(), "`park`"),
        (Method::GET, format!("/api/v1/alerts?park={long}"), "`park`"),
        (Method::GET, "/api/v1/alerts/-1".into(), "`id`"),
        (Method::GET, "/api/v1/alerts/0".into(), "`id`"),
        (Method::GET, "/api/v1/alerts/abc".into(), "`id`"),
        (
            Method::GET,
            "/api/v1/alerts/99999999999999999999999".into(),
            "`id`",
        ),
        (Method::POST, "/api/v1/alerts/-7/ack".into(), "`id`"),
    ];
    for (method, path, needle) in &cases {
        let body =
            (*method == Method::POST).then(|| ("application/json", br#"{"by": "x"}"#.to_vec()));
        let (s, b) = c.send(method.clone(), path, Some(&bureau), body).await;
        assert_error(
            &format!("{method} {path}"),
            s,
            &b,
            StatusCode::BAD_REQUEST,
            needle,
        );
    }
    // A park token gets the same 400 for a malformed id, and still 404 for another park.
    let (s, b) = c
        .send(Method::GET, "/api/v1/parks/park%00b", Some(&park_a), None)
        .await;
    assert_error("park token, NUL", s, &b, StatusCode::BAD_REQUEST, "`park`");
    let (s, b) = c
        .send(Method::GET, "/api/v1/parks/park-b", Some(&park_a), None)
        .await;
    assert_error("park token, park-b", s, &b, StatusCode::NOT_FOUND, "park-b");
    // NUL inside JSON bodies: refused with the field named, nothing stored.
    let put = json!({"id": "park-a", "name": "A\u{0}", "baseline_intensity": 0.8});
    let (s, b) = c
        .send(
            Method::PUT,
            "/api/v1/parks/park-a",
            Some(&bureau),
            Some(("application/json", put.to_string().into_bytes())),
        )
        .await;
    assert_error(
        "PUT NUL name",
        s,
        &b,
        StatusCode::UNPROCESSABLE_ENTITY,
        "name",
    );
    app.shutdown().await;
}

#[tokio::test]
async fn every_error_is_json() {
    let (mut app, c, bureau, park_a) = setup().await;
    // A body over http.max_body_bytes: 413 in JSON, with and without a content length.
    let big = vec![b' '; 3 << 20];
    for path in [
        "/api/v1/parks/park-a/energy-reports",
        "/api/v1/parks/park-a",
    ] {
        let method = if path.ends_with("reports") {
            Method::POST
        } else {
            Method::PUT
        };
        let (s, b) = c
            .send(
                method.clone(),
                path,
                Some(&bureau),
                Some(("application/json", big.clone())),
            )
            .await;
        assert_error(path, s, &b, StatusCode::PAYLOAD_TOO_LARGE, "bytes");
    }
    // Chunked, without a content length: the limit holds while the body is read.
    let (status, text) = chunked_post(
        &c.http,
        "/api/v1/parks/park-a/energy-reports",
        &park_a,
        40,
        64 << 10,
    )
    .await;
    assert_eq!(status, 413, "{text}");
    let b: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(b["error"], "payload_too_large", "{b}");

    let json_ct = "application/json";
    type Case<'a> = (
        Method,
        &'a str,
        Option<(&'a str, Vec<u8>)>,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            Method::PUT,
            "/api/v1/parks/park-a",
            Some((json_ct, b"{\"id\": ".to_vec())),
            StatusCode::BAD_REQUEST,
            "JSON",
        ),
        (
            Method::PUT,
            "/api/v1/parks/park-a",
            Some((json_ct, b"[1, 2]".to_vec())),
            StatusCode::UNPROCESSABLE_ENTITY,
            "",
        ),
        (
            Method::PUT,
            "/api/v1/parks/park-a",
            Some(("", br#"{"id": "park-a"}"#.to_vec())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            Method::PUT,
            "/api/v1/parks/park-a",
            Some(("text/plain", br#"{"id": "park-a"}"#.to_vec())),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            Method::POST,
            "/api/v1/alerts/1/ack",
            Some((json_ct, b"\xff\xfe".to_vec())),
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            Method::GET,
            "/api/v1/parks/park-a/energy?year=soon",
            None,
            StatusCode::BAD_REQUEST,
            "year",
        ),
        (
            Method::GET,
            "/api/v1/parks/park-a/energy?year=2026&year=2025",
            None,
            StatusCode::BAD_REQUEST,
            "",
        ),
        (
            Method::GET,
            "/api/v1/parks/park-a/energy?%ff=1",
            None,
            StatusCode::BAD_REQUEST,
            "",
        ),
        (Method::GET, "/api/v1/nope", None, StatusCode::NOT_FOUND, ""),
        (Method::GET, "/nope", None, StatusCode::NOT_FOUND, ""),
        (Method::GET, "/portal/x", None, StatusCode::NOT_FOUND, ""),
        (
            Method::POST,
            "/healthz",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "",
        ),
        (
            Method::DELETE,
            "/api/v1/parks/park-a",
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "",
        ),
    ];
    for (method, path, body, expected, needle) in cases {
        let (s, b) = c.send(method.clone(), path, Some(&bureau), body).await;
        assert_error(&format!("{method} {path}"), s, &b, expected, needle);
    }
    // And the service still answers.
    let (s, _) = c
        .send(Method::GET, "/api/v1/parks", Some(&bureau), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    app.shutdown().await;
}

/// POSTs `chunks` chunks of `size` spaces with chunked transfer encoding over a raw socket;
/// returns the status and the body of the answer.
async fn chunked_post(
    base: &str,
    path: &str,
    token: &str,
    chunks: usize,
    size: usize,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{size:x}\r\n{}\r\n", " ".repeat(size));
    for _ in 0..chunks {
        // The server may answer and close before the whole body is sent.
        if s.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    // The answer may itself be chunked: keep the JSON object only.
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) => body[a..=b].to_string(),
        _ => body.to_string(),
    };
    (status, body)
}

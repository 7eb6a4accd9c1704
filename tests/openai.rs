//! The OpenAI embeddings client against an in-process server that speaks
//! OpenAI's `POST /embeddings` protocol: it checks the key and the body
//! shape like the real API, answers with vectors derived from each text,
//! and follows a per-test script for failures. Every test asserts how
//! many requests the server saw, so retrying too much or too little fails.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use helio::embed::openai::{native_dimension, OpenAiClient, OpenAiConfig, OpenAiError};

const KEY: &str = "sk-test-0123456789";
const SMALL: &str = "text-embedding-3-small";

/// What the server does with one request (after checking it).
#[derive(Clone)]
enum Reply {
    /// A correct response, `data` in input order.
    Embeddings,
    /// A correct response with `data` reversed: only `index` tells order.
    Reversed,
    /// A correct response, altered before sending.
    Tampered(fn(&mut Value)),
    /// A 200 whose body is this text.
    Raw(&'static str),
    /// An error status with headers and OpenAI's error body.
    Error {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        message: &'static str,
        code: Option<&'static str>,
    },
    /// Sleeps this long, then answers correctly.
    Slow(Duration),
}

fn error(status: u16, message: &'static str) -> Reply {
    Reply::Error {
        status,
        headers: vec![],
        message,
        code: None,
    }
}

type Script = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Shared {
    seen: Arc<Mutex<Vec<Value>>>,
    script: Script,
}

struct FakeOpenAi {
    base_url: String,
    seen: Arc<Mutex<Vec<Value>>>,
    _runtime: tokio::runtime::Runtime,
}

impl FakeOpenAi {
    /// `script(n)` decides the reply to the n-th request (from 0).
    fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> FakeOpenAi {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            seen: seen.clone(),
            script: Arc::new(script),
        };
        let app = Router::new()
            .route("/v1/embeddings", post(embeddings))
            .with_state(shared);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeOpenAi {
            base_url: format!("http://{addr}/v1"),
            seen,
            _runtime: runtime,
        }
    }

    /// A config for this server with millisecond backoff.
    fn config(&self) -> OpenAiConfig {
        OpenAiConfig {
            base_url: self.base_url.clone(),
            api_key: Some(KEY.to_string()),
            timeout: Duration::from_secs(5),
            max_retries: 3,
            backoff_base: Duration::from_millis(1),
            backoff_cap: Duration::from_millis(5),
            ..OpenAiConfig::default()
        }
    }

    fn client(&self) -> OpenAiClient {
        OpenAiClient::new(self.config())
    }

    /// Bodies of every request seen so far, including rejected ones.
    fn requests(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

fn openai_error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn embeddings(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let n = {
        let mut seen = shared.seen.lock().unwrap();
        seen.push(request.clone());
        seen.len() - 1
    };
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {KEY}")) {
        return openai_error(
            401,
            "Incorrect API key provided",
            "invalid_request_error",
            Some("invalid_api_key"),
        );
    }
    let dim = match check_shape(&request) {
        Ok(dim) => dim,
        Err(problem) => return openai_error(400, &problem, "invalid_request_error", None),
    };
    let texts: Vec<&str> = request["input"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let mut data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": fake_embedding(t, dim)}))
        .collect();
    let mut reply = (shared.script)(n);
    if let Reply::Slow(delay) = reply {
        tokio::time::sleep(delay).await;
        reply = Reply::Embeddings;
    }
    if let Reply::Reversed = reply {
        data.reverse();
    }
    let mut response = json!({
        "object": "list",
        "data": data,
        "model": request["model"],
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    });
    match reply {
        Reply::Embeddings | Reply::Reversed | Reply::Slow(_) => {
            axum::Json(response).into_response()
        }
        Reply::Tampered(alter) => {
            alter(&mut response);
            axum::Json(response).into_response()
        }
        Reply::Raw(text) => (StatusCode::OK, text).into_response(),
        Reply::Error {
            status,
            headers,
            message,
            code,
        } => {
            let mut response = openai_error(status, message, "server_error", code);
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
    }
}

/// The request's shape as OpenAI requires it; the dimension to answer with.
fn check_shape(request: &Value) -> Result<usize, String> {
    let object = request.as_object().ok_or("body is not a JSON object")?;
    for key in object.keys() {
        if !["model", "input", "dimensions", "encoding_format"].contains(&key.as_str()) {
            return Err(format!("unexpected field {key}"));
        }
    }
    let model = request["model"].as_str().ok_or("model must be a string")?;
    let input = request["input"]
        .as_array()
        .ok_or("input must be an array")?;
    if input.is_empty() || input.len() > 2048 {
        return Err(format!("input has {} items", input.len()));
    }
    if !input
        .iter()
        .all(|t| t.as_str().is_some_and(|t| !t.is_empty()))
    {
        return Err("input items must be non-empty strings".into());
    }
    if request["encoding_format"] != "float" {
        return Err("encoding_format must be float".into());
    }
    match request.get("dimensions") {
        None => Ok(native_dimension(model).unwrap_or(8)),
        Some(d) => match d.as_u64() {
            Some(d) if d > 0 && model.starts_with("text-embedding-3") => Ok(d as usize),
            _ => Err(format!("bad dimensions {d} for {model}")),
        },
    }
}

/// Deterministic per text; values are multiples of 2^-24 so they survive
/// the JSON round trip exactly.
fn fake_embedding(text: &str, dim: usize) -> Vec<f32> {
    let seed = text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    (0..dim as u64)
        .map(|j| {
            let mixed = seed.wrapping_add(j.wrapping_mul(0x9E3779B97F4A7C15));
            (mixed >> 40) as f32 / (1u32 << 24) as f32
        })
        .collect()
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("text number {i}")).collect()
}

fn refs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

fn expected(texts: &[&str], dim: usize) -> Vec<Vec<f32>> {
    texts.iter().map(|t| fake_embedding(t, dim)).collect()
}

#[test]
fn out_of_order_data_is_put_back_in_input_order() {
    let server = FakeOpenAi::start(|_| Reply::Reversed);
    let owned = texts(5);
    let input = refs(&owned);
    let got = server.client().embed(SMALL, &input, None).unwrap();
    assert_eq!(got, expected(&input, 1536));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["model"], SMALL);
    assert_eq!(requests[0]["input"], json!(input));
    assert_eq!(requests[0]["encoding_format"], "float");
    assert!(requests[0].get("dimensions").is_none());
}

#[test]
fn batches_split_by_input_count_and_keep_order() {
    let server = FakeOpenAi::start(|_| Reply::Reversed);
    let client = OpenAiClient::new(OpenAiConfig {
        max_batch_inputs: 3,
        ..server.config()
    });
    let owned = texts(7);
    let input = refs(&owned);
    let got = client.embed(SMALL, &input, Some(16)).unwrap();
    assert_eq!(got, expected(&input, 16));
    let sizes: Vec<usize> = server
        .requests()
        .iter()
        .map(|r| r["input"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, vec![3, 3, 1]);
}

#[test]
fn batches_split_by_estimated_tokens() {
    let server = FakeOpenAi::start(|_| Reply::Embeddings);
    // "text number N" is 13 bytes, estimated at 5 tokens: two per batch.
    let client = OpenAiClient::new(OpenAiConfig {
        max_batch_tokens: 12,
        ..server.config()
    });
    let owned = texts(5);
    let input = refs(&owned);
    let got = client.embed(SMALL, &input, Some(4)).unwrap();
    assert_eq!(got, expected(&input, 4));
    assert_eq!(server.count(), 3);
}

#[test]
fn dimensions_are_passed_through() {
    let server = FakeOpenAi::start(|_| Reply::Embeddings);
    let got = server
        .client()
        .embed("text-embedding-3-large", &["a", "b"], Some(256))
        .unwrap();
    assert_eq!(got, expected(&["a", "b"], 256));
    assert_eq!(server.requests()[0]["dimensions"], 256);
}

#[test]
fn dimensions_on_ada_fail_before_any_request() {
    let server = FakeOpenAi::start(|_| Reply::Embeddings);
    let err = server
        .client()
        .embed("text-embedding-ada-002", &["a"], Some(256))
        .unwrap_err();
    assert!(matches!(err, OpenAiError::InvalidInput(_)), "{err:?}");
    assert_eq!(server.count(), 0);
}

#[test]
fn empty_input_list_makes_no_request() {
    let server = FakeOpenAi::start(|_| Reply::Embeddings);
    assert!(server.client().embed(SMALL, &[], None).unwrap().is_empty());
    assert_eq!(server.count(), 0);
}

#[test]
fn empty_string_fails_before_any_request() {
    let server = FakeOpenAi::start(|_| Reply::Embeddings);
    let err = server.client().embed(SMALL, &["a", ""], None).unwrap_err();
    assert!(
        matches!(err, OpenAiError::InvalidInput(ref m) if m.contains("text 1")),
        "{err:?}"
    );
    assert_eq!(server.count(), 0);
}

#[test]
fn rate_limit_with_retry_after_zero_then_success() {
    let server = FakeOpenAi::start(|n| match n {
        0 => Reply::Error {
            status: 429,
            headers: vec![("retry-after", "0")],
            message: "Rate limit reached for requests",
            code: Some("rate_limit_exceeded"),
        },
        _ => Reply::Embeddings,
    });
    let got = server.client().embed(SMALL, &["a", "b"], Some(8)).unwrap();
    assert_eq!(got, expected(&["a", "b"], 8));
    assert_eq!(server.count(), 2);
}

#[test]
fn retry_after_is_honoured_but_bounded() {
    let server = FakeOpenAi::start(|n| match n {
        0 => Reply::Error {
            status: 429,
            headers: vec![("retry-after", "30")],
            message: "Rate limit reached for tokens",
            code: Some("rate_limit_exceeded"),
        },
        _ => Reply::Embeddings,
    });
    let client = OpenAiClient::new(OpenAiConfig {
        max_retry_after: Duration::from_millis(300),
        ..server.config()
    });
    let started = Instant::now();
    client.embed(SMALL, &["a"], Some(8)).unwrap();
    let waited = started.elapsed();
    // Backoff alone is at most 5 ms; the header asked for 30 s.
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    assert_eq!(server.count(), 2);
}

#[test]
fn exhausted_quota_is_not_retried() {
    let server = FakeOpenAi::start(|_| Reply::Error {
        status: 429,
        headers: vec![],
        message: "You exceeded your current quota",
        code: Some("insufficient_quota"),
    });
    let err = server.client().embed(SMALL, &["a"], None).unwrap_err();
    assert!(matches!(err, OpenAiError::QuotaExceeded { .. }), "{err:?}");
    assert_eq!(server.count(), 1);
}

#[test]
fn server_error_then_success() {
    let server = FakeOpenAi::start(|n| match n {
        0 => error(500, "The server had an error while processing your request"),
        _ => Reply::Embeddings,
    });
    let got = server.client().embed(SMALL, &["a"], Some(8)).unwrap();
    assert_eq!(got, expected(&["a"], 8));
    assert_eq!(server.count(), 2);
}

#[test]
fn persistent_503_is_unavailable_after_max_retries() {
    let server = FakeOpenAi::start(|_| error(503, "The engine is currently overloaded"));
    let err = server.client().embed(SMALL, &["a"], None).unwrap_err();
    match err {
        OpenAiError::Unavailable { attempts, last } => {
            assert_eq!(attempts, 4); // max_retries 3, plus the first
            assert!(
                last.contains("503") && last.contains("overloaded"),
                "{last}"
            );
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(server.count(), 4);
}

#[test]
fn bad_request_is_not_retried() {
    let server =
        FakeOpenAi::start(|_| error(400, "This model's maximum context length is 8192 tokens"));
    let err = server.client().embed(SMALL, &["a"], None).unwrap_err();
    match err {
        OpenAiError::BadRequest { status, message } => {
            assert_eq!(status, 400);
            assert!(message.contains("maximum context length"), "{message}");
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
    assert_eq!(server.count(), 1);
}

#[test]
fn unknown_route_is_a_bad_request() {
    let server = FakeOpenAi::start(|_| Reply::Embeddings);
    let client = OpenAiClient::new(OpenAiConfig {
        base_url: server.base_url.replace("/v1", "/v2"),
        ..server.config()
    });
    let err = client.embed(SMALL, &["a"], None).unwrap_err();
    assert!(
        matches!(err, OpenAiError::BadRequest { status: 404, .. }),
        "{err:?}"
    );
}

#[test]
fn body_that_is_not_json_is_malformed() {
    let server = FakeOpenAi::start(|_| Reply::Raw("<html>hello</html>"));
    let err = server.client().embed(SMALL, &["a"], None).unwrap_err();
    assert!(matches!(err, OpenAiError::Malformed(_)), "{err:?}");
    assert_eq!(server.count(), 1);
}

#[test]
fn body_of_wrong_shape_is_malformed() {
    let server = FakeOpenAi::start(|_| Reply::Raw(r#"{"object":"list","data":"nope"}"#));
    let err = server.client().embed(SMALL, &["a"], None).unwrap_err();
    assert!(matches!(err, OpenAiError::Malformed(_)), "{err:?}");
}

#[test]
fn wrong_number_of_embeddings_is_malformed() {
    let server = FakeOpenAi::start(|_| {
        Reply::Tampered(|r| {
            r["data"].as_array_mut().unwrap().pop();
        })
    });
    let err = server.client().embed(SMALL, &["a", "b"], None).unwrap_err();
    assert!(
        matches!(err, OpenAiError::Malformed(ref m) if m.contains("got 1")),
        "{err:?}"
    );
    assert_eq!(server.count(), 1);
}

#[test]
fn duplicate_index_is_malformed() {
    let server = FakeOpenAi::start(|_| Reply::Tampered(|r| r["data"][1]["index"] = json!(0)));
    let err = server.client().embed(SMALL, &["a", "b"], None).unwrap_err();
    assert!(
        matches!(err, OpenAiError::Malformed(ref m) if m.contains("twice")),
        "{err:?}"
    );
}

#[test]
fn wrong_dimension_is_malformed() {
    let server = FakeOpenAi::start(|_| {
        Reply::Tampered(|r| {
            r["data"][0]["embedding"].as_array_mut().unwrap().pop();
        })
    });
    let err = server.client().embed(SMALL, &["a", "b"], None).unwrap_err();
    assert!(
        matches!(err, OpenAiError::Malformed(ref m) if m.contains("1535")),
        "{err:?}"
    );
}

#[test]
fn missing_key_fails_without_any_request() {
    let server = FakeOpenAi::start(|_| Reply::Embeddings);
    for key in [None, Some(String::new())] {
        let client = OpenAiClient::new(OpenAiConfig {
            api_key: key,
            ..server.config()
        });
        let err = client.embed(SMALL, &["a"], None).unwrap_err();
        assert!(matches!(err, OpenAiError::MissingKey), "{err:?}");
    }
    assert_eq!(server.count(), 0);
}

#[test]
fn wrong_key_is_rejected_with_openai_message_and_not_retried() {
    let server = FakeOpenAi::start(|_| Reply::Embeddings);
    let client = OpenAiClient::new(OpenAiConfig {
        api_key: Some("sk-wrong".into()),
        ..server.config()
    });
    let err = client.embed(SMALL, &["a"], None).unwrap_err();
    match err {
        OpenAiError::Rejected { status, message } => {
            assert_eq!(status, 401);
            assert_eq!(message, "Incorrect API key provided");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(server.count(), 1);
}

#[test]
fn timeouts_are_retried_then_unavailable() {
    let server = FakeOpenAi::start(|_| Reply::Slow(Duration::from_millis(1500)));
    let client = OpenAiClient::new(OpenAiConfig {
        timeout: Duration::from_millis(150),
        max_retries: 2,
        ..server.config()
    });
    // Had the client waited out the server's sleep, the first attempt
    // would have succeeded: Unavailable after three attempts means each
    // one timed out.
    let err = client.embed(SMALL, &["a"], None).unwrap_err();
    assert!(
        matches!(err, OpenAiError::Unavailable { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(server.count(), 3);
}

#[test]
fn timeout_then_success() {
    let server = FakeOpenAi::start(|n| match n {
        0 => Reply::Slow(Duration::from_millis(1500)),
        _ => Reply::Embeddings,
    });
    let client = OpenAiClient::new(OpenAiConfig {
        timeout: Duration::from_millis(150),
        ..server.config()
    });
    let got = client.embed(SMALL, &["a"], Some(8)).unwrap();
    assert_eq!(got, expected(&["a"], 8));
    assert_eq!(server.count(), 2);
}

#[test]
fn unreachable_server_is_retried_then_unavailable() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = OpenAiClient::new(OpenAiConfig {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        api_key: Some(KEY.into()),
        max_retries: 2,
        backoff_base: Duration::from_millis(1),
        backoff_cap: Duration::from_millis(5),
        ..OpenAiConfig::default()
    });
    let err = client.embed(SMALL, &["a"], None).unwrap_err();
    assert!(
        matches!(err, OpenAiError::Unavailable { attempts: 3, .. }),
        "{err:?}"
    );
}

// ------------------------------------------------ the backend inside Helio

mod common;

/// `helio serve --openai` against the fake API: OpenAI's models feed a
/// collection through `Document`s, a 429 on the way is retried, and a
/// query embedded by another model than the collection's is refused.
#[test]
fn helio_serves_openai_models_as_a_backend() {
    let fake = FakeOpenAi::start(|n| match n {
        1 => Reply::Error {
            status: 429,
            headers: vec![("retry-after", "0")],
            message: "Rate limit reached",
            code: None,
        },
        _ => Reply::Embeddings,
    });
    let dir = tempfile::tempdir().unwrap();
    let server = common::Server::start_env(
        &dir.path().join("storage"),
        &["--openai", "true", "--openai-base-url", &fake.base_url],
        &[("OPENAI_API_KEY", KEY)],
    );
    server.create("c", 1536, "Cosine");
    let doc = |t: &str| json!({"text": t, "model": "openai/text-embedding-3-small"});
    server.ok(
        "PUT",
        "/collections/c/points?wait=true",
        Some(json!({"points": [
            {"id": 1, "vector": doc("painel solar")},
            {"id": 2, "vector": doc("inversor")},
        ]})),
    );
    assert_eq!(fake.count(), 1, "one batched request for both texts");
    // Identical text: the cached vector, no request, the same point.
    let hits = server.ok(
        "POST",
        "/collections/c/points/query",
        Some(json!({"query": {"text": "inversor", "model": "text-embedding-3-small"}, "limit": 1})),
    );
    assert_eq!(hits["points"][0]["id"], 2, "{hits}");
    assert_eq!(fake.count(), 1, "served from the embedding cache");
    // New text: the API answers 429 first, and Helio retries.
    server.ok(
        "POST",
        "/collections/c/points/query",
        Some(json!({"query": {"text": "inversor trifásico", "model": "openai/text-embedding-3-small"}})),
    );
    assert_eq!(fake.count(), 3, "the 429 was retried");
    // Another model's vectors would not be comparable with these.
    let (status, body) = server.call(
        "POST",
        "/collections/c/points/query",
        Some(json!({"query": {"text": "inversor", "model": "openai/text-embedding-ada-002"}})),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["status"]["error"]
            .as_str()
            .unwrap()
            .contains("not comparable"),
        "{body}"
    );
    let (status, body) = server.call(
        "POST",
        "/v1/embeddings",
        Some(json!({"input": ["a", "b"], "model": "text-embedding-3-large", "dimensions": 1536})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][1]["embedding"].as_array().unwrap().len(), 1536);
}

/// A rejected key surfaces as a 502 naming the problem, and the write is
/// not applied.
#[test]
fn helio_reports_a_rejected_key() {
    let fake = FakeOpenAi::start(|_| Reply::Embeddings);
    let dir = tempfile::tempdir().unwrap();
    let server = common::Server::start_env(
        &dir.path().join("storage"),
        &["--openai", "true", "--openai-base-url", &fake.base_url],
        &[("OPENAI_API_KEY", "sk-wrong")],
    );
    server.create("c", 1536, "Cosine");
    let (status, body) = server.call(
        "PUT",
        "/collections/c/points?wait=true",
        Some(json!({"points": [{"id": 1, "vector": {"text": "x", "model": "openai/text-embedding-3-small"}}]})),
    );
    assert_eq!(status, 502, "{body}");
    assert!(
        body["status"]["error"]
            .as_str()
            .unwrap()
            .contains("Incorrect API key"),
        "{body}"
    );
    let count = server.ok("POST", "/collections/c/points/count", Some(json!({})));
    assert_eq!(count["count"], 0);
}

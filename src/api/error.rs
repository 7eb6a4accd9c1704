//! The one place where errors become HTTP responses, in Qdrant's error
//! envelope `{"status": {"error": "..."}, "time": s}`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::assets::AssetError;
use crate::embed::EmbedError;
use crate::engine::EngineError;
use crate::helio::conversation::ConversationError;
use crate::helio::HelioError;

#[derive(Debug)]
pub enum ApiError {
    Engine(EngineError),
    /// Server-side inference failed: the client's fault (unknown model, bad
    /// options) or the backend's (an unreachable OpenAI).
    Embed(EmbedError),
    /// A body that is not valid JSON (syntax), or not JSON at all.
    BadJson(String),
    /// Valid JSON of the wrong shape.
    Validation(String),
    /// Wrong or missing `Content-Type`.
    UnsupportedMediaType(String),
    PayloadTooLarge(String),
    NotFound(String),
    /// A knowledge-base asset run that could not start or failed.
    Asset(AssetError),
    /// The assistant refused a question or could not answer it.
    Helio(HelioError),
}

impl ApiError {
    pub fn validation(msg: impl Into<String>) -> ApiError {
        ApiError::Validation(msg.into())
    }

    fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            ApiError::Engine(e) => {
                let status = match e {
                    EngineError::NotFound(_) => StatusCode::NOT_FOUND,
                    EngineError::BadRequest(_) | EngineError::VectorDimension { .. } => {
                        StatusCode::BAD_REQUEST
                    }
                    EngineError::AlreadyExists(_) => StatusCode::CONFLICT,
                    EngineError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
                    EngineError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
                    EngineError::Storage(_) | EngineError::Locked(_) => {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                };
                let message = match e {
                    // Internals are logged, never echoed.
                    EngineError::Storage(detail) => {
                        tracing::error!(error = %detail, "storage error");
                        "Service internal error: storage failure (see server log)".to_string()
                    }
                    other => other.to_string(),
                };
                (status, message)
            }
            ApiError::Embed(e) => {
                let status = match e {
                    EmbedError::UnknownModel { .. } | EmbedError::BadInput(_) => {
                        StatusCode::BAD_REQUEST
                    }
                    EmbedError::Backend(_) => StatusCode::BAD_GATEWAY,
                };
                (status, e.to_string())
            }
            ApiError::BadJson(m) => (
                StatusCode::BAD_REQUEST,
                format!("Format error in JSON body: {m}"),
            ),
            ApiError::Validation(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Validation error in JSON body: {m}"),
            ),
            ApiError::UnsupportedMediaType(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m.clone()),
            ApiError::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m.clone()),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
            ApiError::Helio(e) => match e {
                HelioError::BadRequest(m) => (StatusCode::BAD_REQUEST, format!("Bad request: {m}")),
                HelioError::Conversation(ConversationError::Unknown(_)) => {
                    (StatusCode::NOT_FOUND, format!("Not found: {e}"))
                }
                HelioError::Conversation(ConversationError::Sqlite(detail)) => {
                    tracing::error!(error = %detail, "conversation store error");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Service internal error: conversation store failure (see server log)"
                            .into(),
                    )
                }
                // `From<HelioError>` turns these into their own variants.
                HelioError::Engine(_) | HelioError::Embed(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                }
                HelioError::Llm(inner) => (StatusCode::BAD_GATEWAY, inner.to_string()),
            },
            ApiError::Asset(e) => {
                let status = match e {
                    AssetError::Unknown(_) => StatusCode::NOT_FOUND,
                    AssetError::Running(_) | AssetError::UpstreamFailed { .. } => {
                        StatusCode::CONFLICT
                    }
                    AssetError::NoModel => StatusCode::SERVICE_UNAVAILABLE,
                    AssetError::Records(_) | AssetError::Index(_) | AssetError::Pipeline(_) => {
                        // Internals are logged, never echoed.
                        tracing::error!(error = %e, "asset error");
                        return (
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Service internal error: asset failure (see server log)".to_string(),
                        );
                    }
                };
                (status, e.to_string())
            }
        }
    }
}

impl From<HelioError> for ApiError {
    fn from(e: HelioError) -> Self {
        match e {
            HelioError::Engine(inner) => ApiError::Engine(inner),
            HelioError::Embed(inner) => ApiError::Embed(inner),
            other => ApiError::Helio(other),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ApiError::Engine(e)
    }
}

impl From<EmbedError> for ApiError {
    fn from(e: EmbedError) -> Self {
        ApiError::Embed(e)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::Validation(serde_source(&e)),
            JsonRejection::JsonSyntaxError(e) => ApiError::BadJson(serde_source(&e)),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                "Content type error: expected `Content-Type: application/json`".into(),
            ),
            JsonRejection::BytesRejection(e) => {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge(
                        "Payload error: request body is larger than the configured limit".into(),
                    )
                } else {
                    ApiError::BadJson(e.body_text())
                }
            }
            other => ApiError::BadJson(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::Engine(EngineError::BadRequest(format!(
            "Query deserialize error: {}",
            r.body_text()
        )))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::Engine(EngineError::BadRequest(format!(
            "Path deserialize error: {}",
            r.body_text()
        )))
    }
}

/// The innermost serde message, which names the field and position,
/// rather than axum's generic prefix.
fn serde_source(e: &dyn std::error::Error) -> String {
    let mut current: &dyn std::error::Error = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = self.status_and_message();
        let body = json!({"status": {"error": message}, "time": 0.0});
        let mut response = (status, Json(body)).into_response();
        if let ApiError::Engine(EngineError::RateLimited {
            retry_after: Some(secs),
            ..
        }) = &self
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, (*secs).into());
        }
        response
    }
}

/// Errors of the OpenAI-compatible routes, in OpenAI's envelope
/// `{"error": {"message", "type", "param", "code"}}`, so OpenAI's clients
/// raise their usual exceptions.
#[derive(Debug)]
pub struct OpenAiApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    param: Option<&'static str>,
}

impl OpenAiApiError {
    pub fn invalid(message: &str, param: Option<&'static str>) -> OpenAiApiError {
        OpenAiApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            message: message.to_string(),
            param,
        }
    }

    pub fn not_found(message: &str) -> OpenAiApiError {
        OpenAiApiError {
            status: StatusCode::NOT_FOUND,
            kind: "invalid_request_error",
            message: message.to_string(),
            param: Some("model"),
        }
    }

    pub fn server(message: &str) -> OpenAiApiError {
        OpenAiApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "server_error",
            message: message.to_string(),
            param: None,
        }
    }
}

impl From<EmbedError> for OpenAiApiError {
    fn from(e: EmbedError) -> Self {
        match &e {
            EmbedError::UnknownModel { .. } => OpenAiApiError {
                status: StatusCode::NOT_FOUND,
                kind: "invalid_request_error",
                message: e.to_string(),
                param: Some("model"),
            },
            EmbedError::BadInput(_) => OpenAiApiError::invalid(&e.to_string(), None),
            EmbedError::Backend(_) => OpenAiApiError {
                status: StatusCode::BAD_GATEWAY,
                kind: "server_error",
                message: e.to_string(),
                param: None,
            },
        }
    }
}

impl IntoResponse for OpenAiApiError {
    fn into_response(self) -> Response {
        let code = match self.status {
            StatusCode::NOT_FOUND => Some("model_not_found"),
            _ => None,
        };
        let body = json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": code,
        }});
        (self.status, Json(body)).into_response()
    }
}

//! Extractors whose rejections go through [`ApiError`], so even a broken
//! request gets Qdrant's JSON error envelope.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// `Json<T>` with Qdrant-style errors.
pub struct QJson<T>(pub T);

impl<S, T> FromRequest<S> for QJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            // axum's extractor words the rejection.
            let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
            return Ok(QJson(value));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(JsonRejection::from)?;
        // axum's own parse tracks the path of every value it reads, for the
        // error message, which showed in profiles of search requests (384
        // floats each). Only a body that fails is parsed again, with it.
        match serde_json::from_slice(&bytes) {
            Ok(value) => Ok(QJson(value)),
            Err(_) => {
                let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
                Ok(QJson(value))
            }
        }
    }
}

/// `application/json` or a `+json` type, as axum's `Json` accepts.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence
        .strip_prefix("application/")
        .is_some_and(|sub| sub == "json" || sub.ends_with("+json"))
}

/// `Query<T>` with Qdrant-style errors.
pub struct QQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for QQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(QQuery(value))
    }
}

/// `Path<T>` with Qdrant-style errors.
pub struct QPath<T>(pub T);

impl<S, T> FromRequestParts<S> for QPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(QPath(value))
    }
}

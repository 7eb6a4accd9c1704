//! Extractors whose rejections go through [`ApiError`], so even a broken
//! request gets Qdrant's JSON error envelope.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
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
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(QJson(value))
    }
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

//! Extractors whose rejections are [`ApiError`], so that a malformed request
//! gets the same `{"detail": ...}` answer as any other failure. Handlers use
//! these instead of axum's own `Json`, `Query` and `Path`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// A JSON body (`Content-Type: application/json`) or response. Malformed JSON
/// is a 400, JSON of the wrong shape a 422, another content type a 415.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query parameters; a value that does not parse is a 400.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The agent routes' JSON body: any content type, an empty body read as `{}`
/// (a tool without arguments), and anything that does not parse is a 422.
/// Tool clients and the v3.0 web client post without a content type.
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AnyJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::from_rejection(e.status(), e.body_text()))?;
        parse_lenient(&body).map(AnyJson)
    }
}

/// Parses `body` as JSON, an all-whitespace body as `{}`.
pub fn parse_lenient<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::Unprocessable(format!("invalid JSON body: {e}")))
}

//! Errors of the `/v1` routes in OpenAI's shape,
//! `{"error": {"message", "type", "param", "code"}}`, with the status OpenAI
//! clients map to their exception classes (401 → `AuthenticationError`,
//! 429 → `RateLimitError` honouring `Retry-After`, …).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::http::error::ApiError;

use super::wire::InvalidRequest;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`, …
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<String>,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

impl OpenAiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        let (kind, code) = kind_of(status);
        OpenAiError {
            status,
            message: message.into(),
            kind,
            code,
            param: None,
            retry_after: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        OpenAiError::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unprocessable(message: impl Into<String>) -> Self {
        OpenAiError::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        OpenAiError {
            retry_after: Some(retry_after),
            ..OpenAiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Too many requests; retry after {retry_after}s"),
            )
        }
    }

    /// The `error` object alone (also sent as the last event of a failed stream).
    pub fn body(&self) -> Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

/// OpenAI's `type` and default `code` for a status.
fn kind_of(status: StatusCode) -> (&'static str, Option<&'static str>) {
    match status.as_u16() {
        401 => ("authentication_error", Some("invalid_api_key")),
        403 => ("permission_error", Some("insufficient_scope")),
        404 => ("invalid_request_error", Some("not_found")),
        429 => ("rate_limit_error", Some("rate_limit_exceeded")),
        502 => ("server_error", Some("upstream_error")),
        503 => ("server_error", Some("unavailable")),
        504 => ("server_error", Some("upstream_timeout")),
        s if s >= 500 => ("server_error", Some("internal_error")),
        _ => ("invalid_request_error", None),
    }
}

impl From<InvalidRequest> for OpenAiError {
    fn from(invalid: InvalidRequest) -> Self {
        OpenAiError {
            param: Some(invalid.param),
            ..OpenAiError::unprocessable(invalid.message)
        }
    }
}

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        if let ApiError::Internal(inner) = &error {
            tracing::error!(error = %inner, "request failed");
        }
        match error {
            ApiError::TooManyRequests { retry_after } => OpenAiError::rate_limited(retry_after),
            other => OpenAiError::new(other.status(), other.to_string()),
        }
    }
}

impl From<sqlx::Error> for OpenAiError {
    fn from(error: sqlx::Error) -> Self {
        OpenAiError::from(ApiError::from(error))
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> Value {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn errors_have_openai_shape_status_and_headers() {
        let response = OpenAiError::from(ApiError::unauthorized()).into_response();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body = body_of(response).await;
        assert_eq!(body["error"]["type"], "authentication_error");
        assert_eq!(body["error"]["code"], "invalid_api_key");
        assert_eq!(body["error"]["message"], "Not authenticated");

        let response =
            OpenAiError::from(ApiError::TooManyRequests { retry_after: 9 }).into_response();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "9");
        assert_eq!(body_of(response).await["error"]["type"], "rate_limit_error");

        let response = OpenAiError::from(InvalidRequest::new("messages", "empty")).into_response();
        assert_eq!(response.status(), 422);
        let body = body_of(response).await;
        assert_eq!(body["error"]["param"], "messages");
        assert_eq!(body["error"]["type"], "invalid_request_error");

        let internal = OpenAiError::from(ApiError::internal("db at /var/lib/x failed"));
        assert_eq!(internal.status, 500);
        assert!(!internal.message.contains("/var/lib"));
        assert_eq!(
            OpenAiError::new(StatusCode::GATEWAY_TIMEOUT, "slow").code,
            Some("upstream_timeout")
        );
    }
}

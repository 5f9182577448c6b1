//! The one error type of the HTTP API: handlers, extractor rejections and the
//! router's fallbacks all answer `{"detail": ...}` with the right status; 401s
//! carry `WWW-Authenticate: Bearer`, 429s `Retry-After`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("Method Not Allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Well-formed input that does not fit: a missing field, a wrong type, an empty message.
    #[error("{0}")]
    Unprocessable(String),
    #[error("Too many requests")]
    TooManyRequests {
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// The model server failed or answered nonsense.
    #[error("{0}")]
    BadGateway(String),
    #[error("{0}")]
    Unavailable(String),
    /// Too many requests are waiting for a bounded resource (password hashing).
    #[error("Server busy, retry shortly")]
    Busy {
        /// Seconds until a retry is likely to succeed.
        retry_after: u64,
    },
    /// The model server did not answer in time.
    #[error("{0}")]
    GatewayTimeout(String),
    /// The client went away before the answer (nginx's 499; only logged).
    #[error("{0}")]
    ClientClosed(String),
    /// Another error with more fields next to `detail` (a refused tool's
    /// `rule`, a failed chat's `conversation_id`).
    #[error("{error}")]
    WithFields {
        error: Box<ApiError>,
        fields: Map<String, Value>,
    },
    /// Details are logged, never sent: they may name files or queries.
    #[error("Internal server error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::ClientClosed(_) => {
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST)
            }
            ApiError::WithFields { error, .. } => error.status(),
        }
    }

    /// This error with `fields` (a JSON object) answered next to `detail`.
    pub fn with_fields(self, fields: Value) -> Self {
        match fields {
            Value::Object(fields) => ApiError::WithFields {
                error: Box::new(self),
                fields,
            },
            _ => self,
        }
    }

    /// A rejection status of axum's extractors as this type, keeping its message.
    pub(crate) fn from_rejection(status: StatusCode, detail: String) -> Self {
        match status {
            StatusCode::BAD_REQUEST => ApiError::BadRequest(detail),
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(detail),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType(detail),
            StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(detail),
            _ => ApiError::Internal(detail),
        }
    }

    pub fn unauthorized() -> Self {
        ApiError::Unauthorized("Not authenticated".into())
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        ApiError::Internal(err.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::Internal(format!("database: {err}"))
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::from_rejection(rejection.status(), rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::from_rejection(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::from_rejection(rejection.status(), rejection.body_text())
    }
}

impl ApiError {
    /// The JSON body: `detail` plus this error's extra fields.
    fn body(&self) -> Value {
        match self {
            ApiError::TooManyRequests { retry_after } => {
                json!({"detail": "Too many requests", "retry_after": retry_after})
            }
            ApiError::WithFields { error, fields } => {
                let mut body = error.body();
                if let Some(obj) = body.as_object_mut() {
                    obj.extend(fields.clone());
                }
                body
            }
            other => json!({"detail": other.to_string()}),
        }
    }

    /// The innermost error (the one [`ApiError::WithFields`] wraps).
    fn inner(&self) -> &ApiError {
        match self {
            ApiError::WithFields { error, .. } => error.inner(),
            other => other,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(detail) = self.inner() {
            tracing::error!(error = %detail, "request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        match self.inner() {
            ApiError::Unauthorized(_) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests { retry_after } | ApiError::Busy { retry_after } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            _ => {}
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The router's fallback: `{"detail": "Not Found"}`.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("Not Found".into())
}

/// The fallback for a known path with another method: `{"detail": "Method Not Allowed"}`.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

//! The OpenAI-compatible front door: `POST /v1/chat/completions` and `GET /v1/models`.

pub mod error;
pub mod stream;
pub mod wire;

//! A request to a test server in one chain:
//! `server.post("/api/auth/users").bearer(&admin).json(&body).send().await`.
//! Transport failures panic (the server under test is local); statuses are
//! for the test to assert.

use reqwest::{Method, RequestBuilder, Response};
use serde::Serialize;
use serde_json::Value;

use super::TestServer;

pub struct Call {
    builder: RequestBuilder,
}

impl Call {
    pub fn bearer(self, token: impl std::fmt::Display) -> Self {
        Call {
            builder: self.builder.bearer_auth(token),
        }
    }

    /// Authenticates with an API key in `X-API-Key`.
    pub fn api_key(self, key: &str) -> Self {
        self.header("X-API-Key", key)
    }

    pub fn header(self, name: &str, value: impl AsRef<str>) -> Self {
        Call {
            builder: self.builder.header(name, value.as_ref()),
        }
    }

    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Self {
        Call {
            builder: self.builder.json(body),
        }
    }

    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        Call {
            builder: self.builder.body(body),
        }
    }

    pub async fn send(self) -> Response {
        self.builder
            .send()
            .await
            .expect("request to the test server")
    }

    /// The status and the JSON body (`null` when the body is not JSON).
    pub async fn fetch(self) -> (u16, Value) {
        let response = self.send().await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

impl TestServer {
    pub fn request(&self, method: Method, path: &str) -> Call {
        Call {
            builder: self.client.request(method, self.url(path)),
        }
    }
    pub fn get(&self, path: &str) -> Call {
        self.request(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Call {
        self.request(Method::POST, path)
    }
    pub fn put(&self, path: &str) -> Call {
        self.request(Method::PUT, path)
    }
    pub fn patch(&self, path: &str) -> Call {
        self.request(Method::PATCH, path)
    }
    pub fn delete(&self, path: &str) -> Call {
        self.request(Method::DELETE, path)
    }
}

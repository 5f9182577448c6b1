//! A small stand-in for the Kubernetes API server: it answers list and watch
//! requests for one namespace's ConfigMaps and Secrets, selected by
//! `fieldSelector=metadata.name=...`, pushes watch events when a test
//! changes an object, and can be told to fail requests or expire watches.
//! It serves a kube-rs mocked client (tower-test) or real HTTP on 127.0.0.1.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use base64::Engine;
use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use http::{Method, Response, StatusCode, Uri};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    ConfigMap,
    Secret,
}

#[derive(Default)]
struct Inner {
    resource_version: u64,
    objects: HashMap<Kind, Value>,
    failures: HashMap<Kind, VecDeque<u16>>,
    watchers: Vec<(Kind, UnboundedSender<Bytes>)>,
    /// `METHOD path?query` of every request, in order.
    requests: Vec<String>,
}

#[derive(Clone, Default)]
pub struct FakeKube {
    inner: Arc<Mutex<Inner>>,
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn line(value: &Value) -> Bytes {
    let mut text = value.to_string();
    text.push('\n');
    Bytes::from(text)
}

impl FakeKube {
    pub fn new() -> FakeKube {
        FakeKube::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Creates or replaces an object and sends a watch event to open watches.
    fn put(&self, kind: Kind, mut object: Value) {
        let mut inner = self.lock();
        inner.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(inner.resource_version.to_string());
        let event = line(&json!({"type": "MODIFIED", "object": object}));
        inner.objects.insert(kind, object);
        inner
            .watchers
            .retain(|(k, tx)| *k != kind || tx.unbounded_send(event.clone()).is_ok());
    }

    pub fn put_configmap(&self, name: &str, policy_yaml: &str) {
        self.put(
            Kind::ConfigMap,
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": name, "namespace": "default"},
                   "data": {"policy.yaml": policy_yaml}}),
        );
    }

    pub fn put_secret(&self, name: &str, data: &[(&str, &[u8])]) {
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    json!(base64::engine::general_purpose::STANDARD.encode(v)),
                )
            })
            .collect();
        self.put(
            Kind::Secret,
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": name, "namespace": "default"},
                   "type": "Opaque", "data": data}),
        );
    }

    /// The next `times` requests for `kind` are answered with `code`.
    pub fn fail_next(&self, kind: Kind, code: u16, times: usize) {
        let mut inner = self.lock();
        let queue = inner.failures.entry(kind).or_default();
        queue.extend(std::iter::repeat_n(code, times));
    }

    /// Ends every open watch with `410 Gone`, which makes a client relist.
    pub fn expire_watches(&self) {
        let mut inner = self.lock();
        let event = line(
            &json!({"type": "ERROR", "object": status(410, "Expired", "too old resource version")}),
        );
        for (_, tx) in inner.watchers.drain(..) {
            let _ = tx.unbounded_send(event.clone());
        }
    }

    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    pub fn open_watches(&self, kind: Kind) -> usize {
        self.lock()
            .watchers
            .iter()
            .filter(|(k, tx)| *k == kind && !tx.is_closed())
            .count()
    }

    /// Answers one request.
    pub fn respond(&self, method: &Method, uri: &Uri) -> Response<Body> {
        let mut inner = self.lock();
        inner.requests.push(format!("{method} {uri}"));
        let path = uri.path();
        let kind = if path.ends_with("/configmaps") {
            Kind::ConfigMap
        } else if path.ends_with("/secrets") {
            Kind::Secret
        } else {
            return json_response(
                StatusCode::NOT_FOUND,
                &status(404, "NotFound", "unknown path"),
            );
        };
        if let Some(code) = inner.failures.get_mut(&kind).and_then(VecDeque::pop_front) {
            let code = StatusCode::from_u16(code).unwrap();
            let reason = code
                .canonical_reason()
                .unwrap_or("Failure")
                .replace(' ', "");
            return json_response(code, &status(code.as_u16(), &reason, "injected failure"));
        }
        let query: HashMap<String, String> = uri
            .query()
            .unwrap_or_default()
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace("%3D", "=").replace("%3d", "=")))
            .collect();
        let wanted = query
            .get("fieldSelector")
            .and_then(|s| s.strip_prefix("metadata.name="))
            .map(str::to_string);
        let object = inner
            .objects
            .get(&kind)
            .filter(|o| {
                wanted
                    .as_deref()
                    .is_none_or(|name| o["metadata"]["name"] == name)
            })
            .cloned();
        if query.get("watch").map(String::as_str) != Some("true") {
            let list_kind = match kind {
                Kind::ConfigMap => "ConfigMapList",
                Kind::Secret => "SecretList",
            };
            let list = json!({"apiVersion": "v1", "kind": list_kind,
                              "metadata": {"resourceVersion": inner.resource_version.to_string()},
                              "items": object.into_iter().collect::<Vec<_>>()});
            return json_response(StatusCode::OK, &list);
        }
        let since: u64 = query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let (tx, rx) = unbounded::<Bytes>();
        if let Some(object) = object {
            let version: u64 = object["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            if version > since {
                let _ = tx.unbounded_send(line(&json!({"type": "MODIFIED", "object": object})));
            }
        }
        inner.watchers.push((kind, tx));
        Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from_stream(rx.map(Ok::<Bytes, Infallible>)))
            .unwrap()
    }

    /// A kube client whose requests this fake answers (kube-rs's mocked API).
    pub fn mock_client(&self) -> kube::Client {
        let (service, mut handle) =
            tower_test::mock::pair::<http::Request<kube::client::Body>, http::Response<Body>>();
        let fake = self.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                send.send_response(fake.respond(request.method(), request.uri()));
            }
        });
        kube::Client::new(service, "default")
    }

    /// Serves the fake over HTTP on 127.0.0.1; returns its URL.
    pub async fn serve(&self) -> String {
        let fake = self.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri| {
            let fake = fake.clone();
            async move { fake.respond(&method, &uri) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        url
    }

    /// A kubeconfig file pointing at `url`, for `KUBECONFIG`.
    pub fn kubeconfig(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster:\n    server: {url}\n\
             users:\n- name: fake\n  user: {{}}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

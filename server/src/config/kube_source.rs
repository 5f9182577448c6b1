//! Follows the server's own ConfigMap and Secret through the Kubernetes API.
//!
//! The kubelet refreshes mounted ConfigMaps and Secrets only every minute or
//! so; watching the two objects by name brings a policy change into force
//! within seconds. Every change takes the same parse → validate → swap path
//! as a file reload ([`reload::apply`]); the mounted files stay the
//! fallback, and a source that has not changed never undoes a newer change
//! from the other one. API failures (unreachable, forbidden, expired watch)
//! back off and retry while the last good configuration stays in force.

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};

use crate::config::KubernetesSource;
use crate::config::files::{API_KEYS_FILE, JWT_KEYS_FILE, POLICY_FILE};
use crate::config::reload::{self, lock};
use crate::config::{Inputs, Location};
use crate::metrics::ReasonLabels;
use crate::state::AppState;

/// The latest state of one watched object.
#[derive(Default)]
struct Slot<K> {
    name: String,
    current: Option<K>,
    /// Objects received between `Init` and `InitDone` (a list or relist).
    listing: Option<Option<K>>,
}

impl<K: ResourceExt> Slot<K> {
    fn new(name: &str) -> Self {
        Slot {
            name: name.to_string(),
            current: None,
            listing: None,
        }
    }

    /// Takes one watch event; returns whether the inputs may have changed.
    ///
    /// A deleted object (or one missing from a relist) changes nothing: the
    /// mounted files keep their last content too, so the last good stays.
    fn on_event(&mut self, event: Event<K>) -> bool {
        match event {
            Event::Init => {
                self.listing = Some(None);
                false
            }
            Event::InitApply(object) => {
                if object.name_any() == self.name {
                    self.listing = Some(Some(object));
                }
                false
            }
            Event::InitDone => {
                if let Some(Some(object)) = self.listing.take() {
                    self.current = Some(object);
                } else {
                    tracing::warn!(name = %self.name, "not found through the Kubernetes API; the configuration in force stays");
                }
                true
            }
            Event::Apply(object) if object.name_any() == self.name => {
                self.current = Some(object);
                true
            }
            Event::Apply(_) => false,
            Event::Delete(object) => {
                if object.name_any() == self.name {
                    tracing::warn!(name = %self.name, "deleted; the configuration in force stays");
                }
                false
            }
        }
    }
}

/// Pure bookkeeping of the two objects: events in, complete [`Inputs`] out.
pub struct Tracker {
    namespace: String,
    configmap: Slot<ConfigMap>,
    secret: Slot<Secret>,
}

/// One event of either watch.
pub enum Change {
    ConfigMap(Event<ConfigMap>),
    Secret(Event<Secret>),
}

impl Tracker {
    pub fn new(namespace: &str, source: &KubernetesSource) -> Tracker {
        Tracker {
            namespace: namespace.to_string(),
            configmap: Slot::new(&source.configmap),
            secret: Slot::new(&source.secret),
        }
    }

    /// Takes one event; returns the inputs to apply when both objects are
    /// known and this event may have changed them.
    pub fn on_change(&mut self, change: Change) -> Option<Inputs> {
        let changed = match change {
            Change::ConfigMap(event) => self.configmap.on_event(event),
            Change::Secret(event) => self.secret.on_event(event),
        };
        if changed { self.inputs() } else { None }
    }

    /// Whether both objects have been seen.
    pub fn ready(&self) -> bool {
        self.configmap.current.is_some() && self.secret.current.is_some()
    }

    /// The inputs the two objects hold, the same keys as the mounted files.
    pub fn inputs(&self) -> Option<Inputs> {
        let (configmap, secret) = (
            self.configmap.current.as_ref()?,
            self.secret.current.as_ref()?,
        );
        let policy = configmap
            .data
            .as_ref()
            .and_then(|d| d.get(POLICY_FILE))
            .map(|text| text.as_bytes().to_vec())
            .or_else(|| {
                configmap
                    .binary_data
                    .as_ref()
                    .and_then(|d| d.get(POLICY_FILE))
                    .map(|b| b.0.clone())
            });
        let key = |name: &str| {
            secret
                .data
                .as_ref()
                .and_then(|d| d.get(name))
                .map(|b| b.0.clone())
        };
        Some(Inputs {
            location: Location::Kubernetes {
                namespace: self.namespace.clone(),
                configmap: self.configmap.name.clone(),
                secret: self.secret.name.clone(),
            },
            policy,
            jwt_keys: key(JWT_KEYS_FILE),
            api_keys: key(API_KEYS_FILE),
        })
    }
}

/// A short label for metrics: why the API could not be read.
pub fn error_reason(err: &watcher::Error) -> &'static str {
    let client_error = match err {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        watcher::Error::WatchError(status) if status.code == 410 => return "expired",
        watcher::Error::WatchError(status) if status.is_forbidden() => return "forbidden",
        watcher::Error::WatchError(_) => return "watch",
        watcher::Error::NoResourceVersion => return "protocol",
    };
    match client_error {
        kube::Error::Api(status) if status.is_forbidden() => "forbidden",
        kube::Error::Api(status) if status.code == 401 => "unauthorized",
        kube::Error::Api(_) => "api",
        _ => "unreachable",
    }
}

/// Starts following the objects when the API source is configured.
/// A client that cannot be configured leaves the files as the only source.
pub fn spawn(state: AppState) -> Option<tokio::task::JoinHandle<()>> {
    let source = state.settings.kubernetes.clone()?;
    Some(tokio::spawn(async move {
        match Client::try_default().await {
            Ok(client) => follow(state, client, source).await,
            Err(err) => {
                let message = format!("no Kubernetes client configuration: {err}");
                tracing::warn!(error = %message, "the Kubernetes API source is off; the mounted files stay the only source");
                record_error(&state, "config", message);
            }
        }
    }))
}

/// The watch stream of the two objects, each selected by name, retried with
/// kube's default backoff (errors are still yielded, then the stream waits).
/// An error names the object whose watch failed.
pub fn changes(
    client: Client,
    namespace: &str,
    source: &KubernetesSource,
) -> impl Stream<Item = Result<Change, (String, watcher::Error)>> + Send + use<> {
    let by_name = |name: &str| watcher::Config::default().fields(&format!("metadata.name={name}"));
    let configmaps = watcher::watcher(
        Api::<ConfigMap>::namespaced(client.clone(), namespace),
        by_name(&source.configmap),
    )
    .default_backoff()
    .map({
        let object = format!("ConfigMap {namespace}/{}", source.configmap);
        move |r| r.map(Change::ConfigMap).map_err(|e| (object.clone(), e))
    });
    let secrets = watcher::watcher(
        Api::<Secret>::namespaced(client, namespace),
        by_name(&source.secret),
    )
    .default_backoff()
    .map({
        let object = format!("Secret {namespace}/{}", source.secret);
        move |r| r.map(Change::Secret).map_err(|e| (object.clone(), e))
    });
    futures::stream::select(configmaps, secrets)
}

/// Applies every change of the two objects until the process ends.
pub async fn follow(state: AppState, client: Client, source: KubernetesSource) {
    let namespace = source
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    tracing::info!(%namespace, configmap = %source.configmap, secret = %source.secret, "following the configuration through the Kubernetes API");
    let mut tracker = Tracker::new(&namespace, &source);
    let mut last_failure: Option<String> = None;
    let mut stream = std::pin::pin!(changes(client, &namespace, &source));
    while let Some(item) = stream.next().await {
        match item {
            Ok(change) => {
                if let Some(inputs) = tracker.on_change(change) {
                    reload::apply(&state, &inputs, "kubernetes watch").await;
                }
                if tracker.ready() {
                    let mut status = lock(&state.reload_status);
                    if !status.api_active {
                        tracing::info!(%namespace, "the Kubernetes API source is in sync");
                    }
                    status.api_active = true;
                    status.last_sync_error = None;
                    last_failure = None;
                }
            }
            Err((object, err)) => {
                let reason = error_reason(&err);
                let message = format!("{object}: {err}");
                // Retries repeat the same failure: warn when it changes, then only at debug.
                if last_failure.as_deref() == Some(message.as_str()) {
                    tracing::debug!(error = %message, reason, "the Kubernetes API source still fails; retrying");
                } else if reason == "forbidden" {
                    tracing::warn!(error = %message, "no permission to read the ConfigMap or Secret through the Kubernetes API \
                        (the server needs get, list and watch on them, as the operator's Role grants); \
                        the mounted files stay the source; retrying with backoff");
                } else {
                    tracing::warn!(error = %message, reason, "the Kubernetes API source failed; the last good configuration stays; retrying with backoff");
                }
                last_failure = Some(message.clone());
                record_error(&state, reason, message);
            }
        }
    }
}

fn record_error(state: &AppState, reason: &str, message: String) {
    state
        .metrics
        .policy_sync_errors
        .get_or_create(&ReasonLabels {
            reason: reason.to_string(),
        })
        .inc();
    let mut status = lock(&state.reload_status);
    status.api_active = false;
    status.sync_errors += 1;
    status.last_sync_error = Some(message);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use kube::api::ObjectMeta;

    fn source() -> KubernetesSource {
        KubernetesSource {
            namespace: Some("ns".into()),
            configmap: "o-policy".into(),
            secret: "o-auth".into(),
        }
    }

    fn configmap(name: &str, policy: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                POLICY_FILE.to_string(),
                policy.to_string(),
            )])),
            ..ConfigMap::default()
        }
    }

    fn secret(name: &str, api_keys: &[u8]) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(
                API_KEYS_FILE.to_string(),
                ByteString(api_keys.to_vec()),
            )])),
            ..Secret::default()
        }
    }

    fn listed<K>(object: Option<K>) -> Vec<Event<K>> {
        let mut events = vec![Event::Init];
        events.extend(object.map(Event::InitApply));
        events.push(Event::InitDone);
        events
    }

    #[test]
    fn inputs_come_only_when_both_objects_are_listed() {
        let mut tracker = Tracker::new("ns", &source());
        let mut out = Vec::new();
        for event in listed(Some(configmap("o-policy", "version: 1\n"))) {
            out.push(tracker.on_change(Change::ConfigMap(event)));
        }
        assert!(
            out.iter().all(Option::is_none),
            "no inputs before the Secret is known"
        );
        let mut last = None;
        for event in listed(Some(secret("o-auth", b"[]"))) {
            last = tracker.on_change(Change::Secret(event));
        }
        let inputs = last.expect("inputs once both are listed");
        assert_eq!(inputs.policy.as_deref(), Some(&b"version: 1\n"[..]));
        assert_eq!(inputs.api_keys.as_deref(), Some(&b"[]"[..]));
        assert_eq!(inputs.jwt_keys, None);
        assert_eq!(inputs.source(), crate::config::InputSource::Kubernetes);
    }

    #[test]
    fn deletions_and_missing_or_foreign_objects_change_nothing() {
        let mut tracker = Tracker::new("ns", &source());
        for event in listed(Some(configmap("o-policy", "version: 1\n"))) {
            tracker.on_change(Change::ConfigMap(event));
        }
        for event in listed(Some(secret("o-auth", b"[]"))) {
            tracker.on_change(Change::Secret(event));
        }
        let before = tracker.inputs().map(|i| i.digest());
        assert!(
            tracker
                .on_change(Change::ConfigMap(Event::Delete(configmap("o-policy", ""))))
                .is_none()
        );
        assert!(
            tracker
                .on_change(Change::ConfigMap(Event::Apply(configmap("other", "x: 1"))))
                .is_none()
        );
        // A relist that no longer finds the object keeps the last one.
        for event in listed(None) {
            tracker.on_change(Change::ConfigMap(event));
        }
        assert_eq!(tracker.inputs().map(|i| i.digest()), before);
        let changed = tracker
            .on_change(Change::ConfigMap(Event::Apply(configmap(
                "o-policy",
                "version: 1\ncommands: {}\n",
            ))))
            .expect("a modified ConfigMap yields inputs");
        assert_ne!(Some(changed.digest()), before);
    }

    #[test]
    fn errors_are_labelled_by_reason() {
        let status = |code: u16, reason: &str| kube::core::Status {
            code,
            reason: reason.into(),
            ..kube::core::Status::default()
        };
        let forbidden =
            watcher::Error::InitialListFailed(kube::Error::Api(Box::new(status(403, "Forbidden"))));
        assert_eq!(error_reason(&forbidden), "forbidden");
        let gone = watcher::Error::WatchError(Box::new(status(410, "Expired")));
        assert_eq!(error_reason(&gone), "expired");
        let server = watcher::Error::WatchStartFailed(kube::Error::Api(Box::new(status(
            500,
            "InternalError",
        ))));
        assert_eq!(error_reason(&server), "api");
    }
}

//! Leader election against a fake Lease API (tower-test): only the holder
//! runs the controllers; when it shuts down and releases the lease, the
//! standby replica takes over.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ai_orchestrator_operator::lease::{LeaseSettings, run_as_leader};
use ai_orchestrator_operator::metrics::Metrics;
use ai_orchestrator_operator::render::merge_value;
use http::{Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

/// The one Lease object both replicas see.
#[derive(Default)]
struct LeaseStore {
    lease: Option<Value>,
    version: u64,
}

fn respond(status: StatusCode, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(value).expect("json")))
        .expect("response")
}

fn failure(code: u16, reason: &str) -> Response<Body> {
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": reason, "reason": reason, "code": code});
    respond(StatusCode::from_u16(code).expect("code"), &status)
}

impl LeaseStore {
    fn stored(&mut self) -> Value {
        self.version += 1;
        let lease = self.lease.as_mut().expect("lease");
        lease["metadata"]["resourceVersion"] = json!(self.version.to_string());
        lease.clone()
    }

    fn answer(&mut self, method: &str, content_type: &str, body: Value) -> Response<Body> {
        match method {
            "GET" => match &self.lease {
                Some(lease) => respond(StatusCode::OK, lease),
                None => failure(404, "NotFound"),
            },
            "POST" => {
                if self.lease.is_some() {
                    return failure(409, "AlreadyExists");
                }
                self.lease = Some(body);
                let stored = self.stored();
                respond(StatusCode::CREATED, &stored)
            }
            "PATCH" => {
                let Some(lease) = self.lease.as_mut() else {
                    return failure(404, "NotFound");
                };
                // Server-side apply refuses to take a field another manager holds.
                let current = lease["spec"]["holderIdentity"].as_str().map(str::to_string);
                let wanted = body["spec"]["holderIdentity"].as_str();
                if content_type.starts_with("application/apply-patch")
                    && current.is_some()
                    && wanted.is_some()
                    && current.as_deref() != wanted
                {
                    return failure(409, "Conflict");
                }
                merge_value(lease, &body);
                let stored = self.stored();
                respond(StatusCode::OK, &stored)
            }
            other => panic!("unexpected {other}"),
        }
    }
}

/// A client whose requests are answered from `store`; `gets` counts reads.
fn client(store: Arc<Mutex<LeaseStore>>, gets: Arc<AtomicUsize>) -> Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let method = request.method().to_string();
            assert!(
                request.uri().path().contains("/leases"),
                "{}",
                request.uri()
            );
            let content_type = request
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let bytes = request.into_body().collect_bytes().await.expect("body");
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).expect("json")
            };
            if method == "GET" {
                gets.fetch_add(1, Ordering::SeqCst);
            }
            let response = store
                .lock()
                .expect("store")
                .answer(&method, &content_type, body);
            send.send_response(response);
        }
    });
    Client::new(service, "ops")
}

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        name: "ai-orchestrator-operator".into(),
        namespace: "ops".into(),
        identity: identity.into(),
        duration_seconds: 2,
        grace_seconds: 1,
    }
}

/// The `holderIdentity` of the stored lease, if there is one.
fn holder(store: &Mutex<LeaseStore>) -> Option<Value> {
    store
        .lock()
        .expect("store")
        .lease
        .as_ref()
        .map(|l| l["spec"]["holderIdentity"].clone())
}

async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    tokio::time::timeout(Duration::from_secs(30), async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting: {what}"));
}

/// One operator replica: returns (controllers running, its metrics, shutdown trigger, task).
fn replica(
    store: &Arc<Mutex<LeaseStore>>,
    identity: &str,
    gets: Arc<AtomicUsize>,
) -> (
    Arc<AtomicBool>,
    Arc<Metrics>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let running = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let flag = running.clone();
    let task = tokio::spawn(run_as_leader(
        client(store.clone(), gets),
        settings(identity),
        metrics.clone(),
        move || {
            let flag = flag.clone();
            async move {
                flag.store(true, Ordering::SeqCst);
                // Controllers run until dropped; mark that they were stopped.
                struct Stop(Arc<AtomicBool>);
                impl Drop for Stop {
                    fn drop(&mut self) {
                        self.0.store(false, Ordering::SeqCst);
                    }
                }
                let _stop = Stop(flag);
                std::future::pending::<()>().await
            }
        },
        async move {
            let _ = stopped.await;
        },
    ));
    (running, metrics, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_runs_controllers_and_the_standby_takes_over() {
    let store = Arc::new(Mutex::new(LeaseStore::default()));
    let (a_running, a_metrics, a_stop, a_task) =
        replica(&store, "replica-a", Arc::new(AtomicUsize::new(0)));
    wait_until("replica a holds the lease", || {
        a_running.load(Ordering::SeqCst)
    })
    .await;
    assert!(a_metrics.is_active());

    let b_gets = Arc::new(AtomicUsize::new(0));
    let (b_running, b_metrics, b_stop, b_task) = replica(&store, "replica-b", b_gets.clone());
    // Let b look at the lease several times while a renews it.
    wait_until("replica b checked the lease repeatedly", || {
        b_gets.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert!(
        !b_running.load(Ordering::SeqCst),
        "a standby replica must not run controllers"
    );
    assert!(!b_metrics.is_active());
    assert!(a_running.load(Ordering::SeqCst));
    assert_eq!(holder(&store), Some(json!("replica-a")));

    // a shuts down: its controllers stop and the lease is released; b takes over.
    a_stop.send(()).expect("stop a");
    a_task.await.expect("task").expect("a exits cleanly");
    assert!(!a_running.load(Ordering::SeqCst));
    assert!(!a_metrics.is_active());
    wait_until("replica b takes over", || b_running.load(Ordering::SeqCst)).await;
    assert!(b_metrics.is_active());
    assert_eq!(holder(&store), Some(json!("replica-b")));

    b_stop.send(()).expect("stop b");
    b_task.await.expect("task").expect("b exits cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_loses_the_lease_stops_its_controllers() {
    let store = Arc::new(Mutex::new(LeaseStore::default()));
    let (running, metrics, stop, task) =
        replica(&store, "replica-a", Arc::new(AtomicUsize::new(0)));
    wait_until("replica a holds the lease", || {
        running.load(Ordering::SeqCst)
    })
    .await;
    // Another identity takes the lease (as after a network partition).
    {
        let mut s = store.lock().expect("store");
        let lease = s.lease.as_mut().expect("lease");
        lease["spec"]["holderIdentity"] = json!("replica-z");
        lease["spec"]["renewTime"] = json!("2999-01-01T00:00:00.000000Z");
        lease["spec"]["leaseDurationSeconds"] = json!(3600);
    }
    wait_until("replica a notices the loss", || {
        !running.load(Ordering::SeqCst)
    })
    .await;
    assert!(!metrics.is_active());
    stop.send(()).expect("stop");
    task.await.expect("task").expect("exits cleanly");
}

//! Reconcile against a mocked API server (tower-test), in the style of
//! kube-rs/controller-rs: an `ApiServerVerifier` serves a `Scenario` and
//! records every request, and the tests assert what the reconcile sent.

use std::sync::Arc;

use crate::common::*;
use ai_orchestrator_operator::controller::{self, Context, Error};
use ai_orchestrator_operator::crd::{AccessPolicy, Orchestrator};
use ai_orchestrator_operator::metrics::Metrics;
use ai_orchestrator_operator::render::{self, RenderInput};
use ai_orchestrator_operator::secrets::Existing;
use http::{Request, Response, StatusCode};
use k8s_openapi::api::core::v1::Secret;
use kube::client::Body;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use policy::contract;
use serde_json::{Value, json};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// One request the reconcile sent.
#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    query: String,
    body: Value,
}

impl Recorded {
    fn kind(&self) -> &str {
        self.body["kind"].as_str().unwrap_or_default()
    }
    fn is_apply(&self) -> bool {
        self.method == "PATCH" && !self.path.ends_with("/status")
    }
    fn is_status(&self) -> bool {
        self.method == "PATCH" && self.path.ends_with("/status")
    }
}

/// What the fake API server holds.
#[derive(Clone)]
enum Scenario {
    /// Nothing exists yet but the Orchestrator, its policies and their key Secrets.
    FreshInstall,
    /// The generated Secret exists from an earlier reconcile.
    GeneratedSecretPresent(Box<Secret>),
    /// A selected policy fails validation.
    InvalidPolicy,
    /// The referenced admin password Secret does not exist.
    MissingSecret,
    /// Explicit contents.
    World(Vec<AccessPolicy>, Vec<Secret>),
    /// The API server refuses to apply objects of this kind.
    ApplyRefused(&'static str),
}

struct ApiServerVerifier {
    handle: Handle,
    orchestrator: Orchestrator,
    policies: Vec<AccessPolicy>,
    secrets: Vec<Secret>,
    refuse: Option<&'static str>,
}

fn not_found(name: &str) -> Response<Body> {
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("\"{name}\" not found"), "reason": "NotFound", "code": 404});
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .body(Body::from(serde_json::to_vec(&status).expect("json")))
        .expect("response")
}

fn ok(value: &Value) -> Response<Body> {
    Response::builder()
        .body(Body::from(serde_json::to_vec(value).expect("json")))
        .expect("response")
}

impl ApiServerVerifier {
    fn new(handle: Handle, orchestrator: Orchestrator, scenario: Scenario) -> Self {
        let refuse = match &scenario {
            Scenario::ApplyRefused(kind) => Some(*kind),
            _ => None,
        };
        let (policies, secrets) = match scenario {
            Scenario::FreshInstall => (
                vec![readonly_policy(), ci_policy(), other_team_policy()],
                key_secrets(),
            ),
            Scenario::GeneratedSecretPresent(existing) => {
                let mut s = key_secrets();
                s.push(*existing);
                (vec![readonly_policy(), ci_policy()], s)
            }
            Scenario::InvalidPolicy => (vec![readonly_policy(), invalid_policy()], key_secrets()),
            Scenario::MissingSecret => (vec![readonly_policy()], key_secrets()),
            Scenario::World(p, s) => (p, s),
            Scenario::ApplyRefused(_) => (vec![readonly_policy()], key_secrets()),
        };
        ApiServerVerifier {
            handle,
            orchestrator,
            policies,
            secrets,
            refuse,
        }
    }

    /// Answers requests until the client is dropped; returns what was asked.
    fn run(mut self) -> tokio::task::JoinHandle<Vec<Recorded>> {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some((request, send)) = self.handle.next_request().await {
                let method = request.method().to_string();
                let path = request.uri().path().to_string();
                let query = request.uri().query().unwrap_or_default().to_string();
                let bytes = request.into_body().collect_bytes().await.expect("body");
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).expect("json body")
                };
                let recorded = Recorded {
                    method,
                    path,
                    query,
                    body,
                };
                let response = self.answer(&recorded);
                seen.push(recorded);
                send.send_response(response);
            }
            seen
        })
    }

    fn answer(&self, r: &Recorded) -> Response<Body> {
        let last = r.path.rsplit('/').next().unwrap_or_default().to_string();
        match r.method.as_str() {
            "GET" if r.path.contains("/secrets/") => {
                match self.secrets.iter().find(|s| s.name_any() == last) {
                    Some(secret) => ok(&serde_json::to_value(secret).expect("secret")),
                    None => not_found(&last),
                }
            }
            "PATCH" if r.path.ends_with("/status") && r.path.contains("/orchestrators/") => {
                let mut object = serde_json::to_value(&self.orchestrator).expect("orch");
                object["status"] = r.body["status"].clone();
                ok(&object)
            }
            "PATCH" if r.path.ends_with("/status") => {
                let name = r
                    .path
                    .trim_end_matches("/status")
                    .rsplit('/')
                    .next()
                    .unwrap_or_default();
                let policy = self
                    .policies
                    .iter()
                    .find(|p| p.name_any() == name)
                    .expect("patched policy exists");
                let mut object = serde_json::to_value(policy).expect("policy");
                object["status"] = r.body["status"].clone();
                ok(&object)
            }
            "PATCH" if self.refuse == Some(r.kind()) => {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": format!("{} is invalid: spec: Forbidden: spec is immutable after creation", r.kind()),
                    "reason": "Invalid", "code": 422});
                Response::builder()
                    .status(StatusCode::UNPROCESSABLE_ENTITY)
                    .body(Body::from(serde_json::to_vec(&status).expect("json")))
                    .expect("response")
            }
            "PATCH" => {
                let mut object = r.body.clone();
                if r.kind() == "Deployment" {
                    object["metadata"]["generation"] = json!(1);
                    object["status"] = json!({"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1});
                }
                ok(&object)
            }
            "POST" if r.path.contains("/events") => Response::builder()
                .status(StatusCode::CREATED)
                .body(Body::from(serde_json::to_vec(&r.body).expect("json")))
                .expect("response"),
            _ => panic!("unexpected request {} {}", r.method, r.path),
        }
    }
}

fn demo(spec: Value) -> Orchestrator {
    orchestrator("demo", spec)
}

fn selecting() -> Orchestrator {
    demo(json!({"policySelector": {"matchLabels": {"team": "core"}}}))
}

/// Runs one reconcile of `orch` against `scenario` (and the error policy
/// when it fails); returns the result, every request sent, and the metrics.
async fn reconcile_once(
    orch: &Orchestrator,
    scenario: Scenario,
    fresh: ai_orchestrator_operator::secrets::Fresh,
) -> (
    Result<kube::runtime::controller::Action, Error>,
    Vec<Recorded>,
    Arc<Metrics>,
) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, NS);
    let verifier = ApiServerVerifier::new(handle, orch.clone(), scenario);
    let metrics = Arc::new(Metrics::default());
    let mut ctx = Context::new(
        client,
        metrics.clone(),
        store_of([orch.clone()]),
        store_of(verifier.policies.clone()),
    );
    ctx.clock = Box::new(now);
    ctx.fresh = Box::new(move || fresh.clone());
    let ctx = Arc::new(ctx);
    let server = verifier.run();
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        controller::reconcile(Arc::new(orch.clone()), ctx.clone()),
    )
    .await
    .expect("reconcile finished");
    if let Err(e) = &result {
        controller::error_policy(Arc::new(orch.clone()), e, ctx.clone());
    }
    // Dropping the last client ends the fake server.
    drop(ctx);
    let recorded = tokio::time::timeout(std::time::Duration::from_secs(30), server)
        .await
        .expect("server finished")
        .expect("server task");
    (result, recorded, metrics)
}

fn applies(recorded: &[Recorded]) -> Vec<&Recorded> {
    recorded.iter().filter(|r| r.is_apply()).collect()
}

fn applied<'a>(recorded: &'a [Recorded], kind: &str) -> &'a Recorded {
    recorded
        .iter()
        .find(|r| r.is_apply() && r.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind} applied"))
}

fn orchestrator_status(recorded: &[Recorded]) -> Value {
    recorded
        .iter()
        .find(|r| r.is_status() && r.path.contains("/orchestrators/"))
        .map(|r| r.body.clone())
        .expect("orchestrator status patched")
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["status"]["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

fn secret_data(body: &Value, key: &str) -> String {
    use base64::Engine;
    let encoded = body["data"][key].as_str().expect("data key");
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64"),
    )
    .expect("utf8")
}

#[tokio::test]
async fn fresh_install_applies_everything_with_server_side_apply_and_writes_status() {
    let (result, recorded, metrics) =
        reconcile_once(&selecting(), Scenario::FreshInstall, fresh()).await;
    result.expect("reconcile");
    let kinds: Vec<&str> = applies(&recorded).iter().map(|r| r.kind()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "Secret",
            "PersistentVolumeClaim",
            "Service",
            "Deployment"
        ]
    );
    for r in recorded.iter().filter(|r| r.method == "PATCH") {
        assert!(
            r.query.contains("fieldManager=ai-orchestrator-operator"),
            "{} {}",
            r.path,
            r.query
        );
        assert!(r.query.contains("force=true"), "{} {}", r.path, r.query);
        assert_eq!(
            r.body["metadata"]["ownerReferences"][0]["kind"]
                .as_str()
                .unwrap_or("Orchestrator"),
            "Orchestrator"
        );
    }
    let cm = applied(&recorded, "ConfigMap");
    assert_eq!(cm.path, "/api/v1/namespaces/team/configmaps/demo-policy");
    assert_eq!(
        cm.body["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "ai-orchestrator-operator"
    );
    assert_eq!(
        cm.body["metadata"]["ownerReferences"][0]["controller"],
        true
    );
    let yaml = cm.body["data"]["policy.yaml"]
        .as_str()
        .expect("policy.yaml");
    policy::Policy::from_yaml(yaml).expect("the server accepts the rendered policy");
    assert!(
        !yaml.contains("npm"),
        "the other team's policy is not selected"
    );

    let status = orchestrator_status(&recorded);
    assert_eq!(status["apiVersion"], "ai-orchestrator.io/v1alpha1");
    assert_eq!(status["status"]["observedGeneration"], 3);
    assert_eq!(status["status"]["readyReplicas"], 1);
    assert_eq!(status["status"]["url"], "http://demo.team.svc:8001");
    assert_eq!(
        status["status"]["appliedPolicies"],
        json!([{"name": "ci", "generation": 2}, {"name": "readonly", "generation": 2}])
    );
    assert_eq!(
        status["status"]["policyHash"].as_str().map(str::len),
        Some(64)
    );
    assert_eq!(condition(&status, "Ready")["status"], "True");
    assert_eq!(condition(&status, "PolicyValid")["status"], "True");
    assert_eq!(condition(&status, "Progressing")["status"], "False");
    assert_eq!(condition(&status, "Degraded")["status"], "False");
    // The scale subresource reads these.
    assert_eq!(status["status"]["replicas"], 1);
    assert_eq!(
        status["status"]["selector"],
        "app.kubernetes.io/instance=demo,app.kubernetes.io/name=ai-orchestrator"
    );

    // Policy statuses: bound to demo, valid; the unselected one bound to nothing.
    let policy_status = |name: &str| {
        recorded
            .iter()
            .find(|r| r.is_status() && r.path.ends_with(&format!("/accesspolicies/{name}/status")))
            .map(|r| r.body["status"].clone())
            .unwrap_or_else(|| panic!("no status for {name}"))
    };
    assert_eq!(policy_status("readonly")["boundTo"], json!(["demo"]));
    assert_eq!(policy_status("readonly")["valid"], true);
    assert_eq!(policy_status("readonly")["boundCount"], 1);
    assert_eq!(policy_status("other-team")["boundTo"], Value::Null);
    assert_eq!(policy_status("other-team")["boundCount"], 0);
    // Conditions to `kubectl wait` on, with the generation they describe.
    let readonly = json!({"status": policy_status("readonly")});
    let valid = condition(&readonly, "Valid");
    assert_eq!(
        (
            valid["status"].as_str(),
            valid["reason"].as_str(),
            valid["observedGeneration"].as_i64()
        ),
        (Some("True"), Some("Valid"), Some(2))
    );
    let bound = condition(&readonly, "Bound");
    assert_eq!(
        (bound["status"].as_str(), bound["message"].as_str()),
        (Some("True"), Some("merged into demo"))
    );
    let other = json!({"status": policy_status("other-team")});
    assert_eq!(condition(&other, "Bound")["reason"], "NotSelected");
    assert_eq!(metrics.reconcile_count(), 1);
}

#[tokio::test]
async fn generated_secret_is_not_regenerated_when_present() {
    // What an earlier reconcile generated.
    let orch = selecting();
    let set = render::policy_set(&orch, &[readonly_policy(), ci_policy()]);
    let earlier = render::render(&RenderInput {
        orchestrator: &orch,
        policies: &set,
        secrets: &values(&key_secrets()),
        existing: &Existing::default(),
        fresh: &fresh(),
        now: now(),
    })
    .expect("earlier render")
    .auth_secret;
    let (result, recorded, _) = reconcile_once(
        &orch,
        Scenario::GeneratedSecretPresent(Box::new(earlier.clone())),
        other_fresh(),
    )
    .await;
    result.expect("reconcile");
    let applied_secret = applied(&recorded, "Secret");
    let earlier_json = serde_json::to_value(&earlier).expect("json");
    assert_eq!(applied_secret.body["data"], earlier_json["data"]);
    assert_eq!(
        secret_data(&applied_secret.body, contract::ADMIN_PASSWORD_FILE),
        fresh().admin_password
    );

    // Without it, the fresh material is used.
    let (_, recorded, _) = reconcile_once(&orch, Scenario::FreshInstall, other_fresh()).await;
    let generated = applied(&recorded, "Secret");
    assert_eq!(
        secret_data(&generated.body, contract::ADMIN_PASSWORD_FILE),
        other_fresh().admin_password
    );
    assert!(
        secret_data(&generated.body, contract::JWT_KEYS_FILE).contains(&other_fresh().jwt_secret)
    );
}

#[tokio::test]
async fn invalid_policy_is_reported_left_out_and_announced() {
    let (result, recorded, _) =
        reconcile_once(&selecting(), Scenario::InvalidPolicy, fresh()).await;
    result.expect("reconcile still succeeds with the valid policies");
    let broken = recorded
        .iter()
        .find(|r| r.is_status() && r.path.ends_with("/accesspolicies/broken/status"))
        .expect("broken policy status");
    assert_eq!(broken.body["status"]["valid"], false);
    let message = broken.body["status"]["message"].as_str().expect("message");
    assert!(message.contains("commands.allow[0].program"), "{message}");
    let valid = condition(&broken.body, "Valid");
    assert_eq!(
        (valid["status"].as_str(), valid["reason"].as_str()),
        (Some("False"), Some("Invalid"))
    );
    assert!(
        valid["message"]
            .as_str()
            .unwrap_or_default()
            .contains("commands.allow[0].program")
    );
    let event = recorded
        .iter()
        .find(|r| r.method == "POST" && r.path.contains("/events"))
        .expect("an Event");
    assert_eq!(event.body["reason"], "InvalidPolicy");
    assert_eq!(event.body["type"], "Warning");
    assert_eq!(event.body["regarding"]["name"], "broken");

    let status = orchestrator_status(&recorded);
    let policy_valid = condition(&status, "PolicyValid");
    assert_eq!(policy_valid["status"], "False");
    assert_eq!(policy_valid["reason"], "AccessPolicyInvalid");
    assert!(
        policy_valid["message"]
            .as_str()
            .unwrap_or_default()
            .contains("broken")
    );
    assert_eq!(
        status["status"]["appliedPolicies"],
        json!([{"name": "readonly", "generation": 2}])
    );
    let yaml = applied(&recorded, "ConfigMap").body["data"]["policy.yaml"]
        .as_str()
        .expect("yaml")
        .to_string();
    assert!(!yaml.contains("/usr/bin/curl"));
    assert!(yaml.contains("/workspace"));
}

#[tokio::test]
async fn missing_secret_is_a_condition_and_a_requeue_not_a_crash() {
    let orch = demo(json!({
        "policySelector": {"matchLabels": {"team": "core"}},
        "auth": {"adminPasswordSecretRef": {"name": "admin-credentials", "key": "password"}}
    }));
    let (result, recorded, metrics) = reconcile_once(&orch, Scenario::MissingSecret, fresh()).await;
    let error = result.expect_err("missing secret fails the reconcile");
    assert_eq!(error.category(), "missing_secret");
    assert!(
        applies(&recorded).is_empty(),
        "nothing is applied without the secret"
    );
    let status = orchestrator_status(&recorded);
    let degraded = condition(&status, "Degraded");
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "SecretMissing");
    let message = degraded["message"].as_str().expect("message");
    assert!(
        message.contains("admin-credentials") && message.contains("adminPasswordSecretRef"),
        "{message}"
    );
    assert!(
        recorded
            .iter()
            .any(|r| r.method == "POST" && r.body["reason"] == "SecretMissing"),
        "a Warning Event names the problem"
    );
    assert_eq!(metrics.failures("missing_secret"), 1);
}

#[tokio::test]
async fn refused_apply_is_shown_as_degraded_and_retried() {
    let (result, recorded, metrics) = reconcile_once(
        &selecting(),
        Scenario::ApplyRefused("PersistentVolumeClaim"),
        fresh(),
    )
    .await;
    let error = result.expect_err("refused apply fails the reconcile");
    assert_eq!(error.category(), "kube_api");
    let kinds: Vec<&str> = applies(&recorded).iter().map(|r| r.kind()).collect();
    assert_eq!(
        kinds.last(),
        Some(&"PersistentVolumeClaim"),
        "nothing after the refused object is applied"
    );
    let status = orchestrator_status(&recorded);
    let degraded = condition(&status, "Degraded");
    assert_eq!(degraded["status"], "True");
    assert_eq!(degraded["reason"], "ApiError");
    assert!(
        degraded["message"]
            .as_str()
            .unwrap_or_default()
            .contains("immutable"),
        "{degraded}"
    );
    assert_eq!(metrics.failures("kube_api"), 1);
}

#[tokio::test]
async fn policy_change_writes_new_configmap_and_keeps_the_pod_template() {
    let orch = selecting();
    let (_, before, _) = reconcile_once(&orch, Scenario::FreshInstall, fresh()).await;
    let mut changed = ci_policy();
    changed.spec.commands.deny.push("wget".into());
    changed.metadata.generation = Some(3);
    let (_, after, _) = reconcile_once(
        &orch,
        Scenario::World(vec![readonly_policy(), changed], key_secrets()),
        fresh(),
    )
    .await;
    assert_ne!(
        applied(&before, "ConfigMap").body,
        applied(&after, "ConfigMap").body
    );
    assert!(
        applied(&after, "ConfigMap").body["data"]["policy.yaml"]
            .as_str()
            .unwrap_or_default()
            .contains("wget")
    );
    assert_eq!(
        applied(&before, "Deployment").body["spec"]["template"],
        applied(&after, "Deployment").body["spec"]["template"]
    );
    assert_eq!(
        orchestrator_status(&after)["status"]["appliedPolicies"],
        json!([{"name": "ci", "generation": 3}, {"name": "readonly", "generation": 2}])
    );
}

#[test]
fn policy_events_map_to_every_orchestrator_of_the_namespace() {
    let (store, mut writer) = reflector::store::<Orchestrator>();
    writer.apply_watcher_event(&watcher::Event::Apply(selecting()));
    writer.apply_watcher_event(&watcher::Event::Apply(orchestrator(
        "web",
        json!({"policySelector": {"matchLabels": {"team": "web"}}}),
    )));
    let mut elsewhere = orchestrator("far", json!({}));
    elsewhere.metadata.namespace = Some("other".into());
    writer.apply_watcher_event(&watcher::Event::Apply(elsewhere));
    // A policy whose labels no longer match anything still reaches the
    // Orchestrators that may have selected it before.
    let relabelled = policy("readonly", json!({"team": "nobody"}), json!({}));
    let mut names: Vec<String> = controller::orchestrators_for_policy(&store, &relabelled)
        .into_iter()
        .map(|r| r.name)
        .collect();
    names.sort();
    assert_eq!(names, ["demo", "web"]);
}

#[test]
fn secret_events_map_to_the_orchestrators_that_read_or_own_them() {
    let (store, mut writer) = reflector::store::<Orchestrator>();
    let with_db =
        demo(json!({"replicas": 2, "database": {"urlSecretRef": {"name": "db", "key": "url"}}}));
    writer.apply_watcher_event(&watcher::Event::Apply(with_db));
    writer.apply_watcher_event(&watcher::Event::Apply(orchestrator("plain", json!({}))));
    let refs = std::sync::RwLock::new(std::collections::HashMap::new());
    refs.write().expect("lock").insert(
        ObjectRef::<Orchestrator>::new("plain").within(NS),
        std::collections::BTreeSet::from(["ci-key".to_string()]),
    );
    let names = |secret: &str| -> Vec<String> {
        controller::orchestrators_for_secret(&store, &refs, &crate::common::secret(secret, &[]))
            .into_iter()
            .map(|r| r.name)
            .collect()
    };
    assert_eq!(names("db"), ["demo"]);
    assert_eq!(names("ci-key"), ["plain"]);
    assert_eq!(names("plain-auth"), ["plain"]);
    assert!(names("unrelated").is_empty());
}

#[test]
fn backoff_doubles_up_to_five_minutes() {
    assert_eq!(controller::backoff(1).as_secs(), 5);
    assert_eq!(controller::backoff(2).as_secs(), 10);
    assert_eq!(controller::backoff(4).as_secs(), 40);
    assert_eq!(controller::backoff(30).as_secs(), 300);
}

#[tokio::test]
async fn an_invalid_spec_waits_for_a_change_other_failures_back_off() {
    let (service, _handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let ctx = Arc::new(Context::new(
        Client::new(service, NS),
        Arc::new(Metrics::default()),
        store_of([selecting()]),
        store_of(Vec::<AccessPolicy>::new()),
    ));
    let orch = Arc::new(selecting());
    let invalid = Error::Render(render::RenderError::InvalidSpec("spec.replicas".into()));
    assert_eq!(
        controller::error_policy(orch.clone(), &invalid, ctx.clone()),
        kube::runtime::controller::Action::await_change()
    );
    let missing = Error::Render(render::RenderError::MissingSecret {
        name: "s".into(),
        purpose: "p".into(),
    });
    assert_eq!(
        controller::error_policy(orch.clone(), &missing, ctx.clone()),
        kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(5))
    );
    assert_eq!(
        controller::error_policy(orch, &missing, ctx.clone()),
        kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(10))
    );
    assert_eq!(ctx.metrics.failures("invalid_spec"), 1);
}

#[tokio::test]
async fn an_api_key_name_taken_by_another_policy_degrades_with_both_named() {
    let mut other = ci_policy();
    other.spec.api_keys[0].name = "ci".into();
    let (result, recorded, _) = reconcile_once(
        &selecting(),
        Scenario::World(vec![readonly_policy(), other], key_secrets()),
        fresh(),
    )
    .await;
    let error = result.expect_err("a name declared twice is refused");
    assert_eq!(error.category(), "invalid_spec");
    assert!(applies(&recorded).is_empty(), "nothing half-applied");
    let status = orchestrator_status(&recorded);
    let message = condition(&status, "Degraded")["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert_eq!(
        message,
        "AccessPolicy readonly apiKeys[ci]: api-keys.json: [1].name: \"ci\" appears twice \
         (also declared by AccessPolicy ci as \"ci\")"
    );
}

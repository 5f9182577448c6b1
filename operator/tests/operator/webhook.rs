//! The admission webhook: the pure decisions, the certificate plan, and the
//! HTTPS server answering AdmissionReview documents on 127.0.0.1 with a
//! certificate from its own CA. (The API server itself is not available:
//! what it sends is written here as it documents it, and the namespace's
//! objects come from a fixed view instead of the Kubernetes API.)

use std::net::SocketAddr;
use std::sync::Arc;

use ai_orchestrator_operator::crd::{AccessPolicy, Orchestrator};
use ai_orchestrator_operator::webhook::decide::{self, Namespace};
use ai_orchestrator_operator::webhook::server::{self, CertSlot, ClusterView};
use ai_orchestrator_operator::webhook::tls::{self, Plan};
use futures::future::BoxFuture;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::common::*;

const SERVICE: &str = "ai-orchestrator-operator-webhook";
const OPERATOR_NS: &str = "ai-orchestrator-system";

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

fn world() -> Namespace {
    Namespace {
        orchestrators: vec![orchestrator(
            "demo",
            json!({"policySelector": {"matchLabels": {"team": "core"}}}),
        )],
        policies: vec![readonly_policy(), ci_policy()],
    }
}

/// Leaves `make` out, and says so in an example.
fn no_make_policy() -> AccessPolicy {
    policy(
        "no-make",
        json!({"team": "core"}),
        json!({"commands": {"allow": [{"program": "ls"}]}, "examples": {"deny": ["make install"]}}),
    )
}

#[test]
fn a_valid_policy_is_admitted_with_warnings_for_what_is_risky() {
    let mut risky = readonly_policy();
    risky.spec.paths.write = vec!["/etc".into(), "/".into()];
    risky.spec.api_keys[0].scopes = vec![policy::contract::Scope::Admin];
    risky.spec.api_keys[0].expires_at = None;
    let verdict = decide::review_access_policy(&risky, &world());
    assert!(verdict.allowed(), "{verdict:?}");
    let warnings = verdict.warnings.join("\n");
    assert!(
        warnings.contains("paths.write[0]: \"/etc\" is a system directory"),
        "{warnings}"
    );
    assert!(
        warnings.contains("contains read root paths.read[0] \"/workspace\""),
        "{warnings}"
    );
    assert!(
        warnings.contains("apiKeys[0]: \"ci\" has the admin scope and no expiresAt"),
        "{warnings}"
    );
    let plain = decide::review_access_policy(&readonly_policy(), &world());
    assert_eq!(plain.denied, None);
    assert!(plain.warnings.is_empty(), "{:?}", plain.warnings);
    let unbound = policy("lonely", json!({"team": "nobody"}), json!({}));
    let verdict = decide::review_access_policy(&unbound, &world());
    assert!(verdict.allowed());
    assert!(verdict.warnings[0].contains("no Orchestrator in namespace team selects"));
}

#[test]
fn the_servers_own_validation_refuses_with_field_paths() {
    let relative = policy(
        "relative",
        json!({"team": "core"}),
        json!({"commands": {"allow": [{"program": "git", "subcommands": [{"name": ""}]}], "protectedPaths": ["etc"]}}),
    );
    let message = decide::review_access_policy(&relative, &world())
        .denied
        .expect("refused");
    assert!(
        message.starts_with("AccessPolicy relative is invalid:"),
        "{message}"
    );
    assert!(message.contains("commands.protectedPaths"), "{message}");
    assert!(
        message.contains("commands.allow[0].subcommands[0]"),
        "{message}"
    );
}

#[test]
fn a_failing_example_is_refused() {
    let failing = policy(
        "failing",
        json!({"team": "core"}),
        json!({"commands": {"allow": [{"program": "ls"}]}, "examples": {"allow": ["cat /etc/passwd"]}}),
    );
    let message = decide::review_access_policy(&failing, &world())
        .denied
        .expect("refused");
    assert!(message.contains("examples.allow[0]"), "{message}");
    assert!(message.contains("cat /etc/passwd"), "{message}");
}

#[test]
fn a_policy_that_breaks_the_merged_set_names_the_orchestrator_and_example() {
    let mut ns = world();
    ns.policies.push(no_make_policy());
    let curl = policy(
        "make",
        json!({"team": "core"}),
        json!({"commands": {"allow": [{"program": "make"}]}}),
    );
    // Valid on its own...
    assert!(ai_orchestrator_operator::render::validate_policy(&curl).is_ok());
    // ...but merged with no-make, that policy's deny example is allowed.
    let message = decide::review_access_policy(&curl, &ns)
        .denied
        .expect("refused");
    assert!(message.contains("Orchestrator demo"), "{message}");
    assert!(message.contains("make install"), "{message}");
    // Not selected by demo: nothing to break.
    let elsewhere = policy("make", json!({"team": "web"}), curl.spec_json());
    assert!(decide::review_access_policy(&elsewhere, &ns).allowed());
}

#[test]
fn an_api_key_name_of_another_policy_is_refused() {
    let mut twin = ci_policy();
    twin.metadata.name = Some("twin".into());
    twin.spec.api_keys[0].name = "ci".into();
    let message = decide::review_access_policy(&twin, &world())
        .denied
        .expect("refused");
    assert_eq!(
        message,
        "Orchestrator demo: API key name \"ci\" is declared by AccessPolicies readonly, twin; names must be unique per server"
    );
}

#[test]
fn orchestrators_that_would_never_reconcile_are_refused() {
    let ns = world();
    let scaled = orchestrator("scaled", json!({"replicas": 3}));
    let message = decide::review_orchestrator(&scaled, &ns)
        .denied
        .expect("refused");
    assert!(
        message.contains("spec.replicas > 1 requires spec.database.urlSecretRef"),
        "{message}"
    );
    for (selector, why) in [
        (
            json!({"matchExpressions": [{"key": "team", "operator": "In", "values": []}]}),
            "label team",
        ),
        (
            json!({"matchLabels": {"team": "core"}, "matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["core"]}]}),
            "label team",
        ),
        (
            json!({"matchLabels": {"team": "core"}, "matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}),
            "both exist and not exist",
        ),
        (
            json!({"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}, {"key": "team", "operator": "In", "values": ["b"]}]}),
            "label team",
        ),
    ] {
        let orch = orchestrator("odd", json!({"policySelector": selector}));
        let message = decide::review_orchestrator(&orch, &ns)
            .denied
            .unwrap_or_default();
        assert!(
            message.contains("can never match") && message.contains(why),
            "{selector}: {message}"
        );
    }
    let fine = orchestrator(
        "fine",
        json!({"policySelector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["core", "web"]}, {"key": "team", "operator": "NotIn", "values": ["web"]}]}}),
    );
    assert!(decide::review_orchestrator(&fine, &ns).allowed());
    let empty = orchestrator(
        "empty",
        json!({"policySelector": {"matchLabels": {"team": "nobody"}}}),
    );
    let verdict = decide::review_orchestrator(&empty, &ns);
    assert!(verdict.allowed());
    assert!(
        verdict.warnings[0].contains("selects no AccessPolicy"),
        "{verdict:?}"
    );
    let with_db = orchestrator(
        "db",
        json!({"database": {"urlSecretRef": {"name": "db", "key": "url"}}}),
    );
    assert!(decide::review_scale(&with_db, 5).allowed());
    assert!(!decide::review_scale(&scaled, 2).allowed());
    assert!(decide::review_scale(&scaled, 1).allowed());
}

trait SpecJson {
    fn spec_json(&self) -> Value;
}

impl SpecJson for AccessPolicy {
    fn spec_json(&self) -> Value {
        serde_json::to_value(&self.spec).expect("spec")
    }
}

#[test]
fn certificates_are_made_once_renewed_before_expiry_and_the_ca_overlaps() {
    let dns = tls::dns_names(SERVICE, OPERATOR_NS);
    assert_eq!(
        dns[2],
        "ai-orchestrator-operator-webhook.ai-orchestrator-system.svc"
    );
    let start = now();
    assert_eq!(tls::plan(None, &dns, start), Plan::NewCa);
    let first = tls::next(None, &dns, start)
        .expect("generate")
        .expect("new");
    assert_eq!(first.ca_bundle, first.ca_cert);
    assert!(first.cert_not_after > start.checked_add(days(364)).expect("t"));
    assert_eq!(tls::plan(Some(&first), &dns, start), Plan::Keep);
    assert!(
        tls::next(Some(&first), &dns, start.checked_add(days(300)).expect("t"))
            .expect("keep")
            .is_none()
    );
    // The Secret round trip keeps everything.
    let (data, annotations) = tls::to_secret(&first);
    assert_eq!(tls::from_secret(&data, &annotations).as_ref(), Some(&first));
    assert_eq!(tls::from_secret(&data, &Default::default()), None);
    // Thirty days before expiry: a new serving certificate from the same CA.
    let late = start.checked_add(days(340)).expect("t");
    assert_eq!(tls::plan(Some(&first), &dns, late), Plan::RenewServing);
    let renewed = tls::next(Some(&first), &dns, late)
        .expect("renew")
        .expect("new");
    assert_eq!(renewed.ca_cert, first.ca_cert);
    assert_ne!(renewed.cert, first.cert);
    // Another Service name: a certificate for it.
    let other = tls::dns_names("renamed", OPERATOR_NS);
    assert_eq!(tls::plan(Some(&first), &other, start), Plan::RenewServing);
    // A year before the CA expires: a new CA, the old one still in the bundle.
    let old_ca = start.checked_add(days(3650 - 300)).expect("t");
    assert_eq!(tls::plan(Some(&renewed), &dns, old_ca), Plan::NewCa);
    let rotated = tls::next(Some(&renewed), &dns, old_ca)
        .expect("rotate")
        .expect("new");
    assert_ne!(rotated.ca_cert, renewed.ca_cert);
    assert_eq!(
        rotated.ca_bundle,
        format!("{}{}", rotated.ca_cert, renewed.ca_cert)
    );
}

struct Fixed(Namespace);

impl ClusterView for Fixed {
    fn namespace<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Namespace, String>> {
        Box::pin(async move { Ok(self.0.clone()) })
    }
}

/// Serves the webhook over HTTPS on 127.0.0.1 with a certificate of its own CA.
async fn start(ns: Namespace) -> (SocketAddr, tls::Material) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let material = tls::next(
        None,
        &tls::dns_names(SERVICE, OPERATOR_NS),
        Timestamp::now(),
    )
    .expect("certificates")
    .expect("new");
    let slot = Arc::new(CertSlot::default());
    slot.set(&material.cert, &material.key).expect("load");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = server::router(Arc::new(Fixed(ns)));
    tokio::spawn(server::serve_https(
        listener,
        slot,
        app,
        std::future::pending(),
    ));
    (addr, material)
}

fn client(addr: SocketAddr, bundle: &str) -> reqwest::Client {
    let roots = reqwest::Certificate::from_pem_bundle(bundle.as_bytes()).expect("bundle");
    reqwest::Client::builder()
        .tls_certs_only(roots)
        .resolve(&format!("{SERVICE}.{OPERATOR_NS}.svc"), addr)
        .build()
        .expect("client")
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("https://{SERVICE}.{OPERATOR_NS}.svc:{}{path}", addr.port())
}

fn review(kind: &str, resource: &str, object: Value, sub_resource: Option<&str>) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "ai-orchestrator.io", "version": "v1alpha1", "kind": kind},
            "resource": {"group": "ai-orchestrator.io", "version": "v1alpha1", "resource": resource},
            "subResource": sub_resource,
            "name": object["metadata"]["name"],
            "namespace": NS,
            "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": null,
            "dryRun": false
        }
    })
}

async fn post(
    client: &reqwest::Client,
    addr: SocketAddr,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let response = client
        .post(url(addr, path))
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

#[tokio::test]
async fn the_webhook_answers_admission_reviews_over_https() {
    let mut ns = world();
    ns.policies.push(no_make_policy());
    let (addr, material) = start(ns).await;
    let client = client(addr, &material.ca_bundle);
    let to_json = |p: &AccessPolicy| serde_json::to_value(p).expect("json");

    // Valid.
    let (status, body) = post(
        &client,
        addr,
        "/validate/accesspolicies",
        &review(
            "AccessPolicy",
            "accesspolicies",
            to_json(&readonly_policy()),
            None,
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(body["kind"], "AdmissionReview");
    assert_eq!(
        body["response"]["uid"],
        "705ab4f5-6393-11e8-b7cc-42010a800002"
    );
    assert_eq!(body["response"]["allowed"], true, "{body}");

    // An invalid field.
    let bad = policy(
        "bad",
        json!({"team": "core"}),
        json!({"commands": {"allow": [{"program": "/usr/bin/curl"}]}}),
    );
    let (_, body) = post(
        &client,
        addr,
        "/validate/accesspolicies",
        &review("AccessPolicy", "accesspolicies", to_json(&bad), None),
    )
    .await;
    assert_eq!(body["response"]["allowed"], false);
    let message = body["response"]["status"]["message"]
        .as_str()
        .expect("message");
    assert!(message.contains("commands.allow[0].program"), "{message}");

    // A failing example.
    let failing = policy(
        "failing",
        json!({}),
        json!({"commands": {"allow": [{"program": "ls"}]}, "examples": {"allow": ["rm -rf /"]}}),
    );
    let (_, body) = post(
        &client,
        addr,
        "/validate/accesspolicies",
        &review("AccessPolicy", "accesspolicies", to_json(&failing), None),
    )
    .await;
    assert_eq!(body["response"]["allowed"], false);
    assert!(
        body["response"]["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("examples.allow[0]"),
        "{body}"
    );

    // A policy that breaks the merged set.
    let curl = policy(
        "make",
        json!({"team": "core"}),
        json!({"commands": {"allow": [{"program": "make"}]}}),
    );
    let (_, body) = post(
        &client,
        addr,
        "/validate/accesspolicies",
        &review("AccessPolicy", "accesspolicies", to_json(&curl), None),
    )
    .await;
    assert_eq!(body["response"]["allowed"], false);
    let message = body["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("Orchestrator demo") && message.contains("make install"),
        "{message}"
    );

    // Warnings travel in the response.
    let mut risky = readonly_policy();
    risky.spec.paths.write = vec!["/".into()];
    let (_, body) = post(
        &client,
        addr,
        "/validate/accesspolicies",
        &review("AccessPolicy", "accesspolicies", to_json(&risky), None),
    )
    .await;
    assert_eq!(body["response"]["allowed"], true);
    assert!(
        body["response"]["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .contains("system directory"),
        "{body}"
    );

    // Orchestrators and their scale subresource.
    let scaled: Orchestrator = orchestrator("demo", json!({"replicas": 2}));
    let (_, body) = post(
        &client,
        addr,
        "/validate/orchestrators",
        &review(
            "Orchestrator",
            "orchestrators",
            serde_json::to_value(&scaled).expect("json"),
            None,
        ),
    )
    .await;
    assert_eq!(body["response"]["allowed"], false);
    let scale = json!({"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": "demo", "namespace": NS}, "spec": {"replicas": 3}});
    let (_, body) = post(
        &client,
        addr,
        "/validate/orchestrators",
        &review("Scale", "orchestrators", scale, Some("scale")),
    )
    .await;
    assert_eq!(body["response"]["allowed"], false, "{body}");
    let unknown_provider = json!({"apiVersion": "ai-orchestrator.io/v1alpha1", "kind": "Orchestrator", "metadata": {"name": "x", "namespace": NS}, "spec": {"llm": {"provider": "hal9000"}}});
    let (_, body) = post(
        &client,
        addr,
        "/validate/orchestrators",
        &review("Orchestrator", "orchestrators", unknown_provider, None),
    )
    .await;
    assert_eq!(body["response"]["allowed"], false);
    assert!(
        body["response"]["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("hal9000"),
        "{body}"
    );

    // Malformed reviews: 400 with a detail.
    for malformed in [
        json!({"kind": "AdmissionReview"}),
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
        json!([1, 2]),
    ] {
        let (status, body) = post(&client, addr, "/validate/accesspolicies", &malformed).await;
        assert_eq!(status, 400, "{malformed}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
    }
    let response = client
        .post(url(addr, "/validate/accesspolicies"))
        .body("not json")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn the_served_certificate_chains_to_the_published_ca_bundle_only() {
    let (addr, material) = start(world()).await;
    let trusted = client(addr, &material.ca_bundle);
    let body = review(
        "AccessPolicy",
        "accesspolicies",
        serde_json::to_value(readonly_policy()).expect("json"),
        None,
    );
    assert_eq!(
        post(&trusted, addr, "/validate/accesspolicies", &body)
            .await
            .0,
        200
    );
    // A client trusting another CA refuses the handshake.
    let stranger = tls::next(
        None,
        &tls::dns_names(SERVICE, OPERATOR_NS),
        Timestamp::now(),
    )
    .expect("other CA")
    .expect("new");
    let untrusting = client(addr, &stranger.ca_bundle);
    let error = untrusting
        .post(url(addr, "/validate/accesspolicies"))
        .json(&body)
        .send()
        .await
        .expect_err("untrusted");
    assert!(error.is_connect(), "{error:?}");
}

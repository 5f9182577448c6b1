#!/usr/bin/env python3
"""Lint and render the Helm chart with the real Helm library, then check what it renders.

Run from anywhere:  python3 scripts/chart-lint.py
Needs:              python3 -m pip install --ignore-requires-python -r scripts/requirements.txt

Helm's lint action runs on the default values and on ci/all-on-values.yaml. Rendering goes
through Helm's install action (values merge, values.schema.json validation, templates,
NOTES.txt) against a stand-in API server on 127.0.0.1 (scripts/fake_kube_api.py), because
the library offers no dry-run. The rendered objects are then checked one property at a time.
The same run checks the Dockerfile, docker-compose.yml, .env.example and examples/
(scripts/packaging_checks.py). Ends with `chart: N passed, M failed`; exits 1 on any failure.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Helm's library reads HELM_DRIVER once, when it is loaded; release records must stay in
# memory because the stand-in API server does not keep Secrets.
if os.environ.get("HELM_DRIVER") != "memory":
    os.environ["HELM_DRIVER"] = "memory"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import jsonschema  # noqa: E402
import yaml  # noqa: E402

import helm_sdkpy as helm  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_kube_api import FakeKubeApi  # noqa: E402
from packaging_checks import Checks, run_packaging_checks  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "ai-orchestrator"
RBAC_FILE = CHART / "files" / "operator-rbac.yaml"
NAMESPACE = "ai-orchestrator-system"
RELEASE = "aio"

# Helm's lint severities (pkg/lint/support): 1 info, 2 warning, 3 error.
LINT_WARNING = 2


def deep_merge(base: dict, overlay: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_yaml(path: Path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def lint(checks: Checks, label: str, values: dict | None) -> None:
    """Helm lint on a copy of the chart whose values.yaml holds `values` (lint takes no values)."""
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "ai-orchestrator"
        shutil.copytree(CHART, chart)
        if values is not None:
            (chart / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False), encoding="utf-8")
        try:
            result = asyncio.run(helm.Lint(helm.Configuration(namespace=NAMESPACE)).run(str(chart)))
        except helm.HelmError as e:
            checks.fail(f"helm lint ({label})", str(e))
            return
    problems = [m for m in result.get("Messages") or [] if m.get("Severity", 0) >= LINT_WARNING]
    errors = result.get("Errors") or []
    checks.check(
        f"helm lint ({label}) reports no warning or error",
        not problems and not errors,
        f"messages: {problems} errors: {errors}",
    )


def install(values: dict | None, chart_dir: Path) -> dict:
    """Helm's install action against the stand-in API server; returns the release."""
    with FakeKubeApi() as api:
        config = helm.Configuration(namespace=NAMESPACE, kubeconfig=api.kubeconfig(NAMESPACE))
        return asyncio.run(helm.Install(config).run(RELEASE, str(chart_dir), values=values, wait=False, timeout=60))


def render(checks: Checks, label: str, values: dict | None) -> tuple[list[dict], str] | None:
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "ai-orchestrator"
        # The CRDs are compared byte for byte elsewhere; the stand-in server cannot report them established.
        shutil.copytree(CHART, chart, ignore=shutil.ignore_patterns("crds"))
        try:
            release = install(values, chart)
        except helm.HelmError as e:
            checks.fail(f"render ({label})", str(e))
            return None
    manifest = release.get("manifest") or ""
    objects = [doc for doc in yaml.safe_load_all(manifest) if doc]
    notes = (release.get("info") or {}).get("notes") or ""
    checks.check(f"render ({label}) produces objects", bool(objects), "empty manifest")
    return objects, notes


def render_error(values: dict) -> str | None:
    """The error Helm's install reports for `values`, or None when it installs."""
    with tempfile.TemporaryDirectory() as tmp:
        chart = Path(tmp) / "ai-orchestrator"
        shutil.copytree(CHART, chart, ignore=shutil.ignore_patterns("crds"))
        try:
            install(values, chart)
        except helm.HelmError as e:
            return str(e)
    return None


def core(objects: list[dict]) -> list[dict]:
    """The objects apart from the admission webhook's (checked by check_webhook)."""
    return [o for o in objects
            if o.get("kind") != "ValidatingWebhookConfiguration" and not o["metadata"]["name"].endswith("-webhook")]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o.get("kind") == kind]


def one(checks: Checks, label: str, objects: list[dict], kind: str) -> dict | None:
    found = by_kind(objects, kind)
    if checks.check(f"{label}: exactly one {kind}", len(found) == 1, f"found {len(found)}"):
        return found[0]
    return None


def check_common(checks: Checks, label: str, objects: list[dict], notes: str, rules: list) -> dict | None:
    """Properties every rendering must have, whatever the values."""
    for obj in objects:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        checks.check(
            f"{label}: {obj.get('kind')}/{obj['metadata'].get('name')} carries the standard labels",
            labels.get("app.kubernetes.io/instance") == RELEASE and "app.kubernetes.io/name" in labels,
            f"labels: {labels}",
        )
    deployment = one(checks, label, objects, "Deployment")
    if deployment is None:
        return None
    pod = deployment["spec"]["template"]["spec"]
    containers = pod["containers"]
    checks.check(f"{label}: one container", len(containers) == 1, f"{len(containers)} containers")
    container = containers[0]
    checks.check(f"{label}: runs ai-orchestrator-operator", container.get("command") == ["ai-orchestrator-operator"],
                 f"command: {container.get('command')}")
    sc = container.get("securityContext") or {}
    psc = pod.get("securityContext") or {}
    checks.check(f"{label}: container runAsNonRoot", sc.get("runAsNonRoot") is True, f"{sc}")
    checks.check(f"{label}: pod runAsNonRoot", psc.get("runAsNonRoot") is True, f"{psc}")
    checks.check(f"{label}: uid 10001", sc.get("runAsUser") == 10001 and psc.get("runAsUser") == 10001, f"{sc} {psc}")
    checks.check(f"{label}: readOnlyRootFilesystem", sc.get("readOnlyRootFilesystem") is True, f"{sc}")
    checks.check(f"{label}: allowPrivilegeEscalation false", sc.get("allowPrivilegeEscalation") is False, f"{sc}")
    checks.check(f"{label}: capabilities drop ALL", (sc.get("capabilities") or {}).get("drop") == ["ALL"], f"{sc}")
    checks.check(
        f"{label}: seccomp RuntimeDefault",
        (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault"
        and (sc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
        f"{psc} {sc}",
    )
    ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
    metrics_port = ports.get("metrics")
    checks.check(f"{label}: metrics container port", isinstance(metrics_port, int), f"ports: {ports}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        http_get = (container.get(probe) or {}).get("httpGet") or {}
        checks.check(
            f"{label}: {probe} GET {path} on the metrics port",
            http_get.get("path") == path and http_get.get("port") in ("metrics", metrics_port),
            f"{probe}: {http_get}",
        )
    args = container.get("args") or []
    checks.check(f"{label}: metrics address argument matches the port",
                 f"--listen=0.0.0.0:{metrics_port}" in args, f"args: {args}")
    sa_name = pod.get("serviceAccountName")
    sas = by_kind(objects, "ServiceAccount")
    checks.check(f"{label}: pod runs as the chart's ServiceAccount",
                 [s["metadata"]["name"] for s in sas] == [sa_name], f"{sa_name} vs {[s['metadata'] for s in sas]}")
    pod_name_label = deployment["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name")
    checks.check(f"{label}: operator pods cannot be selected by a server Service (name label differs)",
                 pod_name_label not in (None, "ai-orchestrator"), f"app.kubernetes.io/name={pod_name_label}")
    checks.check(f"{label}: operator Deployment name cannot clash with an Orchestrator's Deployment",
                 deployment["metadata"]["name"].endswith("-operator"), deployment["metadata"]["name"])
    replicas = deployment["spec"]["replicas"]
    checks.check(f"{label}: leader election exactly when replicas > 1",
                 ("--leader-election" in args) == (replicas > 1), f"replicas {replicas}, args {args}")
    if replicas > 1:
        checks.check(f"{label}: the Lease is named after the release",
                     f"--lease-name={deployment['metadata']['name']}" in args, f"{args}")
    env = {e["name"]: e for e in container.get("env") or []}
    checks.check(f"{label}: pod name and namespace passed for the Lease identity",
                 env.get("POD_NAME", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name"
                 and env.get("POD_NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                 == "metadata.namespace", f"{env}")
    pdbs = by_kind(objects, "PodDisruptionBudget")
    checks.check(f"{label}: PodDisruptionBudget exactly when replicas > 1",
                 len(pdbs) == (1 if replicas > 1 else 0), f"replicas {replicas}, {len(pdbs)} PDBs")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for pdb in pdbs:
        selector = pdb["spec"]["selector"]["matchLabels"]
        checks.check(f"{label}: PDB selects the operator pods",
                     all(pod_labels.get(k) == v for k, v in selector.items()), f"{selector} vs {pod_labels}")
    for binding in by_kind(objects, "ClusterRoleBinding") + by_kind(objects, "RoleBinding"):
        subjects = binding.get("subjects") or []
        checks.check(
            f"{label}: {binding['kind']} {binding['metadata'].get('namespace', '')}/{binding['metadata']['name']} "
            "binds the operator's ServiceAccount",
            subjects == [{"kind": "ServiceAccount", "name": sa_name, "namespace": NAMESPACE}],
            f"subjects: {subjects}",
        )
    for role in by_kind(objects, "ClusterRole") + by_kind(objects, "Role"):
        if role["metadata"]["name"].endswith("-leader-election"):
            continue
        checks.check(f"{label}: {role['kind']} {role['metadata'].get('namespace', '')}/{role['metadata']['name']} "
                     "has exactly the operator's generated rules", role.get("rules") == rules,
                     f"rules differ: {role.get('rules')}")
    checks.check(f"{label}: NOTES explain the first Orchestrator and the login",
                 "kind: Orchestrator" in notes and "demo-auth" in notes and "/api/auth/login" in notes
                 and "port-forward" in notes, notes[:200])
    return deployment


def check_webhook(checks: Checks, label: str, objects: list[dict], cert_manager: bool) -> None:
    """The admission webhook: its configuration, Service, port, certificate and permissions."""
    configs = by_kind(objects, "ValidatingWebhookConfiguration")
    if not checks.check(f"{label}: one ValidatingWebhookConfiguration", len(configs) == 1, f"{len(configs)}"):
        return
    config = configs[0]
    webhooks = config.get("webhooks") or []
    checks.check(f"{label}: webhooks for both kinds",
                 sorted(w["name"] for w in webhooks)
                 == ["accesspolicies.ai-orchestrator.io", "orchestrators.ai-orchestrator.io"], f"{webhooks}")
    services = {s["metadata"]["name"]: s for s in by_kind(objects, "Service")}
    deployment = by_kind(objects, "Deployment")[0]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container.get("args") or []
    ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
    checks.check(f"{label}: webhook container port and listen argument",
                 f"--webhook-listen=0.0.0.0:{ports.get('webhook')}" in args, f"{ports} {args}")
    for w in webhooks:
        name = w["name"]
        checks.check(f"{label}: {name} fails closed, has no side effects and a short timeout",
                     w.get("failurePolicy") == "Fail" and w.get("sideEffects") == "None"
                     and 1 <= w.get("timeoutSeconds", 0) <= 10 and w.get("admissionReviewVersions") == ["v1"], f"{w}")
        expressions = (w.get("namespaceSelector") or {}).get("matchExpressions") or []
        checks.check(f"{label}: {name} never gates the operator's own namespace",
                     {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NAMESPACE]} in expressions,
                     f"{expressions}")
        service = w["clientConfig"]["service"]
        target = services.get(service["name"])
        kind = name.split(".")[0]
        checks.check(f"{label}: {name} calls /validate/{kind} on the webhook Service",
                     target is not None and service["path"] == f"/validate/{kind}" and service["namespace"] == NAMESPACE
                     and any(p["port"] == service["port"] and p["targetPort"] == "webhook"
                             for p in target["spec"]["ports"]), f"{service}")
        resources = w["rules"][0]["resources"]
        expected = ["orchestrators", "orchestrators/scale"] if kind == "orchestrators" else ["accesspolicies"]
        checks.check(f"{label}: {name} covers {expected} on CREATE and UPDATE",
                     resources == expected and w["rules"][0]["operations"] == ["CREATE", "UPDATE"], f"{w['rules']}")
    cluster_roles = [r for r in by_kind(objects, "ClusterRole") if r["metadata"]["name"].endswith("-webhook")]
    if cert_manager:
        annotation = (config["metadata"].get("annotations") or {}).get("cert-manager.io/inject-ca-from", "")
        certificates = by_kind(objects, "Certificate")
        mounted = [v["secret"]["secretName"] for v in deployment["spec"]["template"]["spec"]["volumes"] if "secret" in v]
        checks.check(f"{label}: cert-manager injects the CA of the Certificate the pod mounts",
                     len(certificates) == 1 and annotation == f"{NAMESPACE}/{certificates[0]['metadata']['name']}"
                     and mounted == [certificates[0]["spec"]["secretName"]], f"{annotation} {mounted}")
        checks.check(f"{label}: with cert-manager the operator gets no webhook permissions",
                     not cluster_roles and not any(a.startswith("--webhook-configuration") for a in args), f"{args}")
    else:
        rules = cluster_roles[0]["rules"] if len(cluster_roles) == 1 else []
        checks.check(f"{label}: the webhook ClusterRole only reads and patches this configuration",
                     rules == [{"apiGroups": ["admissionregistration.k8s.io"],
                                "resources": ["validatingwebhookconfigurations"],
                                "resourceNames": [config["metadata"]["name"]], "verbs": ["get", "patch"]}], f"{rules}")
        checks.check(f"{label}: the operator patches the caBundle of this configuration",
                     f"--webhook-configuration={config['metadata']['name']}" in args, f"{args}")
        secret_arg = [a.split("=", 1)[1] for a in args if a.startswith("--webhook-secret=")]
        roles = [r for r in by_kind(objects, "Role") if r["metadata"]["name"].endswith("-webhook")]
        checks.check(f"{label}: the certificate Secret is writable by name only (create aside)",
                     len(roles) == 1 and len(secret_arg) == 1 and roles[0]["metadata"]["namespace"] == NAMESPACE
                     and {"apiGroups": [""], "resources": ["secrets"], "resourceNames": secret_arg,
                          "verbs": ["get", "update"]} in roles[0]["rules"], f"{roles} {secret_arg}")


def main() -> int:
    checks = Checks()
    defaults = load_yaml(CHART / "values.yaml")
    all_on_overlay = load_yaml(CHART / "ci" / "all-on-values.yaml")
    all_on = deep_merge(defaults, all_on_overlay)
    chart_meta = load_yaml(CHART / "Chart.yaml")
    rbac = load_yaml(RBAC_FILE)
    rules = rbac.get("rules") if isinstance(rbac, dict) else None
    checks.check("files/operator-rbac.yaml is a ClusterRole with rules",
                 isinstance(rbac, dict) and rbac.get("kind") == "ClusterRole" and bool(rules), f"{RBAC_FILE}")

    # crdgen writes the CRDs and this ClusterRole into the chart, and the operator's tests fail
    # when they are stale; the chart's version is checked there too. Here: the values schema
    # with a real JSON-Schema validator, then Helm itself.
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    for label, values in (("values.yaml", defaults), ("ci/all-on-values.yaml", all_on)):
        errors = [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)]
        checks.check(f"{label} follows values.schema.json", not errors, "; ".join(errors))
    for label, overlay, where in (
        ("replicas: \"two\"", {"replicas": "two"}, ["replicas"]),
        ("replicas: 0", {"replicas": 0}, ["replicas"]),
        ("unknown top-level value", {"replica": 2}, []),
        ("bad pullPolicy", {"image": {"pullPolicy": "Sometimes"}}, ["image", "pullPolicy"]),
        ("writable root filesystem", {"securityContext": {"readOnlyRootFilesystem": False}},
         ["securityContext", "readOnlyRootFilesystem"]),
        ("dropping less than ALL", {"securityContext": {"capabilities": {"drop": ["NET_RAW"]}}},
         ["securityContext", "capabilities", "drop"]),
        ("a namespace twice", {"watchNamespaces": ["a", "a"]}, ["watchNamespaces"]),
        ("metrics port as string", {"metrics": {"port": "8080"}}, ["metrics", "port"]),
    ):
        paths = [list(e.absolute_path) for e in validator.iter_errors(deep_merge(defaults, overlay))]
        checks.check(f"values schema refuses {label}", any(p[:len(where)] == where for p in paths), f"{paths}")

    lint(checks, "default values", None)
    lint(checks, "all-on values", all_on)

    # Default values: cluster-wide, one replica, nothing optional.
    rendered = render(checks, "defaults", None)
    if rendered:
        everything, notes = rendered
        check_webhook(checks, "defaults", everything, cert_manager=False)
        objects = core(everything)
        deployment = check_common(checks, "defaults", objects, notes, rules)
        if deployment:
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            checks.check("defaults: image tag is the appVersion",
                         container["image"] == f"{defaults['image']['repository']}:{chart_meta['appVersion']}",
                         container["image"])
            checks.check("defaults: one replica", deployment["spec"]["replicas"] == 1, "")
            checks.check("defaults: no namespace restriction argument",
                         not any(a.startswith("--namespaces") for a in container.get("args") or []),
                         f"{container.get('args')}")
        checks.check("defaults: ClusterRole and ClusterRoleBinding",
                     len(by_kind(objects, "ClusterRole")) == 1 and len(by_kind(objects, "ClusterRoleBinding")) == 1,
                     f"kinds: {[o['kind'] for o in objects]}")
        checks.check("defaults: no Role", not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding"), "")
        checks.check("defaults: no ServiceMonitor", not by_kind(objects, "ServiceMonitor"), "")
        svc = one(checks, "defaults", objects, "Service")
        if svc:
            checks.check("defaults: metrics Service targets the metrics port",
                         svc["spec"]["ports"][0]["targetPort"] == "metrics", f"{svc['spec']['ports']}")

    # Two replicas, otherwise defaults: leader election and a PDB, still cluster-wide.
    rendered = render(checks, "replicas 2", {"replicas": 2})
    if rendered:
        objects, notes = rendered
        objects = core(objects)
        check_common(checks, "replicas 2", objects, notes, rules)
        checks.check("replicas 2: ClusterRole kept", len(by_kind(objects, "ClusterRole")) == 1, "")

    # Every option on: namespace-scoped, three replicas, ServiceMonitor.
    rendered = render(checks, "all-on", all_on_overlay)
    if rendered:
        everything, notes = rendered
        check_webhook(checks, "all-on", everything, cert_manager=True)
        selector = by_kind(everything, "ValidatingWebhookConfiguration")[0]["webhooks"][0]["namespaceSelector"]
        objects = core(everything)
        deployment = check_common(checks, "all-on", objects, notes, rules)
        watch = all_on_overlay["watchNamespaces"]
        if deployment:
            container = deployment["spec"]["template"]["spec"]["containers"][0]
            args = container.get("args") or []
            checks.check("all-on: watched namespaces passed to the operator",
                         f"--namespaces={','.join(watch)}" in args, f"{args}")
            checks.check("all-on: extra argument passed", "--render-check-extra-arg" in args, f"{args}")
            checks.check("all-on: image from values",
                         container["image"] == "registry.example.com/ai-orchestrator:0.1.0-test", container["image"])
            checks.check("all-on: three replicas", deployment["spec"]["replicas"] == 3, "")
        checks.check("all-on: no ClusterRole in namespace-scoped mode",
                     not by_kind(objects, "ClusterRole") and not by_kind(objects, "ClusterRoleBinding"), "")
        roles = {(r["metadata"].get("namespace"), r["metadata"]["name"]) for r in by_kind(objects, "Role")}
        bindings = {(r["metadata"].get("namespace"), r["metadata"]["name"]) for r in by_kind(objects, "RoleBinding")}
        for ns in watch:
            checks.check(f"all-on: Role and RoleBinding in {ns}",
                         any(n == ns for n, _ in roles) and any(n == ns for n, _ in bindings), f"{roles} {bindings}")
        lease_roles = [r for r in by_kind(objects, "Role") if r["metadata"]["name"].endswith("-leader-election")]
        if checks.check("all-on: leader-election Role in the release namespace",
                        [r["metadata"].get("namespace") for r in lease_roles] == [NAMESPACE], f"{lease_roles}"):
            lease_rules = lease_roles[0].get("rules") or []
            checks.check("all-on: leader-election Role grants only leases",
                         bool(lease_rules) and all(r.get("apiGroups") == ["coordination.k8s.io"] for r in lease_rules)
                         and all(r in rules for r in lease_rules), f"{lease_rules}")
        monitor = one(checks, "all-on", objects, "ServiceMonitor")
        if monitor:
            checks.check("all-on: ServiceMonitor carries the extra labels",
                         monitor["metadata"]["labels"].get("release") == "kube-prometheus-stack", "")
            checks.check("all-on: ServiceMonitor scrapes /metrics on the metrics port",
                         monitor["spec"]["endpoints"][0]["port"] == "metrics"
                         and monitor["spec"]["endpoints"][0]["path"] == "/metrics", f"{monitor['spec']}")
        checks.check("all-on: the webhook gates only the watched namespaces",
                     {"key": "kubernetes.io/metadata.name", "operator": "In", "values": watch}
                     in selector["matchExpressions"], f"{selector}")
        pdb = one(checks, "all-on", objects, "PodDisruptionBudget")
        if pdb:
            checks.check("all-on: PDB minAvailable from values", pdb["spec"]["minAvailable"] == 2, f"{pdb['spec']}")

    # Namespace-scoped with the release namespace among the watched ones: no extra lease Role.
    rendered = render(checks, "namespaced incl. own", {"watchNamespaces": [NAMESPACE, "team-a"]})
    if rendered:
        objects, _ = rendered
        objects = core(objects)
        checks.check("namespaced incl. own: one Role per watched namespace, no separate lease Role",
                     sorted(r["metadata"]["namespace"] for r in by_kind(objects, "Role")) == sorted([NAMESPACE, "team-a"])
                     and not any(r["metadata"]["name"].endswith("-leader-election") for r in by_kind(objects, "Role")),
                     f"{[r['metadata'] for r in by_kind(objects, 'Role')]}")

    rendered = render(checks, "webhook off", {"webhook": {"enabled": False}})
    if rendered:
        objects, _ = rendered
        container = by_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
        checks.check("webhook off: no configuration, no webhook Service, no webhook argument",
                     not by_kind(objects, "ValidatingWebhookConfiguration")
                     and not any(s["metadata"]["name"].endswith("-webhook") for s in by_kind(objects, "Service"))
                     and not any(a.startswith("--webhook") for a in container.get("args") or []), "")

    # values.schema.json makes a wrong value fail in Helm itself, before anything is applied.
    for label, values, needle in (
        ("replicas: \"two\"", {"replicas": "two"}, "/replicas"),
        ("replicas: 0", {"replicas": 0}, "/replicas"),
        ("unknown top-level value", {"replica": 2}, "replica"),
        ("bad pullPolicy", {"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ("writable root filesystem", {"securityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
        ("bad namespace name", {"watchNamespaces": ["Team_A"]}, "/watchNamespaces/0"),
        ("metrics port as string", {"metrics": {"port": "8080"}}, "/metrics/port"),
    ):
        error = render_error(values)
        checks.check(f"schema rejects {label}", error is not None and "schema" in error and needle in error,
                     f"Helm accepted it or said something else: {error}")
    error = render_error({"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}})
    checks.check("ServiceMonitor without the metrics Service is refused",
                 error is not None and "metrics.service.enabled" in error, f"{error}")

    run_packaging_checks(checks, ROOT)
    return checks.finish("chart")


if __name__ == "__main__":
    sys.exit(main())

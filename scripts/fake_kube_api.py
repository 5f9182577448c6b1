"""A stand-in Kubernetes API server on 127.0.0.1 that accepts whatever Helm installs.

The Helm library bound by helm-sdkpy offers no dry-run, so rendering a chart through
Helm's own install action (values merge, schema validation, templates, NOTES) needs an
API server to talk to. This one answers discovery for the kinds the chart uses, reports
every object as absent, and echoes back every object created, recording it. Release
records must be kept in memory (HELM_DRIVER=memory), so nothing else is needed.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# group/version -> [(plural, kind, namespaced)]
RESOURCES: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [
        ("namespaces", "Namespace", False),
        ("serviceaccounts", "ServiceAccount", True),
        ("services", "Service", True),
        ("configmaps", "ConfigMap", True),
        ("secrets", "Secret", True),
        ("events", "Event", True),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True),
    ],
    "apps/v1": [("deployments", "Deployment", True)],
    "rbac.authorization.k8s.io/v1": [
        ("clusterroles", "ClusterRole", False),
        ("clusterrolebindings", "ClusterRoleBinding", False),
        ("roles", "Role", True),
        ("rolebindings", "RoleBinding", True),
    ],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "coordination.k8s.io/v1": [("leases", "Lease", True)],
    "events.k8s.io/v1": [("events", "Event", True)],
    "apiextensions.k8s.io/v1": [("customresourcedefinitions", "CustomResourceDefinition", False)],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True)],
    "admissionregistration.k8s.io/v1": [
        ("validatingwebhookconfigurations", "ValidatingWebhookConfiguration", False),
    ],
    "cert-manager.io/v1": [("issuers", "Issuer", True), ("certificates", "Certificate", True)],
}

VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


def _resource_list(group_version: str) -> dict:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": [
            {
                "name": plural,
                "singularName": kind.lower(),
                "namespaced": namespaced,
                "kind": kind,
                "verbs": VERBS,
            }
            for plural, kind, namespaced in RESOURCES[group_version]
        ],
    }


def _group_list() -> dict:
    groups = []
    for gv in RESOURCES:
        if "/" not in gv:
            continue
        group, version = gv.split("/", 1)
        entry = {"groupVersion": gv, "version": version}
        groups.append({"name": group, "versions": [entry], "preferredVersion": entry})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _is_collection(path: str) -> bool:
    """True for `/api/v1[/namespaces/NS]/PLURAL` and `/apis/G/V[/namespaces/NS]/PLURAL`."""
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"]:
        gv, rest = "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return False
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        rest = rest[2:]
    plurals = {plural for plural, _, _ in RESOURCES.get(gv, [])}
    return len(rest) == 1 and rest[0] in plurals


class _Handler(BaseHTTPRequestHandler):
    server: "FakeKubeApi.Server"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _not_found(self) -> None:
        self._send(
            404,
            {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
             "message": "not found"},
        )

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/version":
            return self._send(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"})
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []})
        if path == "/apis":
            return self._send(200, _group_list())
        if path == "/api/v1":
            return self._send(200, _resource_list("v1"))
        if path.startswith("/apis/") and path.count("/") == 3:
            gv = path[len("/apis/"):]
            if gv in RESOURCES:
                return self._send(200, _resource_list(gv))
        if _is_collection(path):
            # A list request: nothing exists yet.
            return self._send(200, {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []})
        return self._not_found()

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            obj = json.loads(raw)
        except ValueError:
            return self._send(415, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 415,
                                    "message": "only JSON bodies are accepted"})
        self.server.created.append(obj)
        self._send(201, obj)

    def do_PUT(self) -> None:  # noqa: N802
        self.do_POST()

    def do_PATCH(self) -> None:  # noqa: N802
        self.do_POST()

    def do_DELETE(self) -> None:  # noqa: N802
        self._not_found()


class FakeKubeApi:
    """Context manager running the stand-in API server on an ephemeral loopback port."""

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        created: list

    def __enter__(self) -> "FakeKubeApi":
        self._server = FakeKubeApi.Server(("127.0.0.1", 0), _Handler)
        self._server.created = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def created(self) -> list:
        return self._server.created

    def kubeconfig(self, namespace: str) -> str:
        port = self._server.server_address[1]
        return (
            "apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- name: fake\n"
            "  cluster:\n"
            f"    server: http://127.0.0.1:{port}\n"
            "contexts:\n"
            "- name: fake\n"
            f"  context: {{cluster: fake, user: fake, namespace: {namespace}}}\n"
            "current-context: fake\n"
            "users:\n"
            "- name: fake\n"
            "  user: {token: fake}\n"
        )

"""Checks of the packaging files outside the chart: Dockerfile, compose, .env.example, examples/.

Used by chart-lint.py; each check is one named pass/fail line.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import jsonschema
import yaml


class Checks:
    """Counts named checks and prints each failure with the reason."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"ok    {name}")
        else:
            self.failed.append(name)
            print(f"FAIL  {name}: {detail}")
        return ok

    def fail(self, name: str, detail: str) -> None:
        self.check(name, False, detail)

    def finish(self, label: str) -> int:
        if self.failed:
            print("\nfailed checks:")
            for name in self.failed:
                print(f"  - {name}")
        print(f"{label}: {self.passed} passed, {len(self.failed)} failed")
        return 1 if self.failed else 0


def yaml_documents(path: Path) -> list:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def run_packaging_checks(checks: Checks, root: Path) -> None:
    check_dockerfile(checks, root)
    check_dockerignore(checks, root)
    check_compose(checks, root)
    check_env_example(checks, root)
    check_examples(checks, root)


# --- Dockerfile -------------------------------------------------------------------------------

def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def copy_sources(args: str) -> list[str]:
    """The source paths of a COPY instruction taken from the build context (not --from=)."""
    if args.startswith("["):
        import json

        parts = json.loads(args)
        flags = []
    else:
        parts = shlex.split(args)
        flags = [p for p in parts if p.startswith("--")]
        parts = [p for p in parts if not p.startswith("--")]
    if any(f.startswith("--from=") for f in flags):
        return []
    return parts[:-1]


def check_dockerfile(checks: Checks, root: Path) -> None:
    path = root / "Dockerfile"
    if not checks.check("Dockerfile exists", path.is_file(), str(path)):
        return
    ins = dockerfile_instructions(path.read_text(encoding="utf-8"))
    froms = [a for i, a in ins if i == "FROM"]
    checks.check("Dockerfile: at least two stages (builder and runtime)", len(froms) >= 2, f"FROM lines: {froms}")
    checks.check("Dockerfile: builds on a Rust image", any(f.startswith("rust:") for f in froms), f"{froms}")
    runtime = froms[-1] if froms else ""
    checks.check("Dockerfile: small runtime base", runtime.startswith(("debian:bookworm-slim", "gcr.io/distroless/cc")),
                 runtime)
    # The last stage's instructions only.
    last_from = max(i for i, (word, _) in enumerate(ins) if word == "FROM") if froms else 0
    final = ins[last_from:]
    users = [a for i, a in final if i == "USER"]
    checks.check("Dockerfile: runtime runs as uid 10001", users[-1:] in (["10001"], ["10001:10001"]), f"USER {users}")
    checks.check("Dockerfile: EXPOSE 8001", ("EXPOSE", "8001") in final, "")
    checks.check("Dockerfile: VOLUME /data", any(i == "VOLUME" and "/data" in a for i, a in final), "")
    health = [a for i, a in final if i == "HEALTHCHECK"]
    checks.check("Dockerfile: HEALTHCHECK runs the binary's healthcheck subcommand",
                 len(health) == 1 and '["ai-orchestrator", "healthcheck"]' in health[0] and "curl" not in health[0],
                 f"{health}")
    checks.check("Dockerfile: ENTRYPOINT ai-orchestrator, CMD serve",
                 ("ENTRYPOINT", '["ai-orchestrator"]') in final and ("CMD", '["serve"]') in final, "")
    envs = " ".join(a for i, a in final if i == "ENV")
    for var in ("AI_DATA_DIR=/data", "AI_CONFIG_DIR=/etc/ai-orchestrator", "AI_HOST=0.0.0.0"):
        checks.check(f"Dockerfile: ENV {var}", var in envs, envs)
    build = " ".join(a for i, a in ins if i == "RUN")
    checks.check("Dockerfile: release build of both binaries, locked",
                 "--release" in build and "--locked" in build and "-p ai-orchestrator " in build + " "
                 and "-p ai-orchestrator-operator" in build, build[:300])
    for word, args in ins:
        if word in ("COPY", "ADD"):
            for src in copy_sources(args):
                checks.check(f"Dockerfile: COPY source {src} exists in the repository",
                             any(root.glob(src)) if any(c in src for c in "*?[") else (root / src).exists(),
                             f"{root / src}")


def check_dockerignore(checks: Checks, root: Path) -> None:
    path = root / ".dockerignore"
    if not checks.check(".dockerignore exists", path.is_file(), str(path)):
        return
    entries = {line.strip().strip("/") for line in path.read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    for needed in ("target", ".git", "data", ".env"):
        checks.check(f".dockerignore keeps {needed} out", needed in entries, f"{sorted(entries)}")


# --- docker-compose ---------------------------------------------------------------------------

def check_compose(checks: Checks, root: Path) -> None:
    path = root / "docker-compose.yml"
    if not checks.check("docker-compose.yml exists", path.is_file(), str(path)):
        return
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        checks.fail("docker-compose.yml parses", str(e))
        return
    checks.check("docker-compose.yml parses", isinstance(doc, dict), "")
    services = doc.get("services") or {}
    server = services.get("server")
    if not checks.check("compose: a `server` service", isinstance(server, dict), f"{list(services)}"):
        return
    checks.check("compose: built from the Dockerfile", (server.get("build") or {}).get("context") == "."
                 or server.get("build") == ".", f"{server.get('build')}")
    env_file = server.get("env_file")
    env_files = [env_file] if isinstance(env_file, str) else [e if isinstance(e, str) else e.get("path")
                                                               for e in env_file or []]
    checks.check("compose: reads .env", ".env" in env_files, f"{env_file}")
    checks.check("compose: restart unless-stopped", server.get("restart") == "unless-stopped", "")
    ports = [str(p) for p in server.get("ports") or []]
    checks.check("compose: publishes port 8001", any(p.endswith(":8001") for p in ports), f"{ports}")
    volumes = [str(v) for v in server.get("volumes") or []]
    named = doc.get("volumes") or {}
    data_mounts = [v for v in volumes if v.split(":")[1:2] == ["/data"]]
    checks.check("compose: named volume at /data",
                 len(data_mounts) == 1 and data_mounts[0].split(":")[0] in named, f"{volumes} {list(named)}")
    config_mounts = [v for v in volumes if v.split(":")[1:2] == ["/etc/ai-orchestrator"]]
    checks.check("compose: ./config mounted as a directory at /etc/ai-orchestrator",
                 len(config_mounts) == 1 and config_mounts[0].split(":")[0] in ("./config", "./config/"),
                 f"{volumes}")
    checks.check("compose: mounted config dir holds policy.yaml", (root / "config" / "policy.yaml").is_file(), "")
    test = ((server.get("healthcheck") or {}).get("test")) or []
    checks.check("compose: health check runs the binary", test[:1] == ["CMD"] and "healthcheck" in test
                 and "ai-orchestrator" in test[1:2], f"{test}")
    checks.check("compose: config/policy.yaml is a version 1 document",
                 (yaml.safe_load((root / "config" / "policy.yaml").read_text(encoding="utf-8")) or {}).get("version")
                 == 1, "")


# --- .env.example -----------------------------------------------------------------------------

V3_VARIABLES = [
    "AI_JWT_SECRET_KEY", "AI_JWT_ALGORITHM", "AI_JWT_EXPIRE_MINUTES", "AI_REFRESH_TOKEN_EXPIRE_DAYS",
    "AI_AUTH_ENABLED", "AI_ADMIN_PASSWORD", "AI_CORS_ORIGINS", "AI_CORS_ALLOW_CREDENTIALS",
    "AI_CORS_ALLOW_METHODS", "AI_CORS_ALLOW_HEADERS", "AI_RATE_LIMIT_ENABLED", "AI_RATE_LIMIT_DEFAULT",
    "AI_DEBUG", "AI_HOST", "AI_PORT", "AI_DB_PATH", "AI_AUTH_DB_PATH", "AI_OLLAMA_URL", "AI_DEFAULT_MODEL",
    "AI_LLM_TIMEOUT", "AI_MAX_ITERATIONS", "AI_LOG_LEVEL", "AI_AUDIT_LOG_PATH", "AI_UPLOAD_DIR",
    "AI_MAX_UPLOAD_SIZE", "AI_APP_NAME",
]
NEW_VARIABLES = ["AI_CONFIG_DIR", "AI_SECRETS_DIR", "AI_DATA_DIR", "AI_DATABASE_URL", "AI_LLM_PROVIDER", "AI_MODELS",
                 "AI_CONFIG_SOURCE", "AI_POD_NAMESPACE", "AI_POLICY_CONFIGMAP", "AI_AUTH_SECRET",
                 "AI_CONSOLE_ENABLED", "AI_TRUSTED_PROXIES", "AI_LLM_API_KEY", "AI_LLM_TEMPERATURE",
                 "AI_LLM_MAX_TOKENS", "AI_LLM_CONTEXT_LENGTH", "AI_TURN_TIMEOUT"]


def check_env_example(checks: Checks, root: Path) -> None:
    path = root / ".env.example"
    if not checks.check(".env.example exists", path.is_file(), str(path)):
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    # A variable line, set (`AI_X=...`) or left commented out (`# AI_X=...`).
    var_re = re.compile(r"^#?\s*(AI_[A-Z0-9_]+)=(.*)$")
    found: dict[str, int] = {}
    for n, line in enumerate(lines):
        m = var_re.match(line)
        if m:
            found.setdefault(m.group(1), n)
    for var in V3_VARIABLES + NEW_VARIABLES:
        n = found.get(var)
        documented = n is not None and n > 0 and lines[n - 1].startswith("#") and not var_re.match(lines[n - 1])
        checks.check(f".env.example documents {var}", documented,
                     "missing" if n is None else "needs a comment line right above it")
    secret = [line for line in lines if line.startswith("AI_JWT_SECRET_KEY=")]
    checks.check(".env.example ships no usable JWT secret", all(line.strip() == "AI_JWT_SECRET_KEY=" for line in secret),
                 f"{secret}")
    admin = [line for line in lines if line.startswith("AI_ADMIN_PASSWORD=")]
    checks.check(".env.example ships no admin password", all(line.strip() == "AI_ADMIN_PASSWORD=" for line in admin),
                 f"{admin}")


# --- examples/ --------------------------------------------------------------------------------

def crd_schemas(folder: Path) -> dict[str, dict]:
    """openAPIV3Schema of the served version of each CRD in `folder`, by kind."""
    out = {}
    for path in sorted(folder.glob("*.y*ml")):
        for d in yaml_documents(path):
            if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition":
                for version in d["spec"]["versions"]:
                    if version.get("served"):
                        out[d["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return out


def unknown_fields(value, schema: dict, path: str) -> list[str]:
    """Fields the schema does not declare: the API server drops or refuses them (a typo, mostly)."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or not isinstance(schema, dict):
        return []
    errors = []
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if props is not None and key in props:
                errors += unknown_fields(item, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                errors += unknown_fields(item, extra, f"{path}.{key}")
            elif props is not None or extra is False:
                errors.append(f"{path}.{key}: unknown field")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            errors += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return errors


def check_examples(checks: Checks, root: Path) -> None:
    folder = root / "examples"
    docs = []
    # The Secret is a template (*.yaml.example) so that `kubectl apply -f examples/` skips it.
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yaml.example")]):
        try:
            docs += [(path.name, d) for d in yaml_documents(path)]
        except yaml.YAMLError as e:
            checks.fail(f"examples/{path.name} parses", str(e))
    kinds = [d.get("kind") for _, d in docs]
    checks.check("examples: one Orchestrator", kinds.count("Orchestrator") == 1, f"{kinds}")
    checks.check("examples: two AccessPolicies", kinds.count("AccessPolicy") == 2, f"{kinds}")
    checks.check("examples: a Secret template for the API key", kinds.count("Secret") == 1, f"{kinds}")
    for name, d in docs:
        if d.get("kind") in ("Orchestrator", "AccessPolicy"):
            checks.check(f"examples/{name}: {d['kind']} {d['metadata']['name']} uses ai-orchestrator.io/v1alpha1",
                         d.get("apiVersion") == "ai-orchestrator.io/v1alpha1", f"{d.get('apiVersion')}")
    orch = next((d for _, d in docs if d.get("kind") == "Orchestrator"), None)
    if orch:
        selector = ((orch.get("spec") or {}).get("policySelector") or {}).get("matchLabels") or {}
        for _, d in docs:
            if d.get("kind") == "AccessPolicy":
                labels = d["metadata"].get("labels") or {}
                checks.check(f"examples: Orchestrator selects AccessPolicy {d['metadata']['name']}",
                             bool(selector) and all(labels.get(k) == v for k, v in selector.items()),
                             f"selector {selector}, labels {labels}")
    crds = crd_schemas(root / "crds")
    for name, d in docs:
        if d.get("kind") not in ("Orchestrator", "AccessPolicy"):
            continue
        schema = crds.get(d["kind"])
        if not checks.check(f"examples/{name}: CRD for {d['kind']} found in crds/", schema is not None, ""):
            continue
        errors = [f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
                  for e in jsonschema.Draft4Validator(schema).iter_errors(d)]
        # apiVersion, kind and metadata are implicit in every CRD schema; look inside spec.
        errors += unknown_fields(d.get("spec") or {}, schema["properties"]["spec"], ".spec")
        checks.check(f"examples/{name}: {d['kind']} {d['metadata']['name']} is valid against its CRD schema",
                     not errors, "; ".join(errors))
    secrets = {d["metadata"]["name"]: d for _, d in docs if d.get("kind") == "Secret"}
    for _, d in docs:
        for key in (d.get("spec") or {}).get("apiKeys") or [] if d.get("kind") == "AccessPolicy" else []:
            ref = key.get("secretRef") or {}
            secret = secrets.get(ref.get("name"))
            data = (secret or {}).get("stringData") or {}
            checks.check(f"examples: API key {key.get('name')} refers to the example Secret and its key",
                         secret is not None and ref.get("key") in data, f"{ref}")

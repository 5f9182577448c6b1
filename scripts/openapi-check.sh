#!/usr/bin/env bash
# The OpenAPI document against the real server binary on 127.0.0.1: the document served at
# /api/openapi.json must validate (PyPI's openapi-spec-validator), and a bounded schemathesis
# run must find no server error and no status the document does not list. Both tools live in a
# venv made here. Operations that would change the run's own credentials (deleting or updating
# users, revoking keys, changing the password) are left out.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=target/openapi-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/openapi_check/requirements.txt

# scripts/test.sh sets OPENAPI_CHECK_PREBUILT=1: the test run before has just built the binary.
if [ -z "${OPENAPI_CHECK_PREBUILT:-}" ]; then
  cargo build --locked -p ai-orchestrator --bin ai-orchestrator
fi
BIN="${AI_ORCHESTRATOR_BIN:-$PWD/target/debug/ai-orchestrator}"
MAX_EXAMPLES="${OPENAPI_CHECK_MAX_EXAMPLES:-50}"
TIME_LIMIT="${OPENAPI_CHECK_TIME_LIMIT:-240}"

WORK="$(mktemp -d)"
PID=""
STUB_PID=""
cleanup() {
  for pid in $PID $STUB_PID; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/config" "$WORK/secrets" "$WORK/data"

# The console tests' scripted model server, so chats get answers instead of 502s.
"$VENV/bin/python" -u -c '
import sys, time
sys.path.insert(0, "scripts/console_tests")
import llm_stub
_, url = llm_stub.start(sys.argv[1])
print(url)
time.sleep(10**6)
' "$WORK/data" > "$WORK/stub-url" &
STUB_PID=$!
LLM_URL=""
for _ in $(seq 1 100); do
  LLM_URL="$(head -1 "$WORK/stub-url")"
  [ -n "$LLM_URL" ] && break
  sleep 0.1
done
[ -n "$LLM_URL" ] || { echo "the scripted model server did not start"; exit 1; }
# No rate limits: the run is thousands of requests from one client. The upload directory is a
# write root, so POST /api/upload is exercised with uploads on.
printf 'version: 1\npaths:\n  write: ["%s"]\nrateLimits:\n  enabled: false\n' "$WORK/data/uploads" \
  > "$WORK/config/policy.yaml"
PASSWORD="Adm1n-OpenAPI-Passw0rd-Q7"
AI_ADMIN_PASSWORD="$PASSWORD" AI_JWT_SECRET_KEY="openapi-check-jwt-secret-0123456789-abcdef" \
AI_LOG_LEVEL=warn AI_OLLAMA_URL="$LLM_URL" AI_LLM_TIMEOUT=5 \
  "$BIN" serve --host 127.0.0.1 --port 0 --config-dir "$WORK/config" --secrets-dir "$WORK/secrets" \
    --data-dir "$WORK/data" > "$WORK/stdout" 2> "$WORK/stderr" &
PID=$!
URL=""
for _ in $(seq 1 600); do
  URL="$(sed -n 's/^listening on \(http:\/\/[^ ]*\).*/\1/p' "$WORK/stdout" | head -1)"
  [ -n "$URL" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/stderr"; exit 1; }
  sleep 0.1
done
[ -n "$URL" ] || { echo "the server did not start"; exit 1; }

TOKEN="$("$VENV/bin/python" - "$URL" "$PASSWORD" <<'PY'
import json, sys, urllib.parse, urllib.request
url, password = sys.argv[1], sys.argv[2]
form = urllib.parse.urlencode({"username": "admin", "password": password}).encode()
with urllib.request.urlopen(f"{url}/api/auth/login", form, timeout=30) as response:
    print(json.load(response)["access_token"])
PY
)"

echo "==> openapi-spec-validator $URL/api/openapi.json"
curl -sf "$URL/api/openapi.json" -o "$WORK/openapi.json"
"$VENV/bin/openapi-spec-validator" "$WORK/openapi.json"

echo "==> schemathesis (at most $MAX_EXAMPLES examples per operation, ${TIME_LIMIT}s)"
timeout --signal=INT "$TIME_LIMIT" "$VENV/bin/schemathesis" run "$WORK/openapi.json" \
  --url "$URL" \
  --header "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance \
  --max-examples "$MAX_EXAMPLES" \
  --seed 1 \
  --request-timeout 10 \
  --exclude-operation-id delete_user \
  --exclude-operation-id update_user \
  --exclude-operation-id revoke_key \
  --exclude-operation-id change_password \
  --exclude-path /ws/chat \
  --no-color

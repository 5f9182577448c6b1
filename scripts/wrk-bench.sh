#!/usr/bin/env bash
# Throughput of the real server binary over HTTP on 127.0.0.1 with wrk: /health anonymous and
# /api/auth/me with a JWT. Usage: scripts/wrk-bench.sh BINARY [BINARY...] (each is measured in
# turn, twice, interleaved, so builds compared in one run share the machine's load).
# Needs wrk (apt-get install -y wrk) and curl.
set -euo pipefail
DURATION="${WRK_DURATION:-10s}"
CONNECTIONS="${WRK_CONNECTIONS:-32}"
PASSWORD="Adm1n-Bench-Passw0rd-Q7"

measure() {
  local bin="$1" dir
  dir="$(mktemp -d)"
  mkdir -p "$dir/config" "$dir/secrets" "$dir/data"
  cat > "$dir/config/policy.yaml" <<'POLICY'
version: 1
rateLimits:
  default: {requests: 100000000, per: 1m}
POLICY
  AI_ADMIN_PASSWORD="$PASSWORD" AI_JWT_SECRET_KEY="bench-jwt-secret-0123456789-abcdefghijklmn" \
  AI_LOG_LEVEL=warn AI_OLLAMA_URL=http://127.0.0.1:9 \
    "$bin" serve --host 127.0.0.1 --port 0 --config-dir "$dir/config" --secrets-dir "$dir/secrets" \
      --data-dir "$dir/data" > "$dir/stdout" 2> "$dir/stderr" &
  local pid=$!
  local url=""
  for _ in $(seq 1 300); do
    url="$(sed -n 's/^listening on \(http:\/\/[^ ]*\).*/\1/p' "$dir/stdout" | head -1)"
    [ -n "$url" ] && break
    sleep 0.1
  done
  local token
  token="$(curl -s "$url/api/auth/login" -d username=admin -d "password=$PASSWORD" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
  echo "== $bin"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" "$url/health" | grep -E "Requests/sec|Latency"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -H "Authorization: Bearer $token" "$url/api/auth/me" \
    | grep -E "Requests/sec|Latency|Non-2xx"
  kill -TERM "$pid"; wait "$pid" || true
  rm -rf "$dir"
}

for round in 1 2; do
  for bin in "$@"; do
    echo "-- round $round"
    measure "$bin"
  done
done

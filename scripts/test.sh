#!/usr/bin/env bash
# The whole test suite, set-up included: Rust tests of every crate, the web console in a
# headless browser, the front doors with the official OpenAI and MCP Python clients, the
# OpenAPI document against the binary, then the Helm chart checks.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi

echo "==> PostgreSQL for the storage and end-to-end tests (scripts/postgres.sh)"
if [ -z "${AI_TEST_DATABASE_URL:-}" ]; then
  AI_TEST_DATABASE_URL="$(./scripts/postgres.sh)"
fi
export AI_TEST_DATABASE_URL

echo "==> Rust tests (all crates)"
cargo nextest run --workspace --locked --no-fail-fast

echo "==> Web console in headless Chromium (scripts/console-test.sh)"
CONSOLE_TEST_PREBUILT=1 ./scripts/console-test.sh

echo "==> OpenAI and MCP clients against the real binary (scripts/clients-test.sh)"
cargo build --locked -p ai-orchestrator --bin ai-orchestrator
./scripts/clients-test.sh target/debug/ai-orchestrator

echo "==> OpenAPI document: validator and schemathesis against the binary (scripts/openapi-check.sh)"
OPENAPI_CHECK_PREBUILT=1 ./scripts/openapi-check.sh

echo "==> Helm chart lint and render checks"
# A virtual environment of its own (Debian's system pip refuses installs), kept under
# target/ and reused while scripts/requirements.txt is unchanged.
VENV="${AI_TEST_VENV:-target/.venv-test}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! cmp -s scripts/requirements.txt "$VENV/.requirements.txt"; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --ignore-requires-python -r scripts/requirements.txt
  cp scripts/requirements.txt "$VENV/.requirements.txt"
fi
"$VENV/bin/python" scripts/chart-lint.py

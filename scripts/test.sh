#!/usr/bin/env bash
# The whole test suite, set-up included: Rust tests of every crate, the web console in a
# headless browser, the OpenAPI document against the binary, then the Helm chart checks.
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

echo "==> OpenAPI document: validator and schemathesis against the binary (scripts/openapi-check.sh)"
OPENAPI_CHECK_PREBUILT=1 ./scripts/openapi-check.sh

echo "==> Helm chart lint and render checks"
python3 -m pip install --quiet --disable-pip-version-check --ignore-requires-python -r scripts/requirements.txt
python3 scripts/chart-lint.py

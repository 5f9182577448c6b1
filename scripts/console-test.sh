#!/usr/bin/env bash
# The web console's browser tests: Debian's headless Chromium, driven by Playwright
# for Python (in a venv made here; Playwright's own browser downloads are never
# used), against the real server binary on 127.0.0.1 and a scripted model server.
# Screenshots go to target/console-screenshots.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "==> Installing Chromium from Debian's packages"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export CHROMIUM

VENV=target/console-venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/console_tests/requirements.txt
# Playwright must not fetch browsers of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

# scripts/test.sh sets CONSOLE_TEST_PREBUILT=1: the test run before has just built the binary.
if [ -z "${CONSOLE_TEST_PREBUILT:-}" ]; then
  cargo build --locked -p ai-orchestrator --bin ai-orchestrator
fi
export AI_ORCHESTRATOR_BIN="${AI_ORCHESTRATOR_BIN:-$PWD/target/debug/ai-orchestrator}"
export CONSOLE_SCREENSHOTS="${CONSOLE_SCREENSHOTS:-$PWD/target/console-screenshots}"

cd scripts/console_tests
"../../$VENV/bin/python" -m pytest -q -p no:cacheprovider test_console.py "$@"
echo "screenshots: $CONSOLE_SCREENSHOTS"

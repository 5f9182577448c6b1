#!/usr/bin/env bash
# The OpenAI-compatible API and the MCP server tested with the official Python
# clients (openai, mcp) in a virtual environment created here, against the real
# binary. Usage: scripts/clients-test.sh [path/to/ai-orchestrator]
set -euo pipefail
cd "$(dirname "$0")/.."

binary="${1:-target/debug/ai-orchestrator}"
if [ ! -x "$binary" ]; then
  cargo build --locked -p ai-orchestrator --bin ai-orchestrator
fi

venv="${AI_CLIENTS_VENV:-target/clients-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/clients-requirements.txt
exec "$venv/bin/python" scripts/clients_test.py "$binary" "${@:2}"

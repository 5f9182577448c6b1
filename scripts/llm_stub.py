"""A scripted language-model server for the client tests (scripts/clients_test.py).

The Python twin of server/tests/support/llm_stub.rs: a small HTTP server on
127.0.0.1 that answers Ollama's `/api/chat` and `/api/tags` from a queue of
turns and records every chat request it receives. Standard library only.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODELS = ["llama3.1:8b", "qwen2.5-coder:7b"]


class ScriptedModel:
    """Answers chat requests with the turns pushed, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turns: deque[dict[str, Any]] = deque()
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "ScriptedModel":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def text(self, content: str) -> None:
        """The next answer is plain text."""
        with self._lock:
            self._turns.append({"role": "assistant", "content": content})

    def call(self, tool: str, arguments: dict[str, Any]) -> None:
        """The next answer is one tool call."""
        with self._lock:
            self._turns.append(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": tool, "arguments": arguments}}],
                }
            )

    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def pending(self) -> int:
        with self._lock:
            return len(self._turns)

    def _next(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append(body)
            if self._turns:
                return self._turns.popleft()
            return {"role": "assistant", "content": "(script exhausted)"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        model = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/api/tags":
                    self._send({"models": [{"name": m, "model": m} for m in MODELS]})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/api/chat":
                    self.send_error(404)
                    return
                message = model._next(body)
                self._send(
                    {
                        "model": body.get("model"),
                        "created_at": "2026-01-01T00:00:00Z",
                        "message": message,
                        "done": True,
                        "prompt_eval_count": 12,
                        "eval_count": 5,
                    }
                )

        return Handler

"""A scripted model server for the console's browser tests.

It speaks the two Ollama routes the server uses (`POST /api/chat`, `GET /api/tags`)
and answers from what it is asked, so each test states its script in the
message it types:

- a message containing ``tools please``: one turn with two tool calls, an
  allowed ``execute_command`` (``cat <data>/hello.txt``) and a ``read_file`` of
  ``/etc/shadow`` that the policy refuses; after the results, a Markdown answer
  that also contains raw HTML (which the console must show as text);
- ``long output please``: ``seq 1 3000`` (longer than the policy's output cap);
- ``slow please``: an answer after 30 seconds (to be stopped);
- anything else: a short Markdown answer.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HTML_IN_ANSWER = '<img src="/x" onerror="document.title=\'pwned\'"><b>not bold</b>'


def _tool_call(name, arguments):
    return {"function": {"name": name, "arguments": arguments}}


class Script:
    def __init__(self, data_dir):
        self.data_dir = data_dir

    def reply(self, messages):
        """The assistant message answering `messages` (Ollama's chat format)."""
        last = messages[-1] if messages else {}
        users = [m for m in messages if m.get("role") == "user"]
        asked = users[-1].get("content", "") if users else ""
        if last.get("role") == "tool":
            if "long output please" in asked:
                return {"role": "assistant", "content": "That was a long listing."}
            return {
                "role": "assistant",
                "content": (
                    "I read **hello.txt**; reading `/etc/shadow` was refused.\n\n"
                    f"Raw HTML stays text: {HTML_IN_ANSWER}\n\n"
                    "```sh\ncat hello.txt\n```\n\n- first point\n- second point"
                ),
            }
        if "tools please" in asked:
            return {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    _tool_call("execute_command", {"command": f"cat {self.data_dir}/hello.txt"}),
                    _tool_call("read_file", {"path": "/etc/shadow"}),
                ],
            }
        if "long output please" in asked:
            return {
                "role": "assistant",
                "content": "",
                "tool_calls": [_tool_call("execute_command", {"command": "seq 1 3000"})],
            }
        if "slow please" in asked:
            time.sleep(30)
        return {"role": "assistant", "content": "Hello! I am the **scripted** model."}


class Handler(BaseHTTPRequestHandler):
    script = None

    def log_message(self, *args):
        pass

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/api/tags":
            self._json(200, {"models": [
                {"name": "llama3.1:8b", "model": "llama3.1:8b", "size": 4920753328},
                {"name": "qwen2.5-coder:7b", "model": "qwen2.5-coder:7b", "size": 4683087332},
            ]})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._json(400, {"error": "bad json"})
            return
        if self.path != "/api/chat":
            self._json(404, {"error": "not found"})
            return
        message = self.script.reply(body.get("messages", []))
        self._json(200, {"model": body.get("model"), "created_at": "2026-01-01T00:00:00Z",
                         "message": message, "done": True})


def start(data_dir):
    """Starts the stub on 127.0.0.1 (a free port); returns (server, base URL)."""
    handler = type("ScriptedHandler", (Handler,), {"script": Script(data_dir)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"

"""The front doors with real clients: the official `openai` package against
`/v1` and the official MCP Python SDK's streamable-HTTP client against `/mcp`,
both talking to the real `ai-orchestrator` binary on 127.0.0.1 with a scripted
model server (scripts/llm_stub.py).

Run through scripts/clients-test.sh, which creates the virtual environment:
    scripts/clients-test.sh [path/to/ai-orchestrator]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import openai
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llm_stub import ScriptedModel  # noqa: E402

ADMIN_PASSWORD = "Adm1n-Clients-Passw0rd-Q7"
JWT_SECRET = "clients-test-jwt-secret-0123456789-abcdefgh"
# Chat requests per minute for each identity (shared by /api/chat and /v1/chat/completions).
CHAT_BUDGET = 6


class Server:
    """The real binary in a temporary directory, with a policy naming its roots."""

    def __init__(self, binary: Path, llm_url: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="clients-test-")).resolve()
        self.data = self.root / "data"
        self.out = self.root / "out"
        for d in ("config", "secrets", "state", "data", "out"):
            (self.root / d).mkdir()
        (self.data / "hello.txt").write_text("hello from the data root\n")
        (self.root / "config" / "policy.yaml").write_text(
            "version: 1\n"
            "commands:\n  allow:\n    - program: echo\n    - program: ls\n"
            f'paths:\n  read: ["{self.data}"]\n  write: ["{self.out}"]\n'
            "rateLimits:\n"
            "  default: {requests: 10000, per: 1m}\n"
            "  routes:\n"
            "    /api/auth/login: {requests: 1000, per: 1m}\n"
            f"    /api/chat: {{requests: {CHAT_BUDGET}, per: 1m}}\n"
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AI_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "AI_JWT_SECRET_KEY": JWT_SECRET,
            "AI_OLLAMA_URL": llm_url,
            "AI_LLM_TIMEOUT": "30",
            "AI_LOG_LEVEL": "info",
        }
        self.stdout = open(self.root / "stdout.log", "w")
        self.stderr = open(self.root / "stderr.log", "w")
        self.process = subprocess.Popen(
            [
                str(binary), "serve", "--host", "127.0.0.1", "--port", "0",
                "--config-dir", str(self.root / "config"),
                "--secrets-dir", str(self.root / "secrets"),
                "--data-dir", str(self.root / "state"),
            ],
            env=env, stdin=subprocess.DEVNULL, stdout=self.stdout, stderr=self.stderr,
        )
        self.url = self._wait_listening()

    def _wait_listening(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = (self.root / "stdout.log").read_text()
            match = re.search(r"^listening on (\S+)", text, re.M)
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.logs()}")
            time.sleep(0.05)
        raise RuntimeError("server did not start within 60 s")

    def logs(self) -> str:
        return (self.root / "stdout.log").read_text() + (self.root / "stderr.log").read_text()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.stdout.close()
        self.stderr.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def request(self, method: str, path: str, token: str | None = None,
                body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw, status, hdrs = resp.read(), resp.status, dict(resp.headers)
        except urllib.error.HTTPError as err:
            raw, status, hdrs = err.read(), err.code, dict(err.headers)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return status, parsed, {k.lower(): v for k, v in hdrs.items()}

    def admin_token(self) -> str:
        status, body, _ = self.request(
            "POST", "/api/auth/login", body={"username": "admin", "password": ADMIN_PASSWORD})
        assert status == 200, body
        return body["access_token"]

    def api_key(self, admin: str, name: str, scopes: list[str]) -> str:
        status, body, _ = self.request(
            "POST", "/api/auth/apikeys", admin, {"name": name, "scopes": scopes})
        assert status in (200, 201), body
        return body["key"]

    def audit(self, admin: str, query: str) -> list[dict[str, Any]]:
        status, body, _ = self.request("GET", f"/api/audit?limit=500&{query}", admin)
        assert status == 200, body
        return body["items"]


# ---- the checks ----

def extra(model: Any, name: str) -> Any:
    """An extension field of an openai response object (kept by the SDK, not typed)."""
    return model.to_dict().get(name)


def openai_checks(srv: Server, llm: ScriptedModel, keys: dict[str, str], admin: str) -> list[tuple[str, Callable[[], None]]]:
    base = srv.url + "/v1"
    client = openai.OpenAI(base_url=base, api_key=keys["full"], max_retries=0)

    def chat() -> None:
        llm.text("Hello from the model.")
        completion = client.chat.completions.create(
            model="llama3.1:8b",
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "say hello"}],
            temperature=0.2, max_tokens=64, user="end-user-7",
        )
        assert completion.object == "chat.completion"
        assert completion.choices[0].message.content == "Hello from the model."
        assert completion.choices[0].finish_reason == "stop"
        assert completion.model == "llama3.1:8b"
        assert extra(completion, "x_tool_calls") == []
        assert extra(completion, "x_conversation_id") is None, "stored without being asked"
        sent = llm.requests[-1]
        assert sent["messages"][-1] == {"role": "user", "content": "say hello"}, sent["messages"]

    def streaming_chat() -> None:
        llm.call("read_file", {"path": str(srv.data / "hello.txt")})
        llm.text("The file greets you.")
        stream = client.chat.completions.create(
            model="auto", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "read hello.txt"}],
        )
        content, tool_events, finish, usage = "", [], None, None
        for chunk in stream:
            if extra(chunk, "x_tool_call"):
                tool_events.append(extra(chunk, "x_tool_call"))
            for choice in chunk.choices:
                content += choice.delta.content or ""
                finish = choice.finish_reason or finish
            usage = chunk.usage or usage
        assert content == "The file greets you.", content
        assert finish == "stop"
        assert usage is not None
        assert len(tool_events) == 1 and tool_events[0]["tool"] == "read_file", tool_events
        assert tool_events[0]["allowed"] is True
        assert "hello from the data root" in json.dumps(tool_events[0]["result"])

    def models_list() -> None:
        ids = [m.id for m in client.models.list()]
        assert "auto" in ids and "llama3.1:8b" in ids, ids
        assert all(m.object == "model" and m.owned_by for m in client.models.list())

    def refusal_in_x_tool_calls() -> None:
        llm.call("read_file", {"path": "/etc/shadow"})
        llm.text("I may not read that.")
        completion = client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "show /etc/shadow"}])
        calls = extra(completion, "x_tool_calls")
        assert len(calls) == 1, calls
        call = calls[0]
        assert call["tool"] == "read_file" and call["allowed"] is False, call
        assert call.get("rule") and call.get("reason"), call
        assert "root:" not in json.dumps(completion.to_dict())
        rows = srv.audit(admin, "action=tool.read_file&outcome=denied")
        assert any(r.get("target") == "/etc/shadow" for r in rows), rows

    def client_tools_pass_through() -> None:
        before = llm.request_count()
        llm.call("get_weather", {"city": "Oslo"})
        completion = client.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "weather in Oslo?"}],
            tools=[{"type": "function", "function": {
                "name": "get_weather", "description": "the weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        )
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        call = choice.message.tool_calls[0]
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Oslo"}
        assert llm.request_count() == before + 1, "the server must not loop on client tools"
        offered = [t["function"]["name"] for t in llm.requests[-1].get("tools", [])]
        assert offered == ["get_weather"], offered

    def bad_key_is_401() -> None:
        bad = openai.OpenAI(base_url=base, api_key="ak_not-a-real-key-0000000000", max_retries=0)
        try:
            bad.chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}])
        except openai.AuthenticationError as err:
            assert err.status_code == 401
            assert err.body and err.body.get("type") == "authentication_error", err.body
        else:
            raise AssertionError("a bad key was accepted")
        try:
            bad.models.list()
        except openai.AuthenticationError:
            pass
        else:
            raise AssertionError("a bad key listed models")

    def rate_limit_is_429() -> None:
        limited = openai.OpenAI(base_url=base, api_key=keys["rate"], max_retries=0)
        for i in range(CHAT_BUDGET + 1):
            llm.text(f"answer {i}")
        seen = None
        for i in range(CHAT_BUDGET + 1):
            try:
                limited.chat.completions.create(
                    model="auto", messages=[{"role": "user", "content": f"n {i}"}])
            except openai.RateLimitError as err:
                seen = err
                break
        assert seen is not None, f"no 429 within {CHAT_BUDGET + 1} requests"
        assert seen.status_code == 429
        assert int(seen.response.headers["retry-after"]) >= 1
        assert seen.body and seen.body.get("type") == "rate_limit_error", seen.body
        # drain the turns the limited requests did not use
        while llm.pending():
            llm._next({})

    def read_key_cannot_execute_through_chat() -> None:
        reader = openai.OpenAI(base_url=base, api_key=keys["read"], max_retries=0)
        llm.call("execute_command", {"command": "echo hi"})
        llm.text("Not allowed.")
        completion = reader.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "run echo"}])
        offered = [t["function"]["name"] for t in llm.requests[-2].get("tools", [])]
        assert "execute_command" not in offered, offered
        call = extra(completion, "x_tool_calls")[0]
        assert call["allowed"] is False and call["rule"] == "scope", call

    return [
        ("openai: chat", chat),
        ("openai: streaming chat with a tool call event", streaming_chat),
        ("openai: models list", models_list),
        ("openai: policy refusal in x_tool_calls", refusal_in_x_tool_calls),
        ("openai: client tools pass through unexecuted", client_tools_pass_through),
        ("openai: bad key is 401", bad_key_is_401),
        ("openai: rate limit is 429 with Retry-After", rate_limit_is_429),
        ("openai: a read-only key cannot execute through the agent", read_key_cannot_execute_through_chat),
    ]


async def mcp_session(srv: Server, key: str, action: Callable[[ClientSession], Any]) -> Any:
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {key}"}) as http:
        async with streamable_http_client(srv.url + "/mcp", http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await action(session)


def text_of(result: Any) -> str:
    return "\n".join(getattr(c, "text", "") for c in result.content)


def mcp_checks(srv: Server, keys: dict[str, str], admin: str) -> list[tuple[str, Callable[[], None]]]:
    def read_only_key_lists_only_read_tools() -> None:
        async def names(session: ClientSession) -> list[str]:
            return [t.name for t in (await session.list_tools()).tools]
        listed = asyncio.run(mcp_session(srv, keys["read"], names))
        assert sorted(listed) == ["list_directory", "read_file", "search_files"], listed
        everything = asyncio.run(mcp_session(srv, keys["full"], names))
        assert {"execute_command", "write_file"} <= set(everything), everything

    def tools_have_schemas() -> None:
        async def tools(session: ClientSession) -> Any:
            return (await session.list_tools()).tools
        listed = {t.name: t for t in asyncio.run(mcp_session(srv, keys["read"], tools))}
        schema = listed["read_file"].input_schema
        assert schema["required"] == ["path"], schema
        assert listed["read_file"].description

    def read_file_allowed_and_shadow_refused() -> None:
        async def calls(session: ClientSession) -> tuple[Any, Any]:
            ok = await session.call_tool("read_file", {"path": str(srv.data / "hello.txt")})
            refused = await session.call_tool("read_file", {"path": "/etc/shadow"})
            return ok, refused
        ok, refused = asyncio.run(mcp_session(srv, keys["read"], calls))
        assert not ok.is_error, text_of(ok)
        assert "hello from the data root" in text_of(ok)
        assert refused.is_error is True, text_of(refused)
        assert "rule" in text_of(refused), text_of(refused)
        assert "root:" not in text_of(refused)
        rows = srv.audit(admin, "action=tool.read_file&outcome=denied")
        assert any(r.get("target") == "/etc/shadow" for r in rows), rows

    def execute_without_scope_refused() -> None:
        proof = srv.out / "proof"
        async def call(session: ClientSession) -> Any:
            return await session.call_tool(
                "execute_command", {"command": f"ls {srv.data}", "cwd": str(srv.data)})
        result = asyncio.run(mcp_session(srv, keys["read"], call))
        assert result.is_error is True, text_of(result)
        assert "scope" in text_of(result), text_of(result)
        assert not proof.exists()
        async def call_full(session: ClientSession) -> Any:
            return await session.call_tool("execute_command", {"command": "echo from-mcp"})
        ran = asyncio.run(mcp_session(srv, keys["full"], call_full))
        assert not ran.is_error and "from-mcp" in text_of(ran), text_of(ran)

    def bad_key_and_foreign_origin_refused() -> None:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"}}}
        accept = {"Accept": "application/json, text/event-stream"}
        status, _, headers = srv.request("POST", "/mcp", "ak_not-a-real-key-000000", init, accept)
        assert status == 401 and headers.get("www-authenticate") == "Bearer", status
        status, _, _ = srv.request(
            "POST", "/mcp", keys["read"], init, {**accept, "Origin": "http://evil.example"})
        assert status == 403, status

    def session_bound_to_its_opener() -> None:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "probe", "version": "1"}}}
        accept = {"Accept": "application/json, text/event-stream"}
        status, _, headers = srv.request("POST", "/mcp", keys["read"], init, accept)
        assert status == 200, status
        session = headers.get("mcp-session-id")
        assert session, headers
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        status, _, _ = srv.request("POST", "/mcp", keys["full"], listing, {
            **accept, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"})
        assert status == 404, f"another key used the session: {status}"

    return [
        ("mcp: a read-only key lists only read tools", read_only_key_lists_only_read_tools),
        ("mcp: tools carry schemas and descriptions", tools_have_schemas),
        ("mcp: read_file allowed, /etc/shadow refused with isError", read_file_allowed_and_shadow_refused),
        ("mcp: execute_command without the execute scope is refused", execute_without_scope_refused),
        ("mcp: bad key 401, foreign Origin 403", bad_key_and_foreign_origin_refused),
        ("mcp: a session is bound to the key that opened it", session_bound_to_its_opener),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("binary", nargs="?", default="target/debug/ai-orchestrator")
    parser.add_argument("-k", default="", help="run only checks whose name contains this")
    args = parser.parse_args()
    llm = ScriptedModel().start()
    srv = Server(Path(args.binary).resolve(), llm.url)
    failed: list[str] = []
    passed = 0
    try:
        admin = srv.admin_token()
        keys = {
            "full": srv.api_key(admin, "clients-full", ["read", "write", "execute"]),
            "read": srv.api_key(admin, "clients-read", ["read"]),
            "rate": srv.api_key(admin, "clients-rate", ["read"]),
        }
        checks = openai_checks(srv, llm, keys, admin) + mcp_checks(srv, keys, admin)
        for name, check in checks:
            if args.k not in name:
                continue
            try:
                check()
                passed += 1
                print(f"ok    {name}")
            except Exception:  # noqa: BLE001 - every failure is reported, then counted
                failed.append(name)
                print(f"FAIL  {name}\n{traceback.format_exc()}")
    finally:
        if failed:
            print("---- server log (tail) ----")
            print("\n".join(srv.logs().splitlines()[-40:]))
        srv.stop()
        llm.stop()
    print(f"clients: {passed} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

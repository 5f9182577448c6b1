"""The web console in a real browser: Debian's headless Chromium driven by
Playwright, against the real `ai-orchestrator` binary on 127.0.0.1 and the
scripted model server in llm_stub.py. Run by scripts/console-test.sh.

Screenshots of the main pages go to $CONSOLE_SCREENSHOTS
(default target/console-screenshots).
"""

import json
import os
import re
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

import llm_stub

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("AI_ORCHESTRATOR_BIN", ROOT / "target/debug/ai-orchestrator"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS", ROOT / "target/console-screenshots"))
ADMIN_PASSWORD = "Adm1n-Console-Passw0rd-Q7"
READER_PASSWORD = "Reader-Passw0rd-123456"
# The flags a root user on a closed network needs; nothing is fetched at run time.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]

POLICY = """version: 1
commands:
  allow:
    - program: cat
    - program: ls
    - program: seq
    - program: echo
  maxOutputBytes: 2000
paths:
  read: ["{data}"]
  write: []
  deny: ["/etc/shadow", "**/.env"]
rateLimits:
  enabled: false
"""


def http(method, url, body=None, token=None, headers=None):
    """(status, headers, parsed body) of one request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status, got = response.status, response.headers
    except urllib.error.HTTPError as error:
        raw, status, got = error.read(), error.code, error.headers
    try:
        parsed = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        parsed = raw.decode(errors="replace")
    return status, got, parsed


def login_token(base, username, password):
    status, _, body = http("POST", f"{base}/api/auth/login", {"username": username, "password": password})
    assert status == 200, body
    return body["access_token"]


@pytest.fixture(scope="session")
def server():
    assert BIN.exists(), f"build the server first: {BIN}"
    tmp = tempfile.TemporaryDirectory(prefix="console-test-")
    base_dir = Path(tmp.name)
    for name in ("config", "secrets", "state", "root/data"):
        (base_dir / name).mkdir(parents=True)
    data = (base_dir / "root/data").resolve()
    (data / "hello.txt").write_text("hello from the data root\n")
    (base_dir / "config/policy.yaml").write_text(POLICY.format(data=data))
    stub, stub_url = llm_stub.start(str(data))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AI_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "AI_JWT_SECRET_KEY": "console-test-jwt-secret-0123456789-abcdefgh",
        "AI_OLLAMA_URL": stub_url,
        "AI_LLM_TIMEOUT": "60",
        "AI_LOG_LEVEL": "warn",
    }
    stdout = open(base_dir / "stdout.log", "w+")
    stderr = open(base_dir / "stderr.log", "w+")
    process = subprocess.Popen(
        [str(BIN), "serve", "--host", "127.0.0.1", "--port", "0",
         "--config-dir", str(base_dir / "config"), "--secrets-dir", str(base_dir / "secrets"),
         "--data-dir", str(base_dir / "state")],
        env=env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
    url = None
    deadline = time.time() + 60
    while time.time() < deadline and url is None:
        if process.poll() is not None:
            stderr.seek(0)
            raise RuntimeError(f"the server exited: {stderr.read()}")
        stdout.seek(0)
        match = re.search(r"listening on (http://\S+)", stdout.read())
        if match:
            url = match.group(1)
        else:
            time.sleep(0.1)
    assert url, "the server did not start"
    admin = login_token(url, "admin", ADMIN_PASSWORD)
    status, _, body = http("POST", f"{url}/api/auth/users",
                           {"username": "reader", "password": READER_PASSWORD, "scopes": ["read"]}, admin)
    assert status in (200, 201), body
    yield {"url": url, "admin": admin, "data": data}
    process.terminate()
    process.wait(timeout=20)
    stub.shutdown()
    tmp.cleanup()


@pytest.fixture(scope="session")
def browser():
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def requests_seen():
    """Every URL any page asked for, across the whole run."""
    return []


@pytest.fixture
def page(browser, server, requests_seen):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.on("request", lambda r: requests_seen.append(r.url))
    page.on("websocket", lambda ws: requests_seen.append(ws.url))
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    unexpected = [e for e in errors if "401" not in e and "Failed to load resource" not in e]
    assert not unexpected, f"errors in the page: {unexpected}"


def sign_in(page, server, username="admin", password=ADMIN_PASSWORD):
    page.goto(server["url"] + "/")
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.press("#login-password", "Enter")  # keyboard only
    expect(page.locator("#signout")).to_be_visible()


def shot(page, name, full_page=False):
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def test_root_is_json_for_programs_and_html_for_browsers(server):
    status, headers, body = http("GET", server["url"] + "/", headers={"Accept": "application/json"})
    assert status == 200
    assert body["name"] == "AI Orchestrator" and body["tools"] >= 5 and body["version"]
    status, headers, body = http("GET", server["url"] + "/", headers={"Accept": "text/html"})
    assert status == 200 and "<script type=\"module\" src=\"/assets/app.js\">" in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"


def test_sign_in_and_the_page_carries_the_csp(page, server):
    response = page.goto(server["url"] + "/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    expect(page.locator("#login-username")).to_be_visible()
    shot(page, "sign-in")
    page.fill("#login-username", "admin")
    page.fill("#login-password", "wrong password")
    page.press("#login-password", "Enter")
    expect(page.locator("#login-error")).to_contain_text("Incorrect username or password")
    sign_in(page, server)
    expect(page.locator("#chat-input")).to_be_visible()
    # The refresh token is an HttpOnly cookie scoped to the session route: no script sees it.
    cookies = page.context.cookies()
    refresh = [c for c in cookies if c["name"] == "ai_console_refresh"]
    assert refresh and refresh[0]["httpOnly"] and refresh[0]["sameSite"] == "Strict"
    assert refresh[0]["path"] == "/api/console/session"
    assert page.evaluate("document.cookie") == ""
    # A reload signs in again from the cookie alone.
    page.reload()
    expect(page.locator("#signout")).to_be_visible()


def test_chat_shows_allowed_and_refused_tool_calls_with_their_rules(page, server):
    sign_in(page, server)
    expect(page.locator("#model option")).not_to_have_count(0)
    page.fill("#chat-input", "tools please: read hello.txt and /etc/shadow")
    page.press("#chat-input", "Enter")
    allowed = page.locator(".tool-card.allowed")
    refused = page.locator(".tool-card.refused")
    expect(allowed).to_have_count(1, timeout=30000)
    expect(refused).to_have_count(1)
    expect(allowed.locator(".rule")).to_contain_text("commands.allow[0] (cat)")
    expect(allowed).to_contain_text("hello from the data root")
    expect(allowed.locator(".duration")).to_contain_text("ms")
    expect(refused.locator(".rule")).to_contain_text("paths.deny[0] (/etc/shadow)")
    expect(refused.locator(".reason")).to_contain_text("refused")
    answer = page.locator(".message.assistant").last
    expect(answer).to_contain_text("Raw HTML stays text: <img")
    expect(answer.locator("strong")).to_have_text("hello.txt")
    expect(answer.locator("pre code")).to_have_text("cat hello.txt")
    # The model's HTML was shown, not rendered.
    assert answer.locator("img").count() == 0 and answer.locator("b").count() == 0
    assert page.title() != "pwned"
    # The conversation is listed and reopens from the server with its cards.
    expect(page.locator("#conversations li")).to_have_count(1)
    page.set_viewport_size({"width": 1280, "height": 1200})
    page.locator(".message.user").first.scroll_into_view_if_needed()
    shot(page, "chat")
    page.reload()
    expect(page.locator(".tool-card.refused .rule")).to_contain_text("paths.deny[0]")


def test_markdown_never_turns_text_into_markup(page, server):
    page.goto(server["url"] + "/")
    rendered = page.evaluate(r"""async () => {
        const {render} = await import('/assets/markdown.js');
        const html = (text) => { const d = document.createElement('div'); d.appendChild(render(text)); return d.innerHTML; };
        return {
            script: html('<script>alert(1)</script> and <img src=x onerror=alert(1)>'),
            link: html('[click](javascript:alert(1)) and [ok](https://example.org/a)'),
            snake: html('call snake_case_name and _emphasis_'),
            code: html('```html\n<b>x</b>\n```'),
        };
    }""")
    assert "<script" not in rendered["script"] and "<img" not in rendered["script"]
    assert "&lt;script&gt;" in rendered["script"]
    assert 'href="https://example.org/a"' in rendered["link"] and 'href="javascript' not in rendered["link"]
    assert "snake_case_name" in rendered["snake"] and "<em>emphasis</em>" in rendered["snake"]
    assert "&lt;b&gt;x&lt;/b&gt;" in rendered["code"] and "<b>" not in rendered["code"]


def test_long_output_is_collapsed_with_the_truncation_marker(page, server):
    sign_in(page, server)
    page.fill("#chat-input", "long output please")
    page.click("#send")
    card = page.locator(".tool-card.allowed").last
    expect(card).to_be_visible(timeout=30000)
    expect(card.locator(".truncated")).to_contain_text("bytes omitted")
    expect(card.locator("details.output-block").first).not_to_have_attribute("open", "")
    expect(page.locator(".message.assistant").last).to_contain_text("long listing")


def test_stop_cancels_a_running_turn(page, server):
    sign_in(page, server)
    page.fill("#chat-input", "slow please")
    page.press("#chat-input", "Enter")
    expect(page.locator("#stop")).to_be_enabled()
    page.click("#stop")
    expect(page.locator(".stopped")).to_be_visible()
    expect(page.locator("#send")).to_be_enabled()


def test_conversations_can_be_renamed_and_deleted(page, server):
    sign_in(page, server)
    page.fill("#chat-input", "hello there")
    page.press("#chat-input", "Enter")
    expect(page.locator(".message.assistant").last).to_contain_text("scripted", timeout=30000)
    item = page.locator("#conversations li.current")
    item.get_by_role("button", name=re.compile("^Rename")).click()
    page.fill("#conversations input.rename", "Renamed in the browser")
    page.press("#conversations input.rename", "Enter")
    expect(page.locator("#conversations")).to_contain_text("Renamed in the browser")
    page.once("dialog", lambda d: d.accept())
    page.locator("#conversations li.current").get_by_role("button", name=re.compile("^Delete")).click()
    expect(page.locator("#conversations")).not_to_contain_text("Renamed in the browser")


def test_policy_page_and_the_dry_run_of_a_denied_read(page, server):
    sign_in(page, server)
    page.click("#nav >> text=Policy")
    expect(page.locator("#policy-source")).to_have_text("file")
    expect(page.locator("#policy-commands")).to_contain_text("cat")
    page.fill("#dry-subject", "cat /etc/shadow")
    page.click("#dry-submit")
    expect(page.locator("#dry-rule")).to_have_text("paths.deny[0] (/etc/shadow)")
    expect(page.locator("#dry-result .decision")).to_have_text("denied")
    expect(page.locator("#dry-result")).to_contain_text('["cat","/etc/shadow"]')
    shot(page, "policy", full_page=True)
    # The question is in the audit log.
    page.click("#nav >> text=Audit")
    page.fill("#audit-action", "policy.check")
    page.press("#audit-action", "Enter")
    expect(page.locator("#audit-table")).to_contain_text("cat /etc/shadow")
    page.fill("#audit-action", "")
    page.press("#audit-action", "Enter")
    page.check("#audit-tail")
    expect(page.locator("#audit-table tbody tr").first).to_be_visible()
    shot(page, "audit")


def test_api_key_is_shown_once(page, server):
    sign_in(page, server)
    page.click("#nav >> text=Users & keys")
    expect(page.locator("#users-table")).to_contain_text("reader")
    page.fill("#key-name", "browser-key")
    page.click("#key-create")
    secret = page.locator("#new-key-value")
    expect(secret).to_be_visible()
    key = secret.inner_text()
    assert key.startswith("ak_") and len(key) > 20
    expect(page.locator("#keys-table")).to_contain_text("browser-key")
    shot(page, "users")
    # The key works, and is not shown again.
    status, _, body = http("GET", server["url"] + "/api/auth/me", headers={"X-API-Key": key})
    assert status == 200 and body["username"] == "admin"
    page.reload()
    expect(page.locator("#keys-table")).to_contain_text("browser-key")
    assert key not in page.content()


def test_read_only_user_cannot_reach_the_users_page(page, server):
    sign_in(page, server, "reader", READER_PASSWORD)
    nav = page.locator("#nav")
    expect(nav).to_contain_text("Chat")
    expect(nav).not_to_contain_text("Users")
    expect(nav).not_to_contain_text("Policy")
    page.goto(server["url"] + "/#/users")
    expect(page.locator("#forbidden")).to_contain_text("needs the admin scope")
    assert page.locator("#users-table").count() == 0
    # And the server refuses the API whatever the page does.
    reader = login_token(server["url"], "reader", READER_PASSWORD)
    status, _, body = http("GET", server["url"] + "/api/auth/users", token=reader)
    assert status == 403 and "admin" in body["detail"]
    status, _, body = http("POST", server["url"] + "/api/policy/check", {"command": "ls"}, token=reader)
    assert status == 403


def test_default_password_warning_and_changing_it(page, server):
    # An account still on the v3 default password, as `import-v3` brings them over.
    status, _, body = http("POST", server["url"] + "/api/auth/users",
                           {"username": "legacy", "password": "changeme123", "scopes": ["read"]},
                           server["admin"])
    assert status in (200, 201), body
    sign_in(page, server, "legacy", "changeme123")
    banner = page.locator(".warning-banner")
    expect(banner).to_contain_text("old default password")
    shot(page, "default-password-warning")
    banner.get_by_role("link", name="Change it now").click()
    page.fill("#pw-current", "changeme123")
    page.fill("#pw-new", "Legacy-New-Passw0rd-42")
    page.fill("#pw-again", "Legacy-New-Passw0rd-42")
    page.press("#pw-again", "Enter")
    expect(page.locator(".warning-banner")).to_have_count(0)
    expect(page.locator("#signout")).to_be_visible()
    login_token(server["url"], "legacy", "Legacy-New-Passw0rd-42")


def test_status_page_and_phone_width_dark_mode(browser, server, requests_seen):
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = context.new_page()
    page.on("request", lambda r: requests_seen.append(r.url))
    sign_in(page, server)
    expect(page.locator("#chat-input")).to_be_visible()
    _, _, listing = http("GET", server["url"] + "/api/conversations", token=server["admin"])
    tools = [c for c in listing["conversations"] if c["title"].startswith("tools please")]
    assert tools, listing
    page.goto(server["url"] + f"/#/chat/{tools[0]['id']}")
    expect(page.locator(".tool-card.refused .rule")).to_contain_text("paths.deny[0]")
    page.locator(".tool-card.refused").scroll_into_view_if_needed()
    shot(page, "chat-phone-dark")
    page.goto(server["url"] + "/#/status")
    expect(page.locator("#status-health")).to_contain_text("healthy")
    expect(page.locator("#status-health")).to_contain_text("file")
    context.close()
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    sign_in(page, server)
    page.goto(server["url"] + "/#/status")
    expect(page.locator("#status-rates")).to_be_visible()
    shot(page, "status")
    context.close()


def test_the_session_route_refuses_requests_without_the_console_header(server):
    status, _, body = http("POST", server["url"] + "/api/console/session",
                           {"username": "admin", "password": ADMIN_PASSWORD})
    assert status == 403 and "X-AI-Console" in body["detail"].replace("x-ai-console", "X-AI-Console")
    status, _, body = http("POST", server["url"] + "/api/console/session",
                           {"username": "admin", "password": ADMIN_PASSWORD},
                           headers={"X-AI-Console": "1", "Sec-Fetch-Site": "cross-site"})
    assert status == 403


def test_zz_no_request_left_the_server(server, requests_seen):
    """Runs last: every request any page made went to the server under test."""
    assert requests_seen, "no requests were recorded"
    origin = server["url"]
    ws_origin = origin.replace("http://", "ws://")
    outside = [u for u in requests_seen if not (u.startswith(origin + "/") or u.startswith(ws_origin + "/")
                                                or u.startswith("data:"))]
    assert not outside, f"requests outside the server: {outside}"
    assert any(u.startswith(ws_origin + "/ws/chat") for u in requests_seen)

"""The Slack app under test: a local fake Slack Web API, the real WSGI app served on a local
port with Bolt verifying every signature, and a stand-in for `response_url`. Fixtures (`fake`,
`settings`, `server`, `responses`) are registered for every test module by `tests/conftest.py`;
`slash()` and `interact()` send signed requests as Slack does."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.settings import load_settings
from bot.web import wsgi_app
from tests.conftest import M3
from tests.fakeslack import FakeSlack, signed_headers

TOKEN = "xoxb-test"
SECRET = "s3cr3t-signing"
JULIE = ("U02JUL", "julie.laurent@agence-corniche.example.fr")


class Responses:
    """Stands in for Slack's response_url: records what `respond()` posts."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                owner.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/response"

    def wait(self, count: int = 1, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.time() + timeout
        while len(self.bodies) < count and time.time() < deadline:
            time.sleep(0.02)
        assert len(self.bodies) >= count, self.bodies
        return self.bodies


class _Quiet(WSGIRequestHandler):
    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(
        token=TOKEN, users=[{"id": JULIE[0], "email": JULIE[1]}], app_token="xapp-test"
    ) as fake:
        yield fake
        fake.assert_valid()


@pytest.fixture
def settings(loaded: M3) -> Any:
    return load_settings(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        DATABASE_URL=loaded.database_url,
        M3_TODAY="2026-11-24",
    )


@pytest.fixture
def server(settings: Any, fake: FakeSlack, factory: sessionmaker[Session]) -> Iterator[str]:
    app = create_app(settings, client=WebClient(token=TOKEN, base_url=fake.url), factory=factory)
    httpd = make_server("127.0.0.1", 0, wsgi_app(app), handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def responses() -> Iterator[Responses]:
    recorder = Responses()
    yield recorder
    recorder.server.shutdown()


def post(url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def slash(server: str, text: str, responses: Responses, user: str = JULIE[0], **kw: Any) -> int:
    body = urllib.parse.urlencode(
        {
            "command": "/m3",
            "text": text,
            "user_id": user,
            "team_id": "T1",
            "channel_id": "C1",
            "trigger_id": "1.2.abc",
            "response_url": responses.url,
        }
    )
    status, _ = post(f"{server}/slack/events", body, signed_headers(SECRET, body, **kw))
    return status


def interact(server: str, payload: dict[str, Any]) -> tuple[int, str]:
    """Post an interaction (block action, view submission, options request) as Slack does."""
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    return post(f"{server}/slack/events", body, signed_headers(SECRET, body))


def wait_for(fake: FakeSlack, method: str, count: int = 1, timeout: float = 10) -> list[Any]:
    """The calls to `method` once there are `count` of them (the app answers asynchronously)."""
    deadline = time.time() + timeout
    while len(fake.calls_to(method)) < count and time.time() < deadline:
        time.sleep(0.02)
    calls = fake.calls_to(method)
    assert len(calls) >= count, f"{len(calls)} calls to {method}, expected {count}"
    return calls

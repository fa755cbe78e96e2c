"""The Slack fake, driven by the real slack_sdk clients (Web API and Socket Mode)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from tests.fakeslack import VALIDATORS_DIR, FakeSlack, signed_headers

TOKEN = "xoxb-test"
USERS = [
    {"id": "U1", "email": "alice@agence.fr", "name": "Alice Martin"},
    {"id": "U2", "email": "bob@agence.fr", "name": "Bob Durand"},
]


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
def fake() -> Any:
    with FakeSlack(token=TOKEN, users=USERS, app_token="xapp-test") as fake:
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.url)


def test_valid_message_is_answered_and_recorded(fake: FakeSlack, client: WebClient) -> None:
    button = {
        "type": "button",
        "action_id": "prepare_call",
        "text": {"type": "plain_text", "text": "Préparer l'appel"},
        "value": "42",
    }
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Vos dossiers"}},
        {**section("*Dupont* — échéance le 3 mars"), "accessory": button},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "et 3 autres"}]},
    ]
    first = client.chat_postMessage(channel="C1", text="Vos dossiers", blocks=blocks)
    # The same call form-encoded, blocks as a JSON string.
    second = client.api_call(
        "chat.postMessage", params={"channel": "C1", "text": "x", "blocks": json.dumps(blocks)}
    )

    assert first["ok"] and first["channel"] == "C1"
    assert first["message"]["blocks"] == blocks
    assert float(second["ts"]) > float(first["ts"])
    calls = fake.calls_to("chat.postMessage")
    assert [c.params["blocks"] for c in calls] == [blocks, blocks]
    assert calls[0].params["text"] == "Vos dossiers" and calls[0].authorized
    assert calls[0].token == TOKEN and "token" not in calls[0].params
    fake.assert_valid()

    fake.reset()
    assert fake.calls == [] and fake.violations == []


def test_users_conversations_and_auth(fake: FakeSlack, client: WebClient) -> None:
    assert client.auth_test()["user_id"] == "UBOT"
    user = client.users_lookupByEmail(email="Alice@agence.fr")["user"]
    assert user["id"] == "U1" and user["profile"]["email"] == "alice@agence.fr"
    assert client.users_info(user="U2")["user"]["name"] == "Bob Durand"
    with pytest.raises(SlackApiError) as missing:
        client.users_lookupByEmail(email="nobody@agence.fr")
    assert missing.value.response["error"] == "users_not_found"

    channel = client.conversations_open(users="U1")["channel"]["id"]
    assert channel == "DU1"
    posted = client.chat_postMessage(channel=channel, text="Bonjour")
    updated = client.chat_update(channel=channel, ts=posted["ts"], text="Bonjour !")
    assert updated["message"]["text"] == "Bonjour !"
    assert [m["text"] for m in fake.messages] == ["Bonjour !"]
    fake.assert_valid()


def test_wrong_or_missing_token_is_invalid_auth(fake: FakeSlack) -> None:
    for token in ("xoxb-wrong", None):
        with pytest.raises(SlackApiError) as error:
            WebClient(token=token, base_url=fake.url).chat_postMessage(channel="C1", text="x")
        assert error.value.response.status_code == 200
        assert error.value.response["error"] == "invalid_auth"
    assert [c.authorized for c in fake.calls] == [False, False]
    assert fake.messages == []


def test_rate_limited_call_is_retried_after_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=1)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))

    started = time.monotonic()
    response = client.chat_postMessage(channel="C1", text="x")

    assert response["ok"]
    assert time.monotonic() - started >= 1
    assert [(r.status, r.error) for r in fake.rejected] == [(429, "ratelimited")]
    assert len(fake.calls) == 1


def test_rate_limit_without_retry_handler_surfaces_429(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C1", text="x")
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "7"
    assert error.value.response["error"] == "ratelimited"


def test_server_error_is_retried(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", status=500, times=2)
    client.retry_handlers.append(
        ServerErrorRetryHandler(
            max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
        )
    )
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert [r.status for r in fake.rejected] == [500, 500]
    assert len(fake.calls) == 1


def test_too_many_blocks_are_invalid_blocks(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C1", text="x", blocks=[section("a")] * 51)
    assert error.value.response["error"] == "invalid_blocks"
    assert any("51 blocks" in v for v in fake.violations)
    with pytest.raises(AssertionError, match="51 blocks"):
        fake.assert_valid()


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ({"type": "section"}, "text or fields"),
        ({"type": "header", "text": {"type": "mrkdwn", "text": "x"}}, "schema"),
        ({"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}, "3000"),
        ({"type": "section", "text": {"type": "mrkdwn", "text": ""}}, "empty text"),
        ({"type": "sektion", "text": {"type": "mrkdwn", "text": "x"}}, "unknown block type"),
    ],
)
def test_invalid_block_is_reported(
    fake: FakeSlack, client: WebClient, block: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="x", blocks=[block])
    assert any(expected in v for v in fake.violations), fake.violations


def test_missing_required_parameter_and_unknown_method(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError):
        client.api_call("chat.postMessage", json={"text": "no channel"})
    client.api_call("chat.postMesage", json={"channel": "C1", "text": "typo"})
    assert any("missing required parameter 'channel'" in v for v in fake.violations)
    assert any("chat.postMesage: unknown Web API method" in v for v in fake.violations)


def test_views_are_validated(fake: FakeSlack, client: WebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "prepare",
        "title": {"type": "plain_text", "text": "Préparer l'appel"},
        "submit": {"type": "plain_text", "text": "Enregistrer"},
        "blocks": [
            section("*Dupont*"),
            {
                "type": "input",
                "block_id": "notes",
                "label": {"type": "plain_text", "text": "Notes"},
                "element": {"type": "plain_text_input", "action_id": "notes", "multiline": True},
            },
        ],
    }
    opened = client.views_open(trigger_id="123.456", view=modal)
    client.views_update(view_id=opened["view"]["id"], view=modal)
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [section("Accueil")]})
    fake.assert_valid()

    with pytest.raises(SlackApiError) as error:
        client.views_open(trigger_id="1", view={**modal, "title": {"type": "plain_text"}})
    assert error.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError):
        client.views_publish(user_id="U1", view={"type": "home", "blocks": [section("a")] * 101})
    assert any(
        "modal schema" in v and "'text' is a required property" in v for v in fake.violations
    )
    assert any("101 blocks" in v for v in fake.violations)


def test_per_channel_rate_limit(fake: FakeSlack, client: WebClient) -> None:
    fake.rate_limit_per_channel(per_second=1.0)
    client.chat_postMessage(channel="C1", text="1")
    client.chat_postMessage(channel="C2", text="other channel")
    with pytest.raises(SlackApiError) as error:
        client.chat_postMessage(channel="C1", text="2")
    assert error.value.response.status_code == 429
    assert error.value.response.headers["Retry-After"] == "1"
    assert [c.params["text"] for c in fake.calls] == ["1", "other channel"]
    assert [r.params["text"] for r in fake.rejected] == ["2"]


def test_random_429_is_reproducible(fake: FakeSlack, client: WebClient) -> None:
    def outcomes() -> list[bool]:
        fake.random_429(0.5, seed=3)
        results = []
        for i in range(20):
            try:
                client.chat_postMessage(channel=f"C{i}", text="x")
                results.append(True)
            except SlackApiError as error:
                assert error.response.status_code == 429
                results.append(False)
        return results

    first = outcomes()
    assert outcomes() == first
    assert 0 < first.count(False) < 20


def test_socket_mode_client_receives_envelope_and_acks(fake: FakeSlack) -> None:
    received: list[SocketModeRequest] = []
    hello = threading.Event()
    socket_client = SocketModeClient(
        app_token="xapp-test",
        web_client=WebClient(token=TOKEN, base_url=fake.url),
        auto_reconnect_enabled=False,
    )

    def on_message(client: BaseSocketModeClient, message: dict[str, Any], raw: str | None) -> None:
        if message.get("type") == "hello":
            hello.set()

    def on_request(client: BaseSocketModeClient, request: SocketModeRequest) -> None:
        received.append(request)
        client.send_socket_mode_response(
            SocketModeResponse(envelope_id=request.envelope_id, payload={"text": "Reçu"})
        )

    socket_client.message_listeners.append(on_message)
    socket_client.socket_mode_request_listeners.append(on_request)
    try:
        socket_client.connect()
        envelope_id = fake.socket_send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {"command": "/m3", "text": "list", "user_id": "U1"},
            }
        )
        ack = fake.wait_for_ack(envelope_id, timeout=5)
    finally:
        socket_client.close()

    assert hello.is_set()
    assert ack == {"envelope_id": "env-1", "payload": {"text": "Reçu"}}
    assert received[0].type == "slash_commands" and received[0].payload["text"] == "list"
    assert fake.calls_to("apps.connections.open")[0].token == "xapp-test"


def test_bot_token_cannot_open_a_socket_connection(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as error:
        client.apps_connections_open(app_token=TOKEN)
    assert error.value.response["error"] == "not_allowed_token_type"


def test_signed_headers_verify() -> None:
    body = "command=%2Fm3&text=list&user_id=U1"
    headers = signed_headers("s3cret", body)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid(
        body=body,
        timestamp=headers["X-Slack-Request-Timestamp"],
        signature=headers["X-Slack-Signature"],
    )
    assert signed_headers("s3cret", body, timestamp=1)["X-Slack-Request-Timestamp"] == "1"


def test_validators_come_from_the_folder_given(tmp_path: Path) -> None:
    complete = shutil.copytree(VALIDATORS_DIR, tmp_path / "complete")
    fake = FakeSlack(token=TOKEN, validators_dir=complete)
    assert fake.validators.folder == complete.resolve()
    assert "chat.postMessage" in fake.validators.operations

    incomplete = shutil.copytree(VALIDATORS_DIR, tmp_path / "incomplete")
    (incomplete / "blockkit-modal-view.schema.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"blockkit-modal-view\.schema\.json is missing"):
        FakeSlack(token=TOKEN, validators_dir=incomplete)

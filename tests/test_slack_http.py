"""The Slack app as `m3 web` serves it: signed HTTP requests to a real local server, the
bot's calls going to the fake Slack Web API; and Socket Mode through a local websocket."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.socket_mode import SocketModeClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.app import create_app
from bot.models import Advisor
from tests.conftest import M3
from tests.fakeslack import FakeSlack, signed_headers
from tests.slackkit import JULIE, SECRET, TOKEN, Responses, post, slash


def test_healthz(server: str) -> None:
    with urllib.request.urlopen(f"{server}/healthz", timeout=5) as response:
        assert response.status == 200 and response.read() == b"ok"


@pytest.mark.parametrize("text", ["", "help", "aide"])
def test_help_lists_the_subcommands(server: str, responses: Responses, text: str) -> None:
    assert slash(server, text, responses) == 200
    (answer,) = responses.wait()
    assert answer["response_type"] == "ephemeral"
    assert "/m3 list" in answer["text"] and "/m3 absent" in answer["text"]


def test_unknown_subcommand_answers_with_help(server: str, responses: Responses) -> None:
    assert slash(server, "bonjour", responses) == 200
    (answer,) = responses.wait()
    assert "Commande inconnue «\u00a0bonjour\u00a0»" in answer["text"]
    assert "/m3 list" in answer["text"] and "*" not in answer["text"]


def test_what_slack_escapes_is_read_as_typed(server: str, responses: Responses) -> None:
    """Slack sends `<`, `>` and `&` as entities: the echo escapes them once (Slack shows
    « bonjour <b> & co »), not twice (« &lt;b&gt; »)."""
    assert slash(server, "bonjour &lt;b&gt; &amp; co", responses) == 200
    (answer,) = responses.wait()
    assert "Commande inconnue «\u00a0bonjour &lt;b&gt; &amp; co\u00a0»" in answer["text"]
    assert "&amp;lt;" not in json.dumps(answer)


def test_a_subcommand_is_read_whatever_the_space_and_accents(
    server: str, responses: Responses, factory: sessionmaker[Session]
) -> None:
    """A tab after the subcommand, an accent typed as a letter and a combining mark (as some
    keyboards send « é »): the subcommand is understood."""
    assert slash(server, "absent\tdu 30/11 au 04/12", responses) == 200
    (absence,) = responses.wait(1)
    assert "pas de récapitulatif du 30/11/2026 au 04/12/2026" in absence["text"]
    assert slash(server, "re\u0301cap", responses) == 200
    digest = responses.wait(2)[1]
    assert digest["text"] == "Récapitulatif renvoyé en message privé."


def test_list_shows_my_queue_only(
    server: str, responses: Responses, loaded: M3, fake: FakeSlack
) -> None:
    assert slash(server, "list", responses) == 200
    (answer,) = responses.wait()
    code, everyone = loaded.json("cases", "--date", "2026-11-24", today="2026-11-24")
    assert code == 0
    queued = [case for case in everyone if case["state"] in ("open", "late")]
    mine = {case["client_name"] for case in queued if case["advisor_email"] == JULIE[1]}
    others = {case["client_name"] for case in queued if case["advisor_email"] != JULIE[1]}
    assert mine and others - mine, "the sample has cases for Julie and for her colleagues"
    text = json.dumps(answer, ensure_ascii=False)
    assert all(name in text for name in mine)
    assert not [name for name in others - mine if name in text]
    assert answer["response_type"] == "ephemeral"
    # Julie was matched by her Slack profile's e-mail.
    assert fake.calls_to("users.info")


def test_absence_is_recorded(
    server: str, responses: Responses, factory: sessionmaker[Session]
) -> None:
    assert slash(server, "absent du 30/11 au 04/12", responses) == 200
    (answer,) = responses.wait()
    assert "pas de récapitulatif du 30/11/2026 au 04/12/2026" in answer["text"]
    with factory() as session:
        advisor = session.scalars(select(Advisor).where(Advisor.email == JULIE[1])).one()
        assert [(a.start_on.isoformat(), a.end_on.isoformat()) for a in advisor.absences] == [
            ("2026-11-30", "2026-12-04")
        ]
    assert slash(server, "absent fin", responses) == 200
    responses.wait(2)
    with factory() as session:
        advisor = session.scalars(select(Advisor).where(Advisor.email == JULIE[1])).one()
        assert advisor.absences == []


def test_digest_subcommand_resends_mine_now(
    server: str, responses: Responses, fake: FakeSlack
) -> None:
    assert slash(server, "digest", responses) == 200
    (answer,) = responses.wait()
    assert "Récapitulatif renvoyé" in answer["text"]
    posts = fake.calls_to("chat.postMessage")
    assert [c.params["channel"] for c in posts] == ["D" + JULIE[0]]
    assert "Récapitulatif M+3 du mardi 24 novembre" in posts[0].params["blocks"][0]["text"]["text"]
    # The App Home is refreshed after the change.
    deadline = time.time() + 5
    while not fake.calls_to("views.publish") and time.time() < deadline:
        time.sleep(0.02)
    assert fake.calls_to("views.publish")


def test_bad_absence_dates_get_an_example(server: str, responses: Responses) -> None:
    assert slash(server, "absent demain", responses) == 200
    (answer,) = responses.wait()
    assert "/m3 absent du 24/12 au 02/01" in answer["text"]


def test_bad_signature_or_old_request_is_refused_and_does_nothing(
    server: str, responses: Responses, fake: FakeSlack
) -> None:
    body = urllib.parse.urlencode(
        {"command": "/m3", "text": "list", "user_id": JULIE[0], "response_url": responses.url}
    )
    headers = signed_headers("wrong-secret", body)
    assert post(f"{server}/slack/events", body, headers)[0] == 401
    assert slash(server, "list", responses, timestamp=int(time.time()) - 6 * 60) == 401
    time.sleep(0.3)
    assert responses.bodies == [] and fake.calls == []


def test_prepare_button_opens_the_script_modal(
    server: str, fake: FakeSlack, loaded: M3, settings: Any
) -> None:
    _, mine = loaded.json(
        "cases", "--date", "2026-11-24", "--advisor", JULIE[1], today="2026-11-24"
    )
    case = next(c for c in mine if c["state"] == "open")
    payload = {
        "type": "block_actions",
        "user": {"id": JULIE[0]},
        "team": {"id": "T1"},
        "trigger_id": "1.2.xyz",
        "actions": [{"action_id": "prepare_call", "value": str(case["id"]), "type": "button"}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    assert post(f"{server}/slack/events", body, signed_headers(SECRET, body))[0] == 200
    deadline = time.time() + 10
    while not fake.calls_to("views.update") and time.time() < deadline:
        time.sleep(0.02)
    # The modal opens at once (the trigger expires in 3 s), then the case fills it.
    (opened,) = fake.calls_to("views.open")
    (call,) = fake.calls_to("views.update")
    assert opened.at <= call.at
    assert opened.params["view"]["type"] == "modal"
    assert call.params["view_id"] == opened.response["view"]["id"]
    view = json.dumps(call.params["view"], ensure_ascii=False)
    assert call.params["view"]["type"] == "modal"
    assert "c'est Julie de l'agence" in view
    assert "Est-ce que vous avez quelques minutes" in view
    assert "qui sont vos autres assureurs" in view
    assert "Objectif 1" in view and "Objectif 2" in view


def test_app_home_shows_my_live_queue(server: str, fake: FakeSlack) -> None:
    event = {
        "type": "event_callback",
        "team_id": "T1",
        "event": {"type": "app_home_opened", "user": JULIE[0], "tab": "home"},
        "event_id": "Ev1",
        "event_time": int(time.time()),
    }
    # The listeners' client retries a rate-limited call too.
    fake.fail_next("views.publish", status=429, retry_after=1, times=1)
    body = json.dumps(event)
    headers = signed_headers(SECRET, body) | {"Content-Type": "application/json"}
    assert post(f"{server}/slack/events", body, headers)[0] == 200
    deadline = time.time() + 15
    while not fake.calls_to("views.publish") and time.time() < deadline:
        time.sleep(0.02)
    (call,) = fake.calls_to("views.publish")
    assert [r.method for r in fake.rejected] == ["views.publish"]
    assert call.params["user_id"] == JULIE[0]
    assert "File M+3 de Julie Laurent" in json.dumps(call.params["view"], ensure_ascii=False)


def test_socket_mode_answers_a_slash_command(
    settings: Any, fake: FakeSlack, factory: sessionmaker[Session], responses: Responses
) -> None:
    web = WebClient(token=TOKEN, base_url=fake.url)
    app = create_app(settings, client=web, factory=factory, socket_mode=True)
    handler = SocketModeHandler(app, app_token="xapp-test")
    handler.client = SocketModeClient(app_token="xapp-test", web_client=web)
    handler.client.socket_mode_request_listeners.append(handler.handle)  # type: ignore[arg-type]
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        fake.wait_for_socket_client()
        envelope_id = fake.socket_send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {
                    "command": "/m3",
                    "text": "help",
                    "user_id": JULIE[0],
                    "team_id": "T1",
                    "channel_id": "C1",
                    "response_url": responses.url,
                },
            }
        )
        ack = fake.wait_for_ack(envelope_id)
        assert ack["envelope_id"] == "env-1"
        (answer,) = responses.wait()
        assert "/m3 list" in answer["text"]
        assert fake.calls_to("apps.connections.open")
    finally:
        handler.close()  # type: ignore[no-untyped-call]


def test_m3_run_connects_over_socket_mode_and_answers(
    loaded: M3, fake: FakeSlack, responses: Responses, tmp_path: Path
) -> None:
    """`m3 run`, the README's main command once tokens are set, as a real process."""
    m3 = shutil.which("m3", path=str(Path(sys.executable).parent)) or "m3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M3_", "SLACK_"))}
    env |= {
        "DATABASE_URL": loaded.database_url,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": fake.url,
        "M3_TODAY": "2026-11-24",
        "M3_DIGEST_TIME": "23:59",  # no catch-up run during the test
    }
    process = subprocess.Popen(
        [m3, "run"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        fake.wait_for_socket_client(timeout=30)
        envelope_id = fake.socket_send(
            {
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {
                    "command": "/m3",
                    "text": "list",
                    "user_id": JULIE[0],
                    "team_id": "T1",
                    "channel_id": "C1",
                    "response_url": responses.url,
                },
            }
        )
        fake.wait_for_ack(envelope_id, timeout=15)
        (answer,) = responses.wait(timeout=15)
        assert answer["response_type"] == "ephemeral"
        assert "Votre file M+3* — mardi 24 novembre" in json.dumps(answer, ensure_ascii=False)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()

"""The contact card through Slack, as an advisor uses it: `/m3 carte`, the « Envoyer ma carte »
button of the report's confirmation, the confirmation modal (validated by the fake Slack), the
sends queued once whatever the clicks, and the client's opposition. Signed HTTP to the real app.

"Now" is Tuesday 24/11/2026 at 11:00 in Paris: an SMS may leave at once."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Client, Outbox
from tests.conftest import M3
from tests.fakeslack import FakeSlack
from tests.slackkit import JULIE, Responses, interact, slash, wait_for
from tests.test_done import (
    date,
    julies_open_case,
    last_view,
    open_report,
    outcome_values,
    submit,
    view_payload,
)
from tests.test_done import fake as fake
from tests.test_done import settings as settings


def open_card(server: str, fake: FakeSlack, responses: Responses, client_number: str) -> Any:
    before = len(fake.calls_to("views.update"))
    assert slash(server, f"carte {client_number}", responses) == 200
    wait_for(fake, "views.update", before + 1)
    return last_view(fake)


def send(server: str, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    payload = {
        "type": "view_submission",
        "user": {"id": JULIE[0]},
        "team": {"id": "T1"},
        "view": view_payload(view, values),
    }
    status, body = interact(server, payload)
    assert status == 200
    return json.loads(body) if body else {}


def click_card_button(server: str, value: str) -> int:
    """Julie clicks « Envoyer ma carte », a button carrying `value`: the HTTP status."""
    payload = {
        "type": "block_actions",
        "user": {"id": JULIE[0]},
        "team": {"id": "T1"},
        "trigger_id": "1.2.card",
        "actions": [{"action_id": "card_open", "value": value, "type": "button"}],
    }
    return interact(server, payload)[0]


def both_channels() -> dict[str, Any]:
    return {
        "channels": {
            "channels_select": {
                "type": "checkboxes",
                "selected_options": [{"value": "sms"}, {"value": "email"}],
            }
        },
        "email": {"email_input": {"type": "plain_text_input", "value": "client@exemple.fr"}},
    }


def outbox(factory: sessionmaker[Session], case_id: int) -> list[Outbox]:
    with factory() as session:
        return list(session.scalars(select(Outbox).where(Outbox.case_id == case_id)))


def test_the_card_modal_shows_the_texts_and_queues_each_send_once(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    case = julies_open_case(loaded)
    view = open_card(server, fake, responses, case["client_number"])
    assert view["callback_id"] == "card_view"
    text = json.dumps(view, ensure_ascii=False)
    assert "Julie Laurent" in text  # the SMS and the e-mail name the advisor
    # The SMS's length, segment count and encoding are shown.
    assert "caractères · 1 SMS · GSM-7" in text or "caractères · 2 SMS · GSM-7" in text
    channels = next(b for b in view["blocks"] if b.get("block_id") == "channels")
    assert [o["value"] for o in channels["element"]["options"]] == ["sms", "email"]
    answer = send(server, view, both_channels())
    assert answer.get("response_action") == "update"
    queued = outbox(factory, case["id"])
    assert sorted(row.channel for row in queued) == ["email", "sms"]
    # A double click, Slack's retry, a second tab: still one send per channel.
    send(server, view, both_channels())
    again = open_card(server, fake, responses, case["client_number"])
    send(server, again, both_channels())
    assert sorted(row.channel for row in outbox(factory, case["id"])) == ["email", "sms"]


def test_the_reports_confirmation_offers_the_card(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    assert submit(server, view, outcome_values("messagerie", next_try=date("2026-11-25"))) == (
        200,
        {},
    )
    wait_for(fake, "views.publish")
    (dm,) = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"].startswith("D")]
    buttons = [
        element
        for block in dm.params["blocks"]
        for element in [*block.get("elements", []), block.get("accessory") or {}]
        if element.get("type") == "button"
    ]
    (card_button,) = [b for b in buttons if b["action_id"] == "card_open"]
    assert card_button["value"] == str(case["id"])
    before = len(fake.calls_to("views.update"))
    assert click_card_button(server, str(case["id"])) == 200
    wait_for(fake, "views.update", before + 1)
    assert last_view(fake)["callback_id"] == "card_view"


def test_a_client_who_objected_gets_nothing(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    case = julies_open_case(loaded)
    before = len(responses.bodies)
    assert slash(server, f"opposition {case['client_number']}", responses) == 200
    answer = responses.wait(before + 1)[-1]
    assert answer["response_type"] == "ephemeral"
    with factory() as session:
        client = session.scalars(select(Client).where(Client.number == case["client_number"])).one()
        assert client.objected_on is not None
    view = open_card(server, fake, responses, case["client_number"])
    assert "submit" not in view  # only the reason, nothing to send
    assert "opposé" in json.dumps(view, ensure_ascii=False)
    # A submission forged from an older view is refused too.
    send(server, {**view, "callback_id": "card_view"}, both_channels())
    assert outbox(factory, case["id"]) == []


def test_a_button_or_view_naming_no_case_says_so_and_sends_nothing(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    """A card button or modal whose case is not an id (never one of ours: an old client, a
    forged payload) gets the « n'existe plus » notice, as `/m3 done` does, never another case's
    card nor an error."""
    case = julies_open_case(loaded)
    gone = "Ce dossier n'existe plus"
    for value in ["abc", "0", "-3", "1e3", "9" * 25, " "]:
        before = len(fake.calls_to("views.open"))
        assert click_card_button(server, value) == 200
        wait_for(fake, "views.open", before + 1)
        opened = fake.calls_to("views.open")[-1].params["view"]
        assert gone in json.dumps(opened, ensure_ascii=False), value
    view = open_card(server, fake, responses, case["client_number"])
    for forged in [True, str(case["id"]) + "x", None]:
        metadata = json.dumps({"case": forged})
        answer = send(server, {**view, "private_metadata": metadata}, both_channels())
        assert answer.get("response_action") == "update"
        assert gone in json.dumps(answer["view"], ensure_ascii=False), forged
    assert outbox(factory, case["id"]) == []

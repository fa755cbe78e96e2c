"""The contact card's preview follows what the advisor types: Enter pressed in the number or
address field rebuilds the modal at once (the SMS offered or not, the reason, the recipients,
an invalid value's hint), keeps every other choice, and records or sends nothing. Signed HTTP to
the real app, the views going to the fake Slack (which checks them against Block Kit).

"Now" is Tuesday 24/11/2026 at 11:00 in Paris: an SMS may leave at once."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import AuditEntry, Client, Correction, Outbox
from bot.sms import mask_email, mask_phone
from tests.blocktext import as_text, view_text
from tests.conftest import M3
from tests.fakeslack import FakeSlack
from tests.slackkit import JULIE, Responses, interact, slash, wait_for
from tests.test_done import COLLEAGUE, MANAGER, julies_open_case
from tests.test_done import fake as fake
from tests.test_done import settings as settings
from tests.test_typography import typography_problems

LANDLINE = "04 91 00 00 00"
MOBILE = "06 12 34 56 78"


def plain(text: str) -> str:
    """French typography's no-break spaces (« : », « … ») as plain spaces."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


class Shown:
    """The modal as the advisor sees it now: the last view the app sent, with the id and the
    hash the fake Slack gave it."""

    def __init__(self, fake: FakeSlack) -> None:
        call = fake.calls_to("views.update")[-1]
        self.view: dict[str, Any] = call.params["view"]
        self.id: str = call.response["view"]["id"]
        self.hash: str = call.response["view"]["hash"]

    def block(self, prefix: str) -> dict[str, Any]:
        (found,) = [b for b in self.view["blocks"] if b.get("block_id", "").startswith(prefix)]
        return found

    def ticked(self) -> list[str]:
        return [o["value"] for o in self.block("channels")["element"].get("initial_options", [])]

    def note(self, channel: str) -> str:
        (option,) = [o for o in self.options() if o["value"] == channel]
        return plain(option.get("description", {}).get("text", ""))

    def typed(self, block: str) -> str:
        return str(self.block(block)["element"].get("initial_value", ""))

    def text(self) -> str:
        return plain(view_text(self.view))

    def remarks(self) -> str:
        """What the modal says about the texts, as sent: its context lines, the channels'
        descriptions, the fields' hints (not the SMS, which keeps plain spaces: GSM-7)."""
        lines = [as_text([b]) for b in self.view["blocks"] if b["type"] == "context"]
        lines += [o.get("description", {}).get("text", "") for o in self.options()]
        lines += [b["hint"]["text"] for b in self.view["blocks"] if "hint" in b]
        return "\n".join(lines)

    def options(self) -> list[dict[str, Any]]:
        return list(self.block("channels")["element"]["options"])


def set_contact(
    factory: sessionmaker[Session], number: str, *, phone: str | None, email: str | None
) -> None:
    with factory.begin() as session:
        client = session.scalars(select(Client).where(Client.number == number)).one()
        client.phone, client.phone_invalid = phone, False
        client.email, client.email_invalid = email, False


def open_card(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
    *,
    phone: str | None = MOBILE,
    email: str | None = "client@exemple.fr",
) -> tuple[dict[str, Any], Shown]:
    case = julies_open_case(loaded)
    set_contact(factory, case["client_number"], phone=phone, email=email)
    before = len(fake.calls_to("views.update"))
    assert slash(server, f"carte {case['client_number']}", responses) == 200
    wait_for(fake, "views.update", before + 1)
    shown = Shown(fake)
    assert shown.view["callback_id"] == "card_view"
    return case, shown


def state(
    shown: Shown,
    *,
    phone: str | None = None,
    email: str | None = None,
    ticked: list[str] | None = None,
    objection: bool = False,
) -> dict[str, Any]:
    """The view's state as Slack sends it: every input's current value (what the view shows,
    unless the test types or ticks something else)."""
    chosen = shown.ticked() if ticked is None else ticked
    values: dict[str, Any] = {
        shown.block("channels")["block_id"]: {
            "channels_select": {
                "type": "checkboxes",
                "selected_options": [{"value": v} for v in chosen],
            }
        },
        "phone": {
            "phone_input": {
                "type": "plain_text_input",
                "value": shown.typed("phone") if phone is None else phone,
            }
        },
        "email": {
            "email_input": {
                "type": "plain_text_input",
                "value": shown.typed("email") if email is None else email,
            }
        },
        "objection": {
            "objection_check": {
                "type": "checkboxes",
                "selected_options": [{"value": "objected"}] if objection else [],
            }
        },
    }
    return values


def press_enter(
    server: str,
    shown: Shown,
    field: str,
    values: dict[str, Any],
    user: str = JULIE[0],
) -> str:
    """Enter pressed in `field` (« phone » or « email »): the block action Slack sends. Returns
    the body of the app's answer."""
    action = f"{field}_input"
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T1"},
        "trigger_id": "1.2.enter",
        "container": {"type": "view", "view_id": shown.id},
        "view": as_sent(shown, values),
        "actions": [
            {
                "type": "plain_text_input",
                "block_id": field,
                "action_id": action,
                "value": values[field][action]["value"],
                "action_ts": "1795000000.000100",
            }
        ],
    }
    status, body = interact(server, payload)
    assert status == 200
    return body


def refreshed(
    server: str,
    fake: FakeSlack,
    shown: Shown,
    field: str,
    values: dict[str, Any],
    user: str = JULIE[0],
) -> Shown:
    before = len(fake.calls_to("views.update"))
    answer = press_enter(server, shown, field, values, user=user)
    assert answer == ""  # a plain ack: no submission error, no view replaced by the answer
    wait_for(fake, "views.update", before + 1)
    call = fake.calls_to("views.update")[-1]
    # The modal being looked at, guarded by its hash: a stale refresh cannot overwrite it.
    assert call.params["view_id"] == shown.id
    assert call.params["hash"] == shown.hash
    return Shown(fake)


def as_sent(shown: Shown, values: dict[str, Any]) -> dict[str, Any]:
    """The modal as Slack sends it back with an action or a submission: `values` typed in."""
    return {
        "id": shown.id,
        "hash": shown.hash,
        "type": "modal",
        "callback_id": shown.view["callback_id"],
        "private_metadata": shown.view.get("private_metadata", ""),
        "blocks": shown.view["blocks"],
        "state": {"values": values},
    }


def submit(server: str, shown: Shown, values: dict[str, Any]) -> dict[str, Any]:
    payload = {
        "type": "view_submission",
        "user": {"id": JULIE[0]},
        "team": {"id": "T1"},
        "view": as_sent(shown, values),
    }
    status, body = interact(server, payload)
    assert status == 200
    return json.loads(body) if body else {}


def count(factory: sessionmaker[Session], model: Any) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


# --- The fields ------------------------------------------------------------------------------


def test_the_number_and_address_fields_refresh_on_enter(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    _, shown = open_card(server, fake, responses, loaded, factory)
    for field in ("phone", "email"):
        block = shown.block(field)
        assert block["dispatch_action"] is True
        trigger = block["element"]["dispatch_action_config"]["trigger_actions_on"]
        assert trigger == ["on_enter_pressed"]
    # The hint says that Enter only refreshes the preview.
    assert "sans rien envoyer" in shown.block("phone")["hint"]["text"]


# --- The number --------------------------------------------------------------------------------


def test_a_mobile_typed_over_a_landline_offers_the_sms_at_once(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    _, shown = open_card(server, fake, responses, loaded, factory, phone=LANDLINE)
    assert shown.ticked() == ["email"]
    assert shown.note("sms") == "Impossible : pas un mobile (+334••••••00)"
    assert "04 91 00 00 00 n'est pas un mobile" in shown.text()
    after = refreshed(server, fake, shown, "phone", state(shown, phone="0698765432"))
    # The SMS can go to the new number: offered, ticked, its recipient shown (masked E.164).
    assert after.ticked() == ["sms", "email"]
    assert after.note("sms") == mask_phone("+33698765432") == "+336••••••32"
    assert "n'est pas un mobile" not in after.text()
    # The number as the modal shows the CRM's: the French format.
    assert after.typed("phone") == "06 98 76 54 32"
    # The channels block has a new id, or Slack would keep the old ticks over the new ones.
    assert after.block("channels")["block_id"] != shown.block("channels")["block_id"]
    # The modal is still the card, ready to be sent.
    assert after.view["callback_id"] == "card_view" and "submit" in after.view


def test_a_landline_typed_is_not_texted_and_says_why(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    _, shown = open_card(server, fake, responses, loaded, factory, phone=MOBILE)
    assert shown.ticked() == ["sms", "email"]
    assert shown.note("sms") == mask_phone("+33612345678")
    after = refreshed(server, fake, shown, "phone", state(shown, phone="0491000000"))
    # As when the modal opens on a landline: SMS unticked, the reason on the option and below
    # the SMS, the e-mail still going.
    assert after.ticked() == ["email"]
    assert after.note("sms") == "Impossible : pas un mobile (+334••••••00)"
    assert "Le numéro 04 91 00 00 00 n'est pas un mobile : pas de SMS, e-mail seulement." in (
        after.text()
    )
    assert after.block("channels")["block_id"] != shown.block("channels")["block_id"]
    assert typography_problems(after.remarks()) == []


def test_garbage_gets_an_inline_hint_and_the_submission_still_checks(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    _, shown = open_card(server, fake, responses, loaded, factory, phone=MOBILE)
    after = refreshed(server, fake, shown, "phone", state(shown, phone="06 12 ab"))
    assert "Le numéro « 06 12 ab » n'est pas valide" in after.text()
    assert after.ticked() == ["email"]
    assert after.note("sms") == "Impossible : numéro non valide"
    assert after.typed("phone") == "06 12 ab"  # what was typed, not the CRM's number
    # Submitted anyway with the SMS ticked: the inline error, on the field, as before.
    answer = submit(server, after, state(after, ticked=["sms"]))
    assert answer == {
        "response_action": "errors",
        "errors": {"phone": "Ce numéro n'est pas valide."},
    }
    # Nothing ticked: the error goes to the channels block under its current id.
    channels_id = after.block("channels")["block_id"]
    answer = submit(server, after, state(after, phone=MOBILE, ticked=[]))
    assert answer == {
        "response_action": "errors",
        "errors": {channels_id: "Choisissez au moins un moyen d'envoi possible."},
    }


def test_an_address_typed_refreshes_the_email_channel(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    _, shown = open_card(server, fake, responses, loaded, factory, phone=LANDLINE, email=None)
    assert shown.ticked() == []
    assert shown.note("email") == "Impossible : pas d'adresse"
    bad = refreshed(server, fake, shown, "email", state(shown, email="marie@"))
    assert "L'adresse « marie@ » n'est pas valide" in bad.text()
    assert bad.ticked() == [] and bad.note("email") == "Impossible : adresse non valide"
    good = refreshed(server, fake, bad, "email", state(bad, email=" Marie.Dupont@Exemple.fr "))
    assert good.ticked() == ["email"]
    assert good.note("email") == mask_email("Marie.Dupont@exemple.fr")
    assert "n'est pas valide" not in good.text()


# --- What the advisor set elsewhere ----------------------------------------------------------


def test_a_refresh_keeps_what_was_typed_and_ticked_elsewhere(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    _, shown = open_card(server, fake, responses, loaded, factory, phone=MOBILE)
    # The e-mail unticked, a new address typed (Enter not pressed there), the opposition
    # ticked; then Enter in the number field.
    values = state(
        shown,
        phone="07 98 76 54 32",
        email="nouvelle@exemple.fr",
        ticked=["sms"],
        objection=True,
    )
    after = refreshed(server, fake, shown, "phone", values)
    assert after.typed("email") == "nouvelle@exemple.fr"
    assert after.note("email") == mask_email("nouvelle@exemple.fr")
    assert after.note("sms") == mask_phone("+33798765432")
    assert after.ticked() == ["sms"]  # the e-mail stays unticked
    objection = after.block("objection")["element"]
    assert [o["value"] for o in objection.get("initial_options", [])] == ["objected"]
    # The channels possible did not change: same block, so Slack keeps the advisor's ticks.
    assert after.block("channels")["block_id"] == shown.block("channels")["block_id"]


def test_a_refresh_records_and_sends_nothing(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    case, shown = open_card(server, fake, responses, loaded, factory, phone=LANDLINE)
    audits = count(factory, AuditEntry)
    values = state(shown, phone="06 98 76 54 32", email="autre@exemple.fr")
    after = refreshed(server, fake, shown, "phone", values)
    after = refreshed(server, fake, after, "email", state(after, email="autre@exemple.fr"))
    assert count(factory, Outbox) == 0
    assert count(factory, Correction) == 0
    assert count(factory, AuditEntry) == audits
    with factory() as session:
        client = session.scalars(select(Client).where(Client.number == case["client_number"]))
        assert client.one().phone == LANDLINE
    # Only the submission keeps the corrections and queues the sends.
    answer = submit(server, after, state(after))
    assert answer.get("response_action") == "update"
    with factory() as session:
        corrections = {c.field: c.new_value for c in session.scalars(select(Correction))}
    assert corrections == {"phone": "+33698765432", "email": "autre@exemple.fr"}
    assert count(factory, Outbox) == 2


# --- Who may refresh ---------------------------------------------------------------------------


def test_only_the_advisor_or_a_manager_refreshes_the_card(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    _, shown = open_card(server, fake, responses, loaded, factory, phone=LANDLINE)
    before = len(fake.calls_to("views.update"))
    # Manon, a colleague, sends Julie's view with a number typed: nothing changes.
    press_enter(server, shown, "phone", state(shown, phone="06 11 11 11 11"), user=COLLEAGUE[0])
    # Catherine, a manager, may: her refresh is the only update.
    after = refreshed(
        server, fake, shown, "phone", state(shown, phone="06 22 22 22 22"), user=MANAGER[0]
    )
    time.sleep(0.5)  # time enough for a refresh of Manon's to arrive, were it made
    assert len(fake.calls_to("views.update")) == before + 1
    assert after.note("sms") == mask_phone("+33622222222")
    numbers = [json.dumps(c.params, ensure_ascii=False) for c in fake.calls_to("views.update")]
    assert not any("06 11 11 11 11" in n or "+336••••••11" in n for n in numbers)
    assert count(factory, Correction) == 0 and count(factory, Outbox) == 0


def test_a_refresh_overtaken_by_a_newer_view_is_dropped_quietly(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, shown = open_card(server, fake, responses, loaded, factory, phone=LANDLINE)
    fake.fail_next("views.update", status=200, error="hash_conflict")
    with caplog.at_level(logging.INFO, logger="commands.card"):
        press_enter(server, shown, "phone", state(shown, phone="06 98 76 54 32"))
        deadline = time.time() + 10
        while not any("déjà remplacé" in r.getMessage() for r in caplog.records):
            assert time.time() < deadline, "the hash conflict was not handled"
            time.sleep(0.02)
    (rejected,) = fake.rejected
    assert rejected.method == "views.update" and rejected.params["hash"] == shown.hash
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

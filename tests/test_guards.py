"""Who may see a case, and what a payload that names no case gets: the « Préparer l'appel » and
« Compte rendu » buttons, the report and the picker submitted with values no view of ours sends.
Signed HTTP requests to the real app, the modals going to the fake Slack.

The rule is the one of the compte rendu: the case's advisor, or a manager. A stale button (in an
old digest, on a case a colleague has taken since) or a forged value is answered in French: the
modal never stays on « Chargement… » and no request fails."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import M3
from tests.fakeslack import FakeSlack
from tests.slackkit import JULIE, TOKEN, Responses, interact
from tests.test_done import (
    COLLEAGUE,
    MANAGER,
    attempts,
    cases_of,
    date,
    julies_open_case,
    open_report,
    outcome_values,
    submit,
)
from tests.test_done import settings as settings

# Known to Slack, not to the staff file.
STRANGER = ("U0NOPE", "random.person@example.com")
# Not known to Slack at all (users.info answers user_not_found).
GHOST = "U0GHOST"

LOADING = "Chargement…"
CASE_GONE = "Ce dossier n'est plus dans la file M+3."
NOT_AN_ADVISOR = "Je ne vous trouve pas dans la liste des conseillers M+3"
NOT_YOURS_PREPARE = (
    "Ce dossier est suivi par un·e autre conseiller·ère\u00a0: seul·e son conseiller·ère ou un "
    "manager peut préparer l'appel."
)
NOT_YOURS_REPORT = "seul·e son conseiller·ère ou un manager peut en faire le compte rendu"
TAMPERED = "Ce formulaire n'a pas pu être enregistré\u00a0: il ne correspond plus au dossier."
REQUIRED = "Ce champ est obligatoire."
# Beyond what a database id can be (64-bit integers).
HUGE = [str(10**20), "9" * 40]


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    users = [{"id": uid, "email": email} for uid, email in (JULIE, MANAGER, COLLEAGUE, STRANGER)]
    with FakeSlack(token=TOKEN, users=users, app_token="xapp-test") as fake:
        yield fake
        fake.assert_valid()


def views_shown(fake: FakeSlack) -> list[dict[str, Any]]:
    return [c.params["view"] for c in fake.calls if c.method in ("views.open", "views.update")]


def click(server: str, fake: FakeSlack, action_id: str, value: object, user: str) -> str:
    """Click a button: the text of the modal once it no longer says « Chargement… »."""
    before = len(views_shown(fake))
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T1"},
        "trigger_id": f"1.2.{time.monotonic_ns()}",
        "container": {"type": "message", "channel_id": "D1"},
        "actions": [{"action_id": action_id, "value": value, "type": "button", "block_id": "b"}],
    }
    assert interact(server, payload)[0] == 200
    deadline = time.time() + 10
    while time.time() < deadline:
        shown = views_shown(fake)[before:]
        if shown and LOADING not in json.dumps(shown[-1], ensure_ascii=False):
            return json.dumps(shown[-1], ensure_ascii=False)
        time.sleep(0.02)
    raise AssertionError(f"the modal still says « {LOADING} »: {views_shown(fake)[before:]}")


def manons_case(m3: M3) -> dict[str, Any]:
    case = next(c for c in cases_of(m3, COLLEAGUE[1]) if c["state"] == "open")
    assert case["advisor_email"] == COLLEAGUE[1]
    return case


# --- « Préparer l'appel »: the case's advisor or a manager ---------------------------------


def test_prepare_shows_the_script_to_the_cases_advisor_and_a_manager(
    server: str, fake: FakeSlack, loaded: M3
) -> None:
    case = manons_case(loaded)
    for user in (COLLEAGUE[0], MANAGER[0]):
        shown = click(server, fake, "prepare_call", str(case["id"]), user)
        assert '"callback_id": "prepare_call_view"' in shown
        assert case["client_number"] in shown


@pytest.mark.parametrize(
    ("user", "answer"),
    [(JULIE[0], NOT_YOURS_PREPARE), (STRANGER[0], NOT_AN_ADVISOR), (GHOST, NOT_AN_ADVISOR)],
    ids=["colleague", "not-in-the-staff-file", "unknown-to-slack"],
)
def test_prepare_on_someone_elses_case_says_why_and_shows_nothing_of_the_client(
    server: str, fake: FakeSlack, loaded: M3, user: str, answer: str
) -> None:
    case = manons_case(loaded)
    shown = click(server, fake, "prepare_call", str(case["id"]), user)
    assert answer in shown
    assert "prepare_call_view" not in shown
    assert case["client_number"] not in shown
    assert case["client_name"] not in shown


def test_the_report_on_the_same_case_is_refused_to_the_same_colleague(
    server: str, fake: FakeSlack, loaded: M3
) -> None:
    case = manons_case(loaded)
    assert NOT_YOURS_REPORT in click(server, fake, "capture_open", str(case["id"]), JULIE[0])


# --- Buttons whose value names no case -------------------------------------------------------


@pytest.mark.parametrize("action_id", ["prepare_call", "capture_open"])
@pytest.mark.parametrize("value", ["abc", "", "-5", "0", "99999999", *HUGE, None, 12.5])
def test_a_button_naming_no_case_says_so(
    server: str, fake: FakeSlack, loaded: M3, action_id: str, value: object
) -> None:
    shown = click(server, fake, action_id, value, JULIE[0])
    assert CASE_GONE in shown


# --- Submissions with values no view of ours sends ---------------------------------------------


@pytest.mark.parametrize(
    "case_value",
    [10**30, 2**63, -1, "abc", None, [1, 2]],
    ids=["huge", "just-beyond-64-bits", "negative", "text", "null", "list"],
)
def test_a_report_whose_metadata_names_no_case_is_refused_in_french(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
    case_value: object,
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    metadata = {**json.loads(view["private_metadata"]), "case": case_value}
    status, answer = submit(
        server,
        {**view, "private_metadata": json.dumps(metadata)},
        outcome_values("messagerie", next_try=date("2026-11-25")),
    )
    assert status == 200 and answer["response_action"] == "update"
    assert TAMPERED in json.dumps(answer, ensure_ascii=False)
    assert attempts(factory, case["id"]) == []


@pytest.mark.parametrize("state", ["garbage", None, 7, {"values": "garbage"}, {"values": None}])
def test_a_report_whose_state_is_not_an_object_asks_for_the_outcome(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
    state: object,
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    payload = {
        "type": "view_submission",
        "user": {"id": JULIE[0]},
        "team": {"id": "T1"},
        "view": {
            "id": view["id"],
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "blocks": view["blocks"],
            "state": state,
        },
    }
    status, body = interact(server, payload)
    assert status == 200
    assert json.loads(body) == {"response_action": "errors", "errors": {"outcome": REQUIRED}}
    assert attempts(factory, case["id"]) == []


def pick(server: str, user: str, values: object) -> tuple[int, dict[str, Any]]:
    """Submit the report's client picker with `values` as its state."""
    payload = {
        "type": "view_submission",
        "user": {"id": user},
        "team": {"id": "T1"},
        "view": {
            "id": "V9",
            "type": "modal",
            "callback_id": "capture_picker",
            "private_metadata": "{}",
            "blocks": [],
            "state": {"values": values},
        },
    }
    status, body = interact(server, payload)
    return status, (json.loads(body) if body else {})


def chosen(value: object) -> dict[str, Any]:
    return {"case": {"value": {"type": "external_select", "selected_option": {"value": value}}}}


@pytest.mark.parametrize("value", [*HUGE, "abc", "-1", str(2**63)])
def test_a_picked_value_naming_no_case_says_so(server: str, loaded: M3, value: str) -> None:
    status, answer = pick(server, JULIE[0], chosen(value))
    assert status == 200 and answer["response_action"] == "update"
    assert CASE_GONE in json.dumps(answer, ensure_ascii=False)


@pytest.mark.parametrize(
    "values",
    [{"case": None}, {"case": "garbage"}, {"case": {"value": None}}, chosen(None), {}],
    ids=["null-block", "text-block", "null-element", "null-value", "empty"],
)
def test_a_picker_without_a_choice_asks_for_one(server: str, loaded: M3, values: object) -> None:
    assert pick(server, JULIE[0], values) == (
        200,
        {"response_action": "errors", "errors": {"case": REQUIRED}},
    )


def test_a_picked_case_of_a_colleague_is_refused(server: str, loaded: M3) -> None:
    status, answer = pick(server, JULIE[0], chosen(str(manons_case(loaded)["id"])))
    assert status == 200 and answer["response_action"] == "update"
    assert NOT_YOURS_REPORT in json.dumps(answer, ensure_ascii=False)

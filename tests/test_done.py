"""`/m3 done`, as an advisor uses it after a call: signed HTTP requests to the real app, the
modal's views going to the fake Slack, the report read back from the database (and the CLI).

The sample agency is imported on 23/11/2026; "now" is Tuesday 24/11/2026 at 11:00 in Paris, a
time calls are allowed (art. D223-9: Monday–Friday, 10–13 h and 14–20 h)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Advisor, Attempt, AuditEntry, Case, CaseReview, Correction, NextAction
from bot.settings import load_settings
from tests.conftest import M3
from tests.fakeslack import FakeSlack
from tests.slackkit import (
    JULIE,
    SECRET,
    TOKEN,
    Responses,
    interact,
    slash,
    wait_for,
)

NOW = "2026-11-24T11:00:00"
MANAGER = ("U09CAT", "catherine.moulin@agence-corniche.example.fr")
COLLEAGUE = ("U03MAN", "manon.langlois@agence-corniche.example.fr")


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    users = [{"id": uid, "email": email} for uid, email in (JULIE, MANAGER, COLLEAGUE)]
    with FakeSlack(token=TOKEN, users=users, app_token="xapp-test") as fake:
        yield fake
        fake.assert_valid()


@pytest.fixture
def settings(loaded: M3) -> Any:
    return load_settings(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        DATABASE_URL=loaded.database_url,
        M3_NOW=NOW,
    )


def cases_of(m3: M3, email: str | None = None) -> list[dict[str, Any]]:
    args = ["cases", "--date", "2026-11-24"] + (["--advisor", email] if email else [])
    code, listed = m3.json(*args, today="2026-11-24")
    assert code == 0
    return [c for c in listed if c["state"] in ("open", "late")]


def julies_open_case(m3: M3) -> dict[str, Any]:
    """Julie's first Particulier case still in its window (the late ones come first)."""
    return next(
        c
        for c in cases_of(m3, JULIE[1])
        if c["state"] == "open" and c["client_type"] == "Particulier"
    )


def last_view(fake: FakeSlack) -> dict[str, Any]:
    """The view the user sees now: the last `views.update` (or `views.open`)."""
    calls = fake.calls_to("views.update") or fake.calls_to("views.open")
    return {**calls[-1].params["view"], "id": calls[-1].response["view"]["id"]}


def open_report(server: str, fake: FakeSlack, responses: Responses, text: str) -> dict[str, Any]:
    before = len(fake.calls_to("views.update"))
    assert slash(server, f"done {text}", responses) == 200
    wait_for(fake, "views.update", before + 1)
    return last_view(fake)


def block_ids(view: dict[str, Any]) -> list[str]:
    return [b.get("block_id", "") for b in view["blocks"]]


def view_payload(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": view.get("id", "V1"),
        "hash": "h1",
        "type": "modal",
        "callback_id": view["callback_id"],
        "private_metadata": view.get("private_metadata", ""),
        "blocks": view["blocks"],
        "state": {"values": values},
    }


def case_options(server: str, user: str, view: dict[str, Any]) -> list[dict[str, Any]]:
    """What the report's client picker offers `user` before anything is typed (Slack's
    `block_suggestion`, signed)."""
    status, body = interact(
        server,
        {
            "type": "block_suggestion",
            "user": {"id": user},
            "team": {"id": "T1"},
            "action_id": "value",
            "block_id": "case",
            "value": "",
            "view": view_payload(view, {}),
        },
    )
    assert status == 200
    options: list[dict[str, Any]] = json.loads(body)["options"]
    return options


def choose(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value}}


def checks(*values: str) -> dict[str, Any]:
    return {"type": "checkboxes", "selected_options": [{"value": v} for v in values]}


def text(value: str) -> dict[str, Any]:
    return {"type": "plain_text_input", "value": value}


def date(value: str | None) -> dict[str, Any]:
    return {"type": "datepicker", "selected_date": value}


def radio(value: str) -> dict[str, Any]:
    return {"type": "radio_buttons", "selected_option": {"value": value}}


def submit(
    server: str, view: dict[str, Any], values: dict[str, Any], user: str = JULIE[0]
) -> tuple[int, dict[str, Any]]:
    payload = {
        "type": "view_submission",
        "user": {"id": user},
        "team": {"id": "T1"},
        "view": view_payload(view, values),
    }
    status, body = interact(server, payload)
    return status, (json.loads(body) if body else {})


def pick_outcome(
    server: str,
    fake: FakeSlack,
    view: dict[str, Any],
    outcome: str,
    extra: dict[str, Any],
    user: str = JULIE[0],
) -> dict[str, Any]:
    """Choose the outcome (a `dispatch_action` select): the app rebuilds the view for it."""
    before = len(fake.calls_to("views.update"))
    values = {"outcome": {"outcome_select": choose(outcome)}, **extra}
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T1"},
        "trigger_id": "1.2.pick",
        "container": {"type": "view", "view_id": "V1"},
        "view": view_payload(view, values),
        "actions": [
            {
                "action_id": "outcome_select",
                "block_id": "outcome",
                "type": "static_select",
                "selected_option": {"value": outcome},
            }
        ],
    }
    assert interact(server, payload)[0] == 200
    wait_for(fake, "views.update", before + 1)
    return last_view(fake)


def outcome_values(outcome: str, **blocks: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {"outcome": {"outcome_select": choose(outcome)}}
    values.update({block: {"value": element} for block, element in blocks.items()})
    return values


def case_row(factory: sessionmaker[Session], case_id: int) -> Case:
    with factory() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def attempts(factory: sessionmaker[Session], case_id: int) -> list[Attempt]:
    with factory() as session:
        return list(session.scalars(select(Attempt).where(Attempt.case_id == case_id)))


# --- Opening -----------------------------------------------------------------------------------


def test_done_with_a_client_number_opens_the_report_on_that_case(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    # The modal opened at once (a loading view), then the report filled it.
    (opened,) = fake.calls_to("views.open")
    assert opened.params["trigger_id"] == "1.2.abc"
    assert fake.calls_to("views.update")[-1].params["view_id"] == opened.response["view"]["id"]
    assert view["callback_id"] == "capture_view"
    assert json.loads(view["private_metadata"])["case"] == case["id"]
    assert case["client_name"] in json.dumps(view, ensure_ascii=False)
    (outcome,) = [b for b in view["blocks"] if b.get("block_id") == "outcome"]
    assert outcome["dispatch_action"] is True
    labels = [o["text"]["text"] for o in outcome["element"]["options"]]
    assert len(labels) == 6 and labels[1] == "Messagerie"
    assert "0/4 tentatives sur 30 jours" in json.dumps(view, ensure_ascii=False)


def test_done_with_a_name_matching_several_cases_opens_the_picker(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3
) -> None:
    mine = cases_of(loaded, JULIE[1])
    assert len(mine) >= 2
    view = open_report(server, fake, responses, "")
    assert view["callback_id"] == "capture_picker"
    # The type-ahead offers my open and late cases only, the most urgent first.
    offered = [int(o["value"]) for o in case_options(server, JULIE[0], view)]
    assert sorted(offered) == sorted(c["id"] for c in mine)
    late_first = [c["id"] for c in mine if c["state"] == "late"]
    assert set(offered[: len(late_first)]) == set(late_first)
    # Picking one replaces the picker with the report.
    status, answer = submit(server, view, {"case": {"value": choose(str(offered[0]))}})
    assert status == 200 and answer["response_action"] == "update"
    assert answer["view"]["callback_id"] == "capture_view"
    assert json.loads(answer["view"]["private_metadata"])["case"] == offered[0]


def test_a_colleague_cannot_open_or_submit_my_report(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    case = julies_open_case(loaded)
    # Manon asks for Julie's client: her own cases do not match, the picker says so.
    assert slash(server, f"done {case['client_number']}", responses, user=COLLEAGUE[0]) == 200
    wait_for(fake, "views.update")
    assert last_view(fake)["callback_id"] == "capture_picker"
    assert "Aucun dossier ne correspond" in json.dumps(last_view(fake), ensure_ascii=False)
    # The button on Julie's digest, clicked by Manon: a polite refusal.
    payload = {
        "type": "block_actions",
        "user": {"id": COLLEAGUE[0]},
        "team": {"id": "T1"},
        "trigger_id": "1.2.btn",
        "actions": [{"action_id": "capture_open", "value": str(case["id"]), "type": "button"}],
    }
    assert interact(server, payload)[0] == 200
    wait_for(fake, "views.update", 2)
    assert "seul·e son conseiller·ère ou un manager" in json.dumps(
        last_view(fake), ensure_ascii=False
    )
    # A forged submission for Julie's case, sent as Manon: refused, nothing recorded.
    julie_view = open_report(server, fake, responses, case["client_number"])
    status, answer = submit(
        server,
        julie_view,
        outcome_values("messagerie", next_try=date("2026-11-25")),
        user=COLLEAGUE[0],
    )
    assert status == 200 and answer["response_action"] == "update"
    assert "seul·e son conseiller·ère" in json.dumps(answer, ensure_ascii=False)
    assert attempts(factory, case["id"]) == []
    assert case_row(factory, case["id"]).tag_call is None


def test_a_manager_may_report_on_any_case(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3, factory: sessionmaker[Session]
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    status, answer = submit(
        server,
        view,
        outcome_values("pas_de_reponse", next_try=date("2026-11-26")),
        user=MANAGER[0],
    )
    assert status == 200 and answer == {}
    (attempt,) = attempts(factory, case["id"])
    with factory() as session:
        catherine = session.scalars(select(Advisor).where(Advisor.email == MANAGER[1])).one()
    assert attempt.advisor_id == catherine.id and attempt.outcome == "pas_de_reponse"


# --- The outcome shapes the modal -------------------------------------------------------------


def test_choosing_the_outcome_updates_the_view_and_keeps_what_was_typed(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    assert "next_try" not in block_ids(view) and "review_tag" not in block_ids(view)
    failed = pick_outcome(server, fake, view, "messagerie", {})
    ids = block_ids(failed)
    assert "next_try" in ids and "note" in ids and "crm_checked_0" not in ids
    # The next try defaults to the next working day (Wednesday 25/11).
    (next_try,) = [b for b in failed["blocks"] if b.get("block_id") == "next_try"]
    assert next_try["element"]["initial_date"] == "2026-11-25"
    # The note typed, then « joint » chosen: the objectives appear and the note is kept.
    joint = pick_outcome(server, fake, failed, "joint", {"note": {"value": text("Très aimable")}})
    ids = block_ids(joint)
    for block in ("crm_checked_0", "obj2_signatures", "elsewhere", "gaps", "review_tag"):
        assert block in ids
    (note,) = [b for b in joint["blocks"] if b.get("block_id") == "note"]
    assert note["element"]["initial_value"] == "Très aimable"
    callback = pick_outcome(server, fake, joint, "rappel", {})
    assert "callback" in block_ids(callback)
    # The update carried the view's hash, so a stale update cannot overwrite a newer one.
    assert fake.calls_to("views.update")[-1].params["hash"] == "h1"


# --- Submitting --------------------------------------------------------------------------------


def full_joint(view: dict[str, Any], **overrides: dict[str, Any]) -> dict[str, Any]:
    """A « joint » report with every objective done, from the checkboxes the view offers."""
    values: dict[str, Any] = {"outcome": {"outcome_select": choose("joint")}}
    for block in view["blocks"]:
        block_id = block.get("block_id", "")
        if block_id.startswith(("crm_checked_", "obj2_")):
            options = [o["value"] for o in block["element"]["options"]]
            values[block_id] = {"value": checks(*options)}
    values["review_tag"] = {"value": radio("OK")}
    values["elsewhere"] = {"value": text("Habitation — MAAF\nSanté : Harmonie")}
    values["action_devis_date"] = {"value": date("2026-11-30")}
    values["action_devis_product"] = {"value": choose("habitation")}
    values.update({k: {"value": v} for k, v in overrides.items()})
    return values


def test_a_complete_call_is_recorded_in_one_go(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3, factory: sessionmaker[Session]
) -> None:
    case = julies_open_case(loaded)
    view = pick_outcome(
        server, fake, open_report(server, fake, responses, case["client_number"]), "joint", {}
    )
    values = full_joint(view, note=text("Client ravi"), fix_email=text("benoit.etienne@mail.fr"))
    status, answer = submit(server, view, values)
    assert status == 200 and answer == {}
    stored = case_row(factory, case["id"])
    # Reached, objectives 1 and 3 done; the contact card was not sent: En cours, not Terminé.
    assert (stored.tag_call, stored.tag_crm, stored.tag_review, stored.tag_card) == (
        "OK",
        "OK",
        "OK",
        None,
    )
    assert stored.status == "en_cours" and stored.completed_on is None
    (attempt,) = attempts(factory, case["id"])
    assert attempt.outcome == "joint" and attempt.note == "Client ravi"
    with factory() as session:
        review = session.scalars(select(CaseReview).where(CaseReview.case_id == case["id"])).one()
        assert review.held_elsewhere == [
            {"product": "Habitation", "insurer": "MAAF"},
            {"product": "Santé", "insurer": "Harmonie"},
        ]
        assert review.dp_signed and review.quotes_signed and review.pieces_missing == []
        (action,) = session.scalars(select(NextAction).where(NextAction.case_id == case["id"]))
        assert (action.kind, action.due_on, action.product) == (
            "devis",
            dt.date(2026, 11, 30),
            "habitation",
        )
        (correction,) = session.scalars(select(Correction))
        assert (correction.field, correction.new_value) == ("email", "benoit.etienne@mail.fr")
        audited = session.scalars(select(AuditEntry.field).where(AuditEntry.entity == "case")).all()
        assert {"attempt", "tag_call", "status"} <= set(audited)
    # The confirmation in the advisor's DM says what is left for « Terminé ».
    wait_for(fake, "views.publish")
    (dm,) = [c for c in wait_for(fake, "chat.postMessage") if c.params["channel"].startswith("D")]
    assert "Compte rendu enregistré" in dm.params["text"]
    assert "SMS/Mail coordonnées" in dm.params["text"] and "En cours" in dm.params["text"]


def test_the_same_submission_twice_records_one_attempt(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3, factory: sessionmaker[Session]
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    values = outcome_values("messagerie", next_try=date("2026-11-25"))
    assert submit(server, view, values) == (200, {})
    # Slack's retry, a double click, or the same case opened in a second tab.
    second_tab = open_report(server, fake, responses, case["client_number"])
    assert submit(server, view, values) == (200, {})
    assert len(attempts(factory, case["id"])) == 1
    # The second tab was opened after the first report was recorded: a new attempt.
    assert submit(server, second_tab, values) == (200, {})
    assert len(attempts(factory, case["id"])) == 2
    # A stale tab (opened before the first report) that says something else is not lost.
    other = outcome_values("pas_de_reponse", next_try=date("2026-11-26"))
    assert submit(server, view, other) == (200, {})
    assert [a.outcome for a in attempts(factory, case["id"])] == [
        "messagerie",
        "messagerie",
        "pas_de_reponse",
    ]
    wait_for(fake, "views.publish", 3)
    dms = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"].startswith("D")]
    assert len(dms) == 3


@pytest.mark.parametrize(
    ("outcome", "extra", "block", "message"),
    [
        ("messagerie", {"next_try": date("2026-11-20")}, "next_try", "déjà passée"),
        ("rappel", {"callback": {"type": "datetimepicker"}}, "callback", "obligatoire"),
    ],
)
def test_inline_errors_for_failed_calls(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
    outcome: str,
    extra: dict[str, Any],
    block: str,
    message: str,
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    status, answer = submit(server, view, outcome_values(outcome, **extra))
    assert status == 200 and answer["response_action"] == "errors"
    assert message in answer["errors"][block]
    assert attempts(factory, case["id"]) == []


def paris(day: int, hour: int, minute: int = 0) -> int:
    from zoneinfo import ZoneInfo

    at = dt.datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo("Europe/Paris"))
    return int(at.timestamp())


@pytest.mark.parametrize(
    ("stamp", "allowed"),
    [
        (paris(25, 10), True),
        (paris(25, 9, 30), False),
        (paris(25, 13, 30), False),
        (paris(25, 19, 30), True),
        (paris(25, 20), False),
        (paris(28, 11), False),  # a Saturday
        (paris(24, 10, 30), False),  # already past at 11:00
    ],
)
def test_a_callback_only_in_allowed_slots(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
    stamp: int,
    allowed: bool,
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    values = outcome_values(
        "rappel", callback={"type": "datetimepicker", "selected_date_time": stamp}
    )
    status, answer = submit(server, view, values)
    assert status == 200
    if allowed:
        assert answer == {}
        (attempt,) = attempts(factory, case["id"])
        assert attempt.callback_at is not None
        stored_at = attempt.callback_at.replace(tzinfo=attempt.callback_at.tzinfo or dt.UTC)
        assert int(stored_at.timestamp()) == stamp
    else:
        assert answer["response_action"] == "errors" and "callback" in answer["errors"]
        assert attempts(factory, case["id"]) == []


def test_joint_errors_are_shown_on_their_field(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3, factory: sessionmaker[Session]
) -> None:
    case = julies_open_case(loaded)
    view = pick_outcome(
        server, fake, open_report(server, fake, responses, case["client_number"]), "joint", {}
    )
    values = full_joint(
        view,
        fix_phone=text("12 34"),
        fix_email=text("pas-une-adresse"),
        elsewhere=text("Habitation sans assureur"),
        action_rdv_product=choose("auto"),
        action_relance_date=date("2026-11-28"),  # a Saturday: no call that day
    )
    # Objective 2 not done: the review cannot be OK.
    values["obj2_signatures"] = {"value": checks()}
    status, answer = submit(server, view, values)
    assert status == 200 and answer["response_action"] == "errors"
    errors = answer["errors"]
    assert "Numéro de téléphone non valable" in errors["fix_phone"]
    assert "Adresse e-mail non valable" in errors["fix_email"]
    assert "produit — assureur" in errors["elsewhere"]
    assert "Indiquez une date" in errors["action_rdv_date"]
    assert "week-end ou jour férié" in errors["action_relance_date"]
    assert "objectifs 1 et 2" in errors["review_tag"]
    assert attempts(factory, case["id"]) == []
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Correction)) == 0


def test_an_unknown_option_is_refused_and_nothing_is_written(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3, factory: sessionmaker[Session]
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    status, answer = submit(server, view, outcome_values("decroche"))
    assert status == 200 and answer["response_action"] == "update"
    assert "ne correspond plus au dossier" in json.dumps(answer, ensure_ascii=False)
    assert attempts(factory, case["id"]) == []


def test_a_fifth_attempt_in_30_days_is_refused(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3, factory: sessionmaker[Session]
) -> None:
    case = julies_open_case(loaded)
    for _ in range(4):
        view = open_report(server, fake, responses, case["client_number"])
        assert submit(server, view, outcome_values("messagerie", next_try=date("2026-11-25"))) == (
            200,
            {},
        )
    view = open_report(server, fake, responses, case["client_number"])
    assert "4/4 tentatives sur 30 jours" in json.dumps(view, ensure_ascii=False)
    status, answer = submit(server, view, outcome_values("joint"))
    assert status == 200
    assert answer["response_action"] == "errors"
    assert "cinquième" in answer["errors"]["outcome"]
    assert len(attempts(factory, case["id"])) == 4


def test_reopening_a_report_shows_it_prefilled_and_records_changes(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3, factory: sessionmaker[Session]
) -> None:
    case = julies_open_case(loaded)
    view = pick_outcome(
        server, fake, open_report(server, fake, responses, case["client_number"]), "joint", {}
    )
    assert submit(server, view, full_joint(view)) == (200, {})
    again = open_report(server, fake, responses, case["client_number"])
    dumped = json.dumps(again, ensure_ascii=False)
    assert "Appel joint du 24/11/2026 déjà enregistré" in dumped
    (elsewhere,) = [b for b in again["blocks"] if b.get("block_id") == "elsewhere"]
    assert elsewhere["element"]["initial_value"] == "Habitation — MAAF\nSanté — Harmonie"
    # Completing the same call is not a new attempt; the change is audited.
    values = full_joint(again, elsewhere=text("Habitation — MAAF"))
    assert submit(server, again, values) == (200, {})
    assert len(attempts(factory, case["id"])) == 1
    with factory() as session:
        changes = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == "review", AuditEntry.field == "held_elsewhere"
            )
        ).all()
    assert len(changes) == 2 and "Harmonie" in (changes[-1].old_value or "")


def test_the_report_works_over_socket_mode(
    settings: Any, fake: FakeSlack, factory: sessionmaker[Session], loaded: M3
) -> None:
    """`m3 run`'s transport: the command opens the report, the submission's errors come back in
    the envelope's ack, a valid one is recorded."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk import WebClient
    from slack_sdk.socket_mode import SocketModeClient

    from bot.app import create_app

    case = julies_open_case(loaded)
    web = WebClient(token=TOKEN, base_url=fake.url)
    app = create_app(settings, client=web, factory=factory, socket_mode=True)
    handler = SocketModeHandler(app, app_token="xapp-test")
    handler.client = SocketModeClient(app_token="xapp-test", web_client=web)
    handler.client.socket_mode_request_listeners.append(handler.handle)  # type: ignore[arg-type]
    handler.connect()  # type: ignore[no-untyped-call]
    try:
        fake.wait_for_socket_client()
        command = {
            "command": "/m3",
            "text": f"done {case['client_number']}",
            "user_id": JULIE[0],
            "team_id": "T1",
            "channel_id": "C1",
            "trigger_id": "1.2.socket",
            "response_url": "http://127.0.0.1:9/unused",
        }
        envelope = fake.socket_send(
            {"envelope_id": "env-cmd", "type": "slash_commands", "payload": command}
        )
        fake.wait_for_ack(envelope)
        wait_for(fake, "views.update")
        view = last_view(fake)
        assert view["callback_id"] == "capture_view"
        submission = {
            "type": "view_submission",
            "user": {"id": JULIE[0]},
            "team": {"id": "T1"},
            "view": view_payload(view, outcome_values("messagerie", next_try=date("2026-11-01"))),
        }
        envelope = fake.socket_send(
            {"envelope_id": "env-bad", "type": "interactive", "payload": submission}
        )
        ack = fake.wait_for_ack(envelope)
        assert ack["payload"]["response_action"] == "errors"
        assert "déjà passée" in ack["payload"]["errors"]["next_try"]
        submission["view"] = view_payload(
            view, outcome_values("messagerie", next_try=date("2026-11-25"))
        )
        envelope = fake.socket_send(
            {"envelope_id": "env-ok", "type": "interactive", "payload": submission}
        )
        assert not fake.wait_for_ack(envelope).get("payload")
        (attempt,) = attempts(factory, case["id"])
        assert attempt.outcome == "messagerie" and attempt.next_try_on == dt.date(2026, 11, 25)
    finally:
        handler.close()  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    ("client_type", "fields"),
    [
        ("Particulier", ["Adresse", "Téléphone", "E-mail", "Situation matrimoniale"]),
        ("Professionnel", ["SIRET", "Code NAF", "Activité exacte", "Chiffre d'affaires"]),
        ("Entreprise", ["SIRET", "Effectif", "Contact assurances"]),
    ],
)
def test_each_client_type_gets_its_objective_1_fields_within_slacks_limits(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    client_type: str,
    fields: list[str],
) -> None:
    """The guide's checklists by client type (a manager opens any advisor's case)."""
    case = next(c for c in cases_of(loaded) if c["client_type"] == client_type)
    before = len(fake.calls_to("views.update"))
    assert slash(server, f"done {case['client_number']}", responses, user=MANAGER[0]) == 200
    wait_for(fake, "views.update", before + 1)
    view = pick_outcome(server, fake, last_view(fake), "joint", {}, user=MANAGER[0])
    checked = [
        o["text"]["text"]
        for b in view["blocks"]
        if b.get("block_id", "").startswith("crm_checked_")
        for o in b["element"]["options"]
    ]
    for label in [*fields, "Bonne agence", "Bon chargé de clientèle"]:
        assert label in checked, (client_type, label)
    if client_type == "Particulier":
        assert "SIRET" not in checked
    if client_type != "Entreprise":
        assert "Contact assurances" not in checked
    # Slack's limits: 100 blocks, 10 options a checkbox group, 3 000 characters of metadata.
    assert len(view["blocks"]) <= 100
    for block in view["blocks"]:
        if block.get("element", {}).get("type") == "checkboxes":
            assert len(block["element"]["options"]) <= 10
    assert len(view["private_metadata"]) <= 3000
    # Corrections of the statuses are selects with the CRM's values.
    (marital,) = [b for b in view["blocks"] if b.get("block_id") == "fix_marital_status"]
    assert [o["value"] for o in marital["element"]["options"]] == [
        "Célibataire",
        "Marié(e)",
        "Pacsé(e)",
        "Divorcé(e)",
        "Veuf(ve)",
    ]


def test_the_digest_button_opens_the_report(
    server: str, fake: FakeSlack, loaded: M3, factory: sessionmaker[Session]
) -> None:
    case = julies_open_case(loaded)
    payload = {
        "type": "block_actions",
        "user": {"id": JULIE[0]},
        "team": {"id": "T1"},
        "trigger_id": "1.2.digest",
        "container": {"type": "message", "channel_id": "DU02JUL"},
        "actions": [{"action_id": "capture_open", "value": str(case["id"]), "type": "button"}],
    }
    assert interact(server, payload)[0] == 200
    (opened,) = wait_for(fake, "views.open")
    assert opened.params["trigger_id"] == "1.2.digest"
    update = wait_for(fake, "views.update")[-1]
    assert update.params["view"]["callback_id"] == "capture_view"
    assert json.loads(update.params["view"]["private_metadata"])["case"] == case["id"]


def test_more_joint_errors_siret_note_length_and_a_past_action(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3, factory: sessionmaker[Session]
) -> None:
    case = julies_open_case(loaded)
    view = pick_outcome(
        server, fake, open_report(server, fake, responses, case["client_number"]), "joint", {}
    )
    values = full_joint(
        view,
        note=text("x" * 2001),
        action_elements_date=date("2026-11-23"),  # yesterday
    )
    status, answer = submit(server, view, values)
    assert status == 200 and answer["response_action"] == "errors"
    assert "2000 caractères au maximum" in answer["errors"]["note"]
    assert "déjà passée" in answer["errors"]["action_elements_date"]
    assert attempts(factory, case["id"]) == []


def test_a_malformed_siret_is_refused_on_a_professional_case(
    server: str, fake: FakeSlack, responses: Responses, loaded: M3, factory: sessionmaker[Session]
) -> None:
    case = next(c for c in cases_of(loaded) if c["client_type"] == "Professionnel")
    before = len(fake.calls_to("views.update"))
    assert slash(server, f"done {case['client_number']}", responses, user=MANAGER[0]) == 200
    wait_for(fake, "views.update", before + 1)
    view = pick_outcome(server, fake, last_view(fake), "joint", {}, user=MANAGER[0])
    values = full_joint(view, fix_siret=text("123 456"))
    status, answer = submit(server, view, values, user=MANAGER[0])
    assert status == 200 and answer["response_action"] == "errors"
    assert "14 chiffres" in answer["errors"]["fix_siret"]
    values = full_joint(view, fix_siret=text("732 829 320 00074"))
    assert submit(server, view, values, user=MANAGER[0]) == (200, {})
    with factory() as session:
        (correction,) = session.scalars(select(Correction))
        assert (correction.field, correction.new_value) == ("siret", "732 829 320 00074")

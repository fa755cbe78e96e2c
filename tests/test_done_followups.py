"""What a report sets in motion: the callback comes back at the top of that day's digest and is
reminded ten minutes before (once), next tries and next actions appear in the digest of their
date with a button that closes them, a refusal takes the case out of the queue for 60 days, and
the App Home shows the case's status and tags. Signed HTTP to the real app, the fake Slack."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks.digest import digest_message
from bot.cases.queries import queues_for
from bot.models import Case, NextAction, Reminder
from bot.slack import add_retry_handlers
from jobs import reminders
from tests.conftest import M3
from tests.exports import read_csv, write_csv
from tests.fakeslack import FakeSlack
from tests.slackkit import JULIE, TOKEN, Responses, interact, slash, wait_for
from tests.test_done import (
    choose,
    date,
    full_joint,
    julies_open_case,
    open_report,
    outcome_values,
    pick_outcome,
    submit,
)
from tests.test_done import fake as fake
from tests.test_done import settings as settings

PARIS = ZoneInfo("Europe/Paris")


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=PARIS)


def julies_queue(factory: sessionmaker[Session], day: dt.date) -> Any:
    with factory() as session:
        (queue,) = [
            q
            for q in queues_for(session, today=day, since=day - dt.timedelta(days=1))
            if q.advisor.email == JULIE[1]
        ]
    return queue


def digest_text(factory: sessionmaker[Session], day: dt.date) -> str:
    return json.dumps(digest_message(julies_queue(factory, day)), ensure_ascii=False)


def test_a_callback_comes_back_at_the_top_of_that_days_digest_and_is_reminded_once(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    callback = at(26, 15, 30)  # Thursday 26/11 at 15:30
    values = outcome_values(
        "rappel",
        callback={"type": "datetimepicker", "selected_date_time": int(callback.timestamp())},
    )
    assert submit(server, view, values) == (200, {})
    # Wednesday: the case waits for its callback, it is not in the queue.
    wednesday = julies_queue(factory, dt.date(2026, 11, 25))
    assert case["id"] not in [c.id for c in wednesday.new + wednesday.to_handle + wednesday.late]
    assert wednesday.agenda == []
    # Thursday: first item of the day, with the time, and the report button.
    thursday = julies_queue(factory, dt.date(2026, 11, 26))
    first = thursday.agenda[0]
    assert (first.kind, first.case.id) == ("callback", case["id"])
    message = digest_message(thursday)
    text = json.dumps(message, ensure_ascii=False)
    assert text.index("Rappels et actions du jour") < text.index(case["client_name"])
    assert "*15:30* — rappeler" in text
    agenda_block = next(b for b in message["blocks"] if "15:30" in json.dumps(b))
    assert agenda_block["accessory"]["action_id"] == "capture_open"
    # The reminder: not at 15:15, once between 15:20 and 15:30, not twice, not after.
    web = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    assert reminders.run(factory=factory, client=web, now=at(26, 15, 15)).sent == []
    sent = reminders.run(factory=factory, client=web, now=at(26, 15, 21)).sent
    assert len(sent) == 1
    assert reminders.run(factory=factory, client=web, now=at(26, 15, 22)).sent == []
    dms = [c for c in fake.calls_to("chat.postMessage") if "attend votre appel" in c.params["text"]]
    assert len(dms) == 1 and "15:30" in dms[0].params["text"]
    assert dms[0].params["channel"].startswith("D")


def test_two_reminder_runners_at_once_send_one_dm(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    callback = at(26, 10, 0)
    values = outcome_values(
        "rappel",
        callback={"type": "datetimepicker", "selected_date_time": int(callback.timestamp())},
    )
    assert submit(server, view, values) == (200, {})
    web = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    barrier = threading.Barrier(3)

    def runner() -> None:
        barrier.wait()
        reminders.run(factory=factory, client=web, now=at(26, 9, 52))

    threads = [threading.Thread(target=runner) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    dms = [c for c in fake.calls_to("chat.postMessage") if "attend votre appel" in c.params["text"]]
    assert len(dms) == 1
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Reminder)) == 1


def test_no_reminder_when_the_case_was_reported_on_meanwhile(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    callback = at(24, 16, 0)  # this afternoon
    values = outcome_values(
        "rappel",
        callback={"type": "datetimepicker", "selected_date_time": int(callback.timestamp())},
    )
    assert submit(server, view, values) == (200, {})
    # The client called back first: the advisor reports the call before the time.
    view = pick_outcome(
        server, fake, open_report(server, fake, responses, case["client_number"]), "joint", {}
    )
    assert submit(server, view, full_joint(view)) == (200, {})
    web = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    assert reminders.run(factory=factory, client=web, now=at(24, 15, 55)).sent == []


def test_a_next_try_and_a_next_action_come_back_on_their_date(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    assert submit(server, view, outcome_values("messagerie", next_try=date("2026-11-26"))) == (
        200,
        {},
    )
    assert julies_queue(factory, dt.date(2026, 11, 25)).agenda == []
    thursday = julies_queue(factory, dt.date(2026, 11, 26))
    assert [(i.kind, i.case.id) for i in thursday.agenda] == [("next_try", case["id"])]
    assert "Nouvelle tentative" in digest_text(factory, dt.date(2026, 11, 26))
    # A date of this year goes without its year.
    assert "messagerie le 24/11)" in digest_text(factory, dt.date(2026, 11, 26))
    # Thursday the client answers; a quote is promised for Monday 30/11.
    view = pick_outcome(
        server, fake, open_report(server, fake, responses, case["client_number"]), "joint", {}
    )
    values = full_joint(view)
    values["action_devis_date"] = {"value": date("2026-11-30")}
    values["action_devis_product"] = {"value": choose("habitation")}
    assert submit(server, view, values) == (200, {})
    assert julies_queue(factory, dt.date(2026, 11, 27)).agenda == []
    monday = julies_queue(factory, dt.date(2026, 11, 30))
    (item,) = monday.agenda
    assert item.kind == "action" and item.action is not None
    assert "Devis à envoyer (Habitation)" in digest_text(factory, dt.date(2026, 11, 30))
    # « Fait »: the action is done, and leaves the digest.
    payload = {
        "type": "block_actions",
        "user": {"id": JULIE[0]},
        "team": {"id": "T1"},
        "trigger_id": "1.2.fait",
        "response_url": responses.url,
        "actions": [
            {"action_id": "next_action_done", "value": str(item.action.id), "type": "button"}
        ],
    }
    assert interact(server, payload)[0] == 200
    answer = responses.wait()[-1]
    assert "action faite" in answer["text"]
    with factory() as session:
        action = session.get(NextAction, item.action.id)
        assert action is not None and action.done_on == dt.date(2026, 11, 24)
    assert julies_queue(factory, dt.date(2026, 11, 30)).agenda == []


def test_a_refusal_takes_the_case_out_of_the_queue_for_60_days(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    assert submit(server, view, outcome_values("refus")) == (200, {})
    queue = julies_queue(factory, dt.date(2026, 11, 25))
    listed = [c.id for c in queue.new + queue.to_handle + queue.late + queue.in_progress]
    assert case["id"] in listed  # in progress (call OK, review KO)…
    assert case["id"] not in [c.id for c in queue.new + queue.to_handle + queue.late]
    with factory() as session:
        stored = session.get(Case, case["id"])
        assert stored is not None and (stored.tag_call, stored.tag_review) == ("OK", "KO")
    # …and a new call is refused for 60 days: 24/11/2026 + 60 days = Saturday 23/01/2027, so
    # the first day calls are allowed again is Monday 25/01/2027.
    view = open_report(server, fake, responses, case["client_number"])
    _, answer = submit(server, view, outcome_values("messagerie", next_try=date("2026-11-25")))
    assert answer["response_action"] == "errors"
    assert "avant le 25/01/2027" in answer["errors"]["outcome"]


def test_the_report_button_of_the_prepare_modal_pushes_the_report(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
) -> None:
    case = julies_open_case(loaded)
    payload = {
        "type": "block_actions",
        "user": {"id": JULIE[0]},
        "team": {"id": "T1"},
        "trigger_id": "1.2.push",
        "container": {"type": "view", "view_id": "V0"},
        "actions": [{"action_id": "capture_open", "value": str(case["id"]), "type": "button"}],
    }
    assert interact(server, payload)[0] == 200
    (pushed,) = wait_for(fake, "views.push")
    assert pushed.params["trigger_id"] == "1.2.push"
    update = wait_for(fake, "views.update")[-1]
    assert update.params["view_id"] == pushed.response["view"]["id"]
    assert update.params["view"]["callback_id"] == "capture_view"
    assert not fake.calls_to("views.open")


def test_the_app_home_shows_status_and_tags_after_a_report(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
) -> None:
    case = julies_open_case(loaded)
    view = pick_outcome(
        server, fake, open_report(server, fake, responses, case["client_number"]), "joint", {}
    )
    assert submit(server, view, full_joint(view)) == (200, {})
    home = wait_for(fake, "views.publish")[-1].params["view"]
    text = json.dumps(home, ensure_ascii=False)
    assert "*En cours* (1)" in text
    assert "Appel téléphonique\u00a0: OK" in text and "SMS/Mail coordonnées\u00a0: —" in text
    assert case["client_name"] in text


@pytest.mark.parametrize("outcome", ["messagerie", "pas_de_reponse", "numero_errone"])
def test_a_failed_call_leaves_the_case_to_do_and_counts_the_attempt(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
    factory: sessionmaker[Session],
    outcome: str,
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    assert submit(server, view, outcome_values(outcome, next_try=date("2026-11-25"))) == (200, {})
    with factory() as session:
        stored = session.get(Case, case["id"])
        assert stored is not None
        assert (stored.tag_call, stored.status) == ("KO", "a_faire")
        assert stored.tag_crm == ("KO" if outcome == "numero_errone" else None)
    again = open_report(server, fake, responses, case["client_number"])
    assert "1/4 tentatives sur 30 jours" in json.dumps(again, ensure_ascii=False)


def test_status_shows_the_case_its_attempts_review_and_corrections(
    server: str,
    fake: FakeSlack,
    responses: Responses,
    loaded: M3,
) -> None:
    case = julies_open_case(loaded)
    view = open_report(server, fake, responses, case["client_number"])
    assert submit(server, view, outcome_values("pas_de_reponse", next_try=date("2026-11-25"))) == (
        200,
        {},
    )
    view = pick_outcome(
        server, fake, open_report(server, fake, responses, case["client_number"]), "joint", {}
    )
    values = full_joint(view, fix_phone={"type": "plain_text_input", "value": "06 11 22 33 44"})
    assert submit(server, view, values) == (200, {})
    before = len(responses.bodies)
    assert slash(server, f"status {case['client_number']}", responses) == 200
    answer = responses.wait(before + 1)[-1]
    text = json.dumps(answer, ensure_ascii=False)
    assert answer["response_type"] == "ephemeral"
    assert case["client_name"] in text and "*En cours*" in text
    assert "Appel téléphonique\u00a0: *OK*" in text and "SMS/Mail coordonnées\u00a0: *—*" in text
    assert "*Tentatives* (2)" in text
    assert "pas de réponse" in text and "joint" in text
    assert "Habitation (MAAF)" in text
    assert "Devis à envoyer (Habitation) — le 30/11/2026" in text
    assert "À corriger dans Lagon" in text and "+33611223344" in text
    actions = [b for b in answer["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == ["prepare_call", "capture_open"]


def test_status_of_a_colleagues_client_finds_nothing(
    server: str,
    responses: Responses,
    loaded: M3,
) -> None:
    others = [
        c
        for c in loaded.json("cases", "--date", "2026-11-24", today="2026-11-24")[1]
        if c["advisor_email"] != JULIE[1]
    ]
    assert slash(server, f"status {others[0]['client_number']}", responses) == 200
    (answer,) = responses.wait()
    assert "Aucun de vos clients ne correspond" in answer["text"]


def test_status_finds_the_case_in_its_window_when_the_next_one_is_already_open(
    server: str,
    responses: Responses,
    loaded: M3,
    sample_dir: Path,
    tmp_path: Path,
) -> None:
    """A later export brings the client a contract that takes effect after the open case's
    deadline: a second case opens (the current one), but the advisor is still to call for the
    first, in its window: `/m3 status` shows that one, with its window, not the next."""
    case = julies_open_case(loaded)
    header, rows = read_csv(sample_dir / "portfolio.csv")
    number, contract_number, effect = (
        header.index("N° client"),
        header.index("N° contrat"),
        header.index("Date d'effet"),
    )
    row = next(r for r in rows if r[number] == case["client_number"])
    deadline = dt.date.fromisoformat(case["deadline"])
    later = [*row]
    later[contract_number] = "NEW-0001"
    later[effect] = (deadline + dt.timedelta(days=10)).strftime("%d/%m/%Y")
    later[header.index("Origine")] = "AN"
    later[header.index("Statut contrat")] = "Actif"
    later[header.index("Date de résiliation")] = ""
    export = write_csv(tmp_path / "later.csv", header, [later])
    code, summary = loaded.json("import", "portfolio", str(export), today="2026-11-24")
    assert (code, summary["cases"]["opened"]) == (0, 1), summary
    assert slash(server, f"status {case['client_number']}", responses) == 200
    (answer,) = responses.wait()
    text = json.dumps(answer, ensure_ascii=False)
    window_end = dt.date.fromisoformat(case["window_end"]).strftime("%d/%m/%Y")
    assert window_end in text, text
    assert "NEW-0001" not in text

"""Block Kit limits of the digest and App Home, and how the digest is scheduled."""

from __future__ import annotations

import datetime as dt

from slack_sdk import WebClient
from slack_sdk.models.blocks import Block
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks.digest import digest_message
from bot.blocks.home import home_view
from bot.blocks.managers import managers_summary
from bot.blocks.prepare import prepare_modal
from bot.cases.queries import Queue
from bot.cases.views import CaseView
from bot.models import Advisor, DigestRun
from bot.rules import CaseState
from bot.settings import load_settings
from bot.team import team_queue
from jobs.schedule import DIGEST_JOB_ID, MISFIRE_GRACE, build_scheduler, missed_today
from tests.fakeslack import check_blocks, check_view

TODAY = dt.date(2026, 11, 24)


def view(n: int, state: CaseState = CaseState.OPEN) -> CaseView:
    return CaseView(
        id=n,
        client_number=str(100000 + n),
        client_name=f"Client <{n}> & fils",
        client_type="Particulier",
        client_first_name="Léa",
        civility="Mme",
        phone="+33612345678",
        advisor_email="a@b.fr",
        advisor_name="Julie Laurent",
        advisor_first_name="Julie",
        branch_name="Corniche",
        contract_numbers=[f"AL{n:09d}"],
        products=["Auto"],
        sellers=["Manon Langlois"],
        effect_date=TODAY - dt.timedelta(days=90),
        due_date=TODAY,
        window_start=TODAY - dt.timedelta(days=7),
        window_end=TODAY + dt.timedelta(days=n % 7),
        deadline=TODAY + dt.timedelta(days=30),
        state=state,
        status="a_faire",
        missing_fields=["email"],
        missing_pieces=["Carte grise"],
    )


def big_queue(count: int) -> Queue:
    advisor = Advisor(email="a@b.fr", first_name="Julie", last_name="Laurent")
    queue = Queue(advisor=advisor, today=TODAY)
    queue.new = [view(i) for i in range(5)]
    queue.to_handle = [view(i) for i in range(5, count - 10)]
    queue.late = [view(i, CaseState.LATE) for i in range(count - 10, count)]
    return queue


def test_a_long_digest_keeps_the_most_urgent_within_50_blocks() -> None:
    message = digest_message(big_queue(80))
    payload = message["blocks"]
    assert len(payload) <= 50
    assert check_blocks(payload, limit=50) == []
    for block in payload:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    assert "/m3 list" in payload[-1]["elements"][0]["text"]
    text = str(payload)
    # The late cases (70 to 79) come first and are all there; the new ones (0 to 4) have the
    # most time left: they are the ones left out.
    assert all(f"Client &lt;{n}&gt; &amp; fils" in text for n in range(70, 80))  # & < > escaped
    assert "Client &lt;0&gt;" not in text
    assert "*En retard* (10)" in text and "*À traiter* (65)" in text
    assert text.index("*En retard*") < text.index("*À traiter*")


def test_a_short_digest_has_no_pointer() -> None:
    payload = digest_message(big_queue(15))["blocks"]
    assert "/m3 list" not in str(payload)
    buttons = [[e["action_id"] for e in b["elements"]] for b in payload if b["type"] == "actions"]
    lines = [b["accessory"]["action_id"] for b in payload if "accessory" in b]
    # The five most urgent on two lines with « Préparer l'appel » and « Compte rendu », the ten
    # others on one line with « Préparer l'appel » (its modal holds « Compte rendu »).
    assert buttons == [["prepare_call", "capture_open"]] * 5
    assert lines == ["prepare_call"] * 10


def test_app_home_holds_at_most_100_blocks() -> None:
    queue = big_queue(150)
    home = home_view(queue, queue.advisor, TODAY)
    assert len(home["blocks"]) <= 100
    assert check_view(home) == []


def test_prepare_modal_is_a_valid_modal() -> None:
    modal = prepare_modal(view(3), TODAY)
    assert check_view(modal) == []
    text = str(modal)
    assert "Bonjour Léa, c'est Julie de l'agence Corniche. C'est Manon qui a assuré" in text


def test_managers_summary_of_500_advisors_is_not_cut() -> None:
    queues = []
    for n in range(500):
        advisor = Advisor(id=n, email=f"c{n}@b.fr", first_name="Conseiller", last_name=str(n))
        advisor.active = True
        queue = Queue(advisor=advisor, today=TODAY)
        queue.new, queue.to_handle = [view(1)], [view(2), view(3)]
        queue.late = [view(i, CaseState.LATE) for i in (4, 5, 6)]
        queues.append(queue)
    message = managers_summary(team_queue(queues, TODAY))
    assert check_blocks(message["blocks"], limit=50) == []
    text = "\n".join(b["text"]["text"] for b in message["blocks"])
    assert all(f"Conseiller {n}\u00a0:" in text for n in range(500))
    assert "…" not in text


def test_scheduler_runs_on_weekdays_at_the_digest_time(factory: sessionmaker[Session]) -> None:
    settings = load_settings(M3_DIGEST_TIME="07:45", SLACK_BOT_TOKEN="xoxb-test")
    scheduler = build_scheduler(settings, factory, WebClient(token="xoxb-test"), blocking=False)
    job = scheduler.get_job(DIGEST_JOB_ID)
    assert job is not None
    assert job.coalesce is True and job.misfire_grace_time == MISFIRE_GRACE
    trigger = str(job.trigger)
    assert "day_of_week='mon-fri'" in trigger and "hour='7'" in trigger and "minute='45'" in trigger
    assert str(job.trigger.timezone) == "Europe/Paris"


def test_a_missed_run_is_caught_up_the_same_working_day(factory: sessionmaker[Session]) -> None:
    settings = load_settings()
    paris = settings.zone
    morning = dt.datetime(2026, 11, 24, 7, 0, tzinfo=paris)
    later = dt.datetime(2026, 11, 24, 10, 0, tzinfo=paris)
    christmas = dt.datetime(2026, 12, 25, 10, 0, tzinfo=paris)
    assert not missed_today(settings, factory, morning)  # not yet time
    assert missed_today(settings, factory, later)
    assert not missed_today(settings, factory, christmas)  # a holiday: nothing to catch up
    with factory.begin() as session:
        session.add(DigestRun(run_date=dt.date(2026, 11, 24)))
    assert not missed_today(settings, factory, later)  # it ran


def test_callback_reminders_run_every_minute(factory: sessionmaker[Session]) -> None:
    from jobs.schedule import REMINDERS_JOB_ID, send_due_reminders

    settings = load_settings(SLACK_BOT_TOKEN="xoxb-test")
    scheduler = build_scheduler(settings, factory, WebClient(token="xoxb-test"), blocking=False)
    job = scheduler.get_job(REMINDERS_JOB_ID)
    assert job is not None and job.func is send_due_reminders
    assert job.trigger.interval == dt.timedelta(minutes=1)
    assert job.max_instances == 1 and job.coalesce is True

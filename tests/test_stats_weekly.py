"""The managers' weekly summary (jobs/weekly.py): the week before's figures and the chart in the
managers' channel on the week's first working day, exactly once, finishing what a failed run
left, and scheduled with the digest."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import WeeklySummary
from bot.settings import load_settings
from jobs import weekly
from jobs.schedule import WEEKLY_JOB_ID, build_scheduler
from tests import stats_history as history
from tests.fakeslack import FakeSlack

CHANNEL = "CMANAGERS"
MONDAY = dt.date(2026, 11, 16)  # the week before has cases of both advisors in the history


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token="xoxb-test") as fake:
        yield fake
        fake.assert_valid()


@pytest.fixture
def built(factory: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    history.build(factory, tmp_path)
    return factory


def _run(factory: sessionmaker[Session], fake: FakeSlack, day: dt.date) -> weekly.Outcome:
    client = WebClient(token="xoxb-test", base_url=fake.url)
    return weekly.run(factory=factory, client=client, today=day, managers_channel=CHANNEL)


def test_sent_once_a_week_with_the_chart(built: sessionmaker[Session], fake: FakeSlack) -> None:
    assert _run(built, fake, MONDAY) is weekly.Outcome.SENT
    assert _run(built, fake, MONDAY) is weekly.Outcome.ALREADY
    assert _run(built, fake, MONDAY + dt.timedelta(days=1)) is weekly.Outcome.ALREADY
    (post,) = fake.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    title = post.params["blocks"][0]["text"]["text"]
    assert "Récapitulatif hebdomadaire" in title and "semaine du 09/11/2026 au 15/11/2026" in title
    names = [
        row[0]["text"] for b in post.params["blocks"] if b["type"] == "table" for row in b["rows"]
    ]
    assert names[1:] == [
        "Total",
        "Agence Corniche",
        "Alice Martin",
        "Agence Rouvière",
        "Bruno Petit",
    ]
    assert "Client9" not in str(post.params)  # aggregated: no client named
    (chart,) = fake.uploaded()
    assert chart["channel"] == CHANNEL
    image = Image.open(io.BytesIO(chart["data"]))
    assert image.info["Title"].startswith("Récapitulatif hebdomadaire M+3 — semaine du 09/11/2026")
    with built() as session:
        (row,) = session.scalars(select(WeeklySummary))
    assert (row.week_start, row.status, row.file_id) == (MONDAY, "sent", chart["id"])
    # The next week has its own.
    assert _run(built, fake, MONDAY + dt.timedelta(days=7)) is weekly.Outcome.SENT


def test_a_holiday_monday_sends_on_tuesday(built: sessionmaker[Session], fake: FakeSlack) -> None:
    armistice = dt.date(2024, 11, 11)  # a Monday, a public holiday
    assert _run(built, fake, armistice) is weekly.Outcome.NOT_A_WORKING_DAY
    assert _run(built, fake, armistice + dt.timedelta(days=1)) is weekly.Outcome.SENT
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_a_failed_upload_is_finished_without_posting_twice(
    built: sessionmaker[Session], fake: FakeSlack
) -> None:
    fake.fail_next("files.completeUploadExternal", status=200, error="not_in_channel")
    with pytest.raises(SlackApiError):
        _run(built, fake, MONDAY)
    assert fake.uploaded() == []
    assert _run(built, fake, MONDAY) is weekly.Outcome.SENT
    assert len(fake.calls_to("chat.postMessage")) == 1
    assert len(fake.uploaded()) == 1


def test_no_channel_no_summary(built: sessionmaker[Session], fake: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake.url)
    outcome = weekly.run(factory=built, client=client, today=MONDAY, managers_channel=None)
    assert outcome is weekly.Outcome.NO_CHANNEL
    assert fake.calls == []


def test_scheduled_with_the_digest(factory: sessionmaker[Session], database_url: str) -> None:
    settings = load_settings(DATABASE_URL=database_url, M3_DIGEST_TIME="08:45")
    scheduler = build_scheduler(settings, factory, WebClient(token="xoxb-x"), blocking=False)
    job = scheduler.get_job(WEEKLY_JOB_ID)
    assert job is not None and str(job.trigger).startswith(
        "cron[day_of_week='mon-fri', hour='8', minute='45'"
    )

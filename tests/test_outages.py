"""Slack or the database down while `m3 clock` / `m3 run` work: one French line and a later
try, never a page of traceback. Real PostgreSQL/SQLite, the local fake Slack over real HTTP,
and an unreachable database (PostgreSQL on a closed local port)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from bot import db
from bot.cli import app
from bot.models import Digest
from bot.settings import load_settings
from jobs import schedule
from tests.conftest import M3
from tests.exports import ALICE, BRUNO, advisors_csv, contract, ok, portfolio_csv
from tests.fakeslack import FakeSlack

TOKEN = "xoxb-test"
DAY = "2026-11-24"  # a Tuesday; effect 28/08/2026 → window 21/11–05/12: to call that day


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def unreachable_url() -> str:
    return f"postgresql://m3@127.0.0.1:{closed_port()}/m3"


def lines(caplog: pytest.LogCaptureFixture, name: str = "jobs.schedule") -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name]


def wait_until(condition: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


# --- Start-up -----------------------------------------------------------------------------------


@pytest.fixture
def quick_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up tries with short waits (the real ones are 2, 4, 8, 16 s)."""
    monkeypatch.setattr(schedule, "STARTUP_ATTEMPTS", 3)
    monkeypatch.setattr(schedule, "STARTUP_FIRST_WAIT", 0.01)


@pytest.mark.parametrize("command", ["clock", "run"])
def test_an_unreachable_database_at_start_up_is_tried_again_then_one_line(
    quick_start: None, caplog: pytest.LogCaptureFixture, command: str
) -> None:
    caplog.set_level(logging.INFO, logger="jobs.schedule")
    env = {
        "DATABASE_URL": unreachable_url(),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # never reached: the database comes first
    }
    result = CliRunner().invoke(app, [command], env=env)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Erreur : base de données injoignable après 3 essais (connexion refusée) : vérifiez "
        "DATABASE_URL et que le serveur de base de données est démarré"
    )
    assert lines(caplog) == [
        "Base de données injoignable (essai 1/3), nouvel essai dans 1 s",
        "Base de données injoignable (essai 2/3), nouvel essai dans 1 s",
    ]
    assert not [r for r in caplog.records if r.exc_info]


def test_a_database_that_comes_up_meanwhile_is_used(
    quick_start: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jobs.schedule")
    tries: list[int] = []

    def start() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
        return "started"

    assert schedule.reach_database(start) == "started"
    assert len(lines(caplog)) == 2


def test_the_installed_clock_gives_up_in_one_line(tmp_path: Path) -> None:
    """In a process, as a process manager runs it (two tries, 2 s apart, to keep it short)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M3_", "DATABASE", "SLACK"))}
    env |= {
        "DATABASE_URL": unreachable_url(),
        "SLACK_BOT_TOKEN": TOKEN,
        "M3_MANAGERS_CHANNEL": "C0MANAGERS",
    }
    code = (
        "import sys; from jobs import schedule; schedule.STARTUP_ATTEMPTS = 2; "
        "from bot.cli import main; sys.argv = ['m3', 'clock']; main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    err = result.stderr.splitlines()
    assert len(err) == 2, result.stderr
    assert err[0].endswith("Base de données injoignable (essai 1/2), nouvel essai dans 2 s")
    assert err[1].startswith("Erreur : base de données injoignable après 2 essais")
    assert "Traceback" not in result.stderr


# --- The digest job -----------------------------------------------------------------------------


@pytest.fixture
def agency(m3: M3, tmp_path: Path) -> M3:
    """Two advisors with a client each to call on DAY."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "equipe.csv")))
    rows = [contract("C1", "K1", "28/08/2026", ALICE), contract("C2", "K2", "28/08/2026", BRUNO)]
    ok(m3, "import", "portfolio", str(portfolio_csv(tmp_path / "export.csv", rows)))
    return m3


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    users = [{"id": "U1", "email": ALICE}, {"id": "U2", "email": BRUNO}]
    with FakeSlack(token=TOKEN, users=users) as fake:
        yield fake


def dms(fake: FakeSlack) -> list[str]:
    return [
        c.params["channel"]
        for c in fake.calls_to("chat.postMessage")
        if c.params["channel"].startswith("D")
    ]


def test_slack_answering_500_is_one_line_and_a_retry_that_sends(
    agency: M3,
    fake: FakeSlack,
    factory: sessionmaker[Session],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="jobs.schedule")
    monkeypatch.setattr(schedule, "RETRY_FIRST", dt.timedelta(seconds=0.5))
    settings = load_settings(
        DATABASE_URL=agency.database_url,
        # The time of day frozen: in the last half second before midnight in the agency's
        # zone the retry would cross midnight and rightly not be scheduled.
        M3_NOW=f"{DAY}T09:00",
        M3_DIGEST_TIME="00:00",  # passed: the start-up catch-up runs at once
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_API_URL=fake.url,
    )
    fake.fail_next("*", status=500, times=1000)
    client = WebClient(token=TOKEN, base_url=fake.url)  # no retry handlers: fail fast
    scheduler = schedule.build_scheduler(settings, factory, client, blocking=False)
    scheduler.start()
    try:
        first = wait_until(lambda: [m for m in lines(caplog) if "nouvel essai" in m])
        assert first[0] == (
            "Récapitulatif du 24/11 : 0 envoyé, 2 en échec côté Slack, nouvel essai dans 1 s"
        )
        fake.reset()  # Slack is back
        wait_until(lambda: len(dms(fake)) == 2)
        wait_until(lambda: any("2 envoyés" in m for m in lines(caplog)))
    finally:
        scheduler.shutdown(wait=True)
    assert sorted(dms(fake)) == ["DU1", "DU2"]  # one each, once
    assert not [r for r in caplog.records if r.exc_info]
    with factory() as session:
        statuses = session.scalars(select(Digest.status)).all()
    assert statuses == ["sent", "sent"]


def test_an_unreachable_database_at_digest_time_is_one_line_and_a_retry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="jobs.schedule")
    engine = db.make_engine(unreachable_url())
    # The digest's time, frozen: from 23:58 in the agency's zone the retry would cross
    # midnight and not be scheduled (`test_no_retry_crosses_midnight`).
    settings = load_settings(M3_NOW=f"{DAY}T08:30", SLACK_BOT_TOKEN=TOKEN)
    scheduler = BackgroundScheduler(timezone=settings.zone)
    client = WebClient(token=TOKEN, base_url="http://127.0.0.1:9/api/")
    schedule.run_digest_if_working_day(settings, db.session_factory(engine), client, scheduler)
    assert lines(caplog) == [
        "Récapitulatif du 24/11 non envoyé : base de données injoignable, nouvel essai dans 2 min"
    ]
    assert not [r for r in caplog.records if r.exc_info]
    job = scheduler.get_job(schedule.RETRY_JOB_ID)
    assert job is not None
    assert job.kwargs == {"day": dt.date(2026, 11, 24), "attempt": 1}
    # The retries wait longer and longer.
    assert [schedule.retry_delay(n).total_seconds() / 60 for n in range(6)] == [
        2,
        4,
        8,
        16,
        30,
        30,
    ]


def test_no_retry_crosses_midnight(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="jobs.schedule")
    engine = db.make_engine(unreachable_url())
    settings = load_settings(M3_NOW=f"{DAY}T23:59", SLACK_BOT_TOKEN=TOKEN)
    scheduler = BackgroundScheduler(timezone=settings.zone)
    client = WebClient(token=TOKEN, base_url="http://127.0.0.1:9/api/")
    schedule.run_digest_if_working_day(settings, db.session_factory(engine), client, scheduler)
    assert lines(caplog) == [
        "Récapitulatif du 24/11 non envoyé : base de données injoignable ; plus d'essai "
        "aujourd'hui : relancez-le avec « m3 digest »"
    ]
    assert scheduler.get_job(schedule.RETRY_JOB_ID) is None


def test_the_installed_clock_with_slack_down_logs_one_line(
    agency: M3, fake: FakeSlack, tmp_path: Path
) -> None:
    """`m3 clock` as a process, its own Slack client (with its retries) against a Slack
    answering 500: one French line for the run, no traceback. The time of day is frozen in the
    morning: run at the real one, two minutes before midnight in the agency's zone, the retry
    would cross midnight and not be scheduled (`test_no_retry_crosses_midnight`)."""
    m3 = shutil.which("m3", path=str(Path(sys.executable).parent)) or "m3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M3_", "DATABASE", "SLACK"))}
    env |= {
        "DATABASE_URL": agency.database_url,
        "M3_NOW": f"{DAY}T09:00",
        "M3_DIGEST_TIME": "00:00",
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": fake.url,
    }
    fake.fail_next("*", status=500, times=1000)
    process = subprocess.Popen(
        [m3, "clock"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    seen: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    stderr = process.stderr
    threading.Thread(target=lambda: [seen.put(line) for line in stderr], daemon=True).start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + 90
        while not any("nouvel essai dans" in line for line in output):
            assert time.monotonic() < deadline, "".join(output)
            try:
                output.append(seen.get(timeout=1))
            except queue.Empty:
                assert process.poll() is None, "".join(output)
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = "".join(output)
    assert "Récapitulatif du 24/11 : 0 envoyé, 2 en échec côté Slack, nouvel essai dans 2 min" in (
        text
    )
    assert "Traceback" not in text

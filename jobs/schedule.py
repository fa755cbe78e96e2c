"""Scheduling, in one place: the digest at `M3_DIGEST_TIME` (Europe/Paris by default),
Monday to Friday, skipping French public holidays; coalesced, with a generous misfire grace;
and a catch-up at start-up when today's run was missed while the process was down."""

from __future__ import annotations

import datetime as dt
import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import DigestRun
from bot.rules import is_working_day
from bot.settings import Settings
from jobs import digest

log = logging.getLogger(__name__)
DIGEST_JOB_ID = "m3-digest"
MISFIRE_GRACE = 6 * 3600  # a run delayed by a restart still goes out the same morning


def run_digest_if_working_day(
    settings: Settings, factory: sessionmaker[Session], client: WebClient
) -> None:
    today = settings.today()
    if not is_working_day(today):
        log.info("no digest on %s: not a working day", today)
        return
    report = digest.run(
        factory=factory, client=client, today=today, managers_channel=settings.managers_channel
    )
    log.info("digest %s: %d sent, %d failed", today, len(report.sent), len(report.failed))


def missed_today(settings: Settings, factory: sessionmaker[Session], now: dt.datetime) -> bool:
    """Whether today's digest time has passed on a working day with no run recorded."""
    today = now.date()
    hour, minute = settings.digest_hour_minute
    if not is_working_day(today) or now.time() < dt.time(hour, minute):
        return False
    with factory() as session:
        return session.scalar(select(DigestRun.id).where(DigestRun.run_date == today)) is None


def build_scheduler(
    settings: Settings,
    factory: sessionmaker[Session],
    client: WebClient,
    *,
    blocking: bool,
) -> BaseScheduler:
    scheduler: BaseScheduler = (
        BlockingScheduler(timezone=settings.zone)
        if blocking
        else BackgroundScheduler(timezone=settings.zone)
    )
    hour, minute = settings.digest_hour_minute
    scheduler.add_job(
        run_digest_if_working_day,
        CronTrigger(day_of_week="mon-fri", hour=hour, minute=minute, timezone=settings.zone),
        args=(settings, factory, client),
        id=DIGEST_JOB_ID,
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=MISFIRE_GRACE,
        max_instances=1,
    )
    if missed_today(settings, factory, dt.datetime.now(settings.zone)):
        scheduler.add_job(
            run_digest_if_working_day,
            args=(settings, factory, client),
            id=f"{DIGEST_JOB_ID}-catch-up",
            replace_existing=True,
        )
    return scheduler

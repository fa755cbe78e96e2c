"""Scheduling, in one place: the digest at `M3_DIGEST_TIME` (Europe/Paris by default),
Monday to Friday, skipping French public holidays; coalesced, with a generous misfire grace;
and a catch-up at start-up when today's run was missed while the process was down. Every
minute, the callback reminders due (jobs/reminders.py); every ten seconds, the outbox
(jobs/outbox.py: the contact card's SMS and e-mail, exactly once). On working days at the
digest's time, the managers' weekly stats summary, once a week (jobs/weekly.py).

Outages are expected, not crashes. A digest run that Slack or the database cannot take logs one
French line (« Récapitulatif du 24/11 non envoyé : base de données injoignable, nouvel essai
dans 2 min ») and is tried again later, with a growing delay, the same day; the digest's
exactly-once records make a retry resend only what is missing. At start-up, `reach_database()`
waits for the database a few times (one line each) before giving up with `DatabaseUnreachable`.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from typing import TypeVar

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from bot.models import DigestRun
from bot.outages import database_cause, is_database_outage, outage
from bot.rendering import plural
from bot.rules import is_working_day
from bot.settings import Settings
from jobs import digest, outbox, reminders, weekly

log = logging.getLogger(__name__)
DIGEST_JOB_ID = "m3-digest"
RETRY_JOB_ID = f"{DIGEST_JOB_ID}-retry"
REMINDERS_JOB_ID = "m3-callback-reminders"
OUTBOX_JOB_ID = "m3-outbox"
WEEKLY_JOB_ID = "m3-weekly-stats"
OUTBOX_EVERY = dt.timedelta(seconds=10)  # the e-mail of a contact card leaves « at once »
MISFIRE_GRACE = 6 * 3600  # a run delayed by a restart still goes out the same morning

# A digest run that failed is tried again after 2, 4, 8, 16, then every 30 minutes, the same
# day, at most RETRY_ATTEMPTS times.
RETRY_FIRST = dt.timedelta(minutes=2)
RETRY_LONGEST = dt.timedelta(minutes=30)
RETRY_ATTEMPTS = 10
# At start-up: the database is tried STARTUP_ATTEMPTS times, waiting 2, 4, 8… seconds between.
STARTUP_ATTEMPTS = 5
STARTUP_FIRST_WAIT = 2.0
STARTUP_LONGEST_WAIT = 30.0

# Slack errors that no retry will mend: the token itself is refused.
_TOKEN_REFUSED = {"invalid_auth", "not_authed", "account_inactive", "token_revoked"}

_T = TypeVar("_T")


class DatabaseUnreachable(Exception):
    """The database did not answer at start-up; the message is one French line."""


def _delay_text(delay: dt.timedelta) -> str:
    seconds = delay.total_seconds()
    if seconds >= 60:
        return f"{math.ceil(seconds / 60)} min"
    return f"{max(1, math.ceil(seconds))} s"


def retry_delay(attempt: int) -> dt.timedelta:
    """The wait before retry number `attempt` + 1 (the first retry is attempt 0)."""
    return min(RETRY_FIRST * (1 << attempt), RETRY_LONGEST)


def run_digest_if_working_day(
    settings: Settings,
    factory: sessionmaker[Session],
    client: WebClient,
    scheduler: BaseScheduler | None = None,
    *,
    day: dt.date | None = None,
    attempt: int = 0,
) -> None:
    """The scheduled job: today's digest on a working day. An outage is logged in one line and,
    given the `scheduler`, the run is tried again later the same day."""
    day = day or settings.today()
    if not is_working_day(day):
        log.info("Pas de récapitulatif le %s : jour non ouvré", day.strftime("%d/%m/%Y"))
        return
    label = f"Récapitulatif du {day.strftime('%d/%m')}"
    try:
        report = digest.run(
            factory=factory, client=client, today=day, managers_channel=settings.managers_channel
        )
    except Exception as exc:
        reason = outage(exc)
        if reason is None:
            raise
        if isinstance(exc, SlackApiError) and exc.response.get("error") in _TOKEN_REFUSED:
            log.error("%s non envoyé : %s ; vérifiez SLACK_BOT_TOKEN", label, reason)
            return
        _retry(settings, factory, client, scheduler, day, attempt, f"{label} non envoyé : {reason}")
        return
    if report.failed:
        done = f"{plural(len(report.sent), 'envoyé')}, {len(report.failed)} en échec côté Slack"
        _retry(settings, factory, client, scheduler, day, attempt, f"{label} : {done}")
        return
    log.info(
        "%s : %s, %s, %d sans compte Slack",
        label,
        plural(len(report.sent), "envoyé"),
        plural(len(report.skipped), "sans objet ou déjà envoyé", "sans objet ou déjà envoyés"),
        len(report.no_slack),
    )


def send_due_reminders(
    settings: Settings, factory: sessionmaker[Session], client: WebClient
) -> None:
    """Every minute: the callback reminders due now (jobs/reminders.py). An outage is one line;
    the next minute tries again (each reminder stays due until its callback time)."""
    try:
        report = reminders.run(factory=factory, client=client, now=settings.now())
    except Exception as exc:
        reason = outage(exc)
        if reason is None:
            raise
        log.warning("Rappels non envoyés : %s ; nouvel essai dans une minute", reason)
        return
    if report.sent:
        log.info("%s", plural(len(report.sent), "rappel envoyé", "rappels envoyés"))


def deliver_outbox(settings: Settings, factory: sessionmaker[Session], client: WebClient) -> None:
    """Every few seconds: the sends due in the outbox (jobs/outbox.py), each once."""
    report = outbox.run(settings=settings, factory=factory, client=client)
    if report is not None and (report.done or report.uncertain):
        log.info(
            "Envois : %s, %s, %d en échec, %d à reprendre, %s",
            plural(len(report.sent), "accepté"),
            plural(len(report.simulated), "simulé"),
            len(report.failed),
            len(report.retry_later),
            plural(len(report.uncertain), "incertain"),
        )


def send_weekly_summary(
    settings: Settings, factory: sessionmaker[Session], client: WebClient
) -> None:
    """Each working day at the digest's time: the managers' weekly stats summary, sent on the
    week's first working day the job runs (jobs/weekly.py), once. An outage is one line; the
    next working day finishes what is missing."""
    try:
        result = weekly.run(
            factory=factory,
            client=client,
            today=settings.today(),
            managers_channel=settings.managers_channel,
        )
    except Exception as exc:
        reason = outage(exc)
        if reason is None:
            raise
        log.warning("Récapitulatif hebdomadaire non envoyé : %s ; nouvel essai demain", reason)
        return
    if result is weekly.Outcome.SENT:
        log.info("Récapitulatif hebdomadaire envoyé aux managers")


def _retry(
    settings: Settings,
    factory: sessionmaker[Session],
    client: WebClient,
    scheduler: BaseScheduler | None,
    day: dt.date,
    attempt: int,
    message: str,
    *,
    wait: dt.timedelta | None = None,
) -> None:
    """Log `message` with when the next try is, and schedule it (the same day only)."""
    wait = wait or retry_delay(attempt)
    at = settings.now() + wait
    if scheduler is None or attempt + 1 >= RETRY_ATTEMPTS or at.date() != day:
        log.error("%s ; plus d'essai aujourd'hui : relancez-le avec « m3 digest »", message)
        return
    log.warning("%s, nouvel essai dans %s", message, _delay_text(wait))
    scheduler.add_job(
        run_digest_if_working_day,
        DateTrigger(run_date=dt.datetime.now(settings.zone) + wait),
        args=(settings, factory, client, scheduler),
        kwargs={"day": day, "attempt": attempt + 1},
        id=RETRY_JOB_ID,
        replace_existing=True,
        misfire_grace_time=MISFIRE_GRACE,
    )


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
        args=(settings, factory, client, scheduler),
        id=DIGEST_JOB_ID,
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=MISFIRE_GRACE,
        max_instances=1,
    )
    scheduler.add_job(
        send_due_reminders,
        IntervalTrigger(minutes=1, timezone=settings.zone),
        args=(settings, factory, client),
        id=REMINDERS_JOB_ID,
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=60,
        max_instances=1,
    )
    scheduler.add_job(
        deliver_outbox,
        IntervalTrigger(seconds=OUTBOX_EVERY.total_seconds(), timezone=settings.zone),
        args=(settings, factory, client),
        id=OUTBOX_JOB_ID,
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=60,
        max_instances=1,
    )
    scheduler.add_job(
        send_weekly_summary,
        CronTrigger(day_of_week="mon-fri", hour=hour, minute=minute, timezone=settings.zone),
        args=(settings, factory, client),
        id=WEEKLY_JOB_ID,
        replace_existing=True,
        coalesce=True,
        misfire_grace_time=MISFIRE_GRACE,
        max_instances=1,
    )
    if missed_today(settings, factory, settings.now()):
        scheduler.add_job(
            run_digest_if_working_day,
            args=(settings, factory, client, scheduler),
            id=f"{DIGEST_JOB_ID}-catch-up",
            replace_existing=True,
        )
    return scheduler


def reach_database(start: Callable[[], _T], *, attempts: int | None = None) -> _T:
    """Run the start-up step `start` (it opens the database), trying again while the database
    is unreachable: one French line per failed try, then `DatabaseUnreachable`."""
    attempts = attempts or STARTUP_ATTEMPTS

    def tell(state: RetryCallState) -> None:
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "Base de données injoignable (essai %d/%d), nouvel essai dans %s",
            state.attempt_number,
            attempts,
            _delay_text(dt.timedelta(seconds=wait)),
        )

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=STARTUP_FIRST_WAIT, max=STARTUP_LONGEST_WAIT),
        retry=retry_if_exception(is_database_outage),
        before_sleep=tell,
        reraise=True,
    )
    try:
        return retrying(start)
    except DBAPIError as exc:
        if not is_database_outage(exc):
            raise
        cause = database_cause(exc)
        raise DatabaseUnreachable(
            f"base de données injoignable après {attempts} essais ({cause}) : vérifiez "
            "DATABASE_URL et que le serveur de base de données est démarré"
        ) from None

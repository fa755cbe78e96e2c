"""Callback reminders: a DM to the advisor about ten minutes before a callback agreed with a
client (« Rappel demandé »), once, and not when the case was closed or reported on since.

Exactly once, as the digest: a `reminder` row, unique per attempt and kind, is claimed and
committed before the DM is posted, then marked sent. A claim left by a crashed runner is taken
over after `STALE_CLAIM`. The job runs every minute (jobs/schedule.py); a reminder whose time
passed while the process was down still goes out until the callback time itself.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks.capture import open_button
from bot.blocks.common import section, texts
from bot.calls import CALLBACK_REMINDER_LEAD, Outcome
from bot.cases.queries import list_cases
from bot.models import Advisor, Attempt, Case, Reminder, ReminderKind, ReminderStatus, utcnow
from bot.rules import CaseState
from bot.slack import link_advisor, save_link

log = logging.getLogger(__name__)
STALE_CLAIM = dt.timedelta(minutes=5)


@dataclass
class ReminderReport:
    sent: list[int] = field(default_factory=list)  # attempt ids
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def _due(session: Session, now: dt.datetime) -> list[Attempt]:
    """Callbacks whose reminder time has come and whose time has not passed."""
    utc = now.astimezone(dt.UTC)
    return list(
        session.scalars(
            select(Attempt).where(
                Attempt.outcome == Outcome.CALLBACK.value,
                Attempt.callback_at.is_not(None),
                Attempt.callback_at > utc,
                Attempt.callback_at <= utc + CALLBACK_REMINDER_LEAD,
            )
        )
    )


def _still_wanted(session: Session, attempt: Attempt, today: dt.date) -> bool:
    """The case is still open or late, and this callback is its latest attempt."""
    latest = session.scalar(
        select(Attempt.id)
        .where(Attempt.case_id == attempt.case_id)
        .order_by(Attempt.at.desc(), Attempt.id.desc())
        .limit(1)
    )
    case = session.get(Case, attempt.case_id)
    if latest != attempt.id or case is None:
        return False
    return case.state(today) in (CaseState.OPEN, CaseState.LATE)


def _claim(factory: sessionmaker[Session], attempt: Attempt) -> int | None:
    try:
        with factory.begin() as session:
            reminder = Reminder(
                attempt_id=attempt.id,
                kind=ReminderKind.CALLBACK.value,
                advisor_id=attempt.advisor_id,
            )
            session.add(reminder)
            session.flush()
            return reminder.id
    except IntegrityError:
        pass
    with factory.begin() as session:
        return session.scalar(
            update(Reminder)
            .where(
                Reminder.attempt_id == attempt.id,
                Reminder.status == ReminderStatus.CLAIMED.value,
                Reminder.claimed_at < utcnow() - STALE_CLAIM,
            )
            .values(claimed_at=utcnow())
            .returning(Reminder.id)
        )


def _finish(factory: sessionmaker[Session], reminder_id: int, **values: object) -> None:
    with factory.begin() as session:
        session.execute(update(Reminder).where(Reminder.id == reminder_id).values(**values))


def run(*, factory: sessionmaker[Session], client: WebClient, now: dt.datetime) -> ReminderReport:
    """Send the reminders due at `now` (zone-aware, the agency's zone)."""
    report = ReminderReport()
    today = now.date()
    with factory() as session:
        due = [a for a in _due(session, now) if _still_wanted(session, a, today)]
    for attempt in due:
        reminder_id = _claim(factory, attempt)
        if reminder_id is None:
            continue
        with factory() as session:
            advisor = session.get(Advisor, attempt.advisor_id)
            (case,) = list_cases(session, today=today, case_id=attempt.case_id)
        assert advisor is not None
        try:
            if advisor.slack_dm_channel is None:
                if not link_advisor(client, advisor):
                    _finish(factory, reminder_id, status=ReminderStatus.SKIPPED.value)
                    report.skipped.append(attempt.id)
                    continue
                with factory.begin() as session:
                    save_link(session, advisor)
            callback_at = attempt.callback_at
            assert callback_at is not None
            at = (
                callback_at if callback_at.tzinfo else callback_at.replace(tzinfo=dt.UTC)
            ).astimezone(now.tzinfo)
            text = str(texts().callback_reminder(case, at)).strip()
            response = client.chat_postMessage(
                channel=str(advisor.slack_dm_channel),
                text=text,
                blocks=[section(text, accessory=open_button(case.id))],
            )
        except SlackApiError as exc:
            log.error("rappel %s non envoyé : %s", attempt.id, exc.response.get("error"))
            # Let the next run (a minute later) try again, before the callback time.
            _finish(factory, reminder_id, claimed_at=utcnow() - STALE_CLAIM)
            report.failed.append(attempt.id)
            continue
        _finish(
            factory,
            reminder_id,
            status=ReminderStatus.SENT.value,
            sent_at=utcnow(),
            channel=response.get("channel"),
            message_ts=response.get("ts"),
        )
        report.sent.append(attempt.id)
    return report

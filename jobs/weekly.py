"""The managers' weekly summary: on the first working day of each week, at the digest's time,
the stats of the week before (the cases whose window opened Monday to Sunday, as they stand
today) per branch and advisor — no client named — and the chart, in `M3_MANAGERS_CHANNEL`.

Exactly once a week, as the digest does: the week's `weekly_summary` row is claimed (an INSERT
only one runner can win, committed) before anything is posted; the message's `ts` is recorded
once posted, then the chart's file id, then the row is marked sent. A run that failed halfway
releases its claim and the next run (the next working day's, at the latest) finishes only what
is missing; a claim left by a crashed runner is taken over after `STALE_CLAIM`. A week whose
Monday is a holiday, or whose run was missed, is sent on its first working day the scheduler
runs."""

from __future__ import annotations

import datetime as dt
import enum
import logging

from slack_sdk import WebClient
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks.stats import say, stats_message, words
from bot.models import DigestStatus, WeeklySummary, utcnow
from bot.rules import is_working_day
from bot.stats import Report, compute, week_of

log = logging.getLogger(__name__)
STALE_CLAIM = dt.timedelta(minutes=15)


class Outcome(enum.StrEnum):
    SENT = "sent"
    ALREADY = "already"  # sent, or another runner is sending it
    NO_CHANNEL = "no_channel"
    NOT_A_WORKING_DAY = "not_a_working_day"


def _claim(factory: sessionmaker[Session], week: dt.date) -> int | None:
    try:
        with factory.begin() as session:
            row = WeeklySummary(week_start=week)
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        pass
    with factory.begin() as session:
        return session.scalar(
            update(WeeklySummary)
            .where(
                WeeklySummary.week_start == week,
                WeeklySummary.status == DigestStatus.CLAIMED.value,
                WeeklySummary.claimed_at < utcnow() - STALE_CLAIM,
            )
            .values(claimed_at=utcnow())
            .returning(WeeklySummary.id)
        )


def _record(factory: sessionmaker[Session], row_id: int, **values: object) -> None:
    with factory.begin() as session:
        session.execute(update(WeeklySummary).where(WeeklySummary.id == row_id).values(**values))


def run(
    *,
    factory: sessionmaker[Session],
    client: WebClient,
    today: dt.date,
    managers_channel: str | None,
) -> Outcome:
    if not managers_channel:
        return Outcome.NO_CHANNEL
    if not is_working_day(today):
        return Outcome.NOT_A_WORKING_DAY
    week = week_of(today).start
    row_id = _claim(factory, week)
    if row_id is None:
        return Outcome.ALREADY
    try:
        with factory() as session:
            row = session.scalars(select(WeeklySummary).where(WeeklySummary.id == row_id)).one()
            report = compute(session, period=week_of(week - dt.timedelta(days=7)), today=today)
        if row.message_ts is None:
            response = client.chat_postMessage(
                channel=managers_channel, **stats_message(report, weekly=True)
            )
            _record(factory, row_id, channel=response.get("channel"), message_ts=response["ts"])
        if row.file_id is None and report.total.measures.get("opened", 0):
            _record(factory, row_id, file_id=_upload_chart(client, managers_channel, report))
    except Exception:
        # Let the next run finish what is missing at once, not after STALE_CLAIM.
        _record(factory, row_id, claimed_at=utcnow() - STALE_CLAIM - dt.timedelta(seconds=1))
        raise
    _record(factory, row_id, status=DigestStatus.SENT.value, sent_at=utcnow())
    return Outcome.SENT


def _upload_chart(client: WebClient, channel: str, report: Report) -> str:
    from bot.charts import render_png

    stem = say(words().file_stem(report))
    response = client.files_upload_v2(
        channel=channel,
        file=render_png(report, title=say(words().chart_weekly_title(report))),
        filename=f"{stem}.png",
        title=say(words().chart_comment(report)),
    )
    return str(response["file"]["id"])

"""The morning digest: one DM per advisor with their new, à traiter and en retard M+3s, and a
summary for the managers (totals per branch and per advisor, windows closing today; the cases of
an absent advisor, or of one who left the agency, are named with « Je le prends » so that
someone calls them).

Exactly once: each advisor's digest of a day is a `digest` row, unique on (advisor, day). A
runner first *claims* the row (an INSERT that only one runner can win, committed before
anything is posted), then posts, then marks it sent. Two runners at the same moment post one
DM per advisor; a run that crashed resends only the digests not marked sent. A claim left by a
crashed runner is taken over after `STALE_CLAIM` (the only window where a crash between the
post and its record could repeat a DM).

This job needs its own transactions (the claim must be committed before the post), so it takes
the session factory, not a session. No Slack call is made inside a transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks.common import texts
from bot.blocks.digest import digest_message
from bot.blocks.managers import managers_summary
from bot.cases.queries import Queue, queues_for
from bot.models import Advisor, Digest, DigestRun, DigestStatus, utcnow
from bot.rules import previous_working_day
from bot.slack import link_advisor, save_link
from bot.team import TeamQueue, departed_queues, team_queue

log = logging.getLogger(__name__)
STALE_CLAIM = dt.timedelta(minutes=15)


@dataclass
class DigestReport:
    day: dt.date
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    no_slack: list[str] = field(default_factory=list)
    previews: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    summary: dict[str, Any] | None = None  # the managers' summary (dry run only)


def previous_digest_day(session: Session, today: dt.date) -> dt.date:
    """The day of the last digest run before today, or the previous working day.

    After a weekend, a holiday or an outage, the windows opened meanwhile are all "new".
    """
    last = session.scalar(
        select(DigestRun.run_date)
        .where(DigestRun.run_date < today)
        .order_by(DigestRun.run_date.desc())
        .limit(1)
    )
    return last if last is not None else previous_working_day(today)


def _claim(factory: sessionmaker[Session], advisor_id: int, today: dt.date) -> int | None:
    """Take the advisor's digest of the day; None when it is someone else's or done."""
    try:
        with factory.begin() as session:
            digest = Digest(advisor_id=advisor_id, digest_date=today)
            session.add(digest)
            session.flush()
            return digest.id
    except IntegrityError:
        pass
    with factory.begin() as session:
        stale = utcnow() - STALE_CLAIM
        digest_id = session.scalar(
            update(Digest)
            .where(
                Digest.advisor_id == advisor_id,
                Digest.digest_date == today,
                Digest.status == DigestStatus.CLAIMED.value,
                Digest.claimed_at < stale,
            )
            .values(claimed_at=utcnow())
            .returning(Digest.id)
        )
        return digest_id


def _finish(
    factory: sessionmaker[Session], digest_id: int, status: DigestStatus, **values: Any
) -> None:
    with factory.begin() as session:
        session.execute(
            update(Digest).where(Digest.id == digest_id).values(status=status.value, **values)
        )


def run(
    *,
    factory: sessionmaker[Session],
    client: WebClient | None,
    today: dt.date,
    managers_channel: str | None = None,
    dry_run: bool = False,
) -> DigestReport:
    """Post the day's digests. `dry_run` posts nothing and records nothing."""
    report = DigestReport(day=today)
    # Cases are kept in step by each import; their states are computed for `today` on read.
    with factory() as session:
        since = previous_digest_day(session, today)
        queues = queues_for(session, today=today, since=since)
        # Advisors who left keep their cases until an export gives the clients to someone else:
        # no DM for them, but the managers see those cases.
        team = team_queue([*queues, *departed_queues(session, today=today, since=since)], today)
    if dry_run:
        for queue in queues:
            if not queue.empty and not queue.advisor.absent_on(today):
                report.previews.append((queue.advisor.email, digest_message(queue)))
        if not team.empty:
            report.summary = managers_summary(team)
        return report
    assert client is not None
    for queue in queues:
        _post_one(factory, client, queue, today, report, managers_channel)
    _post_summary(factory, client, team, today, managers_channel)
    return report


def _post_one(
    factory: sessionmaker[Session],
    client: WebClient,
    queue: Queue,
    today: dt.date,
    report: DigestReport,
    managers_channel: str | None,
) -> None:
    advisor = queue.advisor
    if queue.empty or advisor.absent_on(today):
        report.skipped.append(advisor.email)
        return
    digest_id = _claim(factory, advisor.id, today)
    if digest_id is None:
        report.skipped.append(advisor.email)
        return
    try:
        if advisor.slack_dm_channel is None:
            if link_advisor(client, advisor):
                with factory.begin() as session:
                    save_link(session, advisor)
            else:
                _report_missing_account(factory, client, advisor, today, managers_channel)
        channel = advisor.slack_dm_channel
        if channel is None:
            _finish(factory, digest_id, DigestStatus.SKIPPED, reason="no_slack_account")
            report.no_slack.append(advisor.email)
            return
        message = digest_message(queue)
        response = client.chat_postMessage(channel=channel, **message)
    except (SlackClientError, OSError) as exc:
        # Release the claim at once: the next run (the scheduler's retry) resends this one only.
        reason = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
        log.error("Récapitulatif de %s non envoyé : %s", advisor.email, reason)
        with factory.begin() as session:
            session.execute(
                update(Digest)
                .where(Digest.id == digest_id)
                .values(claimed_at=utcnow() - STALE_CLAIM - dt.timedelta(seconds=1))
            )
        report.failed.append(advisor.email)
        return
    _finish(
        factory,
        digest_id,
        DigestStatus.SENT,
        sent_at=utcnow(),
        channel=response.get("channel"),
        message_ts=response.get("ts"),
        case_ids=[c.id for c in queue.new + queue.to_handle + queue.late],
    )
    report.sent.append(advisor.email)


def _report_missing_account(
    factory: sessionmaker[Session],
    client: WebClient,
    advisor: Advisor,
    today: dt.date,
    managers_channel: str | None,
) -> None:
    """Tell the managers once (not every day) that an advisor has no Slack account."""
    if advisor.slack_missing_reported_on is not None or not managers_channel:
        return
    client.chat_postMessage(channel=managers_channel, text=str(texts().no_slack_account(advisor)))
    with factory.begin() as session:
        session.execute(
            update(Advisor).where(Advisor.id == advisor.id).values(slack_missing_reported_on=today)
        )


def _post_summary(
    factory: sessionmaker[Session],
    client: WebClient,
    team: TeamQueue,
    today: dt.date,
    managers_channel: str | None,
) -> None:
    """The day's run record and, once, the managers' summary."""
    try:
        with factory.begin() as session:
            session.add(DigestRun(run_date=today))
    except IntegrityError:
        pass
    if not managers_channel or team.empty:
        return
    with factory.begin() as session:
        claimed = session.scalar(
            update(DigestRun)
            .where(DigestRun.run_date == today, DigestRun.summary_ts.is_(None))
            .values(summary_ts="posting")
            .returning(DigestRun.id)
        )
    if claimed is None:
        return
    try:
        response = client.chat_postMessage(channel=managers_channel, **managers_summary(team))
    except SlackApiError:
        with factory.begin() as session:
            session.execute(
                update(DigestRun).where(DigestRun.id == claimed).values(summary_ts=None)
            )
        raise
    with factory.begin() as session:
        session.execute(
            update(DigestRun)
            .where(DigestRun.id == claimed)
            .values(summary_ts=response.get("ts"), finished_at=utcnow())
        )

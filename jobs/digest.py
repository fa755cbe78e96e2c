"""The morning digest: one DM per advisor with their new, à traiter and en retard M+3s, and a
summary for the managers (totals per branch and per advisor, windows closing today; the cases of
an absent advisor, or of one who left the agency, are named with « Je le prends » so that
someone calls them).

Exactly once, through the outbox (`bot.outbox`, the one way to send anything): each advisor's
digest of a day is an `outbox` row (channel `slack`, purpose `digest`, key
`digest:{advisor}:{day}`, unique), its text and blocks frozen in the row. The run queues the row
(a second run, or a second runner, hits the unique key: one row) and delivers it at once with
`deliver_now`, the outbox's own claim (committed before Slack is called: two runners never both
post it), send and record. A post that fails puts the row back in the queue: the next digest run
sends it at once, the outbox worker at its next round, that one only, until `DIGEST_LIFETIME`
after it was queued (then it fails as `expired`: never posted the next day). An advisor Slack
does not know fails the row for good (`no_slack_account`): the managers are told once, and the
next day tries again. The one crash window is the outbox's: a process killed between Slack's
answer and the record leaves the row `sending`. Once its lease is over, the worker asks Slack:
every post carries the row in its message metadata, and the DM's recent history says whether
it was posted (the row is then `sent`) or not (it is posted now, unless it expired). Only when
Slack cannot be asked (no `im:history` scope, Slack down) does the row stay `uncertain`, never
posted again blindly (a warning logged; `m3 outbox` lists it, `/m3 digest` resends it by hand).

The `digest` row stays as the day's record of what was sent (or skipped for want of a Slack
account): written after the outcome, it no longer decides anything.

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
from bot.models import Advisor, Digest, DigestRun, DigestStatus, Outbox, OutboxStatus, utcnow
from bot.outbox import Transports, deliver_now, enqueue, slack_transports
from bot.rendering import de, macros
from bot.rules import previous_working_day
from bot.team import TeamQueue, departed_queues, team_queue

log = logging.getLogger(__name__)
# A digest not posted within this time after it was queued is dropped (never the next day).
DIGEST_LIFETIME = dt.timedelta(hours=12)
DIGEST_MAX_ROUNDS = 30  # the outbox's rounds are at most an hour apart: the lifetime decides
# How long the scheduler waits before a retry when a run was interrupted (jobs/schedule.py).


@dataclass
class DigestReport:
    day: dt.date
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    no_slack: list[str] = field(default_factory=list)
    previews: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    preview_queues: list[Queue] = field(default_factory=list)  # (dry run only)
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
                report.preview_queues.append(queue)
        if not team.empty:
            report.summary = managers_summary(team)
        return report
    assert client is not None
    transports = slack_transports(client)
    for queue in queues:
        _post_one(factory, client, transports, queue, today, report, managers_channel)
    _post_summary(factory, client, team, today, managers_channel)
    return report


def _queue_digest(
    factory: sessionmaker[Session], queue: Queue, today: dt.date, now: dt.datetime
) -> int | None:
    """The advisor's digest row of the day, queued now unless it exists; its id while it waits
    to be sent (new, or put back by a failed post), None once sent, failed or being sent."""
    advisor = queue.advisor
    message = digest_message(queue)
    key = f"digest:{advisor.id}:{today.isoformat()}"
    with factory.begin() as session:
        row = enqueue(
            session,
            Outbox(
                key=key,
                channel="slack",
                purpose="digest",
                advisor_id=advisor.id,
                recipient=advisor.slack_dm_channel or f"advisor:{advisor.id}",
                body=message["text"],
                payload={
                    "blocks": message["blocks"],
                    # Tried until it expires, never the next day (see bot.outbox).
                    "expires_at": (now + DIGEST_LIFETIME).isoformat(),
                    "max_rounds": DIGEST_MAX_ROUNDS,
                },
                created_at=now,
                not_before=now,
                next_attempt_at=now,
            ),
        )
        if row is not None:
            return row.id
        existing = session.execute(
            select(Outbox.id, Outbox.status).where(Outbox.key == key)
        ).one_or_none()
    if existing is None or existing.status != OutboxStatus.QUEUED.value:
        return None
    return int(existing.id)


def _post_one(
    factory: sessionmaker[Session],
    client: WebClient,
    transports: Transports,
    queue: Queue,
    today: dt.date,
    report: DigestReport,
    managers_channel: str | None,
) -> None:
    advisor = queue.advisor
    if queue.empty or advisor.absent_on(today):
        report.skipped.append(advisor.email)
        return
    now = utcnow()
    row_id = _queue_digest(factory, queue, today, now)
    if row_id is None:
        report.skipped.append(advisor.email)  # sent already, or being sent by another runner
        return
    # The Slack client retries 429, 5xx and connection errors itself: one call here.
    delivery = deliver_now(factory, transports, [row_id], now=now, tries=1, quiet=True)
    with factory() as session:
        row = session.get_one(Outbox, row_id)
        status, error, ts = row.status, row.error, row.provider_message_id
        channel = session.scalar(select(Advisor.slack_dm_channel).where(Advisor.id == advisor.id))
    if row_id in delivery.sent:
        _record_day(
            factory,
            advisor.id,
            today,
            DigestStatus.SENT,
            sent_at=utcnow(),
            channel=channel,
            message_ts=ts,
            case_ids=[c.id for c in queue.new + queue.to_handle + queue.late],
        )
        report.sent.append(advisor.email)
    elif row_id in delivery.failed and error == "no_slack_account":
        _report_missing_account(factory, client, advisor, today, managers_channel)
        _record_day(factory, advisor.id, today, DigestStatus.SKIPPED, reason="no_slack_account")
        report.no_slack.append(advisor.email)
    elif row_id in delivery.failed or row_id in delivery.retry_later:
        # Put back in the queue (retry_later): the next run, or the worker, resends this one only.
        log.error(
            "Récapitulatif %s non envoyé (%s)\u00a0: %s",
            de(advisor.email),
            macros("slack/card.j2").reason(error, "slack"),
            "remis en file pour un nouvel essai"
            if status == OutboxStatus.QUEUED.value
            else "abandonné",
        )
        report.failed.append(advisor.email)
    else:
        report.skipped.append(advisor.email)  # another runner claimed it first


def _record_day(
    factory: sessionmaker[Session],
    advisor_id: int,
    today: dt.date,
    status: DigestStatus,
    **values: Any,
) -> None:
    """The day's record of the advisor's digest (the outbox row decides; this one tells)."""
    try:
        with factory.begin() as session:
            session.add(
                Digest(advisor_id=advisor_id, digest_date=today, status=status.value, **values)
            )
    except IntegrityError:
        pass


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
    try:
        client.chat_postMessage(
            channel=managers_channel, text=str(texts().no_slack_account(advisor))
        )
    except (SlackClientError, OSError) as exc:
        log.error("Compte Slack manquant de %s non signalé : %r", advisor.email, exc)
        return
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

"""The outbox: one way to send anything (the contact card's SMS and e-mail, the advisor's DMs
about them, the morning digest's DMs), exactly once.

**Queueing.** Every send is an `outbox` row whose unique `key` says what it is (the card: case
+ channel + card version; a notice: the row it is about). Queueing the same thing twice (a
double click, Slack's retry, two processes) hits the unique index: one row.

**Delivering** (`deliver_due`, run by the worker in `m3 clock` and `m3 run`, never in
`m3 web`, and by `m3 outbox --deliver`; `deliver_now` sends given rows at once, as the morning
digest does with the DMs it has just queued). For each row due (`next_attempt_at` and `not_before`
passed):
1. *claim*: one UPDATE from `queued` to `sending` with a claim token, committed before the
   provider is called — two workers never both get the row;
2. the client's objection is checked again (a row queued before it is cancelled);
3. the provider is called, transient errors (429 with its `Retry-After`, 5xx, a refused
   connection) retried a few times in place with exponential backoff and jitter (tenacity);
4. the answer is recorded in one transaction with what follows from it: the row `sent`
   (provider, message id), the card's tag, and the advisor's notice queued as another row.
A row still failing goes back to `queued` for a later round (exponential backoff with jitter,
up to `MAX_ROUNDS` rounds, or the row's own `max_rounds`), then fails for good, as does a row
whose payload's `expires_at` has passed (a morning digest is never posted the next day); a
permanent error (an invalid number, an address the server refuses) fails at once. A failed row
is kept, with its reason.

**A crash between the provider's answer and the commit** (the process killed, the database
gone at that instant): the row stays `sending`. Once its claim is older than `LEASE`, the next
worker marks it `uncertain` and does **not** send it again: the provider may well have taken
it, and a second SMS to a client is the worse error. So the guarantee is *at most once* on
that window, and *nothing lost silently*: the row is listed by `m3 outbox` as « incertain »,
the advisor is told (for a card), and a delivery receipt (Twilio's status callback, Brevo's
webhook, which carry the row's reference) turns it `sent` (or `failed`) when it arrives. The
same holds when a request left and no answer came back (a provider that hangs past the
timeout). Everywhere else: exactly once.

**A Slack DM (the morning digest, a notice) is settled by asking Slack**, so that it is
exactly once too. Every Slack row is posted with message metadata (`chat.postMessage`'s
`metadata`: `event_type` `SLACK_EVENT_TYPE`, `event_payload` the row's id and key, nothing
personal). When its lease is over, the DM's history is read (`conversations.history` with
`include_all_metadata`, from a minute before the claim to a minute after the lease, 15
messages a page): the message found, the row is `sent` with its `ts`, as if the answer had
been recorded; not found, it was not posted, and the row goes back to `queued` and is sent at
once, unless its `expires_at` has passed (then it fails as `expired`). When Slack cannot be
asked (no `im:history` scope: Slack answers `missing_scope`; an error; no Slack client in this
process), the row is `uncertain` as above, the reason logged. The same history settles a post
whose answer was lost (a server error, a broken connection, a timeout: the request may have
reached Slack): before the client tries it again, and before the row goes back to the queue,
the message found there is the answer, and nothing is posted twice.

The race with a worker that is not dead but slow: its post must be over before the lease
is. The Slack client's timeout is 30 s (slack_sdk's `WebClient` default, which
`bot.slack.make_web_client` keeps), but its retry handlers (connection errors, 5xx, 429 with
`Retry-After`) could stretch one call over minutes; so a Slack row's post starts no retry, and
no request, later than `SLACK_LAST_TRY` (45 s) after its claim, and waits at most
`SLACK_TIMEOUT` for each answer: whatever that worker does is over 75 s after the claim, long
before the lease (2 min) lets anyone read the history. The claim's time is the real moment of
the claim (a long worker pass does not make a fresh claim look old).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bot.card import apply_card_tag
from bot.mail import MailMessage, message_id
from bot.models import Advisor, AuditEntry, Client, Outbox, OutboxStatus
from bot.settings import Settings
from bot.sms import Accepted, SendFailure, SmsBackend, SmsMessage, mask_email, mask_phone

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)  # longer than any provider call (timeouts of 10–15 s, 3 tries)
MAX_ROUNDS = 5  # worker rounds before a row fails for good
TRIES_PER_ROUND = 3  # calls within one round (429 and 5xx retried in place)
ROUND_FIRST = dt.timedelta(seconds=30)
ROUND_LONGEST = dt.timedelta(hours=1)
LONGEST_IN_PLACE_WAIT = 30.0  # seconds: a longer Retry-After waits for the next round

# Slack rows (see the module docstring): the metadata each post carries, how long after its
# claim a post may still start a request, and how the DM's history is read after a crash.
SLACK_EVENT_TYPE = "m3_outbox_message_posted"
SLACK_TIMEOUT = 30  # seconds for one answer: slack_sdk's WebClient default
SLACK_LAST_TRY = dt.timedelta(seconds=45)  # + SLACK_TIMEOUT, well within LEASE
SLACK_CLOCK_SKEW = dt.timedelta(minutes=1)  # our clock against the `ts` of Slack's messages
HISTORY_PAGE = 15  # conversations.history's largest page for apps distributed outside the
# Marketplace (which Slack also holds to 1 call a minute; an internal app has Tier 3)
HISTORY_PAGES = 5


class Mailer(Protocol):
    name: str

    def send(self, message: MailMessage) -> Accepted: ...


@dataclass
class Transports:
    """How each channel leaves: the SMS backend, the mailer, Slack; `callback_url` gives the
    receipts URL of a row (None: no receipt asked); `sleep` waits between tries."""

    sms: SmsBackend
    mail: Mailer
    slack: WebClient | None = None
    callback_url: Callable[[Outbox], str | None] = lambda _row: None
    sleep: Callable[[float], None] = time.sleep
    mail_sender: str = "m3@localhost"


class _Unavailable:
    """A channel this process does not send through (see `slack_transports`)."""

    name = "none"

    def send(self, message: object) -> Accepted:
        raise SendFailure("no_transport", "channel not available here", permanent=True)


def slack_transports(client: WebClient) -> Transports:
    """Transports for Slack rows only (the morning digest's DMs): the Slack client retries
    429, 5xx and connection errors by itself; an SMS or e-mail row is not sent from here."""
    return Transports(sms=_Unavailable(), mail=_Unavailable(), slack=client)


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    simulated: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    retry_later: list[int] = field(default_factory=list)
    uncertain: list[int] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    calls: int = 0

    @property
    def done(self) -> int:
        return len(self.sent) + len(self.simulated) + len(self.failed) + len(self.cancelled)


def _utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC)


def _aware(at: dt.datetime | None) -> dt.datetime | None:
    """SQLite gives naive datetimes back (stored in UTC)."""
    if at is None:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _audit(row_id: int, name: str, old: object, new: object) -> AuditEntry:
    return AuditEntry(
        actor="m3 outbox",
        entity="outbox",
        entity_key=str(row_id),
        field=name,
        old_value=None if old is None else str(old),
        new_value=None if new is None else str(new),
    )


def enqueue(session: Session, row: Outbox) -> Outbox | None:
    """Add `row` unless a row with its key exists (then None). Runs in a savepoint, so the
    caller's transaction goes on either way."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


# --- Delivering ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claimed:
    id: int
    key: str
    claim: str
    channel: str
    purpose: str
    attempts: int
    case_id: int | None
    client_id: int | None
    advisor_id: int | None
    recipient: str
    sender: str | None
    subject: str | None
    body: str
    html: str | None
    attachment: bytes | None
    payload: dict[str, Any]
    created_at: dt.datetime
    card_version: str | None
    # `time.monotonic()` after which no Slack request of this claim starts (SLACK_LAST_TRY).
    slack_deadline: float


def _elapsed(now: dt.datetime, started: float) -> dt.datetime:
    """`now` moved on by the time spent since `started` (`time.monotonic()`): the moment of a
    claim made late in a long pass, on the caller's clock (tests fix `now`)."""
    return now + dt.timedelta(seconds=time.monotonic() - started)


def _claim(
    factory: sessionmaker[Session], row_id: int, now: dt.datetime, *, due_only: bool = True
) -> _Claimed | None:
    token = uuid.uuid4().hex
    deadline = time.monotonic() + SLACK_LAST_TRY.total_seconds()
    conditions = [Outbox.id == row_id, Outbox.status == OutboxStatus.QUEUED.value]
    if due_only:
        conditions.append(Outbox.next_attempt_at <= _utc(now))
    with factory.begin() as session:
        claimed = session.scalar(
            update(Outbox)
            .where(*conditions)
            .values(
                status=OutboxStatus.SENDING.value,
                claim=token,
                claimed_at=_utc(now),
                attempts=Outbox.attempts + 1,
            )
            .returning(Outbox.id)
        )
        if claimed is None:
            return None
        row = session.get_one(Outbox, row_id)
        session.refresh(row)
        return _Claimed(
            id=row.id,
            key=row.key,
            claim=token,
            channel=row.channel,
            purpose=row.purpose,
            attempts=row.attempts,
            case_id=row.case_id,
            client_id=row.client_id,
            advisor_id=row.advisor_id,
            recipient=row.recipient,
            sender=row.sender,
            subject=row.subject,
            body=row.body,
            html=row.html,
            attachment=row.attachment,
            payload=dict(row.payload or {}),
            created_at=_aware(row.created_at) or now,
            card_version=row.card_version,
            slack_deadline=deadline,
        )


def _objected(factory: sessionmaker[Session], client_id: int | None) -> bool:
    if client_id is None:
        return False
    with factory() as session:
        return session.scalar(select(Client.objected_on).where(Client.id == client_id)) is not None


def _retryable(exc: BaseException) -> bool:
    return (
        isinstance(exc, SendFailure)
        and not exc.permanent
        and not exc.ambiguous
        and (exc.retry_after is None or exc.retry_after <= LONGEST_IN_PLACE_WAIT)
    )


_backoff = wait_exponential_jitter(max=8.0, jitter=0.5)  # 1 s, 2 s, 4 s… (+ up to 0.5 s)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, SendFailure) and exc.retry_after is not None:
        return min(exc.retry_after, LONGEST_IN_PLACE_WAIT) + random.uniform(0, 0.1)
    return float(_backoff(state))


_SLACK_PERMANENT = {"channel_not_found", "is_archived", "user_not_found", "cannot_dm_bot"}


def _send_once(row: _Claimed, transports: Transports, factory: sessionmaker[Session]) -> Accepted:
    if row.channel == "sms":
        return transports.sms.send(
            SmsMessage(
                to=row.recipient,
                body=row.body,
                sender=row.sender or "",
                reference=row.key,
                status_callback=transports.callback_url(_as_row(row)),
            )
        )
    if row.channel == "email":
        return transports.mail.send(
            MailMessage(
                to=row.recipient,
                subject=row.subject or "",
                text=row.body,
                html=row.html,
                reply_to=row.sender,
                attachment=row.attachment,
                filename=str(row.payload.get("filename") or "contact.vcf"),
                message_id=message_id(transports.mail_sender, row.key),
                date=row.created_at,
            )
        )
    if row.channel == "slack":
        return _post_slack(row, transports, factory)
    raise SendFailure("unknown_channel", row.channel, permanent=True)


def _post_slack(row: _Claimed, transports: Transports, factory: sessionmaker[Session]) -> Accepted:
    from bot.slack import link_advisor, save_link

    client = transports.slack
    if client is None:
        raise SendFailure("no_slack", "no Slack client in this process")
    channel = row.recipient
    try:
        if channel.startswith("advisor:"):
            with factory() as session:
                advisor = session.get(Advisor, int(channel.partition(":")[2]))
            if advisor is None or not link_advisor(client, advisor):
                raise SendFailure("no_slack_account", permanent=True)
            with factory.begin() as session:
                save_link(session, advisor)
            channel = str(advisor.slack_dm_channel)
        if time.monotonic() >= row.slack_deadline:
            # Too late in this claim: the lease could be over before the answer (next round).
            raise SendFailure("unreachable", "no time left before the lease")
        response = _before_deadline(
            client, row.slack_deadline, posted=lambda: _posted_already(factory, client, row)
        ).chat_postMessage(
            channel=channel,
            text=row.body,
            blocks=row.payload.get("blocks") or None,
            metadata=slack_metadata(row.id, row.key),
        )
    except SlackApiError as exc:
        if exc.response.status_code >= 500 and (ts := _posted_already(factory, client, row)):
            return Accepted(provider="slack", message_id=ts)
        error = str(exc.response.get("error"))
        raise SendFailure("slack_error", error, permanent=error in _SLACK_PERMANENT) from None
    except (SlackClientError, OSError) as exc:
        if ts := _posted_already(factory, client, row):
            return Accepted(provider="slack", message_id=ts)
        raise SendFailure("unreachable", type(exc).__name__) from None
    return Accepted(provider="slack", message_id=str(response.get("ts") or "") or None)


def _posted_already(factory: sessionmaker[Session], client: WebClient, row: _Claimed) -> str | None:
    """After a post whose answer was lost (a server error, a broken connection, a timeout: the
    request may have reached Slack), the `ts` of the message if the DM's history has it: the
    post is then not made again. None when it is not there, or Slack cannot tell (the post is
    then tried again, as before such a check existed)."""
    stale = _Stale(
        id=row.id,
        key=row.key,
        claim=None,
        # The post started at most SLACK_LAST_TRY ago: the history is read around now.
        claimed_at=dt.datetime.now(dt.UTC) - SLACK_CLOCK_SKEW,
        recipient=row.recipient,
        payload=row.payload,
    )
    found = _find_in_history(factory, client, stale)
    return found.ts if isinstance(found, _Posted) else None


def slack_metadata(row_id: int, key: str) -> dict[str, Any]:
    """The message metadata of a Slack row's post: what finds it again in the DM's history.
    The key names rows (`digest:{advisor}:{day}`, `notice:…`), never a person."""
    return {
        "event_type": SLACK_EVENT_TYPE,
        "event_payload": {"outbox_id": row_id, "outbox_key": key},
    }


class _BeforeDeadline(RetryHandler):
    """One of the Slack client's retry handlers, that lets no retry start after `deadline`
    (`time.monotonic()`), a 429's `Retry-After` counted; nor, after an answer lost (a server
    error, a broken connection), when `posted()` finds the message already in Slack: the
    request had reached it, and posting again would be a second message."""

    def __init__(
        self, inner: RetryHandler, deadline: float, posted: Callable[[], str | None] | None
    ) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner = inner
        self.deadline = deadline
        self.posted = posted

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if time.monotonic() + _retry_after(response) >= self.deadline:
            return False
        if not self.inner.can_retry(state=state, request=request, response=response, error=error):
            return False
        answer_lost = error is not None or (response is not None and response.status_code >= 500)
        return not (answer_lost and self.posted is not None and self.posted())

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        self.inner.prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )


def _retry_after(response: HttpResponse | None) -> float:
    """The seconds a 429 asks to wait (slack_sdk adds up to 1 s), else 0."""
    for name, values in (response.headers if response is not None else {}).items():
        if name.lower() == "retry-after" and values:
            try:
                return float(values[0]) + 1
            except ValueError:
                return 0.0
    return 0.0


def _before_deadline(
    client: WebClient, deadline: float, posted: Callable[[], str | None] | None = None
) -> WebClient:
    """`client` for one post: each answer waited for `SLACK_TIMEOUT` at most, no retry after
    `deadline`, none after a lost answer when `posted()` finds the message in Slack (the same
    token, URL and settings otherwise)."""
    bounded = copy.copy(client)
    bounded.timeout = min(client.timeout, SLACK_TIMEOUT)
    bounded.retry_handlers = [_BeforeDeadline(h, deadline, posted) for h in client.retry_handlers]
    return bounded


def _as_row(row: _Claimed) -> Outbox:
    return Outbox(id=row.id, key=row.key, channel=row.channel, purpose=row.purpose)


def _attempt(
    row: _Claimed,
    transports: Transports,
    factory: sessionmaker[Session],
    report: DeliveryReport,
    tries: int = TRIES_PER_ROUND,
) -> Accepted | SendFailure:
    def call() -> Accepted:
        report.calls += 1
        return _send_once(row, transports, factory)

    retrying = Retrying(
        stop=stop_after_attempt(tries),
        wait=_wait,
        retry=retry_if_exception(_retryable),
        reraise=True,
        sleep=transports.sleep,
    )
    try:
        return retrying(call)
    except SendFailure as exc:
        return exc


def round_delay(rounds_done: int) -> dt.timedelta:
    """The wait before the next round, after `rounds_done` rounds (with ±20 % jitter)."""
    base: dt.timedelta = min(ROUND_FIRST * (2 ** max(rounds_done - 1, 0)), ROUND_LONGEST)
    return base * random.uniform(0.8, 1.2)


def deliver_due(
    factory: sessionmaker[Session],
    transports: Transports,
    *,
    now: dt.datetime,
    limit: int | None = None,
    channels: Iterable[str] | None = None,
) -> DeliveryReport:
    """Deliver the rows due at `now` (zone-aware), each once. See the module docstring."""
    report = DeliveryReport()
    started = time.monotonic()
    _expire_leases(factory, transports, now=now, report=report)
    query = (
        select(Outbox.id)
        .where(
            Outbox.status == OutboxStatus.QUEUED.value,
            Outbox.next_attempt_at <= _utc(now),
            Outbox.not_before <= _utc(now),
        )
        .order_by(Outbox.next_attempt_at, Outbox.id)
    )
    if channels is not None:
        query = query.where(Outbox.channel.in_(list(channels)))
    if limit is not None:
        query = query.limit(limit)
    with factory() as session:
        due = list(session.scalars(query))
    for row_id in due:
        row = _claim(factory, row_id, _elapsed(now, started))
        if row is not None:  # else another worker has it, or it was cancelled meanwhile
            _deliver(factory, transports, row, now=now, report=report)
    return report


def _deliver(
    factory: sessionmaker[Session],
    transports: Transports,
    row: _Claimed,
    *,
    now: dt.datetime,
    report: DeliveryReport,
    tries: int = TRIES_PER_ROUND,
    quiet: bool = False,
) -> None:
    """A claimed row: checked again, sent, and its outcome recorded."""
    if row.purpose == "card" and _objected(factory, row.client_id):
        _finish(factory, row, OutboxStatus.CANCELLED, now=now, error="objected")
        report.cancelled.append(row.id)
        return
    if _expired(row, now):
        _finish(factory, row, OutboxStatus.FAILED, now=now, error="expired")
        report.failed.append(row.id)
        return
    outcome = _attempt(row, transports, factory, report, tries=tries)
    _record(factory, row, outcome, now=now, report=report, quiet=quiet)


def deliver_now(
    factory: sessionmaker[Session],
    transports: Transports,
    row_ids: Iterable[int],
    *,
    now: dt.datetime,
    tries: int = TRIES_PER_ROUND,
    quiet: bool = False,
) -> DeliveryReport:
    """Deliver the given rows at once, whatever their next try's time, through the same claim,
    send and record as `deliver_due`: a row that another worker holds, or that is no longer
    `queued` (sent, failed, uncertain), is left alone. `tries` calls per row at most (1 when
    the client retries by itself, as the Slack client does). A row that fails goes back to
    `queued` with its next round's time, for the worker or the next call. `quiet`: the caller
    logs the outcomes itself."""
    report = DeliveryReport()
    started = time.monotonic()
    for row_id in row_ids:
        row = _claim(factory, row_id, _elapsed(now, started), due_only=False)
        if row is not None:
            _deliver(factory, transports, row, now=now, report=report, tries=tries, quiet=quiet)
    return report


def _expire_leases(
    factory: sessionmaker[Session],
    transports: Transports,
    *,
    now: dt.datetime,
    report: DeliveryReport,
) -> None:
    """Rows left `sending` by a worker that died. A Slack row is settled by asking Slack
    (`_settle_slack`); any other row is `uncertain`, never sent again blindly."""
    ask: list[_Stale] = []
    with factory.begin() as session:
        stale = list(
            session.scalars(
                select(Outbox).where(
                    Outbox.status == OutboxStatus.SENDING.value,
                    Outbox.claimed_at < _utc(now - LEASE),
                )
            )
        )
        for row in stale:
            if row.channel == "slack" and transports.slack is not None:
                ask.append(_Stale.of(row))  # asked below, outside any transaction
                continue
            why = "no Slack client in this process" if row.channel == "slack" else None
            _mark_uncertain(session, row, now=now, report=report, why=why)
    for snapshot in ask:
        assert transports.slack is not None
        _settle_slack(factory, transports.slack, snapshot, now=now, report=report)


def _mark_uncertain(
    session: Session,
    row: Outbox,
    *,
    now: dt.datetime,
    report: DeliveryReport,
    why: str | None = None,
) -> None:
    row.status = OutboxStatus.UNCERTAIN.value
    row.error = "interrupted"
    if why:
        row.error_detail = why[:300]
    session.add(_audit(row.id, "status", "sending", "uncertain"))
    if why is None:
        log.warning(
            "Envoi %s (%s à %s) interrompu : statut incertain, pas de nouvel envoi",
            row.id,
            row.channel,
            _masked(row.channel, row.recipient),
        )
    else:
        log.warning(
            "Envoi %s (%s à %s) interrompu, Slack n'a pas pu dire s'il l'a reçu (%s) : "
            "statut incertain, pas de nouvel envoi",
            row.id,
            row.channel,
            _masked(row.channel, row.recipient),
            why,
        )
    if row.purpose == "card":
        _queue_notice(session, row, "uncertain", now=now)
    report.uncertain.append(row.id)


@dataclass(frozen=True)
class _Stale:
    """A Slack row whose lease is over, as it was read (its claim fences the update)."""

    id: int
    key: str
    claim: str | None
    claimed_at: dt.datetime
    recipient: str
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: Outbox) -> _Stale:
        return cls(
            id=row.id,
            key=row.key,
            claim=row.claim,
            claimed_at=_aware(row.claimed_at) or dt.datetime.now(dt.UTC),
            recipient=row.recipient,
            payload=dict(row.payload or {}),
        )


@dataclass(frozen=True)
class _Posted:
    ts: str


def _settle_slack(
    factory: sessionmaker[Session],
    client: WebClient,
    stale: _Stale,
    *,
    now: dt.datetime,
    report: DeliveryReport,
) -> None:
    """Ask Slack whether the row's message is in the DM, and record what it says: `sent`
    (found), `queued` again or `failed` as `expired` (not found), `uncertain` (no answer)."""
    found = _find_in_history(factory, client, stale)
    with factory.begin() as session:
        row = session.get(Outbox, stale.id, with_for_update=True)
        if row is None or row.status != OutboxStatus.SENDING.value or row.claim != stale.claim:
            return  # another worker settled it meanwhile
        masked = _masked(row.channel, row.recipient)
        if isinstance(found, str):
            _mark_uncertain(session, row, now=now, report=report, why=found)
            return
        if isinstance(found, _Posted):
            # As if Slack's answer had been recorded (what follows from it follows, once).
            row.status = OutboxStatus.SENT.value
            row.claim = None
            row.provider, row.provider_message_id = "slack", found.ts
            row.sent_at = dt.datetime.fromtimestamp(float(found.ts), dt.UTC)
            row.finished_at = _utc(now)
            row.error = row.error_detail = None
            report.sent.append(row.id)
            log.info(
                "Envoi %s (slack à %s) interrompu mais reçu par Slack (ts %s) : envoyé",
                row.id,
                masked,
                found.ts,
            )
        elif _expired_payload(stale.payload, now):
            row.status = OutboxStatus.FAILED.value
            row.claim = None
            row.finished_at = _utc(now)
            row.error, row.error_detail = "expired", "interrupted, not posted"
            report.failed.append(row.id)
            log.warning(
                "Envoi %s (slack à %s) interrompu avant Slack et expiré : abandonné", row.id, masked
            )
        else:
            row.status = OutboxStatus.QUEUED.value
            row.claim = None
            row.next_attempt_at = _utc(now)
            row.error, row.error_detail = "interrupted", "not posted: sent again"
            log.warning(
                "Envoi %s (slack à %s) interrompu avant Slack : renvoyé maintenant", row.id, masked
            )
        session.add(_audit(row.id, "status", "sending", row.status))
        _follow_up(session, row, now=now)


def _find_in_history(
    factory: sessionmaker[Session], client: WebClient, stale: _Stale
) -> _Posted | str | None:
    """The message carrying the row's metadata in the DM's history (`_Posted`), None when Slack
    does not have it, or why Slack could not tell (`missing_scope` without `im:history`…)."""
    channel: str | None = stale.recipient
    if stale.recipient.startswith("advisor:"):
        with factory() as session:
            channel = session.scalar(
                select(Advisor.slack_dm_channel).where(
                    Advisor.id == int(stale.recipient.partition(":")[2])
                )
            )
        if channel is None:
            return None  # the DM is stored before any post to it: nothing was posted
    # The post started within SLACK_LAST_TRY of the claim (our clock, Slack's `ts`: a margin).
    oldest = stale.claimed_at - SLACK_CLOCK_SKEW
    latest = stale.claimed_at + LEASE + SLACK_CLOCK_SKEW
    cursor: str | None = None
    for _page in range(HISTORY_PAGES):
        try:
            response = client.conversations_history(
                channel=str(channel),
                oldest=f"{oldest.timestamp():.6f}",
                latest=f"{latest.timestamp():.6f}",
                inclusive=True,
                include_all_metadata=True,
                limit=HISTORY_PAGE,
                cursor=cursor,
            )
        except SlackApiError as exc:
            return str(exc.response.get("error"))
        except (SlackClientError, OSError) as exc:
            return type(exc).__name__
        for message in response.get("messages") or []:
            if _carries(message.get("metadata"), stale):
                return _Posted(ts=str(message["ts"]))
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not response.get("has_more") or cursor is None:
            return None
    return f"more than {HISTORY_PAGE * HISTORY_PAGES} messages to read"


def _carries(metadata: object, stale: _Stale) -> bool:
    if not isinstance(metadata, dict) or metadata.get("event_type") != SLACK_EVENT_TYPE:
        return False
    payload = metadata.get("event_payload")
    return (
        isinstance(payload, dict)
        and str(payload.get("outbox_id")) == str(stale.id)
        and payload.get("outbox_key") == stale.key
    )


def _masked(channel: str, recipient: str) -> str:
    if channel == "sms":
        return mask_phone(recipient)
    if channel == "email":
        return mask_email(recipient)
    return recipient


def _finish(
    factory: sessionmaker[Session],
    row: _Claimed,
    status: OutboxStatus,
    *,
    now: dt.datetime,
    **values: Any,
) -> None:
    with factory.begin() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.id == row.id, Outbox.claim == row.claim)
            .values(status=status.value, finished_at=_utc(now), **values)
        )
        session.add(_audit(row.id, "status", "sending", status.value))


def _record(
    factory: sessionmaker[Session],
    row: _Claimed,
    outcome: Accepted | SendFailure,
    *,
    now: dt.datetime,
    report: DeliveryReport,
    quiet: bool = False,
) -> None:
    """What the provider said, and what follows from it, in one transaction. `quiet`: the
    caller logs the outcome in its own words (the lines here go to DEBUG)."""

    def say(level: int, message: str, *args: object) -> None:
        log.log(logging.DEBUG if quiet else level, message, *args)

    masked = _masked(row.channel, row.recipient)
    with factory.begin() as session:
        current = session.get(Outbox, row.id, with_for_update=True)
        if current is None or current.claim != row.claim:
            return  # pragma: no cover - the row was taken over: the other worker records it
        old = current.status
        if isinstance(outcome, Accepted):
            current.provider = outcome.provider
            current.provider_message_id = outcome.message_id
            current.sent_at = current.finished_at = _utc(now)
            current.error = current.error_detail = None
            if outcome.simulated:
                current.status = OutboxStatus.SIMULATED.value
                report.simulated.append(row.id)
            else:
                current.status = OutboxStatus.SENT.value
                report.sent.append(row.id)
            say(
                logging.INFO,
                "Envoi %s : %s à %s %s par %s (id %s)",
                row.id,
                row.channel,
                masked,
                "simulé" if outcome.simulated else "accepté",
                outcome.provider,
                outcome.message_id or "—",
            )
        elif outcome.ambiguous:
            current.status = OutboxStatus.UNCERTAIN.value
            current.error, current.error_detail = outcome.reason, outcome.detail[:300]
            report.uncertain.append(row.id)
            say(
                logging.WARNING,
                "Envoi %s (%s à %s) sans réponse : statut incertain",
                row.id,
                row.channel,
                masked,
            )
        elif outcome.permanent or row.attempts >= _max_rounds(row):
            current.status = OutboxStatus.FAILED.value
            current.finished_at = _utc(now)
            current.error, current.error_detail = outcome.reason, outcome.detail[:300]
            report.failed.append(row.id)
            say(
                logging.ERROR,
                "Envoi %s (%s à %s) en échec définitif après %d essai%s : %s",
                row.id,
                row.channel,
                masked,
                row.attempts,
                "s" if row.attempts > 1 else "",
                outcome.reason,
            )
        else:
            current.status = OutboxStatus.QUEUED.value
            current.claim = None
            current.next_attempt_at = _utc(now + round_delay(row.attempts))
            current.error, current.error_detail = outcome.reason, outcome.detail[:300]
            report.retry_later.append(row.id)
            say(
                logging.WARNING,
                "Envoi %s (%s à %s) non parti : %s ; nouvel essai à %s",
                row.id,
                row.channel,
                masked,
                outcome.reason,
                current.next_attempt_at.strftime("%H:%M:%S"),
            )
        if current.status != old:
            session.add(_audit(row.id, "status", old, current.status))
        _follow_up(session, current, now=now)


def _max_rounds(row: _Claimed) -> int:
    """`MAX_ROUNDS`, or the row's own `max_rounds` (a digest keeps trying until it expires)."""
    return int(row.payload.get("max_rounds") or MAX_ROUNDS)


def _expired(row: _Claimed, now: dt.datetime) -> bool:
    """A row whose payload says `expires_at` (ISO, zone-aware) is not sent after it: a
    morning digest is never posted the next day."""
    return _expired_payload(row.payload, now)


def _expired_payload(payload: dict[str, Any], now: dt.datetime) -> bool:
    until = payload.get("expires_at")
    return until is not None and _utc(now) > dt.datetime.fromisoformat(str(until))


def _follow_up(session: Session, row: Outbox, *, now: dt.datetime) -> None:
    """After a card row's outcome: the case's tag, and the advisor told (once)."""
    if row.purpose != "card" or row.case_id is None:
        return
    if row.status in (OutboxStatus.SENT.value, OutboxStatus.FAILED.value):
        apply_card_tag(session, row.case_id, today=_local_day(now), actor="m3 outbox")
    if row.status in (
        OutboxStatus.SENT.value,
        OutboxStatus.FAILED.value,
        OutboxStatus.SIMULATED.value,
        OutboxStatus.UNCERTAIN.value,
    ):
        _queue_notice(session, row, row.status, now=now)


def _local_day(now: dt.datetime) -> dt.date:
    return now.date()


def notice_key(row: Outbox, kind: str) -> str:
    if kind == OutboxStatus.SENT.value:
        # « Carte envoyée » once per case and card, whichever channel got there first.
        card = hashlib.sha256(row.attachment or b"").hexdigest()[:12]
        return f"notice:card:{row.case_id}:{card}:sent"
    return f"notice:{row.id}:{kind}"


def _queue_notice(session: Session, row: Outbox, kind: str, *, now: dt.datetime) -> None:
    from bot.blocks.card import notice_message

    advisor = session.get(Advisor, row.advisor_id) if row.advisor_id is not None else None
    if advisor is None:
        return
    message = notice_message(row, kind)
    enqueue(
        session,
        Outbox(
            key=notice_key(row, kind),
            channel="slack",
            purpose="notice",
            case_id=row.case_id,
            advisor_id=advisor.id,
            recipient=advisor.slack_dm_channel or f"advisor:{advisor.id}",
            body=message["text"],
            payload={"blocks": message.get("blocks")},
            created_at=_utc(now),
            not_before=_utc(now),
            next_attempt_at=_utc(now),
        ),
    )


# --- Receipts ------------------------------------------------------------------------------

# What the providers' receipts say, as the row's outcome: delivered, or failed for good.
DELIVERED = {"delivered", "read"}
UNDELIVERED = {"undelivered", "failed", "hard_bounce", "hardbounce", "rejected", "blocked"}
ACCEPTED = {"queued", "accepted", "sending", "sent", "soft_bounce", "softbounce"}


@dataclass(frozen=True)
class Receipt:
    row_id: int
    provider: str
    status: str
    message_id: str | None = None
    error_code: str | None = None


def apply_receipt(factory: sessionmaker[Session], receipt: Receipt, *, now: dt.datetime) -> bool:
    """Record a delivery receipt on its row (the reference in the callback URL). An
    `uncertain` row is resolved by it. Returns False when no row matches."""
    status = receipt.status.strip().lower()
    with factory.begin() as session:
        row = session.get(Outbox, receipt.row_id, with_for_update=True)
        if row is None or row.channel != "sms":
            return False
        if (
            row.provider_message_id
            and receipt.message_id
            and row.provider_message_id != receipt.message_id
        ):
            return False
        old = row.status
        row.delivery_status = status
        if receipt.message_id and not row.provider_message_id:
            row.provider_message_id = receipt.message_id
        row.provider = row.provider or receipt.provider
        if status in UNDELIVERED:
            row.status = OutboxStatus.FAILED.value
            row.error = "undelivered"
            row.error_detail = f"{receipt.provider} {status} {receipt.error_code or ''}".strip()
            row.finished_at = _utc(now)
        elif status in DELIVERED | ACCEPTED and old in (
            OutboxStatus.UNCERTAIN.value,
            OutboxStatus.SENDING.value,
        ):
            row.status = OutboxStatus.SENT.value
            row.sent_at = row.sent_at or _utc(now)
            row.error = None
        session.add(_audit(row.id, "delivery_status", None, status))
        if row.status != old:
            session.add(_audit(row.id, "status", old, row.status))
            _follow_up(session, row, now=now)
    return True


# --- Reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxLine:
    """One row as `m3 outbox` shows it: the recipient masked, never the payload."""

    id: int
    channel: str
    purpose: str
    status: str
    recipient: str
    client_number: str | None
    created_by: str | None
    created_at: dt.datetime
    not_before: dt.datetime
    attempts: int
    provider: str | None
    provider_message_id: str | None
    delivery_status: str | None
    error: str | None
    sent_at: dt.datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "channel": self.channel,
            "purpose": self.purpose,
            "status": self.status,
            "recipient": self.recipient,
            "client_number": self.client_number,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "not_before": self.not_before.isoformat(),
            "attempts": self.attempts,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "delivery_status": self.delivery_status,
            "error": self.error,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }


def list_lines(session: Session, *, statuses: Iterable[str] | None = None) -> list[OutboxLine]:
    query = (
        select(Outbox, Client.number)
        .outerjoin(Client, Outbox.client_id == Client.id)
        .order_by(Outbox.id)
    )
    if statuses is not None:
        query = query.where(Outbox.status.in_(list(statuses)))
    lines = []
    for row, number in session.execute(query):
        lines.append(
            OutboxLine(
                id=row.id,
                channel=row.channel,
                purpose=row.purpose,
                status=row.status,
                recipient=_masked(row.channel, row.recipient),
                client_number=number,
                created_by=row.created_by,
                created_at=_aware(row.created_at) or dt.datetime.now(dt.UTC),
                not_before=_aware(row.not_before) or dt.datetime.now(dt.UTC),
                attempts=row.attempts,
                provider=row.provider,
                provider_message_id=row.provider_message_id,
                delivery_status=row.delivery_status,
                error=row.error,
                sent_at=_aware(row.sent_at),
            )
        )
    return lines


def card_for_link(session: Session, token: str, *, now: dt.datetime) -> tuple[bytes, str] | None:
    """The vCard behind a short link, while the link lives (and the client has not objected)."""
    if not token or len(token) > 40:
        return None
    row = session.scalar(select(Outbox).where(Outbox.link_token == token))
    if row is None or row.attachment is None:
        return None
    expires = _aware(row.link_expires_at)
    if expires is None or expires <= _utc(now) or row.status == OutboxStatus.CANCELLED.value:
        return None
    if row.client_id is not None:
        objected = session.scalar(select(Client.objected_on).where(Client.id == row.client_id))
        if objected is not None:
            return None
    return row.attachment, str(row.payload.get("filename") or "contact.vcf")


def pending_or_recent(session: Session, case_id: int) -> list[Outbox]:
    return list(
        session.scalars(
            select(Outbox)
            .where(Outbox.case_id == case_id, or_(Outbox.purpose == "card"))
            .order_by(Outbox.id)
        )
    )


# --- Wiring --------------------------------------------------------------------------------

TWILIO_RECEIPTS = "/sms/twilio/status"
BREVO_RECEIPTS = "/sms/brevo/events"


def receipts_url(settings: Settings, row: Outbox) -> str | None:
    """Where the provider posts this SMS's receipts (`m3 web`), or None when they cannot be
    verified there: a public URL is needed, and for Brevo the webhook token (sent as HTTP basic
    credentials in the URL, as Brevo documents)."""
    base = settings.public_url
    if not base or row.channel != "sms":
        return None
    if settings.sms_backend == "twilio":
        return f"{base}{TWILIO_RECEIPTS}?ref={row.id}"
    if settings.sms_backend == "brevo" and settings.brevo_webhook_token:
        scheme, _, rest = base.partition("://")
        return f"{scheme}://m3:{settings.brevo_webhook_token}@{rest}{BREVO_RECEIPTS}?ref={row.id}"
    return None


def make_transports(
    settings: Settings,
    slack: WebClient | None,
    *,
    printer: Callable[[str], None] = print,
    timeout: float | None = None,
) -> Transports:
    from bot.mail import ConsoleMailer, SmtpMailer
    from bot.sms import DEFAULT_TIMEOUT, SmsConfig, make_backend

    sms = make_backend(
        SmsConfig(
            backend=settings.sms_backend,
            api_url=settings.sms_api_url,
            twilio_account_sid=settings.twilio_account_sid,
            twilio_auth_token=settings.twilio_auth_token,
            twilio_from=settings.twilio_from,
            brevo_api_key=settings.brevo_api_key,
            timeout=timeout or DEFAULT_TIMEOUT,
        ),
        printer=printer,
    )
    sender = settings.mail_from or "m3@localhost"
    mail: Mailer
    if settings.smtp_host:
        mail = SmtpMailer(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=sender,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password,
        )
    else:
        mail = ConsoleMailer(printer=printer)
    return Transports(
        sms=sms,
        mail=mail,
        slack=slack,
        callback_url=lambda row: receipts_url(settings, row),
        mail_sender=sender,
    )

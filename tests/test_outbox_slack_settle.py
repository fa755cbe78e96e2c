"""A Slack DM whose worker died mid-send is settled by asking Slack: each post carries the outbox
row in its message metadata, and once the lease is over the DM's history says whether Slack has
it (then the row is sent, with that message's ts) or not (then it is sent now, unless expired).
When Slack cannot be asked (no `im:history`: `missing_scope`), the row stays « incertain ».

The morning digest of the sample agency, through the real job, the real outbox and the local
fake Slack over HTTP; the process is "killed" (SystemExit) right after Slack answered, or right
before the request left. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import outbox as outbox_module
from bot.models import Advisor, Outbox
from bot.outbox import LEASE, SLACK_EVENT_TYPE, DeliveryReport, deliver_due, slack_transports
from bot.slack import add_retry_handlers
from jobs import digest
from tests.conftest import M3
from tests.fakeslack import FakeSlack

TOKEN = "xoxb-test"
DAY = dt.date(2026, 11, 24)


@pytest.fixture
def fake(loaded: M3, factory: sessionmaker[Session]) -> Iterator[FakeSlack]:
    """A Slack workspace where every advisor of the sample agency has an account."""
    with factory() as session:
        emails = list(session.scalars(select(Advisor.email).order_by(Advisor.id)))
    users = [{"id": f"U{n:03d}", "email": email} for n, email in enumerate(emails, 1)]
    with FakeSlack(token=TOKEN, users=users) as fake:
        yield fake
        fake.assert_valid()


class KilledBeforePosting(WebClient):
    """The process dies as the digest's post is about to leave: Slack never gets it."""

    def chat_postMessage(self, **kwargs: Any) -> Any:
        raise SystemExit("killed before the request left")


def client_for(fake: FakeSlack) -> WebClient:
    return add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))


def killed(*_: Any, **__: Any) -> None:
    raise SystemExit("killed")  # the process dies before recording Slack's answer


def crash_after_slack_answered(
    factory: sessionmaker[Session], fake: FakeSlack, patch: pytest.MonkeyPatch
) -> Outbox:
    """The digest run posts the first advisor's DM, then dies before the record."""
    with patch.context() as crash:
        crash.setattr(outbox_module, "_record", killed)
        with pytest.raises(SystemExit):
            digest.run(factory=factory, client=client_for(fake), today=DAY, managers_channel=None)
    (row,) = digest_rows(factory)
    assert row.status == "sending"
    assert len(dm_messages(fake)) == 1  # Slack has it
    return row


def crash_before_slack_got_it(factory: sessionmaker[Session], fake: FakeSlack) -> Outbox:
    """The digest run claims the first advisor's DM and dies before the request leaves."""
    client = add_retry_handlers(KilledBeforePosting(token=TOKEN, base_url=fake.url))
    with pytest.raises(SystemExit):
        digest.run(factory=factory, client=client, today=DAY, managers_channel=None)
    (row,) = digest_rows(factory)
    assert row.status == "sending"
    assert dm_messages(fake) == [] and fake.calls_to("chat.postMessage") == []
    return row


def sweep(fake: FakeSlack, factory: sessionmaker[Session], after: dt.timedelta) -> DeliveryReport:
    """The outbox worker's pass, `after` the crash (the claim was made on the real clock)."""
    now = dt.datetime.now(dt.UTC) + after
    return deliver_due(factory, slack_transports(client_for(fake)), now=now, channels=("slack",))


def digest_rows(factory: sessionmaker[Session]) -> list[Outbox]:
    with factory() as session:
        return list(
            session.scalars(select(Outbox).where(Outbox.purpose == "digest").order_by(Outbox.id))
        )


def reread(factory: sessionmaker[Session], row: Outbox) -> Outbox:
    with factory() as session:
        return session.get_one(Outbox, row.id)


def dm_messages(fake: FakeSlack, channel: str | None = None) -> list[dict[str, Any]]:
    """The messages Slack holds in advisors' DMs (in `channel` only, if given)."""
    return [
        m
        for m in fake.messages
        if m["channel"].startswith("D") and (channel is None or m["channel"] == channel)
    ]


def dm_of(factory: sessionmaker[Session], row: Outbox) -> str:
    with factory() as session:
        channel = session.scalar(
            select(Advisor.slack_dm_channel).where(Advisor.id == row.advisor_id)
        )
    assert channel is not None
    return channel


def test_a_digest_posted_before_the_crash_is_found_in_slack_and_recorded_sent(
    factory: sessionmaker[Session], fake: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = crash_after_slack_answered(factory, fake, monkeypatch)
    (posted,) = fake.calls_to("chat.postMessage")
    assert posted.params["metadata"] == {
        "event_type": SLACK_EVENT_TYPE,
        "event_payload": {"outbox_id": row.id, "outbox_key": row.key},
    }

    # Still leased a minute later: Slack is not asked yet, nothing moves.
    assert sweep(fake, factory, dt.timedelta(minutes=1)).sent == []
    assert fake.calls_to("conversations.history") == []

    report = sweep(fake, factory, LEASE + dt.timedelta(seconds=1))
    assert report.sent == [row.id] and report.uncertain == [] and report.retry_later == []
    settled = reread(factory, row)
    assert (settled.status, settled.provider) == ("sent", "slack")
    assert settled.provider_message_id == posted.response["ts"]
    assert settled.error is None and settled.claim is None
    (asked,) = fake.calls_to("conversations.history")
    assert asked.params["channel"] == dm_of(factory, row)
    assert asked.params["include_all_metadata"] in ("1", "true", True)
    assert float(asked.params["oldest"]) < float(posted.response["ts"])

    # The advisor got one message, and neither the worker nor the next run posts it again.
    assert sweep(fake, factory, dt.timedelta(hours=1)).sent == []
    again = digest.run(factory=factory, client=client_for(fake), today=DAY, managers_channel=None)
    assert again.sent  # the other advisors, whose digests the crash had stopped
    assert len(dm_messages(fake, dm_of(factory, row))) == 1
    assert len(fake.calls_to("conversations.history")) == 1


def test_a_digest_that_never_reached_slack_is_sent_once_after_the_lease(
    factory: sessionmaker[Session], fake: FakeSlack
) -> None:
    row = crash_before_slack_got_it(factory, fake)

    report = sweep(fake, factory, LEASE + dt.timedelta(seconds=1))
    assert report.sent == [row.id] and report.uncertain == []
    (posted,) = fake.calls_to("chat.postMessage")
    sent = reread(factory, row)
    assert sent.status == "sent" and sent.provider_message_id == posted.response["ts"]
    assert len(fake.calls_to("conversations.history")) == 1
    assert sweep(fake, factory, dt.timedelta(hours=1)).sent == []
    (message,) = dm_messages(fake, dm_of(factory, row))
    assert message["text"] == row.body


def test_without_im_history_slack_answers_missing_scope_and_the_row_stays_uncertain(
    factory: sessionmaker[Session],
    fake: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    row = crash_after_slack_answered(factory, fake, monkeypatch)
    fake.fail_next("conversations.history", status=200, error="missing_scope")

    with caplog.at_level(logging.WARNING, logger="bot.outbox"):
        report = sweep(fake, factory, LEASE + dt.timedelta(seconds=1))
    assert report.uncertain == [row.id] and report.sent == []
    left = reread(factory, row)
    assert (left.status, left.error, left.error_detail) == (
        "uncertain",
        "interrupted",
        "missing_scope",
    )
    (line,) = [r.getMessage() for r in caplog.records if f"Envoi {row.id} " in r.getMessage()]
    assert "missing_scope" in line and "incertain" in line

    assert sweep(fake, factory, dt.timedelta(hours=2)).sent == []
    assert len(fake.calls_to("chat.postMessage")) == 1  # never posted twice
    assert len(dm_messages(fake, dm_of(factory, row))) == 1


def test_an_expired_digest_that_never_reached_slack_is_dropped_not_sent(
    factory: sessionmaker[Session], fake: FakeSlack
) -> None:
    row = crash_before_slack_got_it(factory, fake)

    # The next pass comes the next morning: Slack does not have it, and it is too late.
    report = sweep(fake, factory, digest.DIGEST_LIFETIME + dt.timedelta(minutes=1))
    assert report.failed == [row.id] and report.sent == [] and report.uncertain == []
    assert len(fake.calls_to("conversations.history")) == 1
    dropped = reread(factory, row)
    assert (dropped.status, dropped.error) == ("failed", "expired")
    assert sweep(fake, factory, digest.DIGEST_LIFETIME + dt.timedelta(hours=1)).sent == []
    assert fake.calls_to("chat.postMessage") == [] and dm_messages(fake) == []


def test_a_slow_post_never_retries_past_its_deadline_so_the_lease_check_is_safe(
    factory: sessionmaker[Session], fake: FakeSlack
) -> None:
    """A 429 whose Retry-After would take the retry past the claim's deadline is not waited
    for: the post goes back to the queue (its next round), instead of leaving late, when the
    lease could be over and another worker could have read the history."""
    fake.fail_next("chat.postMessage", status=429, retry_after=60)
    first = digest.run(factory=factory, client=client_for(fake), today=DAY, managers_channel=None)
    assert len(first.failed) == 1  # that one waits for its next round
    (waiting,) = [r for r in digest_rows(factory) if r.status == "queued"]
    assert waiting.error == "slack_error"
    assert len(fake.rejected) == 1  # the 429; the post was not tried again within the claim
    assert len(dm_messages(fake, dm_of(factory, waiting))) == 0


def test_the_fake_reads_history_as_slack_does() -> None:
    """`conversations.history` in the fake: newest first within `oldest`/`latest`, `limit` a
    page with a cursor, the metadata only with `include_all_metadata`."""
    with FakeSlack(token=TOKEN) as slack:
        client = WebClient(token=TOKEN, base_url=slack.url)
        tagged = {"event_type": SLACK_EVENT_TYPE, "event_payload": {"outbox_id": 1}}
        ts = [
            client.chat_postMessage(channel="D1", text=f"m{n}", metadata=tagged)["ts"]
            for n in range(4)
        ]
        client.chat_postMessage(channel="D2", text="elsewhere")

        plain = client.conversations_history(channel="D1", oldest=ts[0], limit=2)
        assert [m["text"] for m in plain["messages"]] == ["m3", "m2"]
        assert plain["has_more"] and all("metadata" not in m for m in plain["messages"])
        rest = client.conversations_history(
            channel="D1",
            oldest=ts[0],
            limit=2,
            cursor=plain["response_metadata"]["next_cursor"],
            include_all_metadata=True,
        )
        assert [m["text"] for m in rest["messages"]] == ["m1"] and not rest["has_more"]
        assert rest["messages"][0]["metadata"] == tagged
        inclusive = client.conversations_history(
            channel="D1", oldest=ts[0], latest=ts[2], inclusive=True
        )
        assert [m["text"] for m in inclusive["messages"]] == ["m2", "m1", "m0"]
        slack.assert_valid()


def test_a_post_whose_answer_was_lost_is_found_in_slack_not_posted_again(
    factory: sessionmaker[Session], fake: FakeSlack
) -> None:
    """Slack posts the digest but its answer is lost (a 500 on the way back): the client's
    retry would post it a second time; the DM's history is read first, and the row is sent
    with the ts of the one message, at the first pass."""
    fake.lose_answer_next("chat.postMessage")
    digest.run(factory=factory, client=client_for(fake), today=DAY, managers_channel=None)
    rows = digest_rows(factory)
    assert rows and all(row.status == "sent" for row in rows)
    first = rows[0]
    channel = dm_of(factory, first)
    (message,) = dm_messages(fake, channel)  # one message in that DM, not two
    assert message["ts"] == first.provider_message_id
    assert len(dm_messages(fake)) == len(rows)  # one a digest
    assert fake.calls_to("conversations.history")  # Slack was asked before any retry


def test_a_post_that_failed_before_slack_took_it_is_posted_once(
    factory: sessionmaker[Session], fake: FakeSlack
) -> None:
    """A 500 with nothing posted: the history says so, and the retry posts the digest once."""
    fake.fail_next("chat.postMessage", status=500)
    digest.run(factory=factory, client=client_for(fake), today=DAY, managers_channel=None)
    rows = digest_rows(factory)
    assert rows and all(row.status == "sent" for row in rows)
    assert len(dm_messages(fake)) == len(rows)
    assert fake.calls_to("conversations.history")

"""The morning digest, end to end: the sample imported, `m3 digest` run against the local fake
Slack over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from bot.cli import app
from bot.models import Absence, Advisor, Digest, Outbox
from bot.outbox import LEASE, deliver_due, slack_transports
from bot.slack import add_retry_handlers
from jobs import digest
from jobs.schedule import run_digest_if_working_day
from tests.conftest import M3
from tests.fakeslack import FakeSlack

TOKEN = "xoxb-test"
MANAGERS = "C0MANAGERS"
ADVISORS = {
    "isabelle.arnaud@agence-corniche.example.fr": "U01ISA",
    "julie.laurent@agence-corniche.example.fr": "U02JUL",
    "manon.langlois@agence-corniche.example.fr": "U03MAN",
    "benoit.poirier@agence-rouviere.example.fr": "U04BEN",
    "agnes.fournier@agence-rouviere.example.fr": "U05AGF",
    # agnes.bertrand has no Slack account: the managers are told, once.
    "catherine.moulin@agence-corniche.example.fr": "U07CAT",
    "chloe.charles@agence-rouviere.example.fr": "U08CHL",
}
NO_SLACK = "agnes.bertrand@agence-rouviere.example.fr"


@pytest.fixture
def fake() -> Any:
    users = [
        {"id": uid, "email": email, "name": email.split("@")[0]} for email, uid in ADVISORS.items()
    ]
    with FakeSlack(token=TOKEN, users=users) as fake:
        yield fake
        fake.assert_valid()


def run_digest(m3: M3, fake: FakeSlack, day: str, *args: str) -> Any:
    return CliRunner().invoke(
        app,
        ["digest", "--date", day, *args],
        env={
            "DATABASE_URL": m3.database_url,
            "M3_TODAY": day,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": fake.url,
            "M3_MANAGERS_CHANNEL": MANAGERS,
        },
        catch_exceptions=False,
    )


def dms(fake: FakeSlack) -> dict[str, list[dict[str, Any]]]:
    """Messages posted to advisors' DMs, by channel."""
    out: dict[str, list[dict[str, Any]]] = {}
    for call in fake.calls_to("chat.postMessage"):
        if call.params["channel"].startswith("D"):
            out.setdefault(call.params["channel"], []).append(call.params)
    return out


def to_managers(fake: FakeSlack) -> list[dict[str, Any]]:
    return [c.params for c in fake.calls_to("chat.postMessage") if c.params["channel"] == MANAGERS]


def text_of(message: dict[str, Any]) -> str:
    parts = [message.get("text", "")]
    for block in message.get("blocks", []):
        if "text" in block:
            parts.append(block["text"]["text"])
        for element in block.get("elements", []):
            label = element.get("text", "")
            parts.append(label["text"] if isinstance(label, dict) else label)
    return "\n".join(parts)


def expected_queues(m3: M3, day: str) -> dict[str, set[str]]:
    _, listed = m3.json("cases", "--date", day, today=day)
    queues: dict[str, set[str]] = {}
    for case in listed:
        if case["state"] in ("open", "late"):
            queues.setdefault(case["advisor_email"], set()).add(case["client_name"])
    return queues


def test_each_advisor_gets_their_cases_once(loaded: M3, fake: FakeSlack) -> None:
    day = "2026-11-24"
    result = run_digest(loaded, fake, day)
    assert result.exit_code == 0, result.output
    queues = expected_queues(loaded, day)
    messages = dms(fake)
    for email, names in queues.items():
        if email == NO_SLACK:
            continue
        (message,) = messages["D" + ADVISORS[email]]
        text = text_of(message)
        for name in names:
            assert name in text, (email, name)
        others = set().union(*(n for e, n in queues.items() if e != email)) - names
        assert not any(f"*{other}*" in text for other in others)
        assert "Préparer l'appel" in str(message["blocks"])
        assert "tel:+33" in text
    assert len(messages) == len([e for e in queues if e != NO_SLACK])
    # The managers: one summary with counts and no client names, one notice for the missing account.
    notices = [m for m in to_managers(fake) if NO_SLACK in m["text"]]
    summaries = [m for m in to_managers(fake) if "Récapitulatif M+3" in text_of(m)]
    assert len(notices) == 1 and len(summaries) == 1
    summary = text_of(summaries[0])
    assert not any(name in summary for names in queues.values() for name in names)
    assert "à traiter" in summary and "en retard" in summary

    # Run it again: nothing new is posted.
    before = len(fake.calls_to("chat.postMessage"))
    assert run_digest(loaded, fake, day).exit_code == 0
    assert len(fake.calls_to("chat.postMessage")) == before
    # Next working day: the missing account is not reported again.
    assert run_digest(loaded, fake, "2026-11-25").exit_code == 0
    assert len([m for m in to_managers(fake) if NO_SLACK in m["text"]]) == 1
    # Advisors were looked up by e-mail once, and their DM opened once.
    # The advisor with no account is looked for again on each digest day (two days here), in
    # case an account was created since; not again by the second run of the same day.
    looked_up = [c.params["email"] for c in fake.calls_to("users.lookupByEmail")]
    linked = [email for email in queues if email != NO_SLACK]
    assert sorted(e for e in looked_up if e != NO_SLACK) == sorted(linked)
    assert looked_up.count(NO_SLACK) == 2
    opened = [c.params["users"] for c in fake.calls_to("conversations.open")]
    assert sorted(opened) == sorted(ADVISORS[email] for email in linked)


def test_catch_up_after_a_holiday_weekend(loaded: M3, fake: FakeSlack) -> None:
    # Thursday 24 Dec 2026, then Friday 25 (Christmas) and the weekend: next digest Monday 28.
    assert run_digest(loaded, fake, "2026-12-24").exit_code == 0
    fake.reset()
    _, listed = loaded.json("cases", "--date", "2026-12-28", today="2026-12-28")
    opened = {
        c["client_name"]
        for c in listed
        if c["state"] == "open" and "2026-12-25" <= c["window_start"] <= "2026-12-28"
    }
    assert opened, "the sample has windows opening over the holiday weekend"
    assert run_digest(loaded, fake, "2026-12-28").exit_code == 0
    new_sections = []
    for messages in dms(fake).values():
        for message in messages:
            blocks = message["blocks"]
            texts = [b.get("text", {}).get("text", "") for b in blocks]
            if any(":new:" in t for t in texts):
                start = next(i for i, t in enumerate(texts) if ":new:" in t)
                end = next(
                    (
                        i
                        for i, t in enumerate(texts[start + 1 :], start + 1)
                        if "*À traiter*" in t or "*En retard*" in t
                    ),
                    len(texts),
                )
                new_sections += texts[start + 1 : end]
    shown_new = "\n".join(new_sections)
    for name in opened:
        assert name in shown_new or name in _no_slack_names(loaded, "2026-12-28")


def _no_slack_names(m3: M3, day: str) -> set[str]:
    _, listed = m3.json("cases", "--date", day, "--advisor", NO_SLACK, today=day)
    return {c["client_name"] for c in listed}


def test_no_digest_on_a_holiday(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    from bot.settings import load_settings

    settings = load_settings(M3_TODAY=dt.date(2026, 12, 25), DATABASE_URL=loaded.database_url)
    client = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    run_digest_if_working_day(settings, factory, client)
    assert fake.calls_to("chat.postMessage") == []


def test_dry_run_prints_and_posts_nothing(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    result = run_digest(loaded, fake, "2026-11-24", "--dry-run")
    assert result.exit_code == 0
    # Each advisor's queue laid out for a terminal, without Slack's marks.
    assert "— mardi 24 novembre 2026" in result.stdout
    assert "simulation" in result.stdout
    assert "<tel:" not in result.stdout and ":alarm_clock:" not in result.stdout
    # The managers' summary too: its words without Slack's bold marks and emoji codes.
    summary = result.stdout.split("━━ Récapitulatif des managers\n", 1)[1]
    assert summary.startswith("Récapitulatif M+3 du mardi 24 novembre 2026\n")
    assert "*" not in summary and ":warning:" not in summary
    assert fake.calls == []
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Digest)) == 0


def test_a_failed_post_is_resent_alone_on_the_next_run(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    day = dt.date(2026, 11, 24)
    client = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    # Every retry of the first DM fails: that advisor's digest fails, the others go out.
    fake.fail_next("chat.postMessage", status=500, times=4)
    first = digest.run(factory=factory, client=client, today=day, managers_channel=MANAGERS)
    assert len(first.failed) == 1 and first.sent
    sent_before = {c.params["channel"] for c in fake.calls_to("chat.postMessage")}
    second = digest.run(factory=factory, client=client, today=day, managers_channel=MANAGERS)
    assert second.sent == first.failed
    channels = [
        c.params["channel"]
        for c in fake.calls_to("chat.postMessage")
        if c.params["channel"].startswith("D")
    ]
    assert len(channels) == len(set(channels))  # nobody got it twice
    assert set(channels) - sent_before  # the failed one got it on the second run


def test_slack_out_of_reach_fails_each_digest_and_the_next_run_sends_them(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    day = dt.date(2026, 11, 24)
    # Nothing listens on port 9 of this machine: every call is a connection error.
    unreachable = WebClient(token=TOKEN, base_url="http://127.0.0.1:9/api/")
    first = digest.run(factory=factory, client=unreachable, today=day, managers_channel=None)
    assert first.failed and not first.sent
    client = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    second = digest.run(factory=factory, client=client, today=day, managers_channel=None)
    assert sorted(second.sent + second.no_slack) == sorted(first.failed)
    assert len(second.sent) == len(dms(fake))


def test_rate_limits_are_waited_out(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    client = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    fake.fail_next("chat.postMessage", status=429, retry_after=1, times=2)
    report = digest.run(
        factory=factory, client=client, today=dt.date(2026, 11, 24), managers_channel=None
    )
    assert report.failed == [] and report.sent
    assert len(fake.rejected) == 2


def test_two_runners_at_once_post_one_dm_per_advisor(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session], engine: Any
) -> None:
    day = dt.date(2026, 11, 24)
    barrier = threading.Barrier(2)
    reports: list[digest.DigestReport] = []
    errors: list[BaseException] = []

    def runner() -> None:
        client = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
        barrier.wait()
        try:
            reports.append(
                digest.run(factory=factory, client=client, today=day, managers_channel=MANAGERS)
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    channels = [
        c.params["channel"]
        for c in fake.calls_to("chat.postMessage")
        if c.params["channel"].startswith("D")
    ]
    assert channels and len(channels) == len(set(channels))
    assert len(to_managers(fake)) == len(set(m["text"] for m in to_managers(fake)))
    with factory() as session:
        advisors_with_dm = session.scalar(
            select(func.count()).select_from(Digest).where(Digest.status == "sent")
        )
    assert advisors_with_dm == len(channels)
    assert sorted(r for rep in reports for r in rep.sent) == sorted(
        set(r for rep in reports for r in rep.sent)
    )
    # One outbox row per advisor with a digest, each sent once.
    sent_rows = [r for r in digest_rows(factory) if r.status == "sent"]
    assert len(sent_rows) == len(channels)
    assert all(r.attempts == 1 for r in sent_rows)


def test_absent_advisor_gets_no_digest_and_managers_see_their_cases(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    email = "julie.laurent@agence-corniche.example.fr"
    with factory.begin() as session:
        advisor = session.scalars(select(Advisor).where(Advisor.email == email)).one()
        advisor.absences.append(
            Absence(start_on=dt.date(2026, 11, 23), end_on=dt.date(2026, 11, 27))
        )
    assert run_digest(loaded, fake, "2026-11-24").exit_code == 0
    assert "D" + ADVISORS[email] not in dms(fake)
    summary = text_of(next(m for m in to_managers(fake) if "Récapitulatif M+3" in text_of(m)))
    assert "Julie Laurent" in summary and "absent" in summary
    # Her cases are listed for the managers (someone must call them); nobody else's are.
    queues = expected_queues(loaded, "2026-11-24")
    assert all(name in summary for name in queues[email])
    others = set().union(*(n for e, n in queues.items() if e != email)) - queues[email]
    assert not any(name in summary for name in others)


def digest_rows(factory: sessionmaker[Session]) -> list[Outbox]:
    with factory() as session:
        return list(
            session.scalars(select(Outbox).where(Outbox.purpose == "digest").order_by(Outbox.id))
        )


def test_each_digest_is_an_outbox_row_keyed_by_advisor_and_day(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    day = dt.date(2026, 11, 24)
    client = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    report = digest.run(factory=factory, client=client, today=day, managers_channel=MANAGERS)
    rows = digest_rows(factory)
    assert len(rows) == len(report.sent) + len(report.no_slack)
    with factory() as session:
        emails = {a.id: a.email for a in session.scalars(select(Advisor))}
    by_email = {emails[r.advisor_id or 0]: r for r in rows}
    for email in report.sent:
        row = by_email[email]
        assert row.channel == "slack" and row.status == "sent"
        assert row.key == f"digest:{row.advisor_id}:2026-11-24"
        assert row.provider == "slack" and row.provider_message_id
        (posted,) = dms(fake)["D" + ADVISORS[email]]
        assert posted["text"] == row.body and row.payload["blocks"]
    # The advisor Slack does not know: the row failed for good, with its reason, sent to nobody.
    (missing,) = report.no_slack
    assert by_email[missing].status == "failed" and by_email[missing].error == "no_slack_account"
    # Run again the same day: no new row, nothing posted.
    before = len(fake.calls_to("chat.postMessage"))
    again = digest.run(factory=factory, client=client, today=day, managers_channel=MANAGERS)
    assert again.sent == [] and again.failed == [] and again.no_slack == []
    assert len(digest_rows(factory)) == len(rows)
    assert len(fake.calls_to("chat.postMessage")) == before


def test_a_failed_digest_is_resent_alone_by_the_outbox_worker(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    day = dt.date(2026, 11, 24)
    client = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    fake.fail_next("chat.postMessage", status=500, times=4)
    first = digest.run(factory=factory, client=client, today=day, managers_channel=None)
    assert len(first.failed) == 1 and first.sent
    (waiting,) = [r for r in digest_rows(factory) if r.status == "queued"]
    assert waiting.error == "slack_error" and waiting.attempts == 1
    posted = len(dms(fake))
    # The worker, once the row's next round is due, sends that one only.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    delivered = deliver_due(factory, slack_transports(client), now=later, channels=("slack",))
    assert delivered.sent == [waiting.id]
    assert len(dms(fake)) == posted + 1
    channels = [c.params["channel"] for c in fake.calls_to("chat.postMessage")]
    assert len([c for c in channels if c.startswith("D")]) == len(set(channels) - {MANAGERS})
    # And the next digest run has nothing left to post.
    before = len(fake.calls_to("chat.postMessage"))
    second = digest.run(factory=factory, client=client, today=day, managers_channel=None)
    assert second.sent == [] and second.failed == []
    assert len(fake.calls_to("chat.postMessage")) == before


def test_a_crash_mid_post_is_settled_by_asking_slack_never_posted_twice(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    # More cases (not posted, no im:history, expired) in tests/test_outbox_slack_settle.py.
    day = dt.date(2026, 11, 24)
    client = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    report = digest.run(factory=factory, client=client, today=day, managers_channel=None)
    victim = next(r for r in digest_rows(factory) if r.status == "sent")
    # As if the process had been killed between Slack's answer and the record.
    with factory.begin() as session:
        row = session.get_one(Outbox, victim.id)
        row.status, row.claim, row.sent_at = "sending", "dead", None
        row.claimed_at = dt.datetime.now(dt.UTC)
    before = len(fake.calls_to("chat.postMessage"))
    again = digest.run(factory=factory, client=client, today=day, managers_channel=None)
    assert again.sent == [] and len(fake.calls_to("chat.postMessage")) == before
    later = dt.datetime.now(dt.UTC) + LEASE + dt.timedelta(seconds=1)
    swept = deliver_due(factory, slack_transports(client), now=later, channels=("slack",))
    # Slack has the message (its metadata names the row): the row is sent, nothing reposted.
    assert swept.sent == [victim.id] and swept.uncertain == []
    (settled,) = [r for r in digest_rows(factory) if r.id == victim.id]
    assert (settled.status, settled.provider_message_id) == ("sent", victim.provider_message_id)
    assert digest.run(factory=factory, client=client, today=day, managers_channel=None).sent == []
    assert len(fake.calls_to("chat.postMessage")) == before
    assert report.sent


def test_a_digest_never_posted_within_its_day_is_dropped_not_sent_the_next_day(
    loaded: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    day = dt.date(2026, 11, 24)
    client = add_retry_handlers(WebClient(token=TOKEN, base_url=fake.url))
    fake.fail_next("chat.postMessage", status=500, times=4)
    first = digest.run(factory=factory, client=client, today=day, managers_channel=None)
    assert len(first.failed) == 1
    (waiting,) = [r for r in digest_rows(factory) if r.status == "queued"]
    before = len(fake.calls_to("chat.postMessage"))
    tomorrow = dt.datetime.now(dt.UTC) + digest.DIGEST_LIFETIME + dt.timedelta(minutes=1)
    swept = deliver_due(factory, slack_transports(client), now=tomorrow, channels=("slack",))
    assert swept.failed == [waiting.id] and swept.sent == []
    assert len(fake.calls_to("chat.postMessage")) == before
    (dropped,) = [r for r in digest_rows(factory) if r.id == waiting.id]
    assert dropped.status == "failed" and dropped.error == "expired"

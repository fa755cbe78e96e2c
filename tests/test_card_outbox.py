"""The contact card sent for real: a real SMTP server on loopback (aiosmtpd), local fakes of
Twilio and Brevo, the outbox worker, the rules that protect people (quiet hours, opposition, a
landline), a crash between the provider's answer and the commit, receipts and the short link on
`m3 web`, and `m3 outbox`.

The sample agency is imported on 23/11/2026; "now" is Tuesday 24/11/2026 at 11:00 in Paris."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import vobject  # type: ignore[import-untyped]
from aiosmtpd.controller import Controller
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot import outbox as outbox_module
from bot.card import CardRequest, advisor_card, plan, record_objection, request_card, vcard_bytes
from bot.card_web import card_routes, twilio_signature
from bot.models import Advisor, Case, Client, Correction, Outbox
from bot.outbox import DeliveryReport, Receipt, apply_receipt, deliver_due, make_transports
from bot.settings import Settings, load_settings
from tests.conftest import M3
from tests.fake_providers import BREVO_KEY, SID, TOKEN, FakeProviders

NOW = "2026-11-24T11:00"
MOBILE = "+33612345678"


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def providers() -> Iterator[FakeProviders]:
    with FakeProviders() as fake:
        yield fake


def make_settings(loaded: M3, **extra: str) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": loaded.database_url,
        "M3_NOW": NOW,
        "M3_AGENCY_NAME": "Agence",
        "M3_MAIL_FROM": "M+3 <m3@agence-corniche.example.fr>",
    }
    values.update(extra)
    return load_settings(**values)


def twilio(loaded: M3, providers: FakeProviders, **extra: str) -> Settings:
    return make_settings(
        loaded,
        SMS_BACKEND="twilio",
        SMS_API_URL=providers.url,
        TWILIO_ACCOUNT_SID=SID,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_FROM="AgenceCorni",
        **extra,
    )


def a_case(
    factory: sessionmaker[Session],
    *,
    phone: str | None = MOBILE,
    email_address: str | None = "client@example.fr",
    name: str | None = None,
) -> tuple[int, Advisor]:
    """A current case of the sample agency, its client's contact details set for the test."""
    with factory.begin() as session:
        case = session.scalars(select(Case).where(Case.is_current).order_by(Case.id)).first()
        assert case is not None
        client = case.client
        client.phone, client.phone_invalid = phone, False
        client.email, client.email_invalid = email_address, False
        if name is not None:
            client.client_type, client.company_name = "Entreprise", name
        advisor = case.advisor
        advisor.phone = "06 11 22 33 44"
        session.flush()
        session.expunge(advisor)
        return case.id, advisor


def ask(
    factory: sessionmaker[Session],
    settings: Settings,
    case_id: int,
    advisor: Advisor,
    channels: tuple[str, ...] = ("sms", "email"),
    **typed: str,
) -> CardRequest:
    return request_card(
        factory,
        case_id=case_id,
        asker=advisor,
        settings=settings,
        now=settings.now(),
        channels=channels,
        phone=typed.get("phone"),
        email=typed.get("email"),
    )


def deliver(
    factory: sessionmaker[Session], settings: Settings, at: dt.datetime | None = None, **kw: Any
) -> DeliveryReport:
    transports = make_transports(settings, None, printer=lambda _t: None, **kw)
    transports.sleep = lambda _s: None
    return deliver_due(factory, transports, now=at or settings.now(), channels=("sms", "email"))


def rows(factory: sessionmaker[Session], **where: Any) -> list[Outbox]:
    with factory() as session:
        query = select(Outbox).order_by(Outbox.id)
        for name, value in where.items():
            query = query.where(getattr(Outbox, name) == value)
        return list(session.scalars(query))


def tag(factory: sessionmaker[Session], case_id: int) -> str | None:
    with factory() as session:
        return session.get_one(Case, case_id).tag_card


# --- E-mail ----------------------------------------------------------------------------------


def test_the_email_reaches_a_real_smtp_server_with_the_card_attached_byte_for_byte(
    loaded: M3, factory: sessionmaker[Session], smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = make_settings(
        loaded, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_SECURITY="none"
    )
    case_id, advisor = a_case(factory, name="<b>Durand & fils</b>")
    result = ask(factory, settings, case_id, advisor, channels=("email",))
    assert list(result.queued) == ["email"] and not result.errors
    report = deliver(factory, settings)
    assert len(report.sent) == 1 and not report.failed

    ((sender, recipients, raw),) = inbox.messages
    assert sender == "m3@agence-corniche.example.fr" and recipients == ["client@example.fr"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Reply-To"] == advisor.email
    assert message["Date"] and message["Message-ID"]
    assert "votre contact à l'agence" in message["Subject"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Bonjour <b>Durand & fils</b>," in text and "Pour me joindre directement" in text
    assert "&lt;b&gt;Durand &amp; fils&lt;/b&gt;" in html and "<b>Durand" not in html
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_content_type() == "text/vcard"
    with factory() as session:
        expected = vcard_bytes(advisor_card(session.get_one(Advisor, advisor.id), settings))
    assert attachment.get_payload(decode=True) == expected  # CRLF kept byte for byte
    card = vobject.readOne(expected.decode())
    assert card.version.value == "3.0" and card.title.value == "Conseiller·ère"

    assert tag(factory, case_id) == "OK"
    (notice,) = rows(factory, channel="slack")
    assert "Carte envoyée" in notice.body and "client@example.fr" not in notice.body


def test_without_an_smtp_server_the_email_is_simulated_and_the_tag_unchanged(
    loaded: M3, factory: sessionmaker[Session]
) -> None:
    settings = make_settings(loaded)
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor)
    report = deliver(factory, settings)
    assert len(report.simulated) == 2 and not report.sent
    assert tag(factory, case_id) is None
    notices = rows(factory, channel="slack")
    assert len(notices) == 2 and all("simulé" in n.body for n in notices)


# --- SMS through the providers ---------------------------------------------------------------


def test_twilio_gets_one_sms_whatever_the_double_clicks_and_the_workers(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = twilio(loaded, providers)
    case_id, advisor = a_case(factory)
    first = ask(factory, settings, case_id, advisor, channels=("sms",))
    again = ask(factory, settings, case_id, advisor, channels=("sms",))
    assert list(first.queued) == ["sms"] and again.duplicates == ["sms"] and not again.queued

    reports: list[DeliveryReport] = []
    threads = [
        threading.Thread(target=lambda: reports.append(deliver(factory, settings)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(r.sent) for r in reports) == 1
    (taken,) = providers.accepted
    assert taken.to == MOBILE and taken.sender == "AgenceCorni" and not providers.problems
    assert "Julie" not in taken.body or "suit votre dossier" in taken.body
    assert "06 11 22 33 44" in taken.body and "Opposition aux messages" in taken.body
    (row,) = rows(factory, channel="sms")
    assert (row.status, row.provider, row.provider_message_id) == (
        "sent",
        "twilio",
        taken.message_id,
    )
    assert tag(factory, case_id) == "OK"
    assert deliver(factory, settings).calls == 0  # nothing left


def test_429_and_5xx_are_retried_and_the_sms_leaves_once(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = twilio(loaded, providers)
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))
    providers.fail_next("429", "500")
    report = deliver(factory, settings)
    assert report.calls == 3 and len(report.sent) == 1 and len(providers.accepted) == 1


def test_a_provider_down_for_a_whole_round_is_tried_again_later_then_fails_for_good(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = twilio(loaded, providers)
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))
    at = settings.now()
    for round_number in range(1, outbox_module.MAX_ROUNDS + 1):
        providers.fail_next("503", "503", "503")
        report = deliver(factory, settings, at)
        (row,) = rows(factory, channel="sms")
        if round_number < outbox_module.MAX_ROUNDS:
            assert report.retry_later == [row.id] and row.status == "queued"
            assert deliver(factory, settings, at).calls == 0  # not due before its backoff
            at += dt.timedelta(hours=2)
    assert row.status == "failed" and row.error == "provider_error" and row.attempts == 5
    assert tag(factory, case_id) == "KO" and not providers.accepted
    (notice,) = rows(factory, channel="slack")
    assert "le fournisseur est en panne" in notice.body


def test_an_invalid_number_fails_at_once_sets_the_tag_ko_and_tells_why(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = twilio(loaded, providers)
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))
    providers.fail_next("400:21211")
    report = deliver(factory, settings)
    assert report.calls == 1 and len(report.failed) == 1
    (row,) = rows(factory, channel="sms")
    assert (row.status, row.error) == ("failed", "invalid_number")
    assert tag(factory, case_id) == "KO"
    (notice,) = rows(factory, channel="slack")
    assert "numéro invalide" in notice.body and "12345678" not in notice.body


def test_brevo_gets_the_documented_request(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = make_settings(
        loaded,
        SMS_BACKEND="brevo",
        SMS_API_URL=providers.url,
        BREVO_API_KEY=BREVO_KEY,
        M3_AGENCY_NAME="Agence Corniche",
    )
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))
    assert len(deliver(factory, settings).sent) == 1
    (taken,) = providers.accepted
    (row,) = rows(factory, channel="sms")
    assert taken.sender == "AgenceCorni" and taken.to == "33612345678"
    assert taken.extra["type"] == "transactional" and taken.extra["tag"] == row.key
    assert taken.extra["unicodeEnabled"] is False and not providers.problems
    assert row.provider_message_id == taken.message_id and tag(factory, case_id) == "OK"


# --- A crash between the provider's answer and the commit ------------------------------------


def test_a_worker_killed_after_the_provider_answered_never_sends_twice(
    loaded: M3,
    factory: sessionmaker[Session],
    providers: FakeProviders,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = twilio(loaded, providers, M3_PUBLIC_URL="https://m3.agence.example.fr")
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))

    def killed(*_: Any, **__: Any) -> None:
        raise SystemExit("killed")  # the process dies before recording the answer

    with monkeypatch.context() as patch:
        patch.setattr(outbox_module, "_record", killed)
        with pytest.raises(SystemExit):
            deliver(factory, settings)
    assert len(providers.accepted) == 1
    (row,) = rows(factory, channel="sms")
    assert row.status == "sending"

    now = settings.now()
    assert deliver(factory, settings, now + dt.timedelta(minutes=1)).calls == 0  # still leased
    later = deliver(factory, settings, now + outbox_module.LEASE + dt.timedelta(seconds=1))
    assert later.calls == 0 and later.uncertain == [row.id]
    assert deliver(factory, settings, now + dt.timedelta(hours=5)).calls == 0
    assert len(providers.accepted) == 1  # never twice
    (row,) = rows(factory, channel="sms")
    assert row.status == "uncertain" and tag(factory, case_id) is None
    (notice,) = rows(factory, channel="slack")
    assert "incertain" in notice.body

    # Twilio's status callback carries the row's reference: the receipt resolves it.
    (taken,) = providers.accepted
    assert taken.extra["StatusCallback"].endswith(f"/sms/twilio/status?ref={row.id}")
    assert apply_receipt(
        factory,
        Receipt(row_id=row.id, provider="twilio", status="delivered", message_id=taken.message_id),
        now=now,
    )
    (row,) = rows(factory, channel="sms")
    assert (row.status, row.delivery_status) == ("sent", "delivered")
    assert tag(factory, case_id) == "OK"


def test_a_provider_that_takes_the_sms_and_hangs_is_not_sent_twice(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = twilio(loaded, providers)
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))
    providers.fail_next("hang")
    report = deliver(factory, settings, timeout=0.5)
    assert len(report.uncertain) == 1 and report.calls == 1
    assert deliver(factory, settings, settings.now() + dt.timedelta(hours=1)).calls == 0
    assert len(providers.accepted) == 1


# --- Rules that protect people ---------------------------------------------------------------


def test_on_a_sunday_the_sms_waits_for_monday_and_the_email_leaves_at_once(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = twilio(
        loaded,
        providers,
        M3_NOW="2026-11-29T10:00",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(port),
        SMTP_SECURITY="none",
    )
    case_id, advisor = a_case(factory)
    with factory() as session:
        shown = plan(session, case_id=case_id, asker=advisor, settings=settings, now=settings.now())
    monday = dt.datetime(2026, 11, 30, 8, 0, tzinfo=settings.zone)
    assert shown.sms_leaves_at == monday
    result = ask(factory, settings, case_id, advisor)
    assert result.sms_leaves_at == monday
    report = deliver(factory, settings)
    assert len(report.sent) == 1 and len(inbox.messages) == 1 and not providers.accepted
    assert deliver(factory, settings, monday - dt.timedelta(minutes=1)).calls == 0
    assert len(deliver(factory, settings, monday).sent) == 1 and len(providers.accepted) == 1


def test_a_client_who_objected_gets_nothing_now_or_later(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = twilio(loaded, providers, M3_NOW="2026-11-24T21:00")  # the SMS would wait
    case_id, advisor = a_case(factory)
    assert list(ask(factory, settings, case_id, advisor, channels=("sms",)).queued) == ["sms"]
    with factory() as session:
        client_id = session.get_one(Case, case_id).client_id
    assert record_objection(factory, client_id=client_id, asker=advisor, today=settings.today())
    assert not record_objection(factory, client_id=client_id, asker=advisor, today=settings.today())
    (row,) = rows(factory, channel="sms")
    assert row.status == "cancelled"
    assert deliver(factory, settings, settings.now() + dt.timedelta(days=1)).calls == 0
    again = ask(factory, settings, case_id, advisor)
    assert again.objected and not again.queued
    with factory() as session:
        shown = plan(session, case_id=case_id, asker=advisor, settings=settings, now=settings.now())
    assert shown.objected_on == dt.date(2026, 11, 24) and shown.channels == []
    assert not providers.accepted


def test_an_objection_after_queueing_is_checked_again_right_before_sending(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = twilio(loaded, providers)
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))
    with factory.begin() as session:
        session.get_one(Case, case_id).client.objected_on = dt.date(2026, 11, 24)
    assert len(deliver(factory, settings).cancelled) == 1 and not providers.accepted


def test_a_landline_is_not_texted_and_a_missing_email_means_sms_only(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = twilio(loaded, providers)
    case_id, advisor = a_case(factory, phone="+33491000000", email_address=None)
    with factory() as session:
        shown = plan(session, case_id=case_id, asker=advisor, settings=settings, now=settings.now())
    assert shown.phone_problem == "landline" and shown.email_problem == "missing"
    assert shown.channels == []
    refused = ask(factory, settings, case_id, advisor)
    assert refused.errors == {"phone": "phone_landline", "email": "email_missing"}
    # Corrected in the modal: kept as CRM corrections, and the card leaves.
    fixed = ask(
        factory, settings, case_id, advisor, phone="06 98 76 54 32", email="nouveau@example.fr"
    )
    assert set(fixed.queued) == {"sms", "email"} and not fixed.errors
    with factory() as session:
        corrections = {c.field: c.new_value for c in session.scalars(select(Correction))}
    assert corrections == {"phone": "+33698765432", "email": "nouveau@example.fr"}


# --- m3 web: the short link and the receipts -------------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_message(self, *_: Any) -> None:
        pass


def _serve(settings: Settings, factory: sessionmaker[Session]) -> tuple[Any, str]:
    httpd = make_server("127.0.0.1", 0, card_routes(settings, factory), handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def _request(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def test_the_short_link_serves_the_card_until_it_expires_and_receipts_are_verified(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    public = "https://m3.agence.example.fr"
    settings = twilio(loaded, providers, M3_PUBLIC_URL=public)
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))
    deliver(factory, settings)
    (row,) = rows(factory, channel="sms")
    assert row.link_token and f"{public}/c/{row.link_token}" in row.body
    httpd, base = _serve(settings, factory)
    try:
        status, body, headers = _request(f"{base}/c/{row.link_token}")
        assert status == 200 and headers["Content-Type"].startswith("text/vcard")
        assert body == row.attachment
        assert _request(f"{base}/c/{row.link_token}x")[0] == 404
        # Twilio's status callback: signed, or refused.
        params = {"MessageSid": row.provider_message_id or "", "MessageStatus": "delivered"}
        form = urllib.parse.urlencode(params).encode()
        url = f"{public}/sms/twilio/status?ref={row.id}"
        bad = {"X-Twilio-Signature": "forged", "Content-Type": "application/x-www-form-urlencoded"}
        assert _request(f"{base}/sms/twilio/status?ref={row.id}", form, bad)[0] == 403
        good = {**bad, "X-Twilio-Signature": twilio_signature(TOKEN, url, params)}
        assert _request(f"{base}/sms/twilio/status?ref={row.id}", form, good)[0] == 204
        (row,) = rows(factory, channel="sms")
        assert row.delivery_status == "delivered"
    finally:
        httpd.shutdown()
    expired = twilio(loaded, providers, M3_PUBLIC_URL=public, M3_NOW="2027-01-05T11:00")
    httpd, base = _serve(expired, factory)
    try:
        assert _request(f"{base}/c/{row.link_token}")[0] == 404
    finally:
        httpd.shutdown()


def test_brevo_webhooks_need_the_token_and_an_undelivered_sms_fails(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = make_settings(
        loaded,
        SMS_BACKEND="brevo",
        SMS_API_URL=providers.url,
        BREVO_API_KEY=BREVO_KEY,
        BREVO_WEBHOOK_TOKEN="hook-secret",
        M3_PUBLIC_URL="https://m3.agence.example.fr",
    )
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))
    deliver(factory, settings)
    (taken,) = providers.accepted
    (row,) = rows(factory, channel="sms")
    assert taken.extra["webUrl"] == (
        f"https://m3:hook-secret@m3.agence.example.fr/sms/brevo/events?ref={row.id}"
    )
    event = json.dumps({"msg_status": "hard_bounce", "messageId": int(taken.message_id)}).encode()
    httpd, base = _serve(settings, factory)
    try:
        url = f"{base}/sms/brevo/events?ref={row.id}"
        assert _request(url, event, {"Authorization": "Bearer nope"})[0] == 403
        assert tag(factory, case_id) == "OK"
        assert _request(url, event, {"Authorization": "Bearer hook-secret"})[0] == 204
    finally:
        httpd.shutdown()
    (row,) = rows(factory, channel="sms")
    assert (row.status, row.error, row.delivery_status) == ("failed", "undelivered", "hard_bounce")
    assert tag(factory, case_id) == "KO"


# --- m3 outbox ---------------------------------------------------------------------------------


def test_m3_outbox_lists_masked_and_delivers_once(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = twilio(loaded, providers)
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))
    env = {
        "SMS_BACKEND": "twilio",
        "SMS_API_URL": providers.url,
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_FROM": "AgenceCorni",
        "M3_NOW": NOW,
    }
    from typer.testing import CliRunner

    from bot.cli import app

    def m3(*args: str) -> Any:
        return CliRunner().invoke(
            app,
            list(args),
            env={"DATABASE_URL": loaded.database_url, **env},
            catch_exceptions=False,
        )

    listed = json.loads(m3("outbox", "--json").stdout)
    ((line,),) = [listed["rows"]]
    assert (line["channel"], line["status"], line["recipient"]) == ("sms", "queued", "+336••••••78")
    delivered = m3("outbox", "--deliver", "--json")
    assert delivered.exit_code == 0 and "12345678" not in delivered.stdout
    assert json.loads(delivered.stdout)["delivered"]["sent"] == [line["id"]]
    assert json.loads(m3("outbox", "--deliver", "--json").stdout)["delivered"]["sent"] == []
    assert len(providers.accepted) == 1
    text = m3("outbox").stdout
    assert "envoyé" in text and "+336••••••78" in text and TOKEN not in text


def test_the_interrupted_claim_is_listed_as_uncertain(
    loaded: M3, factory: sessionmaker[Session], providers: FakeProviders
) -> None:
    settings = twilio(loaded, providers)
    case_id, advisor = a_case(factory)
    ask(factory, settings, case_id, advisor, channels=("sms",))
    with factory.begin() as session:
        session.execute(
            update(Outbox).values(
                status="sending", claimed_at=dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
            )
        )
    assert len(deliver(factory, settings).uncertain) == 1 and not providers.accepted
    with factory() as session:
        assert session.get_one(Client, session.get_one(Case, case_id).client_id).objected_on is None

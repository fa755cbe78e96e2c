"""The contact card (« SMS/Mail coordonnées »): the advisor's vCard, the SMS and e-mail that
carry it, what the confirmation modal shows, and the request that queues the sends.

The card's « victoire » is that the client saved the advisor's number and e-mail. The tag
*SMS/Mail coordonnées* turns OK only when a provider (or the SMTP server) really accepted a send
(`card_tag`), never from a checkbox; a simulated send (the console backend, no SMTP server)
never sets it.

Choices made here, where the issue and the domain page are silent:
- The **card version** is a hash of the vCard's bytes and of the address it goes to: the same
  card to the same number is one send per case and channel (a double click, Slack's retry, two
  processes), while a corrected number, or an advisor whose details changed, is a new version
  that may be sent.
- The card's phone is the advisor's direct line, else the branch's; its organisation is
  `M3_AGENCY_NAME` and the branch (« Agence Corniche »); its title is « Conseiller·ère ».
- A number that is not a mobile is not texted, a client with no (valid) e-mail gets only the
  SMS; a correction typed in the modal is recorded as a CRM correction (like those of the call
  report), the CRM staying the source of truth.
- A client who objected (`Client.objected_on`) gets nothing, now or later: the modal says so,
  queued sends are cancelled, and the worker checks again right before sending.
- The tag after the sends (`card_tag`): OK as soon as one channel was accepted; KO when a send
  failed for good and none was accepted; otherwise unchanged.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import vobject  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.calls import completed_on_for
from bot.crm.rows import normalize_email
from bot.models import (
    Advisor,
    AuditEntry,
    Case,
    Client,
    Correction,
    Outbox,
    OutboxStatus,
)
from bot.rendering import render
from bot.rules import CaseState, TagValue, status_from_tags
from bot.settings import Settings
from bot.sms import (
    MAX_SEGMENTS,
    SmsBlock,
    SmsShape,
    french_format,
    is_mobile,
    measure,
    next_sms_time,
    sender_id,
    sms_block,
    to_e164,
)

TITLE = "Conseiller·ère"
LINK_LIFETIME = dt.timedelta(days=30)
LINK_PATH = "/c/"


class Channel:
    SMS = "sms"
    EMAIL = "email"
    ALL = ("sms", "email")


# --- The card ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdvisorCard:
    first_name: str
    last_name: str
    email: str
    phone: str | None  # E.164
    agency: str
    branch: str | None
    address: str = ""
    opening_hours: str = ""
    title: str = TITLE

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    @property
    def organisation(self) -> str:
        """« Agence Corniche »: the agency, and the branch unless the agency's name has it."""
        if self.branch and self.branch.casefold() not in self.agency.casefold():
            return f"{self.agency} {self.branch}"
        return self.agency

    @property
    def phone_display(self) -> str | None:
        return french_format(self.phone) if self.phone else None

    @property
    def filename(self) -> str:
        base = "-".join(p for p in (self.first_name, self.last_name) if p) or "contact"
        plain = "".join(c if c.isalnum() else "-" for c in base.casefold())
        return f"{plain}.vcf"


def advisor_card(advisor: Advisor, settings: Settings) -> AdvisorCard:
    branch_name = advisor.branch.name if advisor.branch is not None else None
    branch = settings.branch(branch_name)
    phone = to_e164(advisor.phone) if advisor.phone else None
    if phone is None and branch is not None and branch.phone:
        phone = to_e164(branch.phone)
    return AdvisorCard(
        first_name=advisor.first_name,
        last_name=advisor.last_name,
        email=advisor.email,
        phone=phone,
        agency=settings.agency_name,
        branch=branch.name if branch is not None else branch_name,
        address=branch.address if branch is not None else "",
        opening_hours=branch.opening_hours if branch is not None else "",
    )


def vcard_bytes(card: AdvisorCard) -> bytes:
    """The card as vCard 3.0 (vobject): FN, N, ORG (agency; branch), TITLE, TEL;TYPE=WORK,VOICE
    in E.164, EMAIL, ADR of the branch, the opening hours in NOTE. CRLF line endings, UTF-8."""
    vcard = vobject.vCard()
    vcard.add("n").value = vobject.vcard.Name(family=card.last_name, given=card.first_name)
    vcard.add("fn").value = card.full_name
    vcard.add("org").value = [card.agency, *([card.branch] if card.branch else [])]
    vcard.add("title").value = card.title
    if card.phone:
        tel = vcard.add("tel")
        tel.value = card.phone
        tel.type_param = ["WORK", "VOICE"]
    email = vcard.add("email")
    email.value = card.email
    email.type_param = ["INTERNET", "WORK"]
    if card.address:
        adr = vcard.add("adr")
        adr.value = vobject.vcard.Address(street=card.address)
        adr.type_param = ["WORK"]
    if card.opening_hours:
        vcard.add("note").value = f"Horaires de l'agence : {card.opening_hours}"
    text: str = vcard.serialize()
    return text.encode("utf-8")


def card_version(vcf: bytes, recipient: str) -> str:
    return hashlib.sha256(vcf + b"\x00" + recipient.encode()).hexdigest()[:12]


def card_key(case_id: int, channel: str, version: str) -> str:
    return f"card:{case_id}:{channel}:{version}"


class SmsTooLong(ValueError):
    """The rendered SMS would take more than `MAX_SEGMENTS` SMS."""

    def __init__(self, text: str, shape: SmsShape) -> None:
        super().__init__(f"{shape.segments} SMS ({shape.encoding.value}, {shape.units} unités)")
        self.text = text
        self.shape = shape


def sms_text(card: AdvisorCard, *, link: str | None) -> tuple[str, SmsShape]:
    """The SMS (templates/sms/card.txt.j2) and its shape; `SmsTooLong` beyond two SMS."""
    text = " ".join(render("sms/card.txt.j2", card=card, link=link).split())
    shape = measure(text)
    if shape.segments > MAX_SEGMENTS:
        raise SmsTooLong(text, shape)
    return text, shape


@dataclass(frozen=True)
class MailContent:
    subject: str
    text: str
    html: str
    filename: str


def mail_content(card: AdvisorCard, client_name: str) -> MailContent:
    from bot.mail import render_html

    subject = " ".join(render("mail/card_subject.txt.j2", card=card).split())
    context = {"card": card, "client_name": client_name, "filename": card.filename}
    return MailContent(
        subject=subject,
        text=render("mail/card.txt.j2", **context) + "\n",
        html=render_html("mail/card.html.j2", subject=subject, **context),
        filename=card.filename,
    )


def card_tag(statuses: Iterable[str]) -> TagValue | None:
    """The tag after a case's card sends: OK once one was accepted, KO when one failed for
    good and none was accepted, else None (unchanged: queued, simulated, uncertain)."""
    seen = set(statuses)
    if OutboxStatus.SENT.value in seen:
        return TagValue.OK
    if OutboxStatus.FAILED.value in seen:
        return TagValue.KO
    return None


# --- What the modal shows ------------------------------------------------------------------


@dataclass
class CardPlan:
    """Everything the confirmation modal shows for a case, worked out from the CRM record (or
    the corrections typed in the modal), the rules and the clock."""

    case_id: int
    client_name: str
    client_number: str
    card: AdvisorCard
    objected_on: dt.date | None
    phone: str | None  # E.164
    phone_typed: str  # as shown in the modal
    phone_problem: str | None  # invalid, landline, missing
    email: str | None
    email_problem: str | None  # invalid, missing
    sms: str | None
    sms_shape: SmsShape | None
    sms_too_long: SmsTooLong | None
    mail: MailContent
    sms_leaves_at: dt.datetime | None  # when quiet hours hold it, else None
    sms_block: SmsBlock | None
    simulated_sms: bool
    simulated_mail: bool
    link: bool
    tag: str | None
    previous: list[tuple[str, str]] = field(default_factory=list)  # (channel, status)

    @property
    def channels(self) -> list[str]:
        """The channels that can carry the card now."""
        found = []
        if self.objected_on is None:
            if self.phone and self.phone_problem is None and self.sms is not None:
                found.append(Channel.SMS)
            if self.email and self.email_problem is None:
                found.append(Channel.EMAIL)
        return found


class CardRefusal(Exception):
    """The asker may not send this case's card: `case_gone`, `not_yours` or `closed` (worded
    by templates/slack/card.j2)."""


def _load(session: Session, case_id: int) -> Case | None:
    return session.get(Case, case_id)


def _check(case: Case | None, asker: Advisor, today: dt.date) -> Case:
    if case is None:
        raise CardRefusal("case_gone")
    if case.advisor_id != asker.id and not asker.is_manager:
        raise CardRefusal("not_yours")
    if case.state(today) is CaseState.CANCELLED:
        raise CardRefusal("closed")
    return case


def _phone(typed: str | None, client: Client) -> tuple[str | None, str, str | None]:
    if typed is not None and typed.strip():
        e164 = to_e164(typed)
        if e164 is None:
            return None, typed.strip(), "invalid"
        # Shown as the CRM's number is (« 06 12 34 56 78 »), whatever spacing was typed.
        return e164, french_format(e164), None if is_mobile(e164) else "landline"
    if not client.phone:
        return None, "", "missing"
    shown = french_format(client.phone)
    if client.phone_invalid or to_e164(client.phone) is None:
        return None, shown, "invalid"
    e164 = to_e164(client.phone)
    return e164, shown, None if e164 and is_mobile(e164) else "landline"


def _email(typed: str | None, client: Client) -> tuple[str | None, str | None]:
    value = typed.strip() if typed is not None and typed.strip() else client.email
    if not value:
        return None, "missing"
    normal = normalize_email(value)
    if normal is None or (typed is None and client.email_invalid):
        return value, "invalid"
    return normal, None


def link_url(settings: Settings, token: str) -> str | None:
    return f"{settings.public_url}{LINK_PATH}{token}" if settings.public_url else None


# A placeholder of a real token's length, to measure the SMS before the token exists.
_TOKEN_BYTES = 9
_SAMPLE_TOKEN = "x" * len(secrets.token_urlsafe(_TOKEN_BYTES))


def plan(
    session: Session,
    *,
    case_id: int,
    asker: Advisor,
    settings: Settings,
    now: dt.datetime,
    phone: str | None = None,
    email: str | None = None,
) -> CardPlan:
    """The modal's content for a case (raises `CardRefusal`). `phone` and `email` are the
    values typed in the modal, when any."""
    case = _check(_load(session, case_id), asker, now.date())
    client = case.client
    advisor = case.advisor
    card = advisor_card(advisor, settings)
    e164, shown, phone_problem = _phone(phone, client)
    address, email_problem = _email(email, client)
    link = link_url(settings, _SAMPLE_TOKEN)
    text: str | None
    shape: SmsShape | None
    too_long: SmsTooLong | None = None
    try:
        text, shape = sms_text(card, link=link)
    except SmsTooLong as exc:
        text, shape, too_long = None, exc.shape, exc
    block = sms_block(now, settings.zone)
    previous = [
        (row.channel, row.status)
        for row in session.scalars(
            select(Outbox)
            .where(Outbox.case_id == case.id, Outbox.purpose == "card")
            .order_by(Outbox.id)
        )
    ]
    return CardPlan(
        case_id=case.id,
        client_name=client.display_name,
        client_number=client.number,
        card=card,
        objected_on=client.objected_on,
        phone=e164,
        phone_typed=shown,
        phone_problem=phone_problem,
        email=address,
        email_problem=email_problem,
        sms=text,
        sms_shape=shape,
        sms_too_long=too_long,
        mail=mail_content(card, client.display_name),
        sms_leaves_at=next_sms_time(now, settings.zone) if block else None,
        sms_block=block,
        simulated_sms=settings.sms_backend == "console",
        simulated_mail=not settings.smtp_host,
        link=link is not None,
        tag=case.tag_card,
        previous=previous,
    )


# --- Sending -------------------------------------------------------------------------------


@dataclass
class CardRequest:
    """What `request_card` did: inline `errors` (block id → French), or the rows queued
    (`queued`: channel → row id) and those already there (`duplicates`)."""

    errors: dict[str, str] = field(default_factory=dict)
    queued: dict[str, int] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    objected: bool = False
    sms_leaves_at: dt.datetime | None = None


def _audit(actor: str, entity: str, key: object, name: str, old: object, new: object) -> AuditEntry:
    return AuditEntry(
        actor=actor,
        entity=entity,
        entity_key=str(key),
        field=name,
        old_value=None if old is None else str(old),
        new_value=None if new is None else str(new),
    )


def _correct(session: Session, client: Client, key: str, new: str, asker: Advisor) -> None:
    """A phone or e-mail typed in the modal that differs from the CRM: a correction for Lagon
    (an earlier pending one of the field is replaced, as in the call report)."""
    current = getattr(client, key)
    if current == new:
        return
    pending = session.scalars(
        select(Correction).where(
            Correction.client_id == client.id,
            Correction.field == key,
            Correction.applied_on.is_(None),
        )
    ).all()
    if any(c.new_value == new for c in pending):
        return
    for correction in pending:
        session.delete(correction)
    session.add(
        Correction(
            client_id=client.id, field=key, old_value=current, new_value=new, advisor_id=asker.id
        )
    )
    session.add(_audit(asker.email, "client", client.number, f"correction:{key}", current, new))


def record_objection(
    factory: sessionmaker[Session], *, client_id: int, asker: Advisor, today: dt.date
) -> bool:
    """The client objects to being contacted: recorded once (audited), and every queued send
    to them cancelled. Returns False when it was already recorded."""
    with factory.begin() as session:
        client = session.get(Client, client_id, with_for_update=True)
        if client is None or client.objected_on is not None:
            return False
        client.objected_on = today
        session.add(_audit(asker.email, "client", client.number, "objected_on", None, today))
        for row in session.scalars(
            select(Outbox).where(
                Outbox.client_id == client.id, Outbox.status == OutboxStatus.QUEUED.value
            )
        ):
            row.status = OutboxStatus.CANCELLED.value
            row.error = "objected"
            session.add(_audit(asker.email, "outbox", row.id, "status", "queued", "cancelled"))
    return True


def request_card(
    factory: sessionmaker[Session],
    *,
    case_id: int,
    asker: Advisor,
    settings: Settings,
    now: dt.datetime,
    channels: Sequence[str],
    phone: str | None,
    email: str | None,
) -> CardRequest:
    """Check the modal's submission and queue the sends, in one transaction. Each send is an
    `outbox` row keyed by case, channel and card version: the same request twice queues once.
    Raises `CardRefusal`."""
    result = CardRequest()
    with factory.begin() as session:
        case = _check(session.get(Case, case_id, with_for_update=True), asker, now.date())
        the_plan = plan(
            session,
            case_id=case_id,
            asker=asker,
            settings=settings,
            now=now,
            phone=phone,
            email=email,
        )
        if the_plan.objected_on is not None:
            result.objected = True
            return result
        wanted = [c for c in Channel.ALL if c in channels]
        if not wanted:
            result.errors["channels"] = "no_channel"
        if Channel.SMS in wanted:
            if the_plan.phone_problem is not None:
                result.errors["phone"] = f"phone_{the_plan.phone_problem}"
            elif the_plan.sms is None:
                result.errors["channels"] = "sms_too_long"
        if Channel.EMAIL in wanted and the_plan.email_problem is not None:
            result.errors["email"] = f"email_{the_plan.email_problem}"
        if phone and the_plan.phone_problem == "invalid":
            result.errors["phone"] = "phone_invalid"
        if email and the_plan.email_problem == "invalid":
            result.errors["email"] = "email_invalid"
        if result.errors:
            return result
        client = case.client
        if phone and the_plan.phone and the_plan.phone != client.phone:
            _correct(session, client, "phone", the_plan.phone, asker)
        if email and the_plan.email and the_plan.email != client.email:
            _correct(session, client, "email", the_plan.email, asker)
        card = the_plan.card
        vcf = vcard_bytes(card)
        common = {
            "purpose": "card",
            "case_id": case.id,
            "client_id": client.id,
            "advisor_id": case.advisor_id,
            "created_by": asker.email,
            "created_at": now.astimezone(dt.UTC),
            "next_attempt_at": now.astimezone(dt.UTC),
            "not_before": now.astimezone(dt.UTC),
            "attachment": vcf,
        }
        for channel in wanted:
            recipient = the_plan.phone if channel == Channel.SMS else the_plan.email
            assert recipient is not None
            version = card_version(vcf, recipient)
            row = Outbox(key=card_key(case.id, channel, version), channel=channel, **common)
            row.recipient = recipient
            row.card_version = version
            row.payload = {"client_name": client.display_name, "advisor": card.full_name}
            if channel == Channel.SMS:
                token = secrets.token_urlsafe(_TOKEN_BYTES)
                link = link_url(settings, token)
                text, _ = sms_text(card, link=link)
                row.body = text
                row.sender = settings.sms_sender or sender_id(settings.agency_name)
                leaves = next_sms_time(now, settings.zone)
                row.not_before = leaves.astimezone(dt.UTC)
                row.next_attempt_at = row.not_before
                if link is not None:
                    row.link_token = token
                    row.link_expires_at = (now + LINK_LIFETIME).astimezone(dt.UTC)
                if leaves > now:
                    result.sms_leaves_at = leaves
            else:
                content = mail_content(card, client.display_name)
                row.subject = content.subject
                row.body = content.text
                row.html = content.html
                row.sender = card.email  # Reply-To: the advisor
                row.payload = {**row.payload, "filename": content.filename}
            try:
                with session.begin_nested():
                    session.add(row)
                    session.flush()
            except IntegrityError:
                result.duplicates.append(channel)
                continue
            result.queued[channel] = row.id
            session.add(_audit(asker.email, "outbox", row.id, "queued", None, row.key))
    return result


def apply_card_tag(session: Session, case_id: int, *, today: dt.date, actor: str) -> str | None:
    """Set the case's card tag from its sends (`card_tag`), with the status and completion
    day that follow, audited. Returns the new tag when it changed."""
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        return None
    statuses = session.scalars(
        select(Outbox.status).where(Outbox.case_id == case_id, Outbox.purpose == "card")
    ).all()
    tag = card_tag(statuses)
    if tag is None or case.tag_card == tag.value:
        return None
    old = case.tag_card
    case.tag_card = tag.value
    status = status_from_tags(
        call=TagValue(case.tag_call) if case.tag_call else None,
        crm=TagValue(case.tag_crm) if case.tag_crm else None,
        review=TagValue(case.tag_review) if case.tag_review else None,
        card=tag,
    )
    completed = completed_on_for(status, previous=case.completed_on, today=today)
    session.add(_audit(actor, "case", case.id, "tag_card", old, tag.value))
    if case.status != status.value:
        session.add(_audit(actor, "case", case.id, "status", case.status, status.value))
        case.status = status.value
    if case.completed_on != completed:
        session.add(_audit(actor, "case", case.id, "completed_on", case.completed_on, completed))
        case.completed_on = completed
    return tag.value

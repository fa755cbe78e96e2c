"""The database model (SQLAlchemy 2 typed ORM). Migrations live in `bot/migrations/`."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.calls import CaseTags, CaseUpdate, CrmField, Objectives, Piece
from bot.rules import CaseState, Status, Window, case_state
from bot.rules import ClientType as ClientType  # re-exported: it lived here first

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Role(enum.StrEnum):
    ADVISOR = "Conseiller"
    MANAGER = "Manager"


class ContractStatus(enum.StrEnum):
    ACTIVE = "Actif"
    TERMINATED = "Résilié"
    SUSPENDED = "Suspendu"


class Branch(Base):
    __tablename__ = "branch"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Advisor(Base):
    __tablename__ = "advisor"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"))
    role: Mapped[str] = mapped_column(String(20), default=Role.ADVISOR.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    slack_user_id: Mapped[str | None] = mapped_column(String(32))
    slack_dm_channel: Mapped[str | None] = mapped_column(String(32))
    # The day the managers were told this advisor has no Slack account (told once).
    slack_missing_reported_on: Mapped[dt.date | None] = mapped_column(Date)

    branch: Mapped[Branch | None] = relationship(lazy="joined")
    # Loaded with the advisor: the digest and the listeners read them after the session closed.
    absences: Mapped[list[Absence]] = relationship(
        back_populates="advisor",
        order_by="Absence.start_on",
        lazy="selectin",
        cascade="all, delete-orphan",
    )

    def absence_on(self, day: dt.date) -> Absence | None:
        """The absence `day` falls in, if any."""
        return next((a for a in self.absences if a.covers(day)), None)

    def absent_on(self, day: dt.date) -> bool:
        return self.absence_on(day) is not None

    def absences_from(self, day: dt.date) -> list[Absence]:
        """The absences not over on `day` (the current one, then those planned), by date."""
        return [a for a in self.absences if a.end_on >= day]

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER.value


class Absence(Base):
    """A period an advisor is away, both days included: no digest for them meanwhile, and the
    managers' summary lists their cases so that someone calls them. An advisor may plan several;
    they never overlap (a new one overlapping another is merged with it)."""

    __tablename__ = "absence"

    id: Mapped[int] = mapped_column(primary_key=True)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"), index=True)
    start_on: Mapped[dt.date] = mapped_column(Date)
    end_on: Mapped[dt.date] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    advisor: Mapped[Advisor] = relationship(back_populates="absences")

    def covers(self, day: dt.date) -> bool:
        return self.start_on <= day <= self.end_on


class Client(Base):
    __tablename__ = "client"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    client_type: Mapped[str] = mapped_column(String(20))
    civility: Mapped[str | None] = mapped_column(String(20))
    last_name: Mapped[str | None] = mapped_column(String(120))
    first_name: Mapped[str | None] = mapped_column(String(120))
    company_name: Mapped[str | None] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(300))
    postal_code: Mapped[str | None] = mapped_column(String(12))
    city: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    phone_invalid: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(254))
    email_invalid: Mapped[bool] = mapped_column(Boolean, default=False)
    marital_status: Mapped[str | None] = mapped_column(String(40))
    professional_status: Mapped[str | None] = mapped_column(String(60))
    siret: Mapped[str | None] = mapped_column(String(20))
    naf_code: Mapped[str | None] = mapped_column(String(10))
    activity: Mapped[str | None] = mapped_column(String(200))
    revenue: Mapped[Decimal | None] = mapped_column(Numeric(16, 2))
    headcount: Mapped[int | None] = mapped_column(Integer)
    insurance_contact: Mapped[str | None] = mapped_column(String(200))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id"))
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"), index=True)
    # The day the client objected to being contacted: no call, no SMS, no e-mail from then on.
    objected_on: Mapped[dt.date | None] = mapped_column(Date)

    advisor: Mapped[Advisor] = relationship()
    branch: Mapped[Branch | None] = relationship()
    contracts: Mapped[list[Contract]] = relationship(back_populates="client")

    @property
    def display_name(self) -> str:
        if self.client_type == ClientType.COMPANY.value and self.company_name:
            return self.company_name
        person = " ".join(p for p in (self.first_name, self.last_name) if p)
        return person or self.company_name or self.number


class Contract(Base):
    __tablename__ = "contract"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    product: Mapped[str | None] = mapped_column(String(120))
    origin: Mapped[str | None] = mapped_column(String(60))
    new_business: Mapped[bool] = mapped_column(Boolean, default=False)
    effect_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=ContractStatus.ACTIVE.value)
    termination_date: Mapped[dt.date | None] = mapped_column(Date)
    seller: Mapped[str | None] = mapped_column(String(120))
    dp_signed: Mapped[bool | None] = mapped_column(Boolean)
    missing_pieces: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_seen_on: Mapped[dt.date] = mapped_column(Date)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("m3_case.id"), index=True)
    # The fingerprint of the export row this contract (and its client's details) was last
    # imported from, while that row still says exactly that: a later import skips a row with
    # this fingerprint unread (`bot.crm.portfolio`). NULL: read the row again next time.
    row_hash: Mapped[int | None] = mapped_column(BigInteger)
    # What that row has to fix in the CRM (a JSON list of the importer's French lines), reported
    # again at every import that skips it; NULL: nothing.
    row_flags: Mapped[str | None] = mapped_column(Text)

    client: Mapped[Client] = relationship(back_populates="contracts")
    case: Mapped[Case | None] = relationship(back_populates="contracts")

    @property
    def active(self) -> bool:
        return self.status == ContractStatus.ACTIVE.value


class Case(Base):
    """One M+3 call to make: a client, its AN contracts, a window, four tags."""

    __tablename__ = "m3_case"
    __table_args__ = (
        # At most one current case per client, whatever the importer's callers do.
        Index(
            "uq_m3_case_current_client",
            "client_id",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"), index=True)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    effect_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    window_start: Mapped[dt.date] = mapped_column(Date, index=True)
    window_end: Mapped[dt.date] = mapped_column(Date)
    deadline: Mapped[dt.date] = mapped_column(Date)
    tag_call: Mapped[str | None] = mapped_column(String(2))
    tag_crm: Mapped[str | None] = mapped_column(String(2))
    tag_review: Mapped[str | None] = mapped_column(String(2))
    tag_card: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(12), default=Status.TODO.value)
    completed_on: Mapped[dt.date | None] = mapped_column(Date)
    cancelled_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    client: Mapped[Client] = relationship()
    advisor: Mapped[Advisor] = relationship()
    contracts: Mapped[list[Contract]] = relationship(
        back_populates="case", order_by="Contract.effect_date"
    )
    attempts: Mapped[list[Attempt]] = relationship(back_populates="case", order_by="Attempt.at")
    review: Mapped[CaseReview | None] = relationship(back_populates="case")
    next_actions: Mapped[list[NextAction]] = relationship(
        back_populates="case", order_by="NextAction.due_on"
    )

    @property
    def window(self) -> Window:
        return Window(
            start=self.window_start, due=self.due_date, end=self.window_end, deadline=self.deadline
        )

    def state(self, today: dt.date) -> CaseState:
        return case_state(
            window=self.window,
            today=today,
            completed_on=self.completed_on,
            cancelled_on=self.cancelled_on,
        )

    @property
    def tags(self) -> CaseTags:
        return CaseTags.of(
            call=self.tag_call, crm=self.tag_crm, review=self.tag_review, card=self.tag_card
        )

    def apply(self, update: CaseUpdate) -> None:
        """Store the tags, status and completion day `bot.calls.after_call` worked out."""
        self.tag_call = update.tags.call.value if update.tags.call else None
        self.tag_crm = update.tags.crm.value if update.tags.crm else None
        self.tag_review = update.tags.review.value if update.tags.review else None
        self.tag_card = update.tags.card.value if update.tags.card else None
        self.status = update.status.value
        self.completed_on = update.completed_on


class Attempt(Base):
    """One call attempt on a case: when, who, the outcome (`bot.calls.Outcome`), a note, and
    what comes next: a next try (failed call) or the callback agreed with the client."""

    __tablename__ = "attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("m3_case.id"), index=True)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    # The capture's idempotency key (one modal submission): the same submission received
    # twice records one attempt, the database refusing the second.
    submission_key: Mapped[str | None] = mapped_column(String(100), unique=True, index=True)
    callback_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    next_try_on: Mapped[dt.date | None] = mapped_column(Date)

    case: Mapped[Case] = relationship(back_populates="attempts")
    advisor: Mapped[Advisor] = relationship()


class CaseReview(Base):
    """What the calls established for the three objectives of a case (one per case, updated
    by each capture). Enum values are stored as their codes (`bot.calls`)."""

    __tablename__ = "case_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("m3_case.id"), unique=True)
    # Objective 1: the `CrmField` codes validated with the client.
    crm_checked: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Objective 2: signatures, and the `Piece` codes still awaited.
    dp_signed: Mapped[bool] = mapped_column(Boolean, default=False)
    quotes_signed: Mapped[bool] = mapped_column(Boolean, default=False)
    pieces_missing: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Objective 3: done or not, contracts held elsewhere ({"product", "insurer"}), the gaps the
    # advisor kept (`Product` codes).
    review_done: Mapped[bool] = mapped_column(Boolean, default=False)
    held_elsewhere: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    gaps: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"))

    case: Mapped[Case] = relationship(back_populates="review")

    def objectives(self) -> Objectives:
        return Objectives(
            crm_checked=frozenset(CrmField(f) for f in self.crm_checked),
            dp_signed=self.dp_signed,
            quotes_signed=self.quotes_signed,
            pieces_missing=frozenset(Piece(p) for p in self.pieces_missing),
            review_done=self.review_done,
        )


class NextAction(Base):
    """A follow-up decided during the review: a quote to send, an appointment to plan,
    documents to send, a follow-up call (`bot.calls.NextActionKind`), each with its date."""

    __tablename__ = "next_action"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("m3_case.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempt.id"))
    kind: Mapped[str] = mapped_column(String(12))
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    product: Mapped[str | None] = mapped_column(String(40))  # a `Product` code
    done_on: Mapped[dt.date | None] = mapped_column(Date)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="next_actions")


class Correction(Base):
    """A CRM value an advisor corrected during a call, to be typed into Lagon; a later import
    carrying the new value marks it applied."""

    __tablename__ = "correction"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("attempt.id"))
    field: Mapped[str] = mapped_column(String(40))  # a `CrmField` code
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    applied_on: Mapped[dt.date | None] = mapped_column(Date)


class ReminderKind(enum.StrEnum):
    CALLBACK = "callback"  # a DM shortly before an agreed callback


class ReminderStatus(enum.StrEnum):
    CLAIMED = "claimed"  # a runner took it and is posting
    SENT = "sent"
    SKIPPED = "skipped"  # no Slack account, absent advisor, case closed meanwhile


class Reminder(Base):
    """One reminder DM about an attempt: the row that makes it exactly once (claimed and
    committed before the DM is posted, as the digest does)."""

    __tablename__ = "reminder"
    __table_args__ = (UniqueConstraint("attempt_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempt.id"))
    kind: Mapped[str] = mapped_column(String(20), default=ReminderKind.CALLBACK.value)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"))
    status: Mapped[str] = mapped_column(String(12), default=ReminderStatus.CLAIMED.value)
    claimed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))


class ImportRun(Base):
    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(500))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    import_date: Mapped[dt.date] = mapped_column(Date)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)

    rejected_rows: Mapped[list[RejectedRow]] = relationship(
        back_populates="run", order_by="RejectedRow.line"
    )


_REASON_LENGTH = 500


class RejectedRow(Base):
    __tablename__ = "rejected_row"

    id: Mapped[int] = mapped_column(primary_key=True)
    import_run_id: Mapped[int] = mapped_column(ForeignKey("import_run.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(_REASON_LENGTH))
    raw: Mapped[str | None] = mapped_column(Text)

    run: Mapped[ImportRun] = relationship(back_populates="rejected_rows")

    @staticmethod
    def fitted(reason: str) -> str:
        """The reason as the column holds it: past its length, cut and ended with « … » (a
        reason quotes the file's values, which no import should crash on)."""
        if len(reason) <= _REASON_LENGTH:
            return reason
        return reason[: _REASON_LENGTH - 1] + "…"


class AuditEntry(Base):
    """A change to a record: who or what made it, the field, before and after.

    `actor` (an advisor's e-mail, or `import:<run>`, `m3 outbox`…) and `entity_key` (an
    advisor's e-mail, a client or contract number, an id) are as long as the longest value
    they take, an e-mail (`Advisor.email`)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    actor: Mapped[str] = mapped_column(String(254))
    entity: Mapped[str] = mapped_column(String(30))
    entity_key: Mapped[str] = mapped_column(String(254))
    field: Mapped[str] = mapped_column(String(60))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_key"),)


class DigestStatus(enum.StrEnum):
    CLAIMED = "claimed"  # a runner took it and is posting
    SENT = "sent"
    SKIPPED = "skipped"  # nothing to say, absent, or no Slack account


class Digest(Base):
    """One advisor's morning digest for one day: the row that makes it exactly once."""

    __tablename__ = "digest"
    __table_args__ = (UniqueConstraint("advisor_id", "digest_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"))
    digest_date: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(12), default=DigestStatus.CLAIMED.value)
    claimed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    case_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    reason: Mapped[str | None] = mapped_column(String(200))


class DigestRun(Base):
    """A day's digest run as a whole (the managers' summary goes with it, once)."""

    __tablename__ = "digest_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_date: Mapped[dt.date] = mapped_column(Date, unique=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    summary_ts: Mapped[str | None] = mapped_column(String(32))


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting (for its time, or for the next try)
    SENDING = "sending"  # claimed by a worker, the provider being called
    SENT = "sent"  # the provider (or the SMTP server, or Slack) accepted it
    SIMULATED = "simulated"  # printed by the console backend: nothing left
    FAILED = "failed"  # a permanent error, or no try left
    UNCERTAIN = "uncertain"  # the request left and no answer came back: never resent blindly
    CANCELLED = "cancelled"  # not sent: the client objected meanwhile


class Outbox(Base):
    """One message to send, exactly once: an SMS or e-mail of the contact card, a DM. The
    unique `key` (case + channel + card version for the card) makes a double click, a retry
    or two workers one row; a worker claims the row (committed) before calling the provider,
    then records what the provider said (`bot.outbox`). The payload is frozen here so that a
    retry sends the same bytes. `recipient` is the full address (never logged: see
    `bot.sms.mask_phone`)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(10))  # sms, email, slack
    purpose: Mapped[str] = mapped_column(String(20))  # card, notice
    case_id: Mapped[int | None] = mapped_column(ForeignKey("m3_case.id"), index=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"))
    advisor_id: Mapped[int | None] = mapped_column(ForeignKey("advisor.id"))
    recipient: Mapped[str] = mapped_column(String(254))
    sender: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    card_version: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default=OutboxStatus.QUEUED.value, index=True)
    not_before: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claim: Mapped[str | None] = mapped_column(String(40))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    provider: Mapped[str | None] = mapped_column(String(20))
    provider_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    delivery_status: Mapped[str | None] = mapped_column(String(30))
    error: Mapped[str | None] = mapped_column(String(40))  # a reason code, worded by templates
    error_detail: Mapped[str | None] = mapped_column(String(300))
    link_token: Mapped[str | None] = mapped_column(String(40), unique=True)
    link_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WeeklySummary(Base):
    """The managers' weekly stats summary (`jobs/weekly.py`) of one week: the row that makes it
    exactly once. A runner claims it (committed) before posting, records the message once it
    is posted (`message_ts`), then the chart (`file_id`); a retry finishes what is missing."""

    __tablename__ = "weekly_summary"

    id: Mapped[int] = mapped_column(primary_key=True)
    week_start: Mapped[dt.date] = mapped_column(Date, unique=True)  # the Monday it is sent in
    status: Mapped[str] = mapped_column(String(12), default=DigestStatus.CLAIMED.value)
    claimed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    channel: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    file_id: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

"""The database model (SQLAlchemy 2 typed ORM). Migrations live in `bot/migrations/`."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.rules import CaseState, Status, Window, case_state

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


class ClientType(enum.StrEnum):
    PERSON = "Particulier"
    PROFESSIONAL = "Professionnel"
    COMPANY = "Entreprise"


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
    absent_from: Mapped[dt.date | None] = mapped_column(Date)
    absent_until: Mapped[dt.date | None] = mapped_column(Date)

    branch: Mapped[Branch | None] = relationship(lazy="joined")

    def absent_on(self, day: dt.date) -> bool:
        if self.absent_from is None:
            return False
        return self.absent_from <= day and (self.absent_until is None or day <= self.absent_until)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.email

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER.value


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


class Attempt(Base):
    """One call attempt on a case: when, who, the outcome, a note."""

    __tablename__ = "attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("m3_case.id"), index=True)
    advisor_id: Mapped[int] = mapped_column(ForeignKey("advisor.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    outcome: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="attempts")


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


class RejectedRow(Base):
    __tablename__ = "rejected_row"

    id: Mapped[int] = mapped_column(primary_key=True)
    import_run_id: Mapped[int] = mapped_column(ForeignKey("import_run.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    raw: Mapped[str | None] = mapped_column(Text)

    run: Mapped[ImportRun] = relationship(back_populates="rejected_rows")


class AuditEntry(Base):
    """A change to a record: who or what made it, the field, before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )
    actor: Mapped[str] = mapped_column(String(120))
    entity: Mapped[str] = mapped_column(String(30))
    entity_key: Mapped[str] = mapped_column(String(64))
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

"""Reading cases back: the `m3 cases` listing and each advisor's M+3 queue (the digest's
sections: new, à traiter, en retard), with what the advisor needs to prepare the call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.models import Advisor, Case, Client, ClientType
from bot.rules import CaseState, newly_eligible

# Objective 1: the fields of the CRM record to check, by client type (labels from the guide).
_PERSON_FIELDS = (
    ("address", "Adresse"),
    ("phone", "Téléphone"),
    ("email", "E-mail"),
    ("marital_status", "Situation matrimoniale"),
    ("professional_status", "Situation professionnelle"),
)
_PRO_FIELDS = (
    ("siret", "SIRET"),
    ("naf_code", "Code NAF"),
    ("activity", "Activité exacte"),
    ("revenue", "Chiffre d'affaires"),
    ("headcount", "Effectif"),
)
_COMPANY_FIELDS = (("insurance_contact", "Contact assurances"),)


def missing_crm_fields(client: Client) -> list[str]:
    """Labels of the CRM fields that are empty or flagged wrong for this client's type."""
    wanted = list(_PERSON_FIELDS)
    if client.client_type in (ClientType.PROFESSIONAL.value, ClientType.COMPANY.value):
        wanted += _PRO_FIELDS
    if client.client_type == ClientType.COMPANY.value:
        wanted += _COMPANY_FIELDS
    missing = []
    for name, label in wanted:
        value = getattr(client, name)
        if value is None or value == "":
            missing.append(label)
        elif (name, True) in (("phone", client.phone_invalid), ("email", client.email_invalid)):
            missing.append(f"{label} (invalide)")
    return missing


@dataclass(frozen=True)
class CaseView:
    id: int
    client_number: str
    client_name: str
    client_type: str
    client_first_name: str | None
    civility: str | None
    phone: str | None
    advisor_email: str
    advisor_name: str
    advisor_first_name: str
    branch_name: str | None
    contract_numbers: list[str]
    products: list[str]
    sellers: list[str]
    effect_date: dt.date
    due_date: dt.date
    window_start: dt.date
    window_end: dt.date
    deadline: dt.date
    state: CaseState
    status: str
    missing_fields: list[str]
    missing_pieces: list[str]
    marital_status: str | None = None
    professional_status: str | None = None

    @property
    def phone_display(self) -> str:
        """`06 12 34 56 78` for a French number, international format otherwise."""
        if not self.phone:
            return ""
        try:
            number = phonenumbers.parse(self.phone, "FR")
        except phonenumbers.NumberParseException:
            return self.phone
        fmt = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if number.country_code == 33
            else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        return phonenumbers.format_number(number, fmt)

    @property
    def seller_first_name(self) -> str | None:
        return self.sellers[0].split()[0] if self.sellers else None

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "client_number": self.client_number,
            "client_name": self.client_name,
            "client_type": self.client_type,
            "advisor_email": self.advisor_email,
            "contract_numbers": self.contract_numbers,
            "products": self.products,
            "effect_date": self.effect_date.isoformat(),
            "due_date": self.due_date.isoformat(),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "deadline": self.deadline.isoformat(),
            "state": self.state.value,
            "status": self.status,
            "missing_fields": self.missing_fields,
            "missing_pieces": self.missing_pieces,
        }


def _view(case: Case, today: dt.date) -> CaseView:
    client = case.client
    contracts = [c for c in case.contracts if c.active] or list(case.contracts)
    pieces: list[str] = []
    if any(c.dp_signed is False for c in contracts):
        pieces.append("DP signées")
    for contract in contracts:
        pieces.extend(p for p in contract.missing_pieces if p not in pieces)
    return CaseView(
        id=case.id,
        client_number=client.number,
        client_name=client.display_name,
        client_type=client.client_type,
        client_first_name=client.first_name,
        civility=client.civility,
        phone=None if client.phone_invalid else client.phone,
        advisor_email=case.advisor.email,
        advisor_name=case.advisor.full_name,
        advisor_first_name=case.advisor.first_name or case.advisor.full_name,
        branch_name=client.branch.name if client.branch else None,
        contract_numbers=[c.number for c in contracts],
        products=list(dict.fromkeys(c.product for c in contracts if c.product)),
        sellers=list(dict.fromkeys(c.seller for c in contracts if c.seller)),
        effect_date=case.effect_date,
        due_date=case.due_date,
        window_start=case.window_start,
        window_end=case.window_end,
        deadline=case.deadline,
        state=case.state(today),
        status=case.status,
        missing_fields=missing_crm_fields(client),
        missing_pieces=pieces,
        marital_status=client.marital_status,
        professional_status=client.professional_status,
    )


_ORDER = {
    CaseState.OPEN: 0,
    CaseState.LATE: 1,
    CaseState.UPCOMING: 2,
    CaseState.DONE: 3,
    CaseState.EXPIRED: 4,
    CaseState.CANCELLED: 5,
}


def list_cases(
    session: Session,
    *,
    today: dt.date,
    advisor_email: str | None = None,
    states: Iterable[CaseState] | None = None,
    case_id: int | None = None,
) -> list[CaseView]:
    """Cases as they stand on `today`, most urgent first (window closing soonest)."""
    query = select(Case).options(
        selectinload(Case.contracts),
        selectinload(Case.client).selectinload(Client.branch),
        selectinload(Case.advisor),
    )
    if advisor_email:
        query = query.join(Advisor, Case.advisor_id == Advisor.id).where(
            Advisor.email == advisor_email.strip().casefold()
        )
    if case_id is not None:
        query = query.where(Case.id == case_id)
    wanted = set(states) if states is not None else None
    views = []
    for case in session.scalars(query):
        view = _view(case, today)
        if wanted is None or view.state in wanted:
            views.append(view)
    views.sort(key=lambda v: (_ORDER[v.state], v.window_end, v.client_name))
    return views


@dataclass
class Queue:
    """One advisor's M+3 queue on a day: what the morning digest shows."""

    advisor: Advisor
    today: dt.date
    new: list[CaseView] = field(default_factory=list)
    to_handle: list[CaseView] = field(default_factory=list)
    late: list[CaseView] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new or self.to_handle or self.late)

    @property
    def total(self) -> int:
        return len(self.new) + len(self.to_handle) + len(self.late)


def build_queue(
    views: Sequence[CaseView], *, advisor: Advisor, today: dt.date, since: dt.date | None
) -> Queue:
    """Split an advisor's open and late cases: new since `since`, à traiter, en retard."""
    queue = Queue(advisor=advisor, today=today)
    for view in views:
        if view.state is CaseState.OPEN:
            if newly_eligible(window_start=view.window_start, since=since, today=today):
                queue.new.append(view)
            else:
                queue.to_handle.append(view)
        elif view.state is CaseState.LATE:
            queue.late.append(view)
    for section in (queue.new, queue.to_handle, queue.late):
        section.sort(key=lambda v: (v.window_end, v.client_name))
    return queue


def queues_for(session: Session, *, today: dt.date, since: dt.date | None) -> list[Queue]:
    """Every active advisor's queue (managers included when they hold a portfolio)."""
    views = list_cases(session, today=today, states=(CaseState.OPEN, CaseState.LATE))
    by_email: dict[str, list[CaseView]] = {}
    for view in views:
        by_email.setdefault(view.advisor_email, []).append(view)
    advisors = session.scalars(
        select(Advisor).where(Advisor.active).order_by(Advisor.last_name, Advisor.first_name)
    )
    return [
        build_queue(by_email.get(a.email, []), advisor=a, today=today, since=since)
        for a in advisors
        if a.email in by_email or not a.is_manager
    ]

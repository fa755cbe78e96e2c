"""The read model of a case: `CaseView`, everything the digest, the modals and the CLI show
about one case, built from the ORM objects in one place.

A case is about its own contracts (the AN contracts of the M+3: `contracts`, `products`,
`sellers`), but the call is about the client: `held` is every active contract the client holds
with us, and objective 2 (`missing_pieces`) and the review's gaps (`gaps()`) count all of them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import phonenumbers

from bot.calls import (
    CrmField,
    Gap,
    crm_fields,
    known_situation,
    product_from_label,
    suggest_gaps,
)
from bot.models import Case, Client, Contract
from bot.names import (
    Civility,
    Seller,
    SellerRole,
    civility_of,
    person_name,
    proper_case,
    read_seller,
)
from bot.rules import CaseState, ClientType, last_working_day


def missing_crm_fields(client: Client) -> list[str]:
    """The CRM fields (`bot.calls.CrmField` codes) that objective 1 needs for this client's
    type and the import found empty or invalid (labels are in `templates/`)."""
    missing = []
    for key in crm_fields(client.client_type):
        if key in (CrmField.BRANCH, CrmField.ADVISOR):
            continue  # always checked with the client, never "missing"
        value = getattr(client, key.value)
        invalid = (key is CrmField.PHONE and client.phone_invalid) or (
            key is CrmField.EMAIL and client.email_invalid
        )
        if value is None or value == "" or invalid:
            missing.append(key.value)
    return missing


@dataclass(frozen=True)
class AttemptView:
    at: dt.datetime  # zone-aware, UTC
    day: dt.date  # in the agency's zone
    outcome: str
    by: str  # the advisor's e-mail
    note: str | None = None
    callback_at: dt.datetime | None = None  # zone-aware, UTC
    next_try_on: dt.date | None = None


@dataclass(frozen=True)
class ActionView:
    id: int
    kind: str
    due_on: dt.date
    product: str | None = None
    done_on: dt.date | None = None

    @property
    def product_label(self) -> str | None:
        """The product's name as the CRM writes it (`Habitation`), from its code."""
        if self.product is None:
            return None
        known = product_from_label(self.product)
        return known.crm_label if known is not None else self.product


@dataclass(frozen=True)
class ContractView:
    """One contract as the case's modal lists it (« chez nous »)."""

    number: str
    product: str | None  # the CRM's label
    effect_date: dt.date
    seller: str | None = None  # as the export writes it
    dp_signed: bool | None = None
    missing_pieces: list[str] = field(default_factory=list)  # as the export lists them
    in_case: bool = False  # one of the case's own contracts


@dataclass(frozen=True)
class SellerGroup:
    """The case's contracts sold by one seller (None: no seller in the export), in the
    order the contracts took effect: the accroche names each seller with what they sold."""

    seller: Seller | None
    products: list[str]  # CRM labels, once each
    contracts: int


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
    missing_fields: list[str]  # `CrmField` codes, empty or invalid in the CRM
    missing_pieces: list[str]
    marital_status: str | None = None
    professional_status: str | None = None
    invalid_fields: list[str] = field(default_factory=list)  # flagged wrong by the import
    email: str | None = None
    tags: dict[str, str | None] = field(default_factory=dict)  # call, crm, review, card
    attempts: list[AttemptView] = field(default_factory=list)  # oldest first
    next_actions: list[ActionView] = field(default_factory=list)  # done or not, by date
    completed_on: dt.date | None = None
    client_last_name: str | None = None
    advisor_last_name: str = ""
    invalid_phone: str | None = None  # the phone as exported, when the import flagged it
    invalid_email: str | None = None  # the e-mail as exported, when the import flagged it
    contracts: list[ContractView] = field(default_factory=list)  # the case's, by effect date
    held: list[ContractView] = field(default_factory=list)  # every active one, the case's first

    @property
    def held_products(self) -> list[str]:
        """What the client holds with us (CRM labels, once each): all active contracts."""
        return list(dict.fromkeys(c.product for c in self.held if c.product)) or self.products

    @property
    def civility_code(self) -> str | None:
        civility = civility_of(self.civility)
        return civility.value if civility is not None else None

    @property
    def is_madame(self) -> bool:
        return civility_of(self.civility) is Civility.MADAME

    def last_day(self) -> dt.date:
        """The day the case must be called by: the window's last day while it is open (after
        it the call is late), the case's last day (`deadline`, after which it expires) once
        late — or the working day before when that day is a weekend or a public holiday: the
        advisors call on working days, so a window ending on a Saturday must be called by the
        Friday, which is then « dernier jour »."""
        return last_working_day(self.deadline if self.state is CaseState.LATE else self.window_end)

    def days_left(self, today: dt.date) -> int:
        """0 on the last day (« dernier jour »), 3 three days before it (« J-3 »)."""
        return (self.last_day() - today).days

    def read_seller(self, written: str) -> Seller:
        """A seller as the export writes it, read against the case's advisor."""
        return read_seller(
            written,
            advisor_first_name=self.advisor_first_name,
            advisor_last_name=self.advisor_last_name,
        )

    def seller_groups(self) -> list[SellerGroup]:
        """The case's contracts grouped by seller, each seller read against the advisor (the
        advisor who sold the contract says « c'est moi qui ai assuré… »)."""
        groups: dict[str, tuple[Seller | None, list[ContractView]]] = {}
        # A view built without its contracts: its products, sold by its first seller.
        first_seller = self.sellers[0] if self.sellers else None
        contracts = self.contracts or [
            ContractView(number=n, product=p, effect_date=self.effect_date, seller=first_seller)
            for n, p in zip(self.contract_numbers, self.products, strict=False)
        ]
        for contract in contracts:
            written = (contract.seller or "").strip()
            key = " ".join(written.casefold().split())
            if key not in groups:
                groups[key] = (self.read_seller(written) if written else None, [])
            groups[key][1].append(contract)
        return [
            SellerGroup(
                seller=seller,
                products=list(dict.fromkeys(c.product for c in items if c.product)),
                contracts=len(items),
            )
            for seller, items in groups.values()
        ]

    @property
    def advisor_named_in_full(self) -> bool:
        """The advisor gives their full name when a namesake sold one of the contracts."""
        return any(
            g.seller is not None and g.seller.role is SellerRole.NAMESAKE
            for g in self.seller_groups()
        )

    def gaps(self) -> list[Gap]:
        """The contracts the client's situation calls for (the domain's gap table, through
        `bot.calls.suggest_gaps`), none held with us: every active contract counts."""
        held = [product_from_label(c.product or "") for c in self.held] or [
            product_from_label(p) for p in self.products
        ]
        situation = known_situation(
            client_type=self.client_type,
            professional_status=self.professional_status,
            held=[p for p in held if p is not None],
            missing_pieces=[p for c in self.held for p in c.missing_pieces],
        )
        return suggest_gaps(situation)

    @property
    def pending_actions(self) -> list[ActionView]:
        return [a for a in self.next_actions if a.done_on is None]

    @property
    def callback_at(self) -> dt.datetime | None:
        """The callback agreed at the last attempt, if it was « rappel demandé »."""
        last = self.last_attempt
        return last.callback_at if last is not None and last.outcome == "rappel" else None

    @property
    def last_attempt(self) -> AttemptView | None:
        return self.attempts[-1] if self.attempts else None

    def attempts_since(self, day: dt.date) -> int:
        """Attempts made on `day` or later (the calling rules count 30 calendar days)."""
        return sum(1 for a in self.attempts if a.day >= day)

    def refused_on(self) -> dt.date | None:
        refusals = [a.day for a in self.attempts if a.outcome == "refus"]
        return max(refusals) if refusals else None

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
            "tags": dict(self.tags),
            "attempts": [
                {"at": a.at.isoformat(), "outcome": a.outcome, "by": a.by} for a in self.attempts
            ],
            "callback_at": self.callback_at.isoformat() if self.callback_at else None,
            "next_actions": [
                {
                    "kind": a.kind,
                    "due": a.due_on.isoformat(),
                    "product": a.product,
                    "done": a.done_on is not None,
                }
                for a in self.next_actions
            ],
            "completed_on": self.completed_on.isoformat() if self.completed_on else None,
        }


def _utc(at: dt.datetime) -> dt.datetime:
    """SQLite gives datetimes back without their zone: they are stored in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


AGENCY_ZONE = ZoneInfo("Europe/Paris")


def _client_name(client: Client) -> str:
    """The client as people call them, in one casing (« Mehdi Guyot »); a company by its
    name, as written."""
    if client.client_type == ClientType.COMPANY.value and client.company_name:
        return client.company_name
    return person_name(client.first_name, client.last_name) or client.company_name or client.number


def _contract_view(contract: Contract, case: Case) -> ContractView:
    return ContractView(
        number=contract.number,
        product=contract.product,
        effect_date=contract.effect_date,
        seller=contract.seller,
        dp_signed=contract.dp_signed,
        missing_pieces=list(contract.missing_pieces or []),
        in_case=contract.case_id == case.id,
    )


def _missing_pieces(contracts: list[ContractView]) -> list[str]:
    """Objective 2: the DP to sign and the pieces missing, over the contracts given."""
    pieces: list[str] = []
    if any(c.dp_signed is False for c in contracts):
        pieces.append("DP signées")
    for contract in contracts:
        pieces.extend(p for p in contract.missing_pieces if p not in pieces)
    return pieces


def case_view(case: Case, today: dt.date, zone: ZoneInfo = AGENCY_ZONE) -> CaseView:
    client = case.client
    # By effect date, then number: the same order on every database.
    ordered = sorted(case.contracts, key=lambda c: (c.effect_date, c.number))
    contracts = [c for c in ordered if c.active] or ordered
    own = [_contract_view(c, case) for c in contracts]
    others = sorted(
        (c for c in client.contracts if c.active and c.case_id != case.id),
        key=lambda c: (c.effect_date, c.number),
    )
    held = [_contract_view(c, case) for c in ordered if c.active]
    held += [_contract_view(c, case) for c in others]
    return CaseView(
        id=case.id,
        client_number=client.number,
        client_name=_client_name(client),
        client_type=client.client_type,
        client_first_name=proper_case(client.first_name) or None,
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
        missing_pieces=_missing_pieces(held or own),
        marital_status=client.marital_status,
        professional_status=client.professional_status,
        invalid_fields=[
            name
            for name, invalid in (("phone", client.phone_invalid), ("email", client.email_invalid))
            if invalid
        ],
        email=None if client.email_invalid else client.email,
        tags={tag: getattr(case, f"tag_{tag}") for tag in ("call", "crm", "review", "card")},
        attempts=[
            AttemptView(
                at=_utc(a.at),
                day=_utc(a.at).astimezone(zone).date(),
                outcome=a.outcome,
                by=a.advisor.email if a.advisor is not None else "",
                note=a.note,
                callback_at=_utc(a.callback_at) if a.callback_at is not None else None,
                next_try_on=a.next_try_on,
            )
            for a in sorted(case.attempts, key=lambda a: _utc(a.at))
        ],
        next_actions=[
            ActionView(id=n.id, kind=n.kind, due_on=n.due_on, product=n.product, done_on=n.done_on)
            for n in case.next_actions
        ],
        completed_on=case.completed_on,
        client_last_name=proper_case(client.last_name) or None,
        advisor_last_name=case.advisor.last_name or "",
        invalid_phone=client.phone if client.phone_invalid else None,
        invalid_email=client.email if client.email_invalid else None,
        contracts=own,
        held=held,
    )

"""The read model of a case: `CaseView`, everything the digest, the modals and the CLI show
about one case, built from the ORM objects in one place."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import phonenumbers

from bot.models import Case, Client, ClientType
from bot.rules import CaseState

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


def case_view(case: Case, today: dt.date) -> CaseView:
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

"""Cell values and rows of a portfolio export.

The `parse_*` functions turn French cell values into Python values, raising `ValueError` with
a French message; `parse_row()` turns one row into plain values (a client dict and a contract
dict), or raises `RowError` with the French reason the row is rejected. A bad phone or e-mail
is kept as written and flagged "à corriger dans Lagon".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Protocol

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from bot.crm.reading import Row
from bot.crm.vocabulary import CLIENT_TYPES, NEW_BUSINESS, STATUSES, fold
from bot.models import ContractStatus

# --- Cell values ------------------------------------------------------------------------------


def clean(value: Any) -> str:
    if type(value) is str:  # the common case, called for every cell: keep it cheap
        return value.strip() if "\u00a0" not in value else value.replace("\u00a0", " ").strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\u00a0", " ").strip()


_DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")


def parse_date(value: Any) -> dt.date | None:
    """`15/01/2025`, `15/01/25`, `2025-01-15` or an Excel date cell; empty → None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return _parse_date_text(clean(value))


@lru_cache(maxsize=16384)  # an export repeats the same dates many times
def _parse_date_text(text: str) -> dt.date | None:
    if not text:
        return None
    day = text.split(" ")[0]  # `15/01/2025 00:00:00` from some exports
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(day, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date invalide « {text} » (attendu JJ/MM/AAAA)")


_YES = {"oui", "o", "1", "x", "yes", "y", "vrai", "true"}
_NO = {"non", "n", "0", "no", "faux", "false", "-"}


def parse_yes_no(value: Any) -> bool | None:
    """Oui/Non, O/N, 1/0, X/empty. Empty → None (unknown), except that X/empty reads as no."""
    if isinstance(value, bool):
        return value
    text = clean(value).casefold()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"valeur oui/non invalide « {clean(value)} »")


def parse_decimal(value: Any) -> Decimal | None:
    """`1 250 000,00` (spaces possibly non-breaking), `1250000.00`, `1.250.000,00`."""
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = re.sub(r"[\s\u00a0\u202f€]", "", clean(value))
    if not text:
        return None
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"montant invalide « {clean(value)} »") from exc


def parse_int(value: Any) -> int | None:
    number = parse_decimal(value)
    return None if number is None else int(number)


@lru_cache(maxsize=65536)
def normalize_phone(text: str) -> str | None:
    """E.164 for a number that can exist (region FR by default), else None.

    "Can exist" is `is_possible_number` (right length for its country), not `is_valid_number`:
    the latter also refuses ranges not yet allocated in the library's metadata, and flagging a
    client's real number as wrong would send the advisor hunting for nothing.
    """
    digits = re.sub(r"\D", "", text)
    if len(digits) == 9 and text.strip()[0] in "67":  # a spreadsheet ate the leading zero
        text = "0" + digits
    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def normalize_email(text: str) -> str | None:
    """The normalised address when valid (syntax only, no DNS), else None."""
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def split_pieces(value: Any) -> list[str]:
    return [p.strip() for p in re.split(r"[,;|]", clean(value)) if p.strip()]


# --- Rows -------------------------------------------------------------------------------------


class RowError(ValueError):
    """The row is rejected; the message is the French reason."""


@dataclass
class ParsedRow:
    line: int
    client_number: str
    contract_number: str
    client: dict[str, Any]
    contract: dict[str, Any]
    flags: list[str]


class Lookup(Protocol):
    """The advisors and branches a row refers to, by what the export writes."""

    def advisor(self, value: str) -> int | None: ...

    def branch(self, name: str) -> int | None: ...


def parse_row(
    row: Row, columns: dict[str, int], width: int, lookup: Lookup, today: dt.date
) -> ParsedRow:
    if len(row.cells) != width:
        raise RowError(
            f"nombre de champs incorrect ({len(row.cells)} au lieu de {width}) : "
            "vérifiez les séparateurs et les guillemets de la ligne"
        )

    def cell(name: str) -> Any:
        index = columns.get(name)
        return None if index is None else row.cells[index]

    def text(name: str) -> str | None:
        return clean(cell(name)) or None

    client_number = clean(cell("client_number"))
    if not client_number:
        raise RowError("numéro de client manquant")
    contract_number = clean(cell("contract_number"))
    if not contract_number:
        raise RowError("numéro de contrat manquant")
    raw_type = clean(cell("client_type"))
    client_type = CLIENT_TYPES.get(fold(raw_type))
    if client_type is None:
        raise RowError(
            f"type de client inconnu « {raw_type} » (attendu Particulier, Professionnel "
            "ou Entreprise)"
        )
    try:
        effect = parse_date(cell("effect_date"))
        termination = parse_date(cell("termination_date"))
    except ValueError as exc:
        raise RowError(str(exc)) from None
    if effect is None:
        raise RowError("date d'effet manquante")
    raw_status = clean(cell("contract_status"))
    if raw_status:
        status = STATUSES.get(fold(raw_status))
        if status is None:
            raise RowError(
                f"statut de contrat inconnu « {raw_status} » (attendu Actif, Résilié ou Suspendu)"
            )
    else:
        status = (
            ContractStatus.TERMINATED
            if termination is not None and termination <= today
            else ContractStatus.ACTIVE
        )
    advisor_text = clean(cell("advisor"))
    advisor_id = lookup.advisor(advisor_text) if advisor_text else None
    if advisor_id is None:
        raise RowError(
            f"conseiller inconnu « {advisor_text} » : importez d'abord la liste des "
            "conseillers (m3 import advisors)"
            if advisor_text
            else "chargé de clientèle manquant"
        )
    flags: list[str] = []
    revenue: Decimal | None = None
    headcount: int | None = None
    dp_signed: bool | None = None
    try:
        revenue = parse_decimal(cell("revenue"))
    except ValueError as exc:
        flags.append(f"{exc} : à corriger dans Lagon")
    try:
        headcount = parse_int(cell("headcount"))
    except ValueError as exc:
        flags.append(f"effectif : {exc} : à corriger dans Lagon")
    try:
        dp_signed = parse_yes_no(cell("dp_signed"))
    except ValueError as exc:
        flags.append(f"DP signées : {exc}")

    phone, phone_invalid = contact(text("phone"), normalize_phone, "téléphone", flags)
    email, email_invalid = contact(text("email"), normalize_email, "e-mail", flags)
    origin = text("origin")
    siret = text("siret")
    return ParsedRow(
        line=row.line,
        client_number=client_number,
        contract_number=contract_number,
        client={
            "client_type": client_type.value,
            "civility": text("civility"),
            "last_name": text("last_name"),
            "first_name": text("first_name"),
            "company_name": text("company_name"),
            "address": text("address"),
            "postal_code": text("postal_code"),
            "city": text("city"),
            "phone": phone,
            "phone_invalid": phone_invalid,
            "email": email,
            "email_invalid": email_invalid,
            "marital_status": text("marital_status"),
            "professional_status": text("professional_status"),
            "siret": siret.replace(" ", "") if siret else None,
            "naf_code": text("naf_code"),
            "activity": text("activity"),
            "revenue": revenue,
            "headcount": headcount,
            "insurance_contact": text("insurance_contact"),
            "branch_id": lookup.branch(clean(cell("branch"))),
            "advisor_id": advisor_id,
        },
        contract={
            "product": text("product"),
            "origin": origin,
            "new_business": fold(origin or "") in NEW_BUSINESS,
            "effect_date": effect,
            "status": status.value,
            "termination_date": termination,
            "seller": text("seller"),
            "dp_signed": dp_signed,
            "missing_pieces": split_pieces(cell("missing_pieces")),
        },
        flags=flags,
    )


def contact(
    raw: str | None, normalize: Callable[[str], str | None], label: str, flags: list[str]
) -> tuple[str | None, bool]:
    """A phone or e-mail normalised; a bad one is kept as written and flagged for the CRM."""
    if not raw:
        return None, False
    normalized = normalize(raw)
    if normalized is None:
        flags.append(f"{label} invalide « {raw} » : à corriger dans Lagon")
        return raw, True
    return normalized, False

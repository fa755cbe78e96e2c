"""Importing the CRM exports: advisors, and the portfolio (one row per contract).

A row that cannot be a contract is rejected with its line and a French reason; the others are
imported. A bad phone or e-mail is kept and flagged "à corriger dans Lagon". A file that cannot
be read at all raises `FileRefused` and changes nothing. Re-importing the same file changes
nothing. Choices where the rules are silent:

- The same contract twice in one file with the same values is imported once; with different
  values, the later row is rejected (the CRM export is inconsistent, a person must look).
- A client's details come from its last row in the file.
- The advisor column holds an e-mail or a "Prénom Nom"; an advisor the bot does not know
  rejects the row (import the advisors first: `m3 import advisors`).
- An empty contract status reads as active, unless a termination date already passed.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot import crm_file
from bot.cases.engine import SyncReport, sync_cases
from bot.crm_file import FileRefused, Row, clean
from bot.db import chunked
from bot.models import (
    Advisor,
    AuditEntry,
    Base,
    Branch,
    Client,
    ClientType,
    Contract,
    ContractStatus,
    ImportRun,
    RejectedRow,
    Role,
)

Progress = Callable[[int], None]
_M = TypeVar("_M", Client, Contract)

__all__ = ["FileRefused", "ImportResult", "import_advisors", "import_portfolio"]


@dataclass
class Rejection:
    line: int
    reason: str


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    to_fix: list[Rejection] = field(default_factory=list)  # imported, flagged for the CRM
    cases: SyncReport = field(default_factory=SyncReport)

    @property
    def exit_code(self) -> int:
        return 1 if self.rejected else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
            "to_fix": [{"line": r.line, "reason": r.reason} for r in self.to_fix],
            "cases": {
                "opened": self.cases.opened,
                "joined": self.cases.joined,
                "cancelled": self.cases.cancelled,
                "moved": self.cases.moved,
                "left_out": len(self.cases.left_out),
            },
        }


@lru_cache(maxsize=4096)
def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return "".join(c for c in decomposed if c.isalnum())


_CLIENT_TYPES = {
    **dict.fromkeys(("particulier", "part", "personnephysique", "pp"), ClientType.PERSON),
    **dict.fromkeys(
        (
            "professionnel",
            "pro",
            "tns",
            "professionnel(tns)",
            "professionneltns",
            "artisan",
            "commercant",
            "professionliberale",
            "independant",
        ),
        ClientType.PROFESSIONAL,
    ),
    **dict.fromkeys(("entreprise", "societe", "personnemorale", "pm"), ClientType.COMPANY),
}
_NEW_BUSINESS = {"an", "affairenouvelle", "nouvelleaffaire", "affnouvelle"}
_STATUSES = {
    **dict.fromkeys(
        ("actif", "active", "encours", "envigueur", "valide", "enregle"), ContractStatus.ACTIVE
    ),
    **dict.fromkeys(
        ("resilie", "resiliee", "resiliation", "annule", "sanseffet", "clos", "termine"),
        ContractStatus.TERMINATED,
    ),
    **dict.fromkeys(("suspendu", "suspendue", "suspension"), ContractStatus.SUSPENDED),
}

CLIENT_FIELDS = (
    "client_type",
    "civility",
    "last_name",
    "first_name",
    "company_name",
    "address",
    "postal_code",
    "city",
    "phone",
    "phone_invalid",
    "email",
    "email_invalid",
    "marital_status",
    "professional_status",
    "siret",
    "naf_code",
    "activity",
    "revenue",
    "headcount",
    "insurance_contact",
    "branch_id",
    "advisor_id",
)
CONTRACT_FIELDS = (
    "product",
    "origin",
    "new_business",
    "effect_date",
    "status",
    "termination_date",
    "seller",
    "dp_signed",
    "missing_pieces",
)


class _RowError(ValueError):
    pass


@dataclass
class _Parsed:
    line: int
    client_number: str
    contract_number: str
    client: dict[str, Any]
    contract: dict[str, Any]
    flags: list[str]


class _Lookup:
    """Advisors and branches known to the database, by e-mail, name and branch name."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.advisors: dict[str, int] = {}
        for advisor in session.scalars(select(Advisor)):
            self.advisors[advisor.email.casefold()] = advisor.id
            full = _fold(f"{advisor.first_name}{advisor.last_name}")
            if full:
                self.advisors.setdefault(full, advisor.id)
        self.branches = {_fold(b.name): b.id for b in session.scalars(select(Branch))}

    def advisor(self, value: str) -> int | None:
        return self.advisors.get(value.casefold()) or self.advisors.get(_fold(value))

    def branch(self, name: str) -> int | None:
        if not name:
            return None
        key = _fold(name)
        if key not in self.branches:
            branch = Branch(name=name)
            self.session.add(branch)
            self.session.flush()
            self.branches[key] = branch.id
        return self.branches[key]


def _parse_row(
    row: Row, columns: dict[str, int], width: int, lookup: _Lookup, today: dt.date
) -> _Parsed:
    if len(row.cells) != width:
        raise _RowError(
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
        raise _RowError("numéro de client manquant")
    contract_number = clean(cell("contract_number"))
    if not contract_number:
        raise _RowError("numéro de contrat manquant")
    raw_type = clean(cell("client_type"))
    client_type = _CLIENT_TYPES.get(_fold(raw_type))
    if client_type is None:
        raise _RowError(
            f"type de client inconnu « {raw_type} » (attendu Particulier, Professionnel "
            "ou Entreprise)"
        )
    try:
        effect = crm_file.parse_date(cell("effect_date"))
        termination = crm_file.parse_date(cell("termination_date"))
    except ValueError as exc:
        raise _RowError(str(exc)) from None
    if effect is None:
        raise _RowError("date d'effet manquante")
    raw_status = clean(cell("contract_status"))
    if raw_status:
        status = _STATUSES.get(_fold(raw_status))
        if status is None:
            raise _RowError(
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
        raise _RowError(
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
        revenue = crm_file.parse_decimal(cell("revenue"))
    except ValueError as exc:
        flags.append(f"{exc} : à corriger dans Lagon")
    try:
        headcount = crm_file.parse_int(cell("headcount"))
    except ValueError as exc:
        flags.append(f"effectif : {exc} : à corriger dans Lagon")
    try:
        dp_signed = crm_file.parse_yes_no(cell("dp_signed"))
    except ValueError as exc:
        flags.append(f"DP signées : {exc}")

    phone, phone_invalid = _contact(text("phone"), crm_file.normalize_phone, "téléphone", flags)
    email, email_invalid = _contact(text("email"), crm_file.normalize_email, "e-mail", flags)
    origin = text("origin")
    siret = text("siret")
    return _Parsed(
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
            "new_business": _fold(origin or "") in _NEW_BUSINESS,
            "effect_date": effect,
            "status": status.value,
            "termination_date": termination,
            "seller": text("seller"),
            "dp_signed": dp_signed,
            "missing_pieces": crm_file.split_pieces(cell("missing_pieces")),
        },
        flags=flags,
    )


def _contact(
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


def _comparable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def _diff(current: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        name: (current.get(name), value)
        for name, value in new.items()
        if _comparable(current.get(name)) != _comparable(value)
    }


def _start(
    session: Session,
    path: Path,
    kind: str,
    fields: dict[str, tuple[str, ...]],
    required: tuple[str, ...],
    today: dt.date,
) -> tuple[crm_file.Table, dict[str, int], _Lookup, ImportRun]:
    """Open the file and map its columns (`FileRefused` before anything is written), then
    record the import run."""
    table = crm_file.read_table(path)
    columns = crm_file.match_headers(table.header, fields, required)
    run = ImportRun(kind=kind, filename=path.name, import_date=today)
    session.add(run)
    session.flush()
    return table, columns, _Lookup(session), run


def import_portfolio(
    session: Session,
    path: Path,
    *,
    today: dt.date,
    progress: Progress | None = None,
) -> ImportResult:
    """Import a portfolio export. Raises `FileRefused` (nothing changed) when unreadable."""
    table, columns, lookup, run = _start(
        session, path, "portfolio", crm_file.PORTFOLIO_FIELDS, crm_file.PORTFOLIO_REQUIRED, today
    )
    width = len(table.header)
    result = ImportResult()
    actor = f"import:{run.id}"

    parsed: dict[str, _Parsed] = {}
    client_rows: dict[str, dict[str, Any]] = {}
    duplicates: list[_Parsed] = []
    for row in table.rows:
        result.rows += 1
        if progress is not None and result.rows % 500 == 0:
            progress(result.rows)
        try:
            item = _parse_row(row, columns, width, lookup, today)
        except _RowError as exc:
            result.rejected.append(Rejection(row.line, str(exc)))
            continue
        result.to_fix.extend(Rejection(item.line, flag) for flag in item.flags)
        earlier = parsed.get(item.contract_number)
        if earlier is not None:
            if earlier.contract == item.contract and earlier.client_number == item.client_number:
                duplicates.append(item)
            else:
                result.rejected.append(
                    Rejection(
                        item.line,
                        f"contrat {item.contract_number} déjà présent ligne {earlier.line} "
                        "avec d'autres valeurs",
                    )
                )
            continue
        parsed[item.contract_number] = item
        # A client's details come from its last row; keep one dict per client, not per row.
        client_rows[item.client_number] = item.client
        item.client = {}
    if progress is not None:
        progress(result.rows)

    # Clients: the last row of each client wins (collected above).
    existing_clients = _rows_by_number(session, Client, ("id", *CLIENT_FIELDS), list(client_rows))
    new_clients = [
        {"number": number, **values}
        for number, values in client_rows.items()
        if number not in existing_clients
    ]
    changed_clients: set[str] = set()
    touched_client_ids: set[int] = set()
    audit: list[dict[str, Any]] = []
    client_updates: list[dict[str, Any]] = []
    for number, client in existing_clients.items():
        values = client_rows.get(number)
        if values is None:
            continue
        current = client
        changes = _diff(current, values)
        if changes:
            changed_clients.add(number)
            touched_client_ids.add(client["id"])
            client_updates.append({"id": client["id"], **values})
            audit.extend(_audit_rows(actor, "client", number, changes))
    if new_clients:
        # Core executemany on the table: one batched statement for every new row.
        session.execute(insert(Base.metadata.tables["client"]), new_clients)
    if client_updates:
        session.execute(update(Client), client_updates)
    client_ids = {
        number: row["id"]
        for number, row in _rows_by_number(session, Client, ("id",), list(client_rows)).items()
    }
    new_client_numbers = {row["number"] for row in new_clients}
    touched_client_ids.update(client_ids[n] for n in new_client_numbers)

    # Contracts.
    numbers = list(parsed)
    existing_contracts = _rows_by_number(
        session, Contract, ("id", "client_id", *CONTRACT_FIELDS), numbers
    )
    new_contracts: list[dict[str, Any]] = []
    contract_updates: list[dict[str, Any]] = []
    for number, item in parsed.items():
        client_id = client_ids[item.client_number]
        values = {**item.contract, "client_id": client_id}
        contract = existing_contracts.get(number)
        if contract is None:
            new_contracts.append({"number": number, "first_seen_on": today, **values})
            touched_client_ids.add(client_id)
            result.created += 1
            continue
        current = {name: contract[name] for name in (*CONTRACT_FIELDS, "client_id")}
        changes = _diff(current, values)
        if changes:
            contract_updates.append({"id": contract["id"], **values})
            audit.extend(_audit_rows(actor, "contract", number, changes))
            touched_client_ids.update({client_id, contract["client_id"]})
            result.updated += 1
        elif item.client_number in changed_clients:
            result.updated += 1
        else:
            result.unchanged += 1
    result.unchanged += len(duplicates)
    if new_contracts:
        session.execute(insert(Base.metadata.tables["contract"]), new_contracts)
    if contract_updates:
        session.execute(update(Contract), contract_updates)
    if audit:
        session.execute(insert(AuditEntry), audit)
    session.expire_all()
    # The parsed rows are written: free them before the case engine loads its own.
    del parsed, client_rows, existing_clients, existing_contracts, new_contracts, new_clients

    result.cases = sync_cases(session, client_ids=touched_client_ids, today=today, actor=actor)
    run.rows, run.created, run.updated, run.unchanged = (
        result.rows,
        result.created,
        result.updated,
        result.unchanged,
    )
    if result.rejected:
        session.execute(
            insert(RejectedRow),
            [
                {"import_run_id": run.id, "line": r.line, "reason": r.reason}
                for r in result.rejected
            ],
        )
    result.rejected.sort(key=lambda r: r.line)
    return result


def _rows_by_number(
    session: Session, model: type[_M], columns: tuple[str, ...], numbers: list[str]
) -> dict[str, dict[str, Any]]:
    """The given columns of the records with these numbers, as plain dicts (no ORM objects:
    an import compares up to 100k rows)."""
    found: dict[str, dict[str, Any]] = {}
    selected = [getattr(model, name) for name in ("number", *columns)]
    for chunk in chunked(numbers):
        for row in session.execute(select(*selected).where(model.number.in_(chunk))):
            values = row._asdict()
            found[values.pop("number")] = values
    return found


def _audit_rows(
    actor: str, entity: str, key: str, changes: dict[str, tuple[Any, Any]]
) -> list[dict[str, Any]]:
    now = dt.datetime.now(dt.UTC)
    return [
        {
            "at": now,
            "actor": actor,
            "entity": entity,
            "entity_key": key,
            "field": name,
            "old_value": None if old is None else str(old),
            "new_value": None if new is None else str(new),
        }
        for name, (old, new) in changes.items()
    ]


_ROLES = {"conseiller": Role.ADVISOR, "manager": Role.MANAGER}


def import_advisors(session: Session, path: Path, *, today: dt.date) -> ImportResult:
    """Import the agency's staff: e-mail, names, phone, branch, role (Conseiller or Manager).

    An advisor missing from a later file is kept (cases and history point to them) and left
    as is; roles other than Manager (Directeur, Chef d'agence…) read as Manager when they
    contain "manager", "directeur", "responsable" or "chef", else as Conseiller.
    """
    table, columns, lookup, run = _start(
        session, path, "advisors", crm_file.ADVISOR_FIELDS, crm_file.ADVISOR_REQUIRED, today
    )
    width = len(table.header)
    result = ImportResult()
    existing = {a.email.casefold(): a for a in session.scalars(select(Advisor))}
    seen: set[str] = set()
    for row in table.rows:
        result.rows += 1
        if len(row.cells) != width:
            result.rejected.append(
                Rejection(
                    row.line, f"nombre de champs incorrect ({len(row.cells)} au lieu de {width})"
                )
            )
            continue

        def cell(name: str, cells: list[Any] = row.cells) -> str:
            index = columns.get(name)
            return "" if index is None else clean(cells[index])

        email = crm_file.normalize_email(cell("email")) if cell("email") else None
        if email is None:
            result.rejected.append(Rejection(row.line, f"e-mail invalide « {cell('email')} »"))
            continue
        email = email.casefold()
        key = email
        if key in seen:
            result.rejected.append(Rejection(row.line, f"conseiller {email} en double"))
            continue
        seen.add(key)
        raw_phone = cell("phone")
        phone = crm_file.normalize_phone(raw_phone) if raw_phone else None
        if raw_phone and phone is None:
            result.to_fix.append(Rejection(row.line, f"téléphone invalide « {raw_phone} »"))
        role_text = _fold(cell("role"))
        role = (
            Role.MANAGER
            if any(w in role_text for w in ("manager", "directeur", "responsable", "chef"))
            else Role.ADVISOR
        )
        values = {
            "first_name": cell("first_name"),
            "last_name": cell("last_name"),
            "phone": phone or raw_phone or None,
            "branch_id": lookup.branch(cell("branch")),
            "role": role.value,
            "active": True,
        }
        advisor = existing.get(key)
        if advisor is None:
            session.add(Advisor(email=email, **values))
            result.created += 1
            continue
        current = {name: getattr(advisor, name) for name in values}
        changes = _diff(current, values)
        if changes:
            for name, value in values.items():
                setattr(advisor, name, value)
            session.execute(
                insert(AuditEntry), _audit_rows(f"import:{run.id}", "advisor", email, changes)
            )
            result.updated += 1
        else:
            result.unchanged += 1
    run.rows, run.created, run.updated, run.unchanged = (
        result.rows,
        result.created,
        result.updated,
        result.unchanged,
    )
    return result

"""Importing the portfolio export (one row per contract) and keeping the M+3 cases in step.

A row that cannot be a contract is rejected with its line and a French reason; the others are
imported. A bad phone or e-mail is kept and flagged "à corriger dans Lagon". A file that cannot
be read at all raises `FileRefused` and changes nothing. Re-importing the same file changes
nothing. Choices where the rules are silent:

- The same contract twice in one file with the same values is imported once; with different
  values, the later row is rejected (the CRM export is inconsistent, a person must look).
- A client's details come from its last row in the file.
- The advisor column holds an e-mail or a "Prénom Nom"; an advisor the bot does not know
  rejects the row (import the advisors first: `m3 import advisors`). When no row names a known
  advisor, the whole file is refused with one line listing the unknown ones: the staff file
  was not imported, or this export belongs to another agency.
- An empty contract status reads as active, unless a termination date already passed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from bot.cases.engine import sync_cases
from bot.corrections import apply_imported
from bot.crm.reading import FileRefused
from bot.crm.rows import ParsedRow, RowError, clean, parse_row
from bot.crm.run import ImportResult, Progress, Rejection, audit_rows, diff, start
from bot.crm.vocabulary import PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED
from bot.db import chunked
from bot.models import AuditEntry, Base, Client, Contract, RejectedRow

_M = TypeVar("_M", Client, Contract)

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


def import_portfolio(
    session: Session,
    path: Path,
    *,
    today: dt.date,
    progress: Progress | None = None,
    run_kind: str = "portfolio",
) -> ImportResult:
    """Import a portfolio export. Raises `FileRefused` (nothing written: the caller rolls the
    session back) when the file is unreadable or names no advisor the bot knows. `run_kind`
    is recorded on the import run (the demo marks its own)."""
    table, columns, lookup, run = start(
        session, path, run_kind, PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED, today
    )
    width = len(table.header)
    result = ImportResult()
    actor = f"import:{run.id}"
    advisor_column = columns["advisor"]
    known_advisor = False
    unknown_advisors: set[str] = set()

    parsed: dict[str, ParsedRow] = {}
    client_rows: dict[str, dict[str, Any]] = {}
    duplicates: list[ParsedRow] = []
    for row in table.rows:
        result.rows += 1
        if progress is not None and result.rows % 500 == 0:
            progress(result.rows)
        if not known_advisor and len(row.cells) == width:
            named = clean(row.cells[advisor_column])
            if named and lookup.advisor(named) is None:
                unknown_advisors.add(named)
            elif named:
                known_advisor = True
        try:
            item = parse_row(row, columns, width, lookup, today)
        except RowError as exc:
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
    if unknown_advisors and not known_advisor:
        raise FileRefused(_unknown_advisors(unknown_advisors, staff=bool(lookup.advisors)))

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
        changes = diff(current, values)
        if changes:
            changed_clients.add(number)
            touched_client_ids.add(client["id"])
            client_updates.append({"id": client["id"], **values})
            audit.extend(audit_rows(actor, "client", number, changes))
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
        changes = diff(current, values)
        if changes:
            contract_updates.append({"id": contract["id"], **values})
            audit.extend(audit_rows(actor, "contract", number, changes))
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
    result.corrections_applied = apply_imported(
        session, client_ids=touched_client_ids, today=today, actor=actor
    )
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


def _unknown_advisors(names: set[str], *, staff: bool, shown: int = 5) -> str:
    listed = sorted(names, key=str.casefold)
    more = len(listed) - shown
    text = ", ".join(listed[:shown]) + (
        f" … et {more} autre{'s' if more > 1 else ''}" if more > 0 else ""
    )
    hint = (
        "importez d'abord la liste des conseillers : m3 import advisors conseillers.csv"
        if not staff
        else "vérifiez qu'il s'agit bien de l'export de cette agence, ou importez la liste "
        "des conseillers à jour : m3 import advisors conseillers.csv"
    )
    return f"aucun chargé de clientèle de ce fichier n'est connu du bot ({text}) : {hint}"

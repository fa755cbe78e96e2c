"""Importing the agency's staff: advisors and managers, with their e-mail, names, phone,
branch and role.

The file is the whole staff: someone missing from it has left, and is marked inactive (no
digest; their cases and history stay). Their cases still to call (to come, open or late) are
reported so that the managers reassign the clients in Lagon (the next portfolio export then
moves the cases); until then, the managers' summary lists their cases « à répartir », a case
the portfolio import opens for their client too, and the import flags each row that still
names them. Someone who comes back is active again. `keep_missing` leaves the missing alone
(a partial file, one branch's staff). Nobody is marked inactive when rows are rejected: a row
that could not be read may be one of the missing. A value longer than the database holds (an
e-mail, a name, a phone kept as written, a branch) rejects its row, in the portfolio import's
words, on SQLite (which would store it) as on PostgreSQL (which would refuse it).

A file that is not a staff file is refused before anything is written: one without the
e-mail and name columns, and one that looks like a portfolio export (it has a client or
contract number column), which would otherwise turn clients into staff and mark every real
advisor inactive.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.cases.queries import list_cases
from bot.crm.reading import FileRefused, Problem
from bot.crm.rows import (
    LABELS,
    LIMITS,
    clean,
    normalize_email,
    normalize_phone,
    quote,
    too_long,
    visible,
)
from bot.crm.run import ImportResult, Rejection, audit_rows, diff, start
from bot.crm.vocabulary import (
    ADVISOR_FIELDS,
    ADVISOR_REQUIRED,
    PORTFOLIO_FIELDS,
    find_headers,
    fold,
    normalize_header,
    numbered,
    role_of,
)
from bot.models import Advisor, AuditEntry, Role
from bot.rules import CaseState


@dataclass
class Departure:
    """An advisor marked inactive, and the clients of their cases to call now (to reassign)."""

    email: str
    name: str
    open_cases: list[str] = field(default_factory=list)  # client numbers: cases to call, or to come


@dataclass
class AdvisorsResult(ImportResult):
    deactivated: list[Departure] = field(default_factory=list)
    reactivated: list[str] = field(default_factory=list)
    # Missing from the file but left active: rows were rejected, or they are too many.
    not_deactivated: list[str] = field(default_factory=list)
    too_many_missing: bool = False  # more than half the active staff (`MASS_DEPARTURE`)
    active_before: int = 0  # the active staff before the file

    def as_dict(self) -> dict[str, Any]:
        document = super().as_dict()
        del document["cases"]  # a staff import opens or moves no case
        document["deactivated"] = [
            {"email": d.email, "open_cases": d.open_cases} for d in self.deactivated
        ]
        document["reactivated"] = self.reactivated
        document["not_deactivated"] = self.not_deactivated
        document["too_many_missing"] = self.too_many_missing
        return document


# The share of the active staff a file may leave out before its departures are held back
# (`import_advisors`).
MASS_DEPARTURE = 0.5


def _length(name: str) -> int:
    length = Advisor.__table__.c[name].type.length  # type: ignore[attr-defined]
    return int(length)


_COLUMN_LABELS = {**LABELS, "role": "Rôle"}  # the portfolio import's names, and the role

# How long the database lets each value be: a longer one rejects its row (as the portfolio
# import does, in the same words), on SQLite as on PostgreSQL.
_LIMITS = {
    **{name: _length(name) for name in ("email", "first_name", "last_name", "phone")},
    "branch": LIMITS["branch"],
}


def _too_long(name: str, text: str) -> str | None:
    """The reason `text` is too long for the field `name`, None when it fits."""
    limit = _LIMITS[name]
    return None if len(text) <= limit else too_long(LABELS[name], len(text), limit)


# The columns that hold text: a workbook cell of another type there (a date, a number, a
# boolean) is no name, e-mail, role or branch.
_TEXT_FIELDS = ("email", "first_name", "last_name", "role")


def _not_text(cells: list[Any], columns: dict[str, int]) -> str | None:
    """Why a workbook row cannot be read: a text column holding a date, a number or a yes/no
    cell; None when it can (a CSV's cells are all text)."""
    for name in _TEXT_FIELDS:
        index = columns.get(name)
        value = None if index is None else cells[index]
        if value is None or isinstance(value, str):
            continue
        kind = (
            "une case à cocher (vrai/faux)"
            if isinstance(value, bool)
            else "une date"
            if isinstance(value, dt.date | dt.time | dt.datetime)
            else "un nombre"
        )
        return f"{_COLUMN_LABELS[name]} : la cellule contient {kind}, pas un texte"
    return None


def _staff_file(header: list[str]) -> None:
    """Refuse a file of clients or contracts: it has a client number, or a contract number
    named as a number (a bare « Contrat » in an HR export is the employment contract: CDI…)."""
    contract = {normalize_header(alias) for alias in PORTFOLIO_FIELDS["contract_number"]}
    if "client_number" in find_headers(header, PORTFOLIO_FIELDS) or any(
        normalize_header(name) in contract and numbered(name) for name in header
    ):
        raise FileRefused(
            "ce fichier ressemble à un export du portefeuille : utilisez `m3 import portfolio`"
        )


def import_advisors(
    session: Session,
    path: Path,
    *,
    today: dt.date,
    keep_missing: bool = False,
    confirm_departures: bool = False,
    run_kind: str = "advisors",
) -> AdvisorsResult:
    """Import the agency's staff: e-mail, names, phone, branch, role (Conseiller or Manager).

    Roles read as `bot.crm.vocabulary.role_of` reads them (« Directrice d'agence », « Chef
    d'agence », « Agent général »… are managers); a role it does not know (a typo) leaves the
    role the bot holds (Conseiller for someone new) and is flagged. A column the file lacks
    (phone, branch, role), or an empty cell there, leaves what the bot holds (a new person: no
    phone, no branch, Conseiller). Raises `FileRefused` (nothing written: the caller rolls the
    session back) for a file that is not a staff file or holds nobody. A file that would
    deactivate more than half the active staff (`MASS_DEPARTURE`, two people at least)
    deactivates nobody, unless `confirm_departures`: it is a partial file (one branch's staff,
    without `keep_missing`) or another list far more often than half the agency leaving.
    """
    table, columns, lookup, run = start(
        session, path, run_kind, ADVISOR_FIELDS, ADVISOR_REQUIRED, today, screen=_staff_file
    )
    width = len(table.header)
    actor = f"import:{run.id}"
    result = AdvisorsResult()
    existing = {a.email.casefold(): a for a in session.scalars(select(Advisor))}
    seen: set[str] = set()
    for row in table.rows():
        result.rows += 1
        if isinstance(row, Problem):
            result.rejected.append(Rejection(row.line, row.reason))
            continue
        if len(row.cells) != width:
            result.rejected.append(
                Rejection(
                    row.line, f"nombre de champs incorrect ({len(row.cells)} au lieu de {width})"
                )
            )
            continue

        def cell(name: str, cells: list[Any] = row.cells) -> str:
            index = columns.get(name)
            return "" if index is None else visible(clean(cells[index]))

        typed = _not_text(row.cells, columns)
        if typed:
            result.rejected.append(Rejection(row.line, typed))
            continue
        raw_email = cell("email")
        if not raw_email:
            result.rejected.append(Rejection(row.line, "e-mail manquant"))
            continue
        overlong = _too_long("email", raw_email)
        if overlong:
            result.rejected.append(Rejection(row.line, overlong))
            continue
        email = normalize_email(raw_email) if raw_email else None
        if email is None:
            result.rejected.append(Rejection(row.line, f"e-mail invalide {quote(raw_email)}"))
            continue
        # Stored in lower case as written: « straße@… » stays so (the card and the Reply-To
        # carry it; a mail server may not take « strasse@… » for it). Matched case-folded:
        # the bot's earlier imports stored that form, and the advisor keeps their record,
        # their address set back to the file's; « straße@ » and « strasse@ » in one file
        # are taken for one person.
        email = email.lower()
        overlong = _too_long("email", email)
        if overlong:
            result.rejected.append(Rejection(row.line, overlong))
            continue
        key = email.casefold()
        if key in seen:
            result.rejected.append(Rejection(row.line, f"conseiller {email} en double"))
            continue
        seen.add(key)
        first_name, last_name, branch = cell("first_name"), cell("last_name"), cell("branch")
        if not first_name or not last_name:
            # The bot names the advisor to the managers and matches the export's « Prénom Nom ».
            unnamed = (
                "prénom et nom manquants"
                if not (first_name or last_name)
                else "prénom manquant"
                if not first_name
                else "nom manquant"
            )
            result.rejected.append(Rejection(row.line, f"conseiller {email} : {unnamed}"))
            continue
        raw_phone = cell("phone")
        phone = normalize_phone(raw_phone) if raw_phone else None
        overlong = (
            _too_long("first_name", first_name)
            or _too_long("last_name", last_name)
            # An invalid phone is kept as written: it must fit as written.
            or (_too_long("phone", raw_phone) if phone is None else None)
            or _too_long("branch", branch)
        )
        if overlong:
            result.rejected.append(Rejection(row.line, overlong))
            continue
        if raw_phone and phone is None:
            result.to_fix.append(Rejection(row.line, f"téléphone invalide {quote(raw_phone)}"))
        role_text = cell("role")
        role, understood = role_of(role_text)
        if not understood:
            result.to_fix.append(
                Rejection(
                    row.line,
                    f"rôle {quote(role_text)} non reconnu : rôle inchangé (Conseiller pour "
                    "une personne nouvelle)",
                )
            )
        # A column the file lacks, or an empty cell, leaves the value the bot holds.
        values: dict[str, Any] = {"email": email, "first_name": first_name, "last_name": last_name}
        if raw_phone:
            values["phone"] = phone or raw_phone
        if branch:
            values["branch_id"] = lookup.branch(branch)
        if role_text and understood:
            values["role"] = role.value
        values["active"] = True
        advisor = existing.get(key)
        if advisor is not None and not advisor.active:
            result.reactivated.append(email)
        if advisor is None:
            session.add(Advisor(**{"role": Role.ADVISOR.value, **values}))
            result.created += 1
            continue
        current = {name: getattr(advisor, name) for name in values}
        changes = diff(current, values)
        if changes:
            for name, value in values.items():
                setattr(advisor, name, value)
            session.execute(insert(AuditEntry), audit_rows(actor, "advisor", email, changes))
            result.updated += 1
        else:
            result.unchanged += 1
    if result.rows == 0:
        raise FileRefused("le fichier ne contient aucune ligne de conseiller")
    result.new_branches = sorted(lookup.created, key=fold)
    missing = [a for key, a in sorted(existing.items()) if key not in seen and a.active]
    if missing and not keep_missing:
        result.active_before = sum(1 for a in existing.values() if a.active)
        result.too_many_missing = (
            not confirm_departures
            and len(missing) >= 2
            and len(missing) > result.active_before * MASS_DEPARTURE
        )
        if result.rejected or result.too_many_missing:
            result.not_deactivated = [a.email for a in missing]
        else:
            _deactivate(session, missing, result, actor=actor, today=today)
    run.rows, run.created, run.updated, run.unchanged = (
        result.rows,
        result.created,
        result.updated,
        result.unchanged,
    )
    return result


def _deactivate(
    session: Session,
    advisors: list[Advisor],
    result: AdvisorsResult,
    *,
    actor: str,
    today: dt.date,
) -> None:
    """Mark them inactive; note (and audit) the clients of their cases to call now."""
    for advisor in advisors:
        advisor.active = False
        views = list_cases(
            session,
            today=today,
            advisor_email=advisor.email,
            # Those to come too: nobody would call them, and the export moves them once
            # Lagon gives the client to someone else.
            states=(CaseState.OPEN, CaseState.LATE, CaseState.UPCOMING),
        )
        clients = sorted({view.client_number for view in views})
        result.deactivated.append(Departure(advisor.email, advisor.full_name, clients))
        changes: dict[str, tuple[Any, Any]] = {"active": (True, False)}
        if clients:
            changes["open_cases"] = (None, ", ".join(clients))
        session.execute(insert(AuditEntry), audit_rows(actor, "advisor", advisor.email, changes))

"""Importing the agency's staff: advisors and managers, with their e-mail, names, phone,
branch and role."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.crm.rows import clean, normalize_email, normalize_phone
from bot.crm.run import ImportResult, Rejection, audit_rows, diff, start
from bot.crm.vocabulary import ADVISOR_FIELDS, ADVISOR_REQUIRED, fold
from bot.models import Advisor, AuditEntry, Role


def import_advisors(session: Session, path: Path, *, today: dt.date) -> ImportResult:
    """Import the agency's staff: e-mail, names, phone, branch, role (Conseiller or Manager).

    An advisor missing from a later file is kept (cases and history point to them) and left
    as is; roles other than Manager (Directeur, Chef d'agence…) read as Manager when they
    contain "manager", "directeur", "responsable" or "chef", else as Conseiller.
    """
    table, columns, lookup, run = start(
        session, path, "advisors", ADVISOR_FIELDS, ADVISOR_REQUIRED, today
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

        email = normalize_email(cell("email")) if cell("email") else None
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
        phone = normalize_phone(raw_phone) if raw_phone else None
        if raw_phone and phone is None:
            result.to_fix.append(Rejection(row.line, f"téléphone invalide « {raw_phone} »"))
        role_text = fold(cell("role"))
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
        changes = diff(current, values)
        if changes:
            for name, value in values.items():
                setattr(advisor, name, value)
            session.execute(
                insert(AuditEntry), audit_rows(f"import:{run.id}", "advisor", email, changes)
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

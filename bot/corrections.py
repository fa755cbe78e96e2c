"""CRM corrections typed during calls, for Lagon (there is no CRM API): listing them
(`m3 corrections`), and marking them applied when a later import carries the new value.

A correction of a phone or e-mail holds the value normalised as the importer stores it (E.164,
normalised address), so both sides compare as stored. A wrong number flagged during a call
(« numéro erroné », no new value) is applied when an import brings a different number.
Query functions take the session and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bot.calls import correction_applied
from bot.db import chunked
from bot.models import Advisor, AuditEntry, Client, Correction


@dataclass(frozen=True)
class CorrectionRow:
    client_number: str
    client_name: str
    field: str
    old_value: str | None
    new_value: str | None
    by: str
    at: dt.datetime
    applied_on: dt.date | None

    def as_json(self) -> dict[str, object]:
        return {
            "client_number": self.client_number,
            "client_name": self.client_name,
            "field": self.field,
            "old": self.old_value,
            "new": self.new_value,
            "by": self.by,
            "at": self.at.isoformat(),
            "applied_on": self.applied_on.isoformat() if self.applied_on else None,
        }


def list_corrections(session: Session, *, pending_only: bool = False) -> list[CorrectionRow]:
    """Every correction (or the pending ones), oldest first."""
    query = (
        select(Correction, Client, Advisor)
        .join(Client, Correction.client_id == Client.id)
        .join(Advisor, Correction.advisor_id == Advisor.id)
        .order_by(Correction.at, Correction.id)
    )
    if pending_only:
        query = query.where(Correction.applied_on.is_(None))
    rows = []
    for correction, client, advisor in session.execute(query):
        at = correction.at if correction.at.tzinfo else correction.at.replace(tzinfo=dt.UTC)
        rows.append(
            CorrectionRow(
                client_number=client.number,
                client_name=client.display_name,
                field=correction.field,
                old_value=correction.old_value,
                new_value=correction.new_value,
                by=advisor.email,
                at=at,
                applied_on=correction.applied_on,
            )
        )
    return rows


def _imported(client: Client, field: str) -> str | None:
    value = getattr(client, field, None)
    return None if value is None else str(value)


def apply_imported(
    session: Session,
    *,
    client_ids: Iterable[int] | Select[Any],
    today: dt.date,
    actor: str,
) -> int:
    """Mark applied the pending corrections whose client's imported record now carries the
    new value; returns how many. Called by the portfolio import after it wrote the clients;
    `client_ids` is a list of ids or a one-column SELECT of them (the import's touched
    clients: only the pending corrections are loaded, never the clients themselves)."""
    if isinstance(client_ids, Select):
        chunks: Iterable[Sequence[int] | Select[Any]] = [client_ids]
    else:
        chunks = chunked(sorted(set(client_ids)))
    applied = 0
    for chunk in chunks:
        pending = session.execute(
            select(Correction, Client)
            .join(Client, Correction.client_id == Client.id)
            .where(Correction.client_id.in_(chunk), Correction.applied_on.is_(None))
        ).all()
        for correction, client in pending:
            imported = _imported(client, correction.field)
            if correction.new_value:
                done = correction_applied(correction.new_value, imported)
            else:  # a wrong number flagged: applied once the CRM holds another one
                done = imported is not None and not correction_applied(
                    correction.old_value, imported
                )
            if done:
                correction.applied_on = today
                session.add(
                    AuditEntry(
                        actor=actor,
                        entity="client",
                        entity_key=client.number,
                        field=f"correction:{correction.field}",
                        old_value="en attente",
                        new_value=f"appliquée le {today.isoformat()}",
                    )
                )
                applied += 1
    return applied

"""`m3 case` and `m3 corrections`: a client's M+3 case with its reports, and the CRM corrections
typed during calls, for scripts and checks (registered on the `m3` app by `bot.cli`)."""

from __future__ import annotations

import csv
import enum
import io
import json
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot import db
from bot.rendering import render


class Format(enum.StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def register(app: typer.Typer) -> None:
    app.command("case")(case_command)
    app.command("corrections")(corrections_command)


def case_command(
    client_number: Annotated[str, typer.Argument(help="Numéro du client dans Lagon.")],
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON.")] = False,
) -> None:
    """Le dossier M+3 en cours d'un client : état, tags, tentatives, bilan, actions, corrections."""
    from bot.cases.views import case_view
    from bot.cli import _database, _fail, _settings
    from bot.corrections import list_corrections
    from bot.models import Attempt, Case, CaseReview, Client

    settings = _settings()
    today = settings.today()
    with _database(settings) as factory, factory() as session:
        case = session.scalar(
            select(Case)
            .join(Client, Case.client_id == Client.id)
            .where(Client.number == client_number.strip(), Case.is_current)
            .options(
                selectinload(Case.contracts),
                selectinload(Case.client).selectinload(Client.branch),
                selectinload(Case.advisor),
                selectinload(Case.attempts).selectinload(Attempt.advisor),
                selectinload(Case.next_actions),
            )
        )
        if case is None:
            raise _fail(f"aucun dossier M+3 pour le client « {client_number} ».")
        view = case_view(case, today, settings.zone)
        review = session.scalar(select(CaseReview).where(CaseReview.case_id == case.id))
        corrections = [
            c for c in list_corrections(session) if c.client_number == view.client_number
        ]
    if as_json:
        data = view.as_json()
        data["review"] = (
            {
                "crm_checked": review.crm_checked,
                "dp_signed": review.dp_signed,
                "quotes_signed": review.quotes_signed,
                "pieces_missing": review.pieces_missing,
                "review_done": review.review_done,
                "held_elsewhere": review.held_elsewhere,
                "gaps": review.gaps,
            }
            if review is not None
            else None
        )
        data["corrections"] = [c.as_json() for c in corrections]
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    print(render("cli/case.txt.j2", case=view, review=review, corrections=corrections))


def corrections_command(
    output: Annotated[
        Format, typer.Option("--format", help="table, csv ou json.", case_sensitive=False)
    ] = Format.TABLE,
    pending: Annotated[
        bool, typer.Option("--pending", help="Seulement celles pas encore dans Lagon.")
    ] = False,
) -> None:
    """Les valeurs corrigées pendant les appels, à reporter dans Lagon (client, champ, ancienne
    et nouvelle valeur, qui, quand, appliquée ou non)."""
    from rich.table import Table

    from bot.cli import _database, _print_table, _settings
    from bot.corrections import list_corrections

    settings = _settings()
    with _database(settings) as factory, db.session_scope(factory) as session:
        rows = list_corrections(session, pending_only=pending)
    if output is Format.JSON:
        print(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=2))
        return
    header = ["client", "nom", "champ", "ancienne valeur", "nouvelle valeur", "par", "le"]
    header.append("appliquée le")
    lines = [
        [
            r.client_number,
            r.client_name,
            render("cli/field_label.txt.j2", key=r.field),
            r.old_value or "",
            r.new_value or "(numéro erroné)",
            r.by,
            r.at.astimezone(settings.zone).strftime("%d/%m/%Y %H:%M"),
            r.applied_on.strftime("%d/%m/%Y") if r.applied_on else "",
        ]
        for r in rows
    ]
    if output is Format.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(lines)
        print(buffer.getvalue(), end="")
        return
    if not rows:
        print("Aucune correction à reporter dans Lagon.")
        return
    table = Table(title=f"Corrections pour Lagon ({len(rows)})")
    for column in header:
        table.add_column(column.capitalize())
    for line in lines:
        table.add_row(*line)
    _print_table(table)

"""What an advisor reads, stored as text in `tests/data/snapshots/` so that a reviewer reads it
too: one morning récapitulatif, one App Home and one « Préparer l'appel » modal, rendered from
a fixed generated agency (Agnès Fournier's queue on Tuesday 1 December 2026) through the real
app and the fake Slack. A change in what they say shows as a diff of these files.

After a deliberate change, rewrite them with `M3_UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py`
and read the diff before committing it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.agency import (
    AGNES_B,
    AGNES_F,
    LATE_EFFECT,
    OPEN_EFFECT,
    SLACK_IDS,
    TODAY,
    address,
    case_ids,
    fake,
    import_agency,
    open_home,
    prepare,
    settings,
    today,
)
from tests.blocktext import message_text, view_text
from tests.conftest import DATA, M3
from tests.exports import contract
from tests.fakeslack import FakeSlack
from tests.slackkit import TOKEN

__all__ = ["address", "fake", "settings", "today"]  # fixtures of tests/agency.py

SNAPSHOTS = DATA / "snapshots"
UPDATE = os.environ.get("M3_UPDATE_SNAPSHOTS") == "1"


def row(client: str, number: str, effect: str, **fields: str) -> dict[str, str]:
    return contract(client, number, effect, AGNES_F, **{"Agence": "Rouvière", **fields})


ROWS = [
    # Late, last day today (effect 01/08 + 4 months = 01/12); sold by the other Agnès.
    row(
        "101001",
        "AL1001",
        "01/08/2026",
        **{
            "Civilité": "M.",
            "Nom": "GUYOT",
            "Prénom": "Mehdi",
            "Vendeur": "Agnès Bertrand",
            "Produit": "Habitation",
            "Téléphone": "07 19 95 82 25",
            "Situation familiale": "Marié(e)",
            "Situation professionnelle": "Salarié",
        },
    ),
    # Late, last day 15/12.
    row(
        "101002",
        "AL1002",
        LATE_EFFECT,
        **{
            "Civilité": "Mme",
            "Nom": "López",
            "Prénom": "Sophie",
            "Vendeur": "Luc Moreau",
            "E-mail": "sophie.lopez@example.org",
            "Pièces manquantes": "Carte grise",
        },
    ),
    # In the window: two products sold by the advisor herself, and an older Habitation held
    # with us with a piece missing.
    row(
        "101003",
        "AL1003",
        OPEN_EFFECT,
        **{
            "Civilité": "Mme",
            "Nom": "LEBLANC",
            "Prénom": "Marie",
            "Vendeur": "FOURNIER Agnès",
            "E-mail": "marie.leblanc@example.org",
            "Situation familiale": "Pacsé(e)",
            "Situation professionnelle": "Fonctionnaire",
        },
    ),
    row(
        "101003",
        "AL1004",
        OPEN_EFFECT,
        **{
            "Civilité": "Mme",
            "Nom": "LEBLANC",
            "Prénom": "Marie",
            "Vendeur": "FOURNIER Agnès",
            "Produit": "Santé",
            "E-mail": "marie.leblanc@example.org",
            "Situation familiale": "Pacsé(e)",
            "Situation professionnelle": "Fonctionnaire",
        },
    ),
    row(
        "101003",
        "AL0903",
        "12/02/2021",
        origin="Transfert",
        **{
            "Civilité": "Mme",
            "Nom": "LEBLANC",
            "Prénom": "Marie",
            "Vendeur": "Luc Moreau",
            "Produit": "Habitation",
            "E-mail": "marie.leblanc@example.org",
            "Situation familiale": "Pacsé(e)",
            "Situation professionnelle": "Fonctionnaire",
            "Pièces manquantes": "Bail",
        },
    ),
    # In the window, a professional with a wrong phone and the DP to sign.
    row(
        "101004",
        "AL1005",
        "05/09/2026",
        **{
            "Type client": "Professionnel",
            "Civilité": "M.",
            "Nom": "Vidal",
            "Prénom": "Stéphane",
            "Vendeur": "Luc Moreau",
            "Produit": "RC pro",
            "Téléphone": "12 34",
            "E-mail": "stephane.vidal@example.org",
            "Situation professionnelle": "TNS",
            "SIRET": "41252427316722",
            "Activité": "Plomberie",
            "DP signées": "Non",
        },
    ),
    # New this morning: its window opens today (effect 08/09 → due 08/12 → window 01/12–15/12).
    row(
        "101005",
        "AL1006",
        "08/09/2026",
        **{
            "Civilité": "Mme",
            "Nom": "Robin",
            "Prénom": "Léa",
            "Vendeur": "Agnès",
            "Produit": "Épargne retraite",
            "E-mail": "lea.robin@example.org",
        },
    ),
    # Another advisor's client: not in Agnès Fournier's queue.
    contract("101006", "AL1007", OPEN_EFFECT, AGNES_B, **{"Nom": "Colin", "Prénom": "Yves"}),
]


@pytest.fixture
def agency(m3: M3, tmp_path: Path) -> M3:
    return import_agency(m3, tmp_path, ROWS)


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        SNAPSHOTS.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path}: run with M3_UPDATE_SNAPSHOTS=1 and read it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{path.name} changed: rerun with M3_UPDATE_SNAPSHOTS=1 if the change is meant"
    )


def test_snapshot_of_the_digest(agency: M3, fake: FakeSlack) -> None:
    result = CliRunner().invoke(
        app,
        ["digest", "--date", TODAY],
        env={
            "DATABASE_URL": agency.database_url,
            "M3_TODAY": TODAY,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": fake.url,
        },
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    (message,) = [
        c.params
        for c in fake.calls_to("chat.postMessage")
        if c.params["channel"] == "D" + SLACK_IDS[AGNES_F]
    ]
    check_snapshot("digest", message_text(message))


def test_snapshot_of_the_app_home(agency: M3, server: str, fake: FakeSlack) -> None:
    check_snapshot("home", view_text(open_home(server, fake, SLACK_IDS[AGNES_F])))


def test_snapshot_of_the_prepare_modal(agency: M3, server: str, fake: FakeSlack) -> None:
    view = prepare(server, fake, case_ids(agency)["101003"])
    check_snapshot("prepare", view_text(view))

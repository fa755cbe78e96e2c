"""The staff import under what real staff files hold, through the `m3` CLI on SQLite and
PostgreSQL: a partial file without the phone, branch or role columns (or with those cells
empty) leaves what the bot holds; roles as agencies write them (« Directrice d'agence »,
« Agent général », a typo, « Non manager »); zero-width characters pasted with an e-mail; a
branch the file creates named in the summary; a file name that is not UTF-8; a workbook cell
that is a date or a yes/no in a name column."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Advisor, Branch, ImportRun
from bot.settings import Settings
from tests.conftest import M3
from tests.exports import (
    ADVISORS_HEADER,
    ALICE,
    CLARA,
    STAFF,
    advisors_csv,
    contract,
    ok_json,
    portfolio_csv,
    write_csv,
)


def _stored(factory: sessionmaker[Session], email: str) -> tuple[Any, ...]:
    with factory() as session:
        advisor = session.scalars(select(Advisor).where(Advisor.email == email)).one()
        branch = session.get(Branch, advisor.branch_id) if advisor.branch_id else None
        return (
            advisor.first_name,
            advisor.last_name,
            advisor.phone,
            branch.name if branch else None,
            advisor.role,
            advisor.active,
        )


def test_a_partial_file_without_phone_branch_or_role_leaves_them(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """Clara is a manager of Corniche with a phone: a file of e-mails and names alone, or one
    whose cells are empty there, keeps all three (and her manager's rights); a newcomer in it
    is a Conseiller without branch or phone."""
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    before = _stored(factory, CLARA)
    assert before[2:5] == ("+33633445566", "Corniche", "Manager")
    newcomer = "zoe.blanc@cabinet-test.example.fr"
    names_only = write_csv(
        tmp_path / "names.csv",
        ["E-mail", "Prénom", "Nom"],
        [[CLARA, "Clara", "Roux"], [newcomer, "Zoé", "Blanc"]],
    )
    summary = ok_json(m3, "import", "advisors", str(names_only), "--keep-missing")
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (1, 0, 1)
    assert _stored(factory, CLARA) == before
    assert _stored(factory, newcomer) == ("Zoé", "Blanc", None, None, "Conseiller", True)
    empty_cells = write_csv(
        tmp_path / "empty.csv", ADVISORS_HEADER, [[CLARA, "Clara", "Roux", "", "", ""]]
    )
    summary = ok_json(m3, "import", "advisors", str(empty_cells), "--keep-missing")
    assert (summary["updated"], summary["unchanged"]) == (0, 1)
    assert _stored(factory, CLARA) == before
    # A value written there still changes it.
    moved = write_csv(
        tmp_path / "moved.csv", ADVISORS_HEADER, [[CLARA, "Clara", "Roux", "", "Rouvière", ""]]
    )
    summary = ok_json(m3, "import", "advisors", str(moved), "--keep-missing")
    assert summary["updated"] == 1
    assert _stored(factory, CLARA)[2:5] == ("+33633445566", "Rouvière", "Manager")


# (what the role cell says, the role read, whether it is flagged as not understood)
ROLES = {
    "manager": ("Manager", "Manager", False),
    "directrice": ("Directrice d'agence", "Manager", False),
    "chef": ("Chef d'agence", "Manager", False),
    "gerante": ("Gérante", "Manager", False),
    "agent-general": ("Agent général", "Manager", False),
    "conseillere": ("Conseillère", "Conseiller", False),
    "charge": ("Chargé de clientèle", "Conseiller", False),
    "non-manager": ("Non manager", "Conseiller", False),
    "ex-directrice": ("Ex-directrice", "Conseiller", False),
    "assistante-de-direction": ("Assistante de direction", "Conseiller", False),
    "manager-without-portfolio": ("Manager (sans portefeuille)", "Manager", False),
    "manager-not-employed": ("Gérant non salarié", "Manager", False),
    "client-title": ("Responsable de clientèle", "Conseiller", False),
    "former": ("Ancien gérant", "Conseiller", False),
    "typo": ("Mnager", "Conseiller", True),
    "nonsense": ("Banane", "Conseiller", True),
}


@pytest.mark.parametrize(("written", "role", "flagged"), ROLES.values(), ids=list(ROLES))
def test_roles_as_agencies_write_them(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session], written: str, role: str, flagged: bool
) -> None:
    """Only a word of direction gives a manager's rights over the team; a role the bot does
    not know reads as Conseiller, and the summary says so."""
    path = write_csv(
        tmp_path / "staff.csv", ADVISORS_HEADER, [[ALICE, "Alice", "Martin", "", "", written]]
    )
    summary = ok_json(m3, "import", "advisors", str(path))
    assert _stored(factory, ALICE)[4] == role
    reasons = [r["reason"] for r in summary["to_fix"]]
    flag = f"rôle « {written} » non reconnu : rôle inchangé (Conseiller pour une personne nouvelle)"
    assert reasons == ([flag] if flagged else [])


def test_a_role_not_understood_leaves_a_manager_a_manager(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [[email, *STAFF[email]] for email in STAFF]
    rows[2][5] = "Mnager"  # Clara, a manager
    summary = ok_json(
        m3, "import", "advisors", str(write_csv(tmp_path / "typo.csv", ADVISORS_HEADER, rows))
    )
    assert (summary["unchanged"], len(summary["to_fix"])) == (3, 1)
    assert _stored(factory, CLARA)[4] == "Manager"


def test_zero_width_characters_pasted_in_cells_are_removed(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [[email, *STAFF[email]] for email in STAFF]
    rows[0][0] += "\u200b"  # a zero-width space after Alice's e-mail
    rows[0][1] += "\u00ad"  # a soft hyphen after her first name
    path = write_csv(tmp_path / "pasted.csv", ADVISORS_HEADER, rows, encoding="utf-8")
    summary = ok_json(m3, "import", "advisors", str(path))
    assert (summary["rejected"], summary["unchanged"], summary["deactivated"]) == ([], 3, [])
    assert _stored(factory, ALICE)[:2] == ("Alice", "Martin")


def test_the_branches_a_staff_file_creates_are_named(m3: M3, tmp_path: Path) -> None:
    """As the portfolio import names them: a typo in the file makes a branch."""
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [[email, *STAFF[email]] for email in STAFF]
    rows[1][4] = "Cornihce"
    summary = ok_json(
        m3, "import", "advisors", str(write_csv(tmp_path / "typo.csv", ADVISORS_HEADER, rows))
    )
    assert summary["new_branches"] == ["Cornihce"]
    result = m3("import", "advisors", str(tmp_path / "typo.csv"))
    assert "Agence" not in result.stdout  # known now: named once, by the file that made it


def test_an_hr_export_with_an_employment_contract_column_is_staff(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """« Contrat » (CDI, CDD) in an HR export is the employment contract, not a contract
    number: the file is imported (the column left aside); one with « N° contrat » is still a
    portfolio export."""
    rows = [[email, *STAFF[email], "CDI"] for email in STAFF]
    path = write_csv(tmp_path / "rh.csv", [*ADVISORS_HEADER, "Contrat"], rows)
    summary = ok_json(m3, "import", "advisors", str(path))
    assert (summary["created"], summary["rejected"]) == (len(STAFF), [])
    assert _stored(factory, ALICE)[:2] == ("Alice", "Martin")
    numbered = write_csv(tmp_path / "k.csv", [*ADVISORS_HEADER, "N° contrat"], rows)
    code, document = m3.json("import", "advisors", str(numbered))
    assert code == 2 and "ressemble à un export du portefeuille" in document["error"]


@pytest.mark.skipif(os.name != "posix", reason="a file name of raw bytes")
def test_a_file_name_that_is_not_utf8_is_imported(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """« conseillés.csv » unzipped from an archive made on Windows: its name holds the byte of
    « é » in Windows-1252, which is no UTF-8. The imports read it, and show and store its name
    with « � » there."""
    directory = os.fsencode(tmp_path)
    staff = Path(os.fsdecode(directory + b"/conseill\xe9s.csv"))
    advisors_csv(staff)
    summary = ok_json(m3, "import", "advisors", str(staff))
    assert summary["created"] == len(STAFF)
    export = Path(os.fsdecode(directory + b"/export-d\xe9c.csv"))
    portfolio_csv(export, [contract("C1", "K1", "28/10/2026")])
    result = m3("import", "portfolio", str(export))
    assert result.exit_code == 0, result.output
    assert "« export-d\ufffdc.csv »" in result.stdout
    with factory() as session:
        names = session.scalars(select(ImportRun.filename).order_by(ImportRun.id)).all()
    assert names == ["conseill\ufffds.csv", "export-d\ufffdc.csv"]


def test_a_workbook_cell_of_another_type_in_a_name_column_rejects_its_row(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(ADVISORS_HEADER)
    for email in STAFF:
        sheet.append([email, *STAFF[email]])
    sheet.append(["dan@cabinet-test.example.fr", "Dan", dt.datetime(2020, 1, 1), "", "", ""])
    sheet.append(["eve@cabinet-test.example.fr", True, "Eve", "", "", ""])
    path = tmp_path / "staff.xlsx"
    book.save(path)
    code, summary = m3.json("import", "advisors", str(path))
    assert code == 1
    assert summary["rejected"] == [
        {"line": 5, "reason": "Nom : la cellule contient une date, pas un texte"},
        {
            "line": 6,
            "reason": "Prénom : la cellule contient une case à cocher (vrai/faux), pas un texte",
        },
    ]
    assert summary["created"] == len(STAFF)


def test_the_card_finds_a_branch_written_without_its_accent() -> None:
    """A branch first written « Rouviere » in a staff file is the configured « Rouvière »: the
    card has its address and hours."""
    settings = Settings.model_validate(
        {"M3_BRANCHES": [{"name": "Rouvière", "address": "1 rue Paradis, Marseille"}]}
    )
    found = settings.branch("Rouviere")
    assert found is not None and found.address == "1 rue Paradis, Marseille"
    assert settings.branch("ROUVIÈRE ") is not None
    assert settings.branch("Corniche") is None


def test_rows_naming_an_advisor_who_left_are_flagged(m3: M3, tmp_path: Path) -> None:
    """Alice leaves (missing from the staff file) before Lagon gives her clients to someone
    else: each row still naming her is flagged, the known ones too (their fingerprints were
    taken while she was active), until she is back or the export names another advisor."""
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [contract("C1", "K1", "28/10/2026"), contract("C2", "K2", "28/10/2026")]
    export = portfolio_csv(tmp_path / "export.csv", rows)
    assert ok_json(m3, "import", "portfolio", str(export))["to_fix"] == []
    others = [email for email in STAFF if email != ALICE]
    summary = ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "left.csv", others)))
    assert [d["email"] for d in summary["deactivated"]] == [ALICE]
    later = portfolio_csv(tmp_path / "later.csv", [*rows, contract("C3", "K3", "01/11/2026")])
    summary = ok_json(m3, "import", "portfolio", str(later))
    flag = (
        f"« {ALICE} » n'est plus dans l'équipe (absent·e du fichier des conseillers) : ses "
        "dossiers vont aux managers, à répartir ; réattribuez le client dans Lagon"
    )
    assert summary["to_fix"] == [{"line": line, "reason": flag} for line in (2, 3, 4)]
    assert (summary["created"], summary["cases"]["opened"]) == (1, 1)
    # Back in the staff file: nothing to fix any more.
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "back.csv")))
    assert ok_json(m3, "import", "portfolio", str(later))["to_fix"] == []


def test_a_file_leaving_out_most_of_the_staff_deactivates_nobody_unless_confirmed(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """One branch's staff imported without --keep-missing (or another list with the same
    columns): two of the three active people are missing, more than half the team. Nobody is
    deactivated, and the summary says how to go on; --confirm-departures deactivates them."""
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    corniche = advisors_csv(tmp_path / "corniche.csv", [CLARA])
    summary = ok_json(m3, "import", "advisors", str(corniche))
    assert (summary["deactivated"], summary["too_many_missing"]) == ([], True)
    assert sorted(summary["not_deactivated"]) == sorted(e for e in STAFF if e != CLARA)
    assert all(_stored(factory, email)[5] for email in STAFF)
    text = m3("import", "advisors", str(corniche)).stdout
    assert "2 personnes sur 3 actives sont absentes du fichier : personne n'est désactivé" in text
    assert "--confirm-departures" in text
    summary = ok_json(m3, "import", "advisors", str(corniche), "--confirm-departures")
    assert sorted(d["email"] for d in summary["deactivated"]) == sorted(
        e for e in STAFF if e != CLARA
    )
    # One person of three leaving is no mass departure: deactivated at once.
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "back.csv")))
    others = [e for e in STAFF if e != ALICE]
    summary = ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "left.csv", others)))
    assert [d["email"] for d in summary["deactivated"]] == [ALICE]


def test_an_address_with_an_eszett_is_kept_as_written(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """A mail server need not take « strasse@ » for « straße@ »: the address is stored in
    lower case as written, not case-folded (ß → ss). A record the bot's earlier imports
    case-folded is still found by it, and its address is set back."""
    written = "Jürgen.Straße@Cabinet-Test.example.fr"
    stored = "jürgen.straße@cabinet-test.example.fr"
    folded = "jürgen.strasse@cabinet-test.example.fr"
    path = write_csv(
        tmp_path / "staff.csv",
        ADVISORS_HEADER,
        [[written, "Jürgen", "Straße", "", "Corniche", "Conseiller"], [ALICE, *STAFF[ALICE]]],
    )
    assert ok_json(m3, "import", "advisors", str(path))["created"] == 2
    with factory() as session:
        found = session.scalars(select(Advisor.email).where(Advisor.last_name == "Straße"))
        assert found.one() == stored
    assert ok_json(m3, "import", "advisors", str(path))["unchanged"] == 2
    with factory.begin() as session:
        session.execute(update(Advisor).where(Advisor.email == stored).values(email=folded))
    summary = ok_json(m3, "import", "advisors", str(path))
    assert (summary["created"], summary["updated"], summary["deactivated"]) == (0, 1, [])
    with factory() as session:
        assert set(session.scalars(select(Advisor.email))) == {stored, ALICE}

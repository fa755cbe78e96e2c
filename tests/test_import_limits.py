"""Values as long as, or longer than, the database holds, through the `m3` CLI on SQLite and
PostgreSQL alike (SQLite stores any length; PostgreSQL refuses a value longer than its
varchar): the staff import rejects a row whose value does not fit, with its line and a French
reason, and imports the values that fit exactly; an advisor whose e-mail is as long as an
e-mail can be is updated and deactivated, their audit rows keyed by it; a rejection's reason
longer than `rejected_row.reason` is stored cut with « … », and the import goes on.

Lengths are written out by hand from the columns (`bot.models`): advisor names 100, phone
32, e-mail 254, branch name 100, rejection reason 500.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.crm.rows import PortfolioParser, RowError
from bot.models import Advisor, AuditEntry, Branch, ImportRun, RejectedRow
from tests.conftest import M3
from tests.exports import (
    ADVISORS_HEADER,
    ALICE,
    STAFF,
    advisors_csv,
    contract,
    ok_json,
    portfolio_csv,
    write_csv,
)

# An e-mail of 254 characters, the most an address can have: a 64-character local part and a
# 189-character domain (labels of 63, 63 and 58 characters, then `.fr`).
LONGEST_EMAIL = f"{'l' * 64}@{'a' * 63}.{'b' * 63}.{'c' * 58}.fr"
assert len(LONGEST_EMAIL) == 254


def staff_file(path: Path, *extra: list[str]) -> Path:
    """The tests' staff (lines 2 to 4), then `extra` (line 5 onwards)."""
    rows = [[email, *STAFF[email]] for email in STAFF]
    return write_csv(path, ADVISORS_HEADER, [*rows, *extra], encoding="utf-8")


def too_long(label: str, length: int, limit: int) -> str:
    return f"valeur trop longue dans la colonne « {label} » ({length} caractères, {limit} au plus)"


def audit(engine: Engine, key: str) -> list[tuple[str, str, str | None, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                AuditEntry.entity_key, AuditEntry.field, AuditEntry.old_value, AuditEntry.new_value
            )
            .where(AuditEntry.entity == "advisor", AuditEntry.entity_key == key)
            .order_by(AuditEntry.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


# --- The staff import ---------------------------------------------------------------------


def test_an_advisor_with_the_longest_email_is_updated_then_deactivated(
    m3: M3, engine: Engine, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    row = [LONGEST_EMAIL, "Léa", "Martin", "06 44 55 66 77", "Corniche", "Conseiller"]
    first = ok_json(m3, "import", "advisors", str(staff_file(tmp_path / "a.csv", row)))
    assert (first["created"], first["rejected"]) == (4, [])

    renamed = [LONGEST_EMAIL, "Léa", "Martin-Roux", *row[3:]]
    second = ok_json(m3, "import", "advisors", str(staff_file(tmp_path / "b.csv", renamed)))
    assert (second["updated"], second["unchanged"]) == (1, 3)
    assert audit(engine, LONGEST_EMAIL) == [(LONGEST_EMAIL, "last_name", "Martin", "Martin-Roux")]

    third = ok_json(m3, "import", "advisors", str(staff_file(tmp_path / "c.csv")))
    assert third["deactivated"] == [{"email": LONGEST_EMAIL, "open_cases": []}]
    assert audit(engine, LONGEST_EMAIL)[1:] == [(LONGEST_EMAIL, "active", "True", "False")]
    with factory() as session:
        advisor = session.scalars(select(Advisor).where(Advisor.email == LONGEST_EMAIL)).one()
        assert not advisor.active
        # An advisor with this e-mail is the actor of what they change in Slack.
        session.add(
            AuditEntry(actor=LONGEST_EMAIL, entity="case", entity_key="1", field="advisor_id")
        )
        session.commit()
        assert session.scalars(
            select(AuditEntry.actor).where(AuditEntry.entity == "case")
        ).all() == [LONGEST_EMAIL]


def test_values_that_fit_exactly_are_stored_as_written(
    m3: M3, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    branch = "Agence de la Corniche " + "x" * 78
    phone = "voir la fiche RH : " + "n" * 13  # not a phone: kept as written, to fix
    assert (len(branch), len(phone)) == (100, 32)
    row = [LONGEST_EMAIL, "P" * 100, "N" * 100, phone, branch, "Conseiller"]
    code, summary = m3.json("import", "advisors", str(staff_file(tmp_path / "a.csv", row)))
    assert code == 0, summary
    assert (summary["created"], summary["rejected"]) == (4, [])
    assert summary["to_fix"] == [{"line": 5, "reason": f"téléphone invalide « {phone} »"}]
    with factory() as session:
        advisor = session.scalars(select(Advisor).where(Advisor.email == LONGEST_EMAIL)).one()
        assert (advisor.first_name, advisor.last_name, advisor.phone) == (
            "P" * 100,
            "N" * 100,
            phone,
        )
        assert advisor.branch is not None and advisor.branch.name == branch


LONG_BRANCH = ("Agence " * 20).strip()  # 139 characters
LONG_PHONE = "n° perso / voir fiche RH svp merci"  # 34 characters, not a phone
TOO_LONG_EMAIL = f"{'l' * 64}@{'a' * 63}.{'b' * 63}.{'c' * 59}.fr"  # 255 characters
DAMAGED_EMAIL = "x" * 990 + "@example.fr"  # 1,001 characters


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        pytest.param(
            ["p@cabinet-test.example.fr", "P" * 101, "Nom", "", "Corniche", ""],
            too_long("Prénom", 101, 100),
            id="first-name",
        ),
        pytest.param(
            ["p@cabinet-test.example.fr", "P" * 150, "Nom", "", "Corniche", ""],
            too_long("Prénom", 150, 100),
            id="first-name-150",
        ),
        pytest.param(
            ["p@cabinet-test.example.fr", "Paul", "N" * 101, "", "Corniche", ""],
            too_long("Nom", 101, 100),
            id="last-name",
        ),
        pytest.param(
            ["p@cabinet-test.example.fr", "Paul", "Nom", LONG_PHONE, "Corniche", ""],
            too_long("Téléphone", 34, 32),
            id="invalid-phone",
        ),
        pytest.param(
            ["p@cabinet-test.example.fr", "Paul", "Nom", "", LONG_BRANCH, ""],
            too_long("Agence", 139, 100),
            id="branch",
        ),
        pytest.param(
            [TOO_LONG_EMAIL, "Paul", "Nom", "", "Corniche", ""],
            too_long("E-mail", 255, 254),
            id="email",
        ),
        pytest.param(
            [DAMAGED_EMAIL, "Paul", "Nom", "", "Corniche", ""],
            too_long("E-mail", 1001, 254),
            id="email-damaged",
        ),
    ],
)
def test_a_value_longer_than_its_column_rejects_its_row(
    m3: M3, factory: sessionmaker[Session], tmp_path: Path, row: list[str], reason: str
) -> None:
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    code, summary = m3.json("import", "advisors", str(staff_file(tmp_path / "a.csv", row)))
    assert code == 1, summary
    assert summary["rejected"] == [{"line": 5, "reason": reason}]
    assert (summary["created"], summary["unchanged"], summary["to_fix"]) == (0, 3, [])
    with factory() as session:
        assert sorted(session.scalars(select(Advisor.email))) == sorted(STAFF)
        assert sorted(session.scalars(select(Branch.name))) == ["Corniche", "Rouvière"]


def test_a_rejected_row_of_a_known_advisor_changes_nothing(
    m3: M3, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    """Alice's row now too long: she keeps what she had, and nobody is deactivated (a row
    was rejected)."""
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [[ALICE, "A" * 101, *STAFF[ALICE][1:]]]
    code, summary = m3.json(
        "import", "advisors", str(write_csv(tmp_path / "a.csv", ADVISORS_HEADER, rows))
    )
    assert code == 1, summary
    assert summary["rejected"] == [{"line": 2, "reason": too_long("Prénom", 101, 100)}]
    assert summary["deactivated"] == []
    with factory() as session:
        advisors = {a.email: (a.first_name, a.active) for a in session.scalars(select(Advisor))}
    assert advisors == {email: (STAFF[email][0], True) for email in STAFF}


# --- Rejected rows of the portfolio import ------------------------------------------------


def stored_reasons(factory: sessionmaker[Session]) -> list[tuple[int, str]]:
    with factory() as session:
        run = session.scalars(
            select(ImportRun).where(ImportRun.kind == "portfolio").order_by(ImportRun.id.desc())
        ).first()
        assert run is not None
        return [(r.line, r.reason) for r in run.rejected_rows]


def test_a_rejection_quoting_a_long_value_is_stored_within_its_column(
    m3: M3, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [
        contract("C-1", "AU-1", "01/10/2026", **{"Type client": "x" * 1000}),
        contract("C-2", "AU-2", "01/10/2026"),
    ]
    code, summary = m3.json("import", "portfolio", str(portfolio_csv(tmp_path / "p.csv", rows)))
    assert code == 1, summary
    assert summary["created"] == 1
    [rejected] = summary["rejected"]
    assert rejected["line"] == 2 and rejected["reason"].startswith("type de client inconnu")
    [(line, reason)] = stored_reasons(factory)
    assert line == 2 and len(reason) <= 500
    assert reason == RejectedRow.fitted(rejected["reason"])


def test_a_reason_longer_than_its_column_is_cut(
    m3: M3, factory: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever a reason quotes, the import goes on: the reason is stored cut with « … »
    (the summary keeps it whole)."""
    parse = PortfolioParser.parse

    def long_reason(self: PortfolioParser, cells: list[Any], printable: bool = False) -> Any:
        if cells[0] == "C-2":
            raise RowError("é" * 2000)
        return parse(self, cells, printable)

    monkeypatch.setattr(PortfolioParser, "parse", long_reason)
    ok_json(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [contract(f"C-{n}", f"AU-{n}", "01/10/2026") for n in (1, 2, 3)]
    code, summary = m3.json("import", "portfolio", str(portfolio_csv(tmp_path / "p.csv", rows)))
    assert code == 1, summary
    assert summary["created"] == 2
    assert summary["rejected"] == [{"line": 3, "reason": "é" * 2000}]
    assert stored_reasons(factory) == [(3, "é" * 499 + "…")]


def test_fitted_keeps_a_reason_that_fits() -> None:
    assert RejectedRow.fitted("a" * 500) == "a" * 500
    assert RejectedRow.fitted("a" * 501) == "a" * 499 + "…"
    assert RejectedRow.fitted("") == ""


@pytest.mark.parametrize(
    ("first", "last", "missing"),
    [
        ("", "Nom", "prénom manquant"),
        ("Paul", "", "nom manquant"),
        ("", "", "prénom et nom manquants"),
    ],
)
def test_an_advisor_without_a_first_or_last_name_is_rejected(
    m3: M3, factory: sessionmaker[Session], tmp_path: Path, first: str, last: str, missing: str
) -> None:
    """The bot names advisors to the managers and finds them by « Prénom Nom » in the export."""
    row = ["p@cabinet-test.example.fr", first, last, "", "Corniche", ""]
    code, summary = m3.json("import", "advisors", str(staff_file(tmp_path / "a.csv", row)))
    assert code == 1, summary
    assert summary["rejected"] == [
        {"line": 5, "reason": f"conseiller p@cabinet-test.example.fr : {missing}"}
    ]
    with factory() as session:
        assert sorted(session.scalars(select(Advisor.email))) == sorted(STAFF)

"""The CRM import and the case engine through the `m3` CLI, on the real sample exports,
on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from bot.cli import app
from bot.models import AuditEntry, Case, Client, Contract, ImportRun
from bot.rules import window_for
from tests.conftest import IMPORT_DAY, M3


@pytest.fixture
def expected(sample_dir: Path) -> dict[str, Any]:
    return json.loads((sample_dir / "expected.json").read_text())


def read_sample(path: Path) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("cp1252")), delimiter=";"))
    return rows[0], rows[1:]


def write_csv(
    path: Path,
    header: list[str],
    rows: list[list[str]],
    *,
    encoding: str = "cp1252",
    delimiter: str = ";",
) -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


# --- The sample portfolio ----------------------------------------------------------------


def test_sample_import_counts(loaded: M3, sample_dir: Path, expected: dict[str, Any]) -> None:
    code, again = loaded.json("import", "portfolio", str(sample_dir / "portfolio.csv"))
    assert code == 0
    assert again["rows"] == expected["rows"]
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, expected["rows"])
    assert again["rejected"] == []


@pytest.mark.parametrize(
    "day", ["2026-11-23", "2026-12-01", "2026-12-24", "2027-01-15", "2027-03-10"]
)
def test_cases_listed_for_a_date_match_expected(
    loaded: M3, expected: dict[str, Any], day: str
) -> None:
    on = dt.date.fromisoformat(day)
    import_day = dt.date.fromisoformat(IMPORT_DAY)
    code, listed = loaded.json("cases", "--date", day)
    assert code == 0
    by_client = {case["client_number"]: case for case in listed}
    in_window = [
        item
        for item in expected["an_active"]
        if window_for(dt.date.fromisoformat(item["effect"])).contains(on)
        and window_for(dt.date.fromisoformat(item["effect"])).deadline >= import_day
    ]
    assert in_window, "the chosen date must have cases"
    for item in in_window:
        case = by_client.get(item["client"])
        assert case is not None, f"client {item['client']} missing on {day}"
        assert item["contract"] in case["contract_numbers"]
        assert case["advisor_email"] == item["advisor"]
        assert case["state"] in ("open", "late")
        assert case["due_date"] <= item["due"]
    # And nothing is open that should not be: an open case's window contains the date.
    for case in listed:
        if case["state"] == "open":
            assert case["window_start"] <= day <= case["window_end"]
            ids = {i["contract"] for i in in_window}
            assert ids & set(case["contract_numbers"]), case
    # Exactly the expected clients are open or late with a contract in its window.
    open_clients = {c["client_number"] for c in listed if c["state"] == "open"}
    expected_open = {
        i["client"]
        for i in in_window
        if by_client[i["client"]]["window_start"] <= day <= by_client[i["client"]]["window_end"]
    }
    assert open_clients == expected_open


def test_one_case_per_client_with_later_contracts_joining(
    loaded: M3, expected: dict[str, Any]
) -> None:
    code, listed = loaded.json("cases", "--all", "--date", IMPORT_DAY)
    assert code == 0
    current: dict[str, list[dict[str, Any]]] = {}
    for case in listed:
        current.setdefault(case["client_number"], []).append(case)
    # 100667 has two AN contracts four weeks apart: one case, the earliest window.
    (case,) = current["100667"]
    assert set(case["contract_numbers"]) == {"AZ217522609", "AL838457070"}
    assert case["due_date"] == "2026-12-15"
    assert case["window_start"] == "2026-12-08" and case["window_end"] == "2026-12-22"


def test_old_contracts_open_no_case_on_first_import(loaded: M3, expected: dict[str, Any]) -> None:
    _, listed = loaded.json("cases", "--all", "--date", IMPORT_DAY)
    contracts = {n for case in listed for n in case["contract_numbers"]}
    import_day = dt.date.fromisoformat(IMPORT_DAY)
    old = [
        i
        for i in expected["an_active"]
        if window_for(dt.date.fromisoformat(i["effect"])).deadline < import_day
    ]
    assert old
    assert not contracts & {i["contract"] for i in old}
    assert all(case["state"] != "expired" for case in listed)


def test_list_filters_by_advisor_and_state(loaded: M3) -> None:
    code, everything = loaded.json("cases", "--date", "2026-12-01")
    email = "julie.laurent@agence-corniche.example.fr"
    code, mine = loaded.json("cases", "--date", "2026-12-01", "--advisor", email)
    assert code == 0 and mine
    assert {c["advisor_email"] for c in mine} == {email}
    assert len(mine) == sum(1 for c in everything if c["advisor_email"] == email)
    code, late = loaded.json("cases", "--date", "2026-12-01", "--state", "late")
    assert late and {c["state"] for c in late} == {"late"}
    code, upcoming = loaded.json("cases", "--date", "2026-12-01")
    assert "upcoming" not in {c["state"] for c in upcoming}
    code, with_upcoming = loaded.json("cases", "--all", "--date", "2026-12-01")
    assert "upcoming" in {c["state"] for c in with_upcoming}


def test_table_output_is_french(loaded: M3) -> None:
    result = loaded("cases", "--date", "2026-12-01")
    assert result.exit_code == 0
    assert "Dossiers M+3 au 01/12/2026" in result.stdout
    assert "à traiter" in result.stdout


# --- The dirty export -------------------------------------------------------------------------


def test_dirty_export_rejects_exactly_the_bad_lines(
    m3: M3, sample_dir: Path, factory: sessionmaker[Session]
) -> None:
    defects = json.loads((sample_dir / "portfolio-dirty.defects.json").read_text())["defects"]
    assert m3("import", "advisors", str(sample_dir / "advisors.csv")).exit_code == 0
    code, summary = m3.json("import", "portfolio", str(sample_dir / "portfolio-dirty.csv"))
    assert code == 1
    assert [r["line"] for r in summary["rejected"]] == sorted(
        d["line"] for d in defects if d["reject"]
    )
    assert all(r["reason"] and "Traceback" not in r["reason"] for r in summary["rejected"])
    _, rows = read_sample(sample_dir / "portfolio-dirty.csv")
    kept = summary["rows"] - len(summary["rejected"])
    assert summary["created"] + summary["updated"] + summary["unchanged"] == kept
    flagged = {item["line"] for item in summary["to_fix"]}
    for defect in defects:
        if defect["kind"] in ("invalid e-mail", "invalid phone"):
            assert defect["line"] in flagged
    with factory() as session:
        for defect in defects:
            if defect["kind"] not in ("invalid e-mail", "invalid phone"):
                continue
            number = rows[defect["line"] - 2][0]
            client = session.scalars(select(Client).where(Client.number == number)).one()
            if defect["kind"] == "invalid e-mail":
                assert client.email_invalid
            else:
                assert client.phone_invalid
        run = session.scalars(select(ImportRun).where(ImportRun.kind == "portfolio")).one()
        assert [r.line for r in run.rejected_rows] == [r["line"] for r in summary["rejected"]]


def test_dirty_messages_are_french(m3: M3, sample_dir: Path) -> None:
    m3("import", "advisors", str(sample_dir / "advisors.csv"))
    result = m3("import", "portfolio", str(sample_dir / "portfolio-dirty.csv"))
    assert result.exit_code == 1
    assert "Lignes rejetées" in result.stdout
    assert "numéro de client manquant" in result.stdout
    assert "à corriger dans Lagon" in result.stdout


# --- Later exports: termination, reassignment ---------------------------------------------------


def _find(rows: list[list[str]], header: list[str], **where: str) -> list[str]:
    index = {name: header.index(name) for name in where}
    return next(r for r in rows if all(r[index[k]] == v for k, v in where.items()))


def test_termination_cancels_the_open_case(
    loaded: M3, sample_dir: Path, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    header, rows = read_sample(sample_dir / "portfolio.csv")
    row = _find(rows, header, **{"N° contrat": "AL674012672"})  # client 100625, one AN contract
    row[header.index("Statut contrat")] = "Résilié"
    row[header.index("Date de résiliation")] = "20/11/2026"
    later = write_csv(tmp_path / "export-2.csv", header, rows)
    code, summary = loaded.json("import", "portfolio", str(later))
    assert code == 0
    assert (summary["created"], summary["updated"]) == (0, 1)
    assert summary["cases"]["cancelled"] == 1
    code, listed = loaded.json("cases", "--date", "2026-11-25")
    case = next(c for c in listed if c["client_number"] == "100625")
    assert case["state"] == "cancelled"
    with factory() as session:
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.entity_key == "AL674012672")
        ).all()
        assert {(a.field, a.new_value) for a in audit} >= {("status", "Résilié")}


def test_terminating_one_of_two_contracts_keeps_the_case(
    loaded: M3, sample_dir: Path, tmp_path: Path
) -> None:
    header, rows = read_sample(sample_dir / "portfolio.csv")
    row = _find(rows, header, **{"N° contrat": "AZ217522609"})  # 100667's earliest
    row[header.index("Statut contrat")] = "Suspendu"
    code, summary = loaded.json(
        "import", "portfolio", str(write_csv(tmp_path / "e.csv", header, rows))
    )
    assert code == 0 and summary["cases"]["cancelled"] == 0
    code, listed = loaded.json("cases", "--all", "--date", IMPORT_DAY)
    (case,) = [c for c in listed if c["client_number"] == "100667"]
    assert case["contract_numbers"] == ["AL838457070"]
    assert case["due_date"] == "2027-01-13"  # the window follows the remaining contract


def test_reassignment_moves_the_open_case(loaded: M3, sample_dir: Path, tmp_path: Path) -> None:
    header, rows = read_sample(sample_dir / "portfolio.csv")
    new_advisor = "benoit.poirier@agence-rouviere.example.fr"
    column = header.index("Chargé de clientèle")
    for row in rows:
        if row[0] == "100625":
            row[column] = new_advisor
    code, summary = loaded.json(
        "import", "portfolio", str(write_csv(tmp_path / "e.csv", header, rows))
    )
    assert code == 0
    assert summary["cases"]["moved"] == 1
    assert summary["updated"] >= 1 and summary["created"] == 0
    code, listed = loaded.json("cases", "--date", "2026-11-25", "--advisor", new_advisor)
    assert "100625" in {c["client_number"] for c in listed}


def test_a_new_contract_in_a_later_export_joins_the_open_case(
    loaded: M3, sample_dir: Path, tmp_path: Path
) -> None:
    header, rows = read_sample(sample_dir / "portfolio.csv")
    base = list(_find(rows, header, **{"N° contrat": "AL674012672"}))  # effect 28/08/2026
    base[header.index("N° contrat")] = "AL000000001"
    base[header.index("Produit")] = "Habitation"
    base[header.index("Date d'effet")] = "15/09/2026"
    rows.append(base)
    code, summary = loaded.json(
        "import", "portfolio", str(write_csv(tmp_path / "e.csv", header, rows))
    )
    assert code == 0 and summary["created"] == 1
    assert summary["cases"]["joined"] == 1 and summary["cases"]["opened"] == 0
    code, listed = loaded.json("cases", "--date", "2026-11-25")
    (case,) = [c for c in listed if c["client_number"] == "100625"]
    assert case["contract_numbers"] == ["AL674012672", "AL000000001"]
    assert case["due_date"] == "2026-11-28"


# --- Dry run and unknown advisors ------------------------------------------------------------


def test_dry_run_changes_nothing(m3: M3, sample_dir: Path, factory: sessionmaker[Session]) -> None:
    m3("import", "advisors", str(sample_dir / "advisors.csv"))
    code, summary = m3.json("import", "portfolio", str(sample_dir / "portfolio.csv"), "--dry-run")
    assert code == 0 and summary["created"] == summary["rows"] > 0
    with factory() as session:
        assert session.scalars(select(Contract)).all() == []
        assert session.scalars(select(Case)).all() == []


def test_unknown_advisor_rejects_the_row_with_a_hint(m3: M3, sample_dir: Path) -> None:
    code, summary = m3.json("import", "portfolio", str(sample_dir / "portfolio.csv"))
    assert code == 1
    assert len(summary["rejected"]) == summary["rows"]
    assert "m3 import advisors" in summary["rejected"][0]["reason"]


def test_bad_settings_stop_with_one_line(m3: M3) -> None:
    result = CliRunner().invoke(
        app, ["cases"], env={"DATABASE_URL": m3.database_url, "M3_DIGEST_TIME": "25h"}
    )
    assert result.exit_code == 2
    assert "M3_DIGEST_TIME" in result.output
    assert "Traceback" not in result.output

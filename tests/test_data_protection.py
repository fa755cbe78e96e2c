"""The agency's data protected from wrong commands, through the `m3` CLI on SQLite and
PostgreSQL: the demo never writes into a real database, a staff import refuses what is not a
staff file and marks who left inactive, a portfolio naming no known advisor is refused in one
line, and `m3 advisors` shows the staff as the bot sees it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Absence, Advisor, AuditEntry, Case, Client, Contract, ImportRun
from tests.conftest import M3
from tests.exports import (
    ADVISORS_HEADER,
    ALICE,
    BRUNO,
    CLARA,
    STAFF,
    advisors_csv,
    contract,
    ok,
    ok_json,
    portfolio_csv,
    read_csv,
    write_csv,
)


def counts(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as session:
        return {
            model.__name__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Advisor, Client, Contract, Case, ImportRun, AuditEntry)
        }


def one_line(output: str) -> str:
    text = output.strip()
    assert "\n" not in text, text
    assert "Traceback" not in text
    return text


# --- m3 demo ------------------------------------------------------------------------------------


@pytest.fixture
def staff(m3: M3, tmp_path: Path) -> M3:
    """The tests' own agency: its staff imported."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "equipe.csv")))
    return m3


def test_demo_refuses_a_database_holding_the_agency_s_data(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    path = portfolio_csv(tmp_path / "export.csv", [contract("C1", "K1", "28/08/2026")])
    ok(staff, "import", "portfolio", str(path))
    before = counts(factory)
    url = staff.database_url
    if url.startswith("postgresql"):  # trust authentication: a password is accepted, unused
        url = url.replace("://postgres@", "://postgres:s3cr3t@", 1)
    result = M3(url)("demo")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "contient des données qui ne viennent pas de la démo" in line
    assert "3 conseillers, 2 imports" in line  # the staff file and the export
    assert "la démo n'y a rien écrit" in line
    assert "DATABASE_URL=sqlite:///demo.db m3 demo" in line
    assert "s3cr3t" not in line
    assert counts(factory) == before


def test_demo_refuses_a_portfolio_imported_with_the_demo_s_own_staff(
    m3: M3, sample_dir: Path, factory: sessionmaker[Session]
) -> None:
    """The sample staff are the demo's; the portfolio imported with them is not."""
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    ok(m3, "import", "portfolio", str(sample_dir / "portfolio.csv"))
    before = counts(factory)
    result = m3("demo")
    assert result.exit_code == 2
    assert "1 import et " in one_line(result.output)
    assert counts(factory) == before


def test_demo_loads_an_empty_database_and_runs_again_on_its_own(
    m3: M3, factory: sessionmaker[Session]
) -> None:
    first = ok(m3, "demo", "--clients", "30", today="2026-11-24")
    assert "Démo chargée" in first.output
    loaded = counts(factory)
    assert loaded["Client"] == 30 and loaded["Case"] > 0
    second = ok(m3, "demo", "--clients", "30", today="2026-11-24")
    assert "Démo chargée" in second.output
    again = counts(factory)
    assert (again["Advisor"], again["Client"], again["Contract"], again["Case"]) == (
        loaded["Advisor"],
        loaded["Client"],
        loaded["Contract"],
        loaded["Case"],
    )
    # Later, the demo's staff file still counts as the demo's (it is not "the agency's staff").
    ok(m3, "demo", "--clients", "30", today="2026-12-01")


def test_run_without_tokens_never_mixes_the_demo_into_a_real_base(tmp_path: Path) -> None:
    """`./run.sh` without Slack tokens runs `m3 demo` on the default `m3.db`."""
    m3 = shutil.which("m3", path=str(Path(sys.executable).parent)) or "m3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M3_", "DATABASE_URL"))}
    env["M3_TODAY"] = "2026-11-24"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [m3, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )

    assert run("import", "advisors", str(advisors_csv(tmp_path / "equipe.csv"))).returncode == 0
    result = run("demo")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "la base sqlite:///m3.db contient des données" in one_line(result.stderr)


# --- m3 import advisors: what is not a staff file -------------------------------------------------


def test_a_portfolio_export_given_as_staff_is_refused(
    m3: M3, sample_dir: Path, factory: sessionmaker[Session]
) -> None:
    result = m3("import", "advisors", str(sample_dir / "portfolio.csv"))
    assert result.exit_code == 2
    assert one_line(result.output) == (
        "Erreur : fichier refusé : ce fichier ressemble à un export du portefeuille : "
        "utilisez `m3 import portfolio`"
    )
    code, document = m3.json("import", "advisors", str(sample_dir / "portfolio.csv"))
    assert code == 2 and "utilisez `m3 import portfolio`" in document["error"]
    assert counts(factory)["Advisor"] == counts(factory)["ImportRun"] == 0


def test_a_client_list_given_as_staff_is_refused(m3: M3, tmp_path: Path) -> None:
    """E-mail, Prénom and Nom, like staff, but a client number: not staff."""
    path = write_csv(
        tmp_path / "clients.csv",
        ["Numéro client", "Prénom", "Nom", "E-mail"],
        [["C1", "Zoé", "Ménard", "zoe.menard@example.org"]],
    )
    result = m3("import", "advisors", str(path))
    assert result.exit_code == 2
    assert "ressemble à un export du portefeuille" in one_line(result.output)


def test_a_staff_file_without_the_names_is_refused(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    path = write_csv(tmp_path / "x.csv", ["E-mail", "Agence"], [[ALICE, "Corniche"]])
    result = m3("import", "advisors", str(path))
    assert result.exit_code == 2
    line = one_line(result.output)
    missing = "colonnes obligatoires introuvables\u00a0: «\u00a0Prénom\u00a0», «\u00a0Nom\u00a0»"
    assert missing in line
    assert counts(factory)["Advisor"] == 0


def test_an_empty_staff_file_is_refused_and_deactivates_nobody(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    before = counts(factory)
    result = staff("import", "advisors", str(write_csv(tmp_path / "e.csv", ADVISORS_HEADER, [])))
    assert result.exit_code == 2
    assert "aucune ligne de conseiller" in one_line(result.output)
    assert counts(factory) == before
    assert all(a["active"] for a in ok_json(staff, "advisors"))


# --- m3 import portfolio: no advisor known ----------------------------------------------------


def test_a_portfolio_naming_no_known_advisor_is_refused_in_one_line(
    staff: M3, sample_dir: Path, factory: sessionmaker[Session]
) -> None:
    """The sample's advisors are not this agency's: one line lists them, nothing is written."""
    header, rows = read_csv(sample_dir / "portfolio.csv")
    named = sorted({row[header.index("Chargé de clientèle")] for row in rows}, key=str.casefold)
    assert len(named) > 5
    before = counts(factory)
    result = staff("import", "portfolio", str(sample_dir / "portfolio.csv"))
    assert result.exit_code == 2
    line = one_line(result.output)
    assert line.startswith(
        "Erreur : fichier refusé : aucun chargé de clientèle de ce fichier n'est connu du bot ("
        + ", ".join(named[:5])
        + f" … et {len(named) - 5} autre"
    )
    assert named[5] not in line
    assert "m3 import advisors" in line
    assert counts(factory) == before
    code, document = staff.json("import", "portfolio", str(sample_dir / "portfolio.csv"))
    assert code == 2 and "n'est connu du bot" in document["error"]


def test_with_no_staff_at_all_the_refusal_says_to_import_it_first(m3: M3, tmp_path: Path) -> None:
    rows = [
        contract("C1", "K1", "28/08/2026", "x@ailleurs.example.fr"),
        contract("C2", "K2", "28/08/2026", "Jean Dupont"),
        contract("C3", "K3", "28/08/2026", "x@ailleurs.example.fr"),
    ]
    result = m3("import", "portfolio", str(portfolio_csv(tmp_path / "e.csv", rows)))
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "(Jean Dupont, x@ailleurs.example.fr) : importez d'abord la liste" in line
    assert "autre" not in line


def test_when_some_advisors_are_known_the_others_rows_are_rejected(
    staff: M3, tmp_path: Path
) -> None:
    rows = [
        contract("C1", "K1", "28/08/2026", ALICE),
        contract("C2", "K2", "28/08/2026", "parti@ailleurs.example.fr"),
    ]
    code, summary = staff.json("import", "portfolio", str(portfolio_csv(tmp_path / "e.csv", rows)))
    assert code == 1
    assert summary["created"] == 1
    assert summary["rejected"] == [
        {
            "line": 3,
            "reason": "conseiller inconnu « parti@ailleurs.example.fr » : importez d'abord la "
            "liste des conseillers (m3 import advisors)",
        }
    ]


# --- Staff leave ------------------------------------------------------------------------------

# On 23/11/2026: effect 28/08/2026 → window 21/11–05/12 (à traiter); effect 15/08/2026 → window
# 08/11–22/11, late until 15/12 (en retard); effect 28/10/2026 → window from 21/01/2027 (à venir).


@pytest.fixture
def agency(staff: M3, tmp_path: Path) -> M3:
    rows = [
        contract("C1", "K1", "28/08/2026", ALICE),
        contract("C2", "K2", "15/08/2026", ALICE),
        contract("C3", "K3", "28/10/2026", ALICE),
        contract("C4", "K4", "28/08/2026", BRUNO),
    ]
    ok(staff, "import", "portfolio", str(portfolio_csv(tmp_path / "export.csv", rows)))
    return staff


def test_who_left_is_marked_inactive_with_their_cases_to_reassign(
    agency: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    without_alice = advisors_csv(tmp_path / "equipe-2.csv", [BRUNO, CLARA])
    summary = ok_json(agency, "import", "advisors", str(without_alice))
    # C1 and C2 in their window or late, C3's to come (due 28/01/2027).
    assert summary["deactivated"] == [{"email": ALICE, "open_cases": ["C1", "C2", "C3"]}]
    assert (summary["unchanged"], summary["reactivated"]) == (2, [])
    staff = {a["email"]: a for a in ok_json(agency, "advisors")}
    assert staff[ALICE]["active"] is False and staff[ALICE]["state"] == "inactive"
    assert staff[BRUNO]["active"] is True
    with factory() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.entity_key == ALICE)).all()
    assert {(a.field, a.old_value, a.new_value) for a in audit} == {
        ("active", "True", "False"),
        ("open_cases", None, "C1, C2, C3"),
    }
    # No digest for someone who left.
    digest = ok(agency, "digest", "--dry-run", "--date", "2026-11-24")
    assert f"({BRUNO})" in digest.output
    assert ALICE not in digest.output


def test_the_summary_lists_the_clients_to_reassign(agency: M3, tmp_path: Path) -> None:
    result = ok(agency, "import", "advisors", str(advisors_csv(tmp_path / "e.csv", [BRUNO, CLARA])))
    assert (
        "1 personne absente du fichier, désormais inactive (plus de récapitulatif) :"
        in result.output
    )
    assert (
        f"Alice Martin ({ALICE}) : 3 dossiers M+3 à venir, à traiter ou en retard, clients à "
        "réattribuer dans Lagon : C1, C2, C3"
    ) in result.output


def test_keep_missing_leaves_them_active(agency: M3, tmp_path: Path) -> None:
    path = advisors_csv(tmp_path / "corniche.csv", [CLARA])
    summary = ok_json(agency, "import", "advisors", str(path), "--keep-missing")
    assert summary["deactivated"] == []
    assert all(a["active"] for a in ok_json(agency, "advisors"))


def test_a_dry_run_deactivates_nobody(agency: M3, tmp_path: Path) -> None:
    path = advisors_csv(tmp_path / "e.csv", [BRUNO, CLARA])
    summary = ok_json(agency, "import", "advisors", str(path), "--dry-run")
    assert [d["email"] for d in summary["deactivated"]] == [ALICE]
    assert all(a["active"] for a in ok_json(agency, "advisors"))


def test_who_comes_back_is_active_again(agency: M3, tmp_path: Path) -> None:
    ok(agency, "import", "advisors", str(advisors_csv(tmp_path / "e1.csv", [BRUNO, CLARA])))
    summary = ok_json(agency, "import", "advisors", str(advisors_csv(tmp_path / "e2.csv")))
    assert summary["reactivated"] == [ALICE]
    assert summary["deactivated"] == []
    assert all(a["active"] for a in ok_json(agency, "advisors"))
    digest = ok(agency, "digest", "--dry-run", "--date", "2026-11-24")
    assert f"({ALICE})" in digest.output


def test_nobody_is_deactivated_while_rows_are_rejected(agency: M3, tmp_path: Path) -> None:
    rows = [[BRUNO, *STAFF[BRUNO]], [CLARA, *STAFF[CLARA]], ["alice.martin@", *STAFF[ALICE]]]
    path = write_csv(tmp_path / "e.csv", ADVISORS_HEADER, rows)
    code, summary = agency.json("import", "advisors", str(path))
    assert code == 1
    assert summary["rejected"] == [{"line": 4, "reason": "e-mail invalide « alice.martin@ »"}]
    assert (summary["deactivated"], summary["not_deactivated"]) == ([], [ALICE])
    assert all(a["active"] for a in ok_json(agency, "advisors"))
    text = agency("import", "advisors", str(path))
    assert text.exit_code == 1
    assert f"laissé actif tant que des lignes sont rejetées : {ALICE}" in text.output


# --- m3 advisors --------------------------------------------------------------------------------


def test_advisors_lists_the_staff_in_french(
    agency: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok(agency, "import", "advisors", str(advisors_csv(tmp_path / "e.csv", [BRUNO, CLARA])))
    with factory.begin() as session:
        bruno = session.scalars(select(Advisor).where(Advisor.email == BRUNO)).one()
        bruno.slack_user_id = "U0BRUNO"
        clara = session.scalars(select(Advisor).where(Advisor.email == CLARA)).one()
        clara.absences.append(Absence(start_on=dt.date(2026, 11, 20), end_on=dt.date(2026, 11, 27)))
    result = ok(agency, "advisors")
    lines = result.output.splitlines()
    header = next(line for line in lines if "E-mail" in line)
    for title in ("Nom", "E-mail", "Rôle", "Agence", "Slack", "État", "M+3 en cours"):
        assert title in header

    def row(email: str) -> str:
        return next(line for line in lines if email in line)

    assert "relié" in row(BRUNO) and "non relié" not in row(BRUNO)
    assert "non relié" in row(ALICE)
    assert "inactif" in row(ALICE)
    assert "absent jusqu'au 27/11/2026" in row(CLARA) and "Manager" in row(CLARA)
    assert "Bruno Petit" in row(BRUNO) and "Rouvière" in row(BRUNO)
    # The active first; the one who left last.
    assert lines.index(row(ALICE)) > lines.index(row(BRUNO))

    listed: list[dict[str, Any]] = ok_json(agency, "advisors")
    by_email = {a["email"]: a for a in listed}
    assert by_email[BRUNO] == {
        "email": BRUNO,
        "first_name": "Bruno",
        "last_name": "Petit",
        "role": "Conseiller",
        "branch": "Rouvière",
        "slack_linked": True,
        "active": True,
        "absent_from": None,
        "absent_until": None,
        "absences": [],
        "state": "active",
        "state_label": "actif",
        "open_cases": 1,
    }
    assert (by_email[CLARA]["state"], by_email[CLARA]["absent_until"]) == ("absent", "2026-11-27")
    assert (by_email[ALICE]["state"], by_email[ALICE]["open_cases"]) == ("inactive", 2)
    json.dumps(listed)


def test_advisors_on_an_empty_database_says_how_to_start(m3: M3) -> None:
    result = ok(m3, "advisors")
    assert "m3 import advisors" in result.output
    assert ok_json(m3, "advisors") == []


def test_demo_refusing_demo_db_suggests_another_file(m3: M3, tmp_path: Path) -> None:
    """The example base of the refusal is never the one just refused."""
    demo_db = M3(f"sqlite:///{tmp_path / 'demo.db'}")
    ok(demo_db, "import", "advisors", str(advisors_csv(tmp_path / "equipe.csv")))
    result = demo_db("demo")
    assert result.exit_code == 2
    line = one_line(result.output)
    assert "DATABASE_URL=sqlite:///demo-2.db m3 demo" in line

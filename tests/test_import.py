"""The portfolio import and the M+3 cases it opens, through the `m3` CLI, on SQLite and
PostgreSQL.

Expected values come from the data or from the rules written out by hand, never from the code
under test: the sample's `expected.json` lists each active AN contract with its client, effect
date, due date (effect + 3 months) and advisor; the window is due ± 7 days; a case is late up to
effect + 4 months, that day included. Later exports are small files each test writes for
itself, with its own clients and dates.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.cases import engine as engine_module
from bot.crm import portfolio, scan
from bot.models import Advisor, Attempt, AuditEntry, Case, Client, Contract, ImportRun
from bot.team import Taken, take_case
from tests.conftest import IMPORT_DAY, M3
from tests.exports import (
    ALICE,
    BRUNO,
    PORTFOLIO_HEADER,
    advisors_csv,
    contract,
    ok,
    ok_json,
    portfolio_csv,
    read_csv,
)

WEEK = dt.timedelta(days=7)


@pytest.fixture
def expected(sample_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((sample_dir / "expected.json").read_text())
    return document


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def deadline(item: dict[str, Any]) -> dt.date:
    """The last day a contract's M+3 is still to do: effect + 4 calendar months."""
    return day(item["effect"]) + relativedelta(months=4)


def in_window(item: dict[str, Any], on: dt.date) -> bool:
    due = day(item["due"])
    return due - WEEK <= on <= due + WEEK


# --- The sample portfolio ----------------------------------------------------------------


def test_sample_import_counts(m3: M3, sample_dir: Path, expected: dict[str, Any]) -> None:
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    first = ok_json(m3, "import", "portfolio", str(sample_dir / "portfolio.csv"))
    assert first["rows"] == expected["rows"]
    assert (first["created"], first["updated"], first["rejected"]) == (expected["rows"], 0, [])
    again = ok_json(m3, "import", "portfolio", str(sample_dir / "portfolio.csv"))
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, expected["rows"])
    assert again["rejected"] == []


@pytest.mark.parametrize(
    "on", ["2026-11-23", "2026-12-01", "2026-12-24", "2027-01-15", "2027-03-10"]
)
def test_cases_listed_for_a_date_match_expected(
    loaded: M3, expected: dict[str, Any], on: str
) -> None:
    date = day(on)
    import_day = day(IMPORT_DAY)
    contracts = {item["contract"]: item for item in expected["an_active"]}
    # Contracts whose M+3 was over before the first import open no case (see below).
    current = [item for item in expected["an_active"] if deadline(item) >= import_day]
    due_now = [item for item in current if in_window(item, date)]
    assert due_now, "the chosen date must have cases"
    listed = ok_json(loaded, "cases", "--date", on)
    by_client = {case["client_number"]: case for case in listed}
    assert len(by_client) == len(listed)  # one case per client

    # Every contract whose window holds the date is in its client's case, to call.
    for item in due_now:
        case = by_client.get(item["client"])
        assert case is not None, f"client {item['client']} missing on {on}"
        assert item["contract"] in case["contract_numbers"]
        assert case["advisor_email"] == item["advisor"]
        assert case["state"] in ("open", "late")
        assert case["due_date"] <= item["due"]  # a case keeps its earliest contract's window

    # Every listed case is right by the rules: its window is its earliest contract's due ± 7
    # days; open inside it; late after it, up to its latest contract's effect + 4 months;
    # expired after that. (Upcoming cases are left out without --all.)
    for case in listed:
        items = [contracts[number] for number in case["contract_numbers"]]
        due = min(day(item["due"]) for item in items)
        assert case["due_date"] == due.isoformat()
        assert (case["window_start"], case["window_end"]) == (
            (due - WEEK).isoformat(),
            (due + WEEK).isoformat(),
        )
        last = max(deadline(item) for item in items)
        expected_state = (
            "open"
            if due - WEEK <= date <= due + WEEK
            else "late"
            if due + WEEK < date <= last
            else "expired"
            if date > last
            else "upcoming"
        )
        assert case["state"] == expected_state, case


def test_old_contracts_open_no_case_on_first_import(loaded: M3, expected: dict[str, Any]) -> None:
    listed = ok_json(loaded, "cases", "--all", "--date", IMPORT_DAY)
    contracts = {n for case in listed for n in case["contract_numbers"]}
    import_day = day(IMPORT_DAY)
    old = {i["contract"] for i in expected["an_active"] if deadline(i) < import_day}
    recent = {i["contract"] for i in expected["an_active"] if deadline(i) >= import_day}
    assert old and recent
    assert not contracts & old
    assert recent <= contracts
    assert all(case["state"] != "expired" for case in listed)


def test_first_import_counts_the_contracts_too_old_for_a_case(
    m3: M3, sample_dir: Path, expected: dict[str, Any]
) -> None:
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    first = ok_json(m3, "import", "portfolio", str(sample_dir / "portfolio.csv"))
    import_day = day(IMPORT_DAY)
    old = [i for i in expected["an_active"] if deadline(i) < import_day]
    assert old
    assert first["cases"]["left_out"] == len(old)


def test_list_filters_by_advisor_and_state(loaded: M3) -> None:
    everything = ok_json(loaded, "cases", "--date", "2026-12-01")
    email = everything[0]["advisor_email"]
    mine = ok_json(loaded, "cases", "--date", "2026-12-01", "--advisor", email)
    assert mine and {c["advisor_email"] for c in mine} == {email}
    assert len(mine) == sum(1 for c in everything if c["advisor_email"] == email)
    late = ok_json(loaded, "cases", "--date", "2026-12-01", "--state", "late")
    assert late and {c["state"] for c in late} == {"late"}
    assert "upcoming" not in {c["state"] for c in everything}
    with_upcoming = ok_json(loaded, "cases", "--all", "--date", "2026-12-01")
    assert "upcoming" in {c["state"] for c in with_upcoming}


def test_table_output_is_french(loaded: M3) -> None:
    result = ok(loaded, "cases", "--date", "2026-12-01")
    assert "Dossiers M+3 au 01/12/2026" in result.stdout
    assert "à traiter" in result.stdout


# --- The dirty export -------------------------------------------------------------------------


def test_dirty_export_rejects_exactly_the_bad_lines(
    m3: M3, sample_dir: Path, factory: sessionmaker[Session]
) -> None:
    defects = json.loads((sample_dir / "portfolio-dirty.defects.json").read_text())["defects"]
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    code, summary = m3.json("import", "portfolio", str(sample_dir / "portfolio-dirty.csv"))
    assert code == 1
    assert [r["line"] for r in summary["rejected"]] == sorted(
        d["line"] for d in defects if d["reject"]
    )
    assert all(r["reason"] and "Traceback" not in r["reason"] for r in summary["rejected"])
    header, rows = read_csv(sample_dir / "portfolio-dirty.csv")
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
            number = rows[defect["line"] - 2][header.index("N° client")]
            client = session.scalars(select(Client).where(Client.number == number)).one()
            if defect["kind"] == "invalid e-mail":
                assert client.email_invalid
            else:
                assert client.phone_invalid
        run = session.scalars(select(ImportRun).where(ImportRun.kind == "portfolio")).one()
        assert [r.line for r in run.rejected_rows] == [r["line"] for r in summary["rejected"]]


def test_dirty_messages_are_french(m3: M3, sample_dir: Path) -> None:
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    result = m3("import", "portfolio", str(sample_dir / "portfolio-dirty.csv"))
    assert result.exit_code == 1
    assert "Lignes rejetées" in result.stdout
    assert "numéro de client manquant" in result.stdout
    assert "à corriger dans Lagon" in result.stdout


# --- Later exports: a new contract, termination, reassignment -----------------------------------

# Effect 28/08/2026: due 28/11/2026, window 21/11–05/12/2026 (open on 23/11 and 25/11), late up
# to 28/12/2026. Effect 15/09/2026: due 15/12/2026, window 08/12–22/12/2026.


@pytest.fixture
def staff(m3: M3, tmp_path: Path) -> M3:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    return m3


def import_rows(m3: M3, path: Path, rows: list[dict[str, str]]) -> dict[str, Any]:
    summary: dict[str, Any] = ok_json(m3, "import", "portfolio", str(portfolio_csv(path, rows)))
    return summary


def test_a_later_contract_joins_the_open_case_with_the_earliest_window(
    staff: M3, tmp_path: Path
) -> None:
    first = [contract("C1", "K1", "28/08/2026"), contract("C1", "K2", "15/09/2026")]
    summary = import_rows(staff, tmp_path / "e1.csv", first)
    assert summary["cases"]["opened"] == 1
    assert_one_case_for_k1_and_k2(staff)


def assert_one_case_for_k1_and_k2(m3: M3) -> None:
    """The case of K1 (effect 28/08/2026) and K2 (15/09/2026): K1's window (due 28/11, ± 7
    days), late after it up to K2's effect + 4 months (15/01/2027)."""
    (case,) = ok_json(m3, "cases", "--all", "--date", "2026-11-25")
    assert case["contract_numbers"] == ["K1", "K2"]
    assert case["state"] == "open"
    assert (case["due_date"], case["window_start"], case["window_end"]) == (
        "2026-11-28",
        "2026-11-21",
        "2026-12-05",
    )
    (late,) = ok_json(m3, "cases", "--date", "2027-01-15")
    assert late["state"] == "late"
    assert ok_json(m3, "cases", "--date", "2027-01-16", "--state", "late") == []


def test_a_new_contract_in_a_later_export_joins_the_open_case(staff: M3, tmp_path: Path) -> None:
    rows = [contract("C1", "K1", "28/08/2026")]
    import_rows(staff, tmp_path / "e1.csv", rows)
    rows.append(contract("C1", "K2", "15/09/2026", Produit="Habitation"))
    summary = import_rows(staff, tmp_path / "e2.csv", rows)
    assert (summary["created"], summary["unchanged"]) == (1, 1)
    assert (summary["cases"]["joined"], summary["cases"]["opened"]) == (1, 0)
    (case,) = ok_json(staff, "cases", "--date", "2026-11-25")
    assert case["contract_numbers"] == ["K1", "K2"]
    assert case["due_date"] == "2026-11-28"


def test_an_earlier_contract_in_a_later_export_moves_the_window_earlier(
    staff: M3, tmp_path: Path
) -> None:
    """The case's window is its earliest contract's (domain rules), whichever came first."""
    rows = [contract("C1", "K2", "15/09/2026")]
    import_rows(staff, tmp_path / "e1.csv", rows)
    (case,) = ok_json(staff, "cases", "--all", "--date", "2026-11-25")
    assert (case["due_date"], case["window_start"]) == ("2026-12-15", "2026-12-08")
    rows.append(contract("C1", "K1", "28/08/2026"))
    summary = import_rows(staff, tmp_path / "e2.csv", rows)
    assert (summary["cases"]["joined"], summary["cases"]["opened"]) == (1, 0)
    assert_one_case_for_k1_and_k2(staff)  # as when both came in one export


def test_a_corrected_effect_date_moves_the_open_case_window(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """The CRM corrects a contract's effect date: its open case's window and deadline follow
    (domain rules: M+3 is three months after the effect date, the window a week around it, the
    deadline four months after), the other way too, and the case's change is audited."""
    import_rows(staff, tmp_path / "e1.csv", [contract("C1", "K1", "15/09/2026")])
    (case,) = ok_json(staff, "cases", "--all", "--date", "2026-11-25")
    assert (case["due_date"], case["window_start"]) == ("2026-12-15", "2026-12-08")
    summary = import_rows(staff, tmp_path / "e2.csv", [contract("C1", "K1", "01/10/2026")])
    assert (summary["created"], summary["updated"]) == (0, 1)
    (moved,) = ok_json(staff, "cases", "--all", "--date", "2026-11-25")
    assert moved["id"] == case["id"]
    assert (moved["due_date"], moved["window_start"], moved["window_end"]) == (
        "2027-01-01",
        "2026-12-25",
        "2027-01-08",
    )
    assert (moved["effect_date"], moved["deadline"]) == ("2026-10-01", "2027-02-01")
    import_rows(staff, tmp_path / "e3.csv", [contract("C1", "K1", "28/08/2026")])
    (back,) = ok_json(staff, "cases", "--all", "--date", "2026-11-25")
    assert (back["id"], back["due_date"], back["window_start"]) == (
        case["id"],
        "2026-11-28",
        "2026-11-21",
    )
    with factory() as session:
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "case", AuditEntry.field == "effect_date")
        ).all()
    assert [(a.old_value, a.new_value) for a in audit] == [
        ("2026-09-15", "2026-10-01"),
        ("2026-10-01", "2026-08-28"),
    ]


def test_a_repeated_contract_that_changes_its_client_details_is_rejected(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """The same contract on two lines, the later one giving the client another phone: the
    export contradicts itself, so the later line is rejected and listed, and the client keeps
    the first line's details; the same when the first line was imported before (a known row)
    and only the repeat changed."""
    first = contract("C1", "K1", "15/09/2026")
    other_phone = contract("C1", "K1", "15/09/2026", **{"Téléphone": "07 00 00 00 01"})
    code, summary = staff.json(
        "import", "portfolio", str(portfolio_csv(tmp_path / "e1.csv", [first, other_phone]))
    )
    assert code == 1
    assert (summary["created"], summary["unchanged"]) == (1, 0)
    assert [r["line"] for r in summary["rejected"]] == [3]
    assert "K1" in summary["rejected"][0]["reason"]
    with factory() as session:
        assert session.scalars(select(Client.phone)).all() == ["+33612345678"]

    import_rows(staff, tmp_path / "e2.csv", [first, first])  # the phone as the first line says
    code, summary = staff.json(
        "import", "portfolio", str(portfolio_csv(tmp_path / "e3.csv", [first, other_phone]))
    )
    assert code == 1
    assert [r["line"] for r in summary["rejected"]] == [3]
    with factory() as session:
        assert session.scalars(select(Client.phone)).all() == ["+33612345678"]


def test_the_branches_an_export_creates_are_named_in_its_summary(staff: M3, tmp_path: Path) -> None:
    """A branch the bot did not know is created, and said: a typo in the CRM makes one."""
    rows = [
        contract("C1", "K1", "15/09/2026", **{"Agence": "Corniche"}),
        contract("C2", "K2", "15/09/2026", **{"Agence": "Vieux-Port"}),
        contract("C3", "K3", "15/09/2026", **{"Agence": "Cornche"}),
    ]
    path = portfolio_csv(tmp_path / "e1.csv", rows)
    summary = ok_json(staff, "import", "portfolio", str(path), "--dry-run")
    assert summary["new_branches"] == ["Cornche", "Vieux-Port"]
    text = staff("import", "portfolio", str(path)).output
    assert (
        "Agences créées, inconnues du bot jusqu'ici : Cornche, Vieux-Port (une faute de frappe ? "
        "corrigez-la dans Lagon)."
    ) in text
    assert ok_json(staff, "import", "portfolio", str(path))["new_branches"] == []


@pytest.mark.parametrize("update_from", [True, False], ids=["update-from", "subqueries"])
def test_a_column_the_file_lacks_erases_nothing(
    staff: M3,
    tmp_path: Path,
    factory: sessionmaker[Session],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    update_from: bool,
) -> None:
    """An export whose « Téléphone », « E-mail » and « Statut contrat » columns are renamed
    (the bot cannot name them) erases no phone, e-mail or status: existing clients and
    contracts keep what the database holds, a new client has none, and the summary names
    the columns missing and the columns not read. A termination date that has passed still
    terminates its contract."""
    if not update_from:
        if engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL always updates from a join")
        monkeypatch.setattr(portfolio, "SQLITE_UPDATE_FROM", (99,))
    import_rows(
        staff,
        tmp_path / "e1.csv",
        [
            contract("C1", "K1", "28/08/2026", **{"E-mail": "zoe@exemple.fr"}),
            contract("C2", "K2", "28/08/2026", status="Suspendu"),
            contract("C3", "K3", "28/08/2026"),
        ],
    )
    renamed = {
        "Téléphone": "Tél. mobile",
        "E-mail": "Adresse e-mail",
        "Statut contrat": "Statut du contrat",
    }
    rows = [
        contract("C1", "K1", "28/08/2026", **{"Téléphone": "07 00 00 00 00", "E-mail": ""}),
        contract("C2", "K2", "28/08/2026", status="Actif"),
        contract("C3", "K3", "28/08/2026", **{"Date de résiliation": "20/11/2026"}),
        contract("C4", "K4", "28/08/2026"),
    ]
    header = [renamed.get(name, name) for name in PORTFOLIO_HEADER]
    path = portfolio_csv(tmp_path / "e2.csv", rows, header=header)
    summary = ok_json(staff, "import", "portfolio", str(path))
    assert summary["absent_columns"] == ["Téléphone", "E-mail", "Statut contrat"]
    assert summary["unread_columns"] == ["Tél. mobile", "Adresse e-mail", "Statut du contrat"]
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (1, 1, 2)
    with factory() as session:
        clients = {c.number: (c.phone, c.email) for c in session.scalars(select(Client))}
        assert clients == {
            "C1": ("+33612345678", "zoe@exemple.fr"),
            "C2": ("+33612345678", None),
            "C3": ("+33612345678", None),
            "C4": (None, None),
        }
        statuses = {n: s for n, s in session.execute(select(Contract.number, Contract.status))}
        assert statuses == {"K1": "Actif", "K2": "Suspendu", "K3": "Résilié", "K4": "Actif"}
    text = staff("import", "portfolio", str(path)).output
    assert (
        "Colonnes absentes du fichier : Téléphone, E-mail, Statut contrat ; les valeurs déjà "
        "enregistrées sont gardées. Colonnes du fichier que le bot ne lit pas : « Tél. mobile », "
        "« Adresse e-mail », « Statut du contrat »"
    ) in text


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes"])
def test_an_origin_read_as_not_new_business_is_named_unless_known(
    staff: M3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    """A contract whose origin is not AN opens no M+3: an origin label the bot does not know
    as one or the other (« Affaire Nouvele », a typo) is named in the summary, once, so that
    a person can correct it; « Avenant », « Transfert », « Remplacement AN » are not."""
    if processes == 2:  # the reading shared between two processes, in blocks of 2 records
        monkeypatch.setattr(scan, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(scan, "BLOCK", 2)
    known = ["AN", "Avenant", "Transfert", "Remplacement AN", "Affaire nouvelle"]
    origins = [known[n % len(known)] for n in range(200)]
    unknown = ["Affaire Nouvele", *(f"Apport {n}" for n in range(1, 10))]
    for n, origin in enumerate(unknown):  # spread over the file: both processes meet some
        origins[n * 20 + 7] = origin
    rows = [
        contract(f"C{n}", f"K{n}", "28/08/2026", origin=origin)
        for n, origin in enumerate(origins, start=1)
    ]
    path = portfolio_csv(tmp_path / "e1.csv", rows)
    summary = ok_json(staff, "import", "portfolio", str(path), "--dry-run")
    assert summary["other_origins"] == unknown
    assert summary["cases"]["opened"] == sum(o in ("AN", "Affaire nouvelle") for o in origins)
    text = staff("import", "portfolio", str(path)).output
    assert (
        "Origines lues comme autre chose qu'une affaire nouvelle (pas de M+3) : « Affaire "
        "Nouvele », « Apport 1 », « Apport 2 »"
    ) in text
    assert "si c'est une affaire nouvelle, corrigez le libellé dans Lagon" in text


def test_termination_cancels_the_open_case(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    import_rows(staff, tmp_path / "e1.csv", [contract("C1", "K1", "28/08/2026")])
    (case,) = ok_json(staff, "cases", "--date", "2026-11-25")
    assert case["state"] == "open"
    terminated = contract(
        "C1", "K1", "28/08/2026", status="Résilié", **{"Date de résiliation": "20/11/2026"}
    )
    summary = import_rows(staff, tmp_path / "e2.csv", [terminated])
    assert (summary["created"], summary["updated"]) == (0, 1)
    assert summary["cases"]["cancelled"] == 1
    (case,) = ok_json(staff, "cases", "--date", "2026-11-25", "--all")
    assert case["state"] == "cancelled"
    with factory() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.entity_key == "K1")).all()
        assert {(a.field, a.new_value) for a in audit} >= {("status", "Résilié")}


def test_a_clients_new_details_are_audited_with_its_contracts_changes(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """A re-import that gives a client another phone and one of its contracts another product:
    both are in the audit log, old and new value, under the import."""
    import_rows(staff, tmp_path / "e1.csv", [contract("C1", "K1", "28/08/2026")])
    changed = contract("C1", "K1", "28/08/2026", Téléphone="06 98 76 54 32", Produit="Habitation")
    assert import_rows(staff, tmp_path / "e2.csv", [changed])["updated"] == 1
    with factory() as session:
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.field.in_(("phone", "product")))
        ).all()
        assert {(a.entity, a.entity_key, a.field, a.old_value, a.new_value) for a in entries} == {
            ("client", "C1", "phone", "+33612345678", "+33698765432"),
            ("contract", "K1", "product", "Auto", "Habitation"),
        }
        assert len({(a.actor, a.at) for a in entries}) == 1


def test_terminating_one_of_two_contracts_keeps_the_case(staff: M3, tmp_path: Path) -> None:
    rows = [contract("C1", "K1", "28/08/2026"), contract("C1", "K2", "15/09/2026")]
    import_rows(staff, tmp_path / "e1.csv", rows)
    rows[0] = contract("C1", "K1", "28/08/2026", status="Suspendu")
    summary = import_rows(staff, tmp_path / "e2.csv", rows)
    assert summary["cases"]["cancelled"] == 0
    (case,) = ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    assert case["contract_numbers"] == ["K2"]
    assert case["due_date"] == "2026-12-15"  # the window follows the remaining contract


def test_reassignment_moves_the_open_case(staff: M3, tmp_path: Path) -> None:
    import_rows(staff, tmp_path / "e1.csv", [contract("C1", "K1", "28/08/2026", ALICE)])
    summary = import_rows(staff, tmp_path / "e2.csv", [contract("C1", "K1", "28/08/2026", BRUNO)])
    assert summary["cases"]["moved"] == 1
    assert (summary["created"], summary["updated"]) == (0, 1)
    moved = ok_json(staff, "cases", "--date", "2026-11-25", "--advisor", BRUNO)
    assert [c["client_number"] for c in moved] == ["C1"]
    assert ok_json(staff, "cases", "--date", "2026-11-25", "--advisor", ALICE) == []


def test_a_contract_that_becomes_an_an_in_a_later_export_opens_its_case(
    staff: M3, tmp_path: Path
) -> None:
    import_rows(staff, tmp_path / "e1.csv", [contract("C1", "K1", "28/08/2026", origin="Avenant")])
    assert ok_json(staff, "cases", "--all", "--date", IMPORT_DAY) == []
    summary = import_rows(staff, tmp_path / "e2.csv", [contract("C1", "K1", "28/08/2026")])
    assert (summary["updated"], summary["cases"]["opened"]) == (1, 1)
    (case,) = ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    assert (case["contract_numbers"], case["due_date"]) == (["K1"], "2026-11-28")


def test_a_later_export_reports_each_contract_too_old_for_a_case_once(
    staff: M3, tmp_path: Path
) -> None:
    """A later export brings a contract too old for a case to a client the bot knows (C1)
    and to a new one (C2): each is reported once, whichever way its client came."""
    rows = [contract("C1", "K1", "28/09/2026")]
    assert import_rows(staff, tmp_path / "e1.csv", rows)["cases"]["opened"] == 1
    rows += [contract("C1", "K9", "28/02/2026"), contract("C2", "K2", "28/02/2026")]
    summary = import_rows(staff, tmp_path / "e2.csv", rows)
    assert (summary["created"], summary["cases"]["left_out"]) == (2, 2)


def test_a_contract_too_old_corrected_to_another_old_date_is_reported_once(
    staff: M3, tmp_path: Path
) -> None:
    """Too old for a case when it came (reported then), its effect date corrected to another
    date still too old: nothing new to report. Corrected out of its case (K2 leaving K1's),
    it is reported once, not again at its next correction."""
    first = import_rows(staff, tmp_path / "e1.csv", [contract("C1", "K1", "28/02/2026")])
    assert first["cases"]["left_out"] == 1
    again = import_rows(staff, tmp_path / "e2.csv", [contract("C1", "K1", "28/03/2026")])
    assert (again["updated"], again["cases"]["left_out"]) == (1, 0)
    rows = [contract("C2", "K1b", "28/09/2026"), contract("C2", "K2", "01/10/2026")]
    assert import_rows(staff, tmp_path / "e3.csv", rows)["cases"]["opened"] == 1
    rows[1] = contract("C2", "K2", "01/02/2026")
    out = import_rows(staff, tmp_path / "e4.csv", rows)
    assert (out["updated"], out["cases"]["left_out"]) == (1, 1)
    rows[1] = contract("C2", "K2", "01/03/2026")
    out = import_rows(staff, tmp_path / "e5.csv", rows)
    assert (out["updated"], out["cases"]["left_out"]) == (1, 0)


def test_a_contract_that_is_no_longer_an_an_leaves_its_open_case(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    rows = [contract("C1", "K1", "28/08/2026"), contract("C1", "K2", "15/09/2026")]
    import_rows(staff, tmp_path / "e1.csv", rows)
    rows[0] = contract("C1", "K1", "28/08/2026", origin="Avenant")  # the CRM corrected it
    summary = import_rows(staff, tmp_path / "e2.csv", rows)
    assert (summary["updated"], summary["cases"]["cancelled"]) == (1, 0)
    (case,) = ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    assert case["contract_numbers"] == ["K2"]
    assert case["due_date"] == "2026-12-15"  # the window follows the remaining contract
    with factory() as session:
        left = session.scalars(select(AuditEntry).where(AuditEntry.field == "contract_left")).all()
        assert [(a.old_value, a.new_value) for a in left] == [("K1", None)]
    # Its last AN contract no longer one: the case is cancelled (not a miss).
    rows[1] = contract("C1", "K2", "15/09/2026", origin="Avenant")
    summary = import_rows(staff, tmp_path / "e3.csv", rows)
    assert summary["cases"]["cancelled"] == 1
    (case,) = ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    assert case["state"] == "cancelled"


def test_an_effect_date_corrected_in_a_later_export_opens_its_case(
    staff: M3, tmp_path: Path
) -> None:
    # Effect 28/02/2026: late up to 28/06/2026, too old for a case on the import day.
    first = import_rows(staff, tmp_path / "e1.csv", [contract("C1", "K1", "28/02/2026")])
    assert (first["cases"]["opened"], first["cases"]["left_out"]) == (0, 1)
    summary = import_rows(staff, tmp_path / "e2.csv", [contract("C1", "K1", "28/08/2026")])
    assert (summary["updated"], summary["cases"]["opened"]) == (1, 1)
    (case,) = ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    assert (case["contract_numbers"], case["due_date"]) == (["K1"], "2026-11-28")


def test_an_effect_date_corrected_far_back_cancels_the_open_case(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """The CRM corrects an effect date so far back that the M+3's deadline (effect + 4
    months) is already past on the import day: the open case is cancelled (no advisor missed
    that call), audited; the contract is not reported as too old a second time."""
    first = import_rows(staff, tmp_path / "e1.csv", [contract("C1", "K1", "28/09/2026")])
    assert first["cases"]["opened"] == 1
    # 10/07/2026: its deadline, 10/11/2026, is before the import day (23/11/2026).
    summary = import_rows(staff, tmp_path / "e2.csv", [contract("C1", "K1", "10/07/2026")])
    assert (summary["updated"], summary["cases"]["cancelled"]) == (1, 1)
    (case,) = ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    assert (case["state"], case["due_date"]) == ("cancelled", "2026-10-10")
    with factory() as session:
        fields = session.scalars(
            select(AuditEntry.field).where(AuditEntry.entity == "case").order_by(AuditEntry.id)
        ).all()
    assert fields[-3:] == ["effect_date", "deadline", "cancelled_on"]
    # Corrected again, still too old: the case stays cancelled, nothing reported again.
    again = import_rows(staff, tmp_path / "e3.csv", [contract("C1", "K1", "10/06/2026")])
    assert (again["updated"], again["cases"]["restored"], again["cases"]["left_out"]) == (1, 0, 0)


def test_a_date_typo_fixed_the_next_day_gives_the_case_back_with_its_attempts(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """A typo in the CRM puts K1's effect date far back (its case cancelled: the deadline is
    past), fixed in the next export: the same case comes back, open again with its window and
    the call attempt the advisor had logged, not a new case beside a cancelled one."""
    import_rows(staff, tmp_path / "e1.csv", [contract("C1", "K1", "28/09/2026")])
    with factory.begin() as session:
        case = session.scalars(select(Case)).one()
        session.add(Attempt(case_id=case.id, advisor_id=case.advisor_id, outcome="messagerie"))
        first_id = case.id
    typo = import_rows(staff, tmp_path / "e2.csv", [contract("C1", "K1", "10/07/2026")])
    assert typo["cases"]["cancelled"] == 1
    fixed = import_rows(staff, tmp_path / "e3.csv", [contract("C1", "K1", "28/09/2026")])
    assert {k: fixed["cases"][k] for k in ("opened", "restored", "left_out")} == {
        "opened": 0,
        "restored": 1,
        "left_out": 0,
    }
    (case_json,) = ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    # 28/09/2026 + 3 months = 28/12/2026, its window 21/12 – 04/01: to come on 23/11.
    assert (case_json["state"], case_json["due_date"]) == ("upcoming", "2026-12-28")
    assert case_json["contract_numbers"] == ["K1"]
    shown = ok_json(staff, "case", "C1")
    assert [a["outcome"] for a in shown["attempts"]] == ["messagerie"]
    with factory() as session:
        (back,) = session.scalars(select(Case)).all()
        assert (back.id, back.cancelled_on, back.is_current) == (first_id, None, True)
        fields = session.scalars(
            select(AuditEntry.field)
            .where(AuditEntry.entity == "case", AuditEntry.entity_key == str(first_id))
            .order_by(AuditEntry.id)
        ).all()
    assert fields[-3:] == ["cancelled_on", "effect_date", "deadline"]


def test_a_case_past_its_deadline_stays_expired_when_its_date_is_corrected(
    staff: M3, tmp_path: Path
) -> None:
    """A case already expired before the correction stays a missed call."""
    first = import_rows_on(
        staff, tmp_path / "e1.csv", [contract("C1", "K1", "01/07/2026")], "2026-10-01"
    )
    assert first["cases"]["opened"] == 1
    summary = import_rows(staff, tmp_path / "e2.csv", [contract("C1", "K1", "20/06/2026")])
    assert (summary["updated"], summary["cases"]["cancelled"]) == (1, 0)
    (case,) = ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    assert (case["state"], case["due_date"]) == ("expired", "2026-09-20")


def test_a_second_contract_corrected_into_the_past_leaves_the_case(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """K2 joined K1's case; the CRM then corrects K2's effect date a year back: it took effect
    before K1 and long before anyone's M+3, so it leaves the case, whose window stays K1's (as
    the same export gives on an empty database), instead of the case turning late two months
    after K1."""
    day1, day2 = "2026-03-10", "2026-03-11"
    rows = [contract("C1", "K1", "10/01/2026"), contract("C1", "K2", "01/02/2026")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, day1)
    rows[1] = contract("C1", "K2", "01/02/2025")
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, day2)
    # Too old for an M+3 now: reported, as the export that brought it would have.
    assert (summary["updated"], summary["cases"]["left_out"]) == (1, 1)
    (case,) = ok_json(staff, "cases", "--all", "--date", day2, today=day2)
    # K1's: effect 10/01/2026, due 10/04, window 03/04 to 17/04, deadline 10/05.
    assert (case["state"], case["contract_numbers"]) == ("upcoming", ["K1"])
    assert (case["window_start"], case["deadline"]) == ("2026-04-03", "2026-05-10")
    with factory() as session:
        left = session.scalars(
            select(AuditEntry.old_value).where(AuditEntry.field == "contract_left")
        ).all()
    assert left == ["K2"]
    with factory() as session:
        moved = session.execute(
            select(AuditEntry.old_value, AuditEntry.new_value).where(
                AuditEntry.entity == "case", AuditEntry.field == "deadline"
            )
        ).all()
    assert [tuple(m) for m in moved] == [("2026-06-01", "2026-05-10")]  # K2's, then K1's


def test_a_second_contract_corrected_past_the_case_deadline_gets_its_own_case(
    staff: M3, tmp_path: Path
) -> None:
    """K2 corrected to 01/09/2026, after K1's case's deadline (10/05/2026): K1's case is K1's
    again (it expires in May if nobody calls), and K2 opens its own case for the autumn."""
    day1, day2 = "2026-03-10", "2026-03-11"
    rows = [contract("C1", "K1", "10/01/2026"), contract("C1", "K2", "01/02/2026")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, day1)
    rows[1] = contract("C1", "K2", "01/09/2026")
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, day2)
    assert summary["cases"]["opened"] == 1
    cases = ok_json(staff, "cases", "--all", "--date", day2, today=day2)
    assert sorted((c["contract_numbers"], c["due_date"], c["deadline"]) for c in cases) == [
        (["K1"], "2026-04-10", "2026-05-10"),
        (["K2"], "2026-12-01", "2027-01-01"),
    ]
    # In K1's window, the client's case is K1's, though K2's is the newer (current) one.
    shown = ok_json(staff, "case", "C1", today="2026-04-10")
    assert (shown["contract_numbers"], shown["state"]) == (["K1"], "open")
    # Once K1's case is over (expired), K2's.
    shown = ok_json(staff, "case", "C1", today="2026-06-01")
    assert (shown["contract_numbers"], shown["state"]) == (["K2"], "upcoming")


def test_a_case_built_by_the_rules_over_several_exports_stays_whole(
    staff: M3, tmp_path: Path
) -> None:
    """K2, effective before K1 but within the case's deadline, joined K1's case (its window
    came forward); the next export changes only the client's phone: the case stays as it is
    (no date was corrected), and re-importing changes nothing."""
    k1, k2 = contract("C1", "K1", "01/06/2026"), contract("C1", "K2", "15/01/2026")
    import_rows_on(staff, tmp_path / "e1.csv", [k1], "2026-05-01")
    joined = import_rows_on(staff, tmp_path / "e2.csv", [k1, k2], "2026-05-02")
    assert (joined["cases"]["opened"], joined["cases"]["joined"]) == (0, 1)
    phone = {"Téléphone": "06 99 88 77 66"}
    rows = [k1 | phone, k2 | phone]
    summary = import_rows_on(staff, tmp_path / "e3.csv", rows, "2026-05-03")
    assert (summary["updated"], summary["cases"]["opened"]) == (2, 0)
    (case,) = ok_json(staff, "cases", "--all", "--date", "2026-05-03", today="2026-05-03")
    # K2's window (due 15/04), K1's deadline (01/10).
    assert (sorted(case["contract_numbers"]), case["due_date"], case["deadline"]) == (
        ["K1", "K2"],
        "2026-04-15",
        "2026-10-01",
    )


def test_a_middle_contract_ending_leaves_the_others_in_their_case(
    staff: M3, tmp_path: Path
) -> None:
    """K3 joined through K2's deadline; K2 then ends: K1 and K3 stay in the case, still late
    (K1's call was due in April)."""
    k1, k2, k3 = (
        contract("C1", "K1", "10/01/2026"),
        contract("C1", "K2", "20/04/2026"),
        contract("C1", "K3", "01/08/2026"),
    )
    import_rows_on(staff, tmp_path / "e1.csv", [k1], "2026-03-10")
    import_rows_on(staff, tmp_path / "e2.csv", [k1, k2], "2026-04-21")
    import_rows_on(staff, tmp_path / "e3.csv", [k1, k2, k3], "2026-07-01")
    ended = contract("C1", "K2", "20/04/2026", status="Résilié")
    import_rows_on(staff, tmp_path / "e4.csv", [k1, ended, k3], "2026-07-02")
    (case,) = ok_json(staff, "cases", "--all", "--date", "2026-07-02", today="2026-07-02")
    assert (case["contract_numbers"], case["state"]) == (["K1", "K3"], "late")


def test_a_late_case_whose_later_contract_ends_expires_rather_than_cancelled(
    staff: M3, tmp_path: Path
) -> None:
    """K2 kept K1's case late past K1's own deadline (10/05); K2 ends on 20/05: K1's call was
    still missed, so the case expires (a miss), as the rules say; only a corrected date
    cancels."""
    rows = [contract("C1", "K1", "10/01/2026"), contract("C1", "K2", "01/04/2026")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-03-10")
    rows[1] = contract(
        "C1", "K2", "01/04/2026", status="Résilié", **{"Date de résiliation": "20/05/2026"}
    )
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-06-01")
    assert summary["cases"]["cancelled"] == 0
    (case,) = ok_json(staff, "cases", "--all", "--date", "2026-06-01", today="2026-06-01")
    assert (case["contract_numbers"], case["state"]) == (["K1"], "expired")


def _cases_on(staff: M3, day: str) -> list[tuple[list[str], str, str, str]]:
    cases = ok_json(staff, "cases", "--all", "--date", day, today=day)
    return sorted(
        (sorted(c["contract_numbers"]), c["due_date"], c["deadline"], c["state"]) for c in cases
    )


def test_both_contracts_of_a_case_redated_apart_get_a_case_each(staff: M3, tmp_path: Path) -> None:
    """K1 and K2 share a case; one export corrects both, K2 now long after K1's deadline: as
    on an empty database, a case each (the case stays K1's, K2 opens its own)."""
    rows = [contract("C1", "K1", "15/01/2026"), contract("C1", "K2", "01/03/2026")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-02-01")
    rows = [contract("C1", "K1", "16/01/2026"), contract("C1", "K2", "01/08/2026")]
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-02-02")
    assert summary["cases"]["opened"] == 1
    assert _cases_on(staff, "2026-02-02") == [
        (["K1"], "2026-04-16", "2026-05-16", "upcoming"),
        (["K2"], "2026-11-01", "2026-12-01", "upcoming"),
    ]


def test_contracts_of_one_export_chain_into_the_open_case(staff: M3, tmp_path: Path) -> None:
    """K2 joins K1's case and keeps it open until its own deadline (10/09), so K3 (01/07)
    joins too: one case, as the same rows give on an empty database."""
    import_rows_on(staff, tmp_path / "e1.csv", [contract("C1", "K1", "15/01/2026")], "2026-02-01")
    rows = [
        contract("C1", "K1", "15/01/2026"),
        contract("C1", "K2", "10/05/2026"),
        contract("C1", "K3", "01/07/2026"),
    ]
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-02-02")
    assert (summary["cases"]["opened"], summary["cases"]["joined"]) == (0, 2)
    assert _cases_on(staff, "2026-02-02") == [
        (["K1", "K2", "K3"], "2026-04-15", "2026-11-01", "upcoming")
    ]


def test_a_missed_call_stays_missed_when_another_contract_is_redated_out(
    staff: M3, tmp_path: Path
) -> None:
    """K1's window was 08–22/01 and K2 kept the case open; K2 is then corrected to July: it
    leaves for a case of its own, and K1's case, past its deadline (15/02), is a miss
    (expired), not cancelled: K1's date was never corrected."""
    rows = [contract("C1", "K1", "15/10/2025"), contract("C1", "K2", "01/01/2026")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-01-05")
    rows[1] = contract("C1", "K2", "01/07/2026")
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-02-20")
    assert (summary["cases"]["cancelled"], summary["cases"]["opened"]) == (0, 1)
    assert _cases_on(staff, "2026-02-20") == [
        (["K1"], "2026-01-15", "2026-02-15", "expired"),
        (["K2"], "2026-10-01", "2026-11-01", "upcoming"),
    ]


# --- Dry run -------------------------------------------------------------------------------


def test_dry_run_changes_nothing(m3: M3, sample_dir: Path, factory: sessionmaker[Session]) -> None:
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    summary = ok_json(m3, "import", "portfolio", str(sample_dir / "portfolio.csv"), "--dry-run")
    assert summary["created"] == summary["rows"] > 0
    with factory() as session:
        assert session.scalars(select(Contract)).all() == []
        assert session.scalars(select(Case)).all() == []
        assert session.scalars(select(ImportRun).where(ImportRun.kind == "portfolio")).all() == []


def test_a_contract_moved_to_another_client_follows_it(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """The CRM moves a contract to another client (two records of one person merged, say)."""
    rows = [contract("C1", "K1", "28/08/2026"), contract("C2", "K2", "01/09/2026")]
    import_rows(staff, tmp_path / "e1.csv", rows)
    moved = [contract("C2", "K1", "28/08/2026"), rows[1]]
    summary = import_rows(staff, tmp_path / "e2.csv", moved)
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 1, 1)
    with factory() as session:
        owner = session.scalars(
            select(Client.number)
            .join(Contract, Contract.client_id == Client.id)
            .where(Contract.number == "K1")
        ).one()
        assert owner == "C2"
        audit = session.scalars(select(AuditEntry).where(AuditEntry.entity_key == "K1")).all()
        assert [a.field for a in audit] == ["client_id"]
    # Its first client has no AN contract left: that case is cancelled; K1 joins the open case
    # of its new client (its effect date is before that case's first deadline, 01/01/2027).
    assert (summary["cases"]["cancelled"], summary["cases"]["joined"]) == (1, 1)
    cases = ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    by_client = {c["client_number"]: c for c in cases}
    assert by_client["C1"]["state"] == "cancelled"
    assert by_client["C2"]["contract_numbers"] == ["K1", "K2"]
    again = import_rows(staff, tmp_path / "e3.csv", moved)
    assert (again["updated"], again["unchanged"]) == (0, 2)


def test_a_moved_contract_follows_its_client_whichever_page_has_them(
    staff: M3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The case engine works a page of clients at a time: with the old client in a page
    before the new one's, the contract still leaves the old case and joins the new one."""
    monkeypatch.setattr(engine_module, "PAGE", 1)
    rows = [contract("C1", "K1", "28/08/2026"), contract("C2", "K2", "01/09/2026")]
    import_rows(staff, tmp_path / "e1.csv", rows)
    summary = import_rows(staff, tmp_path / "e2.csv", [contract("C2", "K1", "28/08/2026"), rows[1]])
    assert (summary["cases"]["cancelled"], summary["cases"]["joined"]) == (1, 1)
    by_client = {c["client_number"]: c for c in ok_json(staff, "cases", "--all")}
    assert by_client["C1"]["state"] == "cancelled"
    assert by_client["C2"]["contract_numbers"] == ["K1", "K2"]
    assert by_client["C2"]["due_date"] == "2026-11-28"  # K1's window, the earliest


def test_a_client_has_one_case_while_it_is_open(staff: M3, tmp_path: Path) -> None:
    """K1 (15/10/2026, deadline 15/02/2027) opens a case; K2 (15/02/2027) joins it and keeps
    it open until 15/06/2027; K4 (16/02/2027), past K1's deadline but not the case's, joins
    it too (domain rules: one open case per client): not a second case the advisor would see
    beside the first, late one."""
    k1, k2 = contract("C1", "K1", "15/10/2026"), contract("C1", "K2", "15/02/2027")
    import_rows(staff, tmp_path / "e1.csv", [k1])
    assert import_rows(staff, tmp_path / "e2.csv", [k1, k2])["cases"]["joined"] == 1
    k4 = contract("C1", "K4", "16/02/2027")
    summary = import_rows(staff, tmp_path / "e3.csv", [k1, k2, k4])
    assert (summary["cases"]["joined"], summary["cases"]["opened"]) == (1, 0)
    (case,) = ok_json(staff, "cases", "--all")
    assert case["contract_numbers"] == ["K1", "K2", "K4"]
    assert (case["due_date"], case["deadline"]) == ("2027-01-15", "2027-06-16")
    # The same three in a new client's first export: one case as well.
    three = [
        contract("C2", n, effect)
        for n, effect in [("L1", "15/10/2026"), ("L2", "15/02/2027"), ("L4", "16/02/2027")]
    ]
    assert import_rows(staff, tmp_path / "e4.csv", [k1, k2, k4, *three])["cases"]["opened"] == 1
    by_client = {c["client_number"]: c for c in ok_json(staff, "cases", "--all")}
    assert by_client["C2"]["contract_numbers"] == ["L1", "L2", "L4"]


def test_a_reactivated_contract_gets_its_m3_again(staff: M3, tmp_path: Path) -> None:
    """Suspended (its case cancelled: no call made), then active again: still an AN with no
    M+3 done, its case comes back (the same call: one case, not a cancelled one beside a new
    one)."""
    active = contract("C1", "K1", "15/10/2026")
    import_rows(staff, tmp_path / "e1.csv", [active])
    suspended = contract("C1", "K1", "15/10/2026", status="Suspendu")
    assert import_rows(staff, tmp_path / "e2.csv", [suspended])["cases"]["cancelled"] == 1
    again = import_rows(staff, tmp_path / "e3.csv", [active])
    assert (again["cases"]["opened"], again["cases"]["restored"]) == (0, 1)
    cases = ok_json(staff, "cases", "--all")
    assert [(c["state"], c["contract_numbers"]) for c in cases] == [("upcoming", ["K1"])]


def test_a_contract_back_after_its_case_is_past_opens_nothing(staff: M3, tmp_path: Path) -> None:
    """Terminated while its case was open, active again once effect + 4 months has passed:
    the case stays cancelled (no call is due any more) and the contract is too old for one."""
    active = contract("C1", "K1", "15/07/2026")  # due 15/10/2026, deadline 15/11/2026
    assert import_rows_on(staff, tmp_path / "e1.csv", [active], "2026-08-20")["cases"]["opened"]
    ended = contract("C1", "K1", "15/07/2026", status="Résilié")
    summary = import_rows_on(staff, tmp_path / "e2.csv", [ended], "2026-09-01")
    assert summary["cases"]["cancelled"] == 1
    again = import_rows_on(staff, tmp_path / "e3.csv", [active], "2026-11-20")
    assert (again["cases"]["opened"], again["cases"]["restored"]) == (0, 0)
    (case,) = ok_json(staff, "cases", "--all", "--date", "2026-11-20", today="2026-11-20")
    assert case["state"] == "cancelled"


def test_a_restored_case_lets_go_of_the_contracts_it_does_not_take_back(
    staff: M3, tmp_path: Path
) -> None:
    """KA, KB and KC in one case (built over three exports), all suspended: cancelled. KA and
    KC active again on 23/11: the case comes back with KC alone (KA's M+3 is long past, too
    old for any case); KA leaves it then, so that no later change pulls its window back."""
    ka = contract("C1", "KA", "01/04/2026")
    kb = contract("C1", "KB", "15/07/2026")
    kc = contract("C1", "KC", "01/11/2026")
    import_rows_on(staff, tmp_path / "e1.csv", [ka], "2026-05-01")
    import_rows_on(staff, tmp_path / "e2.csv", [ka, kb], "2026-07-20")
    import_rows_on(staff, tmp_path / "e3.csv", [ka, kb, kc], "2026-11-05")
    off = [{**row, "Statut contrat": "Suspendu"} for row in (ka, kb, kc)]
    import_rows_on(staff, tmp_path / "e4.csv", off, "2026-11-10")
    back = import_rows_on(staff, tmp_path / "e5.csv", [ka, off[1], kc], "2026-11-23")
    assert back["cases"]["restored"] == 1
    # KC: effect 01/11/2026, due 01/02/2027: to come on 23/11.
    expected = [("upcoming", "2027-02-01", ["KC"])]

    def listed() -> list[tuple[str, str, list[str]]]:
        cases = ok_json(staff, "cases", "--all", "--date", "2026-11-23", today="2026-11-23")
        return [(c["state"], c["due_date"], c["contract_numbers"]) for c in cases]

    assert listed() == expected
    ended = {**kb, "Statut contrat": "Résilié"}  # any later change for the client
    import_rows_on(staff, tmp_path / "e6.csv", [ka, ended, kc], "2026-11-23")
    assert listed() == expected


def test_a_restored_case_keeps_no_contract_of_another_client(staff: M3, tmp_path: Path) -> None:
    """K and K2 of C1 suspended (their case cancelled); then K moves to C2 (too old there for
    a case) while K2 is active again: C1's case comes back with K2 alone."""
    k, k2 = contract("C1", "K", "01/04/2026"), contract("C1", "K2", "31/07/2026")
    import_rows_on(staff, tmp_path / "e1.csv", [k], "2026-05-01")
    import_rows_on(staff, tmp_path / "e2.csv", [k, k2], "2026-08-01")
    off = [{**row, "Statut contrat": "Suspendu"} for row in (k, k2)]
    import_rows_on(staff, tmp_path / "e3.csv", off, "2026-11-10")
    moved = contract("C2", "K", "01/04/2026")
    back = import_rows_on(staff, tmp_path / "e4.csv", [moved, k2], "2026-11-23")
    assert back["cases"]["restored"] == 1
    shown = ok_json(staff, "case", "C1", today="2026-11-23")
    assert shown["contract_numbers"] == ["K2"]


def test_a_restored_case_stays_with_the_colleague_who_took_it(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """Alice's client's case, taken by Bruno by hand (« Je le prends »), cancelled (the
    contract suspended), then back: it comes back to Bruno, as an open case would have stayed
    with him while the CRM still names Alice."""
    k1 = contract("C1", "K1", "20/08/2026")  # due 20/11/2026: open on the 20th
    import_rows_on(staff, tmp_path / "e1.csv", [k1], "2026-11-20")
    with factory.begin() as session:
        case = session.scalars(select(Case)).one()
        bruno_id = _bruno_takes(session, case.id, dt.date(2026, 11, 20))
    import_rows_on(staff, tmp_path / "e2.csv", [{**k1, "Statut contrat": "Suspendu"}], "2026-11-21")
    back = import_rows_on(staff, tmp_path / "e3.csv", [k1], "2026-11-23")
    assert (back["cases"]["restored"], back["cases"]["moved"]) == (1, 0)
    with factory() as session:
        assert session.scalars(select(Case)).one().advisor_id == bruno_id


def test_a_contract_back_after_another_case_opened_joins_that_one(
    staff: M3, tmp_path: Path
) -> None:
    """K1's case cancelled (suspended), then K2 opens a case of its own; K1 active again joins
    K2's case, the client's latest: the cancelled one stays as it was (one open case)."""
    k1 = contract("C1", "K1", "15/10/2026")
    import_rows(staff, tmp_path / "e1.csv", [k1])
    k1_off = contract("C1", "K1", "15/10/2026", status="Suspendu")
    k2 = contract("C1", "K2", "20/10/2026")
    import_rows(staff, tmp_path / "e2.csv", [k1_off])
    assert import_rows(staff, tmp_path / "e3.csv", [k1_off, k2])["cases"]["opened"] == 1
    again = import_rows(staff, tmp_path / "e4.csv", [k1, k2])
    assert (again["cases"]["restored"], again["cases"]["joined"]) == (0, 1)
    cases = ok_json(staff, "cases", "--all")
    assert sorted((c["state"], tuple(c["contract_numbers"])) for c in cases) == [
        ("cancelled", ()),
        ("upcoming", ("K1", "K2")),
    ]


def test_a_contract_long_past_its_m3_does_not_pull_the_window_back(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """An AN that took effect long ago (its own M+3 missed by more than four months) opens
    nothing, and does not join the client's open case either: the window stays its first
    contract's. A contract that does join is audited, with the deadline it pushes back."""
    k1 = contract("C1", "K1", "15/10/2026")
    import_rows(staff, tmp_path / "e1.csv", [k1])
    old = contract("C1", "K0", "10/01/2025")
    summary = import_rows(staff, tmp_path / "e2.csv", [old, k1])
    assert (summary["cases"]["joined"], summary["cases"]["left_out"]) == (0, 1)
    k2 = contract("C1", "K2", "01/11/2026")
    summary = import_rows(staff, tmp_path / "e3.csv", [old, k1, k2])
    # The old contract was reported by the export that brought it, not again.
    assert (summary["cases"]["joined"], summary["cases"]["left_out"]) == (1, 0)
    (case,) = ok_json(staff, "cases", "--all")
    assert case["contract_numbers"] == ["K1", "K2"]
    assert (case["due_date"], case["deadline"]) == ("2027-01-15", "2027-03-01")
    with factory() as session:
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "case").order_by(AuditEntry.id)
        ).all()
    assert [(a.field, a.old_value, a.new_value) for a in audit] == [
        ("contract_joined", None, "K2"),
        ("deadline", "2027-02-15", "2027-03-01"),
    ]


def test_a_missed_m3_stays_missed_when_its_contract_ends_later(staff: M3, tmp_path: Path) -> None:
    """Expired on 15/09/2026 (effect 15/05 + 4 months), the contract terminated on 25/09: the
    call was missed before the contract ended, and stays counted as missed, not cancelled."""
    k1 = contract("C1", "K1", "15/05/2026")
    import_rows_on(staff, tmp_path / "e1.csv", [k1], "2026-08-20")
    ended = contract(
        "C1", "K1", "15/05/2026", status="Résilié", **{"Date de résiliation": "25/09/2026"}
    )
    summary = import_rows_on(staff, tmp_path / "e2.csv", [ended], "2026-10-01")
    assert summary["cases"]["cancelled"] == 0
    (case,) = ok_json(staff, "cases", "--all", "--date", "2026-10-01", today="2026-10-01")
    assert case["state"] == "expired"
    # Terminated before its deadline, the same case would have been cancelled (not a miss).
    import_rows_on(staff, tmp_path / "e3.csv", [contract("C2", "K2", "15/05/2026")], "2026-08-20")
    ended_early = contract(
        "C2", "K2", "15/05/2026", status="Résilié", **{"Date de résiliation": "01/09/2026"}
    )
    summary = import_rows_on(staff, tmp_path / "e4.csv", [ended_early], "2026-10-01")
    assert summary["cases"]["cancelled"] == 1


def _bruno_takes(session: Session, case_id: int, day: dt.date) -> int:
    """Bruno takes Alice's case by hand (« Je le prends ») on `day`; his id."""
    alice, bruno = (
        session.scalars(select(Advisor).where(Advisor.email == email)).one()
        for email in (ALICE, BRUNO)
    )
    taken = take_case(
        session,
        case_id=case_id,
        expected_advisor_id=alice.id,
        asker=bruno,
        target=bruno,
        today=day,
    )
    assert isinstance(taken, Taken)
    return bruno.id


def import_rows_on(m3: M3, path: Path, rows: list[dict[str, str]], day: str) -> dict[str, Any]:
    summary: dict[str, Any] = ok_json(
        m3, "import", "portfolio", str(portfolio_csv(path, rows)), today=day
    )
    return summary


def test_a_case_keeps_the_contracts_that_did_not_move(staff: M3, tmp_path: Path) -> None:
    rows = [contract("C1", "K0", "28/08/2026"), contract("C1", "K1", "01/09/2026")]
    import_rows(staff, tmp_path / "e1.csv", rows)
    (case,) = ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    assert case["contract_numbers"] == ["K0", "K1"]
    moved = [rows[0], contract("C3", "K1", "01/09/2026")]  # C3: a client new to the bot
    summary = import_rows(staff, tmp_path / "e2.csv", moved)
    assert summary["cases"]["cancelled"] == 0
    by_client = {
        c["client_number"]: c for c in ok_json(staff, "cases", "--all", "--date", IMPORT_DAY)
    }
    assert by_client["C1"]["contract_numbers"] == ["K0"]
    assert by_client["C1"]["state"] != "cancelled"
    assert by_client["C3"]["contract_numbers"] == ["K1"]
    assert by_client["C3"]["due_date"] == "2026-12-01"  # K1's effect date + 3 months


def test_a_corrected_date_that_brings_two_cases_together_makes_them_one(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """K1 (01/06) and K2 (15/10, after K1's deadline) have a case each. The CRM corrects K1
    to 10/10: as on an empty database, they are one case (one call), its window K1's, its
    deadline K2's; not two cases open together in January. K1's case keeps them (no call
    recorded on either: the first contract's), K2's is deleted, merged into it."""
    rows = [contract("C1", "K1", "01/06/2026"), contract("C1", "K2", "15/10/2026")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-07-01")
    with factory() as session:
        first, second = (c.id for c in session.scalars(select(Case).order_by(Case.id)))
    rows[0] = contract("C1", "K1", "10/10/2026")
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-07-02")
    assert (summary["cases"]["merged"], summary["cases"]["cancelled"]) == (1, 0)
    # 10/10/2026 + 3 months = 10/01/2027; K2's deadline 15/10 + 4 months = 15/02/2027.
    assert _cases_on(staff, "2027-01-10") == [(["K1", "K2"], "2027-01-10", "2027-02-15", "open")]
    with factory() as session:
        kept = session.get(Case, first)
        assert kept is not None and session.get(Case, second) is None
        assert (kept.is_current, kept.cancelled_on) == (True, None)
        assert session.scalars(
            select(AuditEntry.new_value).where(
                AuditEntry.entity_key == str(second), AuditEntry.field == "merged_into"
            )
        ).one() == str(first)


def test_the_case_with_a_call_recorded_keeps_the_contracts_of_a_merge(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """The advisor logged an attempt on K2's case: that case keeps both contracts (its
    window now K1's), and K1's case is the one merged. Attempts on both cases: left apart,
    the advisor says which call counts."""
    rows = [contract("C1", "K1", "01/06/2026"), contract("C1", "K2", "15/10/2026")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-07-01")
    with factory.begin() as session:
        first, second = session.scalars(select(Case).order_by(Case.id)).all()
        session.add(Attempt(case_id=second.id, advisor_id=second.advisor_id, outcome="messagerie"))
        first_id, second_id = first.id, second.id
    rows[0] = contract("C1", "K1", "10/10/2026")
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-07-02")
    assert summary["cases"]["merged"] == 1
    with factory() as session:
        kept = session.get(Case, second_id)
        assert kept is not None and session.get(Case, first_id) is None
        assert (kept.cancelled_on, kept.effect_date, kept.is_current) == (
            None,
            dt.date(2026, 10, 10),
            True,
        )
    shown = ok_json(staff, "case", "C1", today="2026-07-02")
    assert [a["outcome"] for a in shown["attempts"]] == ["messagerie"]

    # Both cases with an attempt: no merge.
    rows = [contract("C2", "K3", "01/06/2026"), contract("C2", "K4", "15/10/2026")]
    import_rows_on(staff, tmp_path / "e3.csv", rows, "2026-07-03")
    with factory.begin() as session:
        for case in session.scalars(
            select(Case).join(Client).where(Client.number == "C2").order_by(Case.id)
        ):
            session.add(Attempt(case_id=case.id, advisor_id=case.advisor_id, outcome="messagerie"))
    rows[0] = contract("C2", "K3", "10/10/2026")
    assert import_rows_on(staff, tmp_path / "e4.csv", rows, "2026-07-04")["cases"]["merged"] == 0
    with factory() as session:
        live = session.scalars(
            select(Case).join(Client).where(Client.number == "C2", Case.cancelled_on.is_(None))
        ).all()
        assert len(live) == 2


def test_a_merged_case_that_is_cancelled_and_comes_back_keeps_its_attempts(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """After a merge the kept case is the client's latest (the other is gone): a typo that
    cancels it, fixed the next day, gives it back with the attempt logged on it."""
    rows = [contract("C1", "K1", "01/06/2026"), contract("C1", "K2", "15/10/2026")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-07-01")
    rows[0] = contract("C1", "K1", "10/10/2026")
    assert import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-07-02")["cases"]["merged"] == 1
    with factory.begin() as session:
        (case,) = session.scalars(select(Case)).all()
        session.add(Attempt(case_id=case.id, advisor_id=case.advisor_id, outcome="messagerie"))
    typo = [contract("C1", "K1", "10/01/2026"), contract("C1", "K2", "15/01/2026")]
    assert import_rows_on(staff, tmp_path / "e3.csv", typo, "2026-07-03")["cases"]["cancelled"] == 1
    fixed = import_rows_on(staff, tmp_path / "e4.csv", rows, "2026-07-04")
    assert (fixed["cases"]["restored"], fixed["cases"]["opened"]) == (1, 0)
    shown = ok_json(staff, "case", "C1", today="2026-07-04")
    assert [a["outcome"] for a in shown["attempts"]] == ["messagerie"]


def test_a_case_a_colleague_took_keeps_the_contracts_of_a_merge(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """K1's case is late and Bruno took it (« Je le prends »); K3's is to come. The CRM then
    corrects K1 to 20/10, after K3 (15/10): one case, whose first contract is K3. Bruno's case
    keeps both (taken by hand: a record of the call), not K3's case with Alice."""
    rows = [contract("C1", "K1", "01/06/2026"), contract("C1", "K3", "15/10/2026")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-05-20")
    with factory.begin() as session:
        first = session.scalars(select(Case).order_by(Case.id)).first()
        assert first is not None
        _bruno_takes(session, first.id, dt.date(2026, 9, 15))
        first_id = first.id
    rows[0] = contract("C1", "K1", "20/10/2026")
    assert import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-09-16")["cases"]["merged"] == 1
    with factory() as session:
        (case,) = session.scalars(select(Case)).all()
        assert (case.id, case.advisor.email, case.due_date) == (
            first_id,
            BRUNO,
            dt.date(2027, 1, 15),
        )
        assert sorted(c.number for c in case.contracts) == ["K1", "K3"]


def test_a_contract_joins_the_case_still_to_call_when_the_current_one_was_cancelled(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """K1's case is to call; K2, after K1's deadline, opened the current case. The CRM then
    moves K2 to another client (that case is cancelled) and brings K3, within K1's deadline:
    K3 joins K1's case, which is current again, as on an empty database; no second case."""
    rows = [contract("C1", "K1", "01/09/2026"), contract("C1", "K2", "01/03/2027")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-07-01")
    rows = [
        contract("C1", "K1", "01/09/2026"),
        contract("C2", "K2", "01/03/2027"),
        contract("C1", "K3", "01/11/2026"),
    ]
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-07-02")
    assert summary["cases"]["joined"] == 1
    with factory() as session:
        live = session.scalars(
            select(Case).join(Client).where(Client.number == "C1", Case.cancelled_on.is_(None))
        ).all()
        assert [(sorted(c.number for c in case.contracts), case.is_current) for case in live] == [
            (["K1", "K3"], True)
        ]


def test_the_summary_says_a_merge_in_french(staff: M3, tmp_path: Path) -> None:
    rows = [contract("C1", "K1", "01/06/2026"), contract("C1", "K2", "15/10/2026")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-07-01")
    rows[0] = contract("C1", "K1", "10/10/2026")
    path = portfolio_csv(tmp_path / "e2.csv", rows)
    output = ok(staff, "import", "portfolio", str(path), today="2026-07-02").output
    assert "1 fusionné avec un autre dossier du client (un seul appel)" in output


def test_a_contract_the_current_case_no_longer_takes_joins_the_case_it_merges_with(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """K1 (04/11) has a case, K2 (08/03, after K1's deadline) the current one. The CRM
    corrects K2 to 16/10 and brings K3 (01/03), in one export. K2's case now ends on 16/02,
    before K3; but with K1 it ends on 04/03, after K3: on an empty database the three are one
    case (one call), its window K2's, its deadline K3's. Not K1 and K2's case and a second one
    for K3 beside it."""
    rows = [contract("C1", "K1", "04/11/2026"), contract("C1", "K2", "08/03/2027")]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-11-18")
    rows = [
        contract("C1", "K1", "04/11/2026"),
        contract("C1", "K2", "16/10/2026"),
        contract("C1", "K3", "01/03/2027"),
    ]
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-11-28")
    # 16/10/2026 + 3 months = 16/01/2027; K3's deadline 01/03/2027 + 4 months = 01/07/2027.
    assert _cases_on(staff, "2026-11-28") == [
        (["K1", "K2", "K3"], "2027-01-16", "2027-07-01", "upcoming")
    ]
    assert (summary["cases"]["opened"], summary["cases"]["merged"]) == (0, 1)
    with factory() as session:
        assert session.scalars(select(Case.is_current)).all() == [True]


def test_a_contract_a_corrected_date_frees_joins_the_case_it_merges_with(
    staff: M3, tmp_path: Path
) -> None:
    """K1 (04/11) has a case; K2 and K3 (08/03 and 20/03) share the current one. The CRM
    corrects K2 to 16/10 and K3 to 01/03: K3 leaves K2's case (it no longer groups with K2
    alone), but K1 brings K2's case to 04/03, after K3: one case for the three, as on an empty
    database."""
    rows = [
        contract("C1", "K1", "04/11/2026"),
        contract("C1", "K2", "08/03/2027"),
        contract("C1", "K3", "20/03/2027"),
    ]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-11-18")
    rows = [
        contract("C1", "K1", "04/11/2026"),
        contract("C1", "K2", "16/10/2026"),
        contract("C1", "K3", "01/03/2027"),
    ]
    import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-11-28")
    assert _cases_on(staff, "2026-11-28") == [
        (["K1", "K2", "K3"], "2027-01-16", "2027-07-01", "upcoming")
    ]


def test_a_corrected_contract_goes_to_the_case_it_is_one_with_not_back_to_the_current(
    staff: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """K1 and K2 (27/11 and 28/10) have a case; K3 and K4 (14/06 and 03/08/2027) the current
    one. The CRM corrects K4 to 14/09/2026: it leaves K3's case, and takes effect before K2's
    deadline. As on an empty database, it joins K1 and K2's case (one call in December about
    the three), not K3's again: that would bring K3's call forward to December beside K1's."""
    rows = [
        contract("C1", "K1", "27/11/2026"),
        contract("C1", "K2", "28/10/2026"),
        contract("C1", "K3", "14/06/2027"),
        contract("C1", "K4", "03/08/2027"),
    ]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-11-10")
    rows[3] = contract("C1", "K4", "14/09/2026")
    import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-11-18")
    # 14/09/2026 + 3 months = 14/12/2026, K1's deadline 27/03/2027; K3 alone: 14/09/2027, and
    # its deadline 14/10/2027.
    assert _cases_on(staff, "2026-11-18") == [
        (["K1", "K2", "K4"], "2026-12-14", "2027-03-27", "upcoming"),
        (["K3"], "2027-09-14", "2027-10-14", "upcoming"),
    ]
    with factory() as session:
        current = session.scalars(select(Case).where(Case.is_current)).one()
        assert [c.number for c in current.contracts] == ["K3"]


def test_a_contract_corrected_to_a_missed_m3_does_not_pull_another_case_back(
    staff: M3, tmp_path: Path
) -> None:
    """K1 (01/08) has a case; K3 and K4 (01/01 and 01/03/2027) the current one. On 18/11 the
    CRM corrects K4 to 15/07/2026: its own M+3 ended on 15/11. It would be one with K1 on an
    empty database, but it does not join K1's case: that case's window would move back to
    July, its call due in October. It is left out, reported as such."""
    rows = [
        contract("C1", "K1", "01/08/2026"),
        contract("C1", "K3", "01/01/2027"),
        contract("C1", "K4", "01/03/2027"),
    ]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-07-20")
    rows[2] = contract("C1", "K4", "15/07/2026")
    summary = import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-11-18")
    assert _cases_on(staff, "2026-11-18") == [
        (["K1"], "2026-11-01", "2026-12-01", "late"),
        (["K3"], "2027-04-01", "2027-05-01", "upcoming"),
    ]
    assert summary["cases"]["left_out"] == 1


def test_corrected_contracts_that_are_one_with_a_case_only_together_join_it(
    staff: M3, tmp_path: Path
) -> None:
    """K1 (01/03/2027) has a case; K2, K3 and K4 (September 2027) the current one. The CRM
    corrects K3 to 15/10/2026 and K4 to 20/12/2026. K3 alone would not be one with K1 (its
    deadline, 15/02, comes before K1), but with K4 it is: as on an empty database, K3, K4 and
    K1 are one case, and K2 keeps its own, whichever of K3 and K4 is looked at first."""
    rows = [
        contract("C1", "K1", "01/03/2027"),
        contract("C1", "K2", "01/09/2027"),
        contract("C1", "K3", "05/09/2027"),
        contract("C1", "K4", "10/09/2027"),
    ]
    import_rows_on(staff, tmp_path / "e1.csv", rows, "2026-11-01")
    rows[2] = contract("C1", "K3", "15/10/2026")
    rows[3] = contract("C1", "K4", "20/12/2026")
    import_rows_on(staff, tmp_path / "e2.csv", rows, "2026-11-10")
    # 15/10/2026 + 3 months = 15/01/2027, K1's deadline 01/07/2027; K2: 01/12/2027, 01/01/2028.
    assert _cases_on(staff, "2026-11-10") == [
        (["K1", "K3", "K4"], "2027-01-15", "2027-07-01", "upcoming"),
        (["K2"], "2027-12-01", "2028-01-01", "upcoming"),
    ]

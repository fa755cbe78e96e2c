"""A large CSV export is read on two processes (`bot.crm.scan`), on SQLite and PostgreSQL: the
same summaries and the same database as on one, whatever falls in either process's blocks
(records spanning lines, rejected and flagged rows, a contract twice, a client's details that
change between its rows), and a file refused by the child is refused as on one process.

The file sizes here are small: the threshold is lowered so that they are shared, and the
blocks are a few records long, so that both processes take many of them."""

from __future__ import annotations

import codecs
import datetime as dt
import gc
import logging
import os
from array import array
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from bot import db
from bot.crm import scan
from bot.crm.advisors import import_advisors
from bot.crm.portfolio import import_portfolio
from bot.crm.reading import FileRefused
from bot.crm.run import Rejection
from bot.crm.vocabulary import fold
from bot.demo_data import HEADER, advisor_emails, demo_advisors_csv, generate_rows, write_csv
from bot.models import AuditEntry, Branch, Case, Client, Contract, ImportRun, RejectedRow
from tests.conftest import empty

pytestmark = pytest.mark.skipif(
    not scan._can_fork(), reason="a file is shared only on Linux with two processors"
)
DAY = dt.date(2026, 11, 23)
FORKS: list[int] = []
os.register_at_fork(after_in_parent=lambda: FORKS.append(os.getpid()))


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any file is shared, in blocks of 7 records."""
    monkeypatch.setattr(scan, "PARALLEL_BYTES", 0)
    monkeypatch.setattr(scan, "BLOCK", 7)


def export(path: Path, seed: int) -> Path:
    """An invented export (clients' rows scattered through the file) with: rows whose address
    spans two lines (the middle eight: a block starts among them), a date that does not
    exist near each end, a NUL in a name, a bad phone every ninth row, a contract repeated
    with the same values and with other values, a client whose address changes on its last
    row."""
    rows = generate_rows(
        today=DAY, advisors=advisor_emails(demo_advisors_csv()), clients=400, seed=seed
    )
    middle = len(rows) // 2
    for index in range(middle - 4, middle + 4):
        rows[index]["Adresse"] = f"{index} rue des Lilas\nBâtiment B"
    for index in (3, len(rows) - 3):
        rows[index]["Date d'effet"] = "31/02/2026"
    for index in range(4, len(rows), 9):  # in blocks of both processes, in turn
        rows[index]["Téléphone"] = "12 34"
    rows[len(rows) - 6]["Nom"] = "BER\x00TRAND"
    rows.append(dict(rows[10]))  # the same contract again, the same values
    rows.append({**rows[11], "Produit": "Autre produit"})  # again, other values
    client = rows[12]["N° client"]
    last = max(i for i, row in enumerate(rows) if row["N° client"] == client)
    rows.append({**rows[last], "N° contrat": "K-FIN-1", "Adresse": "1 place Neuve"})
    write_csv(path, rows)
    return path


def state(engine: Engine) -> dict[str, Any]:
    """Everything the import writes, without the ids and times it draws."""
    factory = db.session_factory(engine)
    with factory() as session:
        numbers = dict(session.execute(select(Client.id, Client.number)).all())
        cases = {c.id: (numbers[c.client_id], c.effect_date) for c in session.scalars(select(Case))}

        def columns(item: Any, *skip: str) -> tuple[Any, ...]:
            return tuple(
                getattr(item, c.key)
                for c in item.__table__.columns
                if c.key not in ("id", "created_at", "updated_at", "at", *skip)
            )

        return {
            "clients": sorted((columns(c) for c in session.scalars(select(Client))), key=repr),
            "contracts": sorted(
                (
                    (
                        numbers[k.client_id],
                        cases.get(k.case_id) if k.case_id else None,
                        *columns(k, "client_id", "case_id"),
                    )
                    for k in session.scalars(select(Contract))
                ),
                key=repr,
            ),
            "cases": sorted(
                (
                    (numbers[c.client_id], *columns(c, "client_id"))
                    for c in session.scalars(select(Case))
                ),
                key=repr,
            ),
            "rejected": sorted((r.line, r.reason) for r in session.scalars(select(RejectedRow))),
            "runs": [
                (r.rows, r.created, r.updated, r.unchanged)
                for r in session.scalars(select(ImportRun).order_by(ImportRun.id))
            ],
            "audit": sorted(
                (
                    (a.entity, a.field, a.old_value, a.new_value)
                    for a in session.scalars(select(AuditEntry))
                    if a.entity != "case"
                ),
                key=repr,
            ),
        }


def imports(engine: Engine, files: list[Path], *, parallel: bool) -> list[dict[str, Any]]:
    factory = db.session_factory(engine)
    with factory.begin() as session:
        import_advisors(session, demo_advisors_csv(), today=DAY)
    summaries = []
    for path in files:
        with factory.begin() as session:
            result = import_portfolio(session, path, today=DAY, parallel=parallel)
        summaries.append(result.as_dict())
    return summaries


@pytest.mark.usefixtures("shared")
@pytest.mark.parametrize("seed", [1, 2026])
def test_two_processes_give_what_one_gives(
    engine: Engine, tmp_path: Path, seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = export(tmp_path / "export.csv", seed)
    FORKS.clear()
    with caplog.at_level(logging.DEBUG, logger=scan.__name__):
        two = imports(engine, [path, path], parallel=True)
    forks = len(FORKS)
    (shares,) = [r.args for r in caplog.records if r.msg.startswith("read on two processes")]
    assert isinstance(shares, tuple)
    here, child = shares
    assert here > 0 and child > 0  # each starts with a block of its own
    assert here + child == two[0]["rows"]
    two_state = state(engine)
    empty(engine)
    one = imports(engine, [path, path], parallel=False)
    assert len(FORKS) == forks  # one process: no child
    assert forks == 1  # the first import only: at the second, every row is known
    assert two == one
    assert two_state == state(engine)

    first, again = one
    lines = {r["line"] for r in first["rejected"]}
    assert len(lines) == 4  # two impossible dates, the NUL, the contract with other values
    assert any("déjà présent" in r["reason"] for r in first["rejected"])
    flagged = [r["line"] for r in first["to_fix"] if "téléphone invalide" in r["reason"]]
    assert len(flagged) >= first["rows"] // 9 - 2 and flagged == sorted(flagged)
    assert (again["created"], again["updated"]) == (0, 0)
    client = export_client_address(engine, path)
    assert client == "1 place Neuve"


def export_client_address(engine: Engine, path: Path) -> str | None:
    """The stored address of the client whose last row is the file's last one."""
    last = path.read_bytes().rstrip(b"\r\n").rsplit(b"\r\n", 1)[1].decode("cp1252")
    number = last.split(";")[HEADER.index("N° client")]
    with db.session_factory(engine)() as session:
        return session.scalars(select(Client.address).where(Client.number == number)).one()


@pytest.mark.usefixtures("shared")
def test_a_file_the_child_refuses_is_refused(engine: Engine, tmp_path: Path) -> None:
    """A UTF-16 file cut short in its second half: the child meets the end first, and the
    refusal is the one a single process gives."""
    source = export(tmp_path / "export.csv", 7).read_bytes().decode("cp1252")
    path = tmp_path / "utf16.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + source.encode("utf-16-le")[:-1])
    messages = []
    for parallel in (True, False):
        FORKS.clear()
        with pytest.raises(FileRefused) as refused:
            imports(engine, [path], parallel=parallel)
        messages.append(str(refused.value))
        assert len(FORKS) == (1 if parallel else 0)
        empty(engine)
    assert messages[0] == messages[1]
    assert "UTF-16" in messages[0]


@pytest.mark.usefixtures("shared")
def test_the_collector_pauses_while_the_file_is_imported(engine: Engine, tmp_path: Path) -> None:
    """An import makes no reference cycle: the cyclic collector waits for the end of it (the
    reading and the settling), and is back after, whether the import succeeds or the file is
    refused; a caller that had paused it keeps it paused."""
    path = export(tmp_path / "export.csv", 3)
    factory = db.session_factory(engine)
    with factory.begin() as session:
        import_advisors(session, demo_advisors_csv(), today=DAY)
    seen: list[bool] = []
    with factory.begin() as session:
        import_portfolio(session, path, today=DAY, progress=lambda _: seen.append(gc.isenabled()))
    *reading, done = seen  # the last report comes once the file is read, before the settling
    assert reading and not any(reading)
    assert not done
    assert gc.isenabled()
    refused = tmp_path / "refused.csv"
    refused.write_bytes(codecs.BOM_UTF16_LE + path.read_bytes()[:-1])
    with pytest.raises(FileRefused), factory.begin() as session:
        import_portfolio(session, refused, today=DAY)
    assert gc.isenabled()
    gc.disable()
    try:
        with factory.begin() as session:
            import_portfolio(session, path, today=DAY, parallel=False)
        assert not gc.isenabled()
    finally:
        gc.enable()


NEW_BRANCHES = ["Vieux-Port", "Estaque", "vieux port", "Joliette"]  # the third: the first


@pytest.mark.usefixtures("shared")
@pytest.mark.parametrize("parallel", [True, False])
def test_branches_the_bot_does_not_know_are_created_once(
    engine: Engine, tmp_path: Path, parallel: bool
) -> None:
    """Rows naming branches the bot does not know, in both processes' blocks: each is created
    once (by the importer's process: the child shares its connection, which it must not
    write to), and each client is in the branch of its last row. Before, the child wrote on
    the shared connection: PostgreSQL lost it, SQLite gave clients wrong branches."""
    rows = generate_rows(
        today=DAY, advisors=advisor_emails(demo_advisors_csv()), clients=400, seed=5
    )
    for index in range(3, len(rows), 11):
        rows[index]["Agence"] = NEW_BRANCHES[index % len(NEW_BRANCHES)]
    path = tmp_path / "export.csv"
    write_csv(path, rows)
    FORKS.clear()
    (summary,) = imports(engine, [path], parallel=parallel)
    assert len(FORKS) == (1 if parallel else 0)
    assert summary["rejected"] == []
    expected = {row["N° client"]: fold(row["Agence"]) for row in rows}  # the last row's
    factory = db.session_factory(engine)
    with factory() as session:
        names = dict(session.execute(select(Branch.id, Branch.name)).all())
        stored = {
            number: fold(names[branch_id]) if branch_id is not None else ""
            for number, branch_id in session.execute(select(Client.number, Client.branch_id))
        }
    assert stored == expected
    assert sorted(fold(name) for name in names.values()) == sorted(
        {fold(row["Agence"]) for row in rows if row["Agence"]}
        | {fold(name) for name in NEW_BRANCHES}
    )


def test_what_both_processes_found_is_put_back_in_file_order() -> None:
    """Each process finds rejected, flagged and known rows in its own blocks: merged, they are
    in line order again (a line's reasons in their own order), each fingerprint with its line."""
    here = scan.Scan(
        rejected=[Rejection(2, "a"), Rejection(9, "b")],
        to_fix=[Rejection(3, "c")],
        known_hashes=array("q", [-20, 90]),
        known_lines=array("q", [2, 9]),
    )
    child = scan.Scan(
        rejected=[Rejection(5, "d"), Rejection(5, "e"), Rejection(12, "f")],
        to_fix=[Rejection(1, "g"), Rejection(14, "h")],
        known_hashes=array("q", [50, -120]),
        known_lines=array("q", [5, 12]),
    )
    here.add(child)
    here.in_line_order()
    assert [(r.line, r.reason) for r in here.rejected] == [
        (2, "a"),
        (5, "d"),
        (5, "e"),
        (9, "b"),
        (12, "f"),
    ]
    assert [r.line for r in here.to_fix] == [1, 3, 14]
    assert list(zip(here.known_lines, here.known_hashes, strict=True)) == [
        (2, -20),
        (5, 50),
        (9, 90),
        (12, -120),
    ]


def test_two_new_branches_under_one_placeholder_refuse_the_file() -> None:
    """Two processes' new branches under the same placeholder id but different names (one
    chance in millions): refused, in French, rather than merged into one branch."""
    here = scan.Scan(new_branches={-7: ("vieuxport", "Vieux-Port")})
    here.add(scan.Scan(new_branches={-7: ("vieuxport", "vieux port"), -9: ("estaque", "Estaque")}))
    assert here.new_branches == {-7: ("vieuxport", "Vieux-Port"), -9: ("estaque", "Estaque")}
    with pytest.raises(FileRefused) as refused:
        here.add(scan.Scan(new_branches={-9: ("joliette", "Joliette")}))
    assert "« Estaque »" in str(refused.value) and "« Joliette »" in str(refused.value)

"""The importer at scale, on SQLite and PostgreSQL: the row fingerprints (an unchanged row is not
read again, a changed one is, and the result is the same as reading every row), the phone and
e-mail shortcuts (they agree with the libraries), bounded memory while reading, and a CLI that
starts without the heavy modules. Timings are for `benchmarks/import_benchmark.py`, not here."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot import bulk, db
from bot.crm import portfolio, rows, stage
from bot.crm.advisors import import_advisors
from bot.crm.portfolio import import_portfolio
from bot.crm.reading import read_table
from bot.crm.run import Lookup
from bot.models import AuditEntry, Case, Client, Contract
from tests.conftest import empty
from tests.exports import (
    ADVISORS_HEADER,
    ALICE,
    BRUNO,
    STAFF,
    advisors_csv,
    contract,
    ok,
    ok_json,
    portfolio_csv,
    write_csv,
)

DAY = dt.date(2026, 11, 23)


@pytest.fixture
def staff(m3: Any, tmp_path: Path) -> Any:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    return m3


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many rows the importer parsed (the others it recognised by their fingerprint)."""
    count = [0]
    original = rows.PortfolioParser.parse

    def parse(self: rows.PortfolioParser, cells: list[Any], printable: bool = False) -> rows.Parsed:
        count[0] += 1
        return original(self, cells, printable)

    monkeypatch.setattr(rows.PortfolioParser, "parse", parse)
    yield count


def _export(
    count: int, *, changed: set[int] = frozenset(), phone: str = "06 12 34 56 78"
) -> list[dict[str, str]]:  # type: ignore[assignment]
    out = []
    for i in range(count):
        row = contract(
            f"C{i // 2}",
            f"K{i}",
            "28/08/2026" if i % 3 else "15/10/2026",
            ALICE if i // 2 % 2 else BRUNO,  # a client's rows agree on its details
            Téléphone=phone,
        )
        if i in changed:
            row["Produit"] = "Habitation"
        out.append(row)
    return out


# --- Fingerprints -------------------------------------------------------------------------------


def test_an_unchanged_export_is_not_read_again(
    staff: Any, tmp_path: Path, parsed: list[int], factory: sessionmaker[Session]
) -> None:
    path = portfolio_csv(tmp_path / "e.csv", _export(300))
    first = ok_json(staff, "import", "portfolio", str(path))
    assert (first["created"], parsed[0]) == (300, 300)
    parsed[0] = 0
    again = ok_json(staff, "import", "portfolio", str(path))
    assert (again["unchanged"], again["created"], again["updated"]) == (300, 0, 0)
    assert parsed[0] == 0
    with factory() as session:
        assert (
            session.scalars(select(Contract.row_hash).where(Contract.row_hash.is_(None))).all()
            == []
        )


def test_a_one_percent_change_reads_one_percent(
    staff: Any, tmp_path: Path, parsed: list[int], factory: sessionmaker[Session]
) -> None:
    ok_json(staff, "import", "portfolio", str(portfolio_csv(tmp_path / "e1.csv", _export(400))))
    parsed[0] = 0
    # 10 and its client's later row, 11, unchanged: the client's details come from a known
    # row, which the changed one agrees with (it keeps its fingerprint too).
    changed = {7, 10, 150, 151, 399}
    second = portfolio_csv(tmp_path / "e2.csv", _export(400, changed=changed))
    summary = ok_json(staff, "import", "portfolio", str(second))
    assert parsed[0] == len(changed)
    assert (summary["updated"], summary["unchanged"]) == (5, 395)
    with factory() as session:
        audit = session.scalars(select(AuditEntry.entity_key).where(AuditEntry.field == "product"))
        assert sorted(audit) == sorted(f"K{i}" for i in changed)
    # The changed contracts now keep their new rows' fingerprints: the same file again is
    # read no more.
    parsed[0] = 0
    again = ok_json(staff, "import", "portfolio", str(second))
    assert (again["unchanged"], parsed[0]) == (400, 0)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The SQL statements every engine of this process sends while the test runs."""
    sent: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    yield sent
    event.remove(Engine, "before_cursor_execute", record)


def test_an_unchanged_export_makes_no_staging_table(
    staff: Any, tmp_path: Path, statements: list[str]
) -> None:
    """The staging tables are made when a first row is parsed: a file the database holds
    already makes, fills and drops none."""
    path = portfolio_csv(tmp_path / "e.csv", _export(40))
    ok_json(staff, "import", "portfolio", str(path))
    assert any("m3_stage_row" in statement for statement in statements)
    statements.clear()
    assert ok_json(staff, "import", "portfolio", str(path))["unchanged"] == 40
    assert [statement for statement in statements if "m3_stage" in statement] == []


@pytest.mark.parametrize("update_from", [True, False], ids=["update-from", "subqueries"])
def test_a_row_read_at_every_import_is_not_written_again(
    staff: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: Engine, update_from: bool
) -> None:
    """A row « Actif » until a termination date ahead keeps no fingerprint: it is read again at
    every import (it ends on that day), but its contract, unchanged, is not written again (on
    PostgreSQL, a new version of the row at every import), nor when its client's details
    change. Another row of the same export, changed, still is."""
    if not update_from:
        if engine.dialect.name != "sqlite":
            pytest.skip("PostgreSQL always updates from a join")
        monkeypatch.setattr(portfolio, "SQLITE_UPDATE_FROM", (99,))
    written: list[int] = []

    def record(_c: Any, cursor: Any, statement: str, _p: Any, _x: Any, many: bool) -> None:
        if statement.startswith("UPDATE contract ") and not many:
            written.append(cursor.rowcount)

    def export(changed: set[int] = frozenset()) -> list[dict[str, str]]:  # type: ignore[assignment]
        rows_ = _export(6, changed=changed)  # three clients, two contracts each
        for row in rows_:
            row["Date de résiliation"] = "31/12/2027"
        return rows_

    path = portfolio_csv(tmp_path / "e.csv", export())
    ok_json(staff, "import", "portfolio", str(path))
    event.listen(Engine, "after_cursor_execute", record)
    try:
        assert ok_json(staff, "import", "portfolio", str(path))["unchanged"] == 6
        assert sum(written) == 0
        written.clear()
        # One contract changed; the client of two others gets another phone.
        rows_ = export(changed={0})
        for row in rows_[4:]:
            row["Téléphone"] = "06 98 76 54 32"
        path = portfolio_csv(tmp_path / "f.csv", rows_)
        summary = ok_json(staff, "import", "portfolio", str(path))
        assert (summary["updated"], summary["unchanged"]) == (3, 3)
        assert sum(written) == 1
    finally:
        event.remove(Engine, "after_cursor_execute", record)


def test_a_row_rejected_after_naming_a_new_branch_stages_nothing_and_is_reported(
    staff: Any, tmp_path: Path
) -> None:
    """A row that names a branch the bot does not know and is then rejected (a product too
    long) on a re-import whose other row is known: nothing is parsed into the staging
    tables, and the import still ends with the row rejected, as on a first import."""
    known = contract("C1", "K1", "01/10/2026")
    ok_json(staff, "import", "portfolio", str(portfolio_csv(tmp_path / "e1.csv", [known])))
    rejected = contract("C2", "K2", "01/10/2026", Agence="Nouvelle agence", Produit="P" * 500)
    for name, export in (("e2.csv", [known, rejected]), ("e3.csv", [rejected])):
        code, summary = staff.json(
            "import", "portfolio", str(portfolio_csv(tmp_path / name, export))
        )
        assert code == 1, summary
        assert [r["line"] for r in summary["rejected"]] == [len(export) + 1]
        assert "Produit" in summary["rejected"][0]["reason"]
        assert summary["unchanged"] == len(export) - 1


def test_only_a_large_change_has_its_staged_rows_analysed(
    staff: Any,
    tmp_path: Path,
    statements: list[str],
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL's statistics of the staged rows cost more than they save on a daily change;
    from `stage.ANALYZE_STAGED_ROWS` staged rows, they are made."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite's planner reads no statistics of temporary tables")
    analysed = {"ANALYZE m3_stage_row", "ANALYZE m3_stage_client"}
    ok_json(staff, "import", "portfolio", str(portfolio_csv(tmp_path / "e1.csv", _export(40))))
    assert analysed.isdisjoint(statements)
    monkeypatch.setattr(stage, "ANALYZE_STAGED_ROWS", 6)
    statements.clear()
    five = portfolio_csv(tmp_path / "e2.csv", _export(40, changed={1, 2, 3, 4, 5}))
    assert ok_json(staff, "import", "portfolio", str(five))["updated"] == 5
    assert analysed.isdisjoint(statements)
    statements.clear()
    six = portfolio_csv(tmp_path / "e3.csv", _export(40, changed={1, 2, 3, 4, 5, *range(10, 16)}))
    assert ok_json(staff, "import", "portfolio", str(six))["updated"] == 6
    assert analysed <= set(statements)


def test_flagged_rows_are_reported_at_every_import_without_being_read_again(
    staff: Any, tmp_path: Path, parsed: list[int], factory: sessionmaker[Session]
) -> None:
    """A row with something to fix (a bad phone, a bad e-mail) keeps its fingerprint, and its
    fixes with it: « à corriger dans Lagon » at every import, in the row's order, without
    reading the row again. Once the CRM is corrected, the row is read and nothing is left to
    report."""
    rows_ = _export(10)
    rows_[2]["Téléphone"] = rows_[3]["Téléphone"] = "12 34"  # client C1's two rows
    rows_[2]["E-mail"] = rows_[3]["E-mail"] = "zoe@@exemple"
    path = portfolio_csv(tmp_path / "e.csv", rows_)
    first = ok_json(staff, "import", "portfolio", str(path))
    phone = "téléphone invalide « 12 34 » : à corriger dans Lagon"
    email = "e-mail invalide « zoe@@exemple » : à corriger dans Lagon"
    expected = [
        {"line": 4, "reason": phone},
        {"line": 4, "reason": email},
        {"line": 5, "reason": phone},
        {"line": 5, "reason": email},
    ]
    assert first["to_fix"] == expected
    parsed[0] = 0
    again = ok_json(staff, "import", "portfolio", str(path))
    assert (again["to_fix"], again["unchanged"], parsed[0]) == (expected, 10, 0)

    for row in rows_[2:4]:
        row["Téléphone"], row["E-mail"] = "06 12 34 56 78", "zoe@exemple.fr"
    path = portfolio_csv(tmp_path / "fixed.csv", rows_)
    fixed = ok_json(staff, "import", "portfolio", str(path))
    assert (fixed["to_fix"], fixed["updated"], parsed[0]) == ([], 2, 2)
    assert ok_json(staff, "import", "portfolio", str(path))["to_fix"] == []
    assert parsed[0] == 2
    with factory() as session:
        assert session.scalars(select(Contract.row_flags)).all() == [None] * 10


def test_a_row_active_until_a_termination_date_is_read_again_when_it_comes(
    staff: Any, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """No status, a termination date ahead: active today, terminated once the day has come,
    though the row never changes."""
    row = contract("C1", "K1", "28/08/2026", status="", **{"Date de résiliation": "30/11/2026"})
    path = portfolio_csv(tmp_path / "e.csv", [row])
    ok_json(staff, "import", "portfolio", str(path))
    summary = ok_json(staff, "import", "portfolio", str(path), today="2026-12-01")
    assert summary["updated"] == 1
    assert summary["cases"]["cancelled"] == 1
    with factory() as session:
        assert session.scalars(select(Contract.status)).one() == "Résilié"


def test_a_new_staff_file_reads_every_row_again(
    staff: Any, tmp_path: Path, parsed: list[int]
) -> None:
    """An advisor renamed or added changes what the advisor column may mean: the fingerprints
    (keyed by the staff) all miss once."""
    path = portfolio_csv(tmp_path / "e.csv", _export(20))
    ok_json(staff, "import", "portfolio", str(path))
    renamed = [[email, *STAFF[email]] for email in STAFF]
    renamed[0][2] = "Martin-Roux"  # Alice married
    ok(staff, "import", "advisors", str(write_csv(tmp_path / "s2.csv", ADVISORS_HEADER, renamed)))
    parsed[0] = 0
    summary = ok_json(staff, "import", "portfolio", str(path))
    assert (parsed[0], summary["unchanged"]) == (20, 20)


def test_a_contract_keeps_the_keyed_hash_of_its_rows_bytes(
    staff: Any, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """The fingerprint is the 8-byte BLAKE2b of the record's bytes, keyed by the file's
    context, read as a signed little-endian integer: the same from one version of the bot to
    the next, so that a daily export is recognised after an upgrade, not read again whole."""
    path = portfolio_csv(tmp_path / "e.csv", _export(6))
    ok_json(staff, "import", "portfolio", str(path))
    with factory() as session:
        table = read_table(path)
        key = portfolio._context_key(table, Lookup(session))
        kept = {n: h for n, h in session.execute(select(Contract.number, Contract.row_hash))}
    lines = path.read_bytes().splitlines()[1:]
    expected = {
        line.decode("cp1252").split(";")[table.header.index("N° contrat")]: int.from_bytes(
            hashlib.blake2b(line, digest_size=8, key=key).digest(), "little", signed=True
        )
        for line in lines
    }
    assert kept == expected


# --- Fingerprints or not, the same result ---------------------------------------------------------


def _scenario(seed: int) -> list[tuple[dt.date, list[dict[str, str]]]]:
    """Successive exports of a few clients: contracts added, dropped, terminated, moved to the
    other advisor, a client's details changed on all or one of its rows, duplicated rows (the
    same, or with other values), rows shuffled, a bad phone."""
    rng = random.Random(seed)
    clients = [f"C{i}" for i in range(rng.randint(1, 6))]
    details = {
        c: {"Nom": f"Nom{c}", "Téléphone": rng.choice(["06 12 34 56 78", "12 34", ""])}
        for c in clients
    }
    contracts: dict[str, dict[str, str]] = {}
    serial = 0

    def new_contract(client: str) -> dict[str, str]:
        nonlocal serial
        serial += 1
        effect = DAY + dt.timedelta(days=rng.randint(-200, 60))
        row = contract(
            client,
            f"K{serial}",
            effect.strftime("%d/%m/%Y"),
            rng.choice([ALICE, BRUNO]),
            origin=rng.choice(["AN", "AN", "AN", "Avenant"]),
            status=rng.choice(["Actif", "Actif", "Actif", "Résilié", "Suspendu", ""]),
        )
        if row["Statut contrat"] != "Actif" and rng.random() < 0.7:
            end = effect + dt.timedelta(days=rng.randint(-10, 60))
            row["Date de résiliation"] = end.strftime("%d/%m/%Y")
        row.update(details[client])
        return row

    for client in clients:
        for _ in range(rng.randint(1, 3)):
            row = new_contract(client)
            contracts[row["N° contrat"]] = row
    steps = []
    day = DAY
    for _ in range(rng.randint(2, 4)):
        export = [dict(r) for r in contracts.values()]
        if rng.random() < 0.3:
            rng.shuffle(export)
        if export and rng.random() < 0.3:
            export.append(dict(rng.choice(export)))
        if export and rng.random() < 0.2:
            other = dict(rng.choice(export))
            other["Produit"] = "Autre"
            export.insert(rng.randrange(len(export) + 1), other)
        if export and rng.random() < 0.2:
            odd = rng.choice(export)
            odd["Nom"] += "X"
        if export:  # an export of its header alone is refused (tested elsewhere)
            steps.append((day, export))
        day += dt.timedelta(days=rng.randint(0, 20))
        for number in list(contracts):
            roll, row = rng.random(), contracts[number]
            if roll < 0.1:
                row["Statut contrat"] = "Résilié"
                row["Date de résiliation"] = day.strftime("%d/%m/%Y")
            elif roll < 0.15:
                row["Chargé de clientèle"] = BRUNO if row["Chargé de clientèle"] == ALICE else ALICE
            elif roll < 0.2:
                del contracts[number]
            elif roll < 0.25:
                row["Produit"] = "Santé"
        for client in clients:
            if rng.random() < 0.15:
                details[client]["Téléphone"] = rng.choice(["07 11 22 33 44", "bad", ""])
                for row in contracts.values():
                    if row["N° client"] == client:
                        row.update(details[client])
            if rng.random() < 0.2:
                row = new_contract(client)
                contracts[row["N° contrat"]] = row
    return steps


def _run(engine: Engine, seed: int, *, fingerprints: bool) -> dict[str, Any]:
    factory = db.session_factory(engine)
    summaries = []
    with tempfile.TemporaryDirectory() as folder:
        with factory.begin() as session:
            import_advisors(session, advisors_csv(Path(folder) / "staff.csv"), today=DAY)
        for index, (day, export) in enumerate(_scenario(seed)):
            path = portfolio_csv(Path(folder) / f"e{index}.csv", export)
            with factory.begin() as session:
                result = import_portfolio(session, path, today=day, fingerprints=fingerprints)
                summary = result.as_dict()
                summary.pop("corrections_applied")
                summaries.append(summary)
    with factory() as session:
        numbers = dict(session.execute(select(Client.id, Client.number)).all())
        cases = {c.id: (numbers[c.client_id], c.effect_date) for c in session.scalars(select(Case))}
        state = {
            "clients": sorted(
                (c.number, c.last_name, c.phone, c.phone_invalid, c.advisor_id)
                for c in session.scalars(select(Client))
            ),
            "contracts": sorted(
                (
                    k.number,
                    numbers[k.client_id],
                    k.status,
                    k.product,
                    str(k.termination_date),
                    cases.get(k.case_id) if k.case_id else None,
                )
                for k in session.scalars(select(Contract))
            ),
            "cases": sorted(
                (
                    numbers[c.client_id],
                    c.advisor_id,
                    c.is_current,
                    c.effect_date,
                    c.deadline,
                    str(c.cancelled_on),
                )
                for c in session.scalars(select(Case))
            ),
            "audit": sorted(
                (
                    (
                        a.entity,
                        str(cases.get(int(a.entity_key))) if a.entity == "case" else a.entity_key,
                        a.field,
                        a.old_value,
                        a.new_value,
                    )
                    for a in session.scalars(select(AuditEntry))
                ),
                key=repr,
            ),
        }
    return {"imports": summaries, "state": json.loads(json.dumps(state, default=str))}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_fingerprints_change_nothing_but_the_time(migrated_engine: Engine, seed: int) -> None:
    """Whatever the exports, importing them with fingerprints (skipping the rows known) gives
    the same summaries and the same database as reading every row."""
    try:
        with_fingerprints = _run(migrated_engine, seed, fingerprints=True)
        empty(migrated_engine)
        every_row = _run(migrated_engine, seed, fingerprints=False)
    finally:
        empty(migrated_engine)
    assert with_fingerprints == every_row


def _alike(engine: Engine, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> None:
    """A few scenarios imported as the importer stands, then with `settings` of
    `bot.crm.portfolio` changed: the same summaries and the same database."""
    for seed in (3, 11, 2026, 7):
        try:
            plain = _run(engine, seed, fingerprints=True)
            empty(engine)
            with monkeypatch.context() as patch:
                for name, value in settings.items():
                    patch.setattr(portfolio, name, value)
                changed = _run(engine, seed, fingerprints=True)
        finally:
            empty(engine)
        assert changed == plain, seed


def test_values_looked_up_a_page_at_a_time_give_what_one_page_gives(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The duplicates, the known rows, the kept details and the changed contracts are looked up
    by their values a page at a time (`IN_PAGE` on SQLite, `ARRAY_PAGE` on PostgreSQL), and the
    staged clients and contracts compared with the database a window of `PAGE` rows at a time:
    pages and windows of two give the same summaries and database as the whole list in one."""
    _alike(migrated_engine, monkeypatch, IN_PAGE=2, ARRAY_PAGE=2, PAGE=2)


def test_an_older_sqlite_updates_the_changed_contracts_alike(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite before 3.33 has no `UPDATE … FROM`: the contracts changed by an import are
    updated column by column, with the same summaries and database."""
    if migrated_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL always updates from a join")
    _alike(migrated_engine, monkeypatch, SQLITE_UPDATE_FROM=(99,))


def test_a_bulk_load_gives_what_a_row_by_row_load_gives(
    migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every import of these exports as a large one (on PostgreSQL the foreign keys of
    `client`, `contract` and `m3_case` are then checked after the load; on both, the plain
    indexes of `client` and `contract` are built after a first one, and on PostgreSQL their
    unique constraints too): the same summaries and database as row by row, and the keys,
    constraints and indexes are all there afterwards."""

    def keys() -> list[Any]:
        with migrated_engine.connect() as connection:
            if migrated_engine.dialect.name != "postgresql":
                return [
                    *(
                        list(connection.execute(text(f"PRAGMA foreign_key_list({name})")))
                        for name in ("client", "contract", "m3_case")
                    ),
                    sorted(
                        connection.execute(
                            text(
                                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                "AND tbl_name IN ('client', 'contract', 'm3_case')"
                            )
                        ).all()
                    ),
                ]
            return [
                sorted(
                    connection.execute(
                        text(
                            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                            "FROM pg_constraint WHERE contype IN ('f', 'u') AND conrelid IN "
                            "('client'::regclass, 'contract'::regclass, 'm3_case'::regclass)"
                        )
                    ).all()
                ),
                sorted(
                    connection.execute(
                        text(
                            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                            "AND tablename IN ('client', 'contract', 'm3_case')"
                        )
                    ).all()
                ),
            ]

    before = keys()
    assert before
    for seed in (3, 11, 2026):
        try:
            monkeypatch.setattr(bulk, "BULK_CHECK_ROWS", 10**9)
            row_by_row = _run(migrated_engine, seed, fingerprints=True)
            empty(migrated_engine)
            monkeypatch.setattr(bulk, "BULK_CHECK_ROWS", 1)
            at_once = _run(migrated_engine, seed, fingerprints=True)
        finally:
            empty(migrated_engine)
        assert at_once == row_by_row
        assert keys() == before


def test_a_large_import_leaves_fresh_statistics(
    loaded_large: tuple[Engine, dict[str, int]],
) -> None:
    """PostgreSQL's planner knows the size of the tables a large import filled, before
    autovacuum comes by (SQLite's planner reads no statistics the import could refresh)."""
    engine, counts = loaded_large
    if engine.dialect.name != "postgresql":
        assert counts["contract"] > 0
        return
    with engine.connect() as connection:
        for table, count in counts.items():
            reltuples = connection.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                {"t": table},
            ).scalar()
            assert reltuples == count, table


@pytest.fixture
def loaded_large(
    m3: Any, sample_dir: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> tuple[Engine, dict[str, int]]:
    """The sample imported as if it were large (the statistics' threshold at one row)."""
    monkeypatch.setattr(portfolio, "ANALYZE_NEW_CONTRACTS", 1)
    assert m3("import", "advisors", str(sample_dir / "advisors.csv")).exit_code == 0
    assert m3("import", "portfolio", str(sample_dir / "portfolio.csv")).exit_code in (0, 1)
    with engine.connect() as connection:
        counts = {
            name: connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in ("client", "contract", "m3_case")
        }
    return engine, counts


# --- Phones and e-mails: the shortcuts agree with the libraries ----------------------------------

DIGITS = st.text("0123456789", min_size=8, max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from("0123456789"),
    st.sampled_from("0123456789"),
    DIGITS,
    st.sampled_from(["", " ", ".", "-"]),
    st.sampled_from(["national", "international", "bare", "spaced-international"]),
)
def test_phone_shortcut_agrees_with_phonenumbers(
    first: str, second: str, rest: str, separator: str, shape: str
) -> None:
    digits = first + second + rest  # 10 digits
    pairs = [digits[i : i + 2] for i in range(0, 10, 2)]
    if shape == "national":
        text = separator.join(pairs)
    elif shape == "international":
        text = "+33" + separator.join([digits[1], *pairs[1:]])
    elif shape == "spaced-international":
        text = "+33 " + digits[1] + separator + separator.join(pairs[1:])
    else:
        text = digits[1:]
    assert rows.normalize_phone(text) == rows._normalize_phone.__wrapped__(text)


LOCAL = st.from_regex(r"[A-Za-z0-9_+\-]{1,8}(\.[A-Za-z0-9_+\-]{1,8}){0,2}", fullmatch=True)
LABEL = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9\-]{0,6}[A-Za-z0-9])?", fullmatch=True)
TLD = st.sampled_from(["fr", "com", "ORG", "Net", "paris", "test", "local", "io", "xn--p1ai"])


@settings(max_examples=400, deadline=None)
@given(LOCAL, st.lists(LABEL, min_size=1, max_size=3), TLD)
def test_email_shortcut_agrees_with_email_validator(
    local: str, labels: list[str], tld: str
) -> None:
    text = f"{local}@{'.'.join([*labels, tld])}"
    assert rows.normalize_email(text) == rows._normalize_email.__wrapped__(text)


@pytest.mark.parametrize(
    "text",
    ["Postmaster@Example.fr", "a..b@x.fr", "a@b-.fr", "a@-b.fr", "é@x.fr", "a@x", "a@x.1t"],
)
def test_email_odd_shapes_go_to_the_library(text: str) -> None:
    assert rows.normalize_email(text) == rows._normalize_email.__wrapped__(text)


def _read(read: Any, text: str) -> dt.date | str:
    try:
        return read(text)  # type: ignore[no-any-return]
    except ValueError as exc:
        return str(exc)


@settings(max_examples=600, deadline=None)
@given(
    st.from_regex(r"[0-9]{2}/[0-9]{2}/[0-9]{4}|[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True)
    | st.dates().map(lambda day: day.strftime("%d/%m/%Y"))
    | st.dates().map(lambda day: day.isoformat())
)
def test_date_shortcut_agrees_with_strptime(text: str) -> None:
    """`JJ/MM/AAAA` and ISO dates are read without `strptime`: the same date, or the same
    refusal (« 31/02/2026 », « 00/13/2026 »), as reading them with the formats in turn."""
    shortcut = _read(rows._parse_date_text.__wrapped__, text)
    assert shortcut == _read(lambda t: rows._by_formats(t, t), text)


# --- Memory and start-up -------------------------------------------------------------------------


def test_reading_a_large_export_holds_one_chunk_not_the_file(tmp_path: Path) -> None:
    """60 000 rows (11 MB) read with the memory traced: the peak stays a few chunks."""
    row = ";".join(["C1", "Particulier", "Mme", "Durand", "Zoé", "", "1 rue Paradis"] * 4)
    path = tmp_path / "large.csv"
    with path.open("wb") as handle:
        handle.write(b"N\xb0 client;Type client;Nom\r\n")
        for _ in range(60_000):
            handle.write(row.encode("cp1252") + b"\r\n")
    tracemalloc.start()
    try:
        table = read_table(path)
        count = sum(1 for _ in table.records())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 60_000
    assert path.stat().st_size > 10_000_000
    assert peak < 8_000_000, peak


def test_the_cli_starts_without_the_heavy_modules() -> None:
    """`m3 --help` and the light commands import typer, not the database, the settings, rich's
    tables or the importer: those are imported where they are used."""
    code = (
        "import sys, bot.cli; "
        "print(sorted(m for m in ('sqlalchemy', 'alembic', 'pydantic', 'bot.crm.portfolio', "
        "'bot.db', 'charset_normalizer', 'phonenumbers', 'openpyxl') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_postgresql_gives_an_import_room_in_memory(engine: Engine) -> None:
    """PostgreSQL keeps a large import's staging tables and sorts in memory: a connection may hold
    64 MB of temporary tables, and the import's transaction sorts and hashes in 64 MB (with
    the defaults, 8 and 4 MB, 100 000 rows went to disk and back) and reads its tables as
    being in memory; other transactions keep the server's own settings."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's settings")
    with engine.connect() as connection:
        before = connection.execute(text("SHOW work_mem")).scalar()
        cost = connection.execute(text("SHOW random_page_cost")).scalar()
    with engine.begin() as connection:
        assert connection.execute(text("SHOW temp_buffers")).scalar() == "64MB"
        stage.create(connection)
        assert connection.execute(text("SHOW work_mem")).scalar() == "64MB"
        assert connection.execute(text("SHOW random_page_cost")).scalar() == "1.1"
        stage.drop(connection)
    with engine.connect() as connection:
        assert connection.execute(text("SHOW work_mem")).scalar() == before
        assert connection.execute(text("SHOW random_page_cost")).scalar() == cost
        assert connection.execute(text("SHOW temp_buffers")).scalar() == "64MB"

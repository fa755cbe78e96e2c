"""Broken exports, on SQLite and PostgreSQL: the corpus of `tests/data/broken` (each file with
the exit code, rejected lines and database state `cases.json` gives), the failures around a
file (missing, a folder, a FIFO, bad arguments, an unexpected error), and property-based tests
of the CSV reading and row parsing: any bytes give a clear refusal or rows with line numbers,
never an exception or a stored control character."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, String, Text, func, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from bot import db
from bot.cli import app
from bot.crm import scan
from bot.crm.portfolio import import_portfolio
from bot.crm.reading import FileRefused, LineProblem, read_table
from bot.crm.rows import PortfolioParser, RowError, sqlite_values
from bot.crm.vocabulary import PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED, match_headers
from bot.models import Base, Client, Contract, RejectedRow
from tests.conftest import DATA, IMPORT_DAY, M3
from tests.exports import ALICE, PORTFOLIO_HEADER, advisors_csv, ok

BROKEN = DATA / "broken"
CASES = json.loads((BROKEN / "cases.json").read_text(encoding="utf-8"))["cases"]


@pytest.fixture
def staff(m3: M3, tmp_path: Path) -> M3:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    return m3


def _not_text(char: str) -> bool:
    """A control character, or one of Unicode's noncharacters (U+FFFE, U+FDD0…)."""
    code = ord(char)
    return unicodedata.category(char) == "Cc" or 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def control_characters(session: Session) -> list[tuple[str, str, str]]:
    """Every stored client or contract text value holding a control character (or a
    noncharacter)."""
    found = []
    for model in (Client, Contract):
        columns = [c for c in model.__table__.columns if isinstance(c.type, String | Text)]
        for row in session.execute(select(model.__table__.c.number, *columns)):
            for column, value in zip(columns, row[1:], strict=True):
                if isinstance(value, str) and any(_not_text(c) for c in value):
                    found.append((row[0], column.name, value))
    return found


# --- The corpus ---------------------------------------------------------------------------------


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes"])
@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_broken_export(
    staff: M3,
    case: dict[str, Any],
    factory: sessionmaker[Session],
    processes: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each file of the corpus; on two processes too, as a large file is read (the threshold
    lowered: any file is shared, in blocks of 3 records)."""
    if processes == 2:
        monkeypatch.setattr(scan, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(scan, "BLOCK", 3)
    path = BROKEN / case["file"]
    code, summary = staff.json("import", "portfolio", str(path))
    assert code == case["exit"], summary
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Contract)) == case["contracts"]
        assert control_characters(session) == []
        if code == 2:
            assert set(summary) == {"error"}
            assert case["error"] in summary["error"]
            assert summary["error"].startswith("fichier refusé : ")
            return
        rejected = {str(r["line"]): r["reason"] for r in summary["rejected"]}
        assert set(rejected) == set(case["rejected"])
        for line, fragment in case["rejected"].items():
            assert fragment in rejected[line], (line, rejected[line])
        assert summary["created"] == case["contracts"]
        stored = [r.line for r in session.scalars(select(RejectedRow).order_by(RejectedRow.line))]
        assert stored == [r["line"] for r in summary["rejected"]]
        to_fix: dict[str, str] = {}
        for r in summary["to_fix"]:  # a line's flags together
            to_fix[str(r["line"])] = " | ".join(
                filter(None, [to_fix.get(str(r["line"])), r["reason"]])
            )
        assert set(to_fix) == set(case.get("to_fix", to_fix))
        for line, fragment in case.get("to_fix", {}).items():
            assert fragment in to_fix[line], (line, to_fix[line])
        if "client_count" in case:
            assert session.scalar(select(func.count()).select_from(Client)) == case["client_count"]
        for number, values in case.get("clients", {}).items():
            client = session.scalars(select(Client).where(Client.number == number)).one()
            for name, value in values.items():
                assert getattr(client, name) == value, (number, name)
    # And again: the same file changes nothing and says the same.
    again_code, again = staff.json("import", "portfolio", str(path))
    assert again_code == code
    assert again["rejected"] == summary["rejected"]
    assert again["to_fix"] == summary["to_fix"]
    assert (again["created"], again["updated"]) == (0, 0)


def test_every_kind_of_the_issue_is_in_the_corpus() -> None:
    kinds = " ".join(c["kind"] for c in CASES)
    for word in ("unbalanced quote", "ISO-8859-15", "NUL", "CR-only", "named twice", "UTF-16"):
        assert word in kinds
    assert "9999" in kinds and "2099" in kinds


def test_a_10_mb_cell_is_rejected_with_its_column(staff: M3, tmp_path: Path) -> None:
    header = ";".join(PORTFOLIO_HEADER)
    good = ";".join(_row("C1", "K1"))
    huge = _row("C2", "K2")
    huge[PORTFOLIO_HEADER.index("Adresse")] = "x" * 10_000_000
    path = tmp_path / "huge.csv"
    path.write_bytes("\r\n".join([header, good, ";".join(huge), ""]).encode("cp1252"))
    code, summary = staff.json("import", "portfolio", str(path))
    assert code == 1
    (rejected,) = summary["rejected"]
    assert rejected["line"] == 3
    assert "10 000 000 caractères" in rejected["reason"]
    assert "« Adresse »" in rejected["reason"]
    assert summary["created"] == 1


def _row(client: str, contract: str) -> list[str]:
    values = {
        "N° client": client,
        "Type client": "Particulier",
        "Nom": f"Nom{client}",
        "Chargé de clientèle": ALICE,
        "N° contrat": contract,
        "Origine": "AN",
        "Date d'effet": "28/08/2026",
        "Statut contrat": "Actif",
    }
    return [values.get(name, "") for name in PORTFOLIO_HEADER]


# --- Failures around the file: French, and one JSON object under --json -------------------------


def _json_failure(m3: M3, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
    environment = {"DATABASE_URL": m3.database_url, "M3_TODAY": IMPORT_DAY, **(env or {})}
    result = CliRunner().invoke(app, list(args), env=environment, catch_exceptions=False)
    document = json.loads(result.stdout)
    return result.exit_code, document, result.stderr


ENGLISH = ("No such file", "Is a directory", "Permission denied", "Usage:", "Error", "Missing")


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["absent.csv"], "fichier introuvable"),
        (["."], "c'est un dossier"),
        ([], "fichier à importer manquant"),
        (["a.csv", "b.csv"], "un seul fichier à la fois"),
        (["a.csv", "--verbose"], "option inconnue « --verbose »"),
    ],
)
def test_every_failure_is_french_and_json(
    m3: M3, tmp_path: Path, arguments: list[str], expected: str
) -> None:
    os.chdir(tmp_path)
    code, document, stderr = _json_failure(m3, "import", "portfolio", *arguments, "--json")
    assert code == 2
    assert set(document) == {"error"}
    assert expected in document["error"]
    assert expected in stderr
    assert not any(word in document["error"] + stderr for word in ENGLISH)


def test_a_file_named_json_after_the_double_dash_asks_no_json(m3: M3, tmp_path: Path) -> None:
    """After `--`, « --json » is the file's name (here, a missing one), not the option."""
    os.chdir(tmp_path)
    environment = {"DATABASE_URL": m3.database_url, "M3_TODAY": IMPORT_DAY}
    result = CliRunner().invoke(
        app, ["import", "portfolio", "--", "--json"], env=environment, catch_exceptions=False
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "fichier introuvable" in result.stderr
    assert "--json" in result.stderr


def test_a_fifo_is_refused_without_blocking(m3: M3, tmp_path: Path) -> None:
    fifo = tmp_path / "export.csv"
    os.mkfifo(fifo)
    code, document, _ = _json_failure(m3, "import", "portfolio", str(fifo), "--json")
    assert code == 2
    assert "n'est pas un fichier ordinaire" in document["error"]


def test_bad_settings_are_json_too(m3: M3, sample_dir: Path) -> None:
    code, document, _ = _json_failure(
        m3,
        "import",
        "portfolio",
        str(sample_dir / "portfolio.csv"),
        "--json",
        env={"M3_TIMEZONE": "Mars/Olympus"},
    )
    assert code == 2
    assert "M3_TIMEZONE" in document["error"]


def test_an_unexpected_error_is_json_with_exit_3(
    staff: M3, sample_dir: Path, monkeypatch: pytest.MonkeyPatch, factory: sessionmaker[Session]
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("year 10000 is out of range")

    monkeypatch.setattr("bot.crm.portfolio.import_portfolio", broken)
    code, document, stderr = _json_failure(
        staff, "import", "portfolio", str(sample_dir / "portfolio.csv"), "--json"
    )
    assert code == 3
    assert "erreur inattendue (ValueError)" in document["error"]
    assert "year 10000" not in document["error"] + stderr
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Contract)) == 0


# --- Properties: any bytes in, a clear refusal or rows out ---------------------------------------


class _Staff:
    def __init__(self) -> None:
        self.inactive: set[int] = set()

    def advisor(self, value: str) -> int | None:
        return 1 if "@" in value else None

    def branch(self, name: str) -> int | None:
        return 1 if name else None


def _no_control(value: Any) -> bool:
    return not isinstance(value, str) or not any(_not_text(c) for c in value)


def _read_and_parse(data: bytes, suffix: str = ".csv") -> None:
    """Read `data` as an export and parse every record: only `FileRefused`, `LineProblem` or
    `RowError` may come out, and parsed values hold no control character."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"export{suffix}"
        path.write_bytes(data)
        try:
            table = read_table(path)
            columns = match_headers(table.header, PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED)
        except FileRefused as exc:
            assert str(exc) and not any(word in str(exc) for word in ENGLISH)
            return
        parser = PortfolioParser(
            columns=columns,
            header=table.header,
            lookup=_Staff(),
            today=dt.date(2026, 11, 23),
            plain=table.encoding != "xlsx",
            **sqlite_values(),
        )
        last = 1
        try:
            for line, key, cells, problem in table.records():
                assert line > last
                last = line
                if problem is not None:
                    assert problem and key == b""
                    continue
                if cells is None:
                    try:
                        cells, _ = table.split(key)
                    except LineProblem:
                        continue
                assert all(_no_control(c) for c in cells)
                try:
                    parsed = parser.parse(cells)
                except RowError as exc:
                    assert str(exc)
                    continue
                client_number, contract_number, client, contract, _, _ = parsed
                for value in (client_number, contract_number, *client, *contract):
                    assert _no_control(value)
        except FileRefused as exc:  # found while reading on (a damaged UTF-16 file)
            assert str(exc)


PIECES = st.sampled_from(
    [*"abcXYZ019 ;,\t\"'é€œ½ÿ\u00a0\u2028", "\r", "\n", "\r\n", "\x00", "\x07", "\x1b", "\x85"]
)
CELL = st.lists(PIECES, max_size=12).map("".join) | st.sampled_from(
    ["C1", "K1", "AN", "Actif", "Particulier", "28/08/2026", "31/12/9999", ALICE, "06 12"]
)


@st.composite
def exports(draw: st.DrawFn) -> bytes:
    """A portfolio header and rows of odd cells, written with any separator and encoding."""
    delimiter = draw(st.sampled_from([";", ",", "\t"]))
    ending = draw(st.sampled_from(["\r\n", "\n", "\r"]))
    rows = draw(
        st.lists(
            st.lists(CELL, min_size=len(PORTFOLIO_HEADER) - 2, max_size=len(PORTFOLIO_HEADER) + 1),
            max_size=8,
        )
    )
    lines = [delimiter.join(PORTFOLIO_HEADER)] + [delimiter.join(row) for row in rows]
    content = ending.join(lines) + draw(st.sampled_from(["", ending]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "iso8859_15", "utf-16"]))
    return content.encode(encoding, errors="replace")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_any_bytes_are_refused_or_read_as_numbered_rows(data: bytes) -> None:
    _read_and_parse(data)


@settings(max_examples=150, deadline=None)
@given(exports())
def test_odd_exports_are_refused_or_read_as_numbered_rows(data: bytes) -> None:
    _read_and_parse(data)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF"]))
def test_damaged_workbooks_and_documents_are_refused(data: bytes, magic: bytes) -> None:
    _read_and_parse(magic + data, suffix=".xlsx")


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=exports())
def test_odd_exports_store_no_control_character(migrated_engine: Engine, data: bytes) -> None:
    """The whole import on the backend: a refusal, or rows stored without a control
    character (PostgreSQL refuses NUL in text: this is where it would show)."""
    factory = db.session_factory(migrated_engine)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        path.write_bytes(data)
        staff_file = advisors_csv(Path(folder) / "staff.csv")
        try:
            with factory.begin() as session:
                from bot.crm.advisors import import_advisors

                import_advisors(session, staff_file, today=dt.date(2026, 11, 23))
            session = factory()
            try:
                import_portfolio(session, path, today=dt.date(2026, 11, 23))
                session.flush()
                assert control_characters(session) == []
            except FileRefused:
                pass
            finally:
                session.rollback()
                session.close()
        finally:
            _empty(migrated_engine)


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())

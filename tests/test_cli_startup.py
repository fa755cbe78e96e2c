"""What `m3` imports before it answers: the help, the version and the usage errors without rich,
the database or the settings; an import without rich's help machinery, Alembic nor the
holiday calendars once the SQLite schema is up to date. The modules imported are the
measure (timings would flake)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from bot import db

M3 = shutil.which("m3", path=str(Path(sys.executable).parent))
COMMAND = [M3] if M3 else [sys.executable, "-m", "bot.cli"]
#: Never imported to print the help, the version or a usage error.
HEAVY = {"rich", "sqlalchemy", "alembic", "jinja2", "typer.rich_utils", "bot.settings", "bot.db"}


def imported(
    *args: str, cwd: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the real `m3` with Python's import log on: its result and every module it imported."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("M3_", "DATABASE_URL", "SLACK_"))
    }
    environ.update(env, PYTHONPROFILEIMPORTTIME="1")
    result = subprocess.run(
        [*COMMAND, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert modules, result.stderr  # the log is there: an empty set would prove nothing
    result.stderr = "\n".join(
        line for line in result.stderr.splitlines() if not line.startswith("import time:")
    )
    return result, modules


@pytest.mark.parametrize(
    ("args", "code", "shown"),
    [
        (["--help"], 0, "Commandes"),
        (["import", "portfolio", "--help"], 0, "Affiche cette aide et quitte."),
        (["--version"], 0, "m3 "),
        (["nosuchcommand"], 2, "commande inconnue"),
        (["cases", "--foo"], 2, "option inconnue"),
    ],
)
def test_the_light_commands_import_neither_rich_nor_the_database_nor_pydantic(
    tmp_path: Path, args: list[str], code: int, shown: str
) -> None:
    result, modules = imported(*args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert shown in result.stdout + result.stderr
    assert "typer" in modules
    assert sorted(m for m in modules if m.split(".")[0] in {"rich", "pydantic"} or m in HEAVY) == []


def test_an_import_without_its_file_is_french_without_rich(tmp_path: Path) -> None:
    result, modules = imported("import", "portfolio", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("Erreur : fichier à importer manquant")
    # pydantic is typer's, to read the arguments; rich and the database are not needed.
    assert sorted(m for m in modules if m.split(".")[0] == "rich" or m in HEAVY) == []


def test_an_import_on_an_up_to_date_sqlite_database_skips_alembic_and_rich(
    tmp_path: Path, sample_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'm3.db'}"
    advisors = str(sample_dir / "advisors.csv")
    first, modules = imported(
        "import", "advisors", advisors, "--json", cwd=tmp_path, DATABASE_URL=url
    )
    assert first.returncode == 0, first.stderr
    assert "alembic" in modules  # a new file: migrated on first use
    portfolio = str(sample_dir / "portfolio.csv")
    result, modules = imported(
        "import", "portfolio", portfolio, "--json", cwd=tmp_path, DATABASE_URL=url
    )
    assert result.returncode == 0, result.stderr
    assert '"rows"' in result.stdout
    assert "bot.crm.portfolio" in modules
    unused = {"rich", "alembic", "jinja2", "holidays"}  # (the calendars: working days)
    assert sorted(m for m in modules if m.split(".")[0] in unused) == []
    assert "typer.rich_utils" not in modules


# --- The exit ------------------------------------------------------------------------------------


def test_the_m3_command_leaves_its_objects_out_of_the_collections_at_exit(tmp_path: Path) -> None:
    """`m3` is `bot.cli.console`, which freezes the garbage collector's objects once the
    command is done: Python's finalization then skips its collections over every module's
    objects (0.15–0.2 s of every command, measured in `benchmarks/`)."""
    from importlib.metadata import entry_points

    (script,) = entry_points(group="console_scripts", name="m3")
    assert script.value == "bot.cli:console"
    watch = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count(), file=sys.stderr))\n"
        "from bot.cli import console\n"
        "sys.argv = ['m3', '--version']\n"
        "console()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", watch], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("m3 ")
    frozen = int(result.stderr.rsplit("frozen", 1)[1])
    assert frozen > 10_000  # typer's and click's objects at least


# --- The schema check without Alembic ----------------------------------------------------------


def _alembic_head(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(db.alembic_config(engine)).get_current_head()


def test_the_migration_files_give_alembics_head(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'm3.db'}")
    try:
        assert db.script_head() is not None
        assert db.script_head() == _alembic_head(engine)
    finally:
        engine.dispose()


def test_a_sqlite_database_behind_is_still_upgraded(tmp_path: Path) -> None:
    from alembic.runtime.migration import MigrationContext

    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        db.upgrade(engine, "0004")
        db.ensure_schema(engine)
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
        assert current == _alembic_head(engine)
    finally:
        engine.dispose()


def _versions(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "versions").mkdir()
    for name, text in files.items():
        (tmp_path / "versions" / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "head"),
    [
        (
            {
                "a.py": 'revision: str = "a"\ndown_revision: str | None = None\n',
                "b.py": 'revision = "b"\ndown_revision = "a"\n',
                "__init__.py": "",
            },
            "b",
        ),
        # Two heads, a merge, a revision not written as a literal: Alembic's to read.
        (
            {
                "a.py": 'revision = "a"\ndown_revision = None\n',
                "b.py": 'revision = "b"\ndown_revision = "a"\n',
                "c.py": 'revision = "c"\ndown_revision = "a"\n',
            },
            None,
        ),
        (
            {
                "a.py": 'revision = "a"\ndown_revision = None\n',
                "m.py": 'revision = "m"\ndown_revision = ("a", "b")\n',
            },
            None,
        ),
        ({"a.py": 'revision = PREFIX + "a"\ndown_revision = None\n'}, None),
        ({"a.py": "down_revision = None\n"}, None),
    ],
)
def test_the_head_is_read_only_from_plain_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], head: str | None
) -> None:
    monkeypatch.setattr(db, "MIGRATIONS", _versions(tmp_path, files))
    assert db.script_head() == head

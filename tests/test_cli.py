"""The installed `m3` console script, run as a user would (a subprocess, default settings)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from bot import db

M3 = shutil.which("m3", path=str(Path(sys.executable).parent)) or "m3"


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("M3_", "DATABASE_URL", "SLACK_"))
    }
    environ.update(env)
    return subprocess.run(
        [M3, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120
    )


def test_demo_loads_a_portfolio_and_prints_each_queue_in_french(tmp_path: Path) -> None:
    result = run("demo", cwd=tmp_path, M3_TODAY="2026-11-24")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m3.db").exists()  # the default SQLite database, upgraded on first use
    out = result.stdout
    assert "Démo chargée" in out
    assert "mardi 24 novembre 2026" in out
    assert "À traiter" in out and "En retard" in out and "Nouveaux" in out
    # The morning récapitulatif's layout: by when to call, the phone as the French write it.
    assert re.search(r"— .+ · à appeler avant le \d\d/\d\d · J-\d+\n", out)
    assert re.search(r"\n     0\d \d\d \d\d \d\d \d\d · \S+@", out)
    assert "Traceback" not in result.stderr


def test_json_import_prints_only_json(tmp_path: Path, sample_dir: Path) -> None:
    assert run("import", "advisors", str(sample_dir / "advisors.csv"), cwd=tmp_path).returncode == 0
    result = run(
        "import", "portfolio", str(sample_dir / "portfolio-dirty.csv"), "--json", cwd=tmp_path
    )
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert {"rows", "created", "updated", "unchanged", "rejected"} <= set(summary)
    assert result.stderr == ""


def test_a_mistyped_command_with_json_prints_one_json_object(tmp_path: Path) -> None:
    for args, name in (
        (["import", "portefeuille", "x.csv", "--json"], "portefeuille"),
        (["imprt", "portfolio", "x.csv", "--json"], "imprt"),
    ):
        result = run(*args, cwd=tmp_path)
        assert result.returncode == 2
        error = json.loads(result.stdout)["error"]
        assert error.startswith(f"commande inconnue «\u00a0{name}\u00a0»"), error
        assert error in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["advisors", "--json"], "base de données injoignable"),
        (["cases", "--json", "--date", "31/02/2026"], "date invalide « 31/02/2026 »"),
        (["cases", "--json", "--state", "bientot"], "état inconnu « bientot »"),
        (["cases", "--json", "--date"], "l'option « --date » attend une valeur"),
        (["case", "123", "--json", "--bogus"], "option inconnue « --bogus »"),
        (["stats", "--format=JSON", "--advisor", "x"], "base de données injoignable"),
    ],
)
def test_every_failure_with_json_prints_one_json_object(
    tmp_path: Path, args: list[str], said: str
) -> None:
    """Not only the imports: whatever command a script runs with --json (or --format json),
    a failure is one JSON object with the French reason on stdout, the same line on stderr."""
    missing = f"sqlite:///{tmp_path / 'absent' / 'm3.db'}"
    result = run(*args, cwd=tmp_path, DATABASE_URL=missing)
    assert result.returncode in (1, 2), result.stderr
    error = json.loads(result.stdout)["error"]
    assert said.replace(" ", "\u00a0") in error.replace(" ", "\u00a0"), error
    assert error.split(" (")[0] in result.stderr and "Traceback" not in result.stderr
    # Without --json, stdout stays empty: the reason is on stderr only.
    plain = [arg for arg in args if arg not in ("--json", "--format=JSON")]
    assert run(*plain, cwd=tmp_path, DATABASE_URL=missing).stdout == ""


def _as_another_user(command: list[str]) -> list[str]:
    """`command` run by a user without rights on root's files (`setpriv`, when these tests run
    as root, who reads every file whatever its mode); as it is otherwise."""
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv is needed to drop root's rights")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]


def test_an_unreadable_file_is_refused_in_french_with_the_reason(sample_dir: Path) -> None:
    """A file the user may not read: « lecture interdite », French and one JSON object, from
    both import commands (not click's English usage error, nor a vague « arguments
    invalides »)."""
    folder = Path(tempfile.mkdtemp(prefix="m3-unreadable-"))
    try:
        folder.chmod(0o777)  # the other user writes its database there
        locked = folder / "portefeuille.csv"
        shutil.copyfile(sample_dir / "portfolio.csv", locked)
        locked.chmod(0)
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("M3_", "SLACK_"))}
        environ["DATABASE_URL"] = f"sqlite:///{folder / 'm3.db'}"
        probe = subprocess.run(
            _as_another_user([sys.executable, "-c", "import bot"]), capture_output=True
        )
        if probe.returncode != 0:
            pytest.skip(f"the other user cannot run this Python: {probe.stderr!r:.200}")
        for kind in ("portfolio", "advisors"):
            result = subprocess.run(
                _as_another_user([M3, "import", kind, str(locked), "--json"]),
                cwd=folder,
                env=environ,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert result.returncode == 2, result.stderr
            error = json.loads(result.stdout)["error"]
            assert error == (
                "fichier refusé : impossible de lire le fichier « portefeuille.csv » : "
                "lecture interdite (droits insuffisants)"
            )
            assert result.stderr.strip() == f"Erreur : {error}"
    finally:
        shutil.rmtree(folder)


def test_a_workbook_with_a_drop_down_list_imports_without_english_on_stderr(
    tmp_path: Path, sample_dir: Path
) -> None:
    """Excel keeps a drop-down list (data validation) in an extension of the sheet that
    openpyxl warns about, in English, on stderr: the import reads the rows, and says
    nothing of it."""
    from tests.exports import read_csv, write_edited_xlsx

    header, rows = read_csv(sample_dir / "portfolio.csv")
    extension = (
        b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" xmlns:x14="http://schemas.'
        b'microsoft.com/office/spreadsheetml/2009/9/main"><x14:dataValidations count="0"/>'
        b"</ext></extLst></worksheet>"
    )
    path = write_edited_xlsx(
        tmp_path / "liste.xlsx", header, rows[:5], {b"</worksheet>": extension}
    )
    url = f"sqlite:///{tmp_path / 'm3.db'}"
    assert (
        run(
            "import", "advisors", str(sample_dir / "advisors.csv"), cwd=tmp_path, DATABASE_URL=url
        ).returncode
        == 0
    )
    result = run("import", "portfolio", str(path), "--json", cwd=tmp_path, DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["created"] == 5
    assert result.stderr == ""


def test_a_missing_record_with_json_prints_one_json_object(tmp_path: Path) -> None:
    """A command that finds nothing to show (an unknown client) fails the same way."""
    result = run("case", "999", "--json", cwd=tmp_path)
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert error.replace("\u00a0", " ").startswith("aucun client n° « 999 » dans la base"), error


def test_db_upgrade_on_postgres_url_rewrites_the_driver(tmp_path: Path) -> None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("no PostgreSQL configured")
    # A schema of its own: the database's default schema is left to whoever else uses it.
    schema = f"m3cli_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        short = url.replace("postgresql://", "postgres://", 1)
        separator = "&" if "?" in short else "?"
        result = run(
            "db",
            "upgrade",
            cwd=tmp_path,
            DATABASE_URL=f"{short}{separator}options=-csearch_path%3D{schema}",
        )
        assert result.returncode == 0, result.stderr
        assert "Base de données à jour" in result.stdout
        with admin.connect() as connection:
            tables = connection.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            ).scalar_one()
        assert tables > 5  # the migrations ran in that schema
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_an_unreachable_database_is_one_french_line(tmp_path: Path) -> None:
    result = run("cases", cwd=tmp_path, DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 1
    assert result.stderr == (
        "Erreur : base de données injoignable (connexion refusée) : vérifiez DATABASE_URL et "
        "que le serveur de base de données est démarré\n"
    )


def test_unexpected_errors_are_one_french_line(tmp_path: Path) -> None:
    (tmp_path / "m3.db").write_text("not a database")
    result = run("cases", cwd=tmp_path)
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Erreur inattendue : DatabaseError:")
    assert "M3_DEBUG=1" in result.stderr
    assert "Traceback" not in result.stderr
    debug = run("cases", cwd=tmp_path, M3_DEBUG="1")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_missing_slack_token_is_one_clear_line(tmp_path: Path) -> None:
    result = run("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN" in result.stderr and "xoxb" in result.stderr
    assert "Traceback" not in result.stderr
    result = run("run", cwd=tmp_path, SLACK_BOT_TOKEN="xoxb-x")
    assert result.returncode == 2 and "SLACK_APP_TOKEN" in result.stderr


def test_progress_bar_on_an_interactive_terminal_only(tmp_path: Path, sample_dir: Path) -> None:
    import pty

    assert run("import", "advisors", str(sample_dir / "advisors.csv"), cwd=tmp_path).returncode == 0
    leader, follower = pty.openpty()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("M3_", "DATABASE_URL"))}
    process = subprocess.run(
        [M3, "import", "portfolio", str(sample_dir / "portfolio.csv")],
        cwd=tmp_path,
        env=environ | {"TERM": "xterm", "COLUMNS": "100"},
        stdout=subprocess.PIPE,
        stderr=follower,
        timeout=120,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.returncode == 0
    assert b"Import" in shown and b"lignes" in shown  # the bar, on the terminal
    assert process.stdout.decode().startswith("Portefeuille")

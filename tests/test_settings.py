"""Configuration errors through the `m3` CLI: each stops the program with exit code 2 and one
line in French naming the variable and what it expects, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import M3
from tests.exports import ok

BAD_VALUES = [
    # (variable, value, what the line must say besides the variable)
    ("M3_BRANCHES", '[{"name":"Corniche"}', "JSON illisible ; attendu : une liste JSON"),
    ("M3_BRANCHES", '{"name":"Corniche"}', "ce n'est pas une liste JSON"),
    ("M3_BRANCHES", "[]", "au moins une agence"),
    ("M3_BRANCHES", '["Corniche"]', "l'agence n° 1 n'a pas de « name »"),
    ("M3_BRANCHES", '[{"name":"Corniche","phone":491}]', "n'est pas du texte"),
    (
        "M3_BRANCHES",
        '[{"name":"Rouvière"},{"name":"Corniche"},{"name":"ROUVIERE"}]',
        "les agences n° 1 et n° 3 portent le même nom",
    ),
    ("DATABASE_URL", "mysql://agence:secret@db/m3", "type de base « mysql » non pris en charge"),
    ("DATABASE_URL", "m3.db", "ce n'est pas une URL"),
    ("DATABASE_URL", "postgresql://agence:secret@db:port/m3", "URL illisible"),
    ("M3_TODAY", "1999-12-31", "hors de la plage 2000–2100"),
    ("M3_TODAY", "2101-01-01", "hors de la plage 2000–2100"),
    ("M3_TODAY", "24/11/2026", "n'est pas une date AAAA-MM-JJ"),
    ("M3_TODAY", "2026-02-30", "n'est pas une date du calendrier"),
    ("M3_DIGEST_TIME", "25h", "heure invalide « 25h » ; attendu : une heure HH:MM"),
    ("M3_TIMEZONE", "Paris", "fuseau horaire inconnu « Paris » ; attendu : un fuseau horaire IANA"),
    ("PORT", "0", "attendu : un numéro de port entre 1 et 65535"),
    ("PORT", "65536", "attendu : un numéro de port entre 1 et 65535"),
    ("PORT", "http", "valeur invalide « http »"),
    (
        "SLACK_BOT_TOKEN",
        "xapp-1-A1-2-abc",
        "ce n'est pas un jeton de bot ; attendu : le jeton du bot",
    ),
    ("SLACK_APP_TOKEN", "xoxb-1-2-abc", "ce n'est pas un jeton d'application"),
    ("SLACK_API_URL", "localhost:3000", "attendu : une URL commençant par http:// ou https://"),
]


@pytest.mark.parametrize(("variable", "value", "said"), BAD_VALUES)
def test_a_bad_value_stops_with_one_french_line(
    tmp_path: Path, variable: str, value: str, said: str
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'm3.db'}", variable: value}
    result = CliRunner().invoke(app, ["cases"], env=env)
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line
    assert line.startswith(f"Erreur de configuration : {variable} — ")
    assert said in line
    assert "Traceback" not in line and "invalid setting" not in line and "Value error" not in line
    assert "secret" not in line  # a password or a token is never repeated
    assert not (tmp_path / "m3.db").exists()  # stopped before touching the database


def test_good_values_are_taken(m3: M3) -> None:
    env = {
        "DATABASE_URL": m3.database_url,
        "M3_BRANCHES": '[{"name":"Corniche","phone":"04 91 00 00 00"},{"name":"Rouvière"}]',
        "M3_DIGEST_TIME": "7h45",
        "M3_TIMEZONE": "Europe/Paris",
        "PORT": "8080",
        "M3_TODAY": "2026-11-24",
    }
    result = CliRunner().invoke(app, ["cases"], env=env)
    assert result.exit_code == 0, result.output
    assert "Aucun dossier M+3 au 24/11/2026" in result.output


def test_an_empty_frozen_day_means_today(m3: M3) -> None:
    result = CliRunner().invoke(
        app, ["cases"], env={"DATABASE_URL": m3.database_url, "M3_TODAY": ""}
    )
    assert result.exit_code == 0, result.output


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="no PostgreSQL configured")
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_postgres_url_is_accepted_as_hosts_hand_it_out(m3: M3) -> None:
    assert m3.database_url.startswith("postgresql")
    short = m3.database_url.replace("postgresql+psycopg://", "postgres://", 1)
    ok(M3(short), "cases")


def test_the_installed_command_prints_one_line(tmp_path: Path) -> None:
    """The console script as a user runs it, from a directory without `.env`."""
    m3 = shutil.which("m3", path=str(Path(sys.executable).parent)) or "m3"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("M3_", "DATABASE_URL"))}
    env["M3_BRANCHES"] = "Corniche, Rouvière"
    result = subprocess.run(
        [m3, "cases"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "M3_BRANCHES — JSON illisible" in result.stderr
    assert '[{"name":"Corniche"},{"name":"Rouvière"}]' in result.stderr

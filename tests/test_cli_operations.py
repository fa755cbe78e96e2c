"""The `m3` command line as operations use it, on an export written by the test: `m3 digest`
refuses a weekend or a public holiday unless `--force`, `m3 cases` takes French state names
and stays readable on an 80-column terminal, `m3 --version`, and `m3 clock` warns at start-up
when the managers have no channel. Expected values are worked out by hand from the rules."""

from __future__ import annotations

import logging
import socket
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from jobs import schedule
from tests.conftest import M3
from tests.exports import ALICE, BRUNO, advisors_csv, contract, ok, ok_json, portfolio_csv
from tests.fakeslack import FakeSlack

NB = "\u00a0"
TOKEN = "xoxb-test"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def agency(m3: M3, tmp_path: Path) -> M3:
    """Two clients to call on Tuesday 24/11/2026: one à traiter, one late."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "equipe.csv")))
    rows = [
        # effect 25/08 → due 25/11 → window 18/11–02/12: à traiter, last day 02/12
        contract(
            "C1", "K1", "25/08/2026", ALICE, Nom="Delacroix-Fontaine", Prénom="Marie-Hélène",
            Téléphone="06 20 01 20 01", Produit="Habitation",
        ),
        # effect 05/08 → window 29/10–12/11: late; deadline (last day) 05/12
        contract("C2", "K2", "05/08/2026", BRUNO, Nom="Faure", Téléphone="07 30 02 30 02"),
    ]  # fmt: skip
    ok(m3, "import", "portfolio", str(portfolio_csv(tmp_path / "export.csv", rows)))
    return m3


def digest(m3: M3, day: str, *args: str, api: str = "http://127.0.0.1:9/api/") -> Any:
    return CliRunner().invoke(
        app,
        ["digest", "--date", day, *args],
        env={
            "DATABASE_URL": m3.database_url,
            "M3_TODAY": "2026-11-24",
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": api,
        },
    )


@pytest.mark.parametrize(
    ("day", "kind"),
    [("2026-11-28", "un samedi"), ("29/11/2026", "un dimanche"), ("2026-12-25", "un jour férié")],
)
def test_digest_refuses_a_day_that_is_not_worked(agency: M3, day: str, kind: str) -> None:
    result = digest(agency, day)
    assert result.exit_code == 2
    shown = "/".join(reversed(day.split("-"))) if "-" in day else day
    assert result.output.strip() == (
        f"Erreur : le {shown} est {kind}{NB}: pas de récapitulatif ce jour-là (le planificateur "
        "le saute). Ajoutez --force pour l'envoyer quand même."
    )


def test_digest_force_sends_on_a_saturday(agency: M3) -> None:
    users = [{"id": "U1", "email": ALICE}, {"id": "U2", "email": BRUNO}]
    with FakeSlack(token=TOKEN, users=users) as fake:
        result = digest(agency, "2026-11-28", "--force", api=fake.url)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == (
            f"Récapitulatif du 28/11/2026{NB}: 2 envoyés, 0 sans objet ou déjà envoyé, "
            "0 en échec, 0 sans compte Slack."
        )
        assert sorted(c.params["channel"] for c in fake.calls_to("chat.postMessage")) == [
            "DU1",
            "DU2",
        ]
        fake.assert_valid()
    preview = digest(agency, "2026-11-28", "--force", "--dry-run")
    assert preview.exit_code == 0
    assert preview.output.strip().endswith("2 récapitulatifs à envoyer le 28/11/2026 (simulation).")


def test_version(m3: M3) -> None:
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = m3("--version")
    assert result.exit_code == 0
    assert result.output == f"m3 {expected}\n"


@pytest.mark.parametrize("state", ["en_retard", "late", "En retard"])
def test_cases_takes_the_state_in_french(agency: M3, state: str) -> None:
    listed = ok_json(agency, "cases", "--date", "2026-11-24", "--state", state, today="2026-11-24")
    assert [(c["client_number"], c["state"]) for c in listed] == [("C2", "late")]


def test_cases_refuses_an_unknown_state_in_french(agency: M3) -> None:
    result = agency("cases", "--state", "bof", today="2026-11-24")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Erreur : état inconnu «{NB}bof{NB}» pour --state{NB}: a_venir, a_traiter, en_retard, "
        "expire, annule, fait"
    )


def test_cases_is_readable_at_80_columns(agency: M3) -> None:
    result = CliRunner().invoke(
        app,
        ["cases", "--date", "2026-11-24"],
        env={"DATABASE_URL": agency.database_url, "M3_TODAY": "2026-11-24", "COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    header = next(line for line in lines if "Client" in line)
    for title in ("Client", "Téléphone", "État", "Conseiller"):
        assert title in header
    # Phone, last day and state are never cut; the late case first, as in the digest (its
    # last day Friday 04/12: 05/12 is a Saturday), then the one to handle (window closing 02/12).
    late = next(i for i, line in enumerate(lines) if "07 30 02 30 02" in line)
    to_handle = next(i for i, line in enumerate(lines) if "06 20 01 20 01" in line)
    assert late < to_handle
    assert "02/12/2026" in lines[to_handle] and "à traiter" in lines[to_handle]
    assert "04/12/2026" in lines[late] and "en retard" in lines[late]
    assert "Alice Martin" in lines[to_handle] and "Bruno Petit" in lines[late]
    assert "Marie-Hélène" in lines[to_handle]
    # The client's number and products are under the name.
    assert "n° C1 · Habitation" in result.output


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(("channel", "warned"), [("", True), ("C0MANAGERS", False)])
def test_clock_warns_at_start_up_without_a_managers_channel(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, channel: str, warned: bool
) -> None:
    monkeypatch.setattr(schedule, "STARTUP_ATTEMPTS", 1)
    caplog.set_level(logging.INFO, logger="bot.cli")
    env = {
        "DATABASE_URL": f"postgresql://m3@127.0.0.1:{_closed_port()}/m3",
        "SLACK_BOT_TOKEN": TOKEN,
        "M3_MANAGERS_CHANNEL": channel,
    }
    result = CliRunner().invoke(app, ["clock"], env=env)
    assert result.exit_code == 1  # the database is not there: what matters is the line before
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.cli"]
    expected = (
        f"M3_MANAGERS_CHANNEL n'est pas défini{NB}: pas de récapitulatif des managers, et les "
        "dossiers des conseillers absents ou partis ne seront signalés à personne"
    )
    assert warnings == ([expected] if warned else [])


def test_the_help_frame_speaks_french(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    with pytest.raises(SystemExit) as exit_code:
        main(["--help"])
    assert exit_code.value.code == 0
    out = capsys.readouterr().out
    assert "Commandes" in out and "Commands" not in out
    assert "récapitulatif du matin" in out and "digest" not in out.split("Commandes")[0]
    assert "--version" in out and "Affiche la version et quitte." in out

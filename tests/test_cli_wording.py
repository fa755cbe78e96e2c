"""What people read from `m3` when things go wrong or repeat: a digest Slack did not take (exit 1,
French reasons, the advisor named in `m3 outbox`), an unknown advisor, a bad setting, a
missing SQLite folder, the help, a second `m3 demo`, and the plurals and elisions of the
managers' and contact card's words. Expected values come from the tests' agency and French
grammar, worked out by hand."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.rendering import environment
from tests.conftest import M3
from tests.exports import (
    ALICE,
    BRUNO,
    CLARA,
    advisors_csv,
    contract,
    ok,
    portfolio_csv,
)

NB = "\u00a0"
TOKEN = "xoxb-test"
TODAY = "2026-11-24"
# Nothing listens there: every call to Slack fails to connect.
UNREACHABLE = "http://127.0.0.1:9/api/"


@pytest.fixture
def agency(m3: M3, tmp_path: Path) -> M3:
    """Alice and Bruno each have a client to call on Tuesday 24/11/2026."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "equipe.csv")))
    rows = [
        # effect 25/08 → due 25/11 → window 18/11–02/12: à traiter
        contract("C1", "K1", "25/08/2026", ALICE, Téléphone="06 20 01 20 01"),
        # effect 05/08 → window 29/10–12/11: late
        contract("C2", "K2", "05/08/2026", BRUNO, Téléphone="07 30 02 30 02"),
    ]
    ok(m3, "import", "portfolio", str(portfolio_csv(tmp_path / "export.csv", rows)))
    return m3


def run(m3: M3 | None, *args: str, **env: str | None) -> Any:
    base: dict[str, str | None] = {"M3_TODAY": TODAY, "COLUMNS": None}
    if m3 is not None:
        base["DATABASE_URL"] = m3.database_url
    return CliRunner().invoke(app, list(args), env={**base, **env})


def no_bad_words(text: str) -> None:
    """No « (s) » plural, no English status or reason code, no internal recipient."""
    assert "(s)" not in text
    text = text.replace("m3 digest", "")  # the command's own name
    for word in ("queued", "unreachable", "digest", "advisor:"):
        assert word not in text, word


def test_a_digest_slack_did_not_take_fails_in_french(
    agency: M3, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="jobs.digest")
    result = run(agency, "digest", SLACK_BOT_TOKEN=TOKEN, SLACK_API_URL=UNREACHABLE)
    assert result.exit_code == 1, result.output
    logged = sorted(r.getMessage() for r in caplog.records if r.name == "jobs.digest")
    # Elided before Alice's vowel, not before Bruno's consonant.
    assert logged == [
        f"Récapitulatif d'{ALICE} non envoyé (Slack injoignable){NB}: remis en file pour un "
        "nouvel essai",
        f"Récapitulatif de {BRUNO} non envoyé (Slack injoignable){NB}: remis en file pour un "
        "nouvel essai",
    ]
    assert "Récapitulatif du 24/11/2026" in result.stdout and "2 en échec" in result.stdout
    assert f"2 récapitulatifs non envoyés{NB}: ils restent en file" in result.stderr
    no_bad_words(result.output)

    listed = run(agency, "outbox")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    for name, email in (("Alice Martin", ALICE), ("Bruno Petit", BRUNO)):
        (line,) = [line for line in lines if email in line]
        assert re.fullmatch(
            rf"#\d+ récapitulatif Slack · en file · {name} \({re.escape(email)}\) · 1 essai · "
            r"Slack injoignable · à partir du \d\d/\d\d/\d{4} \d\d:\d\d",
            line,
        ), line
    no_bad_words(listed.stdout)


def test_outbox_deliver_counts_in_words(agency: M3) -> None:
    result = run(agency, "outbox", "--deliver")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"Envoi des messages dus{NB}: 0 accepté, 0 simulé, 0 en échec, 0 à reprendre, "
        "0 incertain, 0 annulé."
    )


def test_the_managers_summary_elides_before_a_vowel(agency: M3, tmp_path: Path) -> None:
    # Alice leaves the agency (not in the staff file): her client goes to the managers.
    staff = advisors_csv(tmp_path / "sans-alice.csv", [BRUNO, CLARA])
    left = run(agency, "import", "advisors", str(staff))
    assert left.exit_code == 0, left.output
    assert "(plus de récapitulatif)" in left.stdout
    no_bad_words(left.stdout)
    result = run(agency, "digest", "--dry-run")
    assert result.exit_code == 0, result.output
    summary = result.stdout.split("━━ Récapitulatif des managers", 1)[1]
    assert "· d'Alice Martin (a quitté l'agence)" in summary
    assert "de Alice" not in summary


def test_cases_takes_the_states_its_json_gives(agency: M3) -> None:
    listed = run(agency, "cases", "--all", "--json")
    assert listed.exit_code == 0, listed.output
    by_state: dict[str, list[str]] = {}
    for case in json.loads(listed.stdout):
        by_state.setdefault(case["state"], []).append(case["client_number"])
    assert by_state == {"open": ["C1"], "late": ["C2"]}
    help_text = run(None, "cases", "--help").stdout
    for state, numbers in by_state.items():
        assert state in help_text
        chosen = run(agency, "cases", "--state", state, "--json")
        assert [c["client_number"] for c in json.loads(chosen.stdout)] == numbers
    # The French words still work.
    french = run(agency, "cases", "--state", "en_retard", "--json")
    assert [c["client_number"] for c in json.loads(french.stdout)] == ["C2"]


def test_cases_words_a_missing_or_wrong_phone(m3: M3, tmp_path: Path) -> None:
    """The phone column: the number, the wrong one the CRM holds « (invalide) », or « pas
    dans Lagon », not a bare « à compléter »."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "equipe.csv")))
    rows = [
        contract("C1", "K1", "25/08/2026", ALICE, Téléphone="06 20 01 20 01"),
        contract("C2", "K2", "25/08/2026", ALICE, Téléphone="12 34"),
        contract("C3", "K3", "25/08/2026", ALICE, Téléphone=""),
    ]
    run(m3, "import", "portfolio", str(portfolio_csv(tmp_path / "export.csv", rows)))
    listed = run(m3, "cases", COLUMNS="200")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    for number, cell in (("C1", "06 20 01 20 01"), ("C2", "12 34 (invalide)")):
        assert any(number in line and cell in line for line in lines), (number, listed.stdout)
    assert "pas dans Lagon" in listed.stdout
    assert "à compléter" not in listed.stdout


def test_cases_says_an_advisor_is_unknown_as_stats_does(agency: M3) -> None:
    cases = run(agency, "cases", "--advisor", "nobody@x.fr")
    stats = run(agency, "stats", "--advisor", "nobody@x.fr")
    assert cases.exit_code == stats.exit_code == 2
    line = f"Erreur : aucun conseiller «{NB}nobody@x.fr{NB}» (e-mail, prénom.nom ou nom)"
    assert cases.output.strip() == stats.output.strip() == line
    # Found by the same names as for stats.
    alice = run(agency, "cases", "--advisor", "alice.martin", "--json")
    assert alice.exit_code == 0 and '"client_number": "C1"' in alice.stdout


def test_a_bad_setting_is_labelled_once(tmp_path: Path) -> None:
    result = run(None, "cases", DATABASE_URL=f"sqlite:///{tmp_path / 'm3.db'}", M3_TIMEZONE="Paris")
    assert result.exit_code == 2
    line = result.output.strip()
    assert line.startswith("Erreur de configuration : M3_TIMEZONE — fuseau horaire inconnu")
    assert "invalide" not in line.casefold().split("—")[0]


@pytest.mark.parametrize("args", [["cases"], ["import", "portfolio", "export.csv"]])
def test_a_missing_sqlite_folder_is_named(tmp_path: Path, args: list[str]) -> None:
    folder = tmp_path / "nulle-part" / "dossier"
    result = run(None, *args, DATABASE_URL=f"sqlite:///{folder / 'm3.db'}")
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Erreur : base de données injoignable : le dossier {folder}, où DATABASE_URL place le "
        f"fichier SQLite, n'existe pas{NB}; créez-le ou corrigez DATABASE_URL"
    )
    assert not folder.exists()


@pytest.mark.parametrize(
    "command",
    [["case"], ["cases"], ["import", "advisors"], ["import", "portfolio"], ["corrections"]],
)
def test_the_help_shows_no_python_types(command: list[str]) -> None:
    result = run(None, *command, "--help")
    assert result.exit_code == 0
    assert not re.search(r"<[^>]*>", result.stdout), result.stdout


def test_the_import_summary_groups_thousands_as_french_does(m3: M3, tmp_path: Path) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "equipe.csv")))
    rows = [contract(f"C{i}", f"K{i}", "25/08/2026", ALICE) for i in range(1200)]
    result = run(m3, "import", "portfolio", str(portfolio_csv(tmp_path / "export.csv", rows)))
    assert result.exit_code == 0, result.output
    narrow = "\u202f"
    assert f"1{narrow}200 lignes lues." in result.stdout
    assert f"1{narrow}200 créés, 0 mis à jour" in result.stdout
    assert f"1{narrow}200 ouverts" in result.stdout


@pytest.mark.parametrize("count", ["0", "-3"])
def test_a_demo_of_no_client_is_refused_in_french(tmp_path: Path, count: str) -> None:
    path = tmp_path / "demo.db"
    result = run(None, "demo", "--clients", count, DATABASE_URL=f"sqlite:///{path}")
    assert result.exit_code == 2, result.output
    assert result.output.strip() == f"Erreur : --clients doit valoir au moins 1 (reçu : {count})"
    assert not path.exists()


def test_a_second_demo_says_the_cases_are_already_open(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    first = run(None, "demo", DATABASE_URL=f"sqlite:///{path}")
    assert first.exit_code == 0, first.output
    with sqlite3.connect(path) as connection:
        (held,) = connection.execute(
            "SELECT count(*) FROM m3_case WHERE cancelled_on IS NULL"
        ).fetchone()
    assert held > 0
    said = re.search(r"(\d+) contrats, (\d+) dossiers M\+3 ouverts\.", first.stdout)
    assert said is not None and int(said.group(2)) == held
    second = run(None, "demo", DATABASE_URL=f"sqlite:///{path}")
    assert second.exit_code == 0, second.output
    assert (
        f"{said.group(1)} contrats, {held} dossiers M+3 déjà ouverts (aucun nouveau)."
        in second.stdout
    )


def test_the_card_words_have_real_plurals() -> None:
    card = environment().get_template("slack/card.j2").module
    assert "(1 envoi en attente annulé)" in str(card.objection_recorded("Zoé", True, 1))
    assert "(3 envois en attente annulés)" in str(card.objection_recorded("Zoé", True, 3))


@pytest.mark.parametrize(
    "name", ["slack/card.j2", "slack/stats.j2", "slack/managers.j2", "cli/outbox.txt.j2"]
)
def test_no_template_writes_a_plural_in_parentheses(name: str) -> None:
    assert environment().loader is not None
    source, _, _ = environment().loader.get_source(environment(), name)
    assert "(s)" not in source


def test_m3_case_tells_a_client_without_a_case_from_an_unknown_number(
    m3: M3, tmp_path: Path
) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "equipe.csv")))
    # A renewal (origin « Renouvellement », not AN) opens no M+3: C3 is a client without a case.
    rows = [contract("C3", "K3", "25/08/2026", ALICE, origin="Renouvellement")]
    ok(m3, "import", "portfolio", str(portfolio_csv(tmp_path / "export.csv", rows)))
    known = run(m3, "case", "C3")
    assert known.exit_code != 0
    assert f"le client n°{NB}«{NB}C3{NB}» n'a pas de dossier M+3." in known.output
    unknown = run(m3, "case", "C9")
    assert unknown.exit_code != 0
    assert f"aucun client n°{NB}«{NB}C9{NB}» dans la base" in unknown.output

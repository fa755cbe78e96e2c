"""The frame of `m3`'s help and usage errors in French: the usage line, the headings, the help
option, the errors and their exit code (2), for every command and group."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.cli import app
from tests.test_typography import typography_problems

#: click's and typer's own English, as they write it.
ENGLISH = (
    "Usage",
    "Commands",
    "Error",
    "Try ",
    "Show this message",
    "default:",
    "required]",
    "COMMAND [",
    "[ARGS]",
    "No such",
    "Missing",
    "Invalid value",
    "Did you mean",
    "Possible options",
    "Got unexpected",
    "requires an argument",
    "does not take a value",
)


def m3(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), prog_name="m3")


def english_in(text: str) -> list[str]:
    return [word for word in ENGLISH if word in text]


def command_paths() -> list[list[str]]:
    """Every group and command of `m3`, as the arguments that reach it."""
    paths: list[list[str]] = []

    def walk(command: Any, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_every_command_is_reached() -> None:
    names = {" ".join(path) for path in command_paths()}
    assert {"", "cases", "stats", "db upgrade", "import portfolio", "import advisors"} <= names
    assert len(names) > 15


@pytest.mark.parametrize("path", command_paths(), ids=lambda path: " ".join(path) or "m3")
def test_every_help_is_french(path: list[str]) -> None:
    result = m3(*path, "--help")
    assert result.exit_code == 0, result.output
    assert english_in(result.stdout) == []
    assert result.stdout.startswith(f"Utilisation\u00a0: {' '.join(['m3', *path])} [OPTIONS]")
    assert "Options\u00a0:\n" in result.stdout
    assert "--help  " in result.stdout and "Affiche cette aide et quitte." in result.stdout
    assert "╭" not in result.stdout  # rich's panels


def test_the_main_help_lists_every_command_with_its_french_help() -> None:
    result = m3("--help")
    out = result.stdout
    assert "Utilisation\u00a0: m3 [OPTIONS] COMMANDE [ARGUMENTS]..." in out
    commands = out.split("Commandes\u00a0:\n")[1]
    root = typer.main.get_command(app)
    listed = [line.split()[0] for line in commands.splitlines() if not line.startswith("    ")]
    assert listed == list(root.commands)  # type: ignore[attr-defined]
    flat = " ".join(commands.split())
    assert "cases Liste les dossiers M+3 à une date, le plus urgent d'abord." in flat
    assert "import Import des exports (CSV ou XLSX)." in flat
    # Whole sentences, not cut with « ... », and a « : » never at the start of a line.
    assert "..." not in commands
    assert all(not line.strip().startswith(":") for line in commands.splitlines())
    assert "«\u00a0--" not in out


def test_the_defaults_and_required_arguments_are_french() -> None:
    assert "[défaut\u00a0: 120]" in m3("demo", "--help").stdout
    portfolio = m3("import", "portfolio", "--help").stdout
    assert "Utilisation\u00a0: m3 import portfolio [OPTIONS] {FICHIER}" in portfolio
    assert "Arguments\u00a0:" in portfolio and "[obligatoire]" in portfolio


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["nosuchcommand"], "Erreur\u00a0: commande inconnue «\u00a0nosuchcommand\u00a0»"),
        (
            ["cses"],
            "commande inconnue «\u00a0cses\u00a0»\u00a0; vouliez-vous dire «\u00a0cases\u00a0» "
            "ou «\u00a0case\u00a0»\u00a0?",
        ),
        (["import", "nosuch"], "commande inconnue «\u00a0nosuch\u00a0»"),
        (["--foo"], "option inconnue «\u00a0--foo\u00a0»"),
        (["cases", "--foo"], "option inconnue «\u00a0--foo\u00a0»"),
        (["cases", "--jsn"], "vouliez-vous dire «\u00a0--json\u00a0»\u00a0?"),
        (["cases", "x"], "argument en trop\u00a0: x"),
        (["cases", "x", "y"], "arguments en trop\u00a0: x y"),
        (["case"], "argument manquant\u00a0: NUMÉRO"),
        (["demo", "--clients", "abc"], "«\u00a0--clients\u00a0»\u00a0: un nombre entier attendu"),
        (
            ["corrections", "--format", "xml"],
            "«\u00a0--format\u00a0»\u00a0: «\u00a0table\u00a0», «\u00a0csv\u00a0» ou «\u00a0json",
        ),
        (["cases", "--date"], "l'option «\u00a0--date\u00a0» attend une valeur"),
        (["cases", "--all=oui"], "l'option «\u00a0--all\u00a0» ne prend pas de valeur"),
    ],
)
def test_usage_errors_are_french_with_exit_code_2(args: list[str], expected: str) -> None:
    result = m3(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert expected in result.stderr
    assert "Erreur\u00a0: " in result.stderr
    assert english_in(result.stderr) == []


def test_a_usage_error_shows_the_usage_and_where_the_help_is() -> None:
    assert m3("cases", "--foo").stderr == (
        "Utilisation\u00a0: m3 cases [OPTIONS]\n"
        "Aide\u00a0: m3 cases --help\n"
        "\n"
        "Erreur\u00a0: option inconnue «\u00a0--foo\u00a0»\n"
    )


def test_exit_codes() -> None:
    assert m3("--help").exit_code == 0
    assert m3("--version").exit_code == 0
    alone = m3()  # the help, on stderr, as a usage error
    assert alone.exit_code == 2 and alone.stderr.startswith("Utilisation\u00a0: m3 ")
    assert m3("import", "portfolio").exit_code == 2


def test_the_frame_words_follow_french_typography() -> None:
    from bot.templates.cli import frame  # type: ignore[import-not-found]

    values = {
        "name": "x",
        "names": "\u00ab\u00a0y\u00a0\u00bb",
        "message": "m",
        "heading": "Options",
        "default": "1",
        "var": "V",
        "command": "m3",
        "option": "--help",
        "arguments": "a",
        "choices": "b",
    }
    for text in [*frame.GETTEXT.values(), *frame.WORDS.values()]:
        assert typography_problems(text.format(**values)) == [], text

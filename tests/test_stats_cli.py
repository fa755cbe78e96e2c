"""`m3 stats`: the same figures on the command line, as a table, CSV, JSON, XLSX and PNG."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from bot.charts import draw
from bot.cli import app
from bot.stats import FIGURES, MEASURES, Period, PeriodKind, Scope, compute
from tests import stats_history as history
from tests.conftest import M3
from tests.exports import BRUNO

RANGE = "du 01/09/2026 au 30/11/2026"
TODAY = history.TODAY.isoformat()
PERIOD = Period(history.PERIOD_START, history.PERIOD_END, PeriodKind.RANGE)


@pytest.fixture
def built(m3: M3, factory: sessionmaker[Session], tmp_path: Path) -> M3:
    history.build(factory, tmp_path)
    return m3


def test_json_gives_every_figure_of_every_line(built: M3, factory: sessionmaker[Session]) -> None:
    result = built("stats", "--period", RANGE, "--format", "json", today=TODAY)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    with factory() as session:
        report = compute(session, period=PERIOD, today=history.TODAY)
    assert document["period"] == {
        "start": "2026-09-01",
        "end": "2026-11-30",
        "label": "du 01/09/2026 au 30/11/2026",
    }
    assert [line["level"] for line in document["lines"]] == [
        line.level.value for line in report.lines
    ]
    for shown, line in zip(document["lines"], report.lines, strict=True):
        assert shown["measures"] == {name: line.measures[name] for name in MEASURES}
        for figure in FIGURES:
            assert shown["figures"][figure.key] == pytest.approx(line.value(figure))
    assert {d["key"] for d in document["definitions"]} == {f.key for f in FIGURES}


def test_table_csv_xlsx_and_png(built: M3, tmp_path: Path) -> None:
    table = built("stats", "--period", RANGE, today=TODAY)
    assert table.exit_code == 0, table.output
    assert "Taux de joignabilité (%)" in table.stdout and "Alice Martin" in table.stdout
    as_csv = built("stats", "--period", RANGE, "--format", "csv", today=TODAY)
    rows = list(csv.reader(io.StringIO(as_csv.stdout.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:4] == ["Niveau", "Agence", "Conseiller", "Dossiers"]
    assert [r[0] for r in rows[1:]] == ["Total", "Agence", "Conseiller", "Agence", "Conseiller"]
    xlsx = tmp_path / "stats.xlsx"
    assert (
        built(
            "stats", "--period", RANGE, "--format", "xlsx", "-o", str(xlsx), today=TODAY
        ).exit_code
        == 0
    )
    sheet = load_workbook(xlsx).active
    assert sheet is not None and sheet.cell(2, 4).value == int(rows[1][3])
    png = tmp_path / "stats.png"
    assert (
        built("stats", "--period", RANGE, "--format", "png", "-o", str(png), today=TODAY).exit_code
        == 0
    )
    with Image.open(png) as image:
        assert image.size == (1300, 560)


def test_a_branch_or_an_advisor(built: M3) -> None:
    result = built("stats", "--period", RANGE, "--advisor", BRUNO, "--format", "json", today=TODAY)
    lines = json.loads(result.stdout)["lines"]
    assert [line["advisor"] for line in lines if line["level"] == "conseiller"] == ["Bruno Petit"]
    result = built(
        "stats", "--period", RANGE, "--branch", "corniche", "--format", "json", today=TODAY
    )
    lines = json.loads(result.stdout)["lines"]
    assert [line["branch"] for line in lines if line["level"] == "agence"] == ["Corniche"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "hier"], "période incomprise « hier »"),
        (["--branch", "Paris"], "agence inconnue « Paris » (connues : Corniche, Rouvière)"),
        (["--advisor", "nobody@example.fr"], "aucun conseiller « nobody@example.fr »"),
        (["--format", "pdf"], "format inconnu « pdf »"),
    ],
)
def test_bad_options_are_one_french_line(built: M3, args: list[str], message: str) -> None:
    result = built("stats", *args, today=TODAY)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split())


def _table_at(m3: M3, columns: int | None) -> str:
    result = CliRunner().invoke(
        app,
        ["stats", "--period", RANGE],
        env={
            "DATABASE_URL": m3.database_url,
            "M3_TODAY": TODAY,
            "COLUMNS": None if columns is None else str(columns),
        },
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def _cells(line: str, rule: str) -> list[str]:
    return [cell.strip() for cell in line.strip()[1:-1].split(rule)]


def _blocks(text: str) -> list[tuple[list[str], dict[str, list[str]]]]:
    """Each block of a printed table: its column headers (wrapped pieces joined) and, by row
    name (wrapped pieces joined), the row's cells."""
    blocks: list[tuple[list[str], dict[str, list[str]]]] = []
    headers: list[list[str]] = []
    rows: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("┏"):
            headers, rows = [], []
        elif line.startswith("┃"):
            headers.append(_cells(line, "┃"))
        elif line.startswith("│"):
            name, *cells = _cells(line, "│")
            if rows and not any(cells):
                rows[-1] = (f"{rows[-1][0]} {name}", rows[-1][1])
            else:
                rows.append((name, cells))
        elif line.startswith("└"):
            names = [" ".join(p for p in pieces if p) for pieces in zip(*headers, strict=True)]
            blocks.append((names, dict(rows)))
    return blocks


def _figures(text: str) -> dict[tuple[str, str], str]:
    """Every cell of the printed table, by (column, row name), whatever its blocks."""
    return {
        (column, name): cells[index]
        for names, rows in _blocks(text)
        for name, cells in rows.items()
        for index, column in enumerate(names[1:])
    }


COLUMNS = ["Total", "Agence Corniche", "Alice Martin", "Agence Rouvière", "Bruno Petit"]
LONGEST = "Part avec nouveau contrat (Terminé) (%)"


@pytest.mark.parametrize("width", [40, 80, 100, 200])
def test_table_fits_the_terminal_and_never_cuts_a_name(
    built: M3, factory: sessionmaker[Session], width: int
) -> None:
    natural = _table_at(built, None)
    assert [names for names, _ in _blocks(natural)] == [["Indicateur", *COLUMNS]]
    text = _table_at(built, width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    assert _figures(text) == _figures(natural)
    with factory() as session:
        report = compute(session, period=PERIOD, today=history.TODAY, scope=Scope())
    assert _figures(text)[("Total", "Dossiers")] == str(report.total.measures["opened"])
    if width >= 80:
        # The names of the rows are whole on one line, beside their figures.
        assert any(LONGEST in line and line.rstrip().endswith("│") for line in text.splitlines())


def test_narrow_table_comes_in_blocks_a_branch_with_its_advisors(built: M3) -> None:
    at_80 = [names[1:] for names, _ in _blocks(_table_at(built, 80))]
    assert at_80 == [COLUMNS[:3], COLUMNS[3:]]
    at_100 = [names[1:] for names, _ in _blocks(_table_at(built, 100))]
    assert at_100 == [COLUMNS]


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ("absent/stats.xlsx", "dossier introuvable"),
        (".", "c'est un dossier, pas un fichier"),
        ("lien.xlsx", "ce chemin ne peut pas être créé"),  # a link to nowhere
    ],
)
def test_a_file_that_cannot_be_written_is_refused_in_french(
    built: M3, tmp_path: Path, where: str, why: str
) -> None:
    """The system's reason in French (exit 2, nothing written), not « Erreur inattendue :
    FileNotFoundError: [Errno 2] No such file or directory »."""
    target = tmp_path / where
    if where == "lien.xlsx":
        target.symlink_to(tmp_path / "absent" / "ailleurs.xlsx")
    result = built("stats", "--period", RANGE, "--format", "xlsx", "-o", str(target), today=TODAY)
    assert result.exit_code == 2, result.output
    assert f"Erreur : impossible d'écrire le fichier « {target} » : {why}" in result.output
    assert "Errno" not in result.output and "inattendue" not in result.output
    assert not (tmp_path / "absent").exists()


def test_chart_of_a_period_without_cases_says_so(
    built: M3, factory: sessionmaker[Session], tmp_path: Path
) -> None:
    png = tmp_path / "vide.png"
    result = built("stats", "--period", "2020-01", "--format", "png", "-o", str(png), today=TODAY)
    assert result.exit_code == 0, result.output
    with Image.open(png) as image:
        assert image.size == (1300, 560)
    with factory() as session:
        report = compute(
            session,
            period=Period(dt.date(2020, 1, 1), dt.date(2020, 1, 31), PeriodKind.MONTH),
            today=history.TODAY,
        )
    funnel, outcomes, equipment = draw(report).axes[:3]
    texts = [t.get_text() for t in equipment.texts]
    assert texts == ["Aucun client Terminé\nni expiré sur la période"]
    assert equipment.get_yticks().size == 0 and equipment.get_ylim()[0] == 0
    for axes in (funnel, outcomes):
        assert axes.get_xlim()[0] == 0
        assert all(tick == int(tick) for tick in axes.get_xticks())


def test_chart_writes_decimals_with_a_comma(built: M3, factory: sessionmaker[Session]) -> None:
    with factory() as session:
        report = compute(session, period=PERIOD, today=history.TODAY)
    figure = draw(report)
    figure.canvas.draw()
    equipment = figure.axes[2]
    assert equipment.get_ylim()[0] == 0
    ticks = [t.get_text() for t in equipment.get_yticklabels() if t.get_text()]
    assert ticks and not any("." in t for t in ticks) and any("," in t for t in ticks)
    measures = report.total.measures
    mean = measures["done_contracts_open"] / measures["done"]
    shown = {t.get_text() for t in equipment.texts}
    assert f"{mean:.1f}".replace(".", ",") in shown

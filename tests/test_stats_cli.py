"""`m3 stats`: the same figures on the command line, as a table, CSV, JSON, XLSX and PNG."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from bot.stats import FIGURES, MEASURES, Period, PeriodKind, compute
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

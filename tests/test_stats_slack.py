"""`/m3 stats` as managers and advisors use it: signed slash commands to the real app, the
summary and the chart in the asker's DM through the fake Slack (files_upload_v2 included), the
CSV and XLSX exports read back, and who may see what."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from PIL import Image, ImageStat
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import load_settings
from bot.stats import FIGURES, Kind, Period, PeriodKind, Scope, compute, export_value
from tests import stats_history as history
from tests.exports import ALICE, BRUNO, CLARA
from tests.fakeslack import FakeSlack
from tests.slackkit import SECRET, TOKEN, Responses, slash, wait_for

ALICE_ID, BRUNO_ID, CLARA_ID = "U0ALICE", "U0BRUNO", "U0CLARA"
RANGE = "du 01/09/2026 au 30/11/2026"
PERIOD = Period(history.PERIOD_START, history.PERIOD_END, PeriodKind.RANGE)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    users = [
        {"id": ALICE_ID, "email": ALICE},
        {"id": BRUNO_ID, "email": BRUNO},
        {"id": CLARA_ID, "email": CLARA},
    ]
    with FakeSlack(token=TOKEN, users=users, app_token="xapp-test") as fake:
        yield fake
        fake.assert_valid()


@pytest.fixture
def settings(factory: sessionmaker[Session], database_url: str, tmp_path: Path) -> Any:
    history.build(factory, tmp_path)
    return load_settings(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        DATABASE_URL=database_url,
        M3_TODAY=history.TODAY.isoformat(),
    )


def _ask(server: str, fake: FakeSlack, responses: Responses, text: str, user: str) -> str:
    """Run `/m3 text` and return the ephemeral answer."""
    before = len(responses.bodies)
    assert slash(server, text, responses, user=user) == 200
    return str(responses.wait(before + 1)[-1]["text"])


def test_a_manager_gets_the_summary_and_the_chart_in_a_dm(
    server: str, fake: FakeSlack, responses: Responses, factory: sessionmaker[Session]
) -> None:
    answer = _ask(server, fake, responses, f"stats {RANGE}", CLARA_ID)
    assert "messages privés" in answer
    (post,) = fake.calls_to("chat.postMessage")
    assert post.params["channel"] == f"D{CLARA_ID}"
    blocks = post.params["blocks"]
    (table,) = [b for b in blocks if b["type"] == "table"]
    names = [row[0]["text"] for row in table["rows"]]
    assert names == [
        "Équipe",
        "Total",
        "Agence Corniche",
        "Alice Martin",
        "Agence Rouvière",
        "Bruno Petit",
    ]
    with factory() as session:
        report = compute(session, period=PERIOD, today=history.TODAY)
    assert table["rows"][1][1]["text"] == str(report.total.measures["opened"])
    # The chart: a real PNG, French title, not blank.
    (chart,) = fake.uploaded()
    assert chart["channel"] == f"D{CLARA_ID}" and chart["name"].endswith(".png")
    image = Image.open(io.BytesIO(chart["data"]))
    assert image.format == "PNG" and image.size == (1300, 560)
    assert image.info["Title"] == "Statistiques M+3 — du 01/09/2026 au 30/11/2026 — toute l'agence"
    extrema = ImageStat.Stat(image.convert("L")).extrema[0]
    assert extrema[0] < 100 < extrema[1]  # dark bars and text on a light background
    # No client is named anywhere.
    text = str(post.params)
    assert "Client9" not in text


def test_the_export_round_trips_the_figures(
    server: str, fake: FakeSlack, responses: Responses, factory: sessionmaker[Session]
) -> None:
    answer = _ask(server, fake, responses, f"stats export {RANGE}", CLARA_ID)
    assert "CSV" in answer
    assert fake.calls_to("chat.postMessage") == []
    files = {f["name"].rsplit(".", 1)[-1]: f for f in fake.uploaded()}
    assert set(files) == {"csv", "xlsx"}
    with factory() as session:
        report = compute(session, period=PERIOD, today=history.TODAY)
    raw = files["csv"]["data"]
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM: French Excel reads the accents
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    header, lines = rows[0], rows[1:]
    assert header[:3] == ["Niveau", "Agence", "Conseiller"]
    assert len(lines) == len(report.lines)
    for line, row in zip(report.lines, lines, strict=True):
        for figure in FIGURES:
            cell = row[header.index(figure.label + (" (%)" if figure.kind is Kind.RATE else ""))]
            expected = export_value(figure, line.value(figure))
            if expected is None:
                assert cell == ""
            else:
                assert float(cell.replace(",", ".")) == pytest.approx(expected, abs=0.01)
        for code, count in line.gaps.items():
            assert int(row[header.index(f"Manque — {_label(code)}")]) == count
    sheet = load_workbook(io.BytesIO(files["xlsx"]["data"])).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == header
    assert values[1][header.index("Dossiers")] == report.total.measures["opened"]
    rate = FIGURES[13]
    assert values[1][header.index(rate.label + " (%)")] == export_value(
        rate, report.total.value(rate)
    )


def _label(code: str) -> str:
    from bot.blocks.stats import product_label

    return product_label(code)


def test_an_advisor_sees_only_her_own_figures(
    server: str, fake: FakeSlack, responses: Responses
) -> None:
    for text in (f"stats {RANGE} @bruno", "stats Rouvière", "stats mois corniche"):
        answer = _ask(server, fake, responses, text, ALICE_ID)
        assert "réservés aux managers" in answer, text
    assert fake.calls_to("chat.postMessage") == []
    answer = _ask(server, fake, responses, f"stats {RANGE}", ALICE_ID)
    assert "messages privés" in answer
    (post,) = fake.calls_to("chat.postMessage")
    (table,) = [b for b in post.params["blocks"] if b["type"] == "table"]
    assert [row[0]["text"] for row in table["rows"]] == [
        "Équipe",
        "Total",
        "Agence Corniche",
        "Alice Martin",
    ]
    assert "Alice Martin" in post.params["blocks"][0]["text"]["text"]
    # Asking for herself by name is asking for her own figures.
    _ask(server, fake, responses, f"stats {RANGE} @alice.martin", ALICE_ID)
    assert len(fake.calls_to("chat.postMessage")) == 2


def test_a_manager_gets_any_branch_or_advisor(
    server: str, fake: FakeSlack, responses: Responses, factory: sessionmaker[Session]
) -> None:
    _ask(server, fake, responses, f"stats {RANGE} @bruno", CLARA_ID)
    _ask(server, fake, responses, f"stats Corniche {RANGE}", CLARA_ID)
    first, second = fake.calls_to("chat.postMessage")
    with factory() as session:
        from bot.stats import find_advisors

        (bruno,) = find_advisors(session, BRUNO)
        expected = compute(
            session, period=PERIOD, today=history.TODAY, scope=Scope(advisor_id=bruno.id)
        )
    (table,) = [b for b in first.params["blocks"] if b["type"] == "table"]
    assert [row[0]["text"] for row in table["rows"]][-1] == "Bruno Petit"
    assert table["rows"][1][1]["text"] == str(expected.total.measures["opened"])
    (table,) = [b for b in second.params["blocks"] if b["type"] == "table"]
    assert [row[0]["text"] for row in table["rows"]][2:] == ["Agence Corniche", "Alice Martin"]


def test_a_mention_names_the_advisor(server: str, fake: FakeSlack, responses: Responses) -> None:
    """`/m3 stats <@U…>`: Slack sends a mention with the user's id, in upper case, which
    reading the words around it (folded to lower case) does not change."""
    _ask(server, fake, responses, f"stats {RANGE}", BRUNO_ID)  # Bruno has used the bot
    _ask(server, fake, responses, f"stats {RANGE} <@{BRUNO_ID}|bruno>", CLARA_ID)
    _, asked = fake.calls_to("chat.postMessage")
    (table,) = [b for b in asked.params["blocks"] if b["type"] == "table"]
    assert [row[0]["text"] for row in table["rows"]][-1] == "Bruno Petit"


def test_unknown_words_get_the_help_with_examples(
    server: str, fake: FakeSlack, responses: Responses
) -> None:
    answer = _ask(server, fake, responses, "stats semaine prochaine", CLARA_ID)
    assert "Je n'ai pas compris «\u00a0prochaine\u00a0»" in answer
    assert "/m3 stats trimestre" in answer
    answer = _ask(server, fake, responses, "stats du 31/02/2026 au 01/03/2026", CLARA_ID)
    assert "Je n'ai pas compris" in answer
    answer = _ask(server, fake, responses, "stats @personne", CLARA_ID)
    assert "aucun conseiller «\u00a0@personne\u00a0»" in answer
    before = len(responses.bodies)
    assert slash(server, "stats aide", responses, user=CLARA_ID) == 200
    body = responses.wait(before + 1)[-1]
    shown = str(body["blocks"])
    for figure in FIGURES:
        assert figure.label in shown and figure.definition in shown
    assert fake.calls_to("chat.postMessage") == []
    wait_for(fake, "users.info", 1)

"""One case, one « by when » wherever it shows: the window's last day while the case is à
traiter (« à appeler avant le … »), the day it can still be done once late (« en retard, encore
possible jusqu'au … »), in `/m3 status`, the « Compte rendu » modal and its picker, `m3 case`;
and one order, the most urgent first, for `m3 cases` and `/m3 list`: late cases nearest their
last day, then the windows closing soonest. Signed HTTP to the real app and the fake Slack.

Dates worked out by hand from the rules: due = effect + 3 months, window = due ± 7 days, late
until effect + 4 months (for a case, its latest contract's); the day shown is the last working
day on or before (the agency calls on working days). Today is Tuesday 1 December 2026.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks.capture import say, words
from bot.cases.queries import list_cases
from bot.settings import load_settings
from tests.agency import AGNES_F, SLACK_IDS, TODAY, fake, flat, import_agency
from tests.blocktext import message_text, view_text
from tests.conftest import M3
from tests.exports import contract, ok, ok_json
from tests.fakeslack import FakeSlack
from tests.slackkit import SECRET, TOKEN, Responses, slash, wait_for
from tests.test_done import case_options
from tests.test_typography import typography_problems

__all__ = ["fake"]  # fixture of tests/agency.py

ME = SLACK_IDS[AGNES_F]
D = dt.date.fromisoformat(TODAY)


def row(client: str, number: str, effect: str, name: str) -> dict[str, Any]:
    return contract(client, number, effect, AGNES_F, Nom=name, Agence="Rouvière")


ROWS = [
    # Effect 01/09 → due 01/12, window 24/11–08/12: à traiter, to call by 08/12 (late until
    # 01/01/2027, which is not the day to call by).
    row("201001", "K1", "01/09/2026", "Arnaud"),
    # Effect 05/09 → due 05/12, window 28/11–12/12: à traiter; 12/12 is a Saturday, so to
    # call by Friday 11/12.
    row("201002", "K2", "05/09/2026", "Bonnet"),
    # Effect 15/08 → due 15/11, window 08/11–22/11: late, possible until 15/12.
    row("201003", "K3", "15/08/2026", "Chevalier"),
    # Effect 20/08 → due 20/11, window 13/11–27/11: late, possible until 20/12, a Sunday: so
    # until Friday 18/12.
    row("201004", "K4", "20/08/2026", "Dupuis"),
    # Effect 10/08 → due 10/11, window 03/11–17/11: late, possible until 10/12.
    row("201005", "K5", "10/08/2026", "Étienne"),
    # Effect 18/08 → window 11/11–25/11; a second contract taking effect on 01/10 (before
    # 18/12, the first one's end) joins the case, which stays late until 01/02/2027.
    row("201006", "K6", "18/08/2026", "Fabre"),
    row("201006", "K7", "01/10/2026", "Fabre"),
]

# The most urgent first: the late ones by the day they stop being possible, then those to
# handle by their window's end (the order of the morning récapitulatif).
URGENCY = [
    ("201005", "Étienne", "10/12/2026"),
    ("201003", "Chevalier", "15/12/2026"),
    ("201004", "Dupuis", "18/12/2026"),
    ("201006", "Fabre", "01/02/2027"),
    ("201001", "Arnaud", "08/12/2026"),
    ("201002", "Bonnet", "11/12/2026"),
]
NAMES = {number: name for number, name, _ in URGENCY}


@pytest.fixture
def agency(m3: M3, tmp_path: Path) -> M3:
    return import_agency(m3, tmp_path, ROWS)


@pytest.fixture
def settings(agency: M3) -> Any:
    # 11:00 on a Tuesday: a time calls are allowed, so `/m3 done` opens the report.
    return load_settings(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        DATABASE_URL=agency.database_url,
        M3_NOW=f"{TODAY}T11:00:00",
    )


def ask(server: str, responses: Responses, text: str) -> dict[str, Any]:
    before = len(responses.bodies)
    assert slash(server, text, responses, user=ME) == 200
    answer: dict[str, Any] = responses.wait(before + 1)[-1]
    return answer


def opened(server: str, fake: FakeSlack, responses: Responses, text: str) -> dict[str, Any]:
    """The view `/m3 done …` ends up showing."""
    before = len(fake.calls_to("views.update"))
    assert slash(server, f"done {text}", responses, user=ME) == 200
    view: dict[str, Any] = wait_for(fake, "views.update", before + 1)[-1].params["view"]
    return view


def test_m3_cases_lists_the_late_first_by_their_last_day_then_the_windows_closing_soonest(
    agency: M3,
) -> None:
    listed = ok_json(agency, "cases", "--date", TODAY, today=TODAY)
    assert [c["client_number"] for c in listed] == [number for number, _, _ in URGENCY]
    assert [c["state"] for c in listed] == ["late"] * 4 + ["open"] * 2
    # The table's « Dernier jour » column, in the same order.
    table = ok(agency, "cases", "--date", TODAY, today=TODAY).stdout
    assert re.findall(r"\d\d/\d\d/\d{4}", table.split("\n", 1)[1]) == [d for *_, d in URGENCY]


def test_m3_list_puts_the_cases_in_the_same_order(
    server: str, responses: Responses, agency: M3
) -> None:
    text = flat(message_text(ask(server, responses, "list")))
    places = [text.index(f"Zoé {name}") for _, name, _ in URGENCY]
    assert places == sorted(places)


@pytest.mark.parametrize(
    ("client", "when"),
    [
        (
            "201001",
            "fenêtre du 24/11/2026 au 08/12/2026 · à traiter, à appeler avant le 08/12/2026",
        ),
        (
            "201006",
            "fenêtre du 11/11/2026 au 25/11/2026 · en retard, encore possible jusqu'au 01/02/2027",
        ),
    ],
)
def test_status_says_by_when_as_the_queue_does(
    server: str, responses: Responses, agency: M3, client: str, when: str
) -> None:
    answer = ask(server, responses, f"status {client}")
    text = flat(message_text(answer))
    assert when in text
    assert "dernier jour" not in text
    assert typography_problems(message_text(answer)) == []
    # The notification is plain text: the bold stars are for the blocks.
    assert answer["text"] == f"Zoé {NAMES[client]} (Particulier) — n° {client} · Agnès Fournier"


def test_m3_case_says_by_when_as_the_queue_does(agency: M3) -> None:
    text = ok(agency, "case", "201001", today=TODAY).stdout
    assert (
        "Fenêtre du 24/11/2026 au 08/12/2026 · à traiter, à appeler avant le 08/12/2026\n" in text
    )
    text = ok(agency, "case", "201006", today=TODAY).stdout
    assert "· en retard, encore possible jusqu'au 01/02/2027\n" in text
    assert "dernier jour" not in text


def test_the_report_says_by_when_as_the_queue_does(
    server: str, fake: FakeSlack, responses: Responses, agency: M3
) -> None:
    text = flat(view_text(opened(server, fake, responses, "201001")))
    assert "Auto · à traiter, à appeler avant le 08/12/2026 · 0/4 tentatives sur 30 jours" in text
    text = flat(view_text(opened(server, fake, responses, "201006")))
    assert "Auto · en retard, encore possible jusqu'au 01/02/2027 · 0/4 tentatives" in text


def test_the_picker_asks_in_french_typography_and_says_by_when(
    server: str, fake: FakeSlack, responses: Responses, agency: M3
) -> None:
    view = opened(server, fake, responses, "")
    assert view["callback_id"] == "capture_picker"
    assert view["title"]["text"] == "Quel client\u202f?"
    assert typography_problems(view_text(view)) == []
    options = {o["value"]: o["text"]["text"] for o in case_options(server, ME, view)}
    ids = {c["client_number"]: str(c["id"]) for c in ok_json(agency, "cases", today=TODAY)}
    assert options[ids["201001"]] == "Zoé Arnaud — n° 201001 (avant le 08/12/2026)"
    assert options[ids["201006"]] == "Zoé Fabre — n° 201006 (en retard, jusqu'au 01/02/2027)"


def test_the_report_thanks_in_french_typography(agency: M3, factory: sessionmaker[Session]) -> None:
    with factory() as session:
        (case,) = [c for c in list_cases(session, today=D) if c.client_number == "201001"]
    thanks = say(words().confirmation(case, "termine", [], "joint", None, None))
    assert thanks.endswith("Tout est fait. Merci\u202f!")
    assert typography_problems(thanks) == []


def test_a_window_ending_on_a_saturday_has_its_last_day_on_the_friday(agency: M3) -> None:
    """Bonnet's window ends on Saturday 12/12: on Friday 11/12 the morning queue says it is the
    last day (the agency does not call on Saturdays), the day before it says J-1."""
    friday = ok(agency, "digest", "--dry-run", "--date", "2026-12-11", today="2026-12-11").stdout
    (line,) = [line for line in friday.splitlines() if "Bonnet" in line]
    assert "dernier jour : à appeler aujourd'hui" in line.replace("*", "").replace("\u00a0", " ")
    thursday = ok(agency, "digest", "--dry-run", "--date", "2026-12-10", today="2026-12-10").stdout
    (line,) = [line for line in thursday.splitlines() if "Bonnet" in line]
    assert "J-1" in line and "11/12" in line

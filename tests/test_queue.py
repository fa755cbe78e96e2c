"""The order of an advisor's queue and what each surface shows of it, on a generated agency:
the morning récapitulatif (`m3 digest` to the fake Slack), `/m3 list` and the App Home.

Luc has a heavy queue: 30 late cases and 20 in their window; Agnès Bertrand has 130 cases.
Today is Tuesday 1 December 2026 (the previous working day, Monday 30/11). A contract's case
is late from the day after its window (due date + 7 days) to effect + 4 months, its last day;
in its window, the window's last day is the day to call by. Expected values are worked out
here from those rules and the dates written below, never by the code under test."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.agency import (
    AGNES_B,
    AGNES_F,
    LUC,
    SLACK_IDS,
    TODAY,
    address,
    click,
    fake,
    flat,
    import_agency,
    open_home,
    settings,
    today,
    wait_calls,
)
from tests.blocktext import as_text, message_text
from tests.conftest import M3
from tests.exports import contract
from tests.fakeslack import FakeSlack, check_blocks, check_view
from tests.slackkit import TOKEN, Responses, slash

__all__ = ["address", "fake", "settings", "today"]  # fixtures of tests/agency.py

DAY = dt.date(2026, 12, 1)


def months_later(day: dt.date, months: int) -> dt.date:
    """Month arithmetic of the domain page: 31 January + 3 months = 30 April."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    last = [31, 29 if year % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return dt.date(year, month, min(day.day, last))


def facts(effect: dt.date) -> dict[str, dt.date]:
    due = months_later(effect, 3)
    return {
        "window_start": due - dt.timedelta(days=7),
        "window_end": due + dt.timedelta(days=7),
        "last_day": months_later(effect, 4),
    }


# Late on 01/12: window over (due + 7 < 01/12) and last day not passed (effect + 4 months ≥
# 01/12): effects 01/08 to 23/08. In the window: effects 24/08 to 08/09.
LATE_EFFECTS = [dt.date(2026, 8, 1) + dt.timedelta(days=i % 23) for i in range(30)]
OPEN_EFFECTS = [dt.date(2026, 8, 24) + dt.timedelta(days=i % 16) for i in range(20)]


def client_rows(
    prefix: str, effects: list[dt.date], advisor: str, start: int = 0
) -> list[dict[str, str]]:
    return [
        contract(
            f"{prefix}{start + i:03d}",
            f"K{prefix}{start + i:03d}",
            effect.strftime("%d/%m/%Y"),
            advisor,
            **{
                "Nom": f"{prefix.upper()}{start + i:03d}",  # in capitals, as some exports do
                "Prénom": "Zoé",
                "Vendeur": "Luc Moreau",
                "E-mail": f"zoe.{prefix}{start + i:03d}@example.org",
            },
        )
        for i, effect in enumerate(effects)
    ]


@pytest.fixture
def agency(m3: M3, tmp_path: Path) -> M3:
    rows = client_rows("late", LATE_EFFECTS, LUC) + client_rows("open", OPEN_EFFECTS, LUC)
    # Agnès Bertrand: 40 late, 90 in their window.
    rows += client_rows("bl", [LATE_EFFECTS[i % 30] for i in range(40)], AGNES_B)
    rows += client_rows("bo", [OPEN_EFFECTS[i % 20] for i in range(90)], AGNES_B)
    # Agnès Fournier: one case, none late.
    rows += client_rows("af", [dt.date(2026, 9, 1)], AGNES_F)
    return import_agency(m3, tmp_path, rows)


def name(prefix: str, index: int) -> str:
    """The client as the bot shows it: « Zoé Late007 » (the export writes « LATE007 »)."""
    return f"Zoé {prefix.capitalize()}{index:03d}"


def expected_order(prefix: str, effects: list[dt.date], late: bool) -> list[str]:
    """Late cases by last day, the others by the window's last day; then by name."""
    key = "last_day" if late else "window_end"
    return [
        name(prefix, i)
        for i, _ in sorted(enumerate(effects), key=lambda p: (facts(p[1])[key], name(prefix, p[0])))
    ]


def shown_order(text: str, names: list[str]) -> list[str]:
    found = [(text.find(f"*{n}*"), n) for n in names]
    return [n for at, n in sorted(found) if at >= 0]


def run_digest(m3: M3, fake: FakeSlack) -> dict[str, Any]:
    result = CliRunner().invoke(
        app,
        ["digest", "--date", TODAY],
        env={
            "DATABASE_URL": m3.database_url,
            "M3_TODAY": TODAY,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": fake.url,
        },
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    posted = {c.params["channel"]: c.params for c in fake.calls_to("chat.postMessage")}
    return {email: posted["D" + uid] for email, uid in SLACK_IDS.items() if "D" + uid in posted}


def test_the_digest_shows_every_late_case_first_and_leaves_out_those_with_most_time_left(
    agency: M3, fake: FakeSlack
) -> None:
    message = run_digest(agency, fake)[LUC]
    assert len(message["blocks"]) <= 50 and check_blocks(message["blocks"], limit=50) == []
    text = message_text(message)
    late = expected_order("late", LATE_EFFECTS, late=True)
    in_window = expected_order("open", OPEN_EFFECTS, late=False)
    # Every late case, nearest to expiry first, before any other.
    assert shown_order(text, late + in_window)[: len(late)] == late
    # The cut leaves out the cases with the most time left: those shown are the first ones.
    shown = shown_order(text, in_window)
    assert 0 < len(shown) < len(in_window)
    assert shown == in_window[: len(shown)]
    left_out = len(in_window) - len(shown)
    assert (
        f"… et {left_out} autres dossiers, ceux qui ont le plus de temps devant eux : tapez "
        "`/m3 list` ou ouvrez l'onglet Accueil" in flat(text)
    )
    # Counts, late first; the header says « récapitulatif ».
    first = flat(text.splitlines()[1])
    assert first.startswith("*Récapitulatif M+3 du mardi 1er décembre* — 30 en retard · ")


def test_each_case_shows_its_last_day(agency: M3, fake: FakeSlack) -> None:
    text = flat(message_text(run_digest(agency, fake)[LUC]))
    # The most urgent on two lines. Effect 01/08: last day 01/12, today.
    assert "*Zoé Late000* — Auto · *dernier jour* : à appeler aujourd'hui\n" in text
    # Effect 02/08: last day 02/12 → J-1.
    assert "*Zoé Late001* — Auto · à appeler avant le 02/12 · J-1\n" in text
    # The next ones on one line. Effect 15/08: window 08/11–22/11, last day 15/12 → J-14.
    assert "*Zoé Late014* — Auto · avant le 15/12 · J-14 · 06 12 34 56 78" in text
    # Effect 24/08: due 24/11, window 17/11–01/12: its window closes today.
    assert "*Zoé Open000* — Auto · *dernier jour* · 06 12 34 56 78" in text
    # Two lines on a phone: no year for this year's dates, no effect date, no seller, no zero.
    case = text[text.index("*Zoé Late001*") :].split("\n")[:3]
    # (The export leaves the marital and professional status empty: 2 fields to complete.)
    assert case[1] == "06 12 34 56 78 · zoe.late001@example.org · 2 champs CRM manquants"
    assert case[2].startswith("[Préparer l'appel] [Compte rendu]")
    assert "2026" not in "".join(case) and "Effet" not in "".join(case)
    assert "vendu par" not in text and " 0 " not in text


def test_list_shows_the_whole_queue_and_points_nowhere(
    agency: M3, server: str, fake: FakeSlack, responses: Responses
) -> None:
    assert slash(server, "list", responses, user=SLACK_IDS[AGNES_B]) == 200
    (answer,) = responses.wait()
    assert answer["response_type"] == "ephemeral"
    assert len(answer["blocks"]) <= 50 and check_blocks(answer["blocks"], limit=50) == []
    text = as_text(answer["blocks"])
    late = expected_order("bl", [LATE_EFFECTS[i % 30] for i in range(40)], late=True)
    in_window = expected_order("bo", [OPEN_EFFECTS[i % 20] for i in range(90)], late=False)
    assert shown_order(text, late + in_window) == late + in_window  # all 130, in order
    assert "/m3 list" not in text and "Accueil" not in text and "autres dossiers" not in text


def test_app_home_pages_through_the_whole_queue(agency: M3, server: str, fake: FakeSlack) -> None:
    late = expected_order("bl", [LATE_EFFECTS[i % 30] for i in range(40)], late=True)
    in_window = expected_order("bo", [OPEN_EFFECTS[i % 20] for i in range(90)], late=False)
    user = SLACK_IDS[AGNES_B]
    view = open_home(server, fake, user)
    seen: list[str] = []
    pages = 0
    while True:
        pages += 1
        assert check_view(view) == [] and len(view["blocks"]) <= 100
        text = as_text(view["blocks"])
        assert "/m3 list" not in text and "onglet Accueil" not in text
        seen += shown_order(text, late + in_window)
        more = [
            e
            for b in view["blocks"]
            if b.get("block_id") == "home_pages"
            for e in b["elements"]
            if e["text"]["text"].startswith("Voir plus")
        ]
        if not more:
            break
        assert more[0]["text"]["text"] == f"Voir plus ({130 - len(seen)})"
        before = len(fake.calls_to("views.publish"))
        click(server, user, more[0]["action_id"], more[0]["value"])
        view = wait_calls(fake, "views.publish", before + 1)[-1].params["view"]
        assert f"Dossiers {len(seen) + 1} à " in flat(view["blocks"][0]["text"]["text"])
    assert pages > 1
    assert seen == late + in_window
    assert "[Revenir au début]" in as_text(view["blocks"])


def test_a_short_queue_fits_the_home_on_one_page(agency: M3, server: str, fake: FakeSlack) -> None:
    view = open_home(server, fake, SLACK_IDS[AGNES_F])
    text = flat(as_text(view["blocks"]))
    assert text.startswith("*File M+3 d'Agnès Fournier* — mardi 1er décembre\n")
    assert "Voir plus" not in text and "Dossiers" not in text
    # Effect 01/09: due 01/12, window 24/11–08/12 → J-7.
    assert "*Zoé Af000* — Auto · à appeler avant le 08/12 · J-7" in text

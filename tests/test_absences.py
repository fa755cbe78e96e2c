"""`/m3 absent` as an advisor uses it, through signed HTTP and the fake Slack: absences are
periods (several planned, listed, merged when they overlap), ending or cancelling one that has
not begun is not « Bon retour », and dates out of any sensible range are refused in French.
Also what `/m3` echoes back of an unknown text. Today is Tuesday 24/11/2026 (tests/slackkit)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.absences import Refusal, parse_day, parse_period
from bot.models import Advisor
from bot.settings import load_settings
from tests.conftest import M3
from tests.slackkit import JULIE, SECRET, TOKEN, Responses, slash

NB = "\u00a0"
TODAY = dt.date(2026, 11, 24)


def say(server: str, responses: Responses, text: str) -> str:
    """Send `/m3 <text>` as Julie; her answer's text."""
    count = len(responses.bodies) + 1
    assert slash(server, text, responses) == 200
    return str(responses.wait(count)[count - 1]["text"])


def periods(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    with factory() as session:
        julie = session.scalars(select(Advisor).where(Advisor.email == JULIE[1])).one()
        return [(a.start_on.isoformat(), a.end_on.isoformat()) for a in julie.absences]


def test_two_absences_planned_listed_and_a_future_one_cancelled(
    server: str, responses: Responses, factory: sessionmaker[Session]
) -> None:
    assert say(server, responses, "absent") == (
        f"Aucune absence prévue. Pour en déclarer une{NB}: `/m3 absent du JJ/MM au JJ/MM`."
    )
    first = say(server, responses, "absent du 30/11 au 04/12")
    assert first.startswith(f"C'est noté{NB}: pas de récapitulatif du 30/11/2026 au 04/12/2026.")
    # No managers' channel configured: the answer does not promise they will see the cases.
    assert "récapitulatif des managers" not in first
    assert "Prévenez votre manager" in first
    second = say(server, responses, "absent du 24/12 au 02/01")
    assert f"Vos autres absences prévues{NB}: du 30/11/2026 au 04/12/2026." in second
    assert periods(factory) == [("2026-11-30", "2026-12-04"), ("2026-12-24", "2027-01-02")]

    assert say(server, responses, "absent") == (
        "*Vos absences*\n"
        "• du 30/11/2026 au 04/12/2026\n"
        "• du 24/12/2026 au 02/01/2027\n"
        f"Pour en annuler une{NB}: `/m3 absent annuler JJ/MM`{NB}; pour revenir plus tôt{NB}:"
        " `/m3 absent fin`."
    )
    # « fin » with no absence going on cancels the next one: no « Bon retour ».
    ended = say(server, responses, "absent fin")
    assert ended == (
        f"Absence du 30/11/2026 au 04/12/2026 annulée{NB}: vos récapitulatifs continueront ces"
        " jours-là."
    )
    assert "Bon retour" not in ended
    assert periods(factory) == [("2026-12-24", "2027-01-02")]
    assert "annulée" in say(server, responses, "absent annuler 31/12")
    assert periods(factory) == []
    assert say(server, responses, "absent fin") == "Aucune absence en cours ni prévue."


def test_ending_the_absence_going_on_is_a_welcome_back(
    server: str, responses: Responses, factory: sessionmaker[Session]
) -> None:
    say(server, responses, "absent du 20/11 au 27/11")
    listed = say(server, responses, "absent")
    assert "• du 20/11/2026 au 27/11/2026 (en cours)" in listed
    assert say(server, responses, "absent fin") == (
        f"Bon retour{NB}! Vos récapitulatifs reprennent au prochain matin ouvré."
    )
    # The absence ended yesterday: today's digest is hers again.
    assert periods(factory) == [("2026-11-20", "2026-11-23")]
    with factory() as session:
        julie = session.scalars(select(Advisor).where(Advisor.email == JULIE[1])).one()
        assert not julie.absent_on(TODAY) and julie.absent_on(dt.date(2026, 11, 23))


def test_an_overlapping_absence_is_merged(
    server: str, responses: Responses, factory: sessionmaker[Session]
) -> None:
    say(server, responses, "absent du 30/11 au 04/12")
    merged = say(server, responses, "absent du 03/12 au 11/12")
    assert "du 30/11/2026 au 11/12/2026 (jointe à l'absence déjà prévue)" in merged
    assert periods(factory) == [("2026-11-30", "2026-12-11")]


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (
            "absent du 01/01/1900 au 01/01/3000",
            "Une absence ne peut pas commencer plus d'un mois avant aujourd'hui",
        ),
        ("absent du 01/12/2026 au 15/12/2027", "Une absence dure au plus un an"),
        ("absent du 01/01/2028 au 05/01/2028", "Une absence se déclare au plus un an à l'avance"),
        ("absent du 02/11 au 06/11", "Cette absence est déjà terminée"),
        ("absent du 05/12/2026 au 01/12/2026", "La fin de l'absence est avant son début"),
        ("absent du 31/02 au 03/03", "Je n'ai pas compris les dates"),
        ("absent demain", "Exemple" + NB + ": `/m3 absent du 24/12 au 02/01`"),
    ],
)
def test_dates_out_of_range_are_refused_in_french(
    server: str, responses: Responses, factory: sessionmaker[Session], text: str, answer: str
) -> None:
    assert answer in say(server, responses, text)
    assert periods(factory) == []


def test_the_answer_promises_the_managers_only_when_they_have_a_channel(
    loaded: M3, fake: Any, factory: sessionmaker[Session], responses: Responses
) -> None:
    import threading
    from wsgiref.simple_server import make_server

    from slack_sdk import WebClient

    from bot.app import create_app
    from bot.web import wsgi_app
    from tests.slackkit import _Quiet

    settings = load_settings(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        DATABASE_URL=loaded.database_url,
        M3_TODAY="2026-11-24",
        M3_MANAGERS_CHANNEL="C0MANAGERS",
    )
    app = create_app(settings, client=WebClient(token=TOKEN, base_url=fake.url), factory=factory)
    httpd = make_server("127.0.0.1", 0, wsgi_app(app), handler_class=_Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        answer = say(
            f"http://127.0.0.1:{httpd.server_address[1]}", responses, "absent du 30/11 au 04/12"
        )
    finally:
        httpd.shutdown()
    assert answer.endswith(
        "Vos dossiers apparaîtront dans le récapitulatif des managers pour que quelqu'un les"
        " appelle."
    )


def test_an_unknown_text_is_echoed_back_cut_short(server: str, responses: Responses) -> None:
    huge = "bonjour " + "x" * 1_000_000
    assert slash(server, huge, responses) == 200
    (answer,) = responses.wait()
    shown = "bonjour " + "x" * 51 + "…"
    assert len(shown) == 60
    assert answer["text"].startswith(f"Commande inconnue «{NB}{shown}{NB}».")
    assert len(answer["text"]) < 1000
    assert len(str(answer["blocks"])) < 2000


# --- The rules of a period, on their own ---------------------------------------------------


def test_periods_read_from_french_dates() -> None:
    assert parse_period("du 24/12 au 02/01", TODAY) == (dt.date(2026, 12, 24), dt.date(2027, 1, 2))
    assert parse_period("DU  30.11.26  AU 4-12-2026", TODAY) == (
        dt.date(2026, 11, 30),
        dt.date(2026, 12, 4),
    )
    # A month back at most: 24/10 is today − 31 days, 23/10 is next year's.
    assert parse_period("du 24/10 au 25/11", TODAY) == (
        dt.date(2026, 10, 24),
        dt.date(2026, 11, 25),
    )
    assert parse_period("du 23/10/2026 au 25/11/2026", TODAY) is Refusal.TOO_EARLY
    # A year at most: 01/12/2026 + 365 days = 01/12/2027.
    assert parse_period("du 01/12/2026 au 01/12/2027", TODAY) == (
        dt.date(2026, 12, 1),
        dt.date(2027, 12, 1),
    )
    assert parse_period("du 01/12/2026 au 02/12/2027", TODAY) is Refusal.TOO_LONG
    assert parse_day("le 31/12", TODAY) == dt.date(2026, 12, 31)
    assert parse_day("32/12", TODAY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The end a few days before the start, in the same month: a slip, not a year away.
        ("du 10/12 au 05/12", Refusal.END_BEFORE_START),
        ("du 30/12 au 01/12", Refusal.END_BEFORE_START),
        # Across the New Year, the end is in the next year.
        ("du 28/12 au 03/01", (dt.date(2026, 12, 28), dt.date(2027, 1, 3))),
        ("du 20/12 au 15/02", (dt.date(2026, 12, 20), dt.date(2027, 2, 15))),
    ],
)
def test_an_end_before_the_start_rolls_over_only_across_the_new_year(
    text: str, expected: object
) -> None:
    assert parse_period(text, TODAY) == expected

"""French typography in what advisors read of their queue (récapitulatif, `/m3 list`, App Home,
« Préparer l'appel »), over every advisor and case of the sample export: a no-break space
before « : ; ? ! » and inside « », « d' » before a vowel, no « (s) » plurals, « récapitulatif »
and never « digest »."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks.digest import digest_message, list_message
from bot.blocks.home import home_view
from bot.blocks.prepare import prepare_modal
from bot.cases.queries import queues_for
from bot.rules import previous_working_day
from tests.blocktext import as_text, message_text, view_text
from tests.conftest import M3

NO_BREAK = "\u00a0\u202f"
# Not text: links, code (`/m3 list`), emoji codes (:tada:), times (15:30).
_NOT_TEXT = re.compile(r"<[^>]*>|`[^`]*`|:[a-z_]+:|\d\d:\d\d")


def typography_problems(text: str) -> list[str]:
    problems = []
    words = _NOT_TEXT.sub("", text)
    for match in re.finditer(r"(.)([:;?!])", words):
        if match.group(1) not in NO_BREAK:
            problems.append(
                f"no no-break space before {match.group(2)!r}: …{_around(words, match)}…"
            )
    for match in re.finditer(r"«(.)|(.)»", words):
        if (match.group(1) or match.group(2)) not in NO_BREAK:
            problems.append(f"no no-break space inside « »: …{_around(words, match)}…")
    for match in re.finditer(r"\bde [AEIOUYÀÂÉÈÊÎÔÛH]", words):
        problems.append(f"no elision: …{_around(words, match)}…")
    if "(s)" in words:
        problems.append("a « (s) » plural")
    if "digest" in words.casefold():
        problems.append("« digest » where people read")
    return problems


def _around(text: str, match: re.Match[str]) -> str:
    return text[max(0, match.start() - 25) : match.end() + 10].replace("\n", " ")


def test_the_checker_finds_each_fault() -> None:
    assert typography_problems("Nouvelle tentative\u00a0: ok\u202f? «\u202fa\u202f» d'Agnès") == []
    assert len(typography_problems("Tentative : ok ? « a » de Agnès, 2 dossier(s), digest")) == 7


@pytest.mark.parametrize("day", [dt.date(2026, 11, 24), dt.date(2026, 12, 15)])
def test_what_advisors_read_of_the_sample(
    loaded: M3, factory: sessionmaker[Session], day: dt.date
) -> None:
    with factory() as session:
        queues = queues_for(session, today=day, since=previous_working_day(day))
    texts: list[str] = []
    for queue in queues:
        texts.append(message_text(digest_message(queue)))
        texts.append(message_text(list_message(queue)))
        texts.append(as_text(home_view(queue, queue.advisor, day)["blocks"]))
        for case in queue.late + queue.to_handle + queue.new:
            texts.append(view_text(prepare_modal(case, day)))
            texts.append(view_text(prepare_modal(case, day, "civilite")))
    assert len(texts) > 40
    problems = {p for text in texts for p in typography_problems(text)}
    assert sorted(problems) == []

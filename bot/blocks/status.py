"""`/m3 status <client>`: one client's case as it stands — state, window, status, the four
tags, every attempt, the review, open next actions and corrections — with the buttons that fit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bot.blocks.capture import open_button, words
from bot.blocks.common import Block, section
from bot.blocks.queue import prepare_button
from bot.cases.views import CaseView
from bot.rules import CaseState


def status_message(
    case: CaseView, *, review: Any, corrections: Sequence[Any], today: dt.date
) -> dict[str, Any]:
    """`review` (a `CaseReview` or None) and `corrections` (pending `Correction`s) as stored."""
    text = str(words().status_text(case, review, corrections, today)).strip()
    blocks: list[Block] = [section(chunk) for chunk in _chunks(text)]
    if case.state in (CaseState.OPEN, CaseState.LATE):
        blocks.append({"type": "actions", "elements": [prepare_button(case), open_button(case.id)]})
    # The notification text is plain, as `/m3 help`'s: the bold stars are for the blocks only.
    return {"text": text.split("\n", 1)[0].replace("*", ""), "blocks": blocks}


def candidates_message(query: str, cases: Sequence[CaseView]) -> dict[str, Any]:
    text = str(words().status_candidates(query, cases)).strip()
    return {"text": text, "blocks": [section(text)]}


def _chunks(text: str, size: int = 2900) -> list[str]:
    """Sections of at most `size` characters, cut at line ends."""
    chunks: list[str] = []
    for line in text.split("\n"):
        if chunks and len(chunks[-1]) + 1 + len(line) <= size:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line[:size])
    return chunks[:40]

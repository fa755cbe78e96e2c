"""A queue of cases as blocks: one section per case with its buttons, grouped into the new,
à traiter and en retard sections, cut to the surface's block limit. Used by the digest, `/m3
list` and the App Home."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import Block, context, divider, section, texts
from bot.cases.queries import Queue
from bot.cases.views import CaseView

PREPARE_ACTION = "prepare_call"


def case_blocks(case: CaseView) -> list[Block]:
    button = {
        "type": "button",
        "action_id": PREPARE_ACTION,
        "text": {"type": "plain_text", "text": str(texts().prepare_button()).strip()},
        "value": str(case.id),
    }
    return [section(texts().case_text(case), accessory=button)]


def queue_blocks(queue: Queue, *, limit: int, header: Any) -> list[Block]:
    """The queue's sections, the most urgent first, cut to `limit` blocks with a pointer to
    `/m3 list` and the App Home when it does not fit."""
    blocks: list[Block] = [section(header)]
    sections = [("new", queue.new), ("to_handle", queue.to_handle), ("late", queue.late)]
    shown = 0
    # Reserve room for the "… et N autres" line.
    room = limit - len(blocks) - 1
    for kind, cases in sections:
        if not cases:
            continue
        if room < 3:
            break
        blocks += [divider(), section(texts().section_title(kind, len(cases)))]
        room -= 2
        for case in cases:
            if room < 1:
                break
            blocks += case_blocks(case)
            room -= 1
            shown += 1
    if shown < queue.total:
        blocks.append(context(texts().more_cases(queue.total - shown)))
    return blocks

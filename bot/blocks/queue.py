"""A queue of cases as blocks: one section per case with its buttons, grouped into the new,
à traiter and en retard sections, cut to the surface's block limit. Used by the digest, `/m3
list` and the App Home."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.blocks.capture import open_button
from bot.blocks.common import Block, context, divider, section, texts
from bot.cases.queries import AgendaItem, Queue
from bot.cases.views import CaseView

PREPARE_ACTION = "prepare_call"
ACTION_DONE = "next_action_done"  # the « Fait » button of a next action; its value is its id


def _button(action_id: str, text: Any, value: object) -> Block:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": str(text).strip()},
        "value": str(value),
    }


def case_blocks(case: CaseView) -> list[Block]:
    """The case's lines, then its two buttons: prepare the call, report on it."""
    buttons = [_button(PREPARE_ACTION, texts().prepare_button(), case.id), open_button(case.id)]
    return [
        section(texts().case_text(case)),
        {"type": "actions", "block_id": f"case_{case.id}", "elements": buttons},
    ]


def agenda_blocks(item: AgendaItem, today: dt.date) -> list[Block]:
    """A callback, next try or next action due today, with the button that closes it."""
    if item.action is not None:
        button = _button(ACTION_DONE, texts().action_done_button(), item.action.id)
    else:
        button = open_button(item.case.id)
    return [section(texts().agenda_text(item, today), accessory=button)]


def queue_blocks(queue: Queue, *, limit: int, header: Any) -> list[Block]:
    """Today's callbacks and actions, then the queue's sections, the most urgent first, cut to
    `limit` blocks with a pointer to `/m3 list` and the App Home when it does not fit."""
    blocks: list[Block] = [section(header)]
    shown = 0
    # Reserve room for the "… et N autres" line.
    room = limit - len(blocks) - 1
    if queue.agenda:
        blocks += [divider(), section(texts().agenda_title(len(queue.agenda)))]
        room -= 2
        for item in queue.agenda:
            if room < 1:
                break
            blocks += agenda_blocks(item, queue.today)
            room -= 1
    sections = [("new", queue.new), ("to_handle", queue.to_handle), ("late", queue.late)]
    for kind, cases in sections:
        if not cases:
            continue
        if room < 4:
            break
        blocks += [divider(), section(texts().section_title(kind, len(cases)))]
        room -= 2
        for case in cases:
            if room < 2:
                break
            blocks += case_blocks(case)
            room -= 2
            shown += 1
    if shown < queue.total:
        blocks.append(context(texts().more_cases(queue.total - shown)))
    return blocks

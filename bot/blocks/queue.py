"""An advisor's queue as blocks, for the morning récapitulatif, `/m3 list` and the App Home.

Order: « Rappels et actions du jour » first, then the cases by urgency (`Queue.by_urgency`):
en retard (nearest to expiry first), à traiter, nouveaux (window closing soonest first). The
first `FULL_CASES` cases show on two lines with both buttons (« Préparer l'appel », « Compte
rendu »); the next ones on one line with « Préparer l'appel » (the modal holds « Compte rendu »).

Slack's limits decide the rest (`plan`), each surface its own way:
- the récapitulatif (50 blocks) leaves out the cases with the most time left, never a late one,
  and says where to see them all (`/m3 list`, the App Home);
- `/m3 list` (50 blocks) shows the whole queue: when one block a case does not fit, the last
  lines are packed several to a block (without buttons);
- the App Home (100 blocks) shows the whole queue by pages, with « Voir plus ».
None of them points the reader back to where they already are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from bot.blocks.capture import open_button
from bot.blocks.common import Block, context, divider, section, slack_words
from bot.cases.queries import AgendaItem, Queue
from bot.cases.views import CaseView

PREPARE_ACTION = "prepare_call"
ACTION_DONE = "next_action_done"  # the « Fait » button of a next action; its value is its id
HOME_PAGE_ACTION = "home_page"  # « Voir plus » / « Revenir au début »; its value is the offset

FULL_CASES = 5  # the most urgent cases, on two lines with both buttons
PACKED_LINES = 10  # one-line cases per block when a message must pack them
AGENDA_BLOCKS = 15  # today's reminders with their own button; more are packed
SECTIONS = ("late", "to_handle", "new")


def words() -> Any:
    return slack_words("queue")


def say(value: Any) -> str:
    return str(value).strip()


def _button(action_id: str, text: Any, value: object) -> Block:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": say(text)},
        "value": str(value),
    }


def prepare_button(case: CaseView) -> Block:
    return _button(PREPARE_ACTION, words().prepare_button(), case.id)


def case_blocks(case: CaseView, today: dt.date) -> list[Block]:
    """A case on two lines, then its two buttons: prepare the call, report on it."""
    return [
        section(words().case_text(case, today)),
        {
            "type": "actions",
            "block_id": f"case_{case.id}",
            "elements": [prepare_button(case), open_button(case.id)],
        },
    ]


def in_progress_blocks(case: CaseView, today: dt.date) -> list[Block]:
    """A case whose client was reached: its lines, its tags, and its two buttons."""
    blocks = case_blocks(case, today)
    blocks[0] = section(words().in_progress_text(case, today))
    return blocks


def case_line_block(case: CaseView, today: dt.date) -> Block:
    """A case on one line, with « Préparer l'appel »."""
    return section(words().case_line(case, today), accessory=prepare_button(case))


def agenda_blocks(item: AgendaItem, today: dt.date) -> list[Block]:
    """A callback, next try or next action due today, with the button that closes it."""
    if item.action is not None:
        button = _button(ACTION_DONE, words().action_done_button(), item.action.id)
    else:
        button = open_button(item.case.id)
    return [section(words().agenda_text(item, today), accessory=button)]


# --- What fits --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How many of the cases ranked by urgency are shown (`kept`, the first ones), how many of
    those on two lines (`full`, the first ones) and how many packed without buttons (`packed`,
    the last kept ones); the others kept show on one line each."""

    kept: int
    full: int
    packed: int = 0


def _ceil(count: int, size: int) -> int:
    return -(-count // size)


def _overlap(start: int, end: int, lo: int, hi: int) -> int:
    return max(0, min(end, hi) - max(start, lo))


def cost(sizes: list[int], plan: Plan) -> int:
    """Blocks the cases take: per section shown, a divider and a title, then two blocks per
    case in full, one per case on its line, one per `PACKED_LINES` packed lines. `sizes` are
    the sections' lengths, in the order the ranking runs through them."""
    total = start = 0
    for size in sizes:
        end = start + size
        kept = _overlap(start, end, 0, plan.kept)
        if kept:
            full = _overlap(start, end, 0, plan.full)
            packed = _overlap(start, end, plan.kept - plan.packed, plan.kept)
            total += 2 + 2 * full + (kept - full - packed) + _ceil(packed, PACKED_LINES)
        start = end
    return total


def plan(sizes: list[int], room: int, *, full: int, keep: int, pack: bool) -> Plan:
    """The richest layout of the ranked cases within `room` blocks. The first `full` cases in
    full if at all possible (fewer only when even the first `keep` cases would not fit
    otherwise), then as many cases as fit, down to the first `keep`; then, with `pack`, lines
    packed several to a block rather than leaving out any of the first `keep`. The cases left
    out are always the last ones: those with the most time left."""
    count = sum(sizes)
    keep = min(keep, count)
    for in_full in range(min(full, count), -1, -1):
        for kept in range(count, max(keep, in_full) - 1, -1):
            if cost(sizes, Plan(kept, in_full)) <= room:
                return Plan(kept, in_full)
    for kept in range(keep, 0, -1):
        for in_full in range(min(full, kept), -1, -1) if pack else ():
            for lines in range(kept - in_full, -1, -1):
                candidate = Plan(kept, in_full, kept - in_full - lines)
                if cost(sizes, candidate) <= room:
                    return candidate
    return Plan(0, 0)


def _agenda_cost(count: int) -> int:
    if not count:
        return 0
    shown = min(count, AGENDA_BLOCKS)
    return 2 + shown + _ceil(count - shown, PACKED_LINES)


def agenda_section(items: list[AgendaItem], today: dt.date) -> list[Block]:
    if not items:
        return []
    blocks = [divider(), section(words().agenda_title(len(items)))]
    for item in items[:AGENDA_BLOCKS]:
        blocks += agenda_blocks(item, today)
    rest = items[AGENDA_BLOCKS:]
    for start in range(0, len(rest), PACKED_LINES):
        lines = [say(words().agenda_line(i, today)) for i in rest[start : start + PACKED_LINES]]
        blocks.append(section("\n".join(lines)))
    return blocks


def cases_section(queue: Queue, ranked: list[tuple[str, CaseView]], layout: Plan) -> list[Block]:
    """The cases `ranked[:layout.kept]` under their sections' titles (each title counts the
    whole section, whatever is shown of it)."""
    today = queue.today
    counts = {"late": len(queue.late), "to_handle": len(queue.to_handle), "new": len(queue.new)}
    blocks: list[Block] = []
    packed: list[str] = []

    def flush() -> None:
        for start in range(0, len(packed), PACKED_LINES):
            blocks.append(section("\n".join(packed[start : start + PACKED_LINES])))
        packed.clear()

    current = None
    for index, (kind, case) in enumerate(ranked[: layout.kept]):
        if kind != current:
            flush()
            blocks += [divider(), section(words().section_title(kind, counts[kind]))]
            current = kind
        if index < layout.full:
            blocks += case_blocks(case, today)
        elif index >= layout.kept - layout.packed:
            packed.append(say(words().case_line(case, today)))
        else:
            blocks.append(case_line_block(case, today))
    flush()
    return blocks


def _sizes(ranked: list[tuple[str, CaseView]]) -> list[int]:
    return [sum(1 for kind, _ in ranked if kind == section) for section in SECTIONS]


def message_blocks(queue: Queue, *, limit: int, header: Any, surface: str) -> list[Block]:
    """The queue in a message (`surface`: "digest" or "list"). The récapitulatif may leave out
    the cases with the most time left (never a late one); the list packs rather than leaves out."""
    blocks: list[Block] = [section(header)]
    blocks += agenda_section(queue.agenda, queue.today)
    ranked = queue.by_urgency()
    sizes = _sizes(ranked)
    room = limit - len(blocks)
    keep = len(queue.late) if surface == "digest" else len(ranked)
    layout = plan(sizes, room, full=FULL_CASES, keep=len(ranked), pack=False)
    if layout.kept < len(ranked):  # room for the line that says what was left out
        layout = plan(sizes, room - 1, full=FULL_CASES, keep=keep, pack=True)
    blocks += cases_section(queue, ranked, layout)
    if layout.kept < len(ranked):
        blocks.append(context(words().more_cases(len(ranked) - layout.kept, surface)))
    return blocks


@dataclass(frozen=True)
class Page:
    blocks: list[Block]
    first: int  # 1-based rank of the first case shown, 0 when none
    last: int
    total: int


def home_page(queue: Queue, *, limit: int, offset: int) -> Page:
    """One page of the App Home's queue, from the `offset`-th case by urgency: the first page
    with today's reminders and the first cases in full, the next ones a line a case; « Voir
    plus » when cases remain, « Revenir au début » after the first page."""
    ranked = queue.by_urgency()
    offset = max(0, min(offset, max(len(ranked) - 1, 0)))
    blocks = agenda_section(queue.agenda, queue.today) if offset == 0 else []
    rest = ranked[offset:]
    sizes = _sizes(rest)
    full = FULL_CASES if offset == 0 else 0
    room = limit - len(blocks) - (1 if offset else 0)  # « Revenir au début »
    layout = plan(sizes, room, full=full, keep=len(rest), pack=False)
    if layout.kept < len(rest):  # room for « Voir plus » too
        room = limit - len(blocks) - 1
        layout = plan(sizes, room, full=full, keep=1, pack=False)
    blocks += cases_section(queue, rest, layout)
    shown_to = offset + layout.kept
    buttons: list[Block] = []
    if shown_to < len(ranked):
        more = _button(HOME_PAGE_ACTION, words().more_button(len(ranked) - shown_to), shown_to)
        buttons.append(more | {"style": "primary"})
    if offset > 0:
        buttons.append(_button(HOME_PAGE_ACTION, words().first_page_button(), 0))
    if buttons:
        blocks.append({"type": "actions", "block_id": "home_pages", "elements": buttons})
    first = offset + 1 if layout.kept else 0
    return Page(blocks=blocks, first=first, last=shown_to, total=len(ranked))

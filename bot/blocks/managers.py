"""The managers' daily summary in their channel: totals per branch, then per advisor, windows
closing today flagged; then the cases nobody is going to call (absent or departed advisor),
each with its product, phone and last day, « Je le prends » and « Confier à… ».

Also the blocks the App Home's team view shares with it (`unattended_blocks`)."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import (
    MESSAGE_BLOCK_LIMIT,
    TEXT_LIMIT,
    Block,
    context,
    divider,
    section,
)
from bot.cases.views import CaseView
from bot.rendering import environment
from bot.team import AdvisorLine, TeamQueue

TAKE_ACTION = "take_case"  # « Je le prends »: the case goes to whoever clicks
GIVE_ACTION = "give_case"  # « Confier à… »: a manager picks the Slack user to give it to
TAKE_BLOCK_PREFIX = "take:"  # block_id `take:<case id>:<advisor id the case was shown with>`


def words() -> Any:
    """The managers' texts module (templates/slack/managers.j2)."""
    return environment().get_template("slack/managers.j2").module


def say(value: Any) -> str:
    return str(value).strip()


def take_block_id(case_id: int, advisor_id: int) -> str:
    return f"{TAKE_BLOCK_PREFIX}{case_id}:{advisor_id}"


def parse_take_block_id(block_id: str) -> tuple[int, int] | None:
    """(case id, advisor id) from a « Je le prends » block, None when it is not one."""
    if not block_id.startswith(TAKE_BLOCK_PREFIX):
        return None
    case_id, _, advisor_id = block_id[len(TAKE_BLOCK_PREFIX) :].partition(":")
    try:
        return int(case_id), int(advisor_id)
    except ValueError:
        return None


def packed_sections(lines: list[str]) -> list[Block]:
    """Lines packed into as few sections as Slack's 3 000 characters allow (a large agency's
    list is never cut mid-line)."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= TEXT_LIMIT:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return [section(chunk) for chunk in chunks]


def unattended_blocks(line: AdvisorLine, case: CaseView, today: Any) -> list[Block]:
    """A case someone else must call: its lines, then « Je le prends » and « Confier à… »."""
    return [
        section(say(words().unattended_case(line, case, today))),
        {
            "type": "actions",
            "block_id": take_block_id(case.id, line.advisor.id),
            "elements": [
                {
                    "type": "button",
                    "action_id": TAKE_ACTION,
                    "style": "primary",
                    "text": {"type": "plain_text", "text": say(words().take_button())},
                    "value": str(case.id),
                },
                {
                    "type": "users_select",
                    "action_id": GIVE_ACTION,
                    "placeholder": {"type": "plain_text", "text": say(words().give_placeholder())},
                },
            ],
        },
    ]


def count_lines(team: TeamQueue) -> list[str]:
    """Per branch its totals, then one line per advisor."""
    lines: list[str] = []
    for group in team.branches:
        lines.append(say(words().branch_line(group)))
        lines += [say(words().advisor_line(line)) for line in group.lines]
    return lines


def managers_summary(team: TeamQueue) -> dict[str, Any]:
    """The summary message: its plain notification text and its blocks (50 at most; the cases
    to share out that do not fit point to the App Home, which lists them all)."""
    blocks: list[Block] = [section(say(words().summary_title(team.today)))]
    blocks += packed_sections(count_lines(team))
    blocks = blocks[:MESSAGE_BLOCK_LIMIT]
    unattended = team.unattended
    if unattended and len(blocks) + 4 <= MESSAGE_BLOCK_LIMIT:
        blocks += [divider(), section(say(words().unattended_title(len(unattended))))]
        shown = 0
        for line, case in unattended:
            # Two blocks per case, and room kept for the "… et N autres" line but after the last.
            last = shown == len(unattended) - 1
            if len(blocks) + 2 + (0 if last else 1) > MESSAGE_BLOCK_LIMIT:
                break
            blocks += unattended_blocks(line, case, team.today)
            shown += 1
        if shown < len(unattended):
            blocks.append(context(say(words().more_unattended(len(unattended) - shown))))
    return {"text": say(words().summary_fallback(team)), "blocks": blocks}


def replace_taken(blocks: list[Block], case_id: int, line: str) -> list[Block]:
    """The message's blocks with a case's two blocks replaced by one line saying who took it
    (the rest of the summary unchanged)."""
    out: list[Block] = []
    for block in blocks:
        found = parse_take_block_id(str(block.get("block_id", "")))
        if found is not None and found[0] == case_id:
            if out and out[-1].get("type") == "section":
                out.pop()  # the case's text goes with its buttons
            out.append(section(line))
            continue
        out.append(block)
    return out

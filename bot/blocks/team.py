"""A manager's App Home: the team's queue — the cases to share out first (absent or departed
advisor, with « Je le prends »), then each advisor's cases, by branch — with a branch filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.blocks.common import TEXT_LIMIT, VIEW_BLOCK_LIMIT, Block, context, divider, section
from bot.blocks.managers import say, unattended_blocks, words
from bot.team import TeamQueue

BRANCH_ACTION = "team_branch"  # the branch filter (a static_select); its value is the branch
FILTER_BLOCK = "team_filter"
ALL_BRANCHES = "*"
CASES_PER_ADVISOR = 10
# The advisors' lines get at most this many blocks; the cases to share out the rest.
TEAM_BLOCKS = 40


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value[:150]}


def branch_filter(branches: Sequence[str], current: str | None) -> Block:
    everyone = _option(say(words().all_branches()), ALL_BRANCHES)
    options = [everyone] + [_option(name, name) for name in branches]
    chosen = next((o for o in options if current is not None and o["value"] == current), everyone)
    return {
        "type": "actions",
        "block_id": FILTER_BLOCK,
        "elements": [
            {
                "type": "static_select",
                "action_id": BRANCH_ACTION,
                "placeholder": {"type": "plain_text", "text": say(words().branch_filter())},
                "options": options,
                "initial_option": chosen,
            }
        ],
    }


def _advisor_sections(team: TeamQueue, room: int) -> list[Block]:
    """Each branch's totals, then each advisor's line and cases, packed into sections; cut to
    `room` blocks with a pointer to the branch filter when the agency is that large."""
    items: list[tuple[str, int]] = []  # a text, and how many advisors it shows
    for group in team.branches:
        items.append((say(words().branch_line(group)), 0))
        for line in group.lines:
            shown = line.cases[:CASES_PER_ADVISOR]
            items.append((say(words().advisor_cases(line, shown, team.today)), 1))
    chunks: list[tuple[str, int]] = []
    for text, advisors in items:
        if chunks and len(chunks[-1][0]) + 1 + len(text) <= TEXT_LIMIT:
            chunks[-1] = (chunks[-1][0] + "\n" + text, chunks[-1][1] + advisors)
        else:
            chunks.append((text, advisors))
    if len(chunks) <= room:
        return [section(text) for text, _ in chunks]
    kept = chunks[: room - 1]
    left = len(team.lines) - sum(advisors for _, advisors in kept)
    return [section(text) for text, _ in kept] + [context(say(words().more_advisors(left)))]


def team_home(team: TeamQueue, *, branches: Sequence[str], own_cases: int = 0) -> dict[str, Any]:
    """The manager's App Home view for `team` (already filtered on `team.branch`)."""
    blocks: list[Block] = [section(say(words().team_title(team)))]
    if len(branches) > 1:
        blocks.append(branch_filter(branches, team.branch))
    if own_cases:
        blocks.append(context(say(words().own_queue(own_cases))))
    if team.empty:
        blocks.append(section(say(words().team_empty())))
        return {"type": "home", "blocks": blocks}
    team_sections = _advisor_sections(team, TEAM_BLOCKS)
    unattended = team.unattended
    if unattended:
        # Title and divider, two blocks a case, one for "… et N autres", the team's sections.
        room = VIEW_BLOCK_LIMIT - len(blocks) - 2 - 1 - 2 - len(team_sections)
        fits = unattended if 2 * len(unattended) <= room + 1 else unattended[: room // 2]
        blocks += [divider(), section(say(words().unattended_title(len(unattended))))]
        for line, case in fits:
            blocks += unattended_blocks(line, case, team.today)
        if len(fits) < len(unattended):
            blocks.append(context(say(words().more_unattended_home(len(unattended) - len(fits)))))
    blocks += [divider(), section(say(words().by_advisor_title()))]
    blocks += team_sections
    return {"type": "home", "blocks": blocks[:VIEW_BLOCK_LIMIT]}

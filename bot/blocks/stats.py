"""Block Kit for `/m3 stats` and the weekly summary: a title, one `table` block (the agency, each
branch and each advisor: Slack allows one table per message, 100 rows and 20 columns) — or one
section per line when the lines do not fit — then the whole scope's rates, tags, corrections,
multi-equipment, gaps and next actions as sections. No client is named anywhere."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import MESSAGE_BLOCK_LIMIT, Block, context, divider, section
from bot.calls import Product
from bot.rendering import environment
from bot.stats import (
    ACTIONS_DEFINITION,
    ACTIONS_LABEL,
    CALLS,
    CRM,
    EQUIPMENT,
    FIGURE_BY_KEY,
    FIGURES,
    GAPS_DEFINITION,
    GAPS_LABEL,
    GROUPS,
    TAGS,
    ActionState,
    Line,
    Report,
    display,
)

# The columns of the table: the funnel and the three rates a manager reads first.
TABLE_FIGURES: tuple[str, ...] = (
    "opened",
    "called",
    "reached",
    "done",
    "done_on_time",
    "done_late",
    "in_progress",
    "to_do",
    "upcoming",
    "expired",
    "cancelled",
    "reach_rate",
    "crm_rate",
    "review_rate",
)
TABLE_ROWS = 100  # Slack's limit, the header row included
SECTION_LINES = 30  # lines shown as sections when the table does not fit


def words() -> Any:
    return environment().get_template("slack/stats.j2").module


def say(value: Any) -> str:
    return str(value).strip()


def _cell(text: str) -> dict[str, str]:
    return {"type": "raw_text", "text": text or "—"}


def _line_name(line: Line) -> str:
    return say(words().level_label(line))


def lines_table(report: Report) -> Block:
    figures = [FIGURE_BY_KEY[key] for key in TABLE_FIGURES]
    header = [_cell(say(words().team_column()))] + [_cell(f.label) for f in figures]
    rows = [header] + [
        [_cell(_line_name(line))] + [_cell(display(f, line.value(f))) for f in figures]
        for line in report.lines
    ]
    return {
        "type": "table",
        "column_settings": [{"is_wrapped": True}] + [{"align": "right"} for _ in figures],
        "rows": rows,
    }


def _line_sections(report: Report) -> list[Block]:
    figures = [FIGURE_BY_KEY[key] for key in TABLE_FIGURES]
    blocks: list[Block] = []
    for line in report.lines[:SECTION_LINES]:
        cells = [(f.label, display(f, line.value(f))) for f in figures]
        blocks.append(section(words().line_text(line, cells)))
    hidden = len(report.lines) - SECTION_LINES
    if hidden > 0:
        blocks.append(context(words().more_lines(hidden)))
    return blocks


def _group_section(report: Report, group: str) -> Block:
    total = report.total
    cells = [(f.label, display(f, total.value(f))) for f in FIGURES if f.group == group]
    return section(words().group_text(group, cells))


def _equipment_section(report: Report) -> Block:
    total = report.total

    def group(name: Any, prefix: str, clients: str) -> dict[str, Any]:
        def shown(key: str) -> str:
            return display(FIGURE_BY_KEY[key], total.value(key))

        return {
            "name": say(name),
            "clients": total.measures[clients],
            "at_open": shown(f"{prefix}_contracts_open"),
            "now": shown(f"{prefix}_contracts_now"),
            "new_rate": shown(f"{prefix}_new_rate"),
            "new": total.measures[f"{prefix}_new"],
        }

    groups = [
        group(words().done_group(), "done", "done"),
        group(words().expired_group(), "expired", "expired"),
    ]
    return section(words().equipment_text(EQUIPMENT, groups))


def product_label(code: str) -> str:
    try:
        return Product(code).crm_label
    except ValueError:
        return code


def _gaps_section(report: Report) -> Block:
    items = [(product_label(code), report.total.gaps[code]) for code in report.products()]
    return section(words().gaps_text(GAPS_LABEL, items))


def _actions_section(report: Report) -> Block:
    items = [
        (kind, [(state.value, report.total.actions[kind][state]) for state in ActionState])
        for kind in report.action_kinds()
    ]
    return section(words().actions_text(ACTIONS_LABEL, items))


def stats_message(report: Report, *, weekly: bool = False) -> dict[str, Any]:
    """The summary: `text` (the notification) and `blocks`."""
    w = words()
    blocks: list[Block] = [
        section(w.weekly_title(report) if weekly else w.title(report)),
        context(w.cohort_note(report)),
    ]
    if report.total.measures.get("opened", 0) == 0:
        blocks.append(section(w.empty(report)))
        return {"text": say(w.fallback(report)), "blocks": blocks}
    if len(report.lines) + 1 <= TABLE_ROWS:
        blocks.append(lines_table(report))
    else:
        blocks.extend(_line_sections(report))
    blocks.append(divider())
    for group in (CALLS, TAGS, CRM):
        blocks.append(_group_section(report, group))
    blocks.append(_equipment_section(report))
    blocks.append(_gaps_section(report))
    blocks.append(_actions_section(report))
    return {"text": say(w.fallback(report)), "blocks": blocks[:MESSAGE_BLOCK_LIMIT]}


def help_message() -> dict[str, Any]:
    """`/m3 stats aide`: how to ask, and every figure's definition."""
    w = words()
    blocks: list[Block] = [section(w.help_intro())]
    for group in GROUPS:
        figures = [f for f in FIGURES if f.group == group]
        blocks.append(section(w.help_group(group, figures)))
    blocks.append(
        section(w.help_breakdowns(GAPS_LABEL, GAPS_DEFINITION, ACTIONS_LABEL, ACTIONS_DEFINITION))
    )
    return {"text": say(w.examples()), "blocks": blocks}

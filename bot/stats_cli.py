"""`m3 stats`: what the command line needs around `bot.stats` — reading its options into a
period and a scope, and printing the figures as a table, CSV, JSON, XLSX or a PNG chart. The
command itself (its options) is declared in `bot.cli`."""

from __future__ import annotations

import datetime as dt
import enum
import json
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.blocks.stats import say, words
from bot.models import Advisor, Branch
from bot.rendering import plain
from bot.stats import (
    FIGURES,
    Kind,
    Level,
    Period,
    Report,
    Scope,
    display,
    find_advisors,
    find_branch,
    parse_period,
)


class StatsFormat(enum.StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"
    XLSX = "xlsx"
    PNG = "png"


class StatsRefused(Exception):
    """An option the command cannot use; the message is one French line."""


def resolve(
    session: Session, *, period: str, branch: str | None, advisor: str | None, today: dt.date
) -> tuple[Period, Scope]:
    parsed = parse_period(period, today)
    if parsed is None or parsed[1]:
        raise StatsRefused(say(words().cli_bad_period(period)))
    if advisor:
        one = find_one_advisor(session, advisor)
        return parsed[0], Scope(advisor_id=one.id, name=one.full_name)
    if branch:
        found_branch = find_branch(session, branch)
        if found_branch is None:
            known = list(session.scalars(select(Branch.name).order_by(Branch.name)))
            raise StatsRefused(say(words().cli_unknown_branch(branch, known)))
        return parsed[0], Scope(branch_id=found_branch.id, name=found_branch.name)
    return parsed[0], Scope()


def find_one_advisor(session: Session, text: str) -> Advisor:
    """The advisor `--advisor` names (e-mail, prénom.nom or name), for `m3 stats` and
    `m3 cases`; `StatsRefused` when nobody, or several people, answer to it."""
    found = find_advisors(session, text)
    if not found:
        raise StatsRefused(say(words().cli_unknown_advisor(text)))
    if len(found) > 1:
        names = [a.email for a in found]
        raise StatsRefused(say(words().cli_several_advisors(text, names)))
    return found[0]


def as_json(report: Report) -> dict[str, Any]:
    return {
        "period": {
            "start": report.period.start.isoformat(),
            "end": report.period.end.isoformat(),
            "label": say(words().period_label(report.period)),
        },
        "today": report.today.isoformat(),
        "scope": say(words().scope_label(report.scope)),
        "lines": [
            {
                "level": line.level.value,
                "branch": line.branch,
                "advisor": line.advisor,
                "email": line.advisor_email,
                "figures": {f.key: line.value(f) for f in FIGURES},
                "measures": line.measures,
                "gaps": line.gaps,
                "actions": {
                    kind: {state.value: n for state, n in counts.items()}
                    for kind, counts in line.actions.items()
                },
            }
            for line in report.lines
        ],
        "definitions": [
            {"key": f.key, "label": f.label, "definition": f.definition, "kind": f.kind.value}
            for f in FIGURES
        ],
    }


class BlockTable(Table):
    """A table whose first column names the rows, laid out for the console's width: when all
    the other columns do not fit beside it, they are printed in successive blocks, one under
    the other, each repeating the first column. No label is ever cut: the row names stay whole
    (or, on a very narrow console, wrap between words) and a column's header wraps between
    words. A block breaks before a group of columns (`group_starts`, counted among the other
    columns) when the whole group then fits in the next block."""

    def __init__(self, *, title: str, group_starts: frozenset[int] = frozenset()) -> None:
        super().__init__(title=title)
        self.group_starts = group_starts

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if len(self.columns) < 2:
            yield from super().__rich_console__(console, options)
            return
        first, *others = self.columns

        def width(cell: Any, *, whole: bool) -> int:
            measured = Measurement.get(console, options, cell)
            return measured.maximum if whole else measured.minimum

        # Each column takes its padding and the rule on its left; the table, one more rule.
        frame = self._get_padding_width(0) + 1
        names = list(first.cells)
        header = width(first.header, whole=False)
        least = [
            max(width(c.header, whole=False), *(width(cell, whole=True) for cell in c.cells))
            for c in others
        ]
        most = [max(width(c.header, whole=True), n) for c, n in zip(others, least, strict=True)]
        name_width = max(header, *(width(name, whole=True) for name in names))
        room = options.max_width - 1 - (name_width + frame)
        if room < max(least) + frame:
            # Too narrow for one column beside the whole names: they wrap between words.
            name_width = max(
                header,
                *(width(name, whole=False) for name in names),
                options.max_width - 1 - 2 * frame - max(least),
            )
            room = options.max_width - 1 - (name_width + frame)
        needs = [n + frame for n in least]
        for number, block in enumerate(self._blocks(needs, room)):
            # What a block has to spare widens the headers that would otherwise wrap.
            spare = room - sum(needs[i] for i in block)
            widths = {}
            for index in block:
                widths[index] = least[index] + min(spare, most[index] - least[index])
                spare -= widths[index] - least[index]
            if number:
                yield Text()
            yield self._block(widths, name_width, with_title=not number)

    def _blocks(self, needs: list[int], room: int) -> list[list[int]]:
        groups: list[list[int]] = []
        for index in range(len(needs)):
            if index in self.group_starts or not groups:
                groups.append([])
            groups[-1].append(index)
        blocks: list[list[int]] = [[]]
        used = 0
        for group in groups:
            size = sum(needs[i] for i in group)
            if blocks[-1] and used + size > room and size <= room:
                blocks.append([])
                used = 0
            for index in group:
                if blocks[-1] and used + needs[index] > room:
                    blocks.append([])
                    used = 0
                blocks[-1].append(index)
                used += needs[index]
        return blocks

    def _block(self, widths: dict[int, int], name_width: int, *, with_title: bool) -> Table:
        """The first column and the other columns `widths` names, at those widths."""
        first, *others = self.columns
        block = Table(title=self.title if with_title else None)
        block.add_column(first.header, justify=first.justify, width=name_width)
        for index, column_width in widths.items():
            block.add_column(
                others[index].header, justify=others[index].justify, width=column_width
            )
        cells = [list(column.cells) for column in others]
        for number, (name, row) in enumerate(zip(first.cells, self.rows, strict=True)):
            block.add_row(
                name, *(cells[index][number] for index in widths), end_section=row.end_section
            )
        return block


def as_table(report: Report) -> Table:
    """One row per figure, one column per line (the agency, each branch, each advisor); on a
    narrow terminal the columns come in blocks, a branch and its advisors kept together."""
    w = words()
    table = BlockTable(
        title=plain(say(w.title(report))),
        group_starts=frozenset(
            index for index, line in enumerate(report.lines) if line.level is Level.BRANCH
        ),
    )
    table.add_column(say(w.cli_figure_column()))
    for line in report.lines:
        table.add_column(say(w.level_label(line)), justify="right")
    group = ""
    for figure in FIGURES:
        if figure.group != group:
            group = figure.group
            table.add_section()
        label = f"{figure.label} (%)" if figure.kind is Kind.RATE else figure.label
        table.add_row(label, *(display(figure, line.value(figure)) for line in report.lines))
    return table


def output(report: Report, fmt: StatsFormat) -> bytes | str:
    """The document to write for a file format, or the text to print."""
    if fmt is StatsFormat.JSON:
        return json.dumps(as_json(report), ensure_ascii=False, indent=2)
    if fmt is StatsFormat.CSV:
        from bot.stats_export import to_csv

        return to_csv(report)
    if fmt is StatsFormat.XLSX:
        from bot.stats_export import to_xlsx

        return to_xlsx(report)
    if fmt is StatsFormat.PNG:
        from bot.charts import render_png

        return render_png(report)
    raise ValueError(fmt)


def default_filename(report: Report, fmt: StatsFormat) -> str:
    return f"{say(words().file_stem(report))}.{fmt.value}"

"""`m3 stats`: what the command line needs around `bot.stats` — reading its options into a
period and a scope, and printing the figures as a table, CSV, JSON, XLSX or a PNG chart. The
command itself (its options) is declared in `bot.cli`."""

from __future__ import annotations

import datetime as dt
import enum
import json
from typing import Any

from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.blocks.stats import say, words
from bot.models import Advisor, Branch
from bot.stats import (
    FIGURES,
    Kind,
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


def as_table(report: Report) -> Table:
    """One row per figure, one column per line (the agency, each branch, each advisor)."""
    w = words()
    table = Table(title=say(w.title(report)).replace("*", "").replace(":bar_chart: ", ""))
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

"""The stats chart, a PNG drawn with matplotlib's Agg backend (no display, no pyplot state, safe
in a web worker): the funnel, where each advisor's cases stand, and the multi-equipment of the
clients whose M+3 was Terminé against those whose M+3 expired. French labels and dates.

Import this module only where a chart is drawn: matplotlib takes a while to load."""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from bot.rendering import environment
from bot.stats import FIGURE_BY_KEY, Report

WIDTH, HEIGHT, DPI = 13.0, 5.6, 100
FUNNEL = ("opened", "called", "reached", "done", "done_on_time")
OUTCOMES: tuple[tuple[str, str], ...] = (
    ("done_on_time", "#2a9d8f"),
    ("done_late", "#8ab17d"),
    ("in_progress", "#e9c46a"),
    ("to_do", "#f4a261"),
    ("upcoming", "#cfd8dc"),
    ("expired", "#e76f51"),
    ("cancelled", "#9e9e9e"),
)
MOST_ADVISORS = 20  # bars in the middle panel; the exports have everyone


def _say(value: Any) -> str:
    return str(value).strip()


def _decimal(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


class _FrenchFormatter(ScalarFormatter):
    """Matplotlib's tick labels with the French decimal comma, whatever the machine's locale."""

    def __call__(self, x: float, pos: int | None = None) -> str:
        return super().__call__(x, pos).replace(".", ",")


def _count_axis(axis: Any) -> None:
    """An axis of case counts: whole numbers from 0, even when every count is 0."""
    axis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    axis.set_major_formatter(_FrenchFormatter())


def render_png(report: Report, *, title: str | None = None) -> bytes:
    figure = draw(report, title=title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Title": figure.get_suptitle()})
    return buffer.getvalue()


def draw(report: Report, *, title: str | None = None) -> Figure:
    """The chart's figure, ready to save."""
    words: Any = environment().get_template("slack/stats.j2").module
    chart_words: Any = environment().get_template("cli/stats_chart.j2").module
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(title or _say(words.chart_title(report)), fontsize=14, fontweight="bold")
    funnel, outcomes, equipment = figure.subplots(1, 3, width_ratios=(1.0, 1.4, 1.0))
    total = report.total

    # 1. The funnel of the whole scope.
    labels = [FIGURE_BY_KEY[key].label for key in FUNNEL]
    counts = [total.measures.get(key, 0) for key in FUNNEL]
    bars = funnel.barh(labels[::-1], counts[::-1], color="#264653")
    funnel.bar_label(bars, padding=3)
    funnel.set_title(_say(words.chart_funnel()))
    funnel.set_xlabel(_say(words.chart_cases()))
    funnel.margins(x=0.2)
    funnel.set_xlim(left=0, right=max(1.0, funnel.get_xlim()[1]))
    _count_axis(funnel.xaxis)

    # 2. Where each advisor's cases stand (or the branches, or the total alone).
    rows = report.advisors[:MOST_ADVISORS] or [total]
    names = [r.advisor or _say(words.level_label(r)) for r in rows][::-1]
    left = [0] * len(rows)
    for key, colour in OUTCOMES:
        values = [r.measures.get(key, 0) for r in rows][::-1]
        outcomes.barh(names, values, left=left, color=colour, label=FIGURE_BY_KEY[key].label)
        left = [a + b for a, b in zip(left, values, strict=True)]
    outcomes.set_title(_say(words.chart_outcomes()))
    outcomes.set_xlabel(_say(words.chart_cases()))
    outcomes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4)
    outcomes.set_xlim(left=0, right=max(1.0, outcomes.get_xlim()[1]))
    _count_axis(outcomes.xaxis)
    if not any(left):
        outcomes.text(
            0.5, 0.5, _say(words.chart_nothing()), ha="center", transform=outcomes.transAxes
        )

    # 3. Multi-equipment: Terminé against expired, at opening and now, with the counts. A group
    # without clients has no mean: no bar and a dash, not « 0,0 » contracts per client.
    groups = (("done", _say(words.done_group())), ("expired", _say(words.expired_group())))
    clients = [total.measures.get(prefix, 0) for prefix, _ in groups]
    positions = range(len(groups))
    width = 0.38
    for offset, (suffix, label, colour) in enumerate(
        (
            ("contracts_open", _say(words.chart_at_open()), "#a8dadc"),
            ("contracts_now", _say(words.chart_now()), "#1d3557"),
        )
    ):
        means = [total.value(f"{prefix}_{suffix}") for prefix, _ in groups]
        drawn = equipment.bar(
            [p + (offset - 0.5) * width for p in positions],
            [m or 0 for m in means],
            width,
            label=label,
            color=colour,
        )
        if not any(clients):
            continue  # the panel says so instead
        equipment.bar_label(
            drawn,
            labels=[
                _say(chart_words.no_mean()) if m is None or not n else _decimal(m)
                for m, n in zip(means, clients, strict=True)
            ],
            padding=2,
        )
    equipment.set_xticks(
        list(positions),
        [
            f"{label}\n{_say(words.chart_clients(n))}"
            for (_, label), n in zip(groups, clients, strict=True)
        ],
    )
    equipment.set_title(_say(words.chart_equipment()))
    equipment.margins(y=0.2)
    equipment.set_ylim(bottom=0)
    equipment.yaxis.set_major_formatter(_FrenchFormatter())
    if any(clients):
        equipment.legend(fontsize=8)
    else:
        equipment.set_ylim(0, 1)
        equipment.set_yticks([])
        equipment.text(
            0.5,
            0.5,
            _say(chart_words.no_equipment()),
            ha="center",
            va="center",
            color="#555555",
            transform=equipment.transAxes,
        )

    figure.supxlabel(_say(words.chart_subtitle(report)), fontsize=9, color="#555555")
    return figure

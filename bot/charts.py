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


def render_png(report: Report, *, title: str | None = None) -> bytes:
    words: Any = environment().get_template("slack/stats.j2").module
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
    if not any(left):
        outcomes.text(
            0.5, 0.5, _say(words.chart_nothing()), ha="center", transform=outcomes.transAxes
        )

    # 3. Multi-equipment: Terminé against expired, at opening and now, with the counts.
    groups = (("done", _say(words.done_group())), ("expired", _say(words.expired_group())))
    positions = range(len(groups))
    width = 0.38
    for offset, (suffix, label, colour) in enumerate(
        (
            ("contracts_open", _say(words.chart_at_open()), "#a8dadc"),
            ("contracts_now", _say(words.chart_now()), "#1d3557"),
        )
    ):
        means = [total.value(f"{prefix}_{suffix}") or 0 for prefix, _ in groups]
        drawn = equipment.bar(
            [p + (offset - 0.5) * width for p in positions], means, width, label=label, color=colour
        )
        equipment.bar_label(drawn, labels=[f"{m:.1f}".replace(".", ",") for m in means], padding=2)
    equipment.set_xticks(
        list(positions),
        [
            f"{label}\n{_say(words.chart_clients(total.measures.get(prefix, 0)))}"
            for prefix, label in groups
        ],
    )
    equipment.set_title(_say(words.chart_equipment()))
    equipment.legend(fontsize=8)
    equipment.margins(y=0.2)

    figure.supxlabel(_say(words.chart_subtitle(report)), fontsize=9, color="#555555")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Title": figure.get_suptitle()})
    return buffer.getvalue()

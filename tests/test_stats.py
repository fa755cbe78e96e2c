"""`bot.stats`: every figure of a known history (tests/stats_history.py) against the counts
recomputed from the raw tables; the periods typed after `/m3 stats`; the states in SQL against
`bot.rules.case_state`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Advisor, Case
from bot.rules import case_state
from bot.stats import (
    FIGURES,
    MEASURES,
    ActionState,
    Kind,
    Level,
    Period,
    PeriodKind,
    Report,
    Scope,
    _measures,
    _per_case,
    _state,
    compute,
    display,
    find_advisors,
    find_branch,
    month_of,
    parse_period,
)
from tests import stats_history as history
from tests.exports import ALICE, BRUNO

PERIOD = Period(history.PERIOD_START, history.PERIOD_END, PeriodKind.RANGE)


@pytest.fixture
def built(factory: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    history.build(factory, tmp_path)
    return factory


def _report(factory: sessionmaker[Session], scope: Scope | None = None) -> Report:
    with factory() as session:
        return compute(session, period=PERIOD, today=history.TODAY, scope=scope)


def test_every_figure_matches_a_count_from_the_raw_tables(built: sessionmaker[Session]) -> None:
    report = _report(built)
    with built() as session:
        expected = history.expected_measures(session, PERIOD, history.TODAY)
        gaps = history.expected_gaps(session, PERIOD)
        actions = history.expected_actions(session, PERIOD, history.TODAY)
        people = {a.email: a.id for a in session.scalars(select(Advisor))}
        corniche = history.branch_advisors(session, "Corniche")
        rouviere = history.branch_advisors(session, "Rouvière")
    total = report.total
    assert total.measures == {name: expected.get(name, 0) for name in MEASURES}
    # The history has every kind of case in the cohort, so each figure is really tested.
    for name in (
        "done_on_time",
        "done_late",
        "in_progress",
        "to_do",
        "overdue",
        "upcoming",
        "expired",
        "cancelled",
        "failed",
        "card_ok_failed",
        "corrections",
        "corrections_applied",
        "done_new",
        "expired_new",
    ):
        assert total.measures[name] > 0, name
    # The state partitions the cohort.
    m = total.measures
    parts = ("done", "in_progress", "to_do", "upcoming", "expired", "cancelled")
    assert sum(m[p] for p in parts) == m["opened"]
    assert m["done_on_time"] + m["done_late"] == m["done"]
    # Breakdowns.
    assert total.gaps == gaps
    assert {k: [v[s] for s in ActionState] for k, v in total.actions.items()} == actions
    # Per advisor and per branch, the same sums.
    by_email = {line.advisor_email: line for line in report.advisors}
    with built() as session:
        for email in (ALICE, BRUNO):
            mine = history.expected_measures(session, PERIOD, history.TODAY, [people[email]])
            assert by_email[email].measures == {n: mine.get(n, 0) for n in MEASURES}
        for name, ids in (("Corniche", corniche), ("Rouvière", rouviere)):
            (line,) = [b for b in report.branches if b.branch == name]
            theirs = history.expected_measures(session, PERIOD, history.TODAY, ids)
            assert line.measures == {n: theirs.get(n, 0) for n in MEASURES}
    # Figures are the ratios of their measures.
    for figure in FIGURES:
        value = total.value(figure)
        if figure.kind is Kind.COUNT:
            assert value == m[figure.numerator]
        elif m[figure.denominator or ""]:
            assert value == pytest.approx(m[figure.numerator] / m[figure.denominator or ""])
        else:
            assert value is None
    assert [line.level for line in report.lines[:2]] == [Level.TOTAL, Level.BRANCH]


def test_a_scope_keeps_only_its_cases(built: sessionmaker[Session]) -> None:
    with built() as session:
        alice = session.scalar(select(Advisor).where(Advisor.email == ALICE))
        branch = find_branch(session, "rouviere")
        assert alice is not None and branch is not None
        expected_alice = history.expected_measures(session, PERIOD, history.TODAY, [alice.id])
        expected_branch = history.expected_measures(
            session, PERIOD, history.TODAY, history.branch_advisors(session, "Rouvière")
        )
    mine = _report(built, Scope(advisor_id=alice.id))
    assert [line.advisor_email for line in mine.advisors] == [ALICE]
    assert mine.total.measures == {n: expected_alice.get(n, 0) for n in MEASURES}
    theirs = _report(built, Scope(branch_id=branch.id))
    assert {line.advisor_email for line in theirs.advisors} == {BRUNO}
    assert theirs.total.measures == {n: expected_branch.get(n, 0) for n in MEASURES}


def test_the_sql_states_are_the_rules_states(built: sessionmaker[Session]) -> None:
    """`bot.rules.case_state` and its SQL twin agree on every case, on many days."""
    days = [history.TODAY + dt.timedelta(days=d) for d in range(-150, 120, 7)]
    with built() as session:
        cases = list(session.scalars(select(Case)))
        for day in days:
            rows = dict(session.execute(select(Case.id, _state(Case, day))).all())
            for case in cases:
                expected = case_state(
                    window=case.window,
                    today=day,
                    completed_on=case.completed_on,
                    cancelled_on=case.cancelled_on,
                )
                assert rows[case.id] == expected.value, (case.id, day)


def test_the_measures_are_the_ones_named(built: sessionmaker[Session]) -> None:
    with built() as session:
        dialect = session.get_bind().dialect.name
    pc = _per_case(PERIOD, Scope(), history.TODAY, dialect)
    assert tuple(_measures(pc)) == MEASURES
    for figure in FIGURES:
        assert figure.numerator in MEASURES
        assert figure.denominator is None or figure.denominator in MEASURES
        assert figure.label and figure.definition.endswith(".")
    assert len({f.key for f in FIGURES}) == len(FIGURES)


def test_an_empty_period_has_no_line_but_the_total(built: sessionmaker[Session]) -> None:
    with built() as session:
        report = compute(session, period=month_of(dt.date(2020, 1, 1)), today=history.TODAY)
    assert [line.level for line in report.lines] == [Level.TOTAL]
    assert report.total.measures["opened"] == 0
    assert report.total.value("reach_rate") is None
    assert display(FIGURES[13], None) == "—"


def test_advisors_are_found_by_what_a_manager_types(built: sessionmaker[Session]) -> None:
    with built() as session:
        for typed in ("@alice", "@alice.martin", "@Alice Martin", ALICE, "@MARTIN"):
            assert [a.email for a in find_advisors(session, typed)] == [ALICE], typed
        assert find_advisors(session, "@nobody") == []
        assert find_branch(session, "CORNICHE") is not None
        assert find_branch(session, "Marseille") is None


TODAY = dt.date(2026, 11, 26)  # a Thursday


@pytest.mark.parametrize(
    ("typed", "start", "end", "rest"),
    [
        ("", dt.date(2026, 11, 1), dt.date(2026, 11, 30), ""),
        ("mois", dt.date(2026, 11, 1), dt.date(2026, 11, 30), ""),
        ("semaine Corniche", dt.date(2026, 11, 23), dt.date(2026, 11, 29), "corniche"),
        ("trimestre", dt.date(2026, 10, 1), dt.date(2026, 12, 31), ""),
        ("année @julie", dt.date(2026, 1, 1), dt.date(2026, 12, 31), "@julie"),
        ("Annee", dt.date(2026, 1, 1), dt.date(2026, 12, 31), ""),
        ("2026-02", dt.date(2026, 2, 1), dt.date(2026, 2, 28), ""),
        ("du 01/10/2026 au 31/10/2026", dt.date(2026, 10, 1), dt.date(2026, 10, 31), ""),
        ("Rouvière du 1/9 au 15/9", dt.date(2026, 9, 1), dt.date(2026, 9, 15), "rouviere"),
        ("12 derniers mois", dt.date(2025, 11, 27), dt.date(2026, 11, 26), ""),
        ("3 derniers mois @bruno", dt.date(2026, 8, 27), dt.date(2026, 11, 26), "@bruno"),
    ],
)
def test_periods_in_french(typed: str, start: dt.date, end: dt.date, rest: str) -> None:
    parsed = parse_period(typed, TODAY)
    assert parsed is not None
    period, left = parsed
    assert (period.start, period.end, left) == (start, end, rest)


@pytest.mark.parametrize(
    "typed",
    [
        "du 31/10/2026 au 01/10/2026",
        "du 30/02/2026 au 01/03/2026",
        "2026-13",
        "0 derniers mois",
        "du 01/01/2000 au 01/01/2020",
    ],
)
def test_impossible_periods_are_refused(typed: str) -> None:
    assert parse_period(typed, TODAY) is None


def test_exported_names_cannot_run_as_formulas() -> None:
    import csv
    import io

    from openpyxl import load_workbook

    from bot.stats import Line
    from bot.stats_export import neutralise, to_csv, to_xlsx

    assert [neutralise(t) for t in ("=1+1", "+33", "-x", "@SUM(A1)", "Zoé")] == [
        "'=1+1",
        "'+33",
        "'-x",
        "'@SUM(A1)",
        "Zoé",
    ]
    line = Line(Level.ADVISOR, branch='=HYPERLINK("x")', advisor="-Jean", advisor_email="j@x.fr")
    line.measures = dict.fromkeys(MEASURES, 0)
    line.measures["opened"] = 3
    total = Line(Level.TOTAL, measures=dict(line.measures))
    report = Report(month_of(TODAY), TODAY, Scope(), [total, line])
    rows = list(csv.reader(io.StringIO(to_csv(report).decode("utf-8-sig")), delimiter=";"))
    assert rows[2][1:4] == ['\'=HYPERLINK("x")', "'-Jean", "3"]
    sheet = load_workbook(io.BytesIO(to_xlsx(report))).active
    assert sheet is not None
    assert sheet.cell(3, 2).value == '\'=HYPERLINK("x")' and sheet.cell(3, 2).data_type == "s"
    assert sheet.cell(3, 4).value == 3

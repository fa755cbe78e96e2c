# ruff: noqa: E501 (the hand-written SQL keeps one measure per line)
"""The month's stats over a large agency: `bot.stats.compute` against one hand-written SQL
aggregate of the same figures, on SQLite and PostgreSQL, and the chart's render time.

    .venv/bin/python benchmarks/stats_benchmark.py [--cases 100000] [--contracts-per-client 10]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--repeat 5] [--seed 0]

Data (invented, written with bulk inserts, not the importer): 40 advisors in two branches,
`--cases` clients with one M+3 case each (windows spread over the 12 months before `TODAY`),
`--contracts-per-client` contracts each (a tenth AN, some terminated, some first seen after the
case opened), about two attempts per case called, reviews with gaps, next actions and
corrections. Timed, best of `--repeat`: the current month (the cohort whose windows opened in
it, about 1/12 of the cases) and the 12 last months (all of them), each against the baseline;
the baseline's totals are checked equal to compute()'s first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import db  # noqa: E402
from bot.calls import NextActionKind, Outcome, Product  # noqa: E402
from bot.models import (  # noqa: E402
    Advisor,
    Attempt,
    Branch,
    Case,
    CaseReview,
    Client,
    Contract,
    Correction,
    NextAction,
)
from bot.rules import is_working_day, window_for  # noqa: E402
from bot.stats import MEASURES, Period, compute, last_months, month_of  # noqa: E402

TODAY = dt.date(2026, 11, 26)
ADVISORS = 40
CHUNK = 20_000


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def populate(engine: Engine, cases: int, per_client: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    counts = dict.fromkeys(("contracts", "attempts", "reviews", "actions", "corrections"), 0)
    utc = dt.UTC
    with engine.begin() as connection:
        connection.execute(
            insert(Branch), [{"id": 1, "name": "Corniche"}, {"id": 2, "name": "Rouvière"}]
        )
        connection.execute(
            insert(Advisor),
            [
                {
                    "id": a + 1,
                    "email": f"conseiller{a}@agence.example.fr",
                    "first_name": f"Prénom{a}",
                    "last_name": f"Nom{a}",
                    "branch_id": 1 + a % 2,
                    "role": "Conseiller",
                }
                for a in range(ADVISORS)
            ],
        )

        def clients() -> Iterator[dict[str, Any]]:
            for c in range(cases):
                yield {
                    "id": c + 1,
                    "number": f"{100000 + c}",
                    "client_type": "Particulier",
                    "advisor_id": 1 + c % ADVISORS,
                    "branch_id": 1 + (c % ADVISORS) % 2,
                }

        for batch in _chunks(clients()):
            connection.execute(insert(Client), batch)

        plan: list[dict[str, Any]] = []
        for c in range(cases):
            effect = TODAY - dt.timedelta(days=rng.randint(40, 455))
            window = window_for(effect)
            opened_on = effect - dt.timedelta(days=rng.randint(0, 20))
            fate = rng.random()
            completed = cancelled = None
            if window.start <= TODAY:
                if fate < 0.45:
                    completed = min(TODAY, window.start + dt.timedelta(days=rng.randint(0, 30)))
                elif fate < 0.52:
                    cancelled = min(TODAY, window.start + dt.timedelta(days=rng.randint(-20, 20)))
            plan.append(
                {
                    "id": c + 1,
                    "client_id": c + 1,
                    "advisor_id": 1 + c % ADVISORS,
                    "is_current": True,
                    "effect_date": effect,
                    "due_date": window.due,
                    "window_start": window.start,
                    "window_end": window.end,
                    "deadline": window.deadline,
                    "tag_call": "OK" if completed or fate < 0.7 else None,
                    "tag_crm": "OK" if completed or fate < 0.6 else None,
                    "tag_review": "OK" if completed or fate < 0.55 else None,
                    "tag_card": "OK" if completed or rng.random() < 0.3 else None,
                    "status": "termine" if completed else ("en_cours" if fate < 0.7 else "a_faire"),
                    "completed_on": completed,
                    "cancelled_on": cancelled,
                    "created_at": dt.datetime.combine(opened_on, dt.time(6), utc),
                }
            )
        for batch in _chunks(iter(plan)):
            connection.execute(insert(Case), batch)

        def contracts() -> Iterator[dict[str, Any]]:
            number = 0
            for case in plan:
                opened = case["created_at"].date()
                for k in range(per_client):
                    number += 1
                    later = k >= per_client - 2 and rng.random() < 0.3
                    seen = opened + dt.timedelta(days=rng.randint(1, 200)) if later else opened
                    terminated = rng.random() < 0.1
                    yield {
                        "number": f"K{number}",
                        "client_id": case["client_id"],
                        "product": "Auto",
                        "origin": "AN" if k == 0 or later else "Transfert",
                        "new_business": k == 0 or later,
                        "effect_date": case["effect_date"] if k == 0 else seen,
                        "status": "Résilié" if terminated else "Actif",
                        "termination_date": seen + dt.timedelta(days=90) if terminated else None,
                        "first_seen_on": seen if k else opened,
                        "case_id": case["id"] if k == 0 else None,
                        "missing_pieces": [],
                    }

        for batch in _chunks(contracts()):
            connection.execute(insert(Contract), batch)
            counts["contracts"] += len(batch)

        outcomes = [o.value for o in Outcome]
        products = [p.value for p in Product]
        kinds = [k.value for k in NextActionKind]

        def attempts() -> Iterator[dict[str, Any]]:
            for case in plan:
                if case["window_start"] > TODAY or rng.random() < 0.2:
                    continue
                for _ in range(rng.randint(1, 3)):
                    day = min(TODAY, case["window_start"] + dt.timedelta(days=rng.randint(0, 25)))
                    yield {
                        "case_id": case["id"],
                        "advisor_id": case["advisor_id"],
                        "at": dt.datetime.combine(day, dt.time(10, 30), utc),
                        "outcome": rng.choice(outcomes),
                    }

        for batch in _chunks(attempts()):
            connection.execute(insert(Attempt), batch)
            counts["attempts"] += len(batch)
        reviewed = [c for c in plan if c["tag_call"] == "OK"]
        for batch in _chunks(
            {
                "case_id": c["id"],
                "gaps": rng.sample(products, rng.randint(0, 3)),
                "updated_by_id": c["advisor_id"],
                "crm_checked": [],
                "pieces_missing": [],
                "held_elsewhere": [],
            }
            for c in reviewed
        ):
            connection.execute(insert(CaseReview), batch)
            counts["reviews"] += len(batch)
        for batch in _chunks(
            {
                "case_id": c["id"],
                "kind": rng.choice(kinds),
                "due_on": c["window_start"] + dt.timedelta(days=rng.randint(5, 60)),
                "done_on": c["window_start"] + dt.timedelta(days=10)
                if rng.random() < 0.5
                else None,
                "created_by_id": c["advisor_id"],
            }
            for c in reviewed
            if rng.random() < 0.6
        ):
            connection.execute(insert(NextAction), batch)
            counts["actions"] += len(batch)
        for batch in _chunks(
            {
                "client_id": c["client_id"],
                "field": "email",
                "new_value": "x@example.fr",
                "advisor_id": c["advisor_id"],
                "at": c["created_at"] + dt.timedelta(days=100),
                "applied_on": TODAY if rng.random() < 0.5 else None,
            }
            for c in reviewed
            if rng.random() < 0.4
        ):
            connection.execute(insert(Correction), batch)
            counts["corrections"] += len(batch)
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    return counts


# --- The baseline: the same figures, written by hand ---------------------------------------


def _calendar_sql(first: dt.date, last: dt.date, dialect: str) -> str:
    from dateutil.relativedelta import relativedelta

    rows, index, day = [], 0, first
    cast = "::date" if dialect == "postgresql" else ""
    while day <= last:
        index += is_working_day(day)
        plus6 = day + relativedelta(months=6)
        rows.append(f"('{day.isoformat()}'{cast}, {index}, '{plus6.isoformat()}'{cast})")
        day += dt.timedelta(days=1)
    return "calendar(day, wd, plus6) AS (VALUES " + ", ".join(rows) + ")"


def baseline_sql(period: Period, dialect: str) -> tuple[str, str, str]:
    """Three statements: the measures by advisor, the gaps, the next actions."""
    pg = dialect == "postgresql"
    day = (lambda x: f"CAST({x} AS date)") if pg else (lambda x: f"date({x})")
    # SQLite indexes the calendar for a join only on a key without a column's affinity.
    key = (lambda x: x) if pg else (lambda x: f"date({x})")
    start, end, today = (f"'{d.isoformat()}'" for d in (period.start, period.end, TODAY))
    calendar = _calendar_sql(
        period.start - dt.timedelta(days=62), max(min(period.end, TODAY), period.start), dialect
    )
    reached = ", ".join(f"'{o.value}'" for o in Outcome if o.reached)
    cohort = f"""cohort AS (
  SELECT c.*, CASE
      WHEN c.completed_on IS NOT NULL AND c.completed_on <= {today} THEN 'done'
      WHEN c.cancelled_on IS NOT NULL AND c.cancelled_on <= {today} THEN 'cancelled'
      WHEN c.window_start > {today} THEN 'upcoming'
      WHEN c.window_end >= {today} THEN 'open'
      WHEN c.deadline >= {today} THEN 'late'
      ELSE 'expired' END AS state
  FROM m3_case c WHERE c.window_start BETWEEN {start} AND {end})"""
    measures = f"""WITH {cohort}, {calendar},
opening AS (
  SELECT f.id, CASE WHEN f.first_seen > {day("f.created_at")} THEN f.first_seen
                    ELSE {day("f.created_at")} END AS opening_day
  FROM (SELECT k.id, k.created_at,
          (SELECT min(t.first_seen_on) FROM contract t WHERE t.case_id = k.id) AS first_seen
        FROM cohort k WHERE k.state IN ('done', 'expired')) f),
att AS (
  SELECT a.case_id, count(*) AS n, sum(CASE WHEN a.outcome IN ({reached}) THEN 1 ELSE 0 END) AS r,
         min(a.at) AS first_at
  FROM attempt a JOIN cohort k ON k.id = a.case_id GROUP BY a.case_id),
equipment AS (
  SELECT o.id,
    sum(CASE WHEN t.first_seen_on <= o.opening_day AND (t.termination_date IS NULL
             OR t.termination_date > o.opening_day) THEN 1 ELSE 0 END) AS at_open,
    sum(CASE WHEN t.status = 'Actif' THEN 1 ELSE 0 END) AS now,
    max(CASE WHEN t.new_business AND t.first_seen_on > o.opening_day
             AND t.first_seen_on <= w.plus6 THEN 1 ELSE 0 END) AS new6
  FROM opening o JOIN cohort k ON k.id = o.id JOIN contract t ON t.client_id = k.client_id
  LEFT JOIN calendar w ON w.day = {key("k.window_start")} GROUP BY o.id),
corr AS (
  SELECT k.id, count(*) AS n, sum(CASE WHEN x.applied_on IS NOT NULL THEN 1 ELSE 0 END) AS applied
  FROM cohort k JOIN correction x ON x.client_id = k.client_id AND x.at >= k.created_at
  GROUP BY k.id),
per_case AS (
  SELECT k.advisor_id, k.state, k.status, k.completed_on <= k.window_end AS on_time,
    coalesce(att.n, 0) AS attempts, coalesce(att.r, 0) AS hits,
    f.wd - s.wd AS first_days, d.wd - s.wd AS done_days,
    k.tag_crm = 'OK' AS crm, k.tag_review = 'OK' AS review, k.tag_card = 'OK' AS card,
    coalesce(corr.n, 0) AS corrections, coalesce(corr.applied, 0) AS applied,
    coalesce(e.at_open, 0) AS at_open, coalesce(e.now, 0) AS now, coalesce(e.new6, 0) AS new6
  FROM cohort k LEFT JOIN att ON att.case_id = k.id LEFT JOIN equipment e ON e.id = k.id
  LEFT JOIN corr ON corr.id = k.id LEFT JOIN calendar s ON s.day = {key("k.window_start")}
  LEFT JOIN calendar f ON f.day = {day("att.first_at")}
  LEFT JOIN calendar d ON d.day = {key("k.completed_on")})
SELECT advisor_id, count(*),
  sum(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), sum(CASE WHEN hits > 0 THEN 1 ELSE 0 END),
  sum(CASE WHEN state = 'done' THEN 1 ELSE 0 END),
  sum(CASE WHEN state = 'done' AND on_time THEN 1 ELSE 0 END),
  sum(CASE WHEN state = 'done' AND NOT on_time THEN 1 ELSE 0 END),
  sum(CASE WHEN state IN ('open', 'late') AND status = 'en_cours' THEN 1 ELSE 0 END),
  sum(CASE WHEN state IN ('open', 'late') AND status <> 'en_cours' THEN 1 ELSE 0 END),
  sum(CASE WHEN state = 'late' THEN 1 ELSE 0 END), sum(CASE WHEN state = 'upcoming' THEN 1 ELSE 0 END),
  sum(CASE WHEN state = 'expired' THEN 1 ELSE 0 END), sum(CASE WHEN state = 'cancelled' THEN 1 ELSE 0 END),
  sum(attempts), sum(hits), sum(first_days), count(first_days),
  sum(CASE WHEN state = 'done' THEN done_days ELSE 0 END), count(CASE WHEN state = 'done' THEN done_days END),
  sum(CASE WHEN hits > 0 AND crm THEN 1 ELSE 0 END), sum(CASE WHEN hits > 0 AND review THEN 1 ELSE 0 END),
  sum(CASE WHEN attempts > 0 AND hits = 0 THEN 1 ELSE 0 END),
  sum(CASE WHEN attempts > 0 AND hits = 0 AND card THEN 1 ELSE 0 END),
  sum(CASE WHEN attempts > 0 AND card THEN 1 ELSE 0 END), sum(corrections), sum(applied),
  sum(CASE WHEN state = 'done' THEN at_open ELSE 0 END), sum(CASE WHEN state = 'done' THEN now ELSE 0 END),
  sum(CASE WHEN state = 'done' AND new6 = 1 THEN 1 ELSE 0 END),
  sum(CASE WHEN state = 'expired' THEN at_open ELSE 0 END), sum(CASE WHEN state = 'expired' THEN now ELSE 0 END),
  sum(CASE WHEN state = 'expired' AND new6 = 1 THEN 1 ELSE 0 END)
FROM per_case GROUP BY advisor_id"""
    items = "json_array_elements_text(r.gaps)" if pg else "json_each(r.gaps)"
    gaps = f"""WITH {cohort}
SELECT k.advisor_id, g.value, count(DISTINCT k.id) FROM cohort k
JOIN case_review r ON r.case_id = k.id JOIN {items} AS g ON true GROUP BY k.advisor_id, g.value"""
    actions = f"""WITH {cohort}
SELECT k.advisor_id, a.kind, sum(CASE WHEN a.done_on IS NOT NULL THEN 1 ELSE 0 END),
  sum(CASE WHEN a.done_on IS NULL AND a.due_on >= {today} THEN 1 ELSE 0 END),
  sum(CASE WHEN a.done_on IS NULL AND a.due_on < {today} THEN 1 ELSE 0 END)
FROM cohort k JOIN next_action a ON a.case_id = k.id GROUP BY k.advisor_id, a.kind"""
    return measures, gaps, actions


def run_baseline(engine: Engine, period: Period) -> dict[str, int]:
    measures, gaps, actions = baseline_sql(period, engine.dialect.name)
    total = dict.fromkeys(MEASURES, 0)
    with engine.connect() as connection:
        for row in connection.execute(text(measures)):
            for name, value in zip(MEASURES, row[1:], strict=True):
                total[name] += int(value or 0)
        connection.execute(text(gaps)).all()
        connection.execute(text(actions)).all()
    return total


def best(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return min(times), result


def measure(engine: Engine, repeat: int) -> list[dict[str, Any]]:
    factory = db.session_factory(engine)
    results = []
    for name, period in (("mois", month_of(TODAY)), ("12 derniers mois", last_months(TODAY, 12))):

        def ours(period: Period = period) -> Any:
            with factory() as session:
                return compute(session, period=period, today=TODAY)

        ours_time, report = best(ours, repeat)
        base_time, baseline = best(lambda period=period: run_baseline(engine, period), repeat)
        assert report.total.measures == baseline, "the baseline disagrees with bot.stats"
        results.append(
            {
                "period": name,
                "cases": report.total.measures["opened"],
                "compute_s": round(ours_time, 3),
                "baseline_s": round(base_time, 3),
                "ratio": round(ours_time / base_time, 2),
                "report": report,
            }
        )
    return results


def chart_time(report: Any, repeat: int) -> dict[str, float]:
    started = time.perf_counter()
    from bot.charts import render_png

    first_import = time.perf_counter() - started
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        png = render_png(report)
        times.append(time.perf_counter() - started)
    return {
        "import_matplotlib_s": round(first_import, 3),
        "first_render_s": round(times[0], 3),
        "render_s_median": round(statistics.median(times[1:] or times), 3),
        "png_bytes": len(png),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--contracts-per-client", type=int, default=10)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (a schema is made)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out: dict[str, Any] = {}
    targets: list[tuple[str, str, Callable[[], None]]] = []
    folder = Path(tempfile.mkdtemp(prefix="m3-stats-bench-"))
    targets.append(("sqlite", f"sqlite:///{folder / 'bench.db'}", lambda: None))
    if args.postgres:
        schema = f"m3bench_{uuid.uuid4().hex[:8]}"
        url = args.postgres.replace("postgresql://", "postgresql+psycopg://", 1)
        admin = db.make_engine(url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))

        def drop() -> None:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        targets.append(("postgresql", f"{url}?options=-csearch_path%3D{schema}", drop))
    last_report = None
    for name, url, cleanup in targets:
        engine = db.make_engine(url)
        try:
            db.upgrade(engine)
            started = time.perf_counter()
            counts = populate(engine, args.cases, args.contracts_per_client, args.seed)
            counts["populate_s"] = round(time.perf_counter() - started, 1)
            rows = measure(engine, args.repeat)
            last_report = rows[0]["report"]
            out[name] = {
                "data": counts,
                "runs": [{k: v for k, v in r.items() if k != "report"} for r in rows],
            }
            print(name, json.dumps(out[name], ensure_ascii=False), flush=True)
        finally:
            engine.dispose()
            cleanup()
    assert last_report is not None
    out["chart"] = chart_time(last_report, args.repeat)
    print("chart", json.dumps(out["chart"]), flush=True)


if __name__ == "__main__":
    main()

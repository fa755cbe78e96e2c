"""A known history for the stats tests: four real portfolio imports months apart (new clients,
new contracts, terminations that cancel cases), then calls, tags, reviews, next actions and
corrections written into the tables, and `expected_measures()`, which recomputes every measure
of `bot.stats` from the raw rows in plain Python (the rules' reference functions, no SQL
aggregate) so that the SQL can be checked against it.

Seeded: the same history every run. The agency's "today" for the figures is `TODAY`."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.calls import NextActionKind, Outcome, Product
from bot.crm.advisors import import_advisors
from bot.crm.portfolio import import_portfolio
from bot.models import (
    Advisor,
    Attempt,
    Branch,
    Case,
    CaseReview,
    Contract,
    Correction,
    NextAction,
)
from bot.rules import (
    CaseState,
    Status,
    TagValue,
    case_state,
    is_working_day,
    status_from_tags,
)
from bot.stats import Period
from tests.exports import ALICE, BRUNO, advisors_csv, contract, portfolio_csv

TODAY = dt.date(2026, 11, 20)
PERIOD_START = dt.date(2026, 9, 1)
PERIOD_END = dt.date(2026, 11, 30)
IMPORT_DAYS = (
    dt.date(2026, 5, 15),
    dt.date(2026, 7, 1),
    dt.date(2026, 10, 1),
    dt.date(2026, 11, 10),
)
CLIENTS = 48


def _fr(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _rows(import_index: int, rng: random.Random) -> list[dict[str, str]]:
    """The portfolio as export number `import_index` (0 to 3) shows it."""
    rows: list[dict[str, str]] = []
    for i in range(CLIENTS):
        number = f"{9000 + i}"
        advisor = ALICE if i % 3 else BRUNO
        effect = dt.date(2026, 5, 20) + dt.timedelta(days=(i * 37) % 118)
        first_import = 0 if effect < dt.date(2026, 6, 25) else 1
        if import_index < first_import:
            continue
        # One or two older contracts (not AN: no case of their own): the client's equipment.
        for k in range(i % 3):
            terminated = import_index == 2 and i % 7 == 0 and k == 0
            rows.append(
                contract(
                    number,
                    f"O{i}-{k}",
                    "15/01/2024",
                    advisor,
                    origin="Transfert",
                    Produit="Habitation",
                    **(
                        {"Statut contrat": "Résilié", "Date de résiliation": "15/09/2026"}
                        if terminated
                        else {}
                    ),
                )
            )
        # The AN contract that opens the M+3; a few are terminated by a later export.
        fields: dict[str, str] = {}
        if import_index >= 1 and i % 11 == 5:
            fields = {"Statut contrat": "Résilié", "Date de résiliation": "25/06/2026"}
        elif import_index >= 2 and i % 13 == 3:
            fields = {"Statut contrat": "Résilié", "Date de résiliation": "20/09/2026"}
        rows.append(contract(number, f"A{i}", _fr(effect), advisor, **fields))
        # New business after the case opened: in the second export for some, the third for others.
        if import_index >= 1 and i % 4 == 1:
            rows.append(contract(number, f"B{i}", "28/06/2026", advisor, Produit="Santé"))
        if import_index >= 2 and i % 5 == 2:
            rows.append(contract(number, f"C{i}", "25/09/2026", advisor, Produit="Prévoyance"))
        if import_index >= 3 and i % 4 == 3:
            rows.append(contract(number, f"D{i}", "05/11/2026", advisor, Produit="GAV"))
    return rows


def build(factory: sessionmaker[Session], tmp_path: Path, seed: int = 7) -> None:
    """Import the staff and four exports, then record the calls."""
    rng = random.Random(seed)
    with factory.begin() as session:
        import_advisors(session, advisors_csv(tmp_path / "staff.csv"), today=IMPORT_DAYS[0])
    for index, day in enumerate(IMPORT_DAYS):
        path = portfolio_csv(tmp_path / f"export{index}.csv", _rows(index, rng))
        with factory.begin() as session:
            result = import_portfolio(session, path, today=day)
            assert not result.rejected, result.rejected
            # The cases opened by this import were created that day (the clock of the test run
            # is not the agency's): 06:00 UTC, the same date in any European zone.
            session.execute(
                update(Case)
                .where(Case.created_at > dt.datetime(2026, 10, 2, tzinfo=dt.UTC))
                .values(created_at=dt.datetime(day.year, day.month, day.day, 6, tzinfo=dt.UTC))
            )
    with factory.begin() as session:
        _calls(session, rng)


def _calls(session: Session, rng: random.Random) -> None:
    advisors = {a.id: a for a in session.scalars(select(Advisor))}
    for case in session.scalars(select(Case).order_by(Case.id)):
        if case.cancelled_on is not None or rng.random() < 0.2:
            continue
        days = sorted(rng.sample(range(-1, 26), rng.randint(1, 4)))
        when = [
            dt.datetime.combine(case.window_start + dt.timedelta(days=d), dt.time(10, 30), dt.UTC)
            for d in days
            if case.window_start + dt.timedelta(days=d) <= TODAY
        ]
        if not when:
            continue
        outcomes = [rng.choice(list(Outcome)) for _ in when]
        for at, outcome in zip(when, outcomes, strict=True):
            session.add(
                Attempt(case_id=case.id, advisor_id=case.advisor_id, at=at, outcome=outcome.value)
            )
        reached = any(o.reached for o in outcomes)
        call = TagValue.OK if reached else TagValue.KO
        crm = rng.choice([TagValue.OK, TagValue.OK, TagValue.OK, TagValue.KO]) if reached else None
        review = rng.choice([TagValue.OK, TagValue.OK, TagValue.KO]) if reached else None
        card = TagValue.OK if rng.random() < (0.85 if reached else 0.4) else None
        status = status_from_tags(call=call, crm=crm, review=review, card=card)
        case.tag_call, case.tag_crm = call.value, crm.value if crm else None
        case.tag_review = review.value if review else None
        case.tag_card = card.value if card else None
        case.status = status.value
        case.completed_on = when[-1].date() if status is Status.DONE else None
        if not reached:
            continue
        products = [p.value for p in Product]
        session.add(
            CaseReview(
                case_id=case.id,
                gaps=rng.sample(products, rng.randint(0, 3)),
                updated_by_id=case.advisor_id,
            )
        )
        for _ in range(rng.randint(0, 2)):
            due = TODAY + dt.timedelta(days=rng.randint(-10, 10))
            session.add(
                NextAction(
                    case_id=case.id,
                    kind=rng.choice(list(NextActionKind)).value,
                    due_on=due,
                    done_on=min(due, TODAY) if rng.random() < 0.4 else None,
                    created_by_id=case.advisor_id,
                )
            )
        for _ in range(rng.randint(0, 2)):
            session.add(
                Correction(
                    client_id=case.client_id,
                    field="email",
                    new_value="x@example.fr",
                    advisor_id=case.advisor_id,
                    at=when[-1],
                    applied_on=TODAY if rng.random() < 0.5 else None,
                )
            )
        # A correction typed before this case opened belongs to an earlier one: not counted.
        session.add(
            Correction(
                client_id=case.client_id,
                field="phone",
                new_value="+33600000000",
                advisor_id=case.advisor_id,
                at=case.created_at - dt.timedelta(days=3),
            )
        )
    assert advisors


# --- The figures, recomputed from the raw rows ---------------------------------------------


def working_days(a: dt.date, b: dt.date) -> int:
    """Working days after `a` up to `b` (negative when `b` is before `a`)."""
    if b >= a:
        return sum(is_working_day(a + dt.timedelta(days=k)) for k in range(1, (b - a).days + 1))
    return -working_days(b, a)


def _date(value: dt.datetime) -> dt.date:
    return (value.astimezone(dt.UTC) if value.tzinfo else value).date()


def expected_measures(
    session: Session, period: Period, today: dt.date, advisor_ids: Iterable[int] | None = None
) -> dict[str, int]:
    """Every measure of `bot.stats.MEASURES`, for the cases whose window starts in `period`
    (of the advisors `advisor_ids`, or everyone), as of `today`, from the raw rows."""
    wanted = set(advisor_ids) if advisor_ids is not None else None
    attempts: dict[int, list[Attempt]] = defaultdict(list)
    for attempt in session.scalars(select(Attempt)):
        attempts[attempt.case_id].append(attempt)
    contracts: dict[int, list[Contract]] = defaultdict(list)
    for item in session.scalars(select(Contract)):
        contracts[item.client_id].append(item)
    corrections: dict[int, list[Correction]] = defaultdict(list)
    for correction in session.scalars(select(Correction)):
        corrections[correction.client_id].append(correction)
    m: dict[str, int] = defaultdict(int)
    for case in session.scalars(select(Case)):
        if not period.start <= case.window_start <= period.end:
            continue
        if wanted is not None and case.advisor_id not in wanted:
            continue
        state = case_state(
            window=case.window,
            today=today,
            completed_on=case.completed_on,
            cancelled_on=case.cancelled_on,
        )
        tries = sorted(attempts[case.id], key=lambda a: a.at)
        hits = [a for a in tries if Outcome(a.outcome).reached]
        m["opened"] += 1
        m["called"] += bool(tries)
        m["reached"] += bool(hits)
        m["attempts"] += len(tries)
        m["reached_attempts"] += len(hits)
        done = state is CaseState.DONE
        m["done"] += done
        if done:
            assert case.completed_on is not None
            on_time = case.completed_on <= case.window_end
            m["done_on_time"] += on_time
            m["done_late"] += not on_time
            m["done_days"] += working_days(case.window_start, case.completed_on)
            m["done_day_cases"] += 1
        pending = state in (CaseState.OPEN, CaseState.LATE)
        m["in_progress"] += pending and case.status == Status.IN_PROGRESS.value
        m["to_do"] += pending and case.status != Status.IN_PROGRESS.value
        m["overdue"] += state is CaseState.LATE
        m["upcoming"] += state is CaseState.UPCOMING
        m["expired"] += state is CaseState.EXPIRED
        m["cancelled"] += state is CaseState.CANCELLED
        if tries:
            m["first_call_days"] += working_days(case.window_start, _date(tries[0].at))
            m["first_call_cases"] += 1
        if hits:
            m["crm_ok"] += case.tag_crm == "OK"
            m["review_ok"] += case.tag_review == "OK"
        if tries and not hits:
            m["failed"] += 1
            m["card_ok_failed"] += case.tag_card == "OK"
        if tries:
            m["card_ok"] += case.tag_card == "OK"
        mine = [c for c in corrections[case.client_id] if _cmp(c.at) >= _cmp(case.created_at)]
        m["corrections"] += len(mine)
        m["corrections_applied"] += sum(c.applied_on is not None for c in mine)
        if state in (CaseState.DONE, CaseState.EXPIRED):
            own = [c.first_seen_on for c in contracts[case.client_id] if c.case_id == case.id]
            created = _date(case.created_at)
            opening = max(created, min(own)) if own else created
            at_open = sum(
                c.first_seen_on <= opening
                and (c.termination_date is None or c.termination_date > opening)
                for c in contracts[case.client_id]
            )
            now = sum(c.status == "Actif" for c in contracts[case.client_id])
            limit = case.window_start + relativedelta(months=6)
            new = any(
                c.new_business and opening < c.first_seen_on <= limit
                for c in contracts[case.client_id]
            )
            prefix = "done" if done else "expired"
            m[f"{prefix}_contracts_open"] += at_open
            m[f"{prefix}_contracts_now"] += now
            m[f"{prefix}_new"] += new
    return dict(m)


def _cmp(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value


def expected_gaps(session: Session, period: Period) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for review, case in session.execute(
        select(CaseReview, Case).join(Case, Case.id == CaseReview.case_id)
    ):
        if period.start <= case.window_start <= period.end:
            for product in set(review.gaps):
                found[product] += 1
    return dict(found)


def expected_actions(session: Session, period: Period, today: dt.date) -> dict[str, list[int]]:
    found: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for action, case in session.execute(
        select(NextAction, Case).join(Case, Case.id == NextAction.case_id)
    ):
        if period.start <= case.window_start <= period.end:
            index = 0 if action.done_on is not None else (1 if action.due_on >= today else 2)
            found[action.kind][index] += 1
    return dict(found)


def branch_advisors(session: Session, name: str) -> list[int]:
    return list(
        session.scalars(
            select(Advisor.id)
            .join(Branch, Branch.id == Advisor.branch_id)
            .where(Branch.name == name)
        )
    )


def summary(measures: dict[str, int]) -> dict[str, Any]:
    return {k: v for k, v in sorted(measures.items()) if v}

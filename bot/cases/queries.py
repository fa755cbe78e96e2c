"""Reading cases back: the `m3 cases` listing and each advisor's M+3 queue (the digest's
sections: new, à traiter, en retard). Queries take the session and never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bot.cases.views import CaseView, case_view
from bot.models import Advisor, Case, Client
from bot.rules import CaseState, newly_eligible

_ORDER = {
    CaseState.OPEN: 0,
    CaseState.LATE: 1,
    CaseState.UPCOMING: 2,
    CaseState.DONE: 3,
    CaseState.EXPIRED: 4,
    CaseState.CANCELLED: 5,
}


def list_cases(
    session: Session,
    *,
    today: dt.date,
    advisor_email: str | None = None,
    states: Iterable[CaseState] | None = None,
    case_id: int | None = None,
) -> list[CaseView]:
    """Cases as they stand on `today`, most urgent first (window closing soonest)."""
    query = select(Case).options(
        selectinload(Case.contracts),
        selectinload(Case.client).selectinload(Client.branch),
        selectinload(Case.advisor),
    )
    if advisor_email:
        query = query.join(Advisor, Case.advisor_id == Advisor.id).where(
            Advisor.email == advisor_email.strip().casefold()
        )
    if case_id is not None:
        query = query.where(Case.id == case_id)
    wanted = set(states) if states is not None else None
    views = []
    for case in session.scalars(query):
        view = case_view(case, today)
        if wanted is None or view.state in wanted:
            views.append(view)
    views.sort(key=lambda v: (_ORDER[v.state], v.window_end, v.client_name))
    return views


@dataclass
class Queue:
    """One advisor's M+3 queue on a day: what the morning digest shows."""

    advisor: Advisor
    today: dt.date
    new: list[CaseView] = field(default_factory=list)
    to_handle: list[CaseView] = field(default_factory=list)
    late: list[CaseView] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new or self.to_handle or self.late)

    @property
    def total(self) -> int:
        return len(self.new) + len(self.to_handle) + len(self.late)


def build_queue(
    views: Sequence[CaseView], *, advisor: Advisor, today: dt.date, since: dt.date | None
) -> Queue:
    """Split an advisor's open and late cases: new since `since`, à traiter, en retard."""
    queue = Queue(advisor=advisor, today=today)
    for view in views:
        if view.state is CaseState.OPEN:
            if newly_eligible(window_start=view.window_start, since=since, today=today):
                queue.new.append(view)
            else:
                queue.to_handle.append(view)
        elif view.state is CaseState.LATE:
            queue.late.append(view)
    for section in (queue.new, queue.to_handle, queue.late):
        section.sort(key=lambda v: (v.window_end, v.client_name))
    return queue


def queues_for(session: Session, *, today: dt.date, since: dt.date | None) -> list[Queue]:
    """Every active advisor's queue (managers included when they hold a portfolio)."""
    views = list_cases(session, today=today, states=(CaseState.OPEN, CaseState.LATE))
    by_email: dict[str, list[CaseView]] = {}
    for view in views:
        by_email.setdefault(view.advisor_email, []).append(view)
    advisors = session.scalars(
        select(Advisor).where(Advisor.active).order_by(Advisor.last_name, Advisor.first_name)
    )
    return [
        build_queue(by_email.get(a.email, []), advisor=a, today=today, since=since)
        for a in advisors
        if a.email in by_email or not a.is_manager
    ]

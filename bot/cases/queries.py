"""Reading cases back: the `m3 cases` listing and each advisor's M+3 queue (the digest's
sections: en retard, à traiter, new). Queries take the session and never commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.strategy_options import _AbstractLoad

from bot.calls import refusal_quiet_until
from bot.cases.views import AGENCY_ZONE, ActionView, CaseView, case_view
from bot.models import Advisor, Attempt, Case, Client, NextAction
from bot.rules import CaseState, Status, newly_eligible


def case_loads() -> tuple[_AbstractLoad, ...]:
    """The relationships a `CaseView` reads, loaded in a few batched queries (not one a case)."""
    return (
        selectinload(Case.contracts),
        selectinload(Case.client).selectinload(Client.branch),
        # Objective 2 and the review count every active contract of the client.
        selectinload(Case.client).selectinload(Client.contracts),
        selectinload(Case.advisor),
        selectinload(Case.attempts).selectinload(Attempt.advisor),
        selectinload(Case.next_actions),
        selectinload(Case.review),
    )


def may_be_the_clients_case(today: dt.date) -> ColumnElement[bool]:
    """The cases among which `the_clients_case` picks: each client's current one, and any
    still to call (neither done nor cancelled, its deadline not past)."""
    return or_(
        Case.is_current,
        and_(Case.completed_on.is_(None), Case.cancelled_on.is_(None), Case.deadline >= today),
    )


def the_clients_case(cases: Iterable[Case], today: dt.date) -> list[Case]:
    """Of `cases` (`may_be_the_clients_case`), in their order, the one of each client to show
    and work on `today`: the earliest still to call, else the current one (done, cancelled or
    expired: its history). A client has two cases still to call when the CRM brings a
    contract that takes effect after the open case's deadline: the new case is current, but
    the open one is called first."""

    def rank(case: Case) -> tuple[bool, dt.date, bool, int]:
        to_call = case.state(today) in (CaseState.UPCOMING, CaseState.OPEN, CaseState.LATE)
        due = case.due_date if to_call else dt.date.min
        return (not to_call, due, not case.is_current, -case.id)

    cases = list(cases)
    best: dict[int, Case] = {}
    for case in cases:
        kept = best.get(case.client_id)
        if kept is None or rank(case) < rank(kept):
            best[case.client_id] = case
    return [case for case in cases if best[case.client_id] is case]


_ORDER = {
    CaseState.LATE: 0,
    CaseState.OPEN: 1,
    CaseState.UPCOMING: 2,
    CaseState.DONE: 3,
    CaseState.EXPIRED: 4,
    CaseState.CANCELLED: 5,
}


def urgency(view: CaseView) -> tuple[int, dt.date, dt.date, str, str]:
    """The sort key of every list of cases, the most urgent first, as the morning récapitulatif
    orders them: late cases nearest their last day first (a joined case stays late until its
    latest contract's deadline), then those à traiter, their window closing soonest; then the
    others."""
    return (
        _ORDER[view.state],
        view.last_day(),
        view.window_end,
        view.client_name,
        view.client_number,
    )


def list_cases(
    session: Session,
    *,
    today: dt.date,
    advisor_email: str | None = None,
    states: Iterable[CaseState] | None = None,
    case_id: int | None = None,
    case_ids: Iterable[int] | None = None,
) -> list[CaseView]:
    """Cases as they stand on `today`, most urgent first (`urgency`)."""
    query = select(Case).options(
        *case_loads(),
    )
    if advisor_email:
        query = query.join(Advisor, Case.advisor_id == Advisor.id).where(
            Advisor.email == advisor_email.strip().lower()
        )
    if case_id is not None:
        query = query.where(Case.id == case_id)
    if case_ids is not None:
        query = query.where(Case.id.in_(list(case_ids)))
    wanted = set(states) if states is not None else None
    if wanted is not None and wanted <= {CaseState.OPEN, CaseState.LATE}:
        # Only cases whose window has opened and whose last day has not passed can be open or
        # late: let the database leave the others out.
        query = query.where(Case.window_start <= today, Case.deadline >= today)
    views = []
    for case in session.scalars(query):
        view = case_view(case, today)
        if wanted is None or view.state in wanted:
            views.append(view)
    views.sort(key=urgency)
    return views


@dataclass(frozen=True)
class AgendaItem:
    """Something due today in « Rappels et actions du jour »: a callback agreed with the
    client (`at`), a next try after a failed call, or a next action of a review (`action`)."""

    kind: str  # "callback", "next_try" or "action"
    case: CaseView
    at: dt.datetime | None = None
    action: ActionView | None = None


@dataclass
class Queue:
    """One advisor's M+3 queue on a day: what the morning digest shows."""

    advisor: Advisor
    today: dt.date
    new: list[CaseView] = field(default_factory=list)
    to_handle: list[CaseView] = field(default_factory=list)
    late: list[CaseView] = field(default_factory=list)
    agenda: list[AgendaItem] = field(default_factory=list)
    # Reached, report not complete: shown in the App Home (not in the morning digest).
    in_progress: list[CaseView] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new or self.to_handle or self.late or self.agenda)

    @property
    def total(self) -> int:
        return len(self.new) + len(self.to_handle) + len(self.late)

    def by_urgency(self) -> list[tuple[str, CaseView]]:
        """Every case with its section, the most urgent first: late cases nearest to expiry,
        then à traiter and new, window closing soonest. The tail is what has the most time
        left: what a surface that cannot show everything leaves out."""
        return [
            (kind, case)
            for kind, cases in (
                ("late", self.late),
                ("to_handle", self.to_handle),
                ("new", self.new),
            )
            for case in cases
        ]


def _follow_up(view: CaseView, today: dt.date, zone: ZoneInfo) -> AgendaItem | None:
    """The callback or next try the case's last attempt set, when it falls today or before."""
    last = view.last_attempt
    if last is None or (view.tags.get("call") == "OK" and last.outcome != "rappel"):
        return None
    if last.outcome == "rappel" and last.callback_at is not None:
        if last.callback_at.astimezone(zone).date() <= today:
            return AgendaItem("callback", view, at=last.callback_at.astimezone(zone))
    elif last.next_try_on is not None and last.next_try_on <= today:
        return AgendaItem("next_try", view)
    return None


def _waiting(view: CaseView, today: dt.date, zone: ZoneInfo) -> bool:
    """Whether the case is out of today's queue: the client was reached (what is left is in
    the report), refused the review less than 60 days ago, or a next try or callback is set
    for a later day."""
    if view.tags.get("call") == "OK":
        return True
    refused = view.refused_on()
    if refused is not None and today < refusal_quiet_until(refused):
        return True
    last = view.last_attempt
    if last is None:
        return False
    if last.callback_at is not None and last.callback_at.astimezone(zone).date() > today:
        return True
    return last.next_try_on is not None and last.next_try_on > today


def build_queue(
    views: Sequence[CaseView],
    *,
    advisor: Advisor,
    today: dt.date,
    since: dt.date | None,
    actions: Sequence[tuple[CaseView, ActionView]] = (),
    zone: ZoneInfo = AGENCY_ZONE,
) -> Queue:
    """Split an advisor's open and late cases: today's callbacks, next tries and next actions
    first, then en retard (nearest to expiry first), à traiter and new since `since` (window
    closing soonest first)."""
    queue = Queue(advisor=advisor, today=today)
    for view in views:
        follow_up = _follow_up(view, today, zone)
        if follow_up is not None:
            queue.agenda.append(follow_up)
            continue
        if _waiting(view, today, zone):
            if view.status == Status.IN_PROGRESS.value:
                queue.in_progress.append(view)
            continue
        if view.state is CaseState.OPEN:
            if newly_eligible(window_start=view.window_start, since=since, today=today):
                queue.new.append(view)
            else:
                queue.to_handle.append(view)
        elif view.state is CaseState.LATE:
            queue.late.append(view)
    queue.agenda += [AgendaItem("action", case, action=action) for case, action in actions]
    order = {"callback": 0, "next_try": 1, "action": 2}
    queue.agenda.sort(
        key=lambda item: (
            order[item.kind],
            item.at or dt.datetime.min.replace(tzinfo=dt.UTC),
            item.action.due_on if item.action else today,
            item.case.client_name,
        )
    )
    for section in (queue.late, queue.new, queue.to_handle, queue.in_progress):
        section.sort(key=urgency)
    return queue


def due_actions(
    session: Session, *, today: dt.date, advisor_ids: Iterable[int] | None = None
) -> dict[str, list[tuple[CaseView, ActionView]]]:
    """The next actions not done and due today or before, by advisor e-mail (whatever the
    case's state: a quote promised on a completed case is still due)."""
    query = select(NextAction.case_id).where(
        NextAction.done_on.is_(None), NextAction.due_on <= today
    )
    if advisor_ids is not None:
        query = query.join(Case, NextAction.case_id == Case.id).where(
            Case.advisor_id.in_(list(advisor_ids))
        )
    case_ids = set(session.scalars(query))
    out: dict[str, list[tuple[CaseView, ActionView]]] = {}
    if not case_ids:
        return out
    for view in list_cases(session, today=today, case_ids=case_ids):
        for action in view.pending_actions:
            if action.due_on <= today:
                out.setdefault(view.advisor_email, []).append((view, action))
    return out


def queues_for(session: Session, *, today: dt.date, since: dt.date | None) -> list[Queue]:
    """Every active advisor's queue (managers included when they hold a portfolio)."""
    views = list_cases(session, today=today, states=(CaseState.OPEN, CaseState.LATE))
    by_email: dict[str, list[CaseView]] = {}
    for view in views:
        by_email.setdefault(view.advisor_email, []).append(view)
    actions = due_actions(session, today=today)
    advisors = session.scalars(
        select(Advisor).where(Advisor.active).order_by(Advisor.last_name, Advisor.first_name)
    )
    return [
        build_queue(
            by_email.get(a.email, []),
            advisor=a,
            today=today,
            since=since,
            actions=actions.get(a.email, []),
        )
        for a in advisors
        if a.email in by_email or a.email in actions or not a.is_manager
    ]

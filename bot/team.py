"""The team's M+3 queue as the managers see it (their daily summary, their App Home): each
advisor's counts grouped by branch, the windows closing today, and the cases nobody is going to
call — their advisor is absent, or left the agency (inactive after a staff import) and the
next export has not given the client to someone else yet.

Who takes such a case (« Je le prends ») is `take_case`: the case moves, the audit log says who
moved it, and the caller tells the advisors concerned (after the transaction)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.cases.queries import Queue, build_queue, list_cases, queues_for
from bot.cases.views import CaseView
from bot.models import Absence, Advisor, AuditEntry, Case
from bot.rules import CaseState


@dataclass(frozen=True)
class AdvisorLine:
    """One advisor's line of the summary: their queue, and whether someone else must call it."""

    advisor: Advisor
    queue: Queue
    absence: Absence | None = None
    departed: bool = False

    @property
    def unattended(self) -> bool:
        return self.absence is not None or self.departed

    @property
    def cases(self) -> list[CaseView]:
        """Every case of the queue, most urgent first; with today's callbacks and next tries
        (a client waiting for a call back is the first to call)."""
        seen: dict[int, CaseView] = {}
        for item in self.queue.agenda:
            if item.kind != "action" and item.case.state in (CaseState.OPEN, CaseState.LATE):
                seen.setdefault(item.case.id, item.case)
        for case in sorted(
            self.queue.new + self.queue.to_handle + self.queue.late,
            key=lambda c: (c.last_day(), c.client_name),
        ):
            seen.setdefault(case.id, case)
        return list(seen.values())

    @property
    def new(self) -> int:
        return len(self.queue.new)

    @property
    def to_handle(self) -> int:
        return len(self.queue.to_handle)

    @property
    def late(self) -> int:
        return len(self.queue.late)

    @property
    def total(self) -> int:
        return self.queue.total

    @property
    def closing_today(self) -> int:
        """Cases à traiter on their last day (`CaseView.last_day`: the window's last working
        day): after it they are late."""
        return sum(
            1 for c in self.queue.new + self.queue.to_handle if c.last_day() == self.queue.today
        )

    @property
    def expiring_today(self) -> int:
        """Late cases on their last day (the last working day before they expire)."""
        return sum(1 for c in self.queue.late if c.last_day() == self.queue.today)


@dataclass(frozen=True)
class BranchGroup:
    name: str | None
    lines: list[AdvisorLine]

    def _sum(self, attribute: str) -> int:
        return sum(int(getattr(line, attribute)) for line in self.lines)

    @property
    def new(self) -> int:
        return self._sum("new")

    @property
    def to_handle(self) -> int:
        return self._sum("to_handle")

    @property
    def late(self) -> int:
        return self._sum("late")

    @property
    def closing_today(self) -> int:
        return self._sum("closing_today")

    @property
    def expiring_today(self) -> int:
        return self._sum("expiring_today")


@dataclass(frozen=True)
class TeamQueue:
    today: dt.date
    branches: list[BranchGroup] = field(default_factory=list)
    branch: str | None = None  # the branch the view is filtered on, if any

    @property
    def lines(self) -> list[AdvisorLine]:
        return [line for group in self.branches for line in group.lines]

    @property
    def unattended(self) -> list[tuple[AdvisorLine, CaseView]]:
        """The cases someone else must call, the most urgent first."""
        found = [(line, case) for line in self.lines if line.unattended for case in line.cases]
        found.sort(key=lambda pair: (pair[1].last_day(), pair[1].client_name))
        return found

    @property
    def total(self) -> int:
        return sum(line.total for line in self.lines)

    @property
    def empty(self) -> bool:
        return not self.lines

    def only(self, branch: str | None) -> TeamQueue:
        """The view of one branch (`None`: the whole agency)."""
        if branch is None:
            return self
        return TeamQueue(
            today=self.today,
            branches=[g for g in self.branches if g.name == branch],
            branch=branch,
        )


def team_queue(queues: Iterable[Queue], today: dt.date) -> TeamQueue:
    """Group the advisors' queues by branch (alphabetical, advisors without one last). An
    advisor appears when there is something to say: cases to call, or an absence today."""
    by_branch: dict[str | None, list[AdvisorLine]] = {}
    for queue in queues:
        advisor = queue.advisor
        line = AdvisorLine(
            advisor=advisor,
            queue=queue,
            absence=advisor.absence_on(today) if advisor.active else None,
            departed=not advisor.active,
        )
        if line.total == 0 and not line.cases and line.absence is None:
            continue
        name = advisor.branch.name if advisor.branch is not None else None
        by_branch.setdefault(name, []).append(line)
    groups = [
        BranchGroup(
            name,
            sorted(lines, key=lambda line: (line.advisor.last_name, line.advisor.first_name)),
        )
        for name, lines in by_branch.items()
    ]
    groups.sort(key=lambda g: (g.name is None, g.name or ""))
    return TeamQueue(today=today, branches=groups)


def departed_queues(session: Session, *, today: dt.date, since: dt.date | None) -> list[Queue]:
    """The open and late cases still held by advisors who left (inactive), as queues."""
    gone = session.scalars(
        select(Advisor)
        .where(Advisor.active.is_(False))
        .where(
            Advisor.id.in_(
                select(Case.advisor_id).where(
                    Case.completed_on.is_(None), Case.cancelled_on.is_(None)
                )
            )
        )
        .order_by(Advisor.last_name, Advisor.first_name)
    ).all()
    queues = []
    for advisor in gone:
        views = list_cases(
            session,
            today=today,
            advisor_email=advisor.email,
            states=(CaseState.OPEN, CaseState.LATE),
        )
        if views:
            queues.append(build_queue(views, advisor=advisor, today=today, since=since))
    return queues


def load_team(session: Session, *, today: dt.date, since: dt.date | None) -> TeamQueue:
    queues = queues_for(session, today=today, since=since)
    return team_queue([*queues, *departed_queues(session, today=today, since=since)], today)


# --- « Je le prends » -------------------------------------------------------------------------


class TakeRefusal(enum.StrEnum):
    GONE = "gone"  # no longer a case to call (done, cancelled, expired, replaced)
    MOVED = "moved"  # someone took it meanwhile
    NOT_ALLOWED = "not_allowed"  # only managers give a case to someone else
    UNKNOWN_TARGET = "unknown_target"  # the person chosen is not an active advisor
    SAME = "same"  # already theirs


@dataclass(frozen=True)
class Taken:
    """A case that changed hands; the advisors are detached (for the DMs after the commit)."""

    case_id: int
    client_name: str
    products: list[str]
    previous: Advisor
    new: Advisor
    by: Advisor


def take_case(
    session: Session,
    *,
    case_id: int,
    expected_advisor_id: int | None,
    asker: Advisor,
    target: Advisor,
    today: dt.date,
) -> Taken | TakeRefusal:
    """Move the case to `target` (the asker, or someone a manager chose), if it is still open
    or late and still with the advisor the button was shown for; the change is audited."""
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        return TakeRefusal.GONE
    if case.state(today) not in (CaseState.OPEN, CaseState.LATE):
        return TakeRefusal.GONE
    if target.id != asker.id and not asker.is_manager:
        return TakeRefusal.NOT_ALLOWED
    if not target.active:
        return TakeRefusal.UNKNOWN_TARGET
    if case.advisor_id == target.id:
        return TakeRefusal.SAME
    if expected_advisor_id is not None and case.advisor_id != expected_advisor_id:
        return TakeRefusal.MOVED
    previous = case.advisor
    session.add(
        AuditEntry(
            actor=asker.email,
            entity="case",
            entity_key=str(case.id),
            field="advisor_id",
            old_value=str(previous.id),
            new_value=str(target.id),
        )
    )
    case.advisor_id = target.id
    session.flush()
    view = list_cases(session, today=today, case_id=case.id)
    products: list[str] = view[0].products if view else []
    return Taken(
        case_id=case.id,
        client_name=case.client.display_name,
        products=products,
        previous=previous,
        new=target,
        by=asker,
    )

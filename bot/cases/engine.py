"""The case engine: keeps the M+3 cases in step with the contracts in the database.

`sync_cases()` is called after every import (and may be called by any job): it opens cases for
new AN contracts (grouped by `bot.rules.place_contracts`), drops terminated contracts from open
cases and cancels a case whose contracts have all ended, and moves open cases to the client's
current advisor. A contract the CRM moved to another client leaves its open case for one of
its new client's (a case left with none of its client's AN contracts is cancelled); a case
already done or cancelled keeps it. An effect date the CRM corrects moves the open case's
window, or takes the contract out of the case (`_Sync._held`); when the correction moves the
case's window earlier and puts its deadline in the past, the case is cancelled, not expired:
the call was due before anyone could know it, and is no advisor's miss. A cancelled case
comes back (`_Sync._restored`) when the contracts that left it are active again (the CRM undid
a termination, a suspension or a wrong date) and it is still to call: the attempts logged on it
stay the client's, instead of a new case opening beside it. It takes the session (or a
connection) and never commits.

A case's window is its earliest contract's; its deadline (the end of "en retard") is its latest
contract's, so that a client who signed again while the first M+3 was pending is still called
for the new contract instead of the case expiring under it. A contract joins a case when it
takes effect on or before that deadline (`bot.rules.accepts`): one open case per client.

The engine works on plain rows with Core statements, a page of clients at a time (their AN
contracts, their cases and their advisor in three queries; the changes in a few batched
statements), so that an import touching a million clients holds one page in memory, never one
ORM object per contract.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session

from bot.bulk import Loader, reserve_ids
from bot.db import chunked
from bot.models import AuditEntry, Base, Case, Client, Contract, ContractStatus
from bot.rules import (
    CaseFacts,
    CaseState,
    ContractFacts,
    Status,
    Window,
    case_state,
    place_contracts,
    window_for,
)

PAGE = 900  # clients per page: an `IN (…)` list short enough for every backend


class LeftOut:
    """The contracts too old to open a case: how many, and the first few numbers."""

    __slots__ = ("count", "sample")
    SAMPLE = 20

    def __init__(self) -> None:
        self.count = 0
        self.sample: list[str] = []

    @classmethod
    def counted(cls, count: int, sample: Iterable[str]) -> LeftOut:
        """Contracts left out by a query that counted them and read the first few."""
        left_out = cls()
        left_out.count = count
        left_out.sample = list(sample)[: cls.SAMPLE]
        return left_out

    def extend(self, numbers: Iterable[str]) -> None:
        for number in numbers:
            self.count += 1
            if len(self.sample) < self.SAMPLE:
                self.sample.append(number)

    def merge(self, other: LeftOut) -> None:
        self.count += other.count
        self.sample.extend(other.sample[: self.SAMPLE - len(self.sample)])

    def __len__(self) -> int:
        return self.count

    def __bool__(self) -> bool:
        return self.count > 0

    def __iter__(self) -> Iterator[str]:
        return iter(self.sample)


@dataclass
class SyncReport:
    opened: int = 0
    joined: int = 0
    cancelled: int = 0
    moved: int = 0
    restored: int = 0  # cancelled cases whose contracts came back (`_Sync._restored`)
    merged: int = 0  # cases joined into another of their client's (`_Sync._merge`)
    left_out: LeftOut = field(default_factory=LeftOut)  # contracts too old to open a case

    def add(self, other: SyncReport) -> None:
        self.opened += other.opened
        self.joined += other.joined
        self.cancelled += other.cancelled
        self.moved += other.moved
        self.restored += other.restored
        self.merged += other.merged
        self.left_out.merge(other.left_out)


_contract = Base.metadata.tables[Contract.__tablename__]
_case = Base.metadata.tables[Case.__tablename__]
_client = Base.metadata.tables[Client.__tablename__]
_audit_table = Base.metadata.tables[AuditEntry.__tablename__]
# The contract fields the engine reads (`_Sync.page`): a contract changed in others only (its
# product, seller, documents…) leaves its client's cases as they are.
CASE_FIELDS = frozenset({"client_id", "new_business", "effect_date", "status", "termination_date"})
_ACTIVE = ContractStatus.ACTIVE.value
# What records a call on a case: the tables that refer to it, and its tags (`_Sync._busy`).
_CASE_RECORDS = ("attempt", "case_review", "next_action", "outbox")
_CASE_TAGS = ("tag_call", "tag_crm", "tag_review", "tag_card")
_TODO = Status.TODO.value


@dataclass(slots=True)
class _ContractRow:
    id: int
    number: str
    effect: dt.date
    active: bool  # active, and an AN
    termination: dt.date | None
    case_id: int | None


@dataclass(slots=True)
class _CaseRow:
    id: int
    advisor_id: int
    is_current: bool
    effect_date: dt.date
    due_date: dt.date
    window_start: dt.date
    window_end: dt.date
    deadline: dt.date
    completed_on: dt.date | None
    cancelled_on: dt.date | None
    dirty: bool = False

    def to_call(self, today: dt.date) -> bool:
        """Neither done nor cancelled, and its deadline not past (upcoming, open or late)."""
        return self.completed_on is None and self.cancelled_on is None and self.deadline >= today

    def state(self, today: dt.date) -> CaseState:
        window = Window(
            start=self.window_start, due=self.due_date, end=self.window_end, deadline=self.deadline
        )
        return case_state(
            window=window,
            today=today,
            completed_on=self.completed_on,
            cancelled_on=self.cancelled_on,
        )


_CASE_COLUMNS = (
    _case.c.id,
    _case.c.client_id,
    _case.c.advisor_id,
    _case.c.is_current,
    _case.c.effect_date,
    _case.c.due_date,
    _case.c.window_start,
    _case.c.window_end,
    _case.c.deadline,
    _case.c.completed_on,
    _case.c.cancelled_on,
)
# A new case's columns, those a case starts with (the import opens most of its new clients'
# cases with them too: `bot.crm.portfolio`).
NEW_CASE_COLUMNS = (
    "id",
    "client_id",
    "advisor_id",
    "is_current",
    "effect_date",
    "due_date",
    "window_start",
    "window_end",
    "deadline",
    "status",
    "created_at",
)
_IS_CURRENT = NEW_CASE_COLUMNS.index("is_current") - 1  # in a new case's values (no id)
_UPDATED_FIELDS = (
    "advisor_id",
    "is_current",
    "effect_date",
    "due_date",
    "window_start",
    "window_end",
    "deadline",
    "cancelled_on",
)


def sync_cases(
    session: Session | Connection,
    *,
    client_ids: Iterable[int] | Select[Any],
    today: dt.date,
    actor: str,
    new_from: int = 0,
    redated: Collection[str] = frozenset(),
) -> SyncReport:
    """Bring the cases of these clients in step with their contracts. `client_ids` is a list
    of ids, or a one-column SELECT of them (an import passes its table of touched clients).
    The contracts too old to open a case are counted in the report's `left_out` when their id
    is `new_from` or more, or a corrected date (`redated`) takes them out of their case: an
    import passes its first new contract's id, so that it reports the old contracts it brings
    or redates out of a case, not again those of earlier imports whenever their client changes
    or their date is corrected again. `redated`: the numbers of the
    contracts whose effect date the import changed (the CRM corrected it): such a contract may
    no longer belong with the others of its case (`_Sync._held`), and a case whose window a
    correction moved earlier, its whole M+3 now in the past, is cancelled, not expired."""
    connection = session.connection() if isinstance(session, Session) else session
    report = SyncReport()
    sync = _Sync(
        connection,
        today=today,
        actor=actor,
        report=report,
        new_from=new_from,
        redated=redated,
    )
    for page in _pages(connection, client_ids):
        sync.page(page)
    return report


def open_cases(
    connection: Connection,
    clients: Iterable[tuple[int, int, list[tuple[int, str, dt.date]]]],
    *,
    today: dt.date,
    actor: str,
    link: Callable[[list[tuple[int, int]]], None],
) -> SyncReport:
    """The cases of new clients whose contracts are not written yet (the first import of a
    portfolio): `clients` gives each client's id, advisor id and active AN contracts (a key of
    the caller's, number, effect date). The cases are written; `link` is given, a batch at a
    time, the (key, case id) of each placed contract, for the caller to write with the
    contracts. The same placement `sync_cases` makes for a client without cases."""
    report = SyncReport()
    sync = _Sync(connection, today=today, actor=actor, report=report)
    batch: list[tuple[tuple[Any, ...], list[_ContractRow]]] = []
    for client_id, advisor_id, contracts in clients:
        waiting = [
            _ContractRow(key, number, effect, True, None, None) for key, number, effect in contracts
        ]
        sync.place(client_id, advisor_id, waiting, None, [], batch, [])  # no case to join
        if len(batch) >= 5000:
            link(sync.insert_cases(batch))
            batch = []
    link(sync.insert_cases(batch))
    return report


def _pages(connection: Connection, client_ids: Iterable[int] | Select[Any]) -> Iterator[list[int]]:
    if isinstance(client_ids, Select):
        ids = client_ids.subquery()
        column = ids.c[0]
        last: int | None = None
        while True:
            query = select(column).order_by(column).limit(PAGE)
            if last is not None:
                query = query.where(column > last)
            page = list(connection.execute(query).scalars())
            if not page:
                return
            yield page
            last = page[-1]
    ordered = sorted(set(client_ids))
    for start in range(0, len(ordered), PAGE):
        yield ordered[start : start + PAGE]


class _Sync:
    def __init__(
        self,
        connection: Connection,
        *,
        today: dt.date,
        actor: str,
        report: SyncReport,
        new_from: int = 0,
        redated: Collection[str] = frozenset(),
    ) -> None:
        self.connection = connection
        self.today = today
        self.actor = actor
        self.report = report
        self.new_from = new_from  # contracts left out are counted from this id
        self.redated = redated  # contracts whose effect date was corrected
        self.had_case: set[int] = set()  # of the page's contracts, those in a case (`page`)
        self.gone: list[int] = []  # cases merged into another, to delete (`_merge`)
        self.now = dt.datetime.now(dt.UTC)

    def page(self, ids: Sequence[int]) -> None:
        """Sync a page of clients, then let their rows go."""
        connection, today, report = self.connection, self.today, self.report
        contracts_by_client: dict[int, list[_ContractRow]] = defaultdict(list)
        for row in connection.execute(
            select(
                _contract.c.id,
                _contract.c.client_id,
                _contract.c.number,
                _contract.c.effect_date,
                _contract.c.status,
                _contract.c.termination_date,
                _contract.c.case_id,
                _contract.c.new_business,
            )
            .where(
                _contract.c.client_id.in_(ids),
                # An AN, or a contract in a case: the CRM may have said since that it is not
                # an AN, and it leaves its open case as an ended one does.
                or_(_contract.c.new_business, _contract.c.case_id.is_not(None)),
            )
            .order_by(_contract.c.id)
        ):
            active = row[4] == _ACTIVE and bool(row[7])
            contracts_by_client[row[1]].append(
                _ContractRow(row[0], row[2], row[3], active, row[5], row[6])
            )
        cases_by_client: dict[int, list[_CaseRow]] = defaultdict(list)
        for found in connection.execute(
            select(*_CASE_COLUMNS).where(_case.c.client_id.in_(ids)).order_by(_case.c.id)
        ):
            cases_by_client[found[1]].append(_CaseRow(found[0], *found[2:]))
        advisor_of: dict[int, int] = {
            client_id: advisor_id
            for client_id, advisor_id in connection.execute(
                select(_client.c.id, _client.c.advisor_id).where(_client.c.id.in_(ids))
            )
        }

        audit: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []  # contracts whose case changed
        new_cases: list[tuple[tuple[Any, ...], list[_ContractRow]]] = []
        kept = self._kept_by_hand(
            [
                (case.id, client_id)
                for client_id, cases in cases_by_client.items()
                for case in cases
                if case.completed_on is None
                and case.cancelled_on is None
                and case.advisor_id != advisor_of.get(client_id)
            ]
        )
        moved_in, freed = self._moved_in(contracts_by_client, cases_by_client)
        # The contracts in a live case (or moved from another client's) before this sync: a
        # correction that leaves one of them too old is reported (`place`); one in no case, or
        # in a cancelled case, was reported before (or left with its case).
        live = {
            case.id for found in cases_by_client.values() for case in found if not case.cancelled_on
        }
        self.had_case = {
            c.id
            for found in contracts_by_client.values()
            for c in found
            if c.case_id in live or c.id in moved_in
        }
        for client_id in ids:
            contracts = contracts_by_client.get(client_id, [])
            cases = cases_by_client.get(client_id, [])
            if not contracts and not cases:
                continue
            advisor_id = advisor_of[client_id]
            cancelled = {case.id for case in cases if case.cancelled_on is not None}
            in_case: dict[int, list[_ContractRow]] = defaultdict(list)
            returning: dict[int, list[_ContractRow]] = defaultdict(list)
            for contract in contracts:
                left = moved_in.get(contract.id)
                if left is not None:
                    # Now this client's (the CRM moved it): it leaves the other client's case
                    # and is placed below like any contract in no case.
                    audit.append(self._audit(left, "contract_left", contract.number, None))
                    contract.case_id = None
                    links.append({"b_id": contract.id, "case_id": None})
                elif contract.active and contract.case_id in cancelled:
                    # Its case was cancelled (it had ended, been suspended or redated) and it
                    # is an active AN again: the case may come back (below).
                    returning[contract.case_id].append(contract)
                elif contract.active and contract.id in freed:
                    # Moved here from another client's cancelled case: placed below like a
                    # new one; its link to the cancelled case goes only once it is placed.
                    contract.case_id = None
                elif contract.case_id is not None:
                    in_case[contract.case_id].append(contract)
            for case_id, back in returning.items():
                taken = self._restored(client_id, case_id, back, cases, links, audit)
                in_case[case_id].extend(taken)
                if taken and advisor_id != next(c.advisor_id for c in cases if c.id == case_id):
                    # Given to a colleague by hand before it was cancelled: it stays there.
                    kept |= self._kept_by_hand([(case_id, client_id)])

            for case in cases:
                if case.completed_on is not None or case.cancelled_on is not None:
                    continue
                members = in_case.get(case.id, [])
                still = [c for c in members if c.active]
                if not still:
                    # Its contracts have all ended, or none of them is still this client's AN
                    # contract (moved to another client, or no longer an AN).
                    ended = [c.termination for c in members if c.termination]
                    cancelled_on = min(max(ended), today) if ended else today
                    if cancelled_on > case.deadline:
                        continue  # it had expired first: a missed call stays one
                    self._cancel(case, cancelled_on, audit)
                    continue
                redated = any(c.number in self.redated for c in still)
                if redated:
                    still = self._held(still)
                held = {c.id for c in still}
                for gone in (c for c in members if c.id not in held):
                    gone.case_id = None
                    links.append({"b_id": gone.id, "case_id": None})
                    audit.append(self._audit(case.id, "contract_left", gone.number, None))
                # The dates follow the contracts still in it: one left, or the CRM corrected
                # an effect date (the call would be planned on the old one).
                earliest, deadline = case.effect_date, case.deadline
                if _set_dates(case, [c.effect for c in still]):
                    audit.append(self._audit(case.id, "effect_date", earliest, case.effect_date))
                if case.deadline != deadline:
                    audit.append(self._audit(case.id, "deadline", deadline, case.deadline))
                if redated and case.effect_date < earliest and case.deadline < today <= deadline:
                    # A correction moved the window earlier and the whole M+3 into the past:
                    # it was due before anyone could know it, not a call missed: cancelled.
                    self._cancel(case, today, audit)
                    continue
                state = case.state(today)
                if (
                    state in (CaseState.UPCOMING, CaseState.OPEN, CaseState.LATE)
                    and case.advisor_id != advisor_id
                    and case.id not in kept
                ):
                    audit.append(self._audit(case.id, "advisor_id", case.advisor_id, advisor_id))
                    case.advisor_id = advisor_id
                    case.dirty = True
                    report.moved += 1

            waiting = [c for c in contracts if c.case_id is None and c.active]
            opened_from = len(new_cases)
            if waiting:
                current = next((c for c in cases if c.is_current), None)
                if current is None:
                    # The current case was cancelled (its contracts ended, moved or were
                    # redated away): the latest case still to call takes new ones as the
                    # current would, rather than a second case open beside it.
                    current = max(
                        (c for c in cases if c.to_call(today)), key=lambda c: c.id, default=None
                    )
                waiting = self._rehome(cases, contracts, waiting, current, links, audit)
                self.place(client_id, advisor_id, waiting, current, links, new_cases, audit)
            self._merge(cases, contracts, kept, links, audit)
            if len(new_cases) > opened_from and self._absorb(
                cases, contracts, new_cases, opened_from, links, audit
            ):
                self._merge(cases, contracts, kept, links, audit)

        self._write(cases_by_client, new_cases, links, audit)

    def _held(self, contracts: list[_ContractRow]) -> list[_ContractRow]:
        """Of a case's active contracts, one of them or more with an effect date the CRM
        corrected (`redated`), those the case still holds. They are grouped as an empty
        database would group them: in order of effect, each joining the ones before it when it
        takes effect on or before their latest deadline. The case keeps the groups that hold a
        contract whose date was not corrected (it is their call); when every date was
        corrected, the first group still to call (its deadline not past), else the first. The
        others leave, to be placed again. A case whose dates no correction touched is left as
        it is: contracts that joined it by the rules over several exports stay together."""
        groups = _groups(contracts)
        kept = [g for g in groups if any(c.number not in self.redated for c in g)]
        if kept:
            return [c for g in kept for c in g]
        live = [g for g in groups if _deadline(g) >= self.today]
        return (live or groups)[0]

    def _restored(
        self,
        client_id: int,
        case_id: int,
        back: list[_ContractRow],
        cases: list[_CaseRow],
        links: list[dict[str, Any]],
        audit: list[dict[str, Any]],
    ) -> list[_ContractRow]:
        """Of the active contracts `back` in a cancelled case, those the case takes back: the
        case is cancelled no longer when it is the client's latest case (none opened since)
        and a group of them (grouped as `_held` does) is still to call, its deadline not past:
        it takes the first such group. The same call, with the attempts already logged on it.
        The other contracts are placed as new ones: when the case comes back they leave it at
        once (placed or not: the case is live again), as does a contract another client has
        now; else their link to the cancelled case goes once they are placed."""
        case = next(c for c in cases if c.id == case_id)
        taken: list[_ContractRow] = []
        if case.completed_on is None and case.id == max(c.id for c in cases):
            live = (group for group in _groups(back) if _deadline(group) >= self.today)
            taken = next(live, [])
        if taken:
            audit.append(self._audit(case.id, "cancelled_on", case.cancelled_on, None))
            case.cancelled_on = None
            for other in cases:
                if other.is_current:
                    other.is_current = False
                    other.dirty = True
            case.is_current = True
            case.dirty = True
            self.report.restored += 1
            elsewhere = self.connection.execute(
                select(_contract.c.id, _contract.c.number).where(
                    _contract.c.case_id == case.id, _contract.c.client_id != client_id
                )
            ).all()
            for contract_id, number in elsewhere:
                links.append({"b_id": contract_id, "case_id": None})
                audit.append(self._audit(case.id, "contract_left", number, None))
        kept = {c.id for c in taken}
        for contract in back:
            if contract.id not in kept:
                contract.case_id = None
                if taken:
                    links.append({"b_id": contract.id, "case_id": None})
                    audit.append(self._audit(case.id, "contract_left", contract.number, None))
        return taken

    def _merge(
        self,
        cases: list[_CaseRow],
        contracts: list[_ContractRow],
        kept: set[int],
        links: list[dict[str, Any]],
        audit: list[dict[str, Any]],
    ) -> None:
        """One call per client: a client's live cases (not done, cancelled or past their
        deadline) whose contracts an empty database would put in one case become one. A
        corrected effect date brings them together, or a contract the CRM found late that
        joined the current case. The case that keeps the contracts is the one with a call's
        record (an attempt, a review, a next action, a message, a tag, or taken by a
        colleague by hand: `kept`), else the one of the group's first contract. The other,
        holding no record, is deleted (`gone`, audited `merged_into` on both). Two cases
        that both hold a record, or whose contracts the group takes only in part, are left
        apart: which of two calls counts is the advisor's to say."""
        members = _members(contracts)
        live = self._live(cases, members)
        if len(live) < 2:
            return
        grouped = [c for case in live for c in members[case.id]]
        for group in _groups(grouped):
            numbers = {c.number for c in group}
            together = [case for case in live if any(c.number in numbers for c in members[case.id])]
            if len(together) < 2 or any(
                c.number not in numbers for case in together for c in members[case.id]
            ):
                continue
            busy = self._busy([case.id for case in together]) | (kept & {c.id for c in together})
            if len(busy) > 1:
                continue
            keeper = next(
                (case for case in together if case.id in busy),
                min(together, key=lambda case: (case.effect_date, case.id)),
            )
            for other in together:
                if other is keeper:
                    continue
                self._join(keeper, members[other.id], links, audit)
                if other.is_current:
                    # It stops being current (written first) before the keeper becomes so.
                    other.is_current, keeper.is_current = False, True
                    other.dirty = keeper.dirty = True
                audit.append(self._audit(other.id, "merged_into", None, keeper.id))
                audit.append(self._audit(keeper.id, "merged", other.id, None))
                self.gone.append(other.id)
                self.report.merged += 1
            self._dates_from(keeper, group, audit)

    def _absorb(
        self,
        cases: list[_CaseRow],
        contracts: list[_ContractRow],
        new_cases: list[tuple[tuple[Any, ...], list[_ContractRow]]],
        opened_from: int,
        links: list[dict[str, Any]],
        audit: list[dict[str, Any]],
    ) -> bool:
        """One call per client, again: a case `place` was about to open for the client (the
        entries of `new_cases` from `opened_from`) whose contracts an empty database would
        group with those of one of the client's live cases joins that case instead, as a
        contract joins the current case. `place` looks at the current case alone: a corrected
        effect date can leave it ending before a contract (new, or freed from its case by the
        correction) that another live case, or the case `_merge` just made of two, takes.
        (Every contract of a case `place` opens has its deadline still to come: none pulls a
        window into the past.) Whether a case joined one (then `_merge` looks again)."""
        members = _members(contracts)
        live = self._live(cases, members)[::-1]  # the latest first
        if not live:
            return False
        opening: list[tuple[tuple[Any, ...], list[_ContractRow]]] = []
        last_host: _CaseRow | None = None
        for values, group in new_cases[opened_from:]:
            host = _one_with(live, members, group)
            if host is None:
                opening.append((values, group))
                continue
            self._take(host, group, members, links, audit)
            if values[_IS_CURRENT]:
                last_host = host
        if len(opening) == len(new_cases) - opened_from:
            return False
        if last_host is not None:
            # The case `place` made current (its latest contracts) joined another: that one is
            # current, the one new contracts join.
            for case in cases:
                if case.is_current != (case is last_host):
                    case.is_current = case is last_host
                    case.dirty = True
        new_cases[opened_from:] = opening
        return True

    def _rehome(
        self,
        cases: list[_CaseRow],
        contracts: list[_ContractRow],
        waiting: list[_ContractRow],
        current: _CaseRow | None,
        links: list[dict[str, Any]],
        audit: list[dict[str, Any]],
    ) -> list[_ContractRow]:
        """Of the contracts waiting to be placed, those whose effect date the CRM corrected
        and that an empty database would no longer put with the current case's contracts
        join another live case of the client whose contracts they would be one with; the
        others are left to `place`, which puts a contract in the current case whenever it
        takes effect before that case's deadline, even long before its contracts (the case
        `_held` took it out of): the current case's call would then come months early,
        beside the other case's. Several corrected contracts may be one with a case only
        together: each join lets the others try again. One whose own M+3 is past never
        pulls a case's window back (as in `bot.rules.place_contracts`)."""
        today = self.today
        corrected = sorted(
            (c for c in waiting if c.number in self.redated), key=lambda c: (c.effect, c.id)
        )
        if not corrected:
            return waiting
        members = _members(contracts)
        others = [case for case in self._live(cases, members)[::-1] if case is not current]
        if not others:
            return waiting
        if current is not None and current.to_call(today):
            held = members.get(current.id, [])
            alone = len(_groups(held)) if held else 0
            corrected = [c for c in corrected if len(_groups([*held, c])) > alone]
        joined: set[int] = set()
        moved = True
        while moved:
            moved = False
            for contract in corrected:
                if contract.id in joined:
                    continue
                window = window_for(contract.effect)
                if window.deadline < today:  # its M+3 past: no window pulled back
                    hosts = [case for case in others if window.due >= case.due_date]
                else:
                    hosts = others
                host = _one_with(hosts, members, [contract])
                if host is None:
                    continue
                self._take(host, [contract], members, links, audit)
                joined.add(contract.id)
                moved = True
        return [c for c in waiting if c.id not in joined]

    def _live(
        self, cases: list[_CaseRow], members: dict[int, list[_ContractRow]]
    ) -> list[_CaseRow]:
        """The client's cases still to call that hold an active contract, in id order."""
        return [case for case in cases if case.to_call(self.today) and members.get(case.id)]

    def _take(
        self,
        host: _CaseRow,
        joining: list[_ContractRow],
        members: dict[int, list[_ContractRow]],
        links: list[dict[str, Any]],
        audit: list[dict[str, Any]],
    ) -> None:
        """`joining` joins `host` (counted joined), whose window and deadline follow the
        contracts it holds then (`members`, kept up to date)."""
        self._join(host, joining, links, audit)
        self.report.joined += len(joining)
        members[host.id].extend(joining)
        self._dates_from(host, members[host.id], audit)

    def _join(
        self,
        case: _CaseRow,
        joining: list[_ContractRow],
        links: list[dict[str, Any]],
        audit: list[dict[str, Any]],
    ) -> None:
        """The `joining` contracts go to `case` (audited on it)."""
        for contract in joining:
            contract.case_id = case.id
            links.append({"b_id": contract.id, "case_id": case.id})
            audit.append(self._audit(case.id, "contract_joined", None, contract.number))

    def _dates_from(
        self, case: _CaseRow, contracts: list[_ContractRow], audit: list[dict[str, Any]]
    ) -> None:
        """The case's window and deadline from the contracts it holds now (audited)."""
        earliest, deadline = case.effect_date, case.deadline
        if _set_dates(case, [c.effect for c in contracts]):
            audit.append(self._audit(case.id, "effect_date", earliest, case.effect_date))
        if case.deadline != deadline:
            audit.append(self._audit(case.id, "deadline", deadline, case.deadline))

    def _busy(self, case_ids: Sequence[int]) -> set[int]:
        """Of these cases, those with a record of the call: an attempt, a review, a next
        action, a message, or a tag set by hand."""
        tagged = select(_case.c.id).where(
            _case.c.id.in_(case_ids),
            or_(*[_case.c[name].is_not(None) for name in _CASE_TAGS]),
        )
        referred = [
            select(table.c.case_id).where(table.c.case_id.in_(case_ids))
            for table in (Base.metadata.tables[name] for name in _CASE_RECORDS)
        ]
        return set(self.connection.execute(union(tagged, *referred)).scalars())

    def _cancel(self, case: _CaseRow, on: dt.date, audit: list[dict[str, Any]]) -> None:
        case.cancelled_on = on
        case.is_current = False
        case.dirty = True
        self.report.cancelled += 1
        audit.append(self._audit(case.id, "cancelled_on", None, on))

    def _moved_in(
        self,
        contracts_by_client: dict[int, list[_ContractRow]],
        cases_by_client: dict[int, list[_CaseRow]],
    ) -> tuple[dict[int, int], set[int]]:
        """The contracts of these clients that are in an open case of another client, with
        that case (ids): the CRM moved them (a client's record merged into another, say); and
        those in a cancelled case of another client (cancelled when they left it, in an
        earlier page of clients or an earlier import): they are to be placed. A case already
        done keeps them: it is the history of the call."""
        in_others: list[tuple[int, int]] = []  # (contract, its case)
        for client_id, contracts in contracts_by_client.items():
            own = {case.id for case in cases_by_client.get(client_id, ())}
            in_others.extend(
                (contract.id, contract.case_id)
                for contract in contracts
                if contract.case_id is not None and contract.case_id not in own
            )
        if not in_others:
            return {}, set()
        cancelled: dict[int, bool] = {
            case_id: bool(is_cancelled)
            for case_id, is_cancelled in self.connection.execute(
                select(_case.c.id, _case.c.cancelled_on.is_not(None)).where(
                    _case.c.id.in_(sorted({case_id for _, case_id in in_others})),
                    _case.c.completed_on.is_(None),
                )
            )
        }
        moved = {
            contract_id: case_id
            for contract_id, case_id in in_others
            if cancelled.get(case_id) is False
        }
        freed = {contract_id for contract_id, case_id in in_others if cancelled.get(case_id)}
        return moved, freed

    def place(
        self,
        client_id: int,
        advisor_id: int,
        waiting: list[_ContractRow],
        current: _CaseRow | None,
        links: list[dict[str, Any]],
        new_cases: list[tuple[tuple[Any, ...], list[_ContractRow]]],
        audit: list[dict[str, Any]],
    ) -> None:
        """Place a client's active AN contracts that are in no case: join its current case
        (audited, with the window it moves), or open new ones (`bot.rules.place_contracts`)."""
        report, today = self.report, self.today
        current_facts = None
        if current is not None:
            # Its window, and its deadline as joined contracts have pushed it back: a case
            # stays open, and takes a new contract, until its latest contract's deadline.
            current_facts = CaseFacts(
                key=current.id,
                window=replace(window_for(current.effect_date), deadline=current.deadline),
                completed_on=current.completed_on,
                cancelled_on=current.cancelled_on,
            )
        by_number = {c.number: c for c in waiting}
        placements = place_contracts(
            current_case=current_facts,
            contracts=[ContractFacts(c.number, c.effect, True) for c in waiting],
            today=today,
        )
        if len(placements) < len(by_number):
            placed = {p.contract_key for p in placements}
            report.left_out.extend(
                sorted(
                    number
                    for number in set(by_number) - placed
                    if by_number[number].id >= self.new_from
                    or (number in self.redated and by_number[number].id in self.had_case)
                )
            )
        groups: dict[int, list[_ContractRow]] = {}
        for placement in placements:
            contract = by_number[placement.contract_key]
            if placement.case_key is not None and current is not None:
                contract.case_id = placement.case_key
                links.append({"b_id": contract.id, "case_id": current.id})
                audit.append(self._audit(current.id, "contract_joined", None, contract.number))
                if contract.effect < current.effect_date:
                    # An earlier contract (the CRM learnt of it late, or moved it to this
                    # client): the case's window becomes the earliest contract's.
                    audit.append(
                        self._audit(current.id, "effect_date", current.effect_date, contract.effect)
                    )
                    _set_window(current, contract.effect)
                deadline = window_for(contract.effect).deadline
                if deadline > current.deadline:
                    audit.append(self._audit(current.id, "deadline", current.deadline, deadline))
                    current.deadline = deadline
                current.is_current = True  # (again, when it stood in for a cancelled one)
                current.dirty = True
                report.joined += 1
            elif placement.new_group is not None:
                groups.setdefault(placement.new_group, []).append(contract)
        if not groups:
            return
        if current is not None:
            current.is_current = False
            current.dirty = True
        last = max(groups)
        for index, members in sorted(groups.items()):
            if len(members) == 1:
                first_effect = members[0].effect
                window = window_for(first_effect)
                last_deadline = window.deadline
            else:
                first_effect = min(c.effect for c in members)
                window = window_for(first_effect)
                last_deadline = max(window_for(c.effect).deadline for c in members)
            values = (  # in `NEW_CASE_COLUMNS` order, after the id
                client_id,
                advisor_id,
                index == last,
                first_effect,
                window.due,
                window.start,
                window.end,
                last_deadline,
                _TODO,
                self.now,
            )
            new_cases.append((values, members))

    def insert_cases(
        self, new_cases: list[tuple[tuple[Any, ...], list[_ContractRow]]]
    ) -> list[tuple[int, int]]:
        """Insert new cases with ids reserved beforehand (a plain batched INSERT, no
        RETURNING); the (contract id, case id) of their members."""
        if not new_cases:
            return []
        ids = reserve_ids(self.connection, _case, len(new_cases))
        loader = Loader(self.connection, _case, NEW_CASE_COLUMNS)
        links: list[tuple[int, int]] = []
        for case_id, (values, members) in zip(ids, new_cases, strict=True):
            loader.add((case_id, *values))
            links.extend((contract.id, case_id) for contract in members)
        loader.flush()
        self.report.opened += len(new_cases)
        return links

    def _write(
        self,
        cases_by_client: dict[int, list[_CaseRow]],
        new_cases: list[tuple[tuple[Any, ...], list[_ContractRow]]],
        links: list[dict[str, Any]],
        audit: list[dict[str, Any]],
    ) -> None:
        connection = self.connection
        # Existing cases first: one that stops being current must do so before a new current
        # case of its client is inserted (a unique index holds one current case per client).
        changed = [
            {"b_id": case.id, **{name: getattr(case, name) for name in _UPDATED_FIELDS}}
            for cases in cases_by_client.values()
            for case in cases
            if case.dirty
        ]
        # And the cases that stop being current before one that becomes so (`_merge`).
        changed.sort(key=lambda values: bool(values["is_current"]))
        if changed:
            connection.execute(
                update(_case)
                .where(_case.c.id == bindparam("b_id"))
                .values({name: bindparam(name) for name in _UPDATED_FIELDS}),
                changed,
            )
        if new_cases:
            links.extend(
                {"b_id": contract_id, "case_id": case_id}
                for contract_id, case_id in self.insert_cases(new_cases)
            )
        if links:
            connection.execute(
                update(_contract)
                .where(_contract.c.id == bindparam("b_id"))
                .values(case_id=bindparam("case_id")),
                links,
            )
        if self.gone:  # their contracts are the keepers' now (above)
            connection.execute(delete(_case).where(_case.c.id.in_(self.gone)))
            self.gone = []
        if audit:
            connection.execute(insert(_audit_table), audit)

    def _kept_by_hand(self, candidates: Sequence[tuple[int, int]]) -> set[int]:
        """Of (case, client) pairs whose case is not with the client's advisor in the CRM, the
        cases someone gave to a colleague by hand (« Je le prends », « Confier à… ») after the
        CRM last changed the client's advisor: an export that does not move the client keeps
        them where the agency put them; one that gives the client a new advisor moves them."""
        if not candidates:
            return set()
        by_case = dict(candidates)
        moved_by_hand: dict[int, dt.datetime] = {}
        for chunk in chunked(sorted(by_case)):
            for key, at in self.connection.execute(
                select(_audit_table.c.entity_key, func.max(_audit_table.c.at))
                .where(
                    _audit_table.c.entity == "case",
                    _audit_table.c.field == "advisor_id",
                    _audit_table.c.entity_key.in_([str(c) for c in chunk]),
                    ~_audit_table.c.actor.startswith("import:"),
                )
                .group_by(_audit_table.c.entity_key)
            ):
                moved_by_hand[int(key)] = _utc(at)
        if not moved_by_hand:
            return set()
        numbers = dict(
            self.connection.execute(
                select(_client.c.id, _client.c.number).where(
                    _client.c.id.in_({by_case[c] for c in moved_by_hand})
                )
            ).all()
        )
        crm_changed: dict[str, dt.datetime] = {}
        for key, at in self.connection.execute(
            select(_audit_table.c.entity_key, func.max(_audit_table.c.at))
            .where(
                _audit_table.c.entity == "client",
                _audit_table.c.field == "advisor_id",
                _audit_table.c.entity_key.in_(list(numbers.values())),
            )
            .group_by(_audit_table.c.entity_key)
        ):
            crm_changed[key] = _utc(at)
        kept = set()
        for case_id, by_hand in moved_by_hand.items():
            changed = crm_changed.get(numbers.get(by_case[case_id], ""))
            if changed is None or changed < by_hand:
                kept.add(case_id)
        return kept

    def _audit(self, case_id: int, name: str, old: object, new: object) -> dict[str, Any]:
        return {
            "at": self.now,
            "actor": self.actor,
            "entity": "case",
            "entity_key": str(case_id),
            "field": name,
            "old_value": None if old is None else str(old),
            "new_value": None if new is None else str(new),
        }


def _groups(contracts: list[_ContractRow]) -> list[list[_ContractRow]]:
    """Contracts grouped as an empty database would group them (`bot.rules.place_contracts`
    on no day: none of them too old), in order of effect."""
    by_number = {c.number: c for c in contracts}
    grouped: dict[int, list[_ContractRow]] = defaultdict(list)
    for placement in place_contracts(
        current_case=None,
        contracts=[ContractFacts(c.number, c.effect, True) for c in contracts],
        today=dt.date.min,
    ):
        grouped[placement.new_group or 0].append(by_number[placement.contract_key])
    return [grouped[index] for index in sorted(grouped)]


def _members(contracts: list[_ContractRow]) -> dict[int, list[_ContractRow]]:
    """The active contracts of each case, by case id."""
    members: dict[int, list[_ContractRow]] = defaultdict(list)
    for contract in contracts:
        if contract.active and contract.case_id is not None:
            members[contract.case_id].append(contract)
    return members


def _one_with(
    cases: list[_CaseRow], members: dict[int, list[_ContractRow]], joining: list[_ContractRow]
) -> _CaseRow | None:
    """The first of `cases` whose contracts and `joining` an empty database would put in one
    case."""
    return next((case for case in cases if len(_groups([*members[case.id], *joining])) == 1), None)


def _deadline(contracts: list[_ContractRow]) -> dt.date:
    """The deadline of a case holding these contracts: its latest contract's."""
    return max(window_for(c.effect).deadline for c in contracts)


def _utc(at: dt.datetime) -> dt.datetime:
    """SQLite gives datetimes back without their zone: they are stored in UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _set_dates(case: _CaseRow, effects: list[dt.date]) -> bool:
    """The case's window, its earliest contract's (`effects`: its contracts' effect dates), and
    its deadline, its latest contract's; whether its effect date changed (the case is marked
    for writing only when a date did)."""
    earliest = min(effects)
    deadline = max(window_for(e).deadline for e in effects)
    moved = earliest != case.effect_date
    if moved:
        _set_window(case, earliest)
    if deadline != case.deadline:
        case.deadline = deadline
        case.dirty = True
    return moved


def _set_window(case: _CaseRow, earliest: dt.date) -> None:
    """The case's effect date, due date and window: its earliest contract's."""
    window = window_for(earliest)
    case.effect_date = earliest
    case.due_date = window.due
    case.window_start = window.start
    case.window_end = window.end
    case.dirty = True

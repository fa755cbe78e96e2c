"""The case engine: keeps the M+3 cases in step with the contracts in the database.

`sync_cases()` is called after every import (and may be called by any job): it opens cases for
new AN contracts (grouped by `bot.rules.place_contracts`), drops terminated contracts from open
cases and cancels a case whose contracts have all ended, and moves open cases to the client's
current advisor. It takes the session and never commits.

A case's window is its earliest contract's; its deadline (the end of "en retard") is its latest
contract's, so that a client who signed again while the first M+3 was pending is still called
for the new contract instead of the case expiring under it. Joining a case is still bounded by
the earliest contract's deadline (`bot.rules.accepts`), so a case cannot grow forever.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.db import chunked
from bot.models import AuditEntry, Case, Client, Contract
from bot.rules import (
    CaseFacts,
    CaseState,
    ContractFacts,
    Status,
    deadline,
    place_contracts,
    window_for,
)


@dataclass
class SyncReport:
    opened: int = 0
    joined: int = 0
    cancelled: int = 0
    moved: int = 0
    left_out: list[str] = field(default_factory=list)  # contracts too old to open a case


def sync_cases(
    session: Session, *, client_ids: Iterable[int], today: dt.date, actor: str
) -> SyncReport:
    report = SyncReport()
    ids = sorted(set(client_ids))
    if not ids:
        return report
    for chunk in chunked(ids):
        _sync_chunk(session, chunk, today=today, actor=actor, report=report)
    return report


def _sync_chunk(
    session: Session, chunk: Sequence[int], *, today: dt.date, actor: str, report: SyncReport
) -> None:
    """Sync a few hundred clients, then let their objects go: an import may touch 100k."""
    contracts_by_client: dict[int, list[Contract]] = defaultdict(list)
    cases_by_client: dict[int, list[Case]] = defaultdict(list)
    advisor_of: dict[int, int] = {}
    for contract in session.scalars(
        select(Contract).where(Contract.client_id.in_(chunk), Contract.new_business)
    ):
        contracts_by_client[contract.client_id].append(contract)
    for case in session.scalars(select(Case).where(Case.client_id.in_(chunk))):
        cases_by_client[case.client_id].append(case)
    for client_id, advisor_id in session.execute(
        select(Client.id, Client.advisor_id).where(Client.id.in_(chunk))
    ):
        advisor_of[client_id] = advisor_id

    audit: list[dict[str, object]] = []
    new_cases: list[tuple[dict[str, object], list[Contract]]] = []
    for client_id in chunk:
        contracts = contracts_by_client.get(client_id, [])
        cases = cases_by_client.get(client_id, [])
        in_case: dict[int, list[Contract]] = defaultdict(list)
        for contract in contracts:
            if contract.case_id is not None:
                in_case[contract.case_id].append(contract)

        for case in cases:
            if case.completed_on is not None or case.cancelled_on is not None:
                continue
            members = in_case.get(case.id, [])
            still = [c for c in members if c.active]
            if members and not still:
                ended = [c.termination_date for c in members if c.termination_date]
                case.cancelled_on = min(max(ended), today) if ended else today
                case.is_current = False
                report.cancelled += 1
                audit.append(_audit(actor, case, "cancelled_on", None, case.cancelled_on))
                continue
            if len(still) < len(members):
                for gone in (c for c in members if not c.active):
                    gone.case_id = None
                    audit.append(_audit(actor, case, "contract_left", gone.number, None))
                _set_dates(case, [c.effect_date for c in still])
            state = case.state(today)
            if (
                state in (CaseState.UPCOMING, CaseState.OPEN, CaseState.LATE)
                and case.advisor_id != advisor_of[client_id]
            ):
                audit.append(
                    _audit(actor, case, "advisor_id", case.advisor_id, advisor_of[client_id])
                )
                case.advisor_id = advisor_of[client_id]
                report.moved += 1

        waiting = [c for c in contracts if c.case_id is None and c.active]
        if not waiting:
            continue
        current = next((c for c in cases if c.is_current), None)
        current_facts = None
        if current is not None:
            current_facts = CaseFacts(
                key=current.id,
                window=window_for(current.effect_date),
                completed_on=current.completed_on,
                cancelled_on=current.cancelled_on,
            )
        by_number = {c.number: c for c in waiting}
        placements = place_contracts(
            current_case=current_facts,
            contracts=[
                ContractFacts(key=c.number, effect=c.effect_date, active=True) for c in waiting
            ],
            today=today,
        )
        placed = {p.contract_key for p in placements}
        report.left_out.extend(sorted(set(by_number) - placed))
        groups: dict[int, list[Contract]] = defaultdict(list)
        for placement in placements:
            contract = by_number[placement.contract_key]
            if placement.case_key is not None and current is not None:
                contract.case_id = placement.case_key
                current.deadline = max(current.deadline, deadline(contract.effect_date))
                report.joined += 1
            elif placement.new_group is not None:
                groups[placement.new_group].append(contract)
        if groups and current is not None:
            current.is_current = False
        last = max(groups, default=-1)
        for index, members in sorted(groups.items()):
            window = window_for(min(c.effect_date for c in members))
            last_deadline = max(deadline(c.effect_date) for c in members)
            values: dict[str, object] = {
                "client_id": client_id,
                "advisor_id": advisor_of[client_id],
                "is_current": index == last,
                "effect_date": min(c.effect_date for c in members),
                "due_date": window.due,
                "window_start": window.start,
                "window_end": window.end,
                "deadline": last_deadline,
                "status": Status.TODO.value,
            }
            new_cases.append((values, members))

    session.flush()
    created = [Case(**values) for values, _ in new_cases]
    if created:
        session.add_all(created)
        session.flush()  # one batched INSERT … RETURNING for all the new cases
        for case, (_, members) in zip(created, new_cases, strict=True):
            for contract in members:
                contract.case_id = case.id
        session.flush()
        report.opened += len(created)
    if audit:
        session.execute(insert(AuditEntry), audit)
    loaded: list[Contract | Case] = [*created]
    for contracts in contracts_by_client.values():
        loaded.extend(contracts)
    for cases in cases_by_client.values():
        loaded.extend(cases)
    for obj in loaded:
        session.expunge(obj)


def _set_dates(case: Case, effects: list[dt.date]) -> None:
    window = window_for(min(effects))
    case.effect_date = min(effects)
    case.due_date = window.due
    case.window_start = window.start
    case.window_end = window.end
    case.deadline = max(deadline(e) for e in effects)


def _audit(actor: str, case: Case, name: str, old: object, new: object) -> dict[str, object]:
    return {
        "at": dt.datetime.now(dt.UTC),
        "actor": actor,
        "entity": "case",
        "entity_key": str(case.id),
        "field": name,
        "old_value": None if old is None else str(old),
        "new_value": None if new is None else str(new),
    }

"""The cases a first import opens, against the rules: whatever the clients' contracts, on SQLite
and PostgreSQL, each new client's cases are the groups `bot.rules.place_contracts` makes of its
active AN contracts, with `bot.rules.window_for`'s dates (the import opens most of them
set-wise and the others through the case engine: both must agree with the rule).
"""

from __future__ import annotations

import datetime as dt
import random
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from bot import db
from bot.crm.advisors import import_advisors
from bot.crm.portfolio import import_portfolio
from bot.models import Advisor, Case, Client, Contract
from bot.rules import ContractFacts, place_contracts, window_for
from tests.conftest import empty
from tests.exports import ALICE, BRUNO, advisors_csv, contract, portfolio_csv

DAY = dt.date(2026, 11, 23)


def _export(seed: int) -> list[dict[str, str]]:
    """Clients with one to five contracts: effect dates from ten months ago to a year ahead
    (some too old for a case, some beyond the first one's deadline), AN or not, active or
    terminated, in any order."""
    rng = random.Random(seed)
    rows = []
    serial = 0
    for client in range(rng.randint(1, 25)):
        advisor = rng.choice([ALICE, BRUNO])
        for _ in range(rng.randint(1, 5)):
            serial += 1
            effect = DAY + dt.timedelta(days=rng.randint(-300, 365))
            status = rng.choice(["Actif", "Actif", "Actif", "Résilié"])
            extra = {}
            if status == "Résilié":
                extra["Date de résiliation"] = (DAY - dt.timedelta(days=5)).strftime("%d/%m/%Y")
            rows.append(
                contract(
                    f"C{client}",
                    f"K{serial}",
                    effect.strftime("%d/%m/%Y"),
                    advisor,
                    origin=rng.choice(["AN", "AN", "AN", "Avenant"]),
                    status=status,
                    **extra,
                )
            )
    rng.shuffle(rows)
    return rows


def _expected(rows: list[dict[str, str]]) -> tuple[list[tuple[Any, ...]], int]:
    """The cases the rules open for these rows (all new clients), and how many active AN
    contracts are too old for one."""
    by_client: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_client.setdefault(row["N° client"], []).append(row)
    cases = []
    left_out = 0
    for client, own in by_client.items():
        effects = {
            row["N° contrat"]: dt.datetime.strptime(row["Date d'effet"], "%d/%m/%Y").date()
            for row in own
            if row["Origine"] == "AN" and row["Statut contrat"] == "Actif"
        }
        placements = place_contracts(
            current_case=None,
            contracts=[ContractFacts(number, effect, True) for number, effect in effects.items()],
            today=DAY,
        )
        left_out += len(effects) - len(placements)
        groups: dict[int, list[str]] = {}
        for placement in placements:
            assert placement.new_group is not None
            groups.setdefault(placement.new_group, []).append(placement.contract_key)
        for index, members in groups.items():
            first = min(effects[number] for number in members)
            window = window_for(first)
            cases.append(
                (
                    client,
                    own[-1]["Chargé de clientèle"],
                    index == max(groups),
                    first,
                    window.due,
                    window.start,
                    window.end,
                    max(window_for(effects[number]).deadline for number in members),
                    tuple(sorted(members)),
                )
            )
    return sorted(cases), left_out


def _imported(engine: Engine, rows: list[dict[str, str]]) -> tuple[list[tuple[Any, ...]], Any]:
    factory = db.session_factory(engine)
    with tempfile.TemporaryDirectory() as folder:
        with factory.begin() as session:
            import_advisors(session, advisors_csv(Path(folder) / "staff.csv"), today=DAY)
        path = portfolio_csv(Path(folder) / "portfolio.csv", rows)
        with factory.begin() as session:
            result = import_portfolio(session, path, today=DAY)
    with factory() as session:
        numbers = dict(session.execute(select(Client.id, Client.number)).all())
        emails = dict(session.execute(select(Advisor.id, Advisor.email)).all())
        members: dict[int, list[str]] = {}
        for number, case_id in session.execute(select(Contract.number, Contract.case_id)):
            if case_id is not None:
                members.setdefault(case_id, []).append(number)
        cases = sorted(
            (
                numbers[c.client_id],
                emails[c.advisor_id],
                c.is_current,
                c.effect_date,
                c.due_date,
                c.window_start,
                c.window_end,
                c.deadline,
                tuple(sorted(members.get(c.id, []))),
            )
            for c in session.scalars(select(Case))
        )
    return cases, result


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_a_first_import_opens_the_cases_the_rules_place(migrated_engine: Engine, seed: int) -> None:
    rows = _export(seed)
    expected, left_out = _expected(rows)
    try:
        cases, result = _imported(migrated_engine, rows)
    finally:
        empty(migrated_engine)
    assert cases == expected
    assert (result.cases.opened, len(result.cases.left_out)) == (len(expected), left_out)


def test_the_sample_exports_meet_every_kind_of_client() -> None:
    """The seeds above do meet clients with one case, with several (contracts beyond the first
    one's deadline) and with contracts too old for any."""
    kinds = set()
    for seed in range(30):
        cases, left_out = _expected(_export(seed))
        per_client: dict[str, int] = {}
        for case in cases:
            per_client[case[0]] = per_client.get(case[0], 0) + 1
        kinds.update(min(count, 2) for count in per_client.values())
        if left_out:
            kinds.add(0)
    assert kinds == {0, 1, 2}

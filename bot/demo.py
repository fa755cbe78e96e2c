"""The demo (`m3 demo`): an invented portfolio, dated relative to today, loaded into a database
that holds nothing else.

How demo data is recognised: by where it came from. Clients and advisors only enter the
database through imports, and each import records its run (`import_run.kind`); the demo's own
imports record the kinds `demo-advisors` and `demo-portfolio`, which no other command writes.
A database is the demo's when it is empty, or when every import run in it is a demo run and
every advisor is one of the packaged demo staff (their e-mails, in the reserved `example.fr`
domain). Anything else — an agency's staff or portfolio imported with `m3 import`, or records
made some other way — makes the database foreign, and the demo refuses to write there.

Why not recognise demo clients by their look: invented names and numbers can collide with real
ones, and a database mixing the two could not be told apart afterwards. The run kind records
provenance at the moment of writing, which nothing else can fake by accident.

Demo databases made before the run kinds existed recorded `advisors` and `portfolio` runs of
the files `advisors.csv` and `portefeuille-demo.csv`; with only demo staff, those still count
as the demo's, so that re-running the demo on one keeps working.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from bot import demo_data
from bot.crm.advisors import import_advisors
from bot.crm.portfolio import import_portfolio
from bot.crm.run import ImportResult
from bot.models import Advisor, Case, Client, ImportRun

DEMO_ADVISORS_RUN = "demo-advisors"
DEMO_PORTFOLIO_RUN = "demo-portfolio"
PORTFOLIO_FILENAME = "portefeuille-demo.csv"
# Runs of demos from before the run kinds: (kind, file name).
_EARLIER_DEMO_RUNS = (("advisors", "advisors.csv"), ("portfolio", PORTFOLIO_FILENAME))


class NotADemoDatabase(Exception):
    """The database holds data that is not the demo's; the message says what, in French."""


@dataclass(frozen=True)
class Foreign:
    """What in a database did not come from the demo."""

    advisors: int
    runs: int
    clients_without_run: int

    def __bool__(self) -> bool:
        return bool(self.advisors or self.runs or self.clients_without_run)

    def describe(self) -> str:
        parts = []
        if self.advisors:
            parts.append(_count(self.advisors, "conseiller"))
        if self.runs:
            parts.append(_count(self.runs, "import"))
        if self.clients_without_run:
            parts.append(_count(self.clients_without_run, "client"))
        listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " et " + parts[-1]
        return listed + " hors démo"


def _count(number: int, word: str) -> str:
    return f"{number} {word}{'s' if number > 1 else ''}"


def foreign_data(session: Session) -> Foreign:
    """What the database holds that the demo did not write (see the module docstring)."""
    staff = {email.casefold() for email in demo_data.advisor_emails(_staff_file(), role=None)}
    demo_run = or_(
        ImportRun.kind.in_((DEMO_ADVISORS_RUN, DEMO_PORTFOLIO_RUN)),
        *(
            (ImportRun.kind == kind) & (ImportRun.filename == filename)
            for kind, filename in _EARLIER_DEMO_RUNS
        ),
    )
    foreign_runs = session.scalar(select(func.count(ImportRun.id)).where(~demo_run)) or 0
    foreign_advisors = sum(
        1 for email in session.scalars(select(Advisor.email)) if email.casefold() not in staff
    )
    clients = session.scalar(select(func.count(Client.id))) or 0
    portfolio_runs = session.scalar(
        select(func.count(ImportRun.id)).where(
            demo_run, ImportRun.kind.in_((DEMO_PORTFOLIO_RUN, "portfolio"))
        )
    )
    return Foreign(
        advisors=foreign_advisors,
        runs=foreign_runs,
        clients_without_run=clients if clients and not portfolio_runs else 0,
    )


def cases_held(session: Session) -> int:
    """The M+3 cases the database holds, but the cancelled ones: what the demo has opened,
    whether in this run or an earlier one (the count the import gives as `opened`)."""
    return session.scalar(select(func.count(Case.id)).where(Case.cancelled_on.is_(None))) or 0


def _staff_file() -> Path:
    return demo_data.demo_advisors_csv()


def load(session: Session, *, today: dt.date, clients: int, seed: int = 3) -> ImportResult:
    """Load the demo staff and a portfolio of `clients` invented clients dated from `today`.

    Raises `NotADemoDatabase` before writing anything when the database holds other data.
    """
    foreign = foreign_data(session)
    if foreign:
        raise NotADemoDatabase(foreign.describe())
    staff = _staff_file()
    rows = demo_data.generate_rows(
        today=today, advisors=demo_data.advisor_emails(staff), clients=clients, seed=seed
    )
    with tempfile.TemporaryDirectory() as tmp:
        portfolio = Path(tmp) / PORTFOLIO_FILENAME
        demo_data.write_csv(portfolio, rows)
        import_advisors(session, staff, today=today, run_kind=DEMO_ADVISORS_RUN)
        return import_portfolio(session, portfolio, today=today, run_kind=DEMO_PORTFOLIO_RUN)

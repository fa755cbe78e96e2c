"""The M+3 rules: pure functions of plain values (no database, no Slack, no clock).

Every date a rule needs is an argument; callers pass `today`. The choices the domain page leaves
open are written here, next to the code that makes them:

- Due date: effect date + 3 calendar months (31 Jan → 30 Apr; 30 Nov 2027 → 29 Feb 2028).
- Window: due date ± 7 days, both ends included.
- Late: the day after the window closes, up to and including effect + 4 calendar months.
  Expired: from the day after that. (Effect 15 Jan: late until 15 May, expired on 16 May.)
- Grouping: a client's AN contracts, in effect-date order, join the client's current case when
  they take effect on or before that case's deadline (its latest contract's: a client who
  keeps signing keeps one case, called once) and the case is neither completed nor
  cancelled; otherwise they open a new case. A case's window is its earliest active contract's;
  its deadline (the end of « en retard ») is its latest contract's, so a client who signed
  again while the first M+3 was pending is still called.
- A case is cancelled when every one of its contracts was terminated or suspended before the
  case was completed (or a later export says it is not an AN after all); one such contract
  among others just leaves the case, whose window is then the remaining contracts'. A
  contract effective before the case's earliest one that joins it later brings the window
  forward.
- The bot does not open a case for a contract it first learns about after that contract's
  deadline (an old portfolio imported for the first time): it was never the bot's to miss.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache

from dateutil.relativedelta import relativedelta

WINDOW_HALF_WIDTH = dt.timedelta(days=7)
DUE_MONTHS = 3
DEADLINE_MONTHS = 4


class CaseState(enum.StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    LATE = "late"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    DONE = "done"


class Status(enum.StrEnum):
    TODO = "a_faire"
    IN_PROGRESS = "en_cours"
    DONE = "termine"


class TagValue(enum.StrEnum):
    OK = "OK"
    KO = "KO"


class Tag(enum.StrEnum):
    CALL = "call"
    CRM = "crm"
    REVIEW = "review"
    CARD = "card"


class ClientType(enum.StrEnum):
    """The CRM's client types (`bot.models` re-exports it)."""

    PERSON = "Particulier"
    PROFESSIONAL = "Professionnel"  # TNS
    COMPANY = "Entreprise"


@dataclass(frozen=True, slots=True)
class Window:
    start: dt.date
    due: dt.date
    end: dt.date
    deadline: dt.date

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


def due_date(effect: dt.date) -> dt.date:
    """Effect date + 3 calendar months, clamped to the month's end."""
    return effect + relativedelta(months=DUE_MONTHS)


def deadline(effect: dt.date) -> dt.date:
    """Last day the M+3 can still be done (late): effect date + 4 calendar months."""
    return effect + relativedelta(months=DEADLINE_MONTHS)


@lru_cache(maxsize=8192)  # a pure function of the date; imports ask for the same dates often
def window_for(effect: dt.date) -> Window:
    due = due_date(effect)
    return Window(
        start=due - WINDOW_HALF_WIDTH,
        due=due,
        end=due + WINDOW_HALF_WIDTH,
        deadline=deadline(effect),
    )


def case_state(
    *,
    window: Window,
    today: dt.date,
    completed_on: dt.date | None = None,
    cancelled_on: dt.date | None = None,
) -> CaseState:
    """Where a case stands on `today`; completion and cancellation count from their date on."""
    if completed_on is not None and completed_on <= today:
        return CaseState.DONE
    if cancelled_on is not None and cancelled_on <= today:
        return CaseState.CANCELLED
    if today < window.start:
        return CaseState.UPCOMING
    if today <= window.end:
        return CaseState.OPEN
    if today <= window.deadline:
        return CaseState.LATE
    return CaseState.EXPIRED


def status_from_tags(
    *,
    call: TagValue | None,
    crm: TagValue | None,
    review: TagValue | None,
    card: TagValue | None,
) -> Status:
    """À faire until the call is OK; Terminé when all four tags are OK; En cours between."""
    if call is not TagValue.OK:
        return Status.TODO
    if crm is TagValue.OK and review is TagValue.OK and card is TagValue.OK:
        return Status.DONE
    return Status.IN_PROGRESS


# --- French working days -------------------------------------------------------------------


@lru_cache(maxsize=64)
def _french_holidays(year: int) -> frozenset[dt.date]:
    # Imported here, by what needs working days (the morning's queue, reminders): an import
    # of the CRM's export or `m3 --help` has no use of its calendars (14 ms to import).
    import holidays

    return frozenset(holidays.country_holidays("FR", years=year).keys())


def is_public_holiday(day: dt.date) -> bool:
    return day in _french_holidays(day.year)


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday, and not a French (metropolitan) public holiday."""
    return day.weekday() < 5 and not is_public_holiday(day)


def last_working_day(day: dt.date) -> dt.date:
    """`day` if it is a working day, else the working day before it: the last day the agency
    can still call by `day` (its advisors call on working days)."""
    return day if is_working_day(day) else previous_working_day(day)


def previous_working_day(day: dt.date) -> dt.date:
    """The last working day strictly before `day`."""
    candidate = day - dt.timedelta(days=1)
    while not is_working_day(candidate):
        candidate -= dt.timedelta(days=1)
    return candidate


def next_working_day(day: dt.date) -> dt.date:
    """The first working day on or after `day`."""
    candidate = day
    while not is_working_day(candidate):
        candidate += dt.timedelta(days=1)
    return candidate


def newly_eligible(*, window_start: dt.date, since: dt.date | None, today: dt.date) -> bool:
    """Whether a window opened after the previous digest (`since`) and no later than today.

    With no previous digest, only windows opening today count as new.
    """
    lower = since if since is not None else today - dt.timedelta(days=1)
    return lower < window_start <= today


# --- Grouping contracts into cases ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContractFacts:
    """What the rules need to know of one AN contract."""

    key: str
    effect: dt.date
    active: bool


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """An existing case of the client, as far as grouping is concerned."""

    key: int
    window: Window
    completed_on: dt.date | None = None
    cancelled_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a contract goes: an existing case (`case_key`), or a new group (`new_group`)."""

    contract_key: str
    case_key: int | None = None
    new_group: int | None = None


def accepts(case: CaseFacts, contract: ContractFacts) -> bool:
    """Whether `contract` joins `case` (one call per client).

    A completed or cancelled case takes nothing more: the next contract opens a new case.
    Otherwise the contract joins when it takes effect on or before the case's deadline
    (`case.window.deadline`: its latest contract's, as joined contracts push it back; one open
    case per client, not a second one beside it).
    """
    if case.completed_on is not None or case.cancelled_on is not None:
        return False
    return contract.effect <= case.window.deadline


def place_contracts(
    *,
    current_case: CaseFacts | None,
    contracts: Iterable[ContractFacts],
    today: dt.date,
) -> list[Placement]:
    """Assign a client's new active AN contracts (not yet in a case) to cases.

    Contracts are taken in effect-date order: each joins the current case when `accepts` says
    so, else it starts a new group that the next ones may join. A contract whose deadline was
    already past `today` when the bot first saw it opens nothing (it is left out); it joins
    the current case only if it took effect after the case's first contract (found late, it
    belongs to that call), never before: its own M+3 is long missed, and the case's window,
    its earliest contract's, would move into the past.
    """
    placements: list[Placement] = []
    current = current_case
    group_window: Window | None = None
    group_index = -1
    for contract in sorted(contracts, key=lambda c: (c.effect, c.key)):
        if not contract.active:
            continue
        window = window_for(contract.effect)
        late = window.deadline < today
        if (
            current is not None
            and accepts(current, contract)
            and not (late and window.due < current.window.due)
        ):
            placements.append(Placement(contract.key, case_key=current.key))
            if window.deadline > current.window.deadline:
                # The case stays open until its latest contract's deadline: the next ones
                # may join it up to then, as they would a new group.
                current = replace(current, window=replace(current.window, deadline=window.deadline))
            continue
        if group_window is not None and contract.effect <= group_window.deadline:
            placements.append(Placement(contract.key, new_group=group_index))
            # The group's case stays open until its latest contract's deadline.
            group_window = replace(
                group_window, deadline=max(group_window.deadline, window.deadline)
            )
            continue
        if late:
            continue
        current = None
        group_index += 1
        group_window = window
        placements.append(Placement(contract.key, new_group=group_index))
    return placements


def oldest_effect_opening(today: dt.date) -> dt.date:
    """The earliest effect date whose deadline is not yet past `today`: a contract that takes
    effect before it opens no case for a client without one (`place_contracts` leaves it out),
    so an import can leave such contracts out of the placement altogether. The deadline only
    grows with the effect date, so the dates that open nothing come before this one."""
    candidate = today - relativedelta(months=DEADLINE_MONTHS)
    while deadline(candidate) < today:
        candidate += dt.timedelta(days=1)
    while deadline(candidate - dt.timedelta(days=1)) >= today:
        candidate -= dt.timedelta(days=1)
    return candidate

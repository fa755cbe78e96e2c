"""An advisor's absences (`/m3 absent`): periods, both days included, read from French dates,
kept within sensible bounds, merged when they overlap, ended or cancelled.

No digest goes to an advisor on a day of absence, and the managers' summary lists their cases
so that someone calls them. The functions that write take the session and never commit.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.models import Absence, Advisor

# An absence may start up to a month back (declared on return from an unplanned one), no
# later than a year ahead, and last a year at most (both days included).
LOOKBACK = dt.timedelta(days=31)
AHEAD = dt.timedelta(days=366)
LONGEST = dt.timedelta(days=365)


class Refusal(enum.StrEnum):
    """Why a period was refused (each has its French answer in templates/slack/texts.j2)."""

    UNREADABLE = "unreadable"
    END_BEFORE_START = "end_before_start"
    OVER = "over"  # ended before today: nothing left to do
    TOO_EARLY = "too_early"  # starts more than LOOKBACK ago
    TOO_LATE = "too_late"  # starts more than AHEAD from now
    TOO_LONG = "too_long"


_DATE = r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?"
_PERIOD = re.compile(rf"^du\s+{_DATE}\s+au\s+{_DATE}$")
_DAY = re.compile(rf"^(?:le\s+|du\s+)?{_DATE}$")


def _year(value: str | None, default: int) -> int:
    if value is None:
        return default
    number = int(value)
    return number + 2000 if number < 100 else number


def _first_day(day: str, month: str, year: str | None, today: dt.date) -> dt.date:
    """A start date; without a year, the next occurrence (up to LOOKBACK back)."""
    start = dt.date(_year(year, today.year), int(month), int(day))
    if year is None and start < today - LOOKBACK:
        start = start.replace(year=start.year + 1)
    return start


def parse_period(text: str, today: dt.date) -> tuple[dt.date, dt.date] | Refusal:
    """`du 24/12 au 02/01` (years optional: the next occurrence) → (start, end), checked.
    Without its year, an end in an earlier month than the start is in the next year (the
    period crosses the New Year); an end before the start in the same month (`du 10/12 au
    05/12`) is a slip, refused, not an absence of a year."""
    match = _PERIOD.match(" ".join(text.split()).casefold())
    if not match:
        return Refusal.UNREADABLE
    d1, m1, y1, d2, m2, y2 = match.groups()
    try:
        start = _first_day(d1, m1, y1, today)
        end = dt.date(_year(y2, start.year), int(m2), int(d2))
        if y2 is None and end < start and end.month < start.month:
            end = end.replace(year=end.year + 1)
    except ValueError:
        return Refusal.UNREADABLE
    refusal = check_period(start, end, today)
    return refusal if refusal is not None else (start, end)


def parse_day(text: str, today: dt.date) -> dt.date | None:
    """`24/12` or `le 24/12/2026`: a day of an absence to cancel."""
    match = _DAY.match(" ".join(text.split()).casefold())
    if not match:
        return None
    day, month, year = match.groups()
    try:
        return _first_day(day, month, year, today)
    except ValueError:
        return None


def check_period(start: dt.date, end: dt.date, today: dt.date) -> Refusal | None:
    if end < start:
        return Refusal.END_BEFORE_START
    if start < today - LOOKBACK:
        return Refusal.TOO_EARLY
    if start > today + AHEAD:
        return Refusal.TOO_LATE
    if end - start > LONGEST:
        return Refusal.TOO_LONG
    if end < today:
        return Refusal.OVER
    return None


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date
    merged: bool = False  # the new period joined one or more already planned


def plan(session: Session, advisor: Advisor, start: dt.date, end: dt.date) -> Period | Refusal:
    """Record an absence of `advisor` (attached to `session`). A period that overlaps or
    touches another is merged with it, as long as the whole stays within LONGEST."""
    touching = [
        a
        for a in advisor.absences
        if a.start_on <= end + dt.timedelta(days=1) and start <= a.end_on + dt.timedelta(days=1)
    ]
    first = min([start, *(a.start_on for a in touching)])
    last = max([end, *(a.end_on for a in touching)])
    if last - first > LONGEST:
        return Refusal.TOO_LONG
    for absence in touching:
        advisor.absences.remove(absence)
    advisor.absences.append(Absence(start_on=first, end_on=last))
    session.flush()
    return Period(first, last, merged=bool(touching))


class Ending(enum.StrEnum):
    BACK = "back"  # the absence going on ended: digests resume
    CANCELLED = "cancelled"  # a planned absence removed before it began
    NOTHING = "nothing"


@dataclass(frozen=True)
class Ended:
    kind: Ending
    period: Period | None = None


def _end(advisor: Advisor, absence: Absence, today: dt.date) -> Ended:
    period = Period(absence.start_on, absence.end_on)
    if absence.start_on > today:
        advisor.absences.remove(absence)
        return Ended(Ending.CANCELLED, period)
    if absence.start_on == today:
        advisor.absences.remove(absence)
    else:
        absence.end_on = today - dt.timedelta(days=1)
    return Ended(Ending.BACK, period)


def end_current_or_next(session: Session, advisor: Advisor, today: dt.date) -> Ended:
    """`/m3 absent fin`: end the absence going on (the advisor is back today), else cancel the
    next one planned."""
    ongoing = advisor.absence_on(today)
    coming = [a for a in advisor.absences if a.start_on > today]
    target = ongoing or (coming[0] if coming else None)
    if target is None:
        return Ended(Ending.NOTHING)
    ended = _end(advisor, target, today)
    session.flush()
    return ended


def cancel_on(session: Session, advisor: Advisor, day: dt.date, today: dt.date) -> Ended:
    """`/m3 absent annuler 24/12`: the absence that covers `day` is cancelled (or ended today
    when it is going on)."""
    target = next((a for a in advisor.absences if a.covers(day) and a.end_on >= today), None)
    if target is None:
        return Ended(Ending.NOTHING)
    ended = _end(advisor, target, today)
    session.flush()
    return ended

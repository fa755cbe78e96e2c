"""Unit tests of the pure M+3 rules (bot/rules.py).

No clock is read: every `today` is a literal date. French public holidays come from the
`holidays` package (metropolitan France), as in production.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.rules import (
    CaseFacts,
    CaseState,
    ContractFacts,
    Placement,
    Status,
    TagValue,
    Window,
    accepts,
    case_state,
    deadline,
    due_date,
    is_public_holiday,
    is_working_day,
    last_working_day,
    newly_eligible,
    next_working_day,
    oldest_effect_opening,
    place_contracts,
    previous_working_day,
    status_from_tags,
    window_for,
)

D = dt.date
OK = TagValue.OK
KO = TagValue.KO


def day_before(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=1)


def day_after(day: dt.date) -> dt.date:
    return day + dt.timedelta(days=1)


# --- due date, deadline, window -------------------------------------------------------------


@pytest.mark.parametrize(
    ("effect", "due"),
    [
        pytest.param(D(2025, 1, 15), D(2025, 4, 15), id="mid-month"),
        pytest.param(D(2025, 1, 31), D(2025, 4, 30), id="31-jan-clamped-to-30-apr"),
        pytest.param(D(2028, 2, 29), D(2028, 5, 29), id="leap-day-effect"),
        pytest.param(D(2027, 11, 30), D(2028, 2, 29), id="30-nov-to-leap-29-feb"),
        pytest.param(D(2026, 11, 30), D(2027, 2, 28), id="30-nov-to-non-leap-28-feb"),
        pytest.param(D(2025, 11, 29), D(2026, 2, 28), id="29-nov-to-non-leap-28-feb"),
        pytest.param(D(2025, 10, 31), D(2026, 1, 31), id="31-oct-across-year-end"),
        pytest.param(D(2025, 12, 1), D(2026, 3, 1), id="december-across-year-end"),
        pytest.param(D(2025, 3, 31), D(2025, 6, 30), id="31-mar-clamped-to-30-jun"),
        pytest.param(D(2025, 5, 31), D(2025, 8, 31), id="31-may-to-31-aug"),
        pytest.param(D(2025, 1, 1), D(2025, 4, 1), id="first-of-month"),
    ],
)
def test_due_date_is_effect_plus_three_calendar_months(effect: dt.date, due: dt.date) -> None:
    assert due_date(effect) == due
    assert window_for(effect).due == due


@pytest.mark.parametrize(
    ("effect", "expected"),
    [
        pytest.param(D(2025, 1, 15), D(2025, 5, 15), id="mid-month"),
        pytest.param(D(2025, 1, 31), D(2025, 5, 31), id="31-jan"),
        pytest.param(D(2025, 10, 31), D(2026, 2, 28), id="31-oct-clamped-across-year"),
        pytest.param(D(2027, 10, 31), D(2028, 2, 29), id="31-oct-to-leap-29-feb"),
        pytest.param(D(2028, 2, 29), D(2028, 6, 29), id="leap-day-effect"),
        pytest.param(D(2027, 11, 30), D(2028, 3, 30), id="30-nov"),
    ],
)
def test_deadline_is_effect_plus_four_calendar_months(effect: dt.date, expected: dt.date) -> None:
    assert deadline(effect) == expected
    assert window_for(effect).deadline == expected


@pytest.mark.parametrize(
    ("effect", "start", "due", "end"),
    [
        pytest.param(
            D(2025, 1, 15), D(2025, 4, 8), D(2025, 4, 15), D(2025, 4, 22), id="spec-example"
        ),
        pytest.param(
            D(2025, 1, 31), D(2025, 4, 23), D(2025, 4, 30), D(2025, 5, 7), id="end-in-next-month"
        ),
        pytest.param(
            D(2025, 1, 3), D(2025, 3, 27), D(2025, 4, 3), D(2025, 4, 10), id="start-in-prev-month"
        ),
        pytest.param(
            D(2027, 11, 30), D(2028, 2, 22), D(2028, 2, 29), D(2028, 3, 7), id="leap-february"
        ),
        pytest.param(
            D(2026, 11, 30), D(2027, 2, 21), D(2027, 2, 28), D(2027, 3, 7), id="plain-february"
        ),
        pytest.param(
            D(2025, 10, 31), D(2026, 1, 24), D(2026, 1, 31), D(2026, 2, 7), id="across-year-end"
        ),
        pytest.param(
            D(2025, 9, 28),
            D(2025, 12, 21),
            D(2025, 12, 28),
            D(2026, 1, 4),
            id="window-spans-new-year",
        ),
    ],
)
def test_window_is_due_date_plus_minus_seven_days(
    effect: dt.date, start: dt.date, due: dt.date, end: dt.date
) -> None:
    window = window_for(effect)
    assert window == Window(start=start, due=due, end=end, deadline=deadline(effect))
    assert (window.end - window.start).days == 14


@pytest.mark.parametrize(
    "effect",
    [D(2025, 1, 1) + dt.timedelta(days=n) for n in range(0, 4 * 366, 7)]
    + [D(2025, 10, 31), D(2025, 11, 30), D(2027, 11, 30), D(2028, 2, 29)],
)
def test_window_dates_are_ordered(effect: dt.date) -> None:
    window = window_for(effect)
    assert effect < window.start < window.due < window.end <= window.deadline


def test_window_contains_both_ends_and_nothing_outside() -> None:
    window = window_for(D(2025, 1, 15))  # 8–22 April 2025
    assert not window.contains(D(2025, 4, 7))
    assert window.contains(D(2025, 4, 8))
    assert window.contains(D(2025, 4, 15))
    assert window.contains(D(2025, 4, 22))
    assert not window.contains(D(2025, 4, 23))


# --- case state -----------------------------------------------------------------------------

# Effect 15 Jan 2025: window 8–22 Apr 2025, deadline 15 May 2025.
SPEC_WINDOW = window_for(D(2025, 1, 15))


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        pytest.param(D(2025, 1, 15), CaseState.UPCOMING, id="effect-day"),
        pytest.param(D(2025, 4, 7), CaseState.UPCOMING, id="day-before-window"),
        pytest.param(D(2025, 4, 8), CaseState.OPEN, id="window-start"),
        pytest.param(D(2025, 4, 15), CaseState.OPEN, id="due-date"),
        pytest.param(D(2025, 4, 22), CaseState.OPEN, id="window-end"),
        pytest.param(D(2025, 4, 23), CaseState.LATE, id="day-after-window"),
        pytest.param(D(2025, 5, 15), CaseState.LATE, id="deadline"),
        pytest.param(D(2025, 5, 16), CaseState.EXPIRED, id="day-after-deadline"),
        pytest.param(D(2026, 1, 1), CaseState.EXPIRED, id="long-after"),
    ],
)
def test_case_state_on_boundary_days(today: dt.date, expected: CaseState) -> None:
    assert SPEC_WINDOW.start == D(2025, 4, 8)
    assert SPEC_WINDOW.end == D(2025, 4, 22)
    assert SPEC_WINDOW.deadline == D(2025, 5, 15)
    assert case_state(window=SPEC_WINDOW, today=today) is expected


def test_case_state_boundaries_with_a_clamped_month_end() -> None:
    # Effect 31 Oct 2025: due 31 Jan 2026, window 24 Jan–7 Feb, deadline 28 Feb 2026.
    window = window_for(D(2025, 10, 31))
    assert case_state(window=window, today=D(2026, 1, 23)) is CaseState.UPCOMING
    assert case_state(window=window, today=D(2026, 1, 24)) is CaseState.OPEN
    assert case_state(window=window, today=D(2026, 2, 7)) is CaseState.OPEN
    assert case_state(window=window, today=D(2026, 2, 8)) is CaseState.LATE
    assert case_state(window=window, today=D(2026, 2, 28)) is CaseState.LATE
    assert case_state(window=window, today=D(2026, 3, 1)) is CaseState.EXPIRED


@pytest.mark.parametrize(
    ("completed_on", "today", "expected"),
    [
        pytest.param(D(2025, 4, 10), D(2025, 4, 9), CaseState.OPEN, id="day-before-completion"),
        pytest.param(D(2025, 4, 10), D(2025, 4, 10), CaseState.DONE, id="completion-day"),
        pytest.param(D(2025, 4, 10), D(2025, 6, 1), CaseState.DONE, id="after-deadline"),
        pytest.param(D(2025, 5, 10), D(2025, 5, 9), CaseState.LATE, id="late-before-completion"),
        pytest.param(D(2025, 5, 10), D(2025, 5, 10), CaseState.DONE, id="completed-late"),
        pytest.param(D(2025, 4, 1), D(2025, 4, 1), CaseState.DONE, id="completed-early"),
    ],
)
def test_completion_counts_from_its_date(
    completed_on: dt.date, today: dt.date, expected: CaseState
) -> None:
    assert case_state(window=SPEC_WINDOW, today=today, completed_on=completed_on) is expected


@pytest.mark.parametrize(
    ("cancelled_on", "today", "expected"),
    [
        pytest.param(D(2025, 4, 10), D(2025, 4, 9), CaseState.OPEN, id="day-before-cancel"),
        pytest.param(D(2025, 4, 10), D(2025, 4, 10), CaseState.CANCELLED, id="cancel-day"),
        pytest.param(D(2025, 2, 1), D(2025, 3, 1), CaseState.CANCELLED, id="before-window"),
        pytest.param(D(2025, 2, 1), D(2025, 1, 31), CaseState.UPCOMING, id="upcoming-until-then"),
        pytest.param(D(2025, 4, 10), D(2025, 6, 1), CaseState.CANCELLED, id="not-a-miss"),
    ],
)
def test_cancellation_counts_from_its_date(
    cancelled_on: dt.date, today: dt.date, expected: CaseState
) -> None:
    assert case_state(window=SPEC_WINDOW, today=today, cancelled_on=cancelled_on) is expected


@pytest.mark.parametrize(
    ("completed_on", "cancelled_on"),
    [
        pytest.param(D(2025, 4, 10), D(2025, 4, 10), id="same-day"),
        pytest.param(D(2025, 4, 10), D(2025, 4, 20), id="completed-first"),
        pytest.param(D(2025, 4, 20), D(2025, 4, 10), id="cancelled-first"),
    ],
)
def test_done_wins_over_cancelled(completed_on: dt.date, cancelled_on: dt.date) -> None:
    today = D(2025, 4, 25)
    state = case_state(
        window=SPEC_WINDOW, today=today, completed_on=completed_on, cancelled_on=cancelled_on
    )
    assert state is CaseState.DONE


def test_cancelled_then_completed_later_reads_cancelled_until_the_completion_day() -> None:
    cancelled_on, completed_on = D(2025, 4, 10), D(2025, 4, 20)
    kwargs = {"window": SPEC_WINDOW, "completed_on": completed_on, "cancelled_on": cancelled_on}
    assert case_state(today=D(2025, 4, 19), **kwargs) is CaseState.CANCELLED
    assert case_state(today=D(2025, 4, 20), **kwargs) is CaseState.DONE


def test_completion_in_the_future_does_not_hide_a_cancellation() -> None:
    state = case_state(
        window=SPEC_WINDOW,
        today=D(2025, 4, 12),
        completed_on=D(2025, 4, 20),
        cancelled_on=D(2025, 4, 10),
    )
    assert state is CaseState.CANCELLED


# --- status from tags -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "crm", "review", "card", "expected"),
    [
        pytest.param(None, None, None, None, Status.TODO, id="nothing-set"),
        pytest.param(KO, None, None, None, Status.TODO, id="call-ko"),
        pytest.param(KO, None, None, OK, Status.TODO, id="call-ko-card-sent"),
        pytest.param(None, OK, OK, OK, Status.TODO, id="no-call-rest-ok"),
        pytest.param(KO, OK, OK, OK, Status.TODO, id="call-ko-rest-ok"),
        pytest.param(OK, None, None, None, Status.IN_PROGRESS, id="call-ok-only"),
        pytest.param(OK, OK, None, None, Status.IN_PROGRESS, id="call-crm-ok"),
        pytest.param(OK, OK, OK, None, Status.IN_PROGRESS, id="three-ok-card-unset"),
        pytest.param(OK, OK, OK, KO, Status.IN_PROGRESS, id="three-ok-card-ko"),
        pytest.param(OK, KO, OK, OK, Status.IN_PROGRESS, id="crm-ko"),
        pytest.param(OK, OK, KO, OK, Status.IN_PROGRESS, id="review-ko"),
        pytest.param(OK, KO, KO, KO, Status.IN_PROGRESS, id="call-ok-rest-ko"),
        pytest.param(OK, OK, OK, OK, Status.DONE, id="all-four-ok"),
    ],
)
def test_status_from_tags(
    call: TagValue | None,
    crm: TagValue | None,
    review: TagValue | None,
    card: TagValue | None,
    expected: Status,
) -> None:
    assert status_from_tags(call=call, crm=crm, review=review, card=card) is expected


def test_status_from_tags_over_every_combination() -> None:
    values = (None, OK, KO)
    for call, crm, review, card in itertools.product(values, repeat=4):
        status = status_from_tags(call=call, crm=crm, review=review, card=card)
        if call is not OK:
            assert status is Status.TODO, (call, crm, review, card)
        elif (crm, review, card) == (OK, OK, OK):
            assert status is Status.DONE, (call, crm, review, card)
        else:
            assert status is Status.IN_PROGRESS, (call, crm, review, card)


def test_status_values_are_the_stored_codes() -> None:
    assert [s.value for s in Status] == ["a_faire", "en_cours", "termine"]


# --- French working days --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "working"),
    [
        pytest.param(D(2026, 4, 8), True, id="plain-wednesday"),
        pytest.param(D(2026, 4, 10), True, id="plain-friday"),
        pytest.param(D(2026, 4, 11), False, id="saturday"),
        pytest.param(D(2026, 4, 12), False, id="sunday"),
        pytest.param(D(2026, 1, 1), False, id="new-year-thursday"),
        pytest.param(D(2025, 1, 1), False, id="new-year-wednesday"),
        pytest.param(D(2026, 4, 3), True, id="good-friday-not-metropolitan"),
        pytest.param(D(2026, 4, 6), False, id="easter-monday-2026"),
        pytest.param(D(2026, 5, 1), False, id="labour-day"),
        pytest.param(D(2026, 5, 8), False, id="victory-day"),
        pytest.param(D(2026, 5, 14), False, id="ascension-2026"),
        pytest.param(D(2026, 5, 25), False, id="whit-monday-2026"),
        pytest.param(D(2026, 7, 14), False, id="bastille-day"),
        pytest.param(D(2025, 8, 15), False, id="assumption"),
        pytest.param(D(2026, 11, 11), False, id="armistice"),
        pytest.param(D(2026, 12, 25), False, id="christmas"),
        pytest.param(D(2025, 12, 26), True, id="26-dec-not-metropolitan"),
        pytest.param(D(2025, 12, 31), True, id="new-years-eve"),
    ],
)
def test_is_working_day(day: dt.date, working: bool) -> None:
    assert is_working_day(day) is working


@pytest.mark.parametrize(
    ("day", "holiday"),
    [
        (D(2026, 4, 6), True),
        (D(2026, 5, 14), True),
        (D(2026, 5, 25), True),
        (D(2026, 11, 1), True),  # All Saints' on a Sunday: still a holiday
        (D(2026, 4, 11), False),  # a Saturday is not a holiday
        (D(2026, 4, 7), False),
    ],
)
def test_is_public_holiday(day: dt.date, holiday: bool) -> None:
    assert is_public_holiday(day) is holiday


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(D(2026, 4, 8), D(2026, 4, 7), id="midweek"),
        pytest.param(D(2026, 2, 9), D(2026, 2, 6), id="monday-across-weekend"),
        pytest.param(D(2026, 2, 8), D(2026, 2, 6), id="sunday"),
        pytest.param(D(2026, 2, 7), D(2026, 2, 6), id="saturday"),
        pytest.param(D(2026, 4, 7), D(2026, 4, 3), id="tuesday-after-easter-monday"),
        pytest.param(D(2026, 4, 6), D(2026, 4, 3), id="easter-monday-itself"),
        pytest.param(D(2026, 5, 26), D(2026, 5, 22), id="tuesday-after-whit-monday"),
        pytest.param(D(2026, 5, 15), D(2026, 5, 13), id="friday-after-ascension"),
        pytest.param(D(2026, 5, 11), D(2026, 5, 7), id="monday-after-8-may-friday"),
        pytest.param(D(2026, 1, 2), D(2025, 12, 31), id="across-new-year"),
    ],
)
def test_previous_working_day_is_strictly_before(day: dt.date, expected: dt.date) -> None:
    assert previous_working_day(day) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(D(2026, 4, 8), D(2026, 4, 8), id="working-day-is-itself"),
        pytest.param(D(2026, 2, 7), D(2026, 2, 9), id="saturday"),
        pytest.param(D(2026, 2, 8), D(2026, 2, 9), id="sunday"),
        pytest.param(D(2026, 4, 4), D(2026, 4, 7), id="easter-weekend-and-monday"),
        pytest.param(D(2026, 4, 6), D(2026, 4, 7), id="easter-monday"),
        pytest.param(D(2026, 5, 14), D(2026, 5, 15), id="ascension"),
        pytest.param(D(2026, 5, 1), D(2026, 5, 4), id="labour-day-friday"),
        pytest.param(D(2026, 5, 23), D(2026, 5, 26), id="whit-weekend"),
        pytest.param(D(2025, 12, 25), D(2025, 12, 26), id="christmas-thursday"),
        pytest.param(D(2026, 12, 25), D(2026, 12, 28), id="christmas-friday"),
        pytest.param(D(2025, 12, 31), D(2025, 12, 31), id="new-years-eve"),
        pytest.param(D(2026, 1, 1), D(2026, 1, 2), id="new-year"),
    ],
)
def test_next_working_day_is_on_or_after(day: dt.date, expected: dt.date) -> None:
    assert next_working_day(day) == expected


def test_working_day_helpers_agree_over_a_year() -> None:
    day = D(2026, 1, 1)
    while day < D(2027, 1, 1):
        nxt = next_working_day(day)
        prev = previous_working_day(day)
        assert nxt >= day and is_working_day(nxt)
        assert prev < day and is_working_day(prev)
        between = [prev + dt.timedelta(days=n) for n in range(1, (day - prev).days)]
        assert not any(is_working_day(d) for d in between)
        between = [day + dt.timedelta(days=n) for n in range((nxt - day).days)]
        assert not any(is_working_day(d) for d in between)
        day = day_after(day)


def test_2026_has_the_expected_number_of_working_days() -> None:
    # 261 weekdays in 2026, minus the 9 holidays that fall on a weekday
    # (1 Jan, 6 Apr, 1 May, 8 May, 14 May, 25 May, 14 Jul, 11 Nov, 25 Dec).
    days = [D(2026, 1, 1) + dt.timedelta(days=n) for n in range(365)]
    assert sum(d.weekday() < 5 for d in days) == 261
    assert sum(is_working_day(d) for d in days) == 252


# --- newly eligible -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window_start", "since", "today", "expected"),
    [
        pytest.param(D(2026, 4, 8), D(2026, 4, 7), D(2026, 4, 8), True, id="opens-today"),
        pytest.param(
            D(2026, 4, 7), D(2026, 4, 7), D(2026, 4, 8), False, id="opened-on-last-digest"
        ),
        pytest.param(D(2026, 4, 6), D(2026, 4, 7), D(2026, 4, 8), False, id="opened-before"),
        pytest.param(D(2026, 4, 9), D(2026, 4, 7), D(2026, 4, 8), False, id="opens-tomorrow"),
        # Monday digest after a weekend carries Saturday's and Sunday's windows.
        pytest.param(D(2026, 2, 7), D(2026, 2, 6), D(2026, 2, 9), True, id="saturday-on-monday"),
        pytest.param(D(2026, 2, 8), D(2026, 2, 6), D(2026, 2, 9), True, id="sunday-on-monday"),
        pytest.param(D(2026, 2, 9), D(2026, 2, 6), D(2026, 2, 9), True, id="monday-on-monday"),
        pytest.param(D(2026, 2, 6), D(2026, 2, 6), D(2026, 2, 9), False, id="friday-on-monday"),
        # Tuesday after Easter Monday carries Saturday to Tuesday.
        pytest.param(D(2026, 4, 4), D(2026, 4, 3), D(2026, 4, 7), True, id="easter-saturday"),
        pytest.param(D(2026, 4, 6), D(2026, 4, 3), D(2026, 4, 7), True, id="easter-monday"),
        # A second run on the same day sends nothing new.
        pytest.param(D(2026, 4, 8), D(2026, 4, 8), D(2026, 4, 8), False, id="rerun-same-day"),
        # A catch-up after several missed days carries all of them.
        pytest.param(D(2026, 4, 9), D(2026, 4, 8), D(2026, 4, 14), True, id="catch-up"),
        # No previous digest: only a window opening today is new.
        pytest.param(D(2026, 4, 8), None, D(2026, 4, 8), True, id="first-digest-today"),
        pytest.param(D(2026, 4, 7), None, D(2026, 4, 8), False, id="first-digest-yesterday"),
        pytest.param(D(2026, 4, 9), None, D(2026, 4, 8), False, id="first-digest-tomorrow"),
    ],
)
def test_newly_eligible(
    window_start: dt.date, since: dt.date | None, today: dt.date, expected: bool
) -> None:
    assert newly_eligible(window_start=window_start, since=since, today=today) is expected


def test_each_window_is_new_in_exactly_one_digest_of_a_working_day_sequence() -> None:
    days = [D(2026, 3, 30) + dt.timedelta(days=n) for n in range(40)]
    digests = [d for d in days if is_working_day(d)]
    for offset in range(35):
        start = D(2026, 4, 1) + dt.timedelta(days=offset)
        hits = [
            today
            for since, today in itertools.pairwise(digests)
            if newly_eligible(window_start=start, since=since, today=today)
        ]
        assert len(hits) == 1, (start, hits)
        assert hits[0] == next_working_day(start)


# --- grouping: accepts ----------------------------------------------------------------------


def contract(key: str, effect: dt.date, *, active: bool = True) -> ContractFacts:
    return ContractFacts(key=key, effect=effect, active=active)


def case(
    effect: dt.date,
    *,
    key: int = 1,
    completed_on: dt.date | None = None,
    cancelled_on: dt.date | None = None,
) -> CaseFacts:
    return CaseFacts(
        key=key,
        window=window_for(effect),
        completed_on=completed_on,
        cancelled_on=cancelled_on,
    )


# Case of a contract effective 15 Jan 2025: deadline 15 May 2025.
OPEN_CASE = case(D(2025, 1, 15))


@pytest.mark.parametrize(
    ("effect", "expected"),
    [
        pytest.param(D(2025, 1, 10), True, id="before-the-case-contract"),
        pytest.param(D(2025, 2, 15), True, id="a-month-later"),
        pytest.param(D(2025, 4, 20), True, id="inside-window"),
        pytest.param(D(2025, 5, 14), True, id="day-before-deadline"),
        pytest.param(D(2025, 5, 15), True, id="on-deadline"),
        pytest.param(D(2025, 5, 16), False, id="day-after-deadline"),
        pytest.param(D(2025, 9, 1), False, id="much-later"),
    ],
)
def test_open_case_accepts_contracts_up_to_its_deadline(effect: dt.date, expected: bool) -> None:
    assert accepts(OPEN_CASE, contract("C-NEW", effect)) is expected


@pytest.mark.parametrize(
    "closed",
    [
        pytest.param(case(D(2025, 1, 15), completed_on=D(2025, 4, 10)), id="completed"),
        pytest.param(case(D(2025, 1, 15), cancelled_on=D(2025, 3, 1)), id="cancelled"),
        pytest.param(
            case(D(2025, 1, 15), completed_on=D(2025, 6, 1)), id="completed-after-deadline"
        ),
    ],
)
@pytest.mark.parametrize("effect", [D(2025, 1, 20), D(2025, 2, 28), D(2025, 4, 10), D(2025, 5, 15)])
def test_a_closed_case_takes_no_more_contracts(closed: CaseFacts, effect: dt.date) -> None:
    # The open case would take every one of these effect dates.
    assert accepts(OPEN_CASE, contract("C-NEW", effect))
    assert not accepts(closed, contract("C-NEW", effect))


# --- grouping: place_contracts --------------------------------------------------------------

TODAY = D(2025, 3, 1)


def test_no_contract_places_nothing() -> None:
    assert place_contracts(current_case=None, contracts=[], today=TODAY) == []


def test_two_contracts_a_month_apart_form_one_new_group() -> None:
    placements = place_contracts(
        current_case=None,
        contracts=[contract("AUTO", D(2025, 1, 15)), contract("HAB", D(2025, 2, 15))],
        today=TODAY,
    )
    assert placements == [
        Placement("AUTO", new_group=0),
        Placement("HAB", new_group=0),
    ]


def test_contracts_are_placed_in_effect_date_order_whatever_the_input_order() -> None:
    placements = place_contracts(
        current_case=None,
        contracts=[
            contract("C", D(2025, 2, 15)),
            contract("A", D(2025, 1, 15)),
            contract("B", D(2025, 1, 15)),
        ],
        today=TODAY,
    )
    assert placements == [
        Placement("A", new_group=0),
        Placement("B", new_group=0),
        Placement("C", new_group=0),
    ]


def test_contract_effective_on_the_groups_deadline_joins_it() -> None:
    # First contract 15 Jan 2025: deadline 15 May 2025.
    placements = place_contracts(
        current_case=None,
        contracts=[contract("A", D(2025, 1, 15)), contract("B", D(2025, 5, 15))],
        today=TODAY,
    )
    assert placements == [Placement("A", new_group=0), Placement("B", new_group=0)]


def test_contract_effective_after_the_first_ones_deadline_opens_a_second_group() -> None:
    placements = place_contracts(
        current_case=None,
        contracts=[contract("A", D(2025, 1, 15)), contract("B", D(2025, 5, 16))],
        today=TODAY,
    )
    assert placements == [Placement("A", new_group=0), Placement("B", new_group=1)]


def test_a_group_stays_open_until_its_latest_contracts_deadline() -> None:
    # One open case per client: A 15 Jan (deadline 15 May); B 1 May joins (deadline 1 Sep);
    # C 20 May, past A's deadline but not B's, joins too, and D 1 Jun; E 5 Oct comes after
    # D's deadline (1 Oct), when that case is over: it opens a second one.
    placements = place_contracts(
        current_case=None,
        contracts=[
            contract("A", D(2025, 1, 15)),
            contract("B", D(2025, 5, 1)),
            contract("C", D(2025, 5, 20)),
            contract("D", D(2025, 6, 1)),
            contract("E", D(2025, 10, 5)),
        ],
        today=TODAY,
    )
    assert placements == [
        Placement("A", new_group=0),
        Placement("B", new_group=0),
        Placement("C", new_group=0),
        Placement("D", new_group=0),
        Placement("E", new_group=1),
    ]


def test_a_current_case_takes_a_contract_until_its_own_deadline() -> None:
    # The case's deadline as joined contracts pushed it back (1 Sep), not its first one's.
    current = CaseFacts(
        key=5,
        window=replace(window_for(D(2025, 1, 15)), deadline=D(2025, 9, 1)),
        completed_on=None,
        cancelled_on=None,
    )
    placements = place_contracts(
        current_case=current,
        contracts=[contract("C", D(2025, 5, 20)), contract("F", D(2025, 9, 21))],
        today=TODAY,
    )
    # C joins (20 May, before 1 Sep) and keeps the case open until its own deadline, 20 Sep;
    # F takes effect after it.
    assert placements == [Placement("C", case_key=5), Placement("F", new_group=0)]


def test_a_contract_joining_the_current_case_keeps_it_open_for_the_next() -> None:
    """As in one export read on an empty database: each contract joins while the case is open,
    that is until the latest deadline of those in it (the domain: a new AN contract of a client
    whose case is still open joins that case)."""
    current = case(D(2025, 1, 15), key=42)  # deadline 15 May 2025
    placements = place_contracts(
        current_case=current,
        contracts=[contract("B", D(2025, 5, 10)), contract("C", D(2025, 7, 1))],
        today=TODAY,
    )
    # B (10 May) joins and keeps the case open until 10 Sep: C (1 Jul) joins too.
    assert placements == [Placement("B", case_key=42), Placement("C", case_key=42)]


def test_contract_joins_the_current_case_when_effective_before_its_deadline() -> None:
    current = case(D(2025, 1, 15), key=42)  # deadline 15 May 2025
    placements = place_contracts(
        current_case=current,
        contracts=[contract("HAB", D(2025, 2, 20)), contract("PJ", D(2025, 5, 15))],
        today=TODAY,
    )
    assert placements == [
        Placement("HAB", case_key=42),
        Placement("PJ", case_key=42),
    ]


def test_contract_after_the_current_cases_deadline_opens_a_new_group() -> None:
    current = case(D(2025, 1, 15), key=42)  # deadline 15 May 2025
    placements = place_contracts(
        current_case=current,
        contracts=[contract("PJ", D(2025, 5, 16)), contract("GAV", D(2025, 6, 1))],
        today=D(2025, 6, 2),
    )
    assert placements == [Placement("PJ", new_group=0), Placement("GAV", new_group=0)]


def test_contract_effective_after_the_current_case_was_completed_opens_a_new_group() -> None:
    current = case(D(2025, 1, 15), key=7, completed_on=D(2025, 4, 10))
    placements = place_contracts(
        current_case=current,
        contracts=[
            contract("BEFORE", D(2025, 4, 9)),
            contract("SAME-DAY", D(2025, 4, 10)),
            contract("AFTER", D(2025, 4, 25)),
        ],
        today=D(2025, 4, 26),
    )
    assert placements == [
        Placement("BEFORE", new_group=0),
        Placement("SAME-DAY", new_group=0),
        Placement("AFTER", new_group=0),
    ]


def test_contract_effective_after_the_current_case_was_cancelled_opens_a_new_group() -> None:
    current = case(D(2025, 1, 15), key=7, cancelled_on=D(2025, 3, 1))
    placements = place_contracts(
        current_case=current,
        contracts=[contract("NEW", D(2025, 3, 5))],
        today=D(2025, 3, 6),
    )
    assert placements == [Placement("NEW", new_group=0)]


def test_inactive_contracts_are_left_out() -> None:
    placements = place_contracts(
        current_case=None,
        contracts=[
            ContractFacts("GONE", D(2025, 1, 5), active=False),
            contract("AUTO", D(2025, 1, 15)),
            contract("SUSP", D(2025, 1, 20), active=False),
        ],
        today=TODAY,
    )
    assert placements == [Placement("AUTO", new_group=0)]


def test_inactive_contract_does_not_join_the_current_case_either() -> None:
    placements = place_contracts(
        current_case=case(D(2025, 1, 15), key=3),
        contracts=[contract("GONE", D(2025, 2, 1), active=False)],
        today=TODAY,
    )
    assert placements == []


def test_only_inactive_contracts_place_nothing() -> None:
    placements = place_contracts(
        current_case=None,
        contracts=[contract("A", D(2025, 1, 15), active=False)],
        today=TODAY,
    )
    assert placements == []


def test_group_dates_come_from_the_earliest_active_contract() -> None:
    # The inactive 1 Jan contract does not anchor the group: the active 10 May contract is
    # still within the 20 Jan contract's deadline (20 May), so both are one group.
    placements = place_contracts(
        current_case=None,
        contracts=[
            contract("GONE", D(2025, 1, 1), active=False),
            contract("A", D(2025, 1, 20)),
            contract("B", D(2025, 5, 10)),
        ],
        today=TODAY,
    )
    assert placements == [Placement("A", new_group=0), Placement("B", new_group=0)]


def test_old_portfolio_contract_past_its_deadline_opens_nothing() -> None:
    # Effect 15 Jan 2024: deadline 15 May 2024, long past on first import.
    placements = place_contracts(
        current_case=None,
        contracts=[contract("OLD", D(2024, 1, 15))],
        today=D(2025, 3, 1),
    )
    assert placements == []


@pytest.mark.parametrize(
    ("today", "placed"),
    [
        pytest.param(D(2025, 5, 15), True, id="imported-on-deadline"),
        pytest.param(D(2025, 5, 16), False, id="imported-day-after-deadline"),
    ],
)
def test_old_portfolio_boundary_is_the_deadline(today: dt.date, placed: bool) -> None:
    placements = place_contracts(
        current_case=None, contracts=[contract("A", D(2025, 1, 15))], today=today
    )
    assert placements == ([Placement("A", new_group=0)] if placed else [])


def test_old_portfolio_is_skipped_while_a_recent_contract_opens_a_group() -> None:
    placements = place_contracts(
        current_case=None,
        contracts=[
            contract("OLD-AUTO", D(2023, 6, 1)),
            contract("OLD-HAB", D(2024, 2, 10)),
            contract("NEW-SANTE", D(2025, 2, 1)),
        ],
        today=D(2025, 3, 1),
    )
    assert placements == [Placement("NEW-SANTE", new_group=0)]


def test_old_contract_still_joins_an_existing_current_case() -> None:
    # The current case exists already: a contract found late but effective before its
    # deadline joins it, even if that contract's own deadline is past.
    current = case(D(2025, 1, 15), key=9)
    placements = place_contracts(
        current_case=current,
        contracts=[contract("LATE-FOUND", D(2025, 1, 20))],
        today=D(2025, 6, 1),
    )
    assert placements == [Placement("LATE-FOUND", case_key=9)]


def test_old_contract_before_the_case_does_not_join_it() -> None:
    # Found late and effective before the case's first contract, with its own deadline past:
    # joining would move the case's window (its earliest contract's) into the past.
    current = case(D(2025, 1, 15), key=9)
    placements = place_contracts(
        current_case=current,
        contracts=[contract("LONG-AGO", D(2024, 1, 10)), contract("LATER", D(2025, 2, 1))],
        today=D(2025, 3, 1),
    )
    assert placements == [Placement("LATER", case_key=9)]


def test_placement_is_deterministic_and_does_not_consume_a_list_argument() -> None:
    contracts = [contract("B", D(2025, 2, 15)), contract("A", D(2025, 1, 15))]
    first = place_contracts(current_case=None, contracts=contracts, today=TODAY)
    second = place_contracts(current_case=None, contracts=contracts, today=TODAY)
    assert first == second
    assert [c.key for c in contracts] == ["B", "A"]


def test_placement_accepts_a_generator() -> None:
    placements = place_contracts(
        current_case=None,
        contracts=(contract(k, D(2025, 1, 15)) for k in ("X", "Y")),
        today=TODAY,
    )
    assert placements == [Placement("X", new_group=0), Placement("Y", new_group=0)]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2026, 12, 11), dt.date(2026, 12, 11)),  # a Friday: itself
        (dt.date(2026, 12, 12), dt.date(2026, 12, 11)),  # Saturday → Friday
        (dt.date(2026, 12, 13), dt.date(2026, 12, 11)),  # Sunday → Friday
        (dt.date(2026, 12, 25), dt.date(2026, 12, 24)),  # Christmas, a Friday → Thursday
        (dt.date(2027, 5, 1), dt.date(2027, 4, 30)),  # 1 May 2027, a Saturday → Friday
        (dt.date(2026, 11, 11), dt.date(2026, 11, 10)),  # Armistice, a Wednesday → Tuesday
        (dt.date(2026, 5, 25), dt.date(2026, 5, 22)),  # Whit Monday 2026 → Friday before
    ],
)
def test_the_last_working_day_by_a_day(day: dt.date, expected: dt.date) -> None:
    assert last_working_day(day) == expected


# --- the oldest effect date that still opens a case -----------------------------------------


@pytest.mark.parametrize(
    ("today", "oldest"),
    [
        (D(2025, 5, 15), D(2025, 1, 15)),  # the spec's example: effect 15 Jan, late until 15 May
        (D(2025, 5, 16), D(2025, 1, 16)),  # expired on 16 May
        (D(2025, 6, 30), D(2025, 3, 1)),  # 28 Feb runs to 28 Jun only
        (D(2025, 10, 31), D(2025, 7, 1)),  # 30 Jun runs to 30 Oct
        (D(2026, 2, 28), D(2025, 10, 28)),  # 28 to 31 Oct all run to 28 Feb
    ],
)
def test_oldest_effect_opening_a_case(today: dt.date, oldest: dt.date) -> None:
    assert oldest_effect_opening(today) == oldest


@given(st.dates(min_value=D(1990, 1, 1), max_value=D(2090, 12, 31)))
def test_contracts_before_the_oldest_effect_date_open_nothing(today: dt.date) -> None:
    oldest = oldest_effect_opening(today)
    before = oldest - dt.timedelta(days=1)
    placed = place_contracts(
        current_case=None, contracts=[contract("A", oldest), contract("B", before)], today=today
    )
    assert placed == [Placement("A", new_group=0)]
    assert place_contracts(current_case=None, contracts=[contract("B", before)], today=today) == []

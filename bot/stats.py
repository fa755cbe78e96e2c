"""The managers' figures (`/m3 stats`, `m3 stats`, the weekly summary): does the M+3 process
run, and does it pay.

Every figure is defined once, here, in `FIGURES`: its key, its French label, a one-line French
definition (shown by `/m3 stats aide`), and the additive SQL measures it is made of. The
measures are sums computed by the database (SQLAlchemy Core, one aggregate statement grouped by
advisor); a branch's or the agency's figures add its advisors' sums, so a rate or a mean is
always a ratio of two sums, never an average of averages. No figure is computed by looping
over cases in Python.

Choices made where the domain page and the issue are silent (the README repeats them):

- **The cohort**: the cases whose window *starts* in the period (`window_start` between its
  first and last day, both included), whatever happened since; a case counts for the advisor
  who holds it now, in that advisor's current branch.
- **States are as of today** (the cohort's outcome so far), with the same rules as
  `bot.rules.case_state`, written in SQL over `completed_on`, `cancelled_on`, `window_start`,
  `window_end` and `deadline`. They partition the cohort: Terminé (à temps / en retard),
  en cours, à faire, à venir, expiré, annulé; « dont hors fenêtre » counts the en cours and à
  faire whose window has closed (still doable until effect + 4 months).
- **On time**: completed on or before the window's last day (an early completion is on time).
- **Reached**: an attempt whose outcome reaches the client (`bot.calls.Outcome.reached`:
  joint, rappel, refus). The reach rate is over attempts; the tag rates over cases.
- **Tag rates**: Lagon and review among the cases whose client was reached (they are assessed
  only then); the contact card among the cases called but never reached, and among all the
  cases called.
- **Mean attempts** per case called (a case never called is not an attempt count of zero).
- **Working days** (`bot.rules.is_working_day`) from the window's start to the first attempt's
  day (its UTC date: calls are made between 10:00 and 20:00 in France) and to `completed_on`;
  0 when on the window's first day, negative when before it.
- **Corrections**: the CRM corrections typed for the case's client since the case was opened;
  applied = carried by a later export.
- **Gaps** by product: the cases whose review kept that gap (a case counts once per product).
  **Next actions** by kind: done; pending (due today or later); overdue (due before today).
- **Multi-equipment**, for the cases Terminé and those expired. The *opening day* is the day
  the case was created (`created_at`, its date), or the day its contracts were first seen when
  later (an import run just after midnight stores a creation time on the previous UTC day).
  *Contracts at opening*: the client's contracts first seen on or before that day and not
  terminated by then (no termination date, or one after it); a contract terminated without a
  date in the export counts until an export says it is not active. *Contracts now*: the
  client's contracts whose status is Actif in the latest export. *New contract within 6
  months*: an AN contract of the client first seen after the opening day and on or before the
  window's start + 6 months (calendar months, as `bot.rules` counts them). For a recent cohort
  the 6 months are not over: compare the two groups of the same cohort, not cohorts together.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    and_,
    case,
    cast,
    column,
    func,
    or_,
    select,
    true,
    values,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import CTE, Subquery

from bot.calls import NextActionKind, Outcome, Product
from bot.models import (
    Advisor,
    Attempt,
    Branch,
    Case,
    CaseReview,
    Contract,
    ContractStatus,
    Correction,
    NextAction,
)
from bot.rendering import number as french_number
from bot.rules import CaseState, Status, TagValue, is_working_day

# --- Periods -------------------------------------------------------------------------------


class PeriodKind(enum.StrEnum):
    WEEK = "semaine"
    MONTH = "mois"
    QUARTER = "trimestre"
    YEAR = "annee"
    LAST_MONTHS = "derniers_mois"
    RANGE = "du_au"


@dataclass(frozen=True)
class Period:
    """The days whose window starts are counted, both ends included."""

    start: dt.date
    end: dt.date
    kind: PeriodKind
    months: int = 0  # for LAST_MONTHS

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


LONGEST_PERIOD = dt.timedelta(days=5 * 366)  # a longer range is refused (help)


def week_of(day: dt.date) -> Period:
    monday = day - dt.timedelta(days=day.weekday())
    return Period(monday, monday + dt.timedelta(days=6), PeriodKind.WEEK)


def month_of(day: dt.date) -> Period:
    first = day.replace(day=1)
    return Period(first, first + relativedelta(months=1, days=-1), PeriodKind.MONTH)


def quarter_of(day: dt.date) -> Period:
    first = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return Period(first, first + relativedelta(months=3, days=-1), PeriodKind.QUARTER)


def year_of(day: dt.date) -> Period:
    return Period(dt.date(day.year, 1, 1), dt.date(day.year, 12, 31), PeriodKind.YEAR)


def last_months(day: dt.date, months: int) -> Period:
    """The last `months` months up to `day` included: 12 → from the same day a year ago + 1."""
    start = day - relativedelta(months=months) + dt.timedelta(days=1)
    return Period(start, day, PeriodKind.LAST_MONTHS, months=months)


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: how words typed by a person are compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.split())


_DATE = r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?"
_RANGE = re.compile(rf"\bdu\s+{_DATE}\s+au\s+{_DATE}")
_LAST = re.compile(r"\b(\d{1,2})\s+derniers\s+mois\b")
_YEAR_MONTH = re.compile(r"\b(\d{4})-(\d{1,2})\b")
_WORDS: dict[str, Callable[[dt.date], Period]] = {
    "semaine": week_of,
    "mois": month_of,
    "trimestre": quarter_of,
    "annee": year_of,
}


def _year(value: str | None, default: int) -> int:
    if value is None:
        return default
    number = int(value)
    return number + 2000 if number < 100 else number


def parse_period(text: str, today: dt.date) -> tuple[Period, str] | None:
    """Find the period in what was typed: `semaine`, `mois`, `trimestre`, `année`, `2026-11`,
    `du 01/10/2026 au 31/10/2026` (years optional: this year), `12 derniers mois`. Returns it
    with the rest of the text (the branch or advisor asked for), the current month when no
    period is named; None when a period is malformed or impossible."""
    words = fold(text)
    match = _RANGE.search(words)
    if match:
        d1, m1, y1, d2, m2, y2 = match.groups()
        try:
            start = dt.date(_year(y1, today.year), int(m1), int(d1))
            end = dt.date(_year(y2, start.year), int(m2), int(d2))
        except ValueError:
            return None
        if end < start or end - start > LONGEST_PERIOD:
            return None
        return Period(start, end, PeriodKind.RANGE), _rest(words, match)
    match = _LAST.search(words)
    if match:
        months = int(match.group(1))
        if not 1 <= months <= 60:
            return None
        return last_months(today, months), _rest(words, match)
    match = _YEAR_MONTH.search(words)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        if not (1 <= month <= 12 and 2000 <= year <= 2100):
            return None
        return month_of(dt.date(year, month, 1)), _rest(words, match)
    tokens = words.split()
    for index, token in enumerate(tokens):
        if token in _WORDS:
            rest = " ".join(tokens[:index] + tokens[index + 1 :])
            return _WORDS[token](today), rest
    return month_of(today), words


def _rest(words: str, match: re.Match[str]) -> str:
    return " ".join((words[: match.start()] + " " + words[match.end() :]).split())


# --- Who is asked for ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The whole agency, one branch, or one advisor."""

    branch_id: int | None = None
    advisor_id: int | None = None
    name: str | None = None  # the branch's or advisor's name, for the titles

    @property
    def everyone(self) -> bool:
        return self.branch_id is None and self.advisor_id is None


_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$", re.IGNORECASE)


def find_branch(session: Session, text: str) -> Branch | None:
    wanted = fold(text)
    return next((b for b in session.scalars(select(Branch)) if fold(b.name) == wanted), None)


def find_advisors(session: Session, text: str) -> list[Advisor]:
    """Advisors matching `@julie`, `@julie.laurent`, `@Julie Laurent`, an e-mail, or a Slack
    mention `<@U123|julie>` (by the Slack id the bot knows)."""
    raw = text.strip()
    mention = _MENTION.match(raw)
    if mention:
        # Slack's ids are upper case (the text may have been folded to lower case on the way).
        user_id = mention.group(1).upper()
        found = session.scalar(select(Advisor).where(Advisor.slack_user_id == user_id))
        return [found] if found is not None else []
    wanted = fold(raw.lstrip("@")).replace(" ", ".")
    if not wanted:
        return []
    matches: list[Advisor] = []
    for advisor in session.scalars(select(Advisor).order_by(Advisor.id)):
        names = {
            fold(advisor.email),
            fold(advisor.email.split("@")[0]),
            fold(advisor.full_name).replace(" ", "."),
            fold(advisor.first_name),
            fold(advisor.last_name),
        }
        if wanted in names:
            matches.append(advisor)
    return matches


# --- The figures ---------------------------------------------------------------------------


class Kind(enum.StrEnum):
    COUNT = "count"  # a number of cases, attempts, corrections…
    RATE = "rate"  # numerator / denominator, shown as a percentage
    MEAN = "mean"  # numerator / denominator, shown with one decimal


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    definition: str
    kind: Kind
    numerator: str  # a measure (MEASURES)
    denominator: str | None = None
    group: str = ""

    def value(self, measures: Mapping[str, int]) -> float | int | None:
        top = measures.get(self.numerator, 0)
        if self.kind is Kind.COUNT:
            return top
        assert self.denominator is not None
        bottom = measures.get(self.denominator, 0)
        return top / bottom if bottom else None


FUNNEL = "Entonnoir"
CALLS = "Appels"
TAGS = "Tags"
CRM = "Corrections CRM"
EQUIPMENT = "Multi-équipement"

FIGURES: tuple[Figure, ...] = (
    Figure(
        "opened",
        "Dossiers",
        "M+3 dont la fenêtre s'ouvre dans la période.",
        Kind.COUNT,
        "opened",
        group=FUNNEL,
    ),
    Figure(
        "called",
        "Appelés",
        "Dossiers avec au moins une tentative d'appel.",
        Kind.COUNT,
        "called",
        group=FUNNEL,
    ),
    Figure(
        "reached",
        "Joints",
        "Dossiers dont le client a été joint au moins une fois (joint, rappel demandé ou refus).",
        Kind.COUNT,
        "reached",
        group=FUNNEL,
    ),
    Figure(
        "done",
        "Terminés",
        "Dossiers Terminé (les quatre tags OK) à ce jour.",
        Kind.COUNT,
        "done",
        group=FUNNEL,
    ),
    Figure(
        "done_on_time",
        "Terminés à temps",
        "Terminés au plus tard le dernier jour de la fenêtre.",
        Kind.COUNT,
        "done_on_time",
        group=FUNNEL,
    ),
    Figure(
        "done_late",
        "Terminés en retard",
        "Terminés après la fenêtre (jusqu'à effet + 4 mois).",
        Kind.COUNT,
        "done_late",
        group=FUNNEL,
    ),
    Figure(
        "in_progress",
        "En cours",
        "Non terminés, client joint, fenêtre ouverte ou en retard.",
        Kind.COUNT,
        "in_progress",
        group=FUNNEL,
    ),
    Figure(
        "to_do",
        "À faire",
        "Non terminés, client pas encore joint, fenêtre ouverte ou en retard.",
        Kind.COUNT,
        "to_do",
        group=FUNNEL,
    ),
    Figure(
        "overdue",
        "dont hors fenêtre",
        "En cours ou à faire dont la fenêtre est passée (encore faisables jusqu'à effet + 4 mois).",
        Kind.COUNT,
        "overdue",
        group=FUNNEL,
    ),
    Figure(
        "upcoming",
        "À venir",
        "Fenêtre pas encore ouverte aujourd'hui.",
        Kind.COUNT,
        "upcoming",
        group=FUNNEL,
    ),
    Figure(
        "expired",
        "Expirés",
        "Non terminés à effet + 4 mois : M+3 manqués.",
        Kind.COUNT,
        "expired",
        group=FUNNEL,
    ),
    Figure(
        "cancelled",
        "Annulés",
        "Contrats résiliés ou suspendus avant la fin du M+3 (pas un manque).",
        Kind.COUNT,
        "cancelled",
        group=FUNNEL,
    ),
    Figure(
        "attempts",
        "Tentatives",
        "Tentatives d'appel enregistrées sur ces dossiers.",
        Kind.COUNT,
        "attempts",
        group=CALLS,
    ),
    Figure(
        "reach_rate",
        "Taux de joignabilité",
        "Tentatives où le client a été joint / tentatives.",
        Kind.RATE,
        "reached_attempts",
        "attempts",
        group=CALLS,
    ),
    Figure(
        "attempts_per_case",
        "Tentatives par dossier appelé",
        "Tentatives / dossiers appelés.",
        Kind.MEAN,
        "attempts",
        "called",
        group=CALLS,
    ),
    Figure(
        "days_to_first_call",
        "Délai du premier appel (j. ouvrés)",
        "Moyenne des jours ouvrés entre l'ouverture de la fenêtre et la première tentative.",
        Kind.MEAN,
        "first_call_days",
        "first_call_cases",
        group=CALLS,
    ),
    Figure(
        "days_to_done",
        "Délai jusqu'à Terminé (j. ouvrés)",
        "Moyenne des jours ouvrés entre l'ouverture de la fenêtre et le passage à Terminé.",
        Kind.MEAN,
        "done_days",
        "done_day_cases",
        group=CALLS,
    ),
    Figure(
        "crm_rate",
        "Taux de mise à jour Lagon",
        "Dossiers « Mise à jour fiche Lagon » OK / dossiers joints.",
        Kind.RATE,
        "crm_ok",
        "reached",
        group=TAGS,
    ),
    Figure(
        "review_rate",
        "Taux de bilan",
        "Dossiers « Bilan effectué » OK / dossiers joints.",
        Kind.RATE,
        "review_ok",
        "reached",
        group=TAGS,
    ),
    Figure(
        "card_rate_failed",
        "Carte de contact (non joints)",
        "Dossiers « SMS/Mail coordonnées » OK / dossiers appelés jamais joints.",
        Kind.RATE,
        "card_ok_failed",
        "failed",
        group=TAGS,
    ),
    Figure(
        "card_rate",
        "Carte de contact (tous)",
        "Dossiers « SMS/Mail coordonnées » OK / dossiers appelés.",
        Kind.RATE,
        "card_ok",
        "called",
        group=TAGS,
    ),
    Figure(
        "corrections",
        "Corrections saisies",
        "Valeurs de la fiche corrigées pendant les appels, depuis l'ouverture du dossier.",
        Kind.COUNT,
        "corrections",
        group=CRM,
    ),
    Figure(
        "corrections_applied",
        "Corrections reportées",
        "Corrections qu'un import suivant porte déjà (reportées dans Lagon).",
        Kind.COUNT,
        "corrections_applied",
        group=CRM,
    ),
    Figure(
        "done_clients",
        "Clients Terminé",
        "Clients dont le M+3 est Terminé (base des moyennes suivantes).",
        Kind.COUNT,
        "done",
        group=EQUIPMENT,
    ),
    Figure(
        "done_contracts_open",
        "Contrats/client à l'ouverture (Terminé)",
        "Contrats actifs par client le jour de l'ouverture du dossier, M+3 Terminé.",
        Kind.MEAN,
        "done_contracts_open",
        "done",
        group=EQUIPMENT,
    ),
    Figure(
        "done_contracts_now",
        "Contrats/client aujourd'hui (Terminé)",
        "Contrats actifs par client dans le dernier import, M+3 Terminé.",
        Kind.MEAN,
        "done_contracts_now",
        "done",
        group=EQUIPMENT,
    ),
    Figure(
        "done_new",
        "Nouveau contrat sous 6 mois (Terminé)",
        "Clients M+3 Terminé ayant une affaire nouvelle dans les 6 mois suivant la fenêtre.",
        Kind.COUNT,
        "done_new",
        group=EQUIPMENT,
    ),
    Figure(
        "done_new_rate",
        "Part avec nouveau contrat (Terminé)",
        "Nouveau contrat sous 6 mois / clients M+3 Terminé.",
        Kind.RATE,
        "done_new",
        "done",
        group=EQUIPMENT,
    ),
    Figure(
        "expired_clients",
        "Clients expirés",
        "Clients dont le M+3 a expiré (base des moyennes suivantes).",
        Kind.COUNT,
        "expired",
        group=EQUIPMENT,
    ),
    Figure(
        "expired_contracts_open",
        "Contrats/client à l'ouverture (expiré)",
        "Contrats actifs par client le jour de l'ouverture du dossier, M+3 expiré.",
        Kind.MEAN,
        "expired_contracts_open",
        "expired",
        group=EQUIPMENT,
    ),
    Figure(
        "expired_contracts_now",
        "Contrats/client aujourd'hui (expiré)",
        "Contrats actifs par client dans le dernier import, M+3 expiré.",
        Kind.MEAN,
        "expired_contracts_now",
        "expired",
        group=EQUIPMENT,
    ),
    Figure(
        "expired_new",
        "Nouveau contrat sous 6 mois (expiré)",
        "Clients M+3 expiré ayant une affaire nouvelle dans les 6 mois suivant la fenêtre.",
        Kind.COUNT,
        "expired_new",
        group=EQUIPMENT,
    ),
    Figure(
        "expired_new_rate",
        "Part avec nouveau contrat (expiré)",
        "Nouveau contrat sous 6 mois / clients M+3 expiré.",
        Kind.RATE,
        "expired_new",
        "expired",
        group=EQUIPMENT,
    ),
)
FIGURE_BY_KEY = {f.key: f for f in FIGURES}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(f.group for f in FIGURES))

# The breakdowns, defined here too (shown with the figures' definitions).
GAPS_LABEL = "Manques repérés"
GAPS_DEFINITION = "Par produit : dossiers dont le bilan a retenu ce manque."
ACTIONS_LABEL = "Actions suivantes"
ACTIONS_DEFINITION = (
    "Par type : faites ; en attente (échéance aujourd'hui ou plus tard) ; en retard "
    "(échéance passée, pas faites)."
)


class ActionState(enum.StrEnum):
    DONE = "faites"
    PENDING = "en_attente"
    OVERDUE = "en_retard"


# --- SQL -----------------------------------------------------------------------------------

_REACHED = tuple(o.value for o in Outcome if o.reached)
# How far before the window's start a first attempt or a completion is still looked up (in
# working days from the start: negative). Earlier ones are left out of the means.
_CALENDAR_LEAD = dt.timedelta(days=62)
SIX_MONTHS = relativedelta(months=6)


def _day_of(value: Any, dialect: str) -> ColumnElement[dt.date]:
    """The date of a timestamp column (SQLite stores text: CAST would make a number)."""
    if dialect == "sqlite":
        return func.date(value, type_=Date)
    return cast(value, Date)


def _calendar_key(value: Any, dialect: str) -> ColumnElement[dt.date]:
    """A date column as the calendar's join key. On SQLite a DATE column has an affinity the
    calendar's VALUES do not, which keeps SQLite from indexing the calendar for the join (it
    would scan it for every case): `date()` gives the same text without an affinity."""
    if dialect == "sqlite":
        return func.date(value, type_=Date)
    return value  # type: ignore[no-any-return]


def _calendar(first: dt.date, last: dt.date) -> CTE:
    """Every day from `first` to `last`: its working-day index (working days up to it, so that
    index(b) - index(a) counts the working days after a up to b) and the day six months later."""
    rows: list[tuple[dt.date, int, dt.date]] = []
    index = 0
    day = first
    while day <= last:
        index += is_working_day(day)
        rows.append((day, index, day + SIX_MONTHS))
        day += dt.timedelta(days=1)
    return (
        values(
            column("day", Date),
            column("wd", Integer),
            column("plus6", Date),
            name="calendar",
        )
        .data(rows)
        .cte("calendar")
    )


def _state(c: Any, today: dt.date) -> ColumnElement[str]:
    """`bot.rules.case_state` in SQL, for `today`."""
    return case(
        (and_(c.completed_on.is_not(None), c.completed_on <= today), CaseState.DONE.value),
        (and_(c.cancelled_on.is_not(None), c.cancelled_on <= today), CaseState.CANCELLED.value),
        (c.window_start > today, CaseState.UPCOMING.value),
        (c.window_end >= today, CaseState.OPEN.value),
        (c.deadline >= today, CaseState.LATE.value),
        else_=CaseState.EXPIRED.value,
    )


def _cohort(period: Period, scope: Scope, dialect: str, *, opening: bool) -> CTE:
    columns: list[Any] = [
        Case.id,
        Case.client_id,
        Case.advisor_id,
        Case.window_start,
        Case.window_end,
        Case.deadline,
        Case.completed_on,
        Case.cancelled_on,
        Case.status,
        Case.tag_crm,
        Case.tag_review,
        Case.tag_card,
        Case.created_at,
    ]
    if opening:
        created = _day_of(Case.created_at, dialect)
        first_seen = (
            select(func.min(Contract.first_seen_on))
            .where(Contract.case_id == Case.id)
            .scalar_subquery()
        )
        columns.append(case((first_seen > created, first_seen), else_=created).label("opening_day"))
    query = select(*columns).where(Case.window_start.between(period.start, period.end))
    if scope.advisor_id is not None:
        query = query.where(Case.advisor_id == scope.advisor_id)
    if scope.branch_id is not None:
        query = query.where(
            Case.advisor_id.in_(select(Advisor.id).where(Advisor.branch_id == scope.branch_id))
        )
    return query.cte("cohort")


def _per_case(period: Period, scope: Scope, today: dt.date, dialect: str) -> Subquery:
    """One row per case of the cohort with what the measures add up."""
    cohort = _cohort(period, scope, dialect, opening=True)
    calendar = _calendar(period.start - _CALENDAR_LEAD, max(min(period.end, today), period.start))
    state = _state(cohort.c, today)

    attempts = (
        select(
            Attempt.case_id,
            func.count().label("n"),
            func.sum(case((Attempt.outcome.in_(_REACHED), 1), else_=0)).label("reached"),
            func.min(Attempt.at).label("first_at"),
        )
        .join(cohort, cohort.c.id == Attempt.case_id)
        .group_by(Attempt.case_id)
        .subquery("attempts")
    )
    # Contracts, only for the cases the multi-equipment figures look at.
    window = calendar.alias("window_day")
    equipment = (
        select(
            cohort.c.id.label("case_id"),
            func.sum(
                case(
                    (
                        and_(
                            Contract.first_seen_on <= cohort.c.opening_day,
                            or_(
                                Contract.termination_date.is_(None),
                                Contract.termination_date > cohort.c.opening_day,
                            ),
                        ),
                        1,
                    ),
                    else_=0,
                )
            ).label("at_open"),
            func.sum(case((Contract.status == ContractStatus.ACTIVE.value, 1), else_=0)).label(
                "now"
            ),
            func.max(
                case(
                    (
                        and_(
                            Contract.new_business,
                            Contract.first_seen_on > cohort.c.opening_day,
                            Contract.first_seen_on <= window.c.plus6,
                        ),
                        1,
                    ),
                    else_=0,
                )
            ).label("new6"),
        )
        .select_from(cohort)
        .join(Contract, Contract.client_id == cohort.c.client_id)
        .outerjoin(window, window.c.day == _calendar_key(cohort.c.window_start, dialect))
        .where(state.in_((CaseState.DONE.value, CaseState.EXPIRED.value)))
        .group_by(cohort.c.id)
        .subquery("equipment")
    )
    corrections = (
        select(
            cohort.c.id.label("case_id"),
            func.count().label("n"),
            func.sum(case((Correction.applied_on.is_not(None), 1), else_=0)).label("applied"),
        )
        .select_from(cohort)
        .join(
            Correction,
            and_(
                Correction.client_id == cohort.c.client_id,
                Correction.at >= cohort.c.created_at,
            ),
        )
        .group_by(cohort.c.id)
        .subquery("corrections")
    )
    start_day = calendar.alias("start_day")
    first_day = calendar.alias("first_day")
    done_day = calendar.alias("done_day")
    return (
        select(
            cohort.c.advisor_id,
            state.label("state"),
            cohort.c.status,
            case((cohort.c.completed_on <= cohort.c.window_end, 1), else_=0).label("on_time"),
            func.coalesce(attempts.c.n, 0).label("attempts"),
            func.coalesce(attempts.c.reached, 0).label("reached_attempts"),
            (first_day.c.wd - start_day.c.wd).label("first_call_days"),
            (done_day.c.wd - start_day.c.wd).label("done_days"),
            case((cohort.c.tag_crm == TagValue.OK.value, 1), else_=0).label("crm_ok"),
            case((cohort.c.tag_review == TagValue.OK.value, 1), else_=0).label("review_ok"),
            case((cohort.c.tag_card == TagValue.OK.value, 1), else_=0).label("card_ok"),
            func.coalesce(corrections.c.n, 0).label("corrections"),
            func.coalesce(corrections.c.applied, 0).label("corrections_applied"),
            func.coalesce(equipment.c.at_open, 0).label("at_open"),
            func.coalesce(equipment.c.now, 0).label("now"),
            func.coalesce(equipment.c.new6, 0).label("new6"),
        )
        .select_from(cohort)
        .outerjoin(attempts, attempts.c.case_id == cohort.c.id)
        .outerjoin(equipment, equipment.c.case_id == cohort.c.id)
        .outerjoin(corrections, corrections.c.case_id == cohort.c.id)
        .outerjoin(start_day, start_day.c.day == _calendar_key(cohort.c.window_start, dialect))
        .outerjoin(first_day, first_day.c.day == _day_of(attempts.c.first_at, dialect))
        .outerjoin(done_day, done_day.c.day == _calendar_key(cohort.c.completed_on, dialect))
        .subquery("per_case")
    )


def _measures(pc: Subquery) -> dict[str, ColumnElement[Any]]:
    """The additive measures the figures are ratios of: sums over the cohort's cases."""
    c = pc.c

    def count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, 1), else_=0))

    def total(value: Any, condition: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.sum(case((condition, value), else_=0))

    done = c.state == CaseState.DONE.value
    expired = c.state == CaseState.EXPIRED.value
    pending = c.state.in_((CaseState.OPEN.value, CaseState.LATE.value))
    called = c.attempts > 0
    reached = c.reached_attempts > 0
    failed = and_(called, c.reached_attempts == 0)
    return {
        "opened": func.count(),
        "called": count(called),
        "reached": count(reached),
        "done": count(done),
        "done_on_time": count(and_(done, c.on_time == 1)),
        "done_late": count(and_(done, c.on_time == 0)),
        "in_progress": count(and_(pending, c.status == Status.IN_PROGRESS.value)),
        "to_do": count(and_(pending, c.status != Status.IN_PROGRESS.value)),
        "overdue": count(c.state == CaseState.LATE.value),
        "upcoming": count(c.state == CaseState.UPCOMING.value),
        "expired": count(expired),
        "cancelled": count(c.state == CaseState.CANCELLED.value),
        "attempts": func.sum(c.attempts),
        "reached_attempts": func.sum(c.reached_attempts),
        "first_call_days": func.sum(c.first_call_days),
        "first_call_cases": func.count(c.first_call_days),
        "done_days": total(c.done_days, done),
        "done_day_cases": func.count(case((done, c.done_days))),
        "crm_ok": count(and_(reached, c.crm_ok == 1)),
        "review_ok": count(and_(reached, c.review_ok == 1)),
        "failed": count(failed),
        "card_ok_failed": count(and_(failed, c.card_ok == 1)),
        "card_ok": count(and_(called, c.card_ok == 1)),
        "corrections": func.sum(c.corrections),
        "corrections_applied": func.sum(c.corrections_applied),
        "done_contracts_open": total(c.at_open, done),
        "done_contracts_now": total(c.now, done),
        "done_new": count(and_(done, c.new6 == 1)),
        "expired_contracts_open": total(c.at_open, expired),
        "expired_contracts_now": total(c.now, expired),
        "expired_new": count(and_(expired, c.new6 == 1)),
    }


MEASURES: tuple[str, ...] = (
    "opened",
    "called",
    "reached",
    "done",
    "done_on_time",
    "done_late",
    "in_progress",
    "to_do",
    "overdue",
    "upcoming",
    "expired",
    "cancelled",
    "attempts",
    "reached_attempts",
    "first_call_days",
    "first_call_cases",
    "done_days",
    "done_day_cases",
    "crm_ok",
    "review_ok",
    "failed",
    "card_ok_failed",
    "card_ok",
    "corrections",
    "corrections_applied",
    "done_contracts_open",
    "done_contracts_now",
    "done_new",
    "expired_contracts_open",
    "expired_contracts_now",
    "expired_new",
)


def measures_query(period: Period, scope: Scope, today: dt.date, dialect: str) -> Select[Any]:
    """The one aggregate statement: every measure, one row per advisor."""
    pc = _per_case(period, scope, today, dialect)
    measures = _measures(pc)
    return select(
        pc.c.advisor_id, *(value.label(name) for name, value in measures.items())
    ).group_by(pc.c.advisor_id)


def _json_items(column_: Any, dialect: str) -> Any:
    if dialect == "sqlite":
        return func.json_each(column_).table_valued("value")
    return func.json_array_elements_text(column_).table_valued("value")


def gaps_query(period: Period, scope: Scope, dialect: str) -> Select[Any]:
    cohort = _cohort(period, scope, dialect, opening=False)
    items = _json_items(CaseReview.gaps, dialect)
    return (
        select(cohort.c.advisor_id, items.c.value, func.count(func.distinct(cohort.c.id)))
        .select_from(cohort)
        .join(CaseReview, CaseReview.case_id == cohort.c.id)
        .join(items, true())
        .group_by(cohort.c.advisor_id, items.c.value)
    )


def actions_query(period: Period, scope: Scope, today: dt.date, dialect: str) -> Select[Any]:
    cohort = _cohort(period, scope, dialect, opening=False)
    not_done = NextAction.done_on.is_(None)
    return (
        select(
            cohort.c.advisor_id,
            NextAction.kind,
            func.sum(case((NextAction.done_on.is_not(None), 1), else_=0)),
            func.sum(case((and_(not_done, NextAction.due_on >= today), 1), else_=0)),
            func.sum(case((and_(not_done, NextAction.due_on < today), 1), else_=0)),
        )
        .select_from(cohort)
        .join(NextAction, NextAction.case_id == cohort.c.id)
        .group_by(cohort.c.advisor_id, NextAction.kind)
    )


# --- The report ----------------------------------------------------------------------------


class Level(enum.StrEnum):
    TOTAL = "total"
    BRANCH = "agence"
    ADVISOR = "conseiller"


@dataclass
class Line:
    """The figures of the whole scope, a branch or an advisor."""

    level: Level
    branch: str | None = None
    advisor: str | None = None
    advisor_email: str | None = None
    measures: dict[str, int] = field(default_factory=dict)
    gaps: dict[str, int] = field(default_factory=dict)  # Product code -> cases
    actions: dict[str, dict[ActionState, int]] = field(default_factory=dict)  # kind -> counts

    def value(self, figure: Figure | str) -> float | int | None:
        wanted = FIGURE_BY_KEY[figure] if isinstance(figure, str) else figure
        return wanted.value(self.measures)

    def add(self, other: Line) -> None:
        for name, number in other.measures.items():
            self.measures[name] = self.measures.get(name, 0) + number
        for product, number in other.gaps.items():
            self.gaps[product] = self.gaps.get(product, 0) + number
        for kind, counts in other.actions.items():
            mine = self.actions.setdefault(kind, dict.fromkeys(ActionState, 0))
            for state, number in counts.items():
                mine[state] += number

    @property
    def name(self) -> str:
        return self.advisor or self.branch or ""


@dataclass
class Report:
    period: Period
    today: dt.date
    scope: Scope
    lines: list[Line]  # the total, then each branch followed by its advisors

    @property
    def total(self) -> Line:
        return self.lines[0]

    @property
    def branches(self) -> list[Line]:
        return [line for line in self.lines if line.level is Level.BRANCH]

    @property
    def advisors(self) -> list[Line]:
        return [line for line in self.lines if line.level is Level.ADVISOR]

    def products(self) -> list[str]:
        """The gap products found, in the `Product` order (unknown codes last)."""
        order = {p.value: i for i, p in enumerate(Product)}
        return sorted(self.total.gaps, key=lambda code: (order.get(code, len(order)), code))

    def action_kinds(self) -> list[str]:
        order = {k.value: i for i, k in enumerate(NextActionKind)}
        return sorted(self.total.actions, key=lambda code: (order.get(code, len(order)), code))


NO_BRANCH = "—"


def compute(
    session: Session, *, period: Period, today: dt.date, scope: Scope | None = None
) -> Report:
    """The figures of the cases whose window starts in `period`, as of `today`."""
    scope = scope or Scope()
    dialect = session.get_bind().dialect.name
    by_advisor: dict[int, Line] = {}

    def line_of(advisor_id: int) -> Line:
        return by_advisor.setdefault(advisor_id, Line(Level.ADVISOR))

    for row in session.execute(measures_query(period, scope, today, dialect)).mappings():
        line_of(row["advisor_id"]).measures = {name: int(row[name] or 0) for name in MEASURES}
    for advisor_id, product, count in session.execute(gaps_query(period, scope, dialect)):
        line_of(advisor_id).gaps[str(product)] = int(count)
    for advisor_id, kind, done, waiting, late in session.execute(
        actions_query(period, scope, today, dialect)
    ):
        line_of(advisor_id).actions[str(kind)] = {
            ActionState.DONE: int(done or 0),
            ActionState.PENDING: int(waiting or 0),
            ActionState.OVERDUE: int(late or 0),
        }
    return _arrange(session, period, today, scope, by_advisor)


def _arrange(
    session: Session, period: Period, today: dt.date, scope: Scope, by_advisor: dict[int, Line]
) -> Report:
    """Name the advisors' lines and add them up by branch and in total."""
    people = {
        advisor_id: (first, last, email, branch)
        for advisor_id, first, last, email, branch in session.execute(
            select(Advisor.id, Advisor.first_name, Advisor.last_name, Advisor.email, Branch.name)
            .outerjoin(Branch, Branch.id == Advisor.branch_id)
            .where(Advisor.id.in_(list(by_advisor) or [-1]))
        )
    }
    total = Line(Level.TOTAL)
    branches: dict[str, Line] = {}
    members: dict[str, list[Line]] = {}
    for advisor_id, line in by_advisor.items():
        first, last, email, branch = people.get(advisor_id, ("", "", "", None))
        line.advisor = f"{first} {last}".strip() or email
        line.advisor_email = email
        line.branch = branch or NO_BRANCH
        line.measures = {name: line.measures.get(name, 0) for name in MEASURES}
        branches.setdefault(line.branch, Line(Level.BRANCH, branch=line.branch)).add(line)
        members.setdefault(line.branch, []).append(line)
        total.add(line)
    total.measures = {name: total.measures.get(name, 0) for name in MEASURES}
    lines = [total]
    for name in sorted(branches, key=lambda b: (b == NO_BRANCH, fold(b))):
        branches[name].measures = {n: branches[name].measures.get(n, 0) for n in MEASURES}
        lines.append(branches[name])
        lines.extend(sorted(members[name], key=lambda line: fold(line.advisor or "")))
    return Report(period=period, today=today, scope=scope, lines=lines)


# --- Numbers as the agency writes them ----------------------------------------------------


def display(figure: Figure, value: float | int | None) -> str:
    """`12`, `45 %`, `2,3`; `—` when there is nothing to divide by."""
    if value is None:
        return "—"
    if figure.kind is Kind.COUNT:
        return french_number(int(value))
    if figure.kind is Kind.RATE:
        return f"{value * 100:.0f}\u00a0%"
    return f"{value:.1f}".replace(".", ",")


def export_value(figure: Figure, value: float | int | None) -> float | int | None:
    """The number written to a spreadsheet: counts as they are, rates in percent (one
    decimal), means with two decimals."""
    if value is None or figure.kind is Kind.COUNT:
        return value
    if figure.kind is Kind.RATE:
        return round(value * 100, 1)
    return round(value, 2)


def figures_in(groups: Iterable[str] | None = None) -> Sequence[Figure]:
    if groups is None:
        return FIGURES
    wanted = set(groups)
    return [f for f in FIGURES if f.group in wanted]

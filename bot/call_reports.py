"""The call report (« compte rendu ») behind `/m3 done`: which cases a user may report on, what
the modal shows for a case, how a submission is checked, and how it is recorded.

The rules (tags, status, the calling rules of art. D223-9) are the pure functions of
`bot.calls`; this module reads and writes the database around them. Query functions take the
session; `submit` opens its own transaction (one per submission: everything or nothing).

Choices made here:
- Only the case's advisor or a manager may open or submit the report; the user is checked on
  submit too, from Slack's own `user` field, never from the view's metadata alone.
- Each submission records a new attempt, except a report re-opened after a call that reached the
  client and submitted again as « joint »: that completes the same call (changes are audited),
  it is not a new call.
- The same submission twice (a double click, Slack's retry, the same case opened in two tabs)
  records one attempt: the attempt's `submission_key` — the case and the number of attempts it
  had when the modal was opened — is unique in the database.
- CRM corrections are not written over the imported record (the CRM stays the source of truth):
  they are listed for someone to type into Lagon, and a later import that carries the new value
  marks them applied.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import calls
from bot.blocks.capture import (
    ACTION_KINDS,
    FAILED_OUTCOMES,
    NOTE_LIMIT,
    OUTCOME_BLOCK,
    CaptureScreen,
    CaptureValues,
    CrmField,
    FormTampered,
    format_elsewhere,
    parse_elsewhere,
    read_state,
    say,
    words,
)
from bot.cases.queries import case_loads, may_be_the_clients_case, the_clients_case, urgency
from bot.cases.views import CaseView, case_view
from bot.crm.rows import normalize_email, normalize_phone
from bot.models import (
    Advisor,
    Attempt,
    AuditEntry,
    Case,
    CaseReview,
    Client,
    Correction,
    NextAction,
)
from bot.rules import CaseState, TagValue

log = logging.getLogger(__name__)

TAG_ORDER = ("call", "crm", "review", "card")
# The fields an advisor may correct during the call (branch and advisor are only checked).
EDITABLE = (
    "address",
    "phone",
    "email",
    "marital_status",
    "professional_status",
    "siret",
    "naf_code",
    "activity",
    "revenue",
    "headcount",
    "insurance_contact",
)
CHOICES: dict[str, tuple[str, ...]] = {
    "marital_status": tuple(s.value for s in calls.MaritalStatus),
    "professional_status": tuple(s.value for s in calls.ProfessionalStatus),
}
SIGNATURES = ("dp_signed", "quotes_signed")


@dataclass(frozen=True)
class Refusal:
    """Why the report cannot be opened or recorded, in French, for the user."""

    text: str


@dataclass
class Submitted:
    """What `submit` did: inline `errors` (nothing recorded), a `duplicate` (already recorded),
    or the recorded report with its `confirmation` message."""

    errors: dict[str, str] = field(default_factory=dict)
    duplicate: bool = False
    confirmation: dict[str, Any] = field(default_factory=dict)
    status: str = ""


# --- Finding cases ---------------------------------------------------------------------------


T = TypeVar("T")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


def matching(
    items: Iterable[T], query: str, *, number: Callable[[T], str], name: Callable[[T], str]
) -> list[T]:
    """The items whose client `query` names, as an advisor types it after a command: the
    client number exactly, else a part of the name or of the number (case and accents
    ignored). Every item when `query` is blank."""
    needle = _fold(query)
    items = list(items)
    if not needle:
        return items
    exact = [i for i in items if _fold(number(i)) == needle]
    return exact or [i for i in items if needle in _fold(name(i)) or needle in _fold(number(i))]


def _open_cases(
    session: Session, *, asker: Advisor, today: dt.date, client_number: str | None = None
) -> list[Case]:
    """The asker's cases in their window or late on `today` (every advisor's for a manager),
    or only the client's with that number."""
    query = (
        select(Case)
        .where(
            Case.window_start <= today,
            Case.deadline >= today,
            Case.completed_on.is_(None),
            Case.cancelled_on.is_(None),
        )
        .options(
            *case_loads(),
        )
    )
    if not asker.is_manager:
        query = query.where(Case.advisor_id == asker.id)
    if client_number is not None:
        query = query.join(Client, Case.client_id == Client.id).where(
            Client.number == client_number
        )
    return list(session.scalars(query))


def find_cases(session: Session, *, asker: Advisor, query: str, today: dt.date) -> list[CaseView]:
    """The open and late cases `query` matches (a client number, or part of a name; every
    case when empty), most urgent first: late cases nearest their last day, then the window
    closing soonest."""
    if query.strip():
        # A client number, the usual case: one indexed lookup instead of the whole queue.
        numbered = _open_cases(session, asker=asker, today=today, client_number=query.strip())
        if numbered:
            return [case_view(case, today) for case in numbered]
    views = matching(
        [case_view(case, today) for case in _open_cases(session, asker=asker, today=today)],
        query,
        number=lambda v: v.client_number,
        name=lambda v: v.client_name,
    )
    return sorted(views, key=urgency)


# --- The screen --------------------------------------------------------------------------------


# Ids are 64-bit integers in the database: a larger number names no row (SQLite cannot even
# bind it), and neither does zero or a negative one.
MAX_ID = 2**63 - 1


def parse_id(value: object) -> int | None:
    """The id a button, a picker option or a view's metadata carries (an integer, or its
    digits): None when it is anything else or could not be a database id, i.e. names no
    case."""
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,19}", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_ID else None


def state_values(view: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a submitted (or dispatched) view's `state.values` holds; empty when it holds
    anything other than an object."""
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    return values if isinstance(values, Mapping) else {}


def may_handle(case: Case, asker: Advisor) -> bool:
    """Who may work on a case (prepare the call, report on it, mark its actions done): its
    advisor, or a manager."""
    return case.advisor_id == asker.id or asker.is_manager


def find_case(session: Session, case_id: object) -> Case | None:
    """The case an id names (loaded for its view), or None."""
    return _load_case(session, case_id)


def _load_case(session: Session, case_id: object, *, lock: bool = False) -> Case | None:
    known = parse_id(case_id)
    if known is None:
        return None
    query = (
        select(Case)
        .where(Case.id == known)
        .options(
            *case_loads(),
        )
    )
    if lock:
        query = query.with_for_update(of=Case)
    return session.scalars(query).first()


def _refusal(case: Case | None, asker: Advisor, today: dt.date) -> Refusal | None:
    w = words()
    if case is None:
        from bot.blocks.common import texts

        return Refusal(say(texts().case_gone()))
    if not may_handle(case, asker):
        return Refusal(say(w.refused_not_yours()))
    state = case.state(today)
    if state not in (CaseState.OPEN, CaseState.LATE):
        return Refusal(say(w.refused_closed(say(words().state_label(state.value)))))
    return None


def _client_attempts(session: Session, client_id: int) -> list[Attempt]:
    return list(
        session.scalars(
            select(Attempt)
            .join(Case, Attempt.case_id == Case.id)
            .where(Case.client_id == client_id)
            .order_by(Attempt.at)
        )
    )


def _permission(
    session: Session, case: Case, *, now: dt.datetime, rules: calls.CallRules
) -> tuple[int, calls.CallPermission]:
    attempts = _client_attempts(session, case.client_id)
    times = [_aware(a.at) for a in attempts]
    refusals = [_aware(a.at) for a in attempts if a.outcome == calls.Outcome.REFUSED.value]
    last_refusal = max(refusals).astimezone(rules.zone).date() if refusals else None
    count = calls.attempts_in_last_30_days(times, now, zone=rules.zone)
    permission = calls.may_call(
        attempts=times,
        last_refusal=last_refusal,
        now=now,
        rules=rules,
        objected_on=case.client.objected_on,
    )
    return count, permission


def _aware(at: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes (stored in UTC)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _crm_fields(case: Case, view: CaseView) -> list[CrmField]:
    client = case.client
    w = words()
    flagged = set(view.missing_fields)
    fields: list[CrmField] = []
    for key in calls.crm_fields(client.client_type):
        if key.value not in EDITABLE:
            continue
        current = getattr(client, key.value)
        invalid = (key.value == "phone" and client.phone_invalid) or (
            key.value == "email" and client.email_invalid
        )
        fields.append(
            CrmField(
                key=key.value,
                label=say(w.field_label(key.value)),
                current=None if current in (None, "") else str(current),
                missing=key.value in flagged and not invalid,
                invalid=invalid,
                choices=CHOICES.get(key.value, ()),
            )
        )
    return fields


def _checks(case: Case) -> list[str]:
    return [f.value for f in calls.crm_fields(case.client.client_type)]


def _products(case: Case) -> list[calls.Product]:
    """Every product the client holds with us: the case's contracts first, then by effect date
    (the same order as the prepare modal's, on every database)."""
    held = sorted(
        (c for c in case.client.contracts if c.active),
        key=lambda c: (c.case_id != case.id, c.effect_date, c.number),
    )
    found = [calls.product_from_label(c.product or "") for c in held]
    return list(dict.fromkeys(p for p in found if p is not None))


def _pieces(case: Case) -> list[tuple[str, str]]:
    w = words()
    pieces = calls.pieces_for(_products(case))
    missing = _missing_pieces(case)
    extra = [p for p in missing if p not in pieces]
    return [(p.value, say(w.piece_label(p.value))) for p in (*pieces, *extra)]


def _missing_pieces(case: Case) -> list[calls.Piece]:
    labels = [p for c in case.client.contracts if c.active for p in c.missing_pieces]
    return list(dict.fromkeys(calls.piece_from_label(label) for label in labels))


def _situation(case: Case, held_elsewhere: Sequence[str]) -> calls.ClientSituation:
    """What the export tells of the client: the same facts as the prepare modal's rebounds."""
    client = case.client
    elsewhere = {calls.product_from_label(p) for p in held_elsewhere}
    return calls.known_situation(
        client_type=client.client_type,
        professional_status=client.professional_status,
        held=_products(case),
        held_elsewhere=[p for p in elsewhere if p is not None],
        missing_pieces=[p for c in client.contracts if c.active for p in c.missing_pieces],
    )


def _stored_values(case: Case, *, today: dt.date, rules: calls.CallRules) -> CaptureValues:
    """What the modal starts with: the stored review (a re-opened report), else what the
    import knows (DP signed, pieces not listed as missing), and the suggested gaps."""
    review = case.review
    values = CaptureValues()
    if review is not None:
        values.crm_checked = set(review.crm_checked)
        values.obj2_done = {key for key in SIGNATURES if getattr(review, key)}
        values.obj2_done |= {k for k, _ in _pieces(case) if k not in review.pieces_missing}
        held = review.held_elsewhere
        values.elsewhere = format_elsewhere((h["product"], h["insurer"]) for h in held)
        values.gaps = list(review.gaps)
        values.review_tag = case.tag_review
        values.note = review.note or ""
    else:
        contracts = [c for c in case.client.contracts if c.active]
        if contracts and all(c.dp_signed for c in contracts):
            values.obj2_done.add("dp_signed")
        missing = set(_missing_pieces(case))
        values.obj2_done |= {key for key, _ in _pieces(case) if calls.Piece(key) not in missing}
        situation = _situation(case, [])
        values.gaps = [gap.product.value for gap in calls.suggest_gaps(situation)]
    for action in case.next_actions:
        if action.done_on is None:
            values.actions[action.kind] = (action.due_on, action.product)
    last = case.attempts[-1] if case.attempts else None
    if last is not None and last.outcome == calls.Outcome.REACHED.value:
        values.outcome = last.outcome
    values.next_try_on = calls.default_next_try_on(today)
    return values


def load_screen(
    session: Session,
    *,
    case_id: int,
    asker: Advisor,
    now: dt.datetime,
    rules: calls.CallRules,
    state: Mapping[str, Any] | None = None,
) -> CaptureScreen | Refusal:
    """The modal for a case, with the stored values, or with `state` (a view being rebuilt on
    a new outcome: what was typed is kept). A `Refusal` when the asker may not report on it."""
    today = now.astimezone(rules.zone).date()
    case = _load_case(session, case_id)
    refusal = _refusal(case, asker, today)
    if refusal is not None:
        return refusal
    assert case is not None
    return _screen(session, case, asker=asker, now=now, rules=rules, state=state)


def _screen(
    session: Session,
    case: Case,
    *,
    asker: Advisor,
    now: dt.datetime,
    rules: calls.CallRules,
    state: Mapping[str, Any] | None,
    submitted: bool = False,
) -> CaptureScreen:
    """The screen of a case: with `state`, the values typed (a view rebuilt on a new outcome
    gets defaults for what the new outcome asks; a `submitted` one is taken as it is)."""
    today = now.astimezone(rules.zone).date()
    view = case_view(case, today)
    crm = _crm_fields(case, view)
    pieces = _pieces(case)
    w = words()
    products = [(p.value, p.crm_label) for p in calls.Product]
    stored = _stored_values(case, today=today, rules=rules)
    if state is not None:
        values = read_state(
            state,
            zone=rules.zone,
            crm_keys=_checks(case),
            choices=CHOICES,
            obj2_keys=[*SIGNATURES, *(k for k, _ in pieces)],
            products=[code for code, _ in products],
        )
        if not submitted and values.outcome in FAILED_OUTCOMES and values.next_try_on is None:
            values.next_try_on = stored.next_try_on
        if not submitted and values.outcome == "rappel" and values.callback_at is None:
            values.callback_at = calls.next_allowed_slot(now + dt.timedelta(hours=1), rules)
        if not submitted and values.outcome == "joint" and not state.get("obj2_signatures"):
            # First switch to « joint »: start from what is stored and suggested.
            values.crm_checked |= stored.crm_checked
            values.obj2_done |= stored.obj2_done
            values.gaps = values.gaps or stored.gaps
            values.elsewhere = values.elsewhere or stored.elsewhere
            values.actions = values.actions or stored.actions
            values.review_tag = values.review_tag or stored.review_tag
    else:
        values = stored
    count, _ = _permission(session, case, now=now, rules=rules)
    reached = [a for a in case.attempts if a.outcome == calls.Outcome.REACHED.value]
    return CaptureScreen(
        case=view,
        values=values,
        crm_fields=crm,
        checks=[(key, say(w.field_label(key))) for key in _checks(case)],
        signatures=[(key, say(w.signature_label(key))) for key in SIGNATURES],
        pieces=pieces,
        held_with_us=[p.crm_label for p in _products(case)] or view.products,
        products=products,
        tags=[(tag, getattr(case, f"tag_{tag}")) for tag in TAG_ORDER],
        attempts=count,
        max_attempts=calls.MAX_ATTEMPTS if rules.strict else None,
        previous_joint_on=_aware(reached[-1].at).astimezone(rules.zone).date() if reached else None,
        rules_on=rules.strict,
        metadata={"case": case.id, "rev": len(case.attempts)},
    )


# --- Checking a submission ---------------------------------------------------------------------


def submission_key(view: Mapping[str, Any], metadata: Mapping[str, Any]) -> str:
    """The idempotency key of a submission: the case, how many attempts it had when the modal
    was opened, and what was typed. Slack's retry, a double click and the same report sent
    from a second tab share it; the next report (opened after this one was recorded) does not,
    nor does a stale tab that says something else (it is a report of its own, not lost)."""
    typed = json.dumps(state_values(view), sort_keys=True)
    raw = f"{metadata.get('case')}:{metadata.get('rev')}:{typed}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def _error(code: str, limit: object = 0) -> str:
    return say(words().error(code, limit))


def validate(
    values: CaptureValues,
    screen: CaptureScreen,
    *,
    now: dt.datetime,
    rules: calls.CallRules,
    new_attempt: bool,
    permission: calls.CallPermission,
) -> dict[str, str]:
    """Inline errors, by block id (empty when the report can be recorded)."""
    today = now.astimezone(rules.zone).date()
    errors: dict[str, str] = {}
    if values.outcome is None:
        return {OUTCOME_BLOCK: _error("required")}
    if new_attempt and permission.reason in (
        calls.CallBlock.TOO_MANY_ATTEMPTS,
        calls.CallBlock.REFUSED_RECENTLY,
        calls.CallBlock.OBJECTED,
    ):
        until = permission.earliest.astimezone(rules.zone).date() if permission.earliest else None
        code = "attempts" if permission.reason is calls.CallBlock.TOO_MANY_ATTEMPTS else "quiet"
        errors[OUTCOME_BLOCK] = _error(code, until.strftime("%d/%m/%Y") if until else "")
    if len(values.note) > NOTE_LIMIT:
        errors["note"] = _error("too_long", NOTE_LIMIT)
    if values.outcome in FAILED_OUTCOMES:
        if values.next_try_on is None:
            errors["next_try"] = _error("required")
        elif values.next_try_on < today:
            errors["next_try"] = _error("past")
    elif values.outcome == "rappel":
        if values.callback_at is None:
            errors["callback"] = _error("required")
        else:
            block = calls.callback_block(values.callback_at, now=now, rules=rules)
            if block is calls.CallBlock.PAST:
                errors["callback"] = _error("past")
            elif block is not None:
                errors["callback"] = _error("callback_slot")
    elif values.outcome == "joint":
        errors.update(_check_objectives(values, screen, today=today, rules=rules))
    return errors


def _check_objectives(
    values: CaptureValues, screen: CaptureScreen, *, today: dt.date, rules: calls.CallRules
) -> dict[str, str]:
    errors: dict[str, str] = {}
    for key, text in values.corrections.items():
        block = f"fix_{key}"
        if key == "phone" and normalize_phone(text) is None:
            errors[block] = _error("phone")
        elif key == "email" and normalize_email(text) is None:
            errors[block] = _error("email")
        elif key == "siret" and not re.fullmatch(r"\d{9}|\d{14}", re.sub(r"\s", "", text)):
            errors[block] = _error("siret")
        elif key in ("revenue", "headcount") and not re.fullmatch(
            r"\d[\d\s\u00a0\u202f]*([.,]\d+)?", text
        ):
            errors[block] = _error("number")
    if parse_elsewhere(values.elsewhere) is None:
        errors["elsewhere"] = _error("elsewhere")
    for kind in ACTION_KINDS:
        due, product = values.actions.get(kind, (None, None))
        if due is None and product is not None:
            errors[f"action_{kind}_date"] = _error("action_date")
        elif due is not None:
            problem = calls.next_action_problem(
                calls.NextActionKind(kind), due, today=today, rules=rules
            )
            if problem is calls.NextActionProblem.PAST:
                errors[f"action_{kind}_date"] = _error("past")
            elif problem is calls.NextActionProblem.NOT_A_CALL_DAY:
                errors[f"action_{kind}_date"] = _error("not_a_call_day")
    if values.review_tag == "OK" and not calls.review_allowed(
        screen.case.client_type, _objectives(values, screen)
    ):
        errors["review_tag"] = _error("review_before_objectives")
    return errors


def _objectives(values: CaptureValues, screen: CaptureScreen) -> calls.Objectives:
    offered = {key for key, _ in screen.pieces}
    return calls.Objectives(
        crm_checked=frozenset(calls.CrmField(k) for k in values.crm_checked),
        dp_signed="dp_signed" in values.obj2_done,
        quotes_signed="quotes_signed" in values.obj2_done,
        pieces_missing=frozenset(calls.Piece(k) for k in offered - values.obj2_done),
        review_done=values.review_tag == "OK",
    )


# --- Recording ---------------------------------------------------------------------------------


def submit(
    factory: sessionmaker[Session],
    *,
    case_id: int,
    asker: Advisor,
    state: Mapping[str, Any],
    submission_key: str,
    now: dt.datetime,
    rules: calls.CallRules,
) -> Submitted | Refusal:
    """Check and record a report in one transaction. Raises `FormTampered` (nothing written)
    when the state holds what the view could not have sent."""
    today = now.astimezone(rules.zone).date()
    with factory.begin() as session:
        case = _load_case(session, case_id, lock=True)
        refusal = _refusal(case, asker, today)
        if refusal is not None:
            return refusal
        assert case is not None
        if session.scalar(select(Attempt.id).where(Attempt.submission_key == submission_key)):
            return Submitted(duplicate=True)
        screen = _screen(
            session, case, asker=asker, now=now, rules=rules, state=state, submitted=True
        )
        values = screen.values
        last = case.attempts[-1] if case.attempts else None
        new_attempt = not (
            values.outcome == calls.Outcome.REACHED.value
            and last is not None
            and last.outcome == calls.Outcome.REACHED.value
        )
        _, permission = _permission(session, case, now=now, rules=rules)
        errors = validate(
            values, screen, now=now, rules=rules, new_attempt=new_attempt, permission=permission
        )
        if errors:
            return Submitted(errors=errors)
        try:
            with session.begin_nested():
                status = _record(
                    session,
                    case,
                    screen,
                    asker=asker,
                    now=now,
                    today=today,
                    key=submission_key if new_attempt else None,
                )
        except IntegrityError:
            # The same submission was recorded meanwhile by another process: once is enough.
            return Submitted(duplicate=True)
        missing = _missing_for_done(case)
        confirmation = _confirmation(screen, status=status, missing=missing)
    return Submitted(confirmation=confirmation, status=status)


def _audit(actor: str, entity: str, key: object, name: str, old: object, new: object) -> AuditEntry:
    return AuditEntry(
        actor=actor,
        entity=entity,
        entity_key=str(key),
        field=name,
        old_value=None if old is None else str(old),
        new_value=None if new is None else str(new),
    )


def _record(
    session: Session,
    case: Case,
    screen: CaptureScreen,
    *,
    asker: Advisor,
    now: dt.datetime,
    today: dt.date,
    key: str | None,
) -> str:
    values = screen.values
    assert values.outcome is not None, "validate() refuses a report without an outcome"
    outcome = calls.Outcome(values.outcome)
    actor = asker.email
    audit: list[AuditEntry] = []
    attempt: Attempt | None = None
    if key is not None:
        attempt = Attempt(
            case_id=case.id,
            advisor_id=asker.id,
            at=now.astimezone(dt.UTC),  # stored in UTC: SQLite keeps no offset
            outcome=outcome.value,
            note=values.note or None,
            submission_key=key,
            callback_at=(
                values.callback_at.astimezone(dt.UTC)
                if values.callback_at is not None and outcome is calls.Outcome.CALLBACK
                else None
            ),
            next_try_on=values.next_try_on if outcome.value in FAILED_OUTCOMES else None,
        )
        session.add(attempt)
        session.flush()
        audit.append(_audit(actor, "case", case.id, "attempt", None, outcome.value))
    objectives = _objectives(values, screen) if outcome is calls.Outcome.REACHED else None
    if objectives is not None:
        _save_review(session, case, values, screen, actor=asker, now=now, audit=audit)
        _save_actions(session, case, values, actor=asker, attempt=attempt, audit=audit)
        _save_corrections(session, case, values, asker=asker, attempt=attempt, audit=audit)
    elif case.review is not None:
        objectives = case.review.objectives()
    if outcome is calls.Outcome.WRONG_NUMBER and case.client.phone:
        _correct(session, case, "phone", "", asker=asker, attempt=attempt, audit=audit)
    update = calls.after_call(
        outcome=outcome,
        objectives=objectives or calls.Objectives(),
        client_type=case.client.client_type,
        previous=calls.CaseTags.of(
            call=case.tag_call, crm=case.tag_crm, review=case.tag_review, card=case.tag_card
        ),
        previous_completed_on=case.completed_on,
        today=today,
    )
    changes = {
        "tag_call": _tag_text(update.tags.call),
        "tag_crm": _tag_text(update.tags.crm),
        "tag_review": _tag_text(update.tags.review),
        "status": update.status.value,
        "completed_on": update.completed_on,
    }
    for name, new in changes.items():
        old = getattr(case, name)
        if old != new:
            audit.append(_audit(actor, "case", case.id, name, old, new))
            setattr(case, name, new)
    session.add_all(audit)
    session.flush()
    return update.status.value


def _tag_text(value: TagValue | None) -> str | None:
    return None if value is None else value.value


def _save_review(
    session: Session,
    case: Case,
    values: CaptureValues,
    screen: CaptureScreen,
    *,
    actor: Advisor,
    now: dt.datetime,
    audit: list[AuditEntry],
) -> None:
    held = [{"product": p, "insurer": i} for p, i in parse_elsewhere(values.elsewhere) or []]
    objectives = _objectives(values, screen)
    new: dict[str, object] = {
        "crm_checked": sorted(values.crm_checked),
        "dp_signed": objectives.dp_signed,
        "quotes_signed": objectives.quotes_signed,
        "pieces_missing": sorted(p.value for p in objectives.pieces_missing),
        "review_done": objectives.review_done,
        "held_elsewhere": held,
        "gaps": list(values.gaps),
        "note": values.note or None,
    }
    review = case.review
    if review is None:
        review = CaseReview(case_id=case.id, updated_by_id=actor.id)
        session.add(review)
        case.review = review
    for name, value in new.items():
        old = getattr(review, name)
        if old != value:
            audit.append(_audit(actor.email, "review", case.id, name, _dump(old), _dump(value)))
            setattr(review, name, value)
    review.updated_at = now.astimezone(dt.UTC)
    review.updated_by_id = actor.id


def _dump(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _save_actions(
    session: Session,
    case: Case,
    values: CaptureValues,
    *,
    actor: Advisor,
    attempt: Attempt | None,
    audit: list[AuditEntry],
) -> None:
    """One open next action per kind: a new date or product updates it; one left empty is
    kept (it is marked done from the digest, not by omission)."""
    pending = {a.kind: a for a in case.next_actions if a.done_on is None}
    for kind, (due, product) in values.actions.items():
        if due is None:
            continue
        current = pending.get(kind)
        if current is None:
            session.add(
                NextAction(
                    case_id=case.id,
                    kind=kind,
                    due_on=due,
                    product=product,
                    created_by_id=actor.id,
                    attempt_id=attempt.id if attempt else None,
                )
            )
            audit.append(_audit(actor.email, "next_action", case.id, kind, None, due))
        elif (current.due_on, current.product) != (due, product):
            audit.append(_audit(actor.email, "next_action", case.id, kind, current.due_on, due))
            current.due_on, current.product = due, product


def _save_corrections(
    session: Session,
    case: Case,
    values: CaptureValues,
    *,
    asker: Advisor,
    attempt: Attempt | None,
    audit: list[AuditEntry],
) -> None:
    for key, text in values.corrections.items():
        new = text
        if key == "phone":
            new = normalize_phone(text) or text
        elif key == "email":
            new = normalize_email(text) or text
        current = getattr(case.client, key)
        if current is not None and str(current) == new:
            continue
        _correct(session, case, key, new, asker=asker, attempt=attempt, audit=audit)


def _correct(
    session: Session,
    case: Case,
    key: str,
    new: str,
    *,
    asker: Advisor,
    attempt: Attempt | None,
    audit: list[AuditEntry],
) -> None:
    """A value to type into Lagon; an earlier pending correction of the field is replaced."""
    client = case.client
    pending = session.scalars(
        select(Correction).where(
            Correction.client_id == client.id,
            Correction.field == key,
            Correction.applied_on.is_(None),
        )
    ).all()
    if any(c.new_value == new for c in pending):
        return
    for correction in pending:
        # Never typed into Lagon (not applied): the newer value replaces it; the audit log
        # keeps both.
        session.delete(correction)
    current = getattr(client, key)
    session.add(
        Correction(
            client_id=client.id,
            field=key,
            old_value=None if current is None else str(current),
            new_value=new,
            advisor_id=asker.id,
            attempt_id=attempt.id if attempt else None,
        )
    )
    audit.append(_audit(asker.email, "client", client.number, f"correction:{key}", current, new))


def _missing_for_done(case: Case) -> list[str]:
    w = words()
    return [say(w.tag_label(tag)) for tag in TAG_ORDER if getattr(case, f"tag_{tag}") != "OK"]


def _confirmation(screen: CaptureScreen, *, status: str, missing: Sequence[str]) -> dict[str, Any]:
    values = screen.values
    text = say(
        words().confirmation(
            screen.case,
            status,
            missing,
            values.outcome,
            values.callback_at if values.outcome == "rappel" else None,
            values.next_try_on if values.outcome in FAILED_OUTCOMES else None,
        )
    )
    from bot.blocks.card import open_button

    # The contact card, after a failed call (the client has the number that called) and after
    # a good one (so that the client saves it): « Envoyer ma carte » opens its confirmation.
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
            {"type": "actions", "elements": [open_button(screen.case.id)]},
        ],
    }


@dataclass(frozen=True)
class CaseStatus:
    """What `/m3 status` shows of one client's current case."""

    case: CaseView
    review: CaseReview | None
    corrections: list[Correction]


def status_of(
    session: Session, *, asker: Advisor, query: str, today: dt.date
) -> CaseStatus | list[CaseView]:
    """The case of the client `query` names (number or part of the name: `the_clients_case`),
    among the asker's clients (every client for a manager); the candidates when it names none
    or several."""
    needle = _fold(query)
    stmt = (
        select(Case)
        .where(may_be_the_clients_case(today))
        .options(
            *case_loads(),
        )
    )
    if not asker.is_manager:
        stmt = stmt.where(Case.advisor_id == asker.id)
    cases = the_clients_case(session.scalars(stmt), today)
    exact = [c for c in cases if _fold(c.client.number) == needle]
    found = exact or [
        c
        for c in cases
        if needle and (needle in _fold(c.client.display_name) or needle in _fold(c.client.number))
    ]
    if len(found) != 1:
        views = [case_view(c, today) for c in found[:20]]
        return sorted(views, key=lambda v: v.client_name)
    case = found[0]
    corrections = list(
        session.scalars(
            select(Correction)
            .where(Correction.client_id == case.client_id, Correction.applied_on.is_(None))
            .order_by(Correction.at)
        )
    )
    return CaseStatus(case=case_view(case, today), review=case.review, corrections=corrections)


def mark_action_done(
    factory: sessionmaker[Session], *, action_id: int, asker: Advisor, today: dt.date
) -> Refusal | None:
    """The « Fait » button of a next action: done today (once; a second click changes
    nothing). Only the case's advisor or a manager may."""
    with factory.begin() as session:
        known = parse_id(action_id)
        action = session.get(NextAction, known) if known is not None else None
        case = session.get(Case, action.case_id) if action is not None else None
        if action is None or case is None:
            from bot.blocks.common import texts

            return Refusal(say(texts().case_gone()))
        if not may_handle(case, asker):
            return Refusal(say(words().refused_not_yours()))
        if action.done_on is None:
            action.done_on = today
            session.add(_audit(asker.email, "next_action", case.id, action.kind, None, today))
    return None


__all__ = [
    "FormTampered",
    "Refusal",
    "Submitted",
    "find_case",
    "find_cases",
    "load_screen",
    "may_handle",
    "parse_id",
    "state_values",
    "submit",
]

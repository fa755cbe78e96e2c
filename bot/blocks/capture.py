"""The « Compte rendu » modal of `/m3 done`: its blocks, built from a `CaptureScreen`, and the
reading of its state back into plain values (`CaptureValues`).

The modal adapts to its first question, « Résultat de l'appel » (a select with
`dispatch_action`): the three objectives after a call that reached the client, the next try after
a failed one, the agreed time for a callback. When it is rebuilt, every value already typed is
written back as the element's initial value, so nothing typed is lost.

Block ids are stable and name what they hold; each input's action id is `value`, except the
outcome's (`OUTCOME_ACTION`, which Bolt listens to). Words live in `templates/slack/capture.j2`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bot.blocks.common import VIEW_BLOCK_LIMIT, Block, context, divider, section
from bot.cases.views import CaseView
from bot.rendering import environment

CAPTURE_CALLBACK = "capture_view"
PICKER_CALLBACK = "capture_picker"
OPEN_ACTION = "capture_open"  # the « Compte rendu » button; its value is the case id
OUTCOME_BLOCK = "outcome"
OUTCOME_ACTION = "outcome_select"
PICKER_BLOCK = "case"
VALUE = "value"

OUTCOMES = ("joint", "messagerie", "pas_de_reponse", "numero_errone", "rappel", "refus")
FAILED_OUTCOMES = ("messagerie", "pas_de_reponse", "numero_errone")
ACTION_KINDS = ("devis", "rdv", "elements", "relance")
TAG_VALUES = ("OK", "KO")

# Slack's limits (Block Kit reference).
NOTE_LIMIT = 2000
CORRECTION_LIMIT = 200
ELSEWHERE_LIMIT = 1000
OPTION_TEXT_LIMIT = 75
CHECKBOX_LIMIT = 10
SELECT_LIMIT = 100
LABEL_LIMIT = 2000
METADATA_LIMIT = 3000


def words() -> Any:
    return environment().get_template("slack/capture.j2").module


def say(value: Any) -> str:
    return str(value).strip()


# --- What the modal shows ------------------------------------------------------------------


@dataclass(frozen=True)
class CrmField:
    """One field of objective 1: its key, label, current value in Lagon and what the import
    found. `choices` makes the correction a select (marital and professional status)."""

    key: str
    label: str
    current: str | None
    missing: bool = False
    invalid: bool = False
    choices: tuple[str, ...] = ()


@dataclass
class CaptureValues:
    """The form's values, as typed (or as stored, when the modal is re-opened)."""

    outcome: str | None = None
    note: str = ""
    next_try_on: dt.date | None = None
    callback_at: dt.datetime | None = None
    crm_checked: set[str] = field(default_factory=set)
    corrections: dict[str, str] = field(default_factory=dict)
    obj2_done: set[str] = field(default_factory=set)
    elsewhere: str = ""
    gaps: list[str] = field(default_factory=list)
    actions: dict[str, tuple[dt.date | None, str | None]] = field(default_factory=dict)
    review_tag: str | None = None


@dataclass(frozen=True)
class CaptureScreen:
    """Everything the modal needs: the case, the choices that fit it, and the values."""

    case: CaseView
    values: CaptureValues
    crm_fields: Sequence[CrmField]  # the fields that can be corrected
    checks: Sequence[tuple[str, str]]  # (key, label): every field to validate, in order
    signatures: Sequence[tuple[str, str]]  # (key, label)
    pieces: Sequence[tuple[str, str]]
    held_with_us: Sequence[str]
    products: Sequence[tuple[str, str]]  # every product the agency sells, for gaps and actions
    tags: Sequence[tuple[str, str | None]]  # (tag, "OK" | "KO" | None), in the guide's order
    attempts: int = 0
    max_attempts: int | None = None
    previous_joint_on: dt.date | None = None
    rules_on: bool = True
    metadata: Mapping[str, Any] = field(default_factory=dict)


def _plain(text: str, limit: int = OPTION_TEXT_LIMIT) -> dict[str, Any]:
    text = text.strip() or "—"
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text}


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _plain(label), "value": value}


def _input(
    block_id: str,
    label: str,
    element: dict[str, Any],
    *,
    optional: bool = False,
    hint: str = "",
    dispatch: bool = False,
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label, LABEL_LIMIT),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = _plain(hint, LABEL_LIMIT)
    if dispatch:
        block["dispatch_action"] = True
    return block


def _text_input(
    initial: str, *, multiline: bool = False, limit: int, placeholder: str = ""
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": VALUE,
        "multiline": multiline,
        "max_length": limit,
    }
    if initial:
        element["initial_value"] = initial[:limit]
    if placeholder:
        element["placeholder"] = _plain(placeholder, 150)
    return element


def _select(
    options: Sequence[tuple[str, str]], initial: str | None, *, action_id: str = VALUE
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "options": [_option(v, label) for v, label in options[:SELECT_LIMIT]],
    }
    chosen = [o for o in element["options"] if o["value"] == initial]
    if chosen:
        element["initial_option"] = chosen[0]
    return element


def _checkboxes(options: Sequence[tuple[str, str]], checked: Iterable[str]) -> dict[str, Any]:
    built = [_option(v, label) for v, label in options]
    element: dict[str, Any] = {"type": "checkboxes", "action_id": VALUE, "options": built}
    ticked = set(checked)
    initial = [o for o in built if o["value"] in ticked]
    if initial:
        element["initial_options"] = initial
    return element


def _radio(initial: str | None) -> dict[str, Any]:
    w = words()
    options = [_option("OK", say(w.ok())), _option("KO", say(w.ko()))]
    element: dict[str, Any] = {"type": "radio_buttons", "action_id": VALUE, "options": options}
    chosen = [o for o in options if o["value"] == initial]
    if chosen:
        element["initial_option"] = chosen[0]
    return element


def _datepicker(initial: dt.date | None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "datepicker", "action_id": VALUE}
    if initial is not None:
        element["initial_date"] = initial.isoformat()
    return element


def _datetimepicker(initial: dt.datetime | None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "datetimepicker", "action_id": VALUE}
    if initial is not None:
        element["initial_date_time"] = int(initial.timestamp())
    return element


def _chunks(items: Sequence[tuple[str, str]], size: int) -> list[Sequence[tuple[str, str]]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def capture_view(screen: CaptureScreen) -> dict[str, Any]:
    """The modal for `screen`; the outcome decides which parts are shown."""
    w = words()
    values = screen.values
    blocks: list[Block] = [
        section(w.header(screen.case, screen.attempts, screen.max_attempts, screen.tags))
    ]
    if screen.previous_joint_on is not None:
        blocks.append(context(w.previous_joint(screen.previous_joint_on)))
    outcome_options = [(o, say(w.outcome_label(o))) for o in OUTCOMES]
    blocks.append(
        _input(
            OUTCOME_BLOCK,
            say(w.outcome_question()),
            _select(outcome_options, values.outcome, action_id=OUTCOME_ACTION),
            hint=say(w.outcome_hint()),
            dispatch=True,
        )
    )
    if values.outcome == "joint":
        blocks += _objectives(screen)
    elif values.outcome in FAILED_OUTCOMES:
        blocks.append(_input("next_try", say(w.next_try_label()), _datepicker(values.next_try_on)))
    elif values.outcome == "rappel":
        blocks.append(
            _input(
                "callback",
                say(w.callback_label()),
                _datetimepicker(values.callback_at),
                hint=say(w.callback_hint(screen.rules_on)),
            )
        )
    if values.outcome is not None:
        blocks.append(
            _input(
                "note",
                say(w.note_label()),
                _text_input(
                    values.note,
                    multiline=True,
                    limit=NOTE_LIMIT,
                    placeholder=say(w.note_placeholder()),
                ),
                optional=True,
            )
        )
    card = dict(screen.tags).get("card")
    blocks.append(context(w.card_tag_line(card)))
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": CAPTURE_CALLBACK,
        "title": _plain(say(w.title()), 24),
        "submit": _plain(say(w.submit()), 24),
        "close": _plain(say(w.cancel()), 24),
        "private_metadata": json.dumps(dict(screen.metadata), separators=(",", ":")),
        "blocks": blocks[:VIEW_BLOCK_LIMIT],
    }
    assert len(view["private_metadata"]) <= METADATA_LIMIT
    return view


def _objectives(screen: CaptureScreen) -> list[Block]:
    w = words()
    values = screen.values
    case = screen.case
    blocks: list[Block] = [divider(), section(w.objective1_title(case))]
    flagged = [f for f in screen.crm_fields if f.missing or f.invalid]
    blocks.append(
        context(
            w.objective1_missing([f.label for f in flagged])
            if flagged
            else w.objective1_none_missing()
        )
    )
    # Flagged fields first: they are what the call must fix.
    ordered = flagged + [f for f in screen.crm_fields if not (f.missing or f.invalid)]
    first = {f.key for f in flagged}
    checks = [c for c in screen.checks if c[0] in first] + [
        c for c in screen.checks if c[0] not in first
    ]
    for index, chunk in enumerate(_chunks(checks, CHECKBOX_LIMIT)):
        label = w.crm_checked_label() if index == 0 else w.crm_checked_more_label()
        blocks.append(
            _input(
                f"crm_checked_{index}",
                say(label),
                _checkboxes(chunk, values.crm_checked),
                optional=True,
            )
        )
    for crm_field in ordered:
        initial = values.corrections.get(crm_field.key, "")
        placeholder = say(w.correction_placeholder(crm_field.current))
        if crm_field.choices:
            element = _select([(c, c) for c in crm_field.choices], initial or None)
            element["placeholder"] = _plain(placeholder, 150)
        else:
            element = _text_input(initial, limit=CORRECTION_LIMIT, placeholder=placeholder)
        blocks.append(
            _input(
                f"fix_{crm_field.key}",
                say(w.correction_label(crm_field.label)),
                element,
                optional=True,
            )
        )

    blocks += [divider(), section(w.objective2_title())]
    blocks.append(
        _input(
            "obj2_signatures",
            say(w.signatures_label()),
            _checkboxes(screen.signatures, values.obj2_done),
            optional=True,
        )
    )
    for index, chunk in enumerate(_chunks(list(screen.pieces), CHECKBOX_LIMIT)):
        if not chunk:
            break
        blocks.append(
            _input(
                f"obj2_pieces_{index}",
                say(w.pieces_label()),
                _checkboxes(chunk, values.obj2_done),
                optional=True,
            )
        )

    blocks += [divider(), section(w.objective3_title(screen.held_with_us, screen.case))]
    blocks.append(
        _input(
            "elsewhere",
            say(w.elsewhere_label()),
            _text_input(
                values.elsewhere,
                multiline=True,
                limit=ELSEWHERE_LIMIT,
                placeholder=say(w.elsewhere_placeholder()),
            ),
            optional=True,
        )
    )
    gaps: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": VALUE,
        "options": [_option(v, label) for v, label in screen.products[:SELECT_LIMIT]],
    }
    chosen = [o for o in gaps["options"] if o["value"] in values.gaps]
    if chosen:
        gaps["initial_options"] = chosen
    blocks.append(_input("gaps", say(w.gaps_label()), gaps, optional=True, hint=say(w.gaps_hint())))
    for kind in ACTION_KINDS:
        due, product = values.actions.get(kind, (None, None))
        blocks.append(
            _input(
                f"action_{kind}_date",
                say(w.action_date_label(kind)),
                _datepicker(due),
                optional=True,
            )
        )
        blocks.append(
            _input(
                f"action_{kind}_product",
                say(w.action_product_label(kind)),
                _select(screen.products, product),
                optional=True,
            )
        )
    blocks.append(_input("review_tag", say(w.review_tag_label()), _radio(values.review_tag)))
    return blocks


# --- Reading the state back ----------------------------------------------------------------


class FormTampered(ValueError):
    """The state holds what Slack could not have sent from our view (an unknown option value, a
    malformed date): the submission is refused and the reason logged."""


def _element(state: Mapping[str, Any], block_id: str) -> Mapping[str, Any] | None:
    block = state.get(block_id)
    if block is None:
        return None
    if not isinstance(block, Mapping):
        raise FormTampered(f"block {block_id} is not an object")
    element = block.get(VALUE) if block_id != OUTCOME_BLOCK else block.get(OUTCOME_ACTION)
    if element is not None and not isinstance(element, Mapping):
        raise FormTampered(f"element of {block_id} is not an object")
    return element


def _selected(element: Mapping[str, Any] | None, allowed: Iterable[str], where: str) -> str | None:
    if element is None:
        return None
    option = element.get("selected_option")
    if option is None:
        return None
    value = option.get("value") if isinstance(option, Mapping) else None
    if value not in set(allowed):
        raise FormTampered(f"{where}: unknown option {value!r}")
    return str(value)


def _multi(element: Mapping[str, Any] | None, allowed: Iterable[str], where: str) -> list[str]:
    if element is None:
        return []
    options = element.get("selected_options") or []
    allowed_set = set(allowed)
    values = [o.get("value") for o in options if isinstance(o, Mapping)]
    unknown = [v for v in values if v not in allowed_set]
    if unknown or len(values) != len(options):
        raise FormTampered(f"{where}: unknown options {unknown!r}")
    return [str(v) for v in values]


def _text(element: Mapping[str, Any] | None) -> str:
    if element is None:
        return ""
    value = element.get("value")
    return value.strip() if isinstance(value, str) else ""


def _date(element: Mapping[str, Any] | None, where: str) -> dt.date | None:
    if element is None or not element.get("selected_date"):
        return None
    try:
        return dt.date.fromisoformat(str(element["selected_date"]))
    except ValueError as exc:
        raise FormTampered(f"{where}: bad date") from exc


def _datetime(element: Mapping[str, Any] | None, zone: ZoneInfo, where: str) -> dt.datetime | None:
    if element is None or element.get("selected_date_time") in (None, ""):
        return None
    try:
        stamp = int(element["selected_date_time"])
        return dt.datetime.fromtimestamp(stamp, tz=zone)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise FormTampered(f"{where}: bad date and time") from exc


def read_state(
    state: Mapping[str, Any],
    *,
    zone: ZoneInfo,
    crm_keys: Sequence[str],
    choices: Mapping[str, Sequence[str]],
    obj2_keys: Sequence[str],
    products: Sequence[str],
) -> CaptureValues:
    """The values of a submitted (or dispatched) view's `state.values`.

    `crm_keys`, `choices`, `obj2_keys` and `products` are what the view offered: any other
    value raises `FormTampered`.
    """
    outcome = _selected(_element(state, OUTCOME_BLOCK), OUTCOMES, "outcome")
    values = CaptureValues(outcome=outcome)
    values.note = _text(_element(state, "note"))
    values.next_try_on = _date(_element(state, "next_try"), "next_try")
    values.callback_at = _datetime(_element(state, "callback"), zone, "callback")
    checks = [*crm_keys, "branch", "advisor"]
    for block_id in state:
        if block_id.startswith("crm_checked_"):
            values.crm_checked |= set(_multi(_element(state, block_id), checks, block_id))
        elif block_id.startswith("obj2_"):
            values.obj2_done |= set(_multi(_element(state, block_id), obj2_keys, block_id))
    for key in crm_keys:
        element = _element(state, f"fix_{key}")
        if key in choices:
            chosen = _selected(element, choices[key], f"fix_{key}")
            if chosen:
                values.corrections[key] = chosen
        else:
            text = _text(element)
            if text:
                values.corrections[key] = text
    values.elsewhere = _text(_element(state, "elsewhere"))
    values.gaps = _multi(_element(state, "gaps"), products, "gaps")
    for kind in ACTION_KINDS:
        due = _date(_element(state, f"action_{kind}_date"), kind)
        product = _selected(_element(state, f"action_{kind}_product"), products, kind)
        if due is not None or product is not None:
            values.actions[kind] = (due, product)
    values.review_tag = _selected(_element(state, "review_tag"), TAG_VALUES, "review_tag")
    return values


def parse_elsewhere(text: str) -> list[tuple[str, str]] | None:
    """« Habitation — MAAF » lines → [(product, insurer)]; None when a line has no insurer."""
    held: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        for separator in ("—", "–", " - ", ":", "/", ","):
            if separator in line:
                product, insurer = (p.strip() for p in line.split(separator, 1))
                break
        else:
            return None
        if not product or not insurer:
            return None
        held.append((product, insurer))
    return held


def format_elsewhere(held: Iterable[tuple[str, str]]) -> str:
    return "\n".join(f"{product} — {insurer}" for product, insurer in held)


# --- The case picker -----------------------------------------------------------------------


def picker_view(
    count: int, *, available: int, query: str, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """A modal to choose the case when `/m3 done <query>` matched none or several (`count`):
    a type-ahead select over the asker's open and late cases (every case for a manager), of
    which there are `available`."""
    w = words()
    blocks: list[Block] = [section(w.picker_intro(query, count))]
    if available:
        element = {
            "type": "external_select",
            "action_id": VALUE,
            "min_query_length": 0,
            "placeholder": _plain(say(w.picker_placeholder()), 150),
        }
        blocks.append(_input(PICKER_BLOCK, say(w.picker_label()), element))
    else:
        blocks = [section(w.picker_none(query))]
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": PICKER_CALLBACK,
        "title": _plain(say(w.picker_title()), 24),
        "close": _plain(say(w.cancel()), 24),
        "private_metadata": json.dumps(dict(metadata), separators=(",", ":")),
        "blocks": blocks,
    }
    if available:
        view["submit"] = _plain(say(w.picker_submit()), 24)
    return view


def picker_options(cases: Sequence[CaseView]) -> list[dict[str, Any]]:
    """The picker's type-ahead answer: the matching cases, most urgent first, at most 100."""
    w = words()
    return [_option(str(c.id), say(w.picker_option(c))) for c in cases[:SELECT_LIMIT]]


def open_button(case_id: int) -> dict[str, Any]:
    """The « Compte rendu » button of a case (digest, App Home, prepare modal)."""
    return {
        "type": "button",
        "action_id": OPEN_ACTION,
        "text": _plain(say(words().button())),
        "value": str(case_id),
    }

"""Block Kit of the contact card: the confirmation modal, the button that opens it, the
advisor's notices. Words live in templates/slack/card.j2.

The number and address fields dispatch an action when Enter is pressed in them, and the modal
is rebuilt for the value typed (commands/card.py): the channels possible, a landline, the
recipients, an invalid value's hint. Why Enter (`on_enter_pressed`) and not every keystroke
(`on_character_entered`):
- each rebuild is a `views.update` guarded by the view's hash; with a payload per keystroke,
  every payload sent before the first update lands carries the same hash, so only one of them
  succeeds and the others fail with `hash_conflict`: the preview would show whichever
  keystroke won, rarely the last one;
- a number is invalid until it is complete: each keystroke would flash « numéro non valide »;
- `views.update` is rate limited (Tier 4, per app and workspace), and each rebuild reads the
  database.
Slack shows its own « press Enter » hint under such a field; ours says that Enter only
refreshes the preview and sends nothing. Whoever does not press Enter loses nothing: the
submission checks the values again, as before.

When a rebuild changes which channels are possible, the channels block gets a new block id
(`channels`, then `channels-1`, `channels-2`…, counted in `private_metadata`): Slack keeps what
was ticked in an input whose block and action ids are unchanged, and would ignore the new
initial options (the SMS would stay ticked for a landline).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.blocks.common import Block, clip, context, section
from bot.card import CardPlan
from bot.models import Outbox
from bot.rendering import environment
from bot.sms import character_name, mask_email, mask_phone

CARD_CALLBACK = "card_view"
OPEN_ACTION = "card_open"
CHANNELS_BLOCK, CHANNELS_ACTION = "channels", "channels_select"
PHONE_BLOCK, PHONE_ACTION = "phone", "phone_input"
EMAIL_BLOCK, EMAIL_ACTION = "email", "email_input"
OBJECTION_BLOCK, OBJECTION_ACTION = "objection", "objection_check"
# The number and address fields refresh the preview when Enter is pressed (see above).
REFRESH_TRIGGERS = ["on_enter_pressed"]


def words() -> Any:
    return environment().get_template("slack/card.j2").module


def say(value: Any) -> str:
    return str(value).strip()


def _plain(text: Any, limit: int = 75) -> dict[str, Any]:
    value = say(text)
    return {"type": "plain_text", "text": value[:limit]}


def open_button(case_id: int) -> Block:
    return {
        "type": "button",
        "action_id": OPEN_ACTION,
        "text": _plain(words().button()),
        "value": str(case_id),
    }


def _option(channel: str, description: str | None) -> dict[str, Any]:
    option: dict[str, Any] = {"text": _plain(words().channel_label(channel)), "value": channel}
    if description:
        option["description"] = _plain(description)
    return option


@dataclass(frozen=True)
class Kept:
    """What the advisor had set in the modal when it is rebuilt: the channels ticked and the
    opposition (the number and address typed go to the plan)."""

    ticked: Sequence[str] = ()
    objection: bool = False


def channels_block_id(metadata: Mapping[str, Any]) -> str:
    """The channels block's id in the view whose `private_metadata` is `metadata`."""
    revision = metadata.get("channels_rev")
    if isinstance(revision, int) and not isinstance(revision, bool) and revision > 0:
        return f"{CHANNELS_BLOCK}-{revision}"
    return CHANNELS_BLOCK


def error_block_id(key: str, metadata: Mapping[str, Any]) -> str:
    """The block an inline error of `request_card` (keyed `channels`, `phone`, `email`) goes
    to in the submitted view."""
    return channels_block_id(metadata) if key == CHANNELS_BLOCK else key


def _channels_note(plan: CardPlan, channel: str, possible: Sequence[str]) -> str:
    """An option's description: the recipient (masked) when the channel can carry the card,
    else why it cannot."""
    w = words()
    if channel == "sms":
        recipient = mask_phone(plan.phone) if plan.phone else ""
        problem = plan.phone_problem or ("too_long" if plan.sms is None else None)
    else:
        valid = plan.email is not None and plan.email_problem is None
        recipient = mask_email(plan.email) if valid else ""
        problem = plan.email_problem
    if channel in possible:
        return recipient
    return say(w.unavailable(channel, problem, recipient))


def card_view(
    plan: CardPlan, *, metadata: Mapping[str, Any], kept: Kept | None = None
) -> dict[str, Any]:
    """The confirmation modal: the texts, the encoding, the channels, the number and address
    (correctable), the opposition; or only the reason when the client objected.

    `metadata` is the modal's `private_metadata` (the case; when rebuilt, that of the view
    being replaced), `kept` what the advisor had set in the view being replaced (None when it
    opens: every possible channel is then ticked)."""
    w = words()
    possible = plan.channels
    offered_before = metadata.get("offered")
    before = [str(c) for c in offered_before] if isinstance(offered_before, list) else None
    revision = metadata.get("channels_rev")
    revision = revision if isinstance(revision, int) and not isinstance(revision, bool) else 0
    if kept is not None and (before is None or sorted(before) != sorted(possible)):
        revision += 1
    stored = {**metadata, "offered": possible, "channels_rev": revision}
    blocks: list[Block] = [section(w.header(plan))]
    if plan.previous:
        blocks.append(context(w.previous(plan.previous)))
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": CARD_CALLBACK,
        "title": _plain(w.title(), 24),
        "close": _plain(w.cancel(), 24),
        "private_metadata": json.dumps(stored),
        "blocks": blocks,
    }
    if plan.objected_on is not None:
        blocks.append(section(w.objected(plan.objected_on)))
        return view
    view["submit"] = _plain(w.submit(), 24)
    if plan.simulated_sms or plan.simulated_mail:
        blocks.append(context(w.simulated(plan.simulated_sms, plan.simulated_mail)))
    # The SMS.
    blocks.append(section(say(w.sms_title()) + "\n>" + clip(plan.sms or "—").replace("\n", "\n>")))
    if plan.sms_too_long is not None:
        blocks.append(context(w.sms_too_long(plan.sms_too_long.shape)))
    elif plan.sms_shape is not None:
        line = say(w.sms_shape(plan.sms_shape))
        if plan.sms_shape.costly:
            names = [f"« {character_name(c)} »" for c in plan.sms_shape.costly]
            line += "\n" + say(w.sms_costly(plan.sms_shape, names))
        blocks.append(context(line))
    if plan.phone_problem is not None:
        blocks.append(context(w.phone_problem(plan.phone_problem, plan.phone_typed)))
    if plan.sms_leaves_at is not None:
        blocks.append(context(w.quiet(plan.sms_leaves_at)))
    # The e-mail.
    preview = plan.mail.text if len(plan.mail.text) < 1200 else plan.mail.text[:1200] + "…"
    blocks.append(section(say(w.mail_title(plan.mail.subject)) + "\n```" + preview.strip() + "```"))
    if plan.email_problem is not None:
        blocks.append(context(w.email_problem(plan.email_problem, plan.email or "")))
    # Channels, number, address, opposition.
    options = [
        _option(channel, _channels_note(plan, channel, possible)) for channel in ("sms", "email")
    ]
    channels: dict[str, Any] = {
        "type": "checkboxes",
        "action_id": CHANNELS_ACTION,
        "options": options,
    }
    if kept is None:
        ticked = list(possible)
    else:
        # What was ticked stays ticked where still possible; a channel that just became
        # possible (a mobile typed over a landline) is ticked, as when the modal opens.
        ticked = [
            c for c in possible if c in kept.ticked or (before is not None and c not in before)
        ]
    initial = [o for o in options if o["value"] in ticked]
    if initial:
        channels["initial_options"] = initial
    blocks.append(
        {
            "type": "input",
            "block_id": channels_block_id(stored),
            "label": _plain(w.channels_label()),
            "element": channels,
            "optional": True,
        }
    )
    for block_id, action_id, label, value in (
        (PHONE_BLOCK, PHONE_ACTION, w.phone_label(), plan.phone_typed),
        (EMAIL_BLOCK, EMAIL_ACTION, w.email_label(), plan.email or ""),
    ):
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": action_id,
            "dispatch_action_config": {"trigger_actions_on": REFRESH_TRIGGERS},
        }
        if value:
            element["initial_value"] = value[:150]
        blocks.append(
            {
                "type": "input",
                "block_id": block_id,
                "label": _plain(label),
                "element": element,
                "optional": True,
                "dispatch_action": True,
                "hint": _plain(w.correction_hint(), 2000),
            }
        )
    objection: dict[str, Any] = {
        "type": "checkboxes",
        "action_id": OBJECTION_ACTION,
        "options": [
            {
                "text": _plain(w.objection_option()),
                "description": _plain(w.objection_description()),
                "value": "objected",
            }
        ],
    }
    if kept is not None and kept.objection:
        objection["initial_options"] = objection["options"]
    blocks.append(
        {
            "type": "input",
            "block_id": OBJECTION_BLOCK,
            "label": _plain(w.objection_label()),
            "optional": True,
            "element": objection,
        }
    )
    return view


def read_state(state: dict[str, Any]) -> tuple[list[str], str | None, str | None, bool]:
    """(channels, phone, e-mail, objection) from a view's state (submitted, or sent with an
    action when a field is refreshed)."""
    values = state.get("values", state)

    def element(block: str, action: str) -> dict[str, Any]:
        found = values.get(block, {}).get(action)
        return found if isinstance(found, dict) else {}

    # The channels block's id changes with the channels possible (see the module's docstring).
    channels_block = next(
        (b for b in values if b == CHANNELS_BLOCK or b.startswith(CHANNELS_BLOCK + "-")),
        CHANNELS_BLOCK,
    )
    channels = [
        str(o.get("value"))
        for o in element(channels_block, CHANNELS_ACTION).get("selected_options") or []
    ]
    phone = element(PHONE_BLOCK, PHONE_ACTION).get("value")
    email = element(EMAIL_BLOCK, EMAIL_ACTION).get("value")
    objection = bool(element(OBJECTION_BLOCK, OBJECTION_ACTION).get("selected_options"))
    return channels, phone, email, objection


def notice_message(row: Outbox, kind: str) -> dict[str, Any]:
    """The advisor's DM about a card send: sent, failed (with the reason), simulated,
    uncertain."""
    recipient = mask_phone(row.recipient) if row.channel == "sms" else mask_email(row.recipient)
    text = say(
        words().notice(
            kind,
            row.channel,
            str((row.payload or {}).get("client_name") or ""),
            recipient,
            row.provider,
            row.error,
        )
    )
    return {"text": text, "blocks": [section(text)]}

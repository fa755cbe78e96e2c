"""Block Kit of the contact card: the confirmation modal, the button that opens it, the
advisor's notices. Words live in templates/slack/card.j2."""

from __future__ import annotations

import json
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


def card_view(plan: CardPlan, *, metadata: dict[str, Any]) -> dict[str, Any]:
    """The confirmation modal: the texts, the encoding, the channels, the number and address
    (correctable), the opposition; or only the reason when the client objected."""
    w = words()
    blocks: list[Block] = [section(w.header(plan))]
    if plan.previous:
        blocks.append(context(w.previous(plan.previous)))
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": CARD_CALLBACK,
        "title": _plain(w.title(), 24),
        "close": _plain(w.cancel(), 24),
        "private_metadata": json.dumps(metadata),
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
    possible = plan.channels
    options = [
        _option("sms", mask_phone(plan.phone) if plan.phone else None),
        _option("email", mask_email(plan.email) if plan.email else None),
    ]
    channels: dict[str, Any] = {
        "type": "checkboxes",
        "action_id": CHANNELS_ACTION,
        "options": options,
    }
    initial = [o for o in options if o["value"] in possible]
    if initial:
        channels["initial_options"] = initial
    blocks.append(
        {
            "type": "input",
            "block_id": CHANNELS_BLOCK,
            "label": _plain(w.channels_label()),
            "element": channels,
            "optional": True,
        }
    )
    for block_id, action_id, label, value in (
        (PHONE_BLOCK, PHONE_ACTION, w.phone_label(), plan.phone_typed),
        (EMAIL_BLOCK, EMAIL_ACTION, w.email_label(), plan.email or ""),
    ):
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": action_id}
        if value:
            element["initial_value"] = value[:150]
        blocks.append(
            {
                "type": "input",
                "block_id": block_id,
                "label": _plain(label),
                "element": element,
                "optional": True,
                "hint": _plain(w.correction_hint(), 150),
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": OBJECTION_BLOCK,
            "label": _plain(w.objection_label()),
            "optional": True,
            "element": {
                "type": "checkboxes",
                "action_id": OBJECTION_ACTION,
                "options": [
                    {
                        "text": _plain(w.objection_option()),
                        "description": _plain(w.objection_description()),
                        "value": "objected",
                    }
                ],
            },
        }
    )
    return view


def read_state(state: dict[str, Any]) -> tuple[list[str], str | None, str | None, bool]:
    """(channels, phone, e-mail, objection) from a submitted view's state."""
    values = state.get("values", state)

    def element(block: str, action: str) -> dict[str, Any]:
        found = values.get(block, {}).get(action)
        return found if isinstance(found, dict) else {}

    channels = [
        str(o.get("value"))
        for o in element(CHANNELS_BLOCK, CHANNELS_ACTION).get("selected_options") or []
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

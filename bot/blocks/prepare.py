"""The "Préparer l'appel" modal: the script with the real names, what is missing in the record
and in the contracts held with us, the transition, the magic question and the rebound questions
for what the bot knows of the client. Words live in `templates/slack/prepare.j2`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.blocks.capture import open_button
from bot.blocks.common import Block, divider, section, slack_words
from bot.calls import Gap, GapReason, Product
from bot.cases.views import CaseView

PREPARE_CALLBACK = "prepare_call_view"
ADDRESS_MODES = ("prenom", "civilite")  # M3_SCRIPT_ADDRESS: « Bonjour Marie » or « Madame Leblanc »

# The rebound questions, in the order the guide asks them (« Manque évident », « Pro / TNS »,
# then the rest of the domain's gap table, « Patrimonial » last), by the gaps they come from.
_REBOUNDS: tuple[tuple[str, frozenset[GapReason]], ...] = (
    ("protection", frozenset({GapReason.LEGAL_PROTECTION, GapReason.ACCIDENT_COVER})),
    ("sick_leave", frozenset({GapReason.SICK_LEAVE_INCOME})),
    ("health", frozenset({GapReason.SELF_EMPLOYED_COVER})),
    ("premises", frozenset({GapReason.PREMISES})),
    ("home", frozenset({GapReason.HOME})),
    ("children", frozenset({GapReason.CHILDREN})),
    ("vehicle", frozenset({GapReason.VEHICLE})),
    ("wealth", frozenset({GapReason.WEALTH})),
)


def words() -> Any:
    return slack_words("prepare")


def rebounds_for(gaps: list[Gap]) -> list[tuple[str, list[str]]]:
    """One rebound question per row of the gap table that applies: its kind and the product
    codes it is about. A TNS's Prévoyance is asked about once, with the sick leave question
    (the guide's « Pro / TNS »); the health question is about Santé alone."""
    out: list[tuple[str, list[str]]] = []
    asked: set[Product] = set()
    for kind, reasons in _REBOUNDS:
        products = [
            g.product
            for g in gaps
            if reasons & set(g.reasons)
            and g.product not in asked
            and not (kind == "health" and g.product is not Product.HEALTH)
        ]
        if products:
            out.append((kind, [p.value for p in products]))
            asked.update(products)
    return out


def prepare_modal(case: CaseView, today: dt.date, address: str = "prenom") -> dict[str, Any]:
    w = words()
    gaps = case.gaps()
    review = section(w.review(case, rebounds_for(gaps)))
    blocks: list[Block] = [
        section(w.header(case, today)),
        divider(),
        section(w.script(case, address)),
        divider(),
        section(w.objective1(case)),
        divider(),
        section(w.objective2(case, today)),
        divider(),
        section(w.transition()),
        review,
    ]
    if gaps:
        labels = [g.product.crm_label for g in gaps]
        blocks.append({"type": "context", "elements": [_mrkdwn(w.suggested(labels))]})
    # After the call: the report, pushed on top of this modal.
    blocks.append({"type": "actions", "block_id": "after_call", "elements": [open_button(case.id)]})
    return {
        "type": "modal",
        "callback_id": PREPARE_CALLBACK,
        "title": {"type": "plain_text", "text": str(w.title()).strip()[:24]},
        "close": {"type": "plain_text", "text": str(slack_words("texts").close()).strip()},
        "blocks": blocks,
    }


def _mrkdwn(text: Any) -> dict[str, str]:
    return {"type": "mrkdwn", "text": str(text).strip()[:3000]}


def closed_notice(case: CaseView, today: dt.date) -> str:
    """What an old « Préparer l'appel » button says on a case done, expired or cancelled."""
    return str(words().closed(case, today)).strip()

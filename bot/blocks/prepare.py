"""The "Préparer l'appel" modal: the script with the real names, what is missing, the rebound
questions for the client's profile."""

from __future__ import annotations

from typing import Any

from bot.blocks.capture import open_button
from bot.blocks.common import divider, section, texts
from bot.cases.views import CaseView
from bot.models import ClientType


def rebounds_for(case: CaseView) -> list[str]:
    """Rebound questions for the client's profile (guide, étape 3), most relevant first."""
    kinds: list[str] = []
    products = {p.casefold() for p in case.products}
    if not products & {"protection juridique", "gav"}:
        kinds.append("gap")
    if (
        case.client_type != ClientType.PERSON.value
        or (case.professional_status or "").upper() == "TNS"
    ):
        kinds += ["pro", "premises"]
    if "habitation" not in products and case.client_type == ClientType.PERSON.value:
        kinds.append("home")
    if (case.marital_status or "").casefold().startswith(("mari", "pacs")):
        kinds.append("family")
    kinds.append("wealth")
    return [str(texts().rebound(kind)).strip() for kind in kinds]


def prepare_modal(case: CaseView) -> dict[str, Any]:
    t = texts()
    return {
        "type": "modal",
        "callback_id": "prepare_call_view",
        "title": {"type": "plain_text", "text": str(t.prepare_title()).strip()[:24]},
        "close": {"type": "plain_text", "text": str(t.close()).strip()},
        "blocks": [
            section(t.case_text(case)),
            divider(),
            section(t.prepare_script(case)),
            divider(),
            section(t.prepare_missing(case)),
            divider(),
            section(t.prepare_review(case, rebounds_for(case))),
            # After the call: the report, pushed on top of this modal.
            {"type": "actions", "block_id": "after_call", "elements": [open_button(case.id)]},
        ],
    }

"""Block Kit payloads: the digest DM, the App Home, the "Préparer l'appel" modal and the
managers' summary. Structure here, words in `templates/slack/texts.j2`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bot.models import Advisor, ClientType
from bot.queue import CaseView, Queue
from bot.rendering import environment

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
TEXT_LIMIT = 3000
PREPARE_ACTION = "prepare_call"

Block = dict[str, Any]


def texts() -> Any:
    """The Slack texts module (one macro per text)."""
    return environment().get_template("slack/texts.j2").module


def _text(value: Any) -> str:
    text = str(value).strip()
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def section(text: Any, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": _text(text)}}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def context(text: Any) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _text(text)}]}


def divider() -> Block:
    return {"type": "divider"}


def case_blocks(case: CaseView) -> list[Block]:
    button = {
        "type": "button",
        "action_id": PREPARE_ACTION,
        "text": {"type": "plain_text", "text": str(texts().prepare_button()).strip()},
        "value": str(case.id),
    }
    return [section(texts().case_text(case), accessory=button)]


def queue_blocks(queue: Queue, *, limit: int, header: Any) -> list[Block]:
    """The queue's sections, the most urgent first, cut to `limit` blocks with a pointer to
    `/m3 list` and the App Home when it does not fit."""
    blocks: list[Block] = [section(header)]
    sections = [("new", queue.new), ("to_handle", queue.to_handle), ("late", queue.late)]
    shown = 0
    # Reserve room for the "… et N autres" line.
    room = limit - len(blocks) - 1
    for kind, cases in sections:
        if not cases:
            continue
        if room < 3:
            break
        blocks += [divider(), section(texts().section_title(kind, len(cases)))]
        room -= 2
        for case in cases:
            if room < 1:
                break
            blocks += case_blocks(case)
            room -= 1
            shown += 1
    if shown < queue.total:
        blocks.append(context(texts().more_cases(queue.total - shown)))
    return blocks


def digest_message(queue: Queue) -> dict[str, Any]:
    return {
        "text": str(texts().digest_fallback(queue)),
        "blocks": queue_blocks(
            queue, limit=MESSAGE_BLOCK_LIMIT, header=texts().digest_header(queue)
        ),
    }


def home_view(queue: Queue | None, advisor: Advisor | None, today: dt.date) -> dict[str, Any]:
    if queue is None or advisor is None:
        blocks = [section(texts().not_an_advisor())]
    elif queue.empty:
        blocks = [section(texts().home_title(advisor, today)), section(texts().empty_queue())]
    else:
        blocks = queue_blocks(
            queue, limit=VIEW_BLOCK_LIMIT, header=texts().home_title(advisor, today)
        )
    return {"type": "home", "blocks": blocks}


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
        "close": {"type": "plain_text", "text": "Fermer"},
        "blocks": [
            section(t.case_text(case)),
            divider(),
            section(t.prepare_script(case)),
            divider(),
            section(t.prepare_missing(case)),
            divider(),
            section(t.prepare_review(case, rebounds_for(case))),
        ],
    }


def managers_summary(today: dt.date, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One line per advisor, packed into as many sections as the text needs (3 000 characters
    each, so that a large agency's list is never cut short)."""
    text = str(texts().managers_summary(today, rows, None)).strip()
    chunks: list[str] = []
    for line in text.split("\n"):
        if chunks and len(chunks[-1]) + 1 + len(line) <= TEXT_LIMIT:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    sections = [section(chunk) for chunk in chunks[:MESSAGE_BLOCK_LIMIT]]
    return {"text": _text(text.split("\n", 1)[0]), "blocks": sections}

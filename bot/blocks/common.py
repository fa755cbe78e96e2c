"""Block Kit building blocks shared by every surface: sections, context lines, Slack's limits,
and the Slack texts (words live in `templates/slack/`)."""

from __future__ import annotations

from typing import Any

from bot.rendering import environment

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
TEXT_LIMIT = 3000

Block = dict[str, Any]


def texts() -> Any:
    """The Slack texts module (one macro per text)."""
    return environment().get_template("slack/texts.j2").module


def slack_words(name: str) -> Any:
    """The macros of one surface's words, `templates/slack/<name>.j2`."""
    return environment().get_template(f"slack/{name}.j2").module


def clip(value: Any) -> str:
    text = str(value).strip()
    return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"


def section(text: Any, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}
    if accessory is not None:
        block["accessory"] = accessory
    return block


def context(text: Any) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text)}]}


def divider() -> Block:
    return {"type": "divider"}

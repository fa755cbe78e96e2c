"""Block Kit payloads as the text a person reads in Slack, for snapshots and for assertions on
words: a section's text, its button as `[Label]`, dividers as a rule, links as their label
(`<tel:+33612345678|06 12 34 56 78>` → `06 12 34 56 78`), and `&amp; &lt; &gt;` unescaped."""

from __future__ import annotations

import re
from typing import Any

RULE = "────────────────────"
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")


def link_targets(text: str) -> list[str]:
    """The targets of the links in Slack mrkdwn: `tel:+33…`, `mailto:…`."""
    return [m.group(1) for m in _LINK.finditer(text)]


def readable(mrkdwn: str) -> str:
    text = _LINK.sub(lambda m: m.group(2), mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _button(element: dict[str, Any]) -> str:
    return f"[{element['text']['text']}]"


def as_text(blocks: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block["type"]
        if kind == "divider":
            lines.append(RULE)
        elif kind == "section":
            text = readable(block["text"]["text"])
            if "accessory" in block:
                text += f"  {_button(block['accessory'])}"
            lines.append(text)
        elif kind == "context":
            lines.append(" ".join(readable(e.get("text", "")) for e in block["elements"]))
        elif kind == "actions":
            lines.append(" ".join(_button(e) for e in block["elements"] if "text" in e))
        else:
            lines.append(f"({kind})")
    return "\n".join(lines) + "\n"


def view_text(view: dict[str, Any]) -> str:
    title = view.get("title", {}).get("text")
    head = f"# {title}\n" if title else ""
    return head + as_text(view["blocks"])


def message_text(message: dict[str, Any]) -> str:
    return f"(notification) {message['text']}\n" + as_text(message["blocks"])

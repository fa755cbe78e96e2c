"""The managers' daily summary in their channel."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from bot.blocks.common import MESSAGE_BLOCK_LIMIT, TEXT_LIMIT, clip, section, texts


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
    return {"text": clip(text.split("\n", 1)[0]), "blocks": sections}

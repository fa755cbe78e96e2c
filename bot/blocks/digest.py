"""The morning digest DM (also `/m3 list` and `/m3 digest`)."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import MESSAGE_BLOCK_LIMIT, texts
from bot.blocks.queue import queue_blocks
from bot.cases.queries import Queue


def digest_message(queue: Queue) -> dict[str, Any]:
    return {
        "text": str(texts().digest_fallback(queue)),
        "blocks": queue_blocks(
            queue, limit=MESSAGE_BLOCK_LIMIT, header=texts().digest_header(queue)
        ),
    }

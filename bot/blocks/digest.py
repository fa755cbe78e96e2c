"""The morning récapitulatif DM (also `/m3 digest`), and `/m3 list`: the same queue, whole."""

from __future__ import annotations

from typing import Any

from bot.blocks.common import MESSAGE_BLOCK_LIMIT
from bot.blocks.queue import message_blocks, say, words
from bot.cases.queries import Queue


def digest_message(queue: Queue) -> dict[str, Any]:
    """Today's reminders, then the cases, the most urgent first; when 50 blocks cannot hold
    them all, the cases with the most time left are left out (never a late one) and a line
    points to `/m3 list` and the App Home."""
    return {
        "text": say(words().digest_fallback(queue)),
        "blocks": message_blocks(
            queue, limit=MESSAGE_BLOCK_LIMIT, header=words().digest_header(queue), surface="digest"
        ),
    }


def list_message(queue: Queue) -> dict[str, Any]:
    """`/m3 list`: the whole queue, the cases past the first few on one line each."""
    return {
        "text": say(words().list_fallback(queue)),
        "blocks": message_blocks(
            queue, limit=MESSAGE_BLOCK_LIMIT, header=words().list_header(queue), surface="list"
        ),
    }

"""The App Home tab: the advisor's live queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.blocks.common import VIEW_BLOCK_LIMIT, divider, section, texts
from bot.blocks.queue import case_blocks, queue_blocks
from bot.cases.queries import Queue
from bot.models import Advisor


def home_view(queue: Queue | None, advisor: Advisor | None, today: dt.date) -> dict[str, Any]:
    """The queue as the digest shows it, then the cases in progress with their tags (the
    report to complete), within the 100 blocks a view holds."""
    if queue is None or advisor is None:
        return {"type": "home", "blocks": [section(texts().not_an_advisor())]}
    title = texts().home_title(advisor, today)
    if queue.empty and not queue.in_progress:
        return {"type": "home", "blocks": [section(title), section(texts().empty_queue())]}
    # Room kept for the cases in progress: up to 10 of them (two blocks each).
    kept = 2 + 2 * min(len(queue.in_progress), 10) if queue.in_progress else 0
    blocks = queue_blocks(queue, limit=VIEW_BLOCK_LIMIT - kept, header=title)
    if queue.in_progress:
        blocks += [divider(), section(texts().in_progress_title(len(queue.in_progress)))]
        for case in queue.in_progress:
            if len(blocks) + 2 > VIEW_BLOCK_LIMIT:
                break
            blocks += case_blocks(case)
    return {"type": "home", "blocks": blocks}

"""The App Home tab: the advisor's live queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.blocks.common import VIEW_BLOCK_LIMIT, section, texts
from bot.blocks.queue import queue_blocks
from bot.cases.queries import Queue
from bot.models import Advisor


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

"""The App Home tab: the advisor's live queue, the whole of it, by pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.blocks.common import VIEW_BLOCK_LIMIT, divider, section, texts
from bot.blocks.queue import home_page, in_progress_blocks, words
from bot.cases.queries import Queue
from bot.models import Advisor


def home_view(
    queue: Queue | None, advisor: Advisor | None, today: dt.date, offset: int = 0
) -> dict[str, Any]:
    """The whole queue, a page at a time from the `offset`-th case by urgency (« Voir plus »),
    then, on the first page, the cases in progress with their tags (the report to complete),
    within the 100 blocks a view holds."""
    if queue is None or advisor is None:
        return {"type": "home", "blocks": [section(texts().not_an_advisor())]}
    title = words().home_title(advisor, today)
    if queue.empty and not queue.in_progress:
        return {"type": "home", "blocks": [section(title), section(words().empty_queue())]}
    # Room kept for the cases in progress (first page): up to 10 of them (two blocks each).
    in_progress = queue.in_progress if offset == 0 else []
    kept = 2 + 2 * min(len(in_progress), 10) if in_progress else 0
    page = home_page(queue, limit=VIEW_BLOCK_LIMIT - 1 - kept, offset=offset)
    if page.first and (page.first > 1 or page.last < page.total):
        title = f"{str(title).strip()}\n{words().home_page(page.first, page.last, page.total)}"
    blocks = [section(title), *page.blocks]
    if in_progress:
        blocks += [divider(), section(words().in_progress_title(len(in_progress)))]
        for case in in_progress:
            if len(blocks) + 2 > VIEW_BLOCK_LIMIT:
                break
            blocks += in_progress_blocks(case, today)
    return {"type": "home", "blocks": blocks}

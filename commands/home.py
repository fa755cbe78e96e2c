"""App Home: the advisor's live queue, refreshed when opened (and after each change)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks.home import home_view
from bot.blocks.queue import HOME_PAGE_ACTION
from bot.context import AppContext
from commands.common import advisor_for, live_queue


def publish_home(app_context: AppContext, client: WebClient, user_id: str, offset: int = 0) -> None:
    """Build the user's App Home from the database, then publish it (outside the session);
    `offset`: the page, as the rank of its first case (« Voir plus »)."""
    today = app_context.settings.today()
    advisor = advisor_for(app_context, client, user_id)
    if advisor is not None and advisor.is_manager:
        from commands.team import manager_home  # a manager sees the team's queue

        client.views_publish(user_id=user_id, view=manager_home(app_context, advisor, today))
        return
    queue = None
    if advisor is not None:
        with app_context.factory() as session:
            queue = live_queue(session, advisor, today)
    client.views_publish(user_id=user_id, view=home_view(queue, advisor, today, offset))


def on_home_opened(event: dict[str, Any], client: WebClient, app_context: AppContext) -> None:
    if event.get("tab", "home") != "home":
        return
    publish_home(app_context, client, event["user"])


def on_home_page(
    ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext
) -> None:
    """« Voir plus » / « Revenir au début »: the page that starts at the button's offset."""
    ack()
    value = str(body["actions"][0].get("value") or "0")
    offset = int(value) if value.isdigit() else 0
    publish_home(app_context, client, body["user"]["id"], offset)


def register(app: App) -> None:
    app.event("app_home_opened")(on_home_opened)
    app.action(HOME_PAGE_ACTION)(on_home_page)

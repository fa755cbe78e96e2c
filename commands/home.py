"""App Home: the advisor's live queue, refreshed when opened (and after each change)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot import blocks
from bot.app import AppContext
from commands.common import advisor_for, live_queue


def publish_home(session: Session, client: WebClient, user_id: str, today: dt.date) -> None:
    advisor = advisor_for(session, client, user_id)
    queue = live_queue(session, advisor, today) if advisor is not None else None
    client.views_publish(user_id=user_id, view=blocks.home_view(queue, advisor, today))


def register(app: App, context: AppContext) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        with context.factory.begin() as session:
            publish_home(session, client, event["user"], context.settings.today())

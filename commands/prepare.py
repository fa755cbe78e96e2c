"""The "Préparer l'appel" button: a modal with the personalised script, the missing CRM fields
and pieces, and the rebound questions for the client's profile."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks
from bot.app import AppContext
from bot.queue import list_cases


def register(app: App, context: AppContext) -> None:
    @app.action(blocks.PREPARE_ACTION)
    def on_prepare(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        case_id = int(body["actions"][0]["value"])
        with context.factory() as session:
            views = list_cases(session, today=context.settings.today(), case_id=case_id)
        if not views:
            return
        client.views_open(trigger_id=body["trigger_id"], view=blocks.prepare_modal(views[0]))

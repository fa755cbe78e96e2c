"""The "Préparer l'appel" button: a modal with the personalised script, the missing CRM fields
and pieces, and the rebound questions for the client's profile.

The modal opens at once (a "loading" view: the trigger expires 3 s after the click), then the
case is read and the view updated. A button left in an old message on a case that is done,
expired or cancelled says so instead of opening the script."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.blocks.common import texts
from bot.blocks.prepare import closed_notice, prepare_modal, words
from bot.blocks.queue import PREPARE_ACTION
from bot.cases.queries import list_cases
from bot.context import AppContext
from bot.rules import CaseState
from commands.common import loading_view, notice_view

CLOSED = (CaseState.DONE, CaseState.EXPIRED, CaseState.CANCELLED)


def on_prepare(ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext) -> None:
    ack()
    title = str(words().title()).strip()
    opened = client.views_open(trigger_id=body["trigger_id"], view=loading_view(title))
    view_id = opened["view"]["id"]
    case_id = int(body["actions"][0]["value"])
    settings = app_context.settings
    today = settings.today()
    with app_context.factory() as session:
        views = list_cases(session, today=today, case_id=case_id)
    if not views:
        client.views_update(
            view_id=view_id, view=notice_view(title, str(texts().case_gone()).strip())
        )
        return
    case = views[0]
    if case.state in CLOSED:
        client.views_update(view_id=view_id, view=notice_view(title, closed_notice(case, today)))
        return
    modal = prepare_modal(case, today, settings.script_address)
    client.views_update(view_id=view_id, view=modal)


def register(app: App) -> None:
    app.action(PREPARE_ACTION)(on_prepare)

"""The "Préparer l'appel" button: a modal with the personalised script, the missing CRM fields
and pieces, and the rebound questions for the client's profile.

The modal opens at once (a "loading" view: the trigger expires 3 s after the click), then the
case is read and the view updated. A button left in an old message on a case that is done,
expired or cancelled says so instead of opening the script. Only the case's advisor or a
manager sees it (the rule of the compte rendu): an old button on a case a colleague has taken
since says so."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import call_reports
from bot.blocks.capture import say
from bot.blocks.common import texts
from bot.blocks.prepare import closed_notice, prepare_modal, words
from bot.blocks.queue import PREPARE_ACTION
from bot.cases.views import case_view
from bot.context import AppContext
from bot.rules import CaseState
from commands.common import action_value, advisor_for, loading_view, notice_view

CLOSED = (CaseState.DONE, CaseState.EXPIRED, CaseState.CANCELLED)


def on_prepare(ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext) -> None:
    ack()
    title = say(words().title())
    opened = client.views_open(trigger_id=body["trigger_id"], view=loading_view(title))
    view = prepare_view(app_context, client, user_id=body["user"]["id"], value=action_value(body))
    client.views_update(view_id=opened["view"]["id"], view=view)


def prepare_view(
    app_context: AppContext, client: WebClient, *, user_id: str, value: object
) -> dict[str, Any]:
    """What the modal shows `user_id` for the case a button's `value` names: its script, or
    why not (someone the bot does not know, a case gone, someone else's, or closed)."""
    title = say(words().title())
    asker = advisor_for(app_context, client, user_id)
    if asker is None:
        return notice_view(title, say(texts().not_an_advisor()))
    settings = app_context.settings
    today = settings.today()
    with app_context.factory() as session:
        case = call_reports.find_case(session, value)
        if case is None:
            return notice_view(title, say(texts().case_gone()))
        if not call_reports.may_handle(case, asker):
            return notice_view(title, say(words().refused_not_yours()))
        view = case_view(case, today)
    if view.state in CLOSED:
        return notice_view(title, closed_notice(view, today))
    return prepare_modal(view, today, settings.script_address)


def register(app: App) -> None:
    app.action(PREPARE_ACTION)(on_prepare)

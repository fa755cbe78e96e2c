"""Helpers shared by the listeners: who is asking, and their live queue.

No Slack call is made inside a database transaction: a listener reads what it needs, closes the
session, then talks to Slack.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.blocks.common import texts
from bot.cases.queries import Queue, build_queue, due_actions, list_cases
from bot.context import AppContext
from bot.models import Advisor
from bot.rules import CaseState, previous_working_day


def advisor_for(app_context: AppContext, client: WebClient, user_id: str) -> Advisor | None:
    """The active advisor behind a Slack user: by the stored id, else by the Slack profile's
    e-mail (the id is then kept, so Slack is asked once). The advisor is returned detached.
    None for someone the staff file does not list, or no longer lists (a staff import made
    them inactive: they keep no access to the agency's clients), and for a user Slack does
    not know; another Slack error is raised (the listener's error handler answers it)."""
    with app_context.factory() as session:
        advisor = session.scalar(select(Advisor).where(Advisor.slack_user_id == user_id))
    if advisor is not None:
        return advisor if advisor.active else None
    try:
        profile = client.users_info(user=user_id)["user"].get("profile", {})
    except SlackApiError as exc:
        if exc.response.get("error") in ("user_not_found", "user_not_visible"):
            return None
        raise
    written = profile.get("email") or ""
    if not written:
        return None
    # In lower case, as the staff import stores it; or case-folded (« ß » → « ss »), as its
    # earlier versions did, until the next staff import sets the address back.
    email = written.lower()
    with app_context.factory.begin() as session:
        advisor = session.scalar(
            select(Advisor)
            .where(Advisor.email.in_({email, written.casefold()}))
            .order_by((Advisor.email == email).desc())
            .limit(1)
        )
        if advisor is not None:
            advisor.slack_user_id = user_id
    return advisor if advisor is not None and advisor.active else None


def action_value(body: dict[str, Any]) -> object:
    """The value of the button clicked (None when the payload carries none)."""
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return actions[0].get("value")
    return None


def live_queue(session: Session, advisor: Advisor, today: dt.date) -> Queue:
    views = list_cases(
        session, today=today, advisor_email=advisor.email, states=(CaseState.OPEN, CaseState.LATE)
    )
    actions = due_actions(session, today=today, advisor_ids=[advisor.id])
    return build_queue(
        views,
        advisor=advisor,
        today=today,
        since=previous_working_day(today),
        actions=actions.get(advisor.email, []),
    )


def notice_view(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (a refusal, a case that is gone)."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": str(texts().close()).strip()},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}],
    }


def loading_view(title: str) -> dict[str, Any]:
    """The modal opened at once on a click (the trigger expires 3 s after it); the real view
    replaces it through `views.update` once the database has answered."""
    return notice_view(title, str(texts().loading()).strip())


def view_metadata(view: dict[str, Any]) -> dict[str, Any]:
    """What a modal keeps in its `private_metadata` (a JSON object); `{}` when it holds
    anything else. Never trusted alone: the user and the case are checked again."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}

"""Helpers shared by the listeners: who is asking, and their live queue."""

from __future__ import annotations

import datetime as dt

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.models import Advisor
from bot.queue import Queue, build_queue, list_cases
from bot.rules import CaseState, previous_working_day


def advisor_for(session: Session, client: WebClient, user_id: str) -> Advisor | None:
    """The advisor behind a Slack user: by the stored id, else by the user's e-mail (kept)."""
    advisor = session.scalar(select(Advisor).where(Advisor.slack_user_id == user_id))
    if advisor is not None:
        return advisor
    profile = client.users_info(user=user_id)["user"].get("profile", {})
    email = (profile.get("email") or "").casefold()
    if not email:
        return None
    advisor = session.scalar(select(Advisor).where(Advisor.email == email))
    if advisor is not None:
        advisor.slack_user_id = user_id
    return advisor


def live_queue(session: Session, advisor: Advisor, today: dt.date) -> Queue:
    views = list_cases(
        session, today=today, advisor_email=advisor.email, states=(CaseState.OPEN, CaseState.LATE)
    )
    return build_queue(views, advisor=advisor, today=today, since=previous_working_day(today))

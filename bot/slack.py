"""The Slack Web API client and the advisor ↔ Slack user link.

`link_advisor` talks to Slack and only sets attributes on the (detached) advisor;
`save_link` then stores them in a short transaction: no Slack call inside a transaction."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.models import Advisor
from bot.settings import Settings

log = logging.getLogger(__name__)


def add_retry_handlers(client: WebClient) -> WebClient:
    """Connection errors, 429 (waiting for Retry-After) and 5xx are retried."""
    kinds = {type(h) for h in client.retry_handlers}
    for handler in (
        ConnectionErrorRetryHandler(max_retry_count=3),
        RateLimitErrorRetryHandler(max_retry_count=10),
        ServerErrorRetryHandler(max_retry_count=3),
    ):
        if type(handler) not in kinds:
            client.retry_handlers.append(handler)
    return client


def make_web_client(settings: Settings) -> WebClient:
    if settings.slack_api_url:
        base_url = settings.slack_api_url.rstrip("/") + "/"
        return add_retry_handlers(WebClient(token=settings.slack_bot_token, base_url=base_url))
    return add_retry_handlers(WebClient(token=settings.slack_bot_token))


def link_advisor(client: WebClient, advisor: Advisor) -> bool:
    """Find the advisor's Slack user by e-mail (once) and open the DM channel (once).

    Returns False when Slack has no user with that e-mail. Other API errors propagate.
    Nothing is written: call `save_link` afterwards.
    """
    if advisor.slack_user_id is None:
        try:
            response = client.users_lookupByEmail(email=advisor.email)
        except SlackApiError as exc:
            if exc.response.get("error") == "users_not_found":
                return False
            raise
        advisor.slack_user_id = response["user"]["id"]
    if advisor.slack_dm_channel is None:
        response = client.conversations_open(users=advisor.slack_user_id)
        advisor.slack_dm_channel = response["channel"]["id"]
    return True


def save_link(session: Session, advisor: Advisor) -> None:
    """Store the Slack user and DM channel found by `link_advisor`."""
    session.execute(
        update(Advisor)
        .where(Advisor.id == advisor.id)
        .values(slack_user_id=advisor.slack_user_id, slack_dm_channel=advisor.slack_dm_channel)
    )

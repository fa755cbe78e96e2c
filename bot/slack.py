"""The Slack Web API client and the advisor ↔ Slack user link."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

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

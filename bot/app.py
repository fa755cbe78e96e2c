"""The Slack app factory: `create_app(settings, client=None)` builds the Bolt app; nothing
happens at import time. Listeners live in `commands/` (one `register(app, context)` each)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.settings import Settings
from bot.slack import add_retry_handlers, make_web_client

log = logging.getLogger(__name__)


class MissingToken(Exception):
    """A Slack variable is not set; the message says which and where to find it."""


TOKEN_HELP = {
    "SLACK_BOT_TOKEN": "jeton du bot « xoxb-… » / bot token: api.slack.com/apps → "
    "OAuth & Permissions → Bot User OAuth Token",
    "SLACK_SIGNING_SECRET": "secret de signature / signing secret: api.slack.com/apps → "
    "Basic Information → Signing Secret",
    "SLACK_APP_TOKEN": "jeton d'application « xapp-… » (Socket Mode) / app-level token: "
    "api.slack.com/apps → Basic Information → App-Level Tokens (scope connections:write)",
}


def require(settings: Settings, *names: str) -> None:
    values = {
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "SLACK_APP_TOKEN": settings.slack_app_token,
    }
    for name in names:
        if not values[name]:
            raise MissingToken(f"{name} manquant / missing — {TOKEN_HELP[name]}")


@dataclass(frozen=True)
class AppContext:
    """What the listeners need besides Bolt's own arguments."""

    settings: Settings
    factory: sessionmaker[Session]


def create_app(
    settings: Settings,
    client: WebClient | None = None,
    *,
    factory: sessionmaker[Session] | None = None,
    socket_mode: bool = False,
) -> App:
    """Build the Bolt app. `client` (tests pass theirs) gets the retry handlers too."""
    require(settings, "SLACK_BOT_TOKEN")
    if not socket_mode:
        require(settings, "SLACK_SIGNING_SECRET")
    web_client = add_retry_handlers(client) if client is not None else make_web_client(settings)
    if factory is None:
        engine = db.make_engine(settings.database_url)
        db.ensure_schema(engine)
        factory = db.session_factory(engine)
    app = App(
        client=web_client,
        signing_secret=settings.slack_signing_secret or "socket-mode",
        token_verification_enabled=False,
        request_verification_enabled=not socket_mode,
        ignoring_self_events_enabled=True,
    )
    context = AppContext(settings=settings, factory=factory)

    from commands import home, m3, prepare

    m3.register(app, context)
    prepare.register(app, context)
    home.register(app, context)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        log.exception("Slack listener failed", exc_info=error)
        return BoltResponse(status=500, body="")

    return app

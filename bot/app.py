"""The Slack app factory: `create_app(settings, client=None)` builds the Bolt app; nothing
happens at import time. Listeners live in `commands/`; `commands.register(app)` wires them, and a
middleware hands each of them the `AppContext` as the argument `app_context`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.context import CONTEXT_KEY, AppContext
from bot.settings import Settings
from bot.slack import add_retry_handlers, make_web_client

log = logging.getLogger(__name__)


class MissingToken(Exception):
    """A Slack variable is not set; the message says which and where to find it."""


TOKEN_HELP = {
    "SLACK_BOT_TOKEN": "le jeton du bot « xoxb-… » : api.slack.com/apps → OAuth & Permissions "
    "→ Bot User OAuth Token",
    "SLACK_SIGNING_SECRET": "le secret de signature : api.slack.com/apps → Basic Information "
    "→ Signing Secret",
    "SLACK_APP_TOKEN": "le jeton d'application « xapp-… » du Socket Mode : api.slack.com/apps "
    "→ Basic Information → App-Level Tokens (portée connections:write)",
}


def require(settings: Settings, *names: str) -> None:
    values = {
        "SLACK_BOT_TOKEN": settings.slack_bot_token,
        "SLACK_SIGNING_SECRET": settings.slack_signing_secret,
        "SLACK_APP_TOKEN": settings.slack_app_token,
    }
    for name in names:
        if not values[name]:
            raise MissingToken(f"{name} manquant : il faut {TOKEN_HELP[name]}.")


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
        # No connection left open to be inherited by forked web workers (SQLite forbids
        # sharing one across a fork): each process opens its own on first use.
        engine.dispose()
        factory = db.session_factory(engine)
    app = App(
        client=web_client,
        signing_secret=settings.slack_signing_secret or "socket-mode",
        token_verification_enabled=False,
        request_verification_enabled=not socket_mode,
        ignoring_self_events_enabled=True,
    )
    app_context = AppContext(settings=settings, factory=factory)

    @app.middleware
    def inject_context(context: BoltContext, next: Callable[[], None]) -> None:
        context[CONTEXT_KEY] = app_context
        next()

    import commands

    commands.register(app)

    @app.error
    def on_error(error: Exception, body: dict[str, Any], respond: Any) -> BoltResponse:
        log.exception("Slack listener failed", exc_info=error)
        # A slash command was acknowledged before it failed: the user is told, in a message
        # only they see, rather than left without an answer.
        if body.get("command") and respond is not None:
            from bot.blocks.common import texts

            try:
                respond(
                    text=str(texts().incident()).strip(),
                    response_type="ephemeral",
                    replace_original=False,
                )
            except Exception:  # the answer itself failed: the log above says why
                log.warning("Slack command failure not reported to the user", exc_info=True)
        return BoltResponse(status=500, body="")

    return app

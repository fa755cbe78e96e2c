"""What the Slack listeners need besides Bolt's own arguments: the settings and the session
factory. A leaf module, so that the app factory and the listeners can both import it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings

#: The key under which the app factory's middleware puts the `AppContext` into Bolt's request
#: context, so that listeners receive it as an argument named `app_context`.
CONTEXT_KEY = "app_context"


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    factory: sessionmaker[Session]

"""The Slack listeners, one module per /m3 subcommand family and per modal or surface.

`register(app)` wires them all; each module's listeners are plain module-level functions that
receive the `AppContext` as the argument `app_context` (put there by the app factory's
middleware), so that tests can call them directly.
"""

from __future__ import annotations

from slack_bolt import App


def register(app: App) -> None:
    from commands import card, done, home, m3, prepare, team

    m3.register(app)
    done.register(app)
    prepare.register(app)
    home.register(app)
    team.register(app)
    card.register(app)

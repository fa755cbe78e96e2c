"""HTTP mode: a WSGI app with `POST /slack/events` (commands, interactions, events; Bolt
verifies every signature), `GET /healthz`, and the contact card's short links and SMS receipts
(`bot.card_web`), served by gunicorn. No scheduler and no outbox worker here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.app.base import BaseApplication
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_CARD_PATHS = ("/c/", "/sms/")


def wsgi_app(app: App, *, cards: Wsgi | None = None) -> Wsgi:
    """`cards`: the contact card's routes (`bot.card_web`: its short links and the SMS
    providers' delivery receipts)."""
    slack = SlackRequestHandler(app, path="/slack/events")

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok"]
        if cards is not None and str(environ.get("PATH_INFO", "")).startswith(_CARD_PATHS):
            return cards(environ, start_response)
        return slack(environ, start_response)

    return application


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, application: Wsgi, options: dict[str, Any]) -> None:
        self.application = application
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Wsgi:
        return self.application


def serve(application: Wsgi, *, port: int, workers: int = 2) -> None:
    _Gunicorn(
        application,
        {"bind": f"0.0.0.0:{port}", "workers": workers, "threads": 4, "accesslog": "-"},
    ).run()

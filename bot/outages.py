"""What went down, said in French: Slack or the database, told apart from bugs.

An outage is something a later try may mend (the server is down, the network dropped, Slack
answered 5xx); the CLI and the scheduler say so in one line instead of a traceback. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import urllib.error

from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import DBAPIError, OperationalError


def is_database_outage(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def database_cause(exc: BaseException) -> str:
    """Why the database did not answer, in a few French words, from the driver's message."""
    text = str(getattr(exc, "orig", exc)).casefold()
    for words, cause in (
        (("connection refused", "connexion refusée"), "connexion refusée"),
        (("could not translate host", "name or service not known"), "hôte inconnu"),
        (("timeout", "timed out"), "délai dépassé"),
        (("password authentication", "authentication failed"), "authentification refusée"),
        (("does not exist",), "base inexistante"),
        (("unable to open database file",), "fichier SQLite inaccessible"),
        (("database is locked",), "base SQLite verrouillée"),
    ):
        if any(word in text for word in words):
            return cause
    return type(getattr(exc, "orig", exc)).__name__


def outage(exc: BaseException) -> str | None:
    """What went down, in French, when `exc` is an outage; None for anything else."""
    if is_database_outage(exc):
        return "base de données injoignable"
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status >= 500 or status == 429:
            return f"Slack injoignable (erreur {status})"
        return f"Slack a refusé l'envoi ({exc.response.get('error')})"
    if isinstance(exc, SlackClientError):
        return "Slack injoignable"
    if isinstance(exc, urllib.error.URLError | ConnectionError | TimeoutError):
        return "Slack injoignable (réseau)"
    return None

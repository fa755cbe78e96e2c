"""The outbox worker: delivers the sends that are due (the contact card's SMS and e-mail, the
advisor's DMs about them), each once — `bot.outbox` holds the mechanism and its guarantees.

Runs every few seconds in `m3 clock` and `m3 run` (jobs/schedule.py), never in `m3 web`; `m3
outbox --deliver` runs it once by hand. An outage (the database or a provider gone) is one log
line; the next run goes on where this one stopped.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.outages import outage
from bot.outbox import DeliveryReport, Transports, deliver_due, make_transports
from bot.settings import Settings

log = logging.getLogger(__name__)


def run(
    *,
    settings: Settings,
    factory: sessionmaker[Session],
    client: WebClient | None,
    transports: Transports | None = None,
) -> DeliveryReport | None:
    """Deliver what is due now; None when an outage stopped the run (logged)."""
    try:
        return deliver_due(
            factory, transports or make_transports(settings, client), now=settings.now()
        )
    except Exception as exc:
        reason = outage(exc)
        if reason is None:
            raise
        log.warning("Envois en attente non traités : %s ; nouvel essai au prochain passage", reason)
        return None

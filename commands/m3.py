"""`/m3`: one slash command, a table of subcommands. Empty, `help` or unknown input answers
(ephemeral, in French) with the list."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import blocks
from bot.app import AppContext
from bot.models import Advisor
from commands.common import advisor_for, live_queue
from commands.home import publish_home

Handler = Callable[[AppContext, Advisor, str, Respond, WebClient], None]


def _help(respond: Respond, prefix: str = "") -> None:
    text = (prefix + "\n" if prefix else "") + str(blocks.texts().help()).strip()
    respond(response_type="ephemeral", text=text, blocks=[blocks.section(text)])


def cmd_list(
    context: AppContext, advisor: Advisor, _args: str, respond: Respond, _c: WebClient
) -> None:
    today = context.settings.today()
    with context.factory() as session:
        queue = live_queue(session, advisor, today)
    if queue.empty:
        respond(response_type="ephemeral", text=str(blocks.texts().empty_queue()))
        return
    message = blocks.digest_message(queue)
    respond(response_type="ephemeral", **message)


def cmd_digest(
    context: AppContext, advisor: Advisor, _args: str, respond: Respond, client: WebClient
) -> None:
    """Resend my digest now, on request (not counted as the day's digest)."""
    from bot.slack import link_advisor

    today = context.settings.today()
    with context.factory.begin() as session:
        fresh = session.get(Advisor, advisor.id)
        assert fresh is not None
        link_advisor(client, fresh)
        queue = live_queue(session, fresh, today)
        channel = fresh.slack_dm_channel
    if not queue.empty and channel:
        client.chat_postMessage(channel=channel, **blocks.digest_message(queue))
    respond(response_type="ephemeral", text=str(blocks.texts().digest_resent(not queue.empty)))


_ABSENCE = re.compile(
    r"^du\s+(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?\s+au\s+(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2,4}))?$"
)


def parse_absence(text: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """`du 24/12 au 02/01` (years optional: the next occurrence) → (start, end)."""
    match = _ABSENCE.match(text.strip().casefold())
    if not match:
        return None
    d1, m1, y1, d2, m2, y2 = match.groups()

    def year(value: str | None, default: int) -> int:
        if value is None:
            return default
        number = int(value)
        return number + 2000 if number < 100 else number

    try:
        start = dt.date(year(y1, today.year), int(m1), int(d1))
        if y1 is None and start < today - dt.timedelta(days=31):
            start = start.replace(year=start.year + 1)
        end = dt.date(year(y2, start.year), int(m2), int(d2))
        if y2 is None and end < start:
            end = end.replace(year=end.year + 1)
    except ValueError:
        return None
    return (start, end) if end >= start else None


def cmd_absent(
    context: AppContext, advisor: Advisor, args: str, respond: Respond, client: WebClient
) -> None:
    texts = blocks.texts()
    today = context.settings.today()
    if args.strip().casefold() in ("fin", "stop", "terminé", "termine"):
        with context.factory.begin() as session:
            fresh = session.get(Advisor, advisor.id)
            assert fresh is not None
            fresh.absent_from = fresh.absent_until = None
        respond(response_type="ephemeral", text=str(texts.absence_ended()))
        return
    period = parse_absence(args, today)
    if period is None:
        respond(response_type="ephemeral", text=str(texts.absence_invalid()))
        return
    with context.factory.begin() as session:
        fresh = session.get(Advisor, advisor.id)
        assert fresh is not None
        fresh.absent_from, fresh.absent_until = period
    respond(response_type="ephemeral", text=str(texts.absence_set(*period)))


SUBCOMMANDS: dict[str, Handler] = {
    "list": cmd_list,
    "liste": cmd_list,
    "digest": cmd_digest,
    "absent": cmd_absent,
    "absence": cmd_absent,
}


def register(app: App, context: AppContext) -> None:
    @app.command("/m3")
    def on_m3(ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        text = (command.get("text") or "").strip()
        name, _, args = text.partition(" ")
        handler = SUBCOMMANDS.get(name.casefold())
        if handler is None:
            prefix = (
                ""
                if name.casefold() in ("", "help", "aide")
                else str(blocks.texts().unknown_command(text))
            )
            _help(respond, prefix)
            return
        with context.factory.begin() as session:
            advisor = advisor_for(session, client, command["user_id"])
        if advisor is None:
            respond(response_type="ephemeral", text=str(blocks.texts().not_an_advisor()))
            return
        handler(context, advisor, args, respond, client)
        if handler is not cmd_list:
            with context.factory.begin() as session:
                publish_home(session, client, command["user_id"], context.settings.today())

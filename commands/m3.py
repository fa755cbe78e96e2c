"""`/m3`: one slash command, a table of subcommands (`SUBCOMMANDS`). The help is generated from
the table; empty, `help` or unknown input answers with it (ephemeral, in French).

`ack()` comes first. A subcommand that opens a modal gets the request before any database work
(its `trigger_id` expires 3 s after the command); the others get the advisor behind the user.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import absences
from bot.blocks.common import section, texts
from bot.blocks.digest import digest_message, list_message
from bot.blocks.queue import words as queue_words
from bot.context import AppContext
from bot.models import Advisor
from bot.rendering import slack_unescape
from bot.slack import link_advisor, save_link
from commands.common import advisor_for, live_queue
from commands.home import publish_home


@dataclass(frozen=True)
class SlashRequest:
    """One `/m3` invocation as a handler sees it: the whole command payload (`user_id`,
    `trigger_id`, `text`…), the text after the subcommand, and how to answer."""

    app_context: AppContext
    command: dict[str, Any]
    args: str
    client: WebClient
    respond: Respond
    advisor: Advisor | None = None  # set for subcommands that do not open a modal

    @property
    def user_id(self) -> str:
        return str(self.command["user_id"])

    @property
    def today(self) -> dt.date:
        return self.app_context.settings.today()

    def say(self, text: Any) -> None:
        self.respond(response_type="ephemeral", text=str(text).strip())

    def me(self) -> Advisor:
        assert self.advisor is not None, "subcommands that do not open a modal get the advisor"
        return self.advisor


@dataclass(frozen=True)
class Subcommand:
    """A row of the table: `name` and `aliases` as typed, the handler, whether it opens a
    modal, and whether it changes what the App Home shows (refreshed after it)."""

    name: str
    handler: Callable[[SlashRequest], None]
    aliases: tuple[str, ...] = ()
    opens_modal: bool = False
    refreshes_home: bool = False


def cmd_list(request: SlashRequest) -> None:
    """My whole queue, only visible to me."""
    with request.app_context.factory() as session:
        queue = live_queue(session, request.me(), request.today)
    if queue.empty:
        request.say(queue_words().empty_queue())
        return
    request.respond(response_type="ephemeral", **list_message(queue))


def cmd_digest(request: SlashRequest) -> None:
    """Resend my digest now, on request (not counted as the day's digest)."""
    advisor = request.me()
    if advisor.slack_dm_channel is None:
        link_advisor(request.client, advisor)  # Slack first, then one short transaction
        with request.app_context.factory.begin() as session:
            save_link(session, advisor)
    with request.app_context.factory() as session:
        queue = live_queue(session, advisor, request.today)
    if not queue.empty and advisor.slack_dm_channel:
        request.client.chat_postMessage(channel=advisor.slack_dm_channel, **digest_message(queue))
    request.say(texts().digest_resent(not queue.empty))


_END_WORDS = ("fin", "stop", "terminé", "termine", "retour")
_LIST_WORDS = ("", "liste", "list")
_CANCEL_WORDS = ("annuler", "annule", "supprimer")


def cmd_absent(request: SlashRequest) -> None:
    """`/m3 absent du 24/12 au 02/01` plans an absence (several can be), `/m3 absent` lists
    them, `/m3 absent fin` ends the one going on (else cancels the next), `/m3 absent annuler
    24/12` cancels the one that covers that day."""
    today = request.today
    words = " ".join(request.args.split()).casefold()
    verb, _, rest = words.partition(" ")
    managers_see = bool(request.app_context.settings.managers_channel)
    with request.app_context.factory.begin() as session:
        advisor = session.get_one(Advisor, request.me().id)
        if words in _LIST_WORDS:
            answer = texts().absence_list(advisor.absences_from(today), today)
        elif words in _END_WORDS:
            ended = absences.end_current_or_next(session, advisor, today)
            answer = texts().absence_ended(ended.kind.value, ended.period)
        elif verb in _CANCEL_WORDS:
            day = absences.parse_day(rest, today)
            if day is None:
                answer = texts().absence_refused(absences.Refusal.UNREADABLE.value)
            else:
                ended = absences.cancel_on(session, advisor, day, today)
                answer = texts().absence_ended(ended.kind.value, ended.period)
        else:
            parsed = absences.parse_period(words, today)
            planned = (
                absences.plan(session, advisor, *parsed) if isinstance(parsed, tuple) else parsed
            )
            if isinstance(planned, absences.Refusal):
                answer = texts().absence_refused(planned.value)
            else:
                others = [a for a in advisor.absences_from(today) if a.start_on != planned.start]
                answer = texts().absence_set(planned, others, managers_see)
    request.say(answer)


def cmd_help(request: SlashRequest) -> None:
    send_help(request.respond)


def cmd_done(request: SlashRequest) -> None:
    from commands.done import open_modal

    open_modal(
        request.app_context,
        request.client,
        user_id=request.user_id,
        trigger_id=str(request.command["trigger_id"]),
        query=request.args,
    )


def cmd_status(request: SlashRequest) -> None:
    """`/m3 status <client>`: the client's case, tags, attempts, review and what is left."""
    from bot.blocks.status import candidates_message, status_message
    from bot.call_reports import status_of

    with request.app_context.factory() as session:
        found = status_of(session, asker=request.me(), query=request.args, today=request.today)
    if isinstance(found, list):
        message = candidates_message(request.args, found)
    else:
        message = status_message(
            found.case, review=found.review, corrections=found.corrections, today=request.today
        )
    request.respond(response_type="ephemeral", **message)


def cmd_card(request: SlashRequest) -> None:
    """`/m3 carte <client>`: the contact card's confirmation modal (commands/card.py)."""
    from commands.card import open_from_command

    open_from_command(
        request.app_context,
        request.client,
        user_id=request.user_id,
        trigger_id=str(request.command["trigger_id"]),
        query=request.args,
    )


def cmd_opposition(request: SlashRequest) -> None:
    """`/m3 opposition <client>`: the client objects; nothing is sent to them any more."""
    from commands.card import opposition

    request.say(opposition(request.app_context, request.me(), request.args))


def cmd_stats(request: SlashRequest) -> None:
    """`/m3 stats`: the M+3 figures in my DM, the chart, the exports (commands/stats.py)."""
    from commands.stats import run

    run(request)


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand("list", cmd_list, aliases=("liste", "file")),
    Subcommand("done", cmd_done, aliases=("fait", "cr", "compte-rendu"), opens_modal=True),
    Subcommand("digest", cmd_digest, aliases=("recap", "récap"), refreshes_home=True),
    Subcommand("status", cmd_status, aliases=("statut", "etat", "état")),
    Subcommand("absent", cmd_absent, aliases=("absence",), refreshes_home=True),
    Subcommand("carte", cmd_card, aliases=("vcard", "card"), opens_modal=True),
    Subcommand("opposition", cmd_opposition, aliases=("oppose",), refreshes_home=True),
    Subcommand("stats", cmd_stats, aliases=("stat", "statistiques", "chiffres")),
    Subcommand("help", cmd_help, aliases=("aide",)),
)


def find(name: str) -> Subcommand | None:
    key = name.casefold()
    return next((s for s in SUBCOMMANDS if key == s.name or key in s.aliases), None)


def send_help(respond: Respond, prefix: str = "") -> None:
    lines = [str(texts().help_title()).strip()]
    lines += [str(texts().help_line(s.name)).strip() for s in SUBCOMMANDS]
    text = "\n".join(([prefix] if prefix else []) + lines)
    # The notification text is plain: the title's bold stars are for the block only.
    respond(response_type="ephemeral", text=text.replace("*", ""), blocks=[section(text)])


ECHO_LIMIT = 60


def typed(text: str) -> str:
    """A command's text as the person typed it: Slack's entities (`&amp;`, `&lt;`, `&gt;`)
    decoded, accents composed (`é` typed as `e` and a combining accent reads as `é`)."""
    return unicodedata.normalize("NFC", slack_unescape(text)).strip()


def echoed(text: str) -> str:
    """What the user typed, as the answer quotes it back: on one line, cut to ECHO_LIMIT
    characters (a pasted megabyte is not sent back)."""
    flat = " ".join(text[: 4 * ECHO_LIMIT].split())
    return flat if len(flat) <= ECHO_LIMIT else flat[: ECHO_LIMIT - 1].rstrip() + "…"


def on_m3(
    ack: Ack, command: dict[str, Any], respond: Respond, client: WebClient, app_context: AppContext
) -> None:
    ack()
    text = typed(command.get("text") or "")
    parts = text.split(None, 1)  # any white space after the subcommand (a tab, a no-break space)
    name = parts[0] if parts else ""
    args = parts[1] if len(parts) > 1 else ""
    subcommand = find(name)
    if subcommand is None or subcommand.handler is cmd_help:
        # The help is everyone's, even before the bot knows who asks (it asks Slack for nothing).
        send_help(
            respond,
            ""
            if subcommand is not None or not name
            else str(texts().unknown_command(echoed(text))).strip(),
        )
        return
    request = SlashRequest(app_context, command, args.strip(), client, respond)
    if subcommand.opens_modal:
        subcommand.handler(request)
        return
    advisor = advisor_for(app_context, client, command["user_id"])
    if advisor is None:
        request.say(texts().not_an_advisor())
        return
    subcommand.handler(
        SlashRequest(app_context, command, args.strip(), client, respond, advisor=advisor)
    )
    if subcommand.refreshes_home:
        publish_home(app_context, client, command["user_id"])


def register(app: App) -> None:
    app.command("/m3")(on_m3)

"""`/m3 stats [période] [agence | @conseiller]`, `/m3 stats export …` and `/m3 stats aide`.

The figures go to the asker's DM: the Block Kit summary, then the chart (a PNG uploaded with
`files_upload_v2`); `export` uploads the same figures as CSV and XLSX instead. What is typed
wrong, the help and refusals are ephemeral. A manager may ask for any branch or advisor; an
advisor sees only their own figures (a colleague's or a branch's are refused politely).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.blocks.common import section
from bot.blocks.stats import help_message, say, stats_message, words
from bot.models import Advisor
from bot.slack import link_advisor, save_link
from bot.stats import Report, Scope, compute, find_advisors, find_branch, fold, parse_period

if TYPE_CHECKING:
    from commands.m3 import SlashRequest

log = logging.getLogger(__name__)

HELP_WORDS = ("aide", "help", "?", "definitions", "définitions")
EXPORT_WORDS = ("export", "exporter", "csv", "excel", "xlsx")


def run(request: SlashRequest) -> None:
    words_typed = request.args.split()
    if words_typed and fold(words_typed[0]) in HELP_WORDS:
        request.respond(response_type="ephemeral", **help_message())
        return
    export = bool(words_typed) and fold(words_typed[0]) in EXPORT_WORDS
    text = " ".join(words_typed[1:] if export else words_typed)
    parsed = parse_period(text, request.today)
    if parsed is None:
        _help(request, text)
        return
    period, target = parsed
    asker = request.me()
    with request.app_context.factory() as session:
        scope = _scope(request, session, asker, target)
        if scope is None:
            return
        report = compute(session, period=period, today=request.today, scope=scope)
    channel = _dm_channel(request.client, asker, request)
    if channel is None:
        request.say(words().no_dm())
        return
    if export:
        _send_export(request.client, channel, report)
        request.say(words().export_sent())
        return
    request.client.chat_postMessage(channel=channel, **stats_message(report))
    _send_chart(request.client, channel, report)
    request.say(words().sent())


def _help(request: SlashRequest, text: str) -> None:
    message = say(words().not_understood(text))
    request.respond(response_type="ephemeral", text=message, blocks=[section(message)])


def _scope(request: SlashRequest, session: Session, asker: Advisor, target: str) -> Scope | None:
    """Who the figures are about; None when the answer was given (unknown, ambiguous,
    refused)."""
    if not target:
        if asker.is_manager:
            return Scope()
        return Scope(advisor_id=asker.id, name=asker.full_name)
    branch = None if target.startswith("@") else find_branch(session, target)
    if branch is not None:
        if not asker.is_manager:
            request.say(words().refused_other())
            return None
        return Scope(branch_id=branch.id, name=branch.name)
    found = find_advisors(session, target)
    if not found:
        if target.startswith("@") or "@" in target:
            request.say(words().unknown_advisor(target))
        else:
            _help(request, target)
        return None
    if len(found) > 1:
        request.say(words().several_advisors(target, [a.full_name for a in found]))
        return None
    advisor = found[0]
    if advisor.id != asker.id and not asker.is_manager:
        request.say(words().refused_other())
        return None
    return Scope(advisor_id=advisor.id, name=advisor.full_name)


def _dm_channel(client: WebClient, asker: Advisor, request: SlashRequest) -> str | None:
    if asker.slack_dm_channel is None:
        if not link_advisor(client, asker):  # Slack first, then one short transaction
            return None
        with request.app_context.factory.begin() as session:
            save_link(session, asker)
    return asker.slack_dm_channel


def _send_chart(client: WebClient, channel: str, report: Report) -> None:
    if report.total.measures.get("opened", 0) == 0:
        return
    from bot.charts import render_png

    stem = say(words().file_stem(report))
    try:
        client.files_upload_v2(
            channel=channel,
            file=render_png(report),
            filename=f"{stem}.png",
            title=say(words().chart_comment(report)),
        )
    except SlackApiError as exc:  # the summary is there already: the chart is a bonus
        log.error("Graphique des statistiques non envoyé : %s", exc.response.get("error"))


def _send_export(client: WebClient, channel: str, report: Report) -> None:
    from bot.stats_export import to_csv, to_xlsx

    stem = say(words().file_stem(report))
    client.files_upload_v2(
        channel=channel,
        initial_comment=say(words().export_comment(report)),
        file_uploads=[
            {"file": to_csv(report), "filename": f"{stem}.csv", "title": f"{stem}.csv"},
            {"file": to_xlsx(report), "filename": f"{stem}.xlsx", "title": f"{stem}.xlsx"},
        ],
    )

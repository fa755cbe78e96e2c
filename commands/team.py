"""The managers' surfaces: « Je le prends » and « Confier à… » on a case nobody is going to
call (in the managers' summary and in a manager's App Home), and the App Home's team view with
its branch filter.

The case moves in one transaction (audited); then, outside it, the person who clicked gets an
ephemeral answer, the summary's line says who took the case, and the advisors concerned get a
DM: the one it was taken from, and the one it was given to when that is someone else."""

from __future__ import annotations

import datetime as dt
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.blocks.common import texts
from bot.blocks.managers import (
    GIVE_ACTION,
    TAKE_ACTION,
    parse_take_block_id,
    replace_taken,
    say,
    words,
)
from bot.blocks.team import ALL_BRANCHES, BRANCH_ACTION, FILTER_BLOCK, team_home
from bot.context import AppContext
from bot.models import Advisor, Branch, Case
from bot.rules import previous_working_day
from bot.slack import link_advisor, save_link
from bot.team import Taken, TakeRefusal, load_team, take_case
from commands.common import advisor_for, live_queue, notice_view


def manager_home(
    app_context: AppContext, manager: Advisor, today: dt.date, branch: str | None = None
) -> dict[str, Any]:
    """The team's queue as a manager's App Home, on one branch or the whole agency."""
    with app_context.factory() as session:
        team = load_team(session, today=today, since=previous_working_day(today))
        branches = list(
            session.scalars(
                select(Branch.name)
                .join(Advisor, Advisor.branch_id == Branch.id)
                .where(Advisor.active)
                .distinct()
                .order_by(Branch.name)
            )
        )
        own = live_queue(session, manager, today)
    if branch is not None and branch not in branches:
        branch = None
    return team_home(team.only(branch), branches=branches, own_cases=own.total)


def _answer(body: dict[str, Any], client: WebClient, respond: Respond, text: str) -> None:
    """An answer only the person who clicked sees: ephemeral under a message; a small modal
    in the App Home (an action there has no response_url)."""
    if body.get("response_url"):
        respond(response_type="ephemeral", replace_original=False, text=text)
    elif body.get("trigger_id"):
        client.views_open(trigger_id=body["trigger_id"], view=notice_view("M+3", text))


def _current_branch(body: dict[str, Any]) -> str | None:
    """The branch the App Home was filtered on when the button was clicked."""
    view = body.get("view") or {}
    state = (view.get("state") or {}).get("values", {}).get(FILTER_BLOCK, {})
    chosen = (state.get(BRANCH_ACTION) or {}).get("selected_option")
    if chosen is None:
        for block in view.get("blocks", []):
            if block.get("block_id") == FILTER_BLOCK:
                chosen = block["elements"][0].get("initial_option")
    value = (chosen or {}).get("value", ALL_BRANCHES)
    return None if value == ALL_BRANCHES else str(value)


def _holder(session: Session, case_id: int) -> Advisor | None:
    case = session.get(Case, case_id)
    return case.advisor if case is not None else None


def _move(
    body: dict[str, Any],
    client: WebClient,
    respond: Respond,
    app_context: AppContext,
    *,
    target_user: str | None,
) -> None:
    action = body["actions"][0]
    found = parse_take_block_id(str(action.get("block_id", "")))
    if found is None:
        return
    case_id, shown_with = found
    user_id = body["user"]["id"]
    asker = advisor_for(app_context, client, user_id)
    if asker is None or not asker.active:
        _answer(body, client, respond, say(texts().not_an_advisor()))
        return
    target = asker if target_user is None else advisor_for(app_context, client, target_user)
    today = app_context.settings.today()
    holder = None
    with app_context.factory.begin() as session:
        if target is None:
            result: Taken | TakeRefusal = TakeRefusal.UNKNOWN_TARGET
        else:
            result = take_case(
                session,
                case_id=case_id,
                expected_advisor_id=shown_with,
                asker=session.get_one(Advisor, asker.id),
                target=session.get_one(Advisor, target.id),
                today=today,
            )
        if isinstance(result, TakeRefusal):
            holder = _holder(session, case_id)
    if isinstance(result, TakeRefusal):
        _answer(body, client, respond, say(words().take_refused(result.value, holder)))
        return
    _answer(body, client, respond, say(words().taken_answer(result)))
    message = body.get("message")
    channel = (body.get("channel") or {}).get("id")
    if message is not None and channel:
        blocks = replace_taken(message.get("blocks", []), case_id, say(words().taken_line(result)))
        client.chat_update(
            channel=channel, ts=message["ts"], text=message.get("text", ""), blocks=blocks
        )
    _tell(app_context, client, result)
    if (body.get("view") or {}).get("type") == "home" and result.by.is_manager:
        view = manager_home(app_context, result.by, today, _current_branch(body))
        client.views_publish(user_id=user_id, view=view)


def _dm(app_context: AppContext, client: WebClient, advisor: Advisor, text: str) -> None:
    """A DM to an advisor (linked to Slack on the way); nothing when they have no account."""
    if advisor.slack_dm_channel is None:
        if not link_advisor(client, advisor):
            return
        with app_context.factory.begin() as session:
            save_link(session, advisor)
    assert advisor.slack_dm_channel is not None
    client.chat_postMessage(channel=advisor.slack_dm_channel, text=text)


def _tell(app_context: AppContext, client: WebClient, taken: Taken) -> None:
    """The advisor the case was taken from (unless they left the agency), and the one it was
    given to when someone else gave it."""
    if taken.previous.active:
        _dm(app_context, client, taken.previous, say(words().told_previous(taken)))
    if taken.new.id != taken.by.id:
        _dm(app_context, client, taken.new, say(words().told_new(taken)))


def on_take(
    ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, app_context: AppContext
) -> None:
    """« Je le prends »: the case goes to whoever clicked."""
    ack()
    _move(body, client, respond, app_context, target_user=None)


def on_give(
    ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, app_context: AppContext
) -> None:
    """« Confier à… »: a manager gives the case to the Slack user they picked."""
    ack()
    chosen = body["actions"][0].get("selected_user")
    if chosen:
        _move(body, client, respond, app_context, target_user=str(chosen))


def on_branch_chosen(
    ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext
) -> None:
    """The App Home's branch filter: the team view again, on that branch."""
    ack()
    value = (body["actions"][0].get("selected_option") or {}).get("value", ALL_BRANCHES)
    user_id = body["user"]["id"]
    manager = advisor_for(app_context, client, user_id)
    if manager is None or not manager.is_manager:
        return
    branch = None if value == ALL_BRANCHES else str(value)
    view = manager_home(app_context, manager, app_context.settings.today(), branch)
    client.views_publish(user_id=user_id, view=view)


def register(app: App) -> None:
    app.action(TAKE_ACTION)(on_take)
    app.action(GIVE_ACTION)(on_give)
    app.action(BRANCH_ACTION)(on_branch_chosen)

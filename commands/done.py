"""`/m3 done` and the « Compte rendu » button: the modal that records what happened on a call.

Every listener acks first. Opening the modal (`/m3 done`, the button) calls `views.open` (or
`views.push` from the « Préparer l'appel » modal) at once with a loading view and returns; one
thread per process then reads the database and fills it with `views.update` (so that twenty
advisors clicking at once all see their modal open at once). Choosing the outcome rebuilds the
view with what was already typed. A submission is validated (inline French errors on the right
block), then the user is checked again — never trust `private_metadata` alone — and everything
is recorded in one transaction; the confirmation DM and the App Home refresh come after the ack.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot import call_reports
from bot.blocks.capture import (
    CAPTURE_CALLBACK,
    OPEN_ACTION,
    OUTCOME_ACTION,
    PICKER_BLOCK,
    PICKER_CALLBACK,
    FormTampered,
    capture_view,
    picker_options,
    picker_view,
    say,
    words,
)
from bot.blocks.common import texts
from bot.blocks.queue import ACTION_DONE
from bot.context import AppContext
from bot.models import Advisor
from bot.slack import link_advisor, save_link
from commands.common import (
    action_value,
    advisor_for,
    loading_view,
    notice_view,
    view_metadata,
)
from commands.home import publish_home

log = logging.getLogger(__name__)


def _title() -> str:
    return say(words().title())


def open_modal(
    app_context: AppContext,
    client: WebClient,
    *,
    user_id: str,
    trigger_id: str,
    query: str = "",
    case_id: int | None = None,
    push: bool = False,
) -> None:
    """Open the modal at once, then fill it (the case's form, or the picker) on the fill
    thread, so that the listener returns and the next click's modal opens without waiting."""
    opener = client.views_push if push else client.views_open
    with _opening:
        opened = opener(trigger_id=trigger_id, view=loading_view(_title()))
    view_id = opened["view"]["id"]
    _fill_executor().submit(
        _fill_safely, app_context, client, view_id, user_id=user_id, query=query, case_id=case_id
    )


class _Opening:
    """How many modals this process is opening right now. Filling one waits (a little) until
    none is: the trigger of a click expires in 3 s, a loading modal can wait."""

    MAX_WAIT = 1.0  # seconds

    def __init__(self) -> None:
        self._count = 0
        self._idle = threading.Condition()

    def __enter__(self) -> None:
        with self._idle:
            self._count += 1

    def __exit__(self, *_: object) -> None:
        with self._idle:
            self._count -= 1
            self._idle.notify_all()

    def wait_idle(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._count == 0, timeout=self.MAX_WAIT)


_opening = _Opening()
_fill_pool: ThreadPoolExecutor | None = None
_fill_pool_pid: int | None = None
_fill_pool_lock = threading.Lock()


def _fill_executor() -> ThreadPoolExecutor:
    """One thread per process fills opened modals, in order. Made on first use, and again in a
    process forked since (gunicorn workers): threads do not survive a fork."""
    global _fill_pool, _fill_pool_pid
    with _fill_pool_lock:
        if _fill_pool is None or _fill_pool_pid != os.getpid():
            _fill_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="m3-fill")
            _fill_pool_pid = os.getpid()
        return _fill_pool


def _fill_safely(app_context: AppContext, client: WebClient, view_id: str, **kwargs: Any) -> None:
    _opening.wait_idle()
    try:
        fill_modal(app_context, client, view_id, **kwargs)
    except Exception:
        log.exception("compte rendu: the modal %s could not be filled", view_id)
        try:
            client.views_update(view_id=view_id, view=notice_view(_title(), say(words().failed())))
        except Exception:
            log.exception("compte rendu: the failure notice could not be shown either")


def fill_modal(
    app_context: AppContext,
    client: WebClient,
    view_id: str,
    *,
    user_id: str,
    query: str = "",
    case_id: int | None = None,
) -> None:
    """Replace the loading view with the case's form, or the picker when `query` does not
    name exactly one case."""
    asker = advisor_for(app_context, client, user_id)
    if asker is None:
        client.views_update(view_id=view_id, view=notice_view(_title(), say(_not_advisor())))
        return
    now = app_context.settings.now()
    with app_context.factory() as session:
        if case_id is None:
            matches = call_reports.find_cases(session, asker=asker, query=query, today=now.date())
            if len(matches) == 1 and query:
                case_id = matches[0].id
            else:
                available = (
                    len(matches)
                    if not query
                    else len(
                        call_reports.find_cases(session, asker=asker, query="", today=now.date())
                    )
                )
                view = picker_view(
                    len(matches), available=available, query=query, metadata={"q": query[:200]}
                )
                client.views_update(view_id=view_id, view=view)
                return
        screen = call_reports.load_screen(
            session, case_id=case_id, asker=asker, now=now, rules=app_context.settings.call_rules
        )
    if isinstance(screen, call_reports.Refusal):
        client.views_update(view_id=view_id, view=notice_view(_title(), screen.text))
        return
    client.views_update(view_id=view_id, view=capture_view(screen))


def _dm_channel(app_context: AppContext, client: WebClient, asker: Advisor) -> str:
    """The asker's DM with the bot (opened once and kept; a user who reached the modal has a
    Slack account)."""
    if asker.slack_dm_channel is None:
        link_advisor(client, asker)
        with app_context.factory.begin() as session:
            save_link(session, asker)
    return str(asker.slack_dm_channel)


def _not_advisor() -> Any:
    return texts().not_an_advisor()


def _case_gone() -> str:
    return say(texts().case_gone())


def _picked(state: Mapping[str, Any]) -> object:
    """The value of the case chosen in the picker (None when the state holds none)."""
    block = state.get(PICKER_BLOCK)
    element = block.get("value") if isinstance(block, dict) else None
    option = element.get("selected_option") if isinstance(element, dict) else None
    return option.get("value") if isinstance(option, dict) else None


def on_open_button(
    ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext
) -> None:
    ack()
    push = (body.get("container") or {}).get("type") == "view"
    case_id = call_reports.parse_id(action_value(body))
    if case_id is None:
        # A value no button of ours carries: the case it named cannot be found.
        log.warning("compte rendu: button without a case id")
        opener = client.views_push if push else client.views_open
        opener(trigger_id=body["trigger_id"], view=notice_view(_title(), _case_gone()))
        return
    open_modal(
        app_context,
        client,
        user_id=body["user"]["id"],
        trigger_id=body["trigger_id"],
        case_id=case_id,
        push=push,
    )


def on_outcome_chosen(
    ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext
) -> None:
    """The outcome changed: rebuild the view for it, keeping every value already typed."""
    ack()
    view = body["view"]
    asker = advisor_for(app_context, client, body["user"]["id"])
    case_id = call_reports.parse_id(view_metadata(view).get("case"))
    if asker is None or case_id is None:
        return
    with app_context.factory() as session:
        screen = call_reports.load_screen(
            session,
            case_id=case_id,
            asker=asker,
            now=app_context.settings.now(),
            rules=app_context.settings.call_rules,
            state=call_reports.state_values(view),
        )
    if isinstance(screen, call_reports.Refusal):
        client.views_update(view_id=view["id"], view=notice_view(_title(), screen.text))
        return
    client.views_update(view_id=view["id"], hash=view.get("hash"), view=capture_view(screen))


def on_capture_submitted(
    ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext
) -> None:
    view = body["view"]
    user_id = body["user"]["id"]
    asker = advisor_for(app_context, client, user_id)
    if asker is None:
        log.warning("compte rendu refused: %s is not an active advisor", user_id)
        ack(response_action="update", view=notice_view(_title(), say(_not_advisor())))
        return
    case_id = call_reports.parse_id(view_metadata(view).get("case"))
    if case_id is None:
        log.warning("compte rendu refused: the view names no case")
        ack(response_action="update", view=notice_view(_title(), say(words().tampered())))
        return
    try:
        outcome = call_reports.submit(
            app_context.factory,
            case_id=case_id,
            asker=asker,
            state=call_reports.state_values(view),
            submission_key=call_reports.submission_key(view, view_metadata(view)),
            now=app_context.settings.now(),
            rules=app_context.settings.call_rules,
        )
    except FormTampered as exc:
        log.warning("compte rendu refused for case %s: %s", case_id, exc)
        ack(response_action="update", view=notice_view(_title(), say(words().tampered())))
        return
    if isinstance(outcome, call_reports.Refusal):
        ack(response_action="update", view=notice_view(_title(), outcome.text))
        return
    if outcome.errors:
        ack(response_action="errors", errors=outcome.errors)
        return
    ack()
    if outcome.duplicate:
        return
    client.chat_postMessage(channel=_dm_channel(app_context, client, asker), **outcome.confirmation)
    publish_home(app_context, client, user_id)


def on_case_picked(
    ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext
) -> None:
    view = body["view"]
    chosen = _picked(call_reports.state_values(view))
    asker = advisor_for(app_context, client, body["user"]["id"])
    if chosen in (None, ""):
        ack(response_action="errors", errors={PICKER_BLOCK: say(words().error("required"))})
        return
    if asker is None:
        ack(response_action="update", view=notice_view(_title(), say(_not_advisor())))
        return
    case_id = call_reports.parse_id(chosen)
    if case_id is None:
        # Not an option the picker offered: no case of the queue.
        ack(response_action="update", view=notice_view(_title(), _case_gone()))
        return
    with app_context.factory() as session:
        screen = call_reports.load_screen(
            session,
            case_id=case_id,
            asker=asker,
            now=app_context.settings.now(),
            rules=app_context.settings.call_rules,
        )
    if isinstance(screen, call_reports.Refusal):
        ack(response_action="update", view=notice_view(_title(), screen.text))
        return
    ack(response_action="update", view=capture_view(screen))


def on_picker_options(
    ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext
) -> None:
    asker = advisor_for(app_context, client, body["user"]["id"])
    if asker is None:
        ack(options=[])
        return
    with app_context.factory() as session:
        cases = call_reports.find_cases(
            session,
            asker=asker,
            query=str(body.get("value") or ""),
            today=app_context.settings.today(),
        )
    ack(options=picker_options(cases))


def on_action_done(
    ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond, app_context: AppContext
) -> None:
    """« Fait » on a next action of « Rappels et actions du jour »."""
    ack()
    asker = advisor_for(app_context, client, body["user"]["id"])
    action_id = call_reports.parse_id(action_value(body))
    if action_id is None:
        return
    if asker is None:
        respond(response_type="ephemeral", replace_original=False, text=say(_not_advisor()))
        return
    refusal = call_reports.mark_action_done(
        app_context.factory, action_id=action_id, asker=asker, today=app_context.settings.today()
    )
    text = refusal.text if refusal is not None else say(words().action_marked_done())
    respond(response_type="ephemeral", replace_original=False, text=text)
    publish_home(app_context, client, body["user"]["id"])


def register(app: App) -> None:
    app.action(ACTION_DONE)(on_action_done)
    app.action(OPEN_ACTION)(on_open_button)
    app.action(OUTCOME_ACTION)(on_outcome_chosen)
    app.view(CAPTURE_CALLBACK)(on_capture_submitted)
    app.view(PICKER_CALLBACK)(on_case_picked)
    app.options({"action_id": "value", "block_id": PICKER_BLOCK})(on_picker_options)

"""The contact card: `/m3 carte <client>` (alias `vcard`), the « Envoyer ma carte » button of
the confirmation after `/m3 done`, the confirmation modal, and `/m3 opposition <client>`.

Opening acks first and opens a loading view at once (the trigger expires 3 s after the click),
then fills it from the database. Enter pressed in the number or address field rebuilds the
modal for the value typed (`views.update` with the view's hash, as `/m3 done` does for its
outcome), keeping every other choice; it records and sends nothing. The submission is checked
again on the server (the user, the case, the channels possible); the sends are queued in the
outbox, which the worker delivers (never here: `m3 web` serves no worker).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from bot.blocks.card import (
    CARD_CALLBACK,
    EMAIL_ACTION,
    OPEN_ACTION,
    PHONE_ACTION,
    Kept,
    card_view,
    error_block_id,
    read_state,
    say,
    words,
)
from bot.call_reports import parse_id
from bot.card import CardPlan, CardRefusal, plan, record_objection, request_card
from bot.context import AppContext
from bot.models import Advisor, Case, Client, Outbox, OutboxStatus
from commands.common import (
    action_value,
    advisor_for,
    loading_view,
    notice_view,
    view_metadata,
)

log = logging.getLogger(__name__)


def _title() -> str:
    return say(words().title())


def _refused(reason: str) -> dict[str, Any]:
    """The card's notice for a refusal (`words().refused`): not an advisor, a case gone…"""
    return notice_view(_title(), say(words().refused(reason)))


def find_case(app_context: AppContext, asker: Advisor, query: str) -> tuple[int | None, list[str]]:
    """The case of the client `query` names (number, or part of the name: `the_clients_case`),
    among the asker's clients (every client for a manager): (case id, []) or (None,
    candidates)."""
    from bot.call_reports import matching
    from bot.cases.queries import may_be_the_clients_case, the_clients_case

    with app_context.factory() as session:
        today = app_context.settings.today()
        stmt = (
            select(Case, Client)
            .join(Client, Case.client_id == Client.id)
            .where(may_be_the_clients_case(today))
        )
        if not asker.is_manager:
            stmt = stmt.where(Case.advisor_id == asker.id)
        clients = {case.id: client for case, client in session.execute(stmt)}
        cases = [session.get_one(Case, case_id) for case_id in clients]  # loaded just now
        rows = [(case, clients[case.id]) for case in the_clients_case(cases, today)]
    found = (
        matching(rows, query, number=lambda r: r[1].number, name=lambda r: r[1].display_name)
        if query.strip()
        else []
    )
    if len(found) == 1:
        return found[0][0].id, []
    return None, [f"{cl.display_name} ({cl.number})" for _, cl in found[:10]]


def open_card(
    app_context: AppContext, client: WebClient, *, user_id: str, trigger_id: str, case_id: int
) -> None:
    opened = client.views_open(trigger_id=trigger_id, view=loading_view(_title()))
    view_id = opened["view"]["id"]
    asker = advisor_for(app_context, client, user_id)
    client.views_update(view_id=view_id, view=_view_for(app_context, asker, case_id))


def _plan_for(
    app_context: AppContext,
    asker: Advisor,
    case_id: int,
    *,
    phone: str | None = None,
    email: str | None = None,
) -> CardPlan:
    """What the modal shows for the case (read only); raises `CardRefusal`."""
    settings = app_context.settings
    with app_context.factory() as session:
        return plan(
            session,
            case_id=case_id,
            asker=asker,
            settings=settings,
            now=settings.now(),
            phone=phone,
            email=email,
        )


def _view_for(
    app_context: AppContext,
    asker: Advisor | None,
    case_id: int,
    *,
    phone: str | None = None,
    email: str | None = None,
) -> dict[str, Any]:
    if asker is None:
        return _refused("not_advisor")
    try:
        the_plan = _plan_for(app_context, asker, case_id, phone=phone, email=email)
    except CardRefusal as refusal:
        return _refused(str(refusal))
    return card_view(the_plan, metadata={"case": case_id})


def on_open_button(
    ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext
) -> None:
    ack()
    case_id = parse_id(action_value(body))
    if case_id is None:
        # A value no button of ours carries: the case it named cannot be found.
        log.warning("carte de contact : bouton sans dossier")
        client.views_open(trigger_id=body["trigger_id"], view=_refused("gone"))
        return
    open_card(
        app_context,
        client,
        user_id=body["user"]["id"],
        trigger_id=body["trigger_id"],
        case_id=case_id,
    )


def on_contact_typed(
    ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext
) -> None:
    """Enter pressed in the number or address field: the modal is rebuilt for what is typed
    now (the channels possible, a landline, the recipients, an invalid value's hint), keeping
    the channels ticked and the opposition. Nothing is recorded or sent: a correction is kept
    on submit only. Whoever may not open the card (neither the case's advisor nor a manager)
    gets nothing changed."""
    ack()
    view = body["view"]
    metadata = view_metadata(view)
    case_id = parse_id(metadata.get("case"))
    asker = advisor_for(app_context, client, body["user"]["id"])
    if asker is None or case_id is None:
        return
    channels, phone, email, objection = read_state(view.get("state", {}))
    try:
        the_plan = _plan_for(app_context, asker, case_id, phone=phone, email=email)
    except CardRefusal as refusal:
        log.warning("carte de contact : aperçu refusé pour le dossier %s (%s)", case_id, refusal)
        return
    rebuilt = card_view(the_plan, metadata=metadata, kept=Kept(channels, objection))
    try:
        client.views_update(view_id=view["id"], hash=view.get("hash"), view=rebuilt)
    except SlackApiError as exc:
        # A newer view is already there (Enter pressed again, or the modal was submitted):
        # it has the last word.
        if exc.response.get("error") != "hash_conflict":
            raise
        log.info("carte de contact : aperçu du dossier %s déjà remplacé", case_id)


def on_card_submitted(
    ack: Ack, body: dict[str, Any], client: WebClient, app_context: AppContext
) -> None:
    view = body["view"]
    case_id = parse_id(view_metadata(view).get("case"))
    if case_id is None:
        ack(response_action="update", view=_refused("gone"))
        return
    asker = advisor_for(app_context, client, body["user"]["id"])
    if asker is None:
        ack(response_action="update", view=_view_for(app_context, None, case_id))
        return
    channels, phone, email, objection = read_state(view.get("state", {}))
    settings = app_context.settings
    w = words()
    if objection:
        with app_context.factory() as session:
            case = session.get(Case, case_id)
            allowed = case is not None and (case.advisor_id == asker.id or asker.is_manager)
            client_id, name = (case.client_id, case.client.display_name) if case else (0, "")
        if not allowed:
            ack(response_action="update", view=_refused("not_yours"))
            return
        changed, cancelled = _object(app_context, asker, client_id)
        text = say(w.objection_recorded(name, changed, cancelled))
        ack(response_action="update", view=notice_view(_title(), text))
        return
    try:
        result = request_card(
            app_context.factory,
            case_id=case_id,
            asker=asker,
            settings=settings,
            now=settings.now(),
            channels=channels,
            phone=phone,
            email=email,
        )
    except CardRefusal as refusal:
        ack(response_action="update", view=_refused(str(refusal)))
        return
    if result.objected:
        ack(response_action="update", view=_view_for(app_context, asker, case_id))
        return
    if result.errors:
        ack(
            response_action="errors",
            errors={
                error_block_id(block, view_metadata(view)): say(w.error(code))
                for block, code in result.errors.items()
            },
        )
        return
    with app_context.factory() as session:
        case = session.get(Case, case_id)
        name = case.client.display_name if case is not None else ""
    ack(response_action="update", view=notice_view(_title(), say(w.requested(result, name))))


def _object(app_context: AppContext, asker: Advisor, client_id: int) -> tuple[bool, int]:
    with app_context.factory() as session:
        queued = len(
            session.scalars(
                select(Outbox.id).where(
                    Outbox.client_id == client_id, Outbox.status == OutboxStatus.QUEUED.value
                )
            ).all()
        )
    changed = record_objection(
        app_context.factory, client_id=client_id, asker=asker, today=app_context.settings.today()
    )
    return changed, queued if changed else 0


def opposition(app_context: AppContext, asker: Advisor, query: str) -> str:
    """`/m3 opposition <client>`: the answer to show (ephemeral)."""
    w = words()
    if not query.strip():
        return say(w.opposition_usage())
    case_id, candidates = find_case(app_context, asker, query)
    if case_id is None:
        return say(w.candidates(query, candidates))
    with app_context.factory() as session:
        case = session.get_one(Case, case_id)
        client_id, name = case.client_id, case.client.display_name
    changed, cancelled = _object(app_context, asker, client_id)
    return say(w.objection_recorded(name, changed, cancelled))


def register(app: App) -> None:
    app.action(OPEN_ACTION)(on_open_button)
    app.action(PHONE_ACTION)(on_contact_typed)
    app.action(EMAIL_ACTION)(on_contact_typed)
    app.view(CARD_CALLBACK)(on_card_submitted)


def open_from_command(
    app_context: AppContext, client: WebClient, *, user_id: str, trigger_id: str, query: str
) -> None:
    """`/m3 carte <client>`: the modal opens at once, then shows the card of the client's
    current case (or who matches, when the query names none or several)."""
    opened = client.views_open(trigger_id=trigger_id, view=loading_view(_title()))
    view_id = opened["view"]["id"]
    asker = advisor_for(app_context, client, user_id)
    if asker is None:
        client.views_update(view_id=view_id, view=_view_for(app_context, None, 0))
        return
    case_id, candidates = find_case(app_context, asker, query)
    if case_id is None:
        text = (
            say(words().candidates(query, candidates))
            if query.strip()
            else say(words().opposition_usage()).replace("opposition", "carte")
        )
        client.views_update(view_id=view_id, view=notice_view(_title(), text))
        return
    client.views_update(view_id=view_id, view=_view_for(app_context, asker, case_id))

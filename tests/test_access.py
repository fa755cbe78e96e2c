"""Who the bot answers, through signed HTTP and the fake Slack: an advisor the staff file no
longer lists (made inactive by a staff import) has no access left; a Slack user Slack does
not know is told they are not in the list; a command that fails after Slack was answered
still gets a French answer, never silence. Today is Tuesday 24/11/2026 (tests/slackkit)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Advisor
from tests.fakeslack import FakeSlack
from tests.slackkit import JULIE, Responses, slash

NOT_LISTED = "Je ne vous trouve pas dans la liste des conseillers M+3"


def answer(server: str, responses: Responses, text: str, user: str = JULIE[0]) -> str:
    count = len(responses.bodies) + 1
    assert slash(server, text, responses, user=user) == 200
    return str(responses.wait(count)[count - 1]["text"])


def test_an_advisor_the_staff_file_no_longer_lists_has_no_access(
    server: str, responses: Responses, factory: sessionmaker[Session]
) -> None:
    # While listed, Julie sees her queue (and the bot keeps her Slack id).
    assert NOT_LISTED not in answer(server, responses, "list")
    with factory.begin() as session:
        session.execute(update(Advisor).where(Advisor.email == JULIE[1]).values(active=False))
    for text in ("list", "status 1", "stats", "absent du 30/11 au 04/12"):
        assert answer(server, responses, text).startswith(NOT_LISTED), text


def test_a_user_slack_does_not_know_is_not_listed(server: str, responses: Responses) -> None:
    assert answer(server, responses, "list", user="U0GHOST").startswith(NOT_LISTED)


def test_a_command_slack_fails_under_is_answered_in_french(
    server: str, responses: Responses, fake: FakeSlack
) -> None:
    # Julie's first command: the bot asks Slack who she is, and Slack fails.
    fake.fail_next("users.info", status=500, times=10)
    text = answer(server, responses, "list")
    assert text == (
        "Désolé, la commande n'a pas abouti (incident technique, signalé). Réessayez dans un "
        "instant."
    )


def test_the_help_is_everyone_s(server: str, responses: Responses, fake: FakeSlack) -> None:
    text = answer(server, responses, "help", user="U0GHOST")
    assert not text.startswith(NOT_LISTED)
    assert "`/m3 help` — cette aide" in text
    assert fake.calls_to("users.info") == []  # nobody was looked up to show it


def test_an_advisor_is_found_by_an_address_slack_writes_with_capitals_and_an_eszett(
    server: str, responses: Responses, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    """The staff import stores an address in lower case as written (« straße » stays so):
    Slack's profile address is compared the same way, whatever its capitals, and the
    advisor's queue is found by it."""
    queue = answer(server, responses, "list")
    assert queue.startswith("Votre file M+3\u00a0: 2 en retard, 1 à traiter")
    stored = "julie.laurent-straße@agence-corniche.example.fr"
    with factory.begin() as session:
        session.execute(
            update(Advisor)
            .where(Advisor.email == JULIE[1])
            .values(email=stored, slack_user_id=None)  # asked to Slack again
        )
    fake.users[0]["profile"]["email"] = "Julie.Laurent-Straße@Agence-Corniche.example.fr"
    assert answer(server, responses, "list") == queue
    with factory() as session:
        advisor = session.scalars(select(Advisor).where(Advisor.email == stored)).one()
        assert advisor.slack_user_id == JULIE[0]


def test_an_address_an_earlier_staff_import_case_folded_is_still_found(
    server: str, responses: Responses, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    """The staff import once stored addresses case-folded (« straße » → « strasse »): until
    the next staff import sets it back, the Slack profile's « Straße » still finds it."""
    queue = answer(server, responses, "list")
    with factory.begin() as session:
        session.execute(
            update(Advisor)
            .where(Advisor.email == JULIE[1])
            .values(email="julie.laurent-strasse@agence-corniche.example.fr", slack_user_id=None)
        )
    fake.users[0]["profile"]["email"] = "Julie.Laurent-Straße@Agence-Corniche.example.fr"
    assert answer(server, responses, "list") == queue
    assert not queue.startswith(NOT_LISTED)

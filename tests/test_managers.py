"""The managers' side, on an agency written by the test: the summary in their channel (totals
per branch and per advisor, closing windows flagged, the cases of an absent advisor and of one
who left), « Je le prends » and « Confier à… » through signed HTTP, and a manager's App Home
(the whole team, a branch filter). Expected values are worked out by hand from the rules:
due = effect + 3 months, window = due ± 7 days, deadline = effect + 4 months."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from bot.cli import app
from bot.models import Absence, Advisor, AuditEntry, Case, Client
from bot.settings import load_settings
from tests.conftest import M3
from tests.exports import ADVISORS_HEADER, contract, ok, portfolio_csv, write_csv
from tests.fakeslack import FakeSlack, signed_headers
from tests.slackkit import SECRET, TOKEN, Responses, interact, post, wait_for

NB = "\u00a0"
DAY = "2026-11-24"  # a Tuesday; the export is imported the day before
MANAGERS = "C0MANAGERS"

ALICE = "alice.martin@cabinet-test.example.fr"  # Corniche, absent 23/11–27/11
BRUNO = "bruno.petit@cabinet-test.example.fr"  # Rouvière
CLARA = "clara.roux@cabinet-test.example.fr"  # Corniche, manager
DAVID = "david.leroy@cabinet-test.example.fr"  # Rouvière, leaves the agency
STAFF = {
    ALICE: ("Alice", "Martin", "06 11 22 33 44", "Corniche", "Conseiller"),
    BRUNO: ("Bruno", "Petit", "06 22 33 44 55", "Rouvière", "Conseiller"),
    CLARA: ("Clara", "Roux", "06 33 44 55 66", "Corniche", "Manager"),
    DAVID: ("David", "Leroy", "06 44 55 66 77", "Rouvière", "Conseiller"),
}
SLACK = {ALICE: "U0ALICE", BRUNO: "U0BRUNO", CLARA: "U0CLARA"}  # David has no account left

# client, contract, effect, advisor, product, phone, last name, branch
PORTFOLIO = [
    # effect 01/09 → due 01/12 → window 24/11–08/12: opens today (new)
    ("1001", "K1001", "01/09/2026", ALICE, "Auto", "12 34", "Moreau", "Corniche"),  # bad phone
    # effect 17/08 → due 17/11 → window 10/11–24/11: à traiter, closes today
    ("1002", "K1002", "17/08/2026", ALICE, "Habitation", "06 10 02 10 02", "Garnier", "Corniche"),
    # effect 05/08 → due 05/11 → window 29/10–12/11: late until 05/12
    ("2001", "K2001", "05/08/2026", BRUNO, "Santé", "06 20 01 20 01", "Faure", "Rouvière"),
    # effect 24/07 → window 17/10–31/10: late, deadline 24/11: its last day is today
    ("2002", "K2002", "24/07/2026", BRUNO, "Auto", "06 20 02 20 02", "Blanc", "Rouvière"),
    # effect 25/08 → due 25/11 → window 18/11–02/12: à traiter (David's, who leaves)
    ("3001", "K3001", "25/08/2026", DAVID, "Moto", "", "Roussel", "Rouvière"),  # no phone
]


def staff_csv(path: Path, emails: list[str]) -> Path:
    return write_csv(path, ADVISORS_HEADER, [[e, *STAFF[e]] for e in emails])


@pytest.fixture
def agency(m3: M3, tmp_path: Path, factory: sessionmaker[Session]) -> M3:
    """The staff and the export imported on 23/11; then David leaves (a staff file without
    him) and Alice declares her absence from 23/11 to 27/11."""
    ok(m3, "import", "advisors", str(staff_csv(tmp_path / "equipe.csv", list(STAFF))))
    rows = [
        contract(c, k, effect, advisor, Produit=product, Téléphone=phone, Nom=name, Agence=branch)
        for c, k, effect, advisor, product, phone, name, branch in PORTFOLIO
    ]
    ok(m3, "import", "portfolio", str(portfolio_csv(tmp_path / "export.csv", rows)))
    ok(m3, "import", "advisors", str(staff_csv(tmp_path / "equipe2.csv", [ALICE, BRUNO, CLARA])))
    with factory.begin() as session:
        alice = session.scalars(select(Advisor).where(Advisor.email == ALICE)).one()
        alice.absences.append(Absence(start_on=dt.date(2026, 11, 23), end_on=dt.date(2026, 11, 27)))
    return m3


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    users = [{"id": uid, "email": email} for email, uid in SLACK.items()]
    with FakeSlack(token=TOKEN, users=users, app_token="xapp-test") as fake:
        yield fake
        fake.assert_valid()


@pytest.fixture
def settings(agency: M3) -> Any:
    return load_settings(
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        DATABASE_URL=agency.database_url,
        M3_TODAY=DAY,
        M3_MANAGERS_CHANNEL=MANAGERS,
    )


def run_digest(m3: M3, fake: FakeSlack, *args: str) -> Any:
    return CliRunner().invoke(
        app,
        ["digest", "--date", DAY, *args],
        env={
            "DATABASE_URL": m3.database_url,
            "M3_TODAY": DAY,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": fake.url,
            "M3_MANAGERS_CHANNEL": MANAGERS,
        },
        catch_exceptions=False,
    )


def summary(fake: FakeSlack) -> dict[str, Any]:
    (message,) = [
        c.params for c in fake.calls_to("chat.postMessage") if c.params["channel"] == MANAGERS
    ]
    return message


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        for element in block.get("elements", []):
            if isinstance(element.get("text"), str):
                out.append(element["text"])
    return out


def case_id(factory: sessionmaker[Session], client_number: str) -> int:
    with factory() as session:
        return session.scalars(
            select(Case.id).join(Client).where(Client.number == client_number, Case.is_current)
        ).one()


def advisor_id(factory: sessionmaker[Session], email: str) -> int:
    with factory() as session:
        return session.scalars(select(Advisor.id).where(Advisor.email == email)).one()


# --- The summary ----------------------------------------------------------------------------


def test_the_summary_counts_per_branch_then_advisor_and_lists_who_must_be_called(
    agency: M3, fake: FakeSlack, factory: sessionmaker[Session]
) -> None:
    assert run_digest(agency, fake).exit_code == 0
    message = summary(fake)
    lines = "\n".join(texts(message["blocks"])).split("\n")
    closing = ":warning: 1 fenêtre à son dernier jour"
    expiring = ":warning: 1 retard à son dernier jour"
    assert lines[:6] == [
        "*Récapitulatif M+3 du mardi 24 novembre 2026*",
        f"*Corniche*{NB}: 1 nouveau · 1 à traiter · 0 en retard · {closing}",
        f"• Alice Martin{NB}: 1 nouveau · 1 à traiter · 0 en retard · {closing}"
        f" — _absent·e jusqu'au 27/11/2026{NB}: dossiers à répartir_",
        f"*Rouvière*{NB}: 0 nouveau · 1 à traiter · 2 en retard · {expiring}",
        f"• David Leroy{NB}: 0 nouveau · 1 à traiter · 0 en retard"
        f" — _a quitté l'agence{NB}: dossiers à répartir jusqu'au prochain export_",
        f"• Bruno Petit{NB}: 0 nouveau · 0 à traiter · 2 en retard · {expiring}",
    ]
    # Then the three cases nobody is going to call, the most urgent first: product, phone and
    # last day, each with « Je le prends ».
    rest = "\n".join(lines[6:])
    assert "*À répartir*" + NB + ": 3 dossiers" in rest
    garnier = rest.index("Zoé Garnier")
    roussel = rest.index("Zoé Roussel")
    moreau = rest.index("Zoé Moreau")
    assert garnier < roussel < moreau
    assert (
        "*Zoé Garnier* — Habitation · <tel:+33610021002|06 10 02 10 02>\n"
        "fenêtre jusqu'au 24/11/2026 :warning: *dernier jour* · d'Alice Martin"
        " (absent·e jusqu'au 27/11/2026)"
    ) in rest
    assert (
        "*Zoé Roussel* — Moto · Pas de téléphone dans Lagon\n"
        "fenêtre jusqu'au 02/12/2026 · de David Leroy (a quitté l'agence)"
    ) in rest
    # The wrong number the CRM holds, as the advisor's own queue words it.
    assert "*Zoé Moreau* — Auto · Tél. 12 34 — invalide, à corriger dans Lagon" in rest
    buttons = [
        e
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    ]
    assert [b["text"]["text"] for b in buttons] == ["Je le prends"] * 3
    # Bruno is here: his clients are not named to the managers.
    assert "Faure" not in rest and "Blanc" not in rest
    # The notification text is plain.
    assert message["text"] == (
        f"Récapitulatif M+3 du 24/11/2026{NB}: 5 dossiers dans les files, 3 dossiers à répartir."
    )
    assert "*" not in message["text"]


def test_without_absent_or_departed_advisors_there_is_nothing_to_share_out(
    m3: M3, tmp_path: Path, fake: FakeSlack
) -> None:
    ok(m3, "import", "advisors", str(staff_csv(tmp_path / "equipe.csv", [BRUNO, CLARA])))
    rows = [contract("2001", "K2001", "05/08/2026", BRUNO, Agence="Rouvière")]
    ok(m3, "import", "portfolio", str(portfolio_csv(tmp_path / "export.csv", rows)))
    assert run_digest(m3, fake).exit_code == 0
    message = summary(fake)
    assert [b["type"] for b in message["blocks"]] == ["section", "section"]
    assert (
        f"• Bruno Petit{NB}: 0 nouveau · 0 à traiter · 1 en retard" in texts(message["blocks"])[1]
    )


# --- « Je le prends » -----------------------------------------------------------------------


def click(
    server: str,
    responses: Responses,
    message: dict[str, Any],
    ts: str,
    block_id: str,
    user: str,
    *,
    give_to: str | None = None,
) -> None:
    action: dict[str, Any] = (
        {"type": "button", "action_id": "take_case", "value": block_id.split(":")[1]}
        if give_to is None
        else {"type": "users_select", "action_id": "give_case", "selected_user": give_to}
    )
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T1"},
        "trigger_id": "1.2.take",
        "response_url": responses.url,
        "container": {"type": "message", "message_ts": ts, "channel_id": MANAGERS},
        "channel": {"id": MANAGERS},
        "message": {"ts": ts, "text": message["text"], "blocks": message["blocks"]},
        "actions": [{**action, "block_id": block_id, "action_ts": "1"}],
    }
    assert interact(server, payload)[0] == 200


def take_block(message: dict[str, Any], case: int) -> str:
    return next(
        b["block_id"]
        for b in message["blocks"]
        if b["type"] == "actions" and b["block_id"].startswith(f"take:{case}:")
    )


def test_je_le_prends_moves_the_case_audits_it_and_tells_the_advisor(
    agency: M3,
    fake: FakeSlack,
    server: str,
    responses: Responses,
    factory: sessionmaker[Session],
) -> None:
    assert run_digest(agency, fake).exit_code == 0
    message = summary(fake)
    ts = fake.calls_to("chat.postMessage")[-1].response["ts"]
    garnier = case_id(factory, "1002")
    block = take_block(message, garnier)
    assert block == f"take:{garnier}:{advisor_id(factory, ALICE)}"

    before = len(fake.calls_to("chat.postMessage"))
    click(server, responses, message, ts, block, SLACK[CLARA])
    (answer,) = responses.wait()
    assert answer["text"] == (
        f"C'est noté{NB}: le dossier M+3 de Zoé Garnier est à vous, dans votre file"
        " (`/m3 list`). Alice Martin est prévenu·e."
    )
    # The case is Clara's now, and the audit log says who moved it from whom.
    with factory() as session:
        case = session.get_one(Case, garnier)
        assert case.advisor.email == CLARA
        (entry,) = session.scalars(
            select(AuditEntry).where(
                AuditEntry.entity == "case", AuditEntry.entity_key == str(garnier)
            )
        ).all()
        assert (entry.actor, entry.field) == (CLARA, "advisor_id")
        assert (entry.old_value, entry.new_value) == (
            str(advisor_id(factory, ALICE)),
            str(advisor_id(factory, CLARA)),
        )
    # Alice is told in a DM; the summary's line says who took it, its buttons gone.
    dm = wait_for(fake, "chat.postMessage", before + 1)[-1].params
    assert dm["channel"] == "D" + SLACK[ALICE]
    assert dm["text"] == (
        f"Clara Roux a pris votre dossier M+3 de Zoé Garnier (Habitation){NB}: il n'est plus"
        " dans votre file."
    )
    (update,) = wait_for(fake, "chat.update")
    assert update.params["ts"] == ts
    updated = "\n".join(texts(update.params["blocks"]))
    assert f":white_check_mark: ~Zoé Garnier~{NB}: pris par Clara Roux." in updated
    assert not any(b.get("block_id", "") == block for b in update.params["blocks"])
    assert "Zoé Moreau" in updated  # the other cases stay

    # A second click on the same button (another manager's stale message): refused, no move.
    click(server, responses, message, ts, block, SLACK[BRUNO])
    assert responses.wait(2)[-1]["text"] == "Ce dossier a déjà été confié à Clara Roux."
    with factory() as session:
        assert session.get_one(Case, garnier).advisor.email == CLARA


def test_a_manager_gives_a_departed_advisor_s_case_to_a_colleague(
    agency: M3,
    fake: FakeSlack,
    server: str,
    responses: Responses,
    factory: sessionmaker[Session],
) -> None:
    assert run_digest(agency, fake).exit_code == 0
    message = summary(fake)
    ts = fake.calls_to("chat.postMessage")[-1].response["ts"]
    roussel = case_id(factory, "3001")
    before = len(fake.calls_to("chat.postMessage"))
    click(
        server, responses, message, ts, take_block(message, roussel), SLACK[CLARA],
        give_to=SLACK[BRUNO],
    )  # fmt: skip
    (answer,) = responses.wait()
    assert answer["text"] == (
        f"C'est noté{NB}: le dossier M+3 de Zoé Roussel est confié à Bruno Petit. Bruno Petit"
        " et David Leroy sont prévenus."
    )
    with factory() as session:
        assert session.get_one(Case, roussel).advisor.email == BRUNO
    # David left: no DM for him. Bruno is told who gave it to him.
    dms = wait_for(fake, "chat.postMessage", before + 1)[before:]
    assert [d.params["channel"] for d in dms] == ["D" + SLACK[BRUNO]]
    assert dms[0].params["text"] == (
        "Clara Roux vous confie le dossier M+3 de Zoé Roussel (Moto), de la file de David"
        f" Leroy{NB}: il est dans votre file (`/m3 list`)."
    )
    (update,) = wait_for(fake, "chat.update")
    assert f"~Zoé Roussel~{NB}: confié à Bruno Petit par Clara Roux." in "\n".join(
        texts(update.params["blocks"])
    )


def test_only_a_manager_gives_a_case_to_someone_else(
    agency: M3,
    fake: FakeSlack,
    server: str,
    responses: Responses,
    factory: sessionmaker[Session],
) -> None:
    assert run_digest(agency, fake).exit_code == 0
    message = summary(fake)
    ts = fake.calls_to("chat.postMessage")[-1].response["ts"]
    moreau = case_id(factory, "1001")
    block = take_block(message, moreau)
    click(server, responses, message, ts, block, SLACK[BRUNO], give_to=SLACK[CLARA])
    assert responses.wait()[-1]["text"].startswith("Seul un manager peut confier un dossier")
    with factory() as session:
        assert session.get_one(Case, moreau).advisor.email == ALICE
    # A colleague may take it for themself.
    click(server, responses, message, ts, block, SLACK[BRUNO])
    assert "est à vous" in responses.wait(2)[-1]["text"]
    with factory() as session:
        assert session.get_one(Case, moreau).advisor.email == BRUNO


# --- A manager's App Home -------------------------------------------------------------------


def open_home(server: str, user: str) -> None:
    payload = {
        "token": "x",
        "team_id": "T1",
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": "Ev1",
        "event_time": 1,
        "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"},
    }
    body = json.dumps(payload)
    headers = signed_headers(SECRET, body) | {"Content-Type": "application/json"}
    assert post(f"{server}/slack/events", body, headers)[0] == 200


def home_text(view: dict[str, Any]) -> str:
    return "\n".join(texts(view["blocks"]))


def test_a_manager_s_home_shows_the_whole_team_and_filters_by_branch(
    agency: M3, fake: FakeSlack, server: str, responses: Responses
) -> None:
    open_home(server, SLACK[CLARA])
    (published,) = wait_for(fake, "views.publish")
    view = published.params["view"]
    text = home_text(view)
    assert "Aucun M+3 à appeler" not in text
    assert text.startswith("*File M+3 de l'équipe* — mardi 24 novembre 2026")
    # Every advisor's cases, by branch; the ones to share out with their buttons.
    for name in ("Moreau", "Garnier", "Faure", "Blanc", "Roussel"):
        assert f"Zoé {name}" in text
    assert f"*À répartir*{NB}: 3 dossiers" in text
    assert f"*Rouvière*{NB}: 0 nouveau · 1 à traiter · 2 en retard" in text
    assert (
        f"• Bruno Petit{NB}: 0 nouveau · 0 à traiter · 2 en retard · :warning: 1 retard à son"
        " dernier jour\n◦ Zoé Blanc — Auto · en retard, encore possible jusqu'au 24/11/2026"
        " :warning: *dernier jour*\n◦ Zoé Faure — Santé · en retard, encore possible jusqu'au"
        " 04/12/2026"
    ) in text
    (select_menu,) = [
        e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]
        if e["type"] == "static_select"
    ]  # fmt: skip
    assert [o["text"]["text"] for o in select_menu["options"]] == [
        "Toutes les agences",
        "Corniche",
        "Rouvière",
    ]

    # Corniche only: Alice's cases, not Rouvière's.
    payload = {
        "type": "block_actions",
        "user": {"id": SLACK[CLARA]},
        "team": {"id": "T1"},
        "trigger_id": "1.2.filter",
        "container": {"type": "view", "view_id": published.response["view"]["id"]},
        "view": {"id": published.response["view"]["id"], "type": "home"},
        "actions": [
            {
                "type": "static_select",
                "action_id": "team_branch",
                "block_id": "team_filter",
                "selected_option": {"value": "Corniche"},
                "action_ts": "1",
            }
        ],
    }
    assert interact(server, payload)[0] == 200
    filtered = wait_for(fake, "views.publish", 2)[-1].params["view"]
    text = home_text(filtered)
    assert "agence Corniche" in text
    assert "Zoé Moreau" in text and "Zoé Garnier" in text
    assert not any(f"Zoé {name}" in text for name in ("Faure", "Blanc", "Roussel"))
    chosen = next(
        e["initial_option"]["value"]
        for b in filtered["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "static_select"
    )
    assert chosen == "Corniche"


def test_an_advisor_s_home_is_still_their_own_queue(
    agency: M3, fake: FakeSlack, server: str
) -> None:
    open_home(server, SLACK[BRUNO])
    (published,) = wait_for(fake, "views.publish")
    text = home_text(published.params["view"])
    assert "File M+3 de Bruno Petit" in text and "équipe" not in text
    assert "Zoé Faure" in text and "Zoé Moreau" not in text


def test_je_le_prends_from_the_app_home(
    agency: M3, fake: FakeSlack, server: str, factory: sessionmaker[Session]
) -> None:
    open_home(server, SLACK[CLARA])
    (published,) = wait_for(fake, "views.publish")
    view = published.params["view"]
    garnier = case_id(factory, "1002")
    payload = {
        "type": "block_actions",
        "user": {"id": SLACK[CLARA]},
        "team": {"id": "T1"},
        "trigger_id": "1.2.home",
        "container": {"type": "view", "view_id": published.response["view"]["id"]},
        "view": {**published.response["view"], "type": "home"},
        "actions": [
            {
                "type": "button",
                "action_id": "take_case",
                "block_id": take_block(view, garnier),
                "value": str(garnier),
                "action_ts": "1",
            }
        ],
    }
    assert interact(server, payload)[0] == 200
    # No response_url in the App Home: the answer is a small modal.
    (notice,) = wait_for(fake, "views.open")
    assert notice.params["trigger_id"] == "1.2.home"
    assert "Zoé Garnier est à vous" in json.dumps(notice.params["view"], ensure_ascii=False)
    with factory() as session:
        assert session.get_one(Case, garnier).advisor.email == CLARA
    # The home again: two cases left to share out; Clara's own one pointed to.
    text = home_text(wait_for(fake, "views.publish", 2)[-1].params["view"])
    assert f"*À répartir*{NB}: 2 dossiers" in text
    assert f"Vous avez aussi 1 M+3 à appeler vous-même{NB}: tapez `/m3 list`." in text

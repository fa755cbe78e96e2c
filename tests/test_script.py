"""The « Préparer l'appel » modal on a generated agency, as an advisor opens it from a button:
the accroche in the advisor's own mouth (seller = advisor, two advisors named Agnès, several
products, Madame / Monsieur), the contracts held with us, the rebound questions fitted to what
the export says, another way to reach the client, and old buttons on closed cases.

Today is Tuesday 1 December 2026 (`tests/agency.py`); the advisor who calls is Agnès Fournier
(branch Rouvière) unless said otherwise. Expected sentences are written by hand from the
agency's process card and call guide (the seller's accroche, the magic question)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks.prepare import prepare_modal
from bot.cases.queries import list_cases
from bot.models import Case
from bot.rules import CaseState
from tests.agency import (
    AGNES_B,
    AGNES_F,
    LATE_EFFECT,
    OPEN_EFFECT,
    SLACK_IDS,
    TODAY,
    address,
    case_ids,
    click,
    fake,
    flat,
    import_agency,
    prepare,
    settings,
    today,
    wait_calls,
)
from tests.blocktext import link_targets, view_text
from tests.conftest import M3
from tests.exports import contract, portfolio_csv
from tests.fakeslack import FakeSlack

__all__ = ["address", "fake", "settings", "today"]  # fixtures of tests/agency.py


def person(
    client: str,
    number: str,
    civility: str,
    first: str,
    last: str,
    seller: str,
    product: str = "Auto",
    advisor: str = AGNES_F,
    **fields: str,
) -> dict[str, str]:
    return contract(
        client,
        number,
        fields.pop("effect", OPEN_EFFECT),
        advisor,
        **{
            "Civilité": civility,
            "Prénom": first,
            "Nom": last,
            "Vendeur": seller,
            "Produit": product,
            "Agence": "Rouvière",
            "E-mail": f"{first.lower()}.{client.lower()}@example.org",
            **fields,
        },
    )


ROWS = [
    # The advisor sold it, written the CRM's way (last name first, in capitals).
    person("C01", "K01", "Mme", "Claire", "DUMAS", "FOURNIER Agnès"),
    # The other Agnès sold it.
    person("C02", "K02", "M.", "Paul", "Girard", "Agnès Bertrand"),
    # The advisor sold it, typed without accent nor capitals.
    person("C03", "K03", "Mme", "Inès", "Roux", "agnes fournier"),
    # Two products, sold by a colleague.
    person("C04", "K04a", "Mme", "Marie", "LEBLANC", "Luc Moreau"),
    person("C04", "K04b", "Mme", "Marie", "LEBLANC", "Luc Moreau", "Santé"),
    # Acronyms, a professional (TNS).
    person(
        "C05",
        "K05a",
        "M.",
        "Mehdi",
        "GUYOT",
        "Luc Moreau",
        "RC pro",
        **{"Type client": "Professionnel", "Situation professionnelle": "TNS"},
    ),
    person(
        "C05",
        "K05b",
        "M.",
        "Mehdi",
        "GUYOT",
        "Luc Moreau",
        "GAV",
        **{"Type client": "Professionnel", "Situation professionnelle": "TNS"},
    ),
    # Two sellers, one of them the advisor.
    person("C06", "K06a", "M.", "Hugo", "Klein", "Luc Moreau"),
    person("C06", "K06b", "M.", "Hugo", "Klein", "Agnès Fournier", "Santé"),
    # Only a first name, the advisor's: either Agnès.
    person("C07", "K07", "Mme", "Léa", "Robin", "Agnès"),
    # An older contract (not new business) held with us, a piece missing on it; a terminated
    # one that no longer counts.
    person("C08", "K08", "M.", "Karim", "Haddad", "Luc Moreau"),
    person(
        "C08",
        "K08h",
        "M.",
        "Karim",
        "Haddad",
        "Luc Moreau",
        "Habitation",
        origin="Transfert",
        effect="10/03/2020",
        **{"Pièces manquantes": "Bail"},
    ),
    person(
        "C08",
        "K08m",
        "M.",
        "Karim",
        "Haddad",
        "Luc Moreau",
        "Moto",
        origin="Transfert",
        effect="10/03/2020",
        status="Résilié",
        **{"Date de résiliation": "01/06/2026", "Pièces manquantes": "Carte grise"},
    ),
    # Married, employed: nothing says there are children.
    person(
        "C09",
        "K09",
        "Mme",
        "Sophie",
        "Marchand",
        "Luc Moreau",
        **{"Situation familiale": "Marié(e)", "Situation professionnelle": "Salarié"},
    ),
    # A Scolaire contract says there are children.
    person("C10", "K10", "Mme", "Julie", "Perrin", "Luc Moreau"),
    person("C10", "K10s", "Mme", "Julie", "Perrin", "Luc Moreau", "Scolaire", origin="Transfert"),
    # Just took an Épargne retraite.
    person("C11", "K11", "M.", "Noé", "Petit", "Luc Moreau", "Épargne retraite"),
    # A TNS who holds legal protection and GAV already.
    person(
        "C12",
        "K12",
        "Mme",
        "Anne",
        "Morel",
        "Luc Moreau",
        **{"Type client": "Professionnel", "Situation professionnelle": "TNS"},
    ),
    person(
        "C12",
        "K12p",
        "Mme",
        "Anne",
        "Morel",
        "Luc Moreau",
        "Protection juridique",
        origin="Transfert",
        **{"Type client": "Professionnel", "Situation professionnelle": "TNS"},
    ),
    person(
        "C12",
        "K12g",
        "Mme",
        "Anne",
        "Morel",
        "Luc Moreau",
        "GAV",
        origin="Transfert",
        **{"Type client": "Professionnel", "Situation professionnelle": "TNS"},
    ),
    # A phone the import flagged.
    person("C13", "K13", "Mme", "Zoé", "Garnier", "Luc Moreau", **{"Téléphone": "12 34"}),
    # Agnès Bertrand's client, sold by Agnès Fournier.
    person("C14", "K14", "M.", "Yves", "Colin", "Agnès Fournier", advisor=AGNES_B),
    # Late: the case's last day is effect + 4 months, 15/12.
    person("C15", "K15", "M.", "Rémi", "Bénard", "Luc Moreau", effect=LATE_EFFECT),
]


@pytest.fixture
def agency(m3: M3, tmp_path: Path) -> M3:
    return import_agency(m3, tmp_path, ROWS)


@pytest.fixture
def ids(agency: M3) -> dict[str, int]:
    return case_ids(agency)


def script_of(server: str, fake: FakeSlack, ids: dict[str, int], client: str, **kw: Any) -> str:
    view = prepare(server, fake, ids[client], **kw)
    assert view["callback_id"] == "prepare_call_view", view_text(view)
    return view_text(view)


def accroche(text: str) -> str:
    start = text.index("*L'accroche*")
    return flat(text[start : text.index("*La raison*")])


def rebounds(text: str) -> str:
    start = text.index("question magique")
    return flat(text[start:])


def test_the_advisor_who_sold_the_contract_says_so(
    server: str, fake: FakeSlack, ids: dict[str, int]
) -> None:
    for client, hello in (("C01", "Bonjour Claire"), ("C03", "Bonjour Inès")):
        said = accroche(script_of(server, fake, ids, client))
        assert (
            f"{hello}, c'est Agnès de l'agence Rouvière. C'est moi qui ai assuré votre contrat "
            "auto et je vais continuer à vous suivre et à gérer votre dossier." in said
        ), said
        assert "C'est Agnès qui" not in said


def test_a_namesake_seller_is_named_in_full(
    server: str, fake: FakeSlack, ids: dict[str, int]
) -> None:
    said = accroche(script_of(server, fake, ids, "C02"))
    assert (
        "Bonjour Paul, c'est Agnès Fournier de l'agence Rouvière. C'est Agnès Bertrand qui a "
        "assuré votre contrat auto et c'est moi qui vais vous suivre et gérer votre dossier. "
        "Est-ce que vous avez quelques minutes, ou on prend un rendez-vous téléphonique ?"
    ) in said
    # The other way round: Agnès Bertrand calls a client Agnès Fournier sold.
    said = accroche(script_of(server, fake, ids, "C14", user=SLACK_IDS[AGNES_B]))
    assert "c'est Agnès Bertrand de l'agence Rouvière. C'est Agnès Fournier qui a assuré" in said


def test_only_the_advisors_first_name_names_no_seller(
    server: str, fake: FakeSlack, ids: dict[str, int]
) -> None:
    said = accroche(script_of(server, fake, ids, "C07"))
    assert (
        "Vous avez assuré votre contrat auto chez nous il y a trois mois et c'est moi qui vais "
        "vous suivre et gérer votre dossier." in said
    )
    assert "C'est Agnès" not in said


def test_several_products_in_french(server: str, fake: FakeSlack, ids: dict[str, int]) -> None:
    leblanc = script_of(server, fake, ids, "C04")
    assert "C'est Luc qui a assuré vos contrats auto et santé et c'est moi" in accroche(leblanc)
    assert (
        "Vous êtes assurée chez nous pour vos contrats auto et santé, mais qui sont vos autres "
        "assureurs ?" in flat(leblanc)
    )
    guyot = script_of(server, fake, ids, "C05")
    assert "C'est Luc qui a assuré vos contrats RC pro et GAV" in accroche(guyot)
    assert "Vous êtes assuré chez nous pour vos contrats RC pro et GAV," in flat(guyot)


def test_two_sellers_one_of_them_the_advisor(
    server: str, fake: FakeSlack, ids: dict[str, int]
) -> None:
    said = accroche(script_of(server, fake, ids, "C06"))
    assert (
        "C'est moi qui ai assuré votre contrat santé, Luc votre contrat auto, et je vais "
        "continuer à vous suivre et à gérer votre dossier." in said
    ), said


@pytest.mark.parametrize("address", ["civilite"])
def test_the_client_addressed_as_madame_or_monsieur(
    server: str, fake: FakeSlack, ids: dict[str, int]
) -> None:
    assert "> Bonjour Madame Leblanc, c'est Agnès" in accroche(script_of(server, fake, ids, "C04"))
    assert "> Bonjour Monsieur Guyot, c'est Agnès" in accroche(script_of(server, fake, ids, "C05"))


def test_the_review_starts_from_every_contract_held(
    server: str, fake: FakeSlack, ids: dict[str, int]
) -> None:
    text = flat(script_of(server, fake, ids, "C08"))
    # The Habitation (a transfer, not new business) is held with us; the terminated Moto is not.
    assert "Vous êtes assuré chez nous pour vos contrats auto et habitation," in text
    assert "*Chez nous* (2 contrats actifs)" in text
    assert "• *Auto* (ce M+3) — n° K08 · effet le 01/09 · vendu par Luc Moreau" in text
    assert "• *Habitation* — n° K08h · effet le 10/03/2020 · vendu par Luc Moreau" in text
    assert "K08m" not in text and "Carte grise" not in text
    # Objective 2 counts the piece missing on the Habitation, not only the case's Auto.
    assert "*Objectif 2 — Contrats finalisés* (ses 2 contrats) : 1 pièce manquante" in text
    assert "manque : Bail" in text
    # No question about the home: it is insured here.
    assert "logement" not in rebounds(text)


def test_rebounds_fit_what_is_known(server: str, fake: FakeSlack, ids: dict[str, int]) -> None:
    marchand = rebounds(script_of(server, fake, ids, "C09"))
    assert "enfants" not in marchand and "retraite" not in marchand
    assert "« Votre logement, qui l'assure aujourd'hui ? »" in marchand
    assert "« Je vois que vous n'avez pas de protection juridique ou de GAV" in marchand

    perrin = rebounds(script_of(server, fake, ids, "C10"))
    assert "« Pour vos enfants, avez-vous pensé à la prévoyance ? »" in perrin
    assert "scolaire" not in perrin.split("*Le rebond")[1].split("_Manques")[0]

    petit = rebounds(script_of(server, fake, ids, "C11"))
    assert "retraite" not in petit.split("*Le rebond")[1]

    morel = rebounds(script_of(server, fake, ids, "C12")).split("*Le rebond")[1]
    assert "protection juridique" not in morel and "GAV" not in morel
    assert "« En cas d'arrêt de travail, vous savez que la couverture est limitée" in morel
    assert "« Et votre santé : en tant qu'indépendante, comment êtes-vous couverte ? »" in morel
    assert "« Et vos locaux professionnels, qui les assure ? »" in morel


def test_the_record_to_check_and_the_transition(
    server: str, fake: FakeSlack, ids: dict[str, int]
) -> None:
    text = flat(script_of(server, fake, ids, "C01"))
    assert (
        "Au dossier : agence *Rouvière*, chargé·e de clientèle *Agnès Fournier* — vérifier "
        "avec le client que ce sont les bons." in text
    )
    transition = text.index("> Tout est parfait dans votre dossier, merci.")
    assert text.index("*Objectif 2") < transition < text.index("question magique")
    assert "Client" not in text.split("\n")[1]  # one casing: « Claire Dumas »
    assert "*Claire Dumas* (Particulier)" in text


def test_another_way_to_reach_the_client(server: str, fake: FakeSlack, ids: dict[str, int]) -> None:
    view = prepare(server, fake, ids["C13"])
    text = flat(view_text(view))
    assert "Tél. 12 34 — invalide, à corriger dans Lagon" in text
    assert "zoé.c13@example.org" in text or "zoe" in text
    header = view["blocks"][0]["text"]["text"]
    assert [t.split(":")[0] for t in link_targets(header)] == ["mailto"]
    assert "à compléter : Téléphone (« 12 34 », invalide)" in text


def test_a_late_case_shows_its_last_day(server: str, fake: FakeSlack, ids: dict[str, int]) -> None:
    # Effect 15/08/2026: window 08/11–22/11, last day 15/12; today 01/12 → J-14.
    text = flat(script_of(server, fake, ids, "C15"))
    assert "Auto · à appeler avant le 15/12 · J-14 · fenêtre du 08/11 au 22/11" in text


def test_old_buttons_on_closed_cases_say_so(
    server: str, fake: FakeSlack, agency: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    # Cancelled: a later export terminates the contract.
    rows = [r for r in ROWS if r["N° client"] != "C01"]
    rows.append(
        {
            **ROWS[0],
            "Statut contrat": "Résilié",
            "Date de résiliation": "30/11/2026",
        }
    )
    ids = case_ids(agency)
    agency("import", "portfolio", str(portfolio_csv(tmp_path / "later.csv", rows)), today=TODAY)
    # Completed: all four tags OK yesterday.
    with factory.begin() as session:
        session.execute(
            update(Case)
            .where(Case.id == ids["C02"])
            .values(status="termine", completed_on=dt.date(2026, 11, 30))
        )
    answers = {}
    for client in ("C01", "C02"):
        view = prepare(server, fake, ids[client])
        assert "callback_id" not in view or view["callback_id"] != "prepare_call_view"
        answers[client] = flat(view_text(view))
    assert "Le M+3 de *Claire Dumas* est annulé" in answers["C01"]
    assert "Le M+3 de *Paul Girard* est terminé depuis le 30/11 : plus d'appel" in answers["C02"]
    assert "L'accroche" not in answers["C01"] + answers["C02"]


@pytest.mark.parametrize("today", ["2026-12-16"])
def test_an_expired_case_says_so(server: str, fake: FakeSlack, ids: dict[str, int]) -> None:
    # Effect 15/08/2026: last day 15/12/2026; the button is clicked on 16/12.
    view = prepare(server, fake, ids["C15"])
    assert (
        "Le M+3 de *Rémi Bénard* a expiré : son dernier jour était le 15/12. Plus d'appel à "
        "préparer." in flat(view_text(view))
    )


# --- Every case of the sample export ------------------------------------------------------------


@pytest.mark.parametrize("day", [dt.date(2026, 11, 24), dt.date(2026, 12, 15)])
def test_no_advisor_names_themself_as_the_seller_on_the_sample(
    loaded: M3, factory: sessionmaker[Session], day: dt.date
) -> None:
    """The sample's sellers are its staff, two of them named Agnès: on every case, an advisor
    who sold a contract says « moi », and never calls a colleague by a first name they share."""
    with factory() as session:
        cases = list_cases(session, today=day, states=(CaseState.OPEN, CaseState.LATE))
    assert len(cases) >= 20
    self_sold = 0
    for case in cases:
        text = flat(view_text(prepare_modal(case, day)))
        said = accroche(text)
        me = case.advisor_first_name
        assert f"C'est {me} qui" not in said, said
        assert f", {me} votre" not in said and f", {me} vos" not in said, said
        sold_by_me = any(
            " ".join(s.casefold().split()) == case.advisor_name.casefold() for s in case.sellers
        )
        if sold_by_me:
            self_sold += 1
            assert "C'est moi qui ai assuré" in said, said
    assert self_sold > 0, "the sample has advisors who sold their own clients' contracts"


def test_the_call_report_asks_the_same_magic_question(
    server: str, fake: FakeSlack, ids: dict[str, int]
) -> None:
    """« Compte rendu » on Karim Haddad's case, the call « joint »: objective 3 names every
    contract held with us, as the script did."""
    from tests.test_done import pick_outcome

    before = len(fake.calls_to("views.update"))
    click(server, SLACK_IDS[AGNES_F], "capture_open", ids["C08"])
    opened = wait_calls(fake, "views.update", before + 1)[-1]
    view = {**opened.params["view"], "id": opened.response["view"]["id"]}
    view = pick_outcome(server, fake, view, "joint", {}, user=SLACK_IDS[AGNES_F])
    text = flat(view_text(view))
    assert "Chez nous : Auto, Habitation" in text
    assert (
        "> Vous êtes assuré chez nous pour vos contrats auto et habitation, mais qui sont vos "
        "autres assureurs ?" in text
    )

"""People's names (`bot.names`), products in a sentence and what the export tells of a client
(`bot.calls`): pure functions, expected values written by hand."""

from __future__ import annotations

import pytest

from bot.calls import (
    ClientType,
    GapReason,
    Product,
    known_situation,
    spoken_product,
    suggest_gaps,
)
from bot.names import Civility, SellerRole, civility_of, person_name, proper_case, read_seller


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("GUYOT", "Guyot"),
        ("ÉTIENNE", "Étienne"),
        ("DUPONT-MOREAU", "Dupont-Moreau"),
        ("LE GALL", "Le Gall"),
        ("DE LA FONTAINE", "de La Fontaine"),
        ("D'ALMEIDA", "D'Almeida"),
        ("López", "López"),  # mixed case: as written
        ("McKenzie", "McKenzie"),
        ("de la Tour", "de la Tour"),
        ("jean-pierre", "Jean-Pierre"),  # typed all in lower case
        ("", ""),
    ],
)
def test_names_in_one_casing(written: str, shown: str) -> None:
    assert proper_case(written) == shown


def test_a_person_is_first_name_then_last_name() -> None:
    assert person_name("Mehdi", "GUYOT") == "Mehdi Guyot"
    assert person_name("Sophie", "López") == "Sophie López"
    assert person_name(None, "MARTIN") == "Martin"


@pytest.mark.parametrize(
    ("written", "role", "first_name", "full_name"),
    [
        ("Agnès Fournier", SellerRole.ADVISOR, "Agnès", "Agnès Fournier"),
        ("FOURNIER Agnès", SellerRole.ADVISOR, "Agnès", "Agnès Fournier"),
        ("agnes fournier", SellerRole.ADVISOR, "Agnes", "Agnes Fournier"),
        ("A. Fournier", SellerRole.ADVISOR, "A. Fournier", "A. Fournier"),
        ("Fournier", SellerRole.ADVISOR, "Fournier", "Fournier"),
        ("Agnès Bertrand", SellerRole.NAMESAKE, "Agnès", "Agnès Bertrand"),
        ("BERTRAND Agnès", SellerRole.NAMESAKE, "Agnès", "Agnès Bertrand"),
        ("Agnès", SellerRole.UNSURE, "Agnès", "Agnès"),
        ("Luc Moreau", SellerRole.COLLEAGUE, "Luc", "Luc Moreau"),
        ("MOREAU Luc", SellerRole.COLLEAGUE, "Luc", "Luc Moreau"),
        ("L. Moreau", SellerRole.COLLEAGUE, "L. Moreau", "L. Moreau"),
        ("JP Dupont", SellerRole.COLLEAGUE, "JP", "JP Dupont"),
        ("LE GALL Yann", SellerRole.COLLEAGUE, "Yann", "Yann Le Gall"),
    ],
)
def test_the_seller_read_against_the_advisor_agnes_fournier(
    written: str, role: SellerRole, first_name: str, full_name: str
) -> None:
    seller = read_seller(written, advisor_first_name="Agnès", advisor_last_name="Fournier")
    assert (seller.role, seller.first_name, seller.full_name) == (role, first_name, full_name)


def test_a_hyphenated_first_name_is_compared_whole() -> None:
    jean_pierre = {"advisor_first_name": "Jean-Pierre", "advisor_last_name": "Martin"}
    assert read_seller("JP Martin", **jean_pierre).role is SellerRole.ADVISOR
    assert read_seller("Paul Martin", **jean_pierre).role is SellerRole.COLLEAGUE
    assert read_seller("Jean Pierre MARTIN", **jean_pierre).role is SellerRole.ADVISOR
    assert read_seller("J. P. Martin", **jean_pierre).role is SellerRole.ADVISOR
    assert read_seller("Jean-Pierre Roux", **jean_pierre).role is SellerRole.NAMESAKE


@pytest.mark.parametrize(
    ("label", "civility"),
    [
        ("Mme", Civility.MADAME),
        ("Madame", Civility.MADAME),
        ("Mlle", Civility.MADAME),
        ("M.", Civility.MONSIEUR),
        ("M", Civility.MONSIEUR),
        ("Monsieur", Civility.MONSIEUR),
        ("M. et Mme", None),
        ("", None),
        (None, None),
    ],
)
def test_civility(label: str | None, civility: Civility | None) -> None:
    assert civility_of(label) is civility


@pytest.mark.parametrize(
    ("label", "spoken"),
    [
        ("Auto", "auto"),
        ("Santé", "santé"),
        ("RC pro", "RC pro"),
        ("RC professionnelle", "RC pro"),
        ("GAV", "GAV"),
        ("Épargne retraite", "épargne retraite"),
        ("Multirisque pro", "multirisque pro"),
        ("MRH", "habitation"),
        ("Flotte automobile", "flotte automobile"),
        ("Assurance emprunteur", "assurance emprunteur"),  # not a product the bot knows
        ("PER", "épargne retraite"),
    ],
)
def test_products_in_a_sentence_keep_their_acronyms(label: str, spoken: str) -> None:
    assert spoken_product(label) == spoken


def gap_products(**facts: object) -> list[Product]:
    return [g.product for g in suggest_gaps(known_situation(**facts))]  # type: ignore[arg-type]


def test_nothing_in_the_export_tells_of_children_or_wealth() -> None:
    # A married employee with a car: the home, legal protection and accident cover; no
    # Scolaire, no Prévoyance for children, no Épargne retraite.
    assert gap_products(
        client_type=ClientType.PERSON, professional_status="Salarié", held=[Product.AUTO]
    ) == [Product.HOME, Product.LEGAL_PROTECTION, Product.ACCIDENT]


def test_a_school_contract_tells_of_children() -> None:
    situation = known_situation(
        client_type=ClientType.PERSON, professional_status=None, held=[Product.SCHOOL]
    )
    assert situation.has_children is True
    gaps = suggest_gaps(situation)
    assert (Product.PERSONAL_PROTECTION, (GapReason.CHILDREN,)) in [
        (g.product, g.reasons) for g in gaps
    ]
    assert Product.SCHOOL not in [g.product for g in gaps]


def test_every_product_held_removes_its_suggestion() -> None:
    # A TNS holding every cover the table would suggest: nothing left to suggest.
    assert (
        gap_products(
            client_type=ClientType.PROFESSIONAL,
            professional_status="TNS",
            held=[
                Product.AUTO,
                Product.HOME,
                Product.BUSINESS_MULTIRISK,
                Product.HEALTH,
                Product.PERSONAL_PROTECTION,
                Product.LEGAL_PROTECTION,
                Product.ACCIDENT,
            ],
        )
        == []
    )


def test_a_commercial_lease_tells_of_premises() -> None:
    situation = known_situation(
        client_type=ClientType.COMPANY,
        professional_status=None,
        held=[Product.FLEET],
        missing_pieces=["Bail commercial"],
    )
    assert (situation.has_premises, situation.has_vehicle) == (True, True)

"""How a client is found from what an advisor types after `/m3 done`, `/m3 carte`,
`/m3 status`: `bot.call_reports.matching`."""

from __future__ import annotations

from bot.call_reports import matching

CLIENTS = [
    ("C-1042", "Hélène Lefèvre"),
    ("C-104", "Marc Durand"),
    ("C-2001", "SARL Durand & fils"),
    ("C-3000", "Zoé Martin"),
]


def found(query: str) -> list[str]:
    return [
        number for number, _ in matching(CLIENTS, query, number=lambda c: c[0], name=lambda c: c[1])
    ]


def test_a_client_number_typed_whole_is_that_client_only() -> None:
    assert found("C-104") == ["C-104"]  # not C-1042, which contains it
    assert found(" c-104 ") == ["C-104"]  # case and spaces around ignored


def test_part_of_a_name_finds_every_client_it_is_in_accents_and_case_ignored() -> None:
    assert found("durand") == ["C-104", "C-2001"]
    assert found("LEFEVRE") == ["C-1042"]
    assert found("hélène") == ["C-1042"]


def test_part_of_a_number_finds_the_numbers_it_is_in() -> None:
    assert found("c-10") == ["C-1042", "C-104"]


def test_blank_is_every_client_and_nothing_matching_is_none() -> None:
    assert found("  ") == ["C-1042", "C-104", "C-2001", "C-3000"]
    assert found("Dupont") == []

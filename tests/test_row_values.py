"""The values of a portfolio row, through the real `m3 import portfolio` on SQLite and
PostgreSQL: workbook cells that are not text, amounts and headcounts as French exports write
them, advisors who share a name, invisible characters in keys, and the length of the reasons
that quote the file."""

from __future__ import annotations

import codecs
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.crm.rows import _normalize_phone, normalize_phone
from bot.crm.vocabulary import is_new_business
from bot.models import Advisor, Client, Contract, RejectedRow
from tests.conftest import M3
from tests.exports import (
    ADVISORS_HEADER,
    ALICE,
    BRUNO,
    CLARA,
    PORTFOLIO_HEADER,
    advisors_csv,
    contract,
    ok,
    portfolio_csv,
    write_csv,
)


def import_json(m3: M3, path: Path) -> tuple[int, dict[str, Any]]:
    code, summary = m3.json("import", "portfolio", str(path))
    assert "error" not in summary, summary
    return code, summary


def reasons(entries: list[dict[str, Any]]) -> dict[int, list[str]]:
    by_line: dict[int, list[str]] = {}
    for entry in entries:
        by_line.setdefault(entry["line"], []).append(entry["reason"])
    return by_line


def clients(session: Session) -> dict[str, Client]:
    return {c.number: c for c in session.scalars(select(Client))}


# --- Workbook cells that are not text --------------------------------------------------------


def workbook(path: Path, rows: list[dict[str, Any]]) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(PORTFOLIO_HEADER)
    for row in rows:
        sheet.append([row.get(name) for name in PORTFOLIO_HEADER])
    book.save(path)
    return path


def test_workbook_cells_that_are_not_text(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    day = dt.datetime(2026, 1, 5)
    rows: list[dict[str, Any]] = [
        {**contract("400001", "W1", "01/10/2026"), "Nom": day},
        {**contract("400002", "W2", "01/10/2026"), "Téléphone": day},
        {**contract("400003", "W3", "01/10/2026"), "N° client": day},
        {**contract("400004", "W4", "01/10/2026"), "Chargé de clientèle": day},
        {**contract("400005", "W5", "01/10/2026"), "Code postal": dt.time(10)},
        {**contract("400006", "W6", "01/10/2026"), "Vendeur": True},
        {**contract("400008", "W8", "01/10/2026"), "Nom": dt.timedelta(days=3, hours=4.5)},
        # Twenty-one digits in a number cell: a spreadsheet kept fifteen at most.
        {**contract("400009", "W9", "01/10/2026"), "N° contrat": 1.5e20},
        # Sixteen, which the file writes without an exponent (read as an int).
        {**contract("400010", "W10", "01/10/2026"), "N° contrat": 1234567890123456},
        # Numbers a spreadsheet made of text: read as French text.
        {
            **contract("400007", "W7", "01/10/2026"),
            "N° client": 400007,
            "Date d'effet": dt.datetime(2026, 10, 1),
            "Code postal": 1000,
            "SIRET": 5208108000014,  # 05208108000014: thirteen digits left in a number cell
            "Téléphone": 612345678,
            "Chiffre d'affaires": 12.345,  # a number cell: no separator to misread
            "Effectif": 12.0,
            "DP signées": True,
            "Nom": 12.5,
        },
    ]
    code, summary = import_json(m3, workbook(tmp_path / "export.xlsx", rows))
    assert code == 1
    assert reasons(summary["rejected"]) == {
        2: ["date « 05/01/2026 » au lieu d'un texte dans la colonne « Nom » : " + FIX],
        3: ["date « 05/01/2026 » au lieu d'un texte dans la colonne « Téléphone » : " + FIX],
        4: ["date « 05/01/2026 » au lieu d'un texte dans la colonne « N° client » : " + FIX],
        5: [
            "date « 05/01/2026 » au lieu d'un texte dans la colonne « Chargé de clientèle » : "
            + FIX
        ],
        6: ["heure « 10:00 » au lieu d'un texte dans la colonne « Code postal » : " + FIX],
        7: ["valeur oui/non « VRAI » au lieu d'un texte dans la colonne « Vendeur » : " + FIX],
        8: ["durée « 3 j 04:30:00 » au lieu d'un texte dans la colonne « Nom » : " + FIX],
        9: [
            "nombre « 150000000000000000000 » de plus de 15 chiffres dans la colonne "
            "« N° contrat » : un tableur n'en garde que 15, les suivants sont perdus ; saisissez "
            "la valeur comme texte (" + FIX + ")"
        ],
        10: [
            "nombre « 1234567890123456 » de plus de 15 chiffres dans la colonne "
            "« N° contrat » : un tableur n'en garde que 15, les suivants sont perdus ; saisissez "
            "la valeur comme texte (" + FIX + ")"
        ],
    }
    assert summary["to_fix"] == []
    with factory() as session:
        client = clients(session)["400007"]
        assert client.postal_code == "01000"  # French postal codes have five digits
        assert client.siret == "05208108000014"  # a SIRET has fourteen
        assert client.phone == "+33612345678"
        assert client.revenue == Decimal("12.35")
        assert client.headcount == 12
        assert client.last_name == "12,5"
        assert session.scalars(select(Contract.dp_signed)).one() is True
        assert session.scalars(select(Contract.effect_date)).one() == dt.date(2026, 10, 1)


FIX = "cellule du classeur à corriger"


# --- Amounts and headcounts ------------------------------------------------------------------

# Written as in the export → stored (None: not stored), flagged.
REVENUES = [
    ("1 234,56", Decimal("1234.56"), None),
    ("1\u00a0234,56 €", Decimal("1234.56"), None),
    ("1234,56", Decimal("1234.56"), None),
    ("1.234,56", Decimal("1234.56"), None),
    ("1.250.000", Decimal("1250000.00"), None),
    ("1250000.00", Decimal("1250000.00"), None),  # a spreadsheet's decimal point
    ("0,005", Decimal("0.01"), None),  # to the cent, half away from zero
    ("1 234,564", Decimal("1234.56"), None),
    ("1,234.56", None, "chiffre d'affaires : montant ambigu « 1,234.56 »"),
    ("1.234", None, "chiffre d'affaires : montant ambigu « 1.234 »"),
    ("12,345", Decimal("12.35"), None),  # a decimal comma, to the cent
    ("1,2,3", None, "chiffre d'affaires : montant ambigu « 1,2,3 »"),
    ("1e3", None, "chiffre d'affaires : montant invalide « 1e3 »"),
    ("-500", None, "chiffre d'affaires négatif « -500 »"),
    # The largest amount kept, to the cent on both databases; past it, flagged.
    ("9 999 999 999 999,99", Decimal("9999999999999.99"), None),
    (
        "95 000 000 000 000,01",
        None,
        "chiffre d'affaires : montant trop grand « 95 000 000 000 000,01 »",
    ),
]
HEADCOUNTS = [
    ("27", 27, None),
    ("2 000", 2000, None),
    ("1.000", None, "effectif : nombre ambigu « 1.000 »"),
    ("1,500", None, "effectif : nombre non entier « 1,500 »"),
    ("12,7", None, "effectif : nombre non entier « 12,7 »"),
    ("-3", None, "effectif négatif « -3 »"),
]


def test_amounts_and_headcounts_as_french_exports_write_them(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [
        contract(f"5000{i:02}", f"R{i}", "01/10/2026", **{"Chiffre d'affaires": written})
        for i, (written, _, _) in enumerate(REVENUES)
    ] + [
        contract(f"6000{i:02}", f"H{i}", "01/10/2026", **{"Effectif": written})
        for i, (written, _, _) in enumerate(HEADCOUNTS)
    ]
    path = portfolio_csv(tmp_path / "amounts.csv", rows)
    code, summary = import_json(m3, path)
    assert code == 0 and summary["rejected"] == []
    flags = reasons(summary["to_fix"])
    expected_flags: dict[int, list[str]] = {}
    for line, (_, _, flag) in enumerate([*REVENUES, *HEADCOUNTS], start=2):
        if flag is not None:
            expected_flags[line] = [flag]
    assert {line: [r.split(" (")[0].removesuffix(" : à corriger dans Lagon") for r in found]
            for line, found in flags.items()} == expected_flags  # fmt: skip
    assert all(r.endswith(" : à corriger dans Lagon") for found in flags.values() for r in found)
    with factory() as session:
        stored = clients(session)
        for i, (written, revenue, _) in enumerate(REVENUES):
            assert stored[f"5000{i:02}"].revenue == revenue, written
        for i, (written, headcount, _) in enumerate(HEADCOUNTS):
            assert stored[f"6000{i:02}"].headcount == headcount, written


def test_the_sample_exports_amounts_are_all_read(m3: M3, sample_dir: Path) -> None:
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    for name in ("portfolio.csv", "portfolio-dirty.csv"):
        _, summary = m3.json("import", "portfolio", str(sample_dir / name))
        wrong = [
            r
            for r in summary["to_fix"]
            if r["reason"].startswith(("chiffre d'affaires", "effectif"))
        ]
        assert wrong == [], name


# --- Numbers written with other forms of their characters ------------------------------------


def test_a_number_in_full_width_characters_is_the_same_number(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """« ８２０００１ » (full-width digits, as some keyboards type them) is client 820001:
    one client, its numbers stored in their plain form."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [
        contract("820001", "F1", "01/10/2026"),
        contract("\uff18\uff12\uff10\uff10\uff10\uff11", "\uff26\uff12", "01/10/2026"),
    ]
    path = portfolio_csv(tmp_path / "wide.csv", rows, encoding="utf-8")
    code, summary = import_json(m3, path)
    assert code == 0 and summary["rejected"] == [] and summary["created"] == 2
    with factory() as session:
        assert list(clients(session)) == ["820001"]
        numbers = session.scalars(select(Contract.number).order_by(Contract.number)).all()
        assert numbers == ["F1", "F2"]


# --- A character lost before the export ------------------------------------------------------


def test_a_character_lost_before_the_export_is_flagged_and_the_row_kept(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """« \ufffd » is what a program writes for a character it could not read: the text was
    damaged before the file reached the bot. The row is imported as written, and flagged at
    every import, for each column the import reads (« Remarque » is not one)."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [
        contract("810001", "L1", "01/10/2026", Nom="Leb\ufffduf", Ville="Saint-\ufffdtienne"),
        contract("810002", "L2", "01/10/2026"),
    ]
    cells = [[row.get(name, "") for name in PORTFOLIO_HEADER] for row in rows]
    cells[0].append("vu \ufffd l'agence")
    cells[1].append("rien \ufffd signaler")
    path = write_csv(
        tmp_path / "lost.csv", [*PORTFOLIO_HEADER, "Remarque"], cells, encoding="utf-8"
    )
    expected = {
        2: [
            "caractère illisible (« \ufffd ») dans la colonne « Nom » « Leb\ufffduf » : "
            "texte abîmé avant l'export, à corriger dans Lagon",
            "caractère illisible (« \ufffd ») dans la colonne « Ville » « Saint-\ufffdtienne » : "
            "texte abîmé avant l'export, à corriger dans Lagon",
        ]
    }
    for _ in range(2):  # the second import skips the row, known, and reports it again
        code, summary = import_json(m3, path)
        assert code == 0 and summary["rejected"] == []
        assert reasons(summary["to_fix"]) == expected
    with factory() as session:
        stored = clients(session)
        assert stored["810001"].last_name == "Leb\ufffduf"
        assert stored["810001"].city == "Saint-\ufffdtienne"
        assert stored["810002"].last_name == "Client810002"

    # A workbook's text cell, the same.
    book = workbook(
        tmp_path / "lost.xlsx", [contract("810003", "L3", "01/10/2026", Nom="Leb\ufffduf")]
    )
    code, summary = import_json(m3, book)
    assert code == 0 and summary["rejected"] == []
    assert reasons(summary["to_fix"]) == {2: [expected[2][0]]}


# --- What a spreadsheet leaves in an export ---------------------------------------------------


def test_a_formula_error_rejects_its_row_only_in_a_column_the_import_reads(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """A workbook's error cell (« #N/A » where a formula could not be computed) rejects its
    row, naming the column; in a column the import does not read, it is left alone."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([*PORTFOLIO_HEADER, "Remarque"])
    rows = [
        (contract("830001", "E1", "01/10/2026", Nom="#N/A"), None),
        (contract("830002", "E2", "01/10/2026"), "#REF!"),
    ]
    for row, remark in rows:
        sheet.append([*(row.get(name) for name in PORTFOLIO_HEADER), remark])
    assert sheet["D2"].data_type == "e"  # an error cell, as Excel writes one
    book.save(tmp_path / "errors.xlsx")
    code, summary = import_json(m3, tmp_path / "errors.xlsx")
    assert code == 1
    assert reasons(summary["rejected"]) == {
        2: [
            "erreur de formule « #N/A » dans la colonne « Nom » : le tableur n'a pas pu "
            "calculer la valeur ; corrigez la formule ou exportez à nouveau depuis Lagon"
        ]
    }
    with factory() as session:
        assert list(clients(session)) == ["830002"]


# --- Advisors who share a name ---------------------------------------------------------------

JULIE_CORNICHE = "julie.laurent@cabinet-test.example.fr"
JULIE_ROUVIERE = "julie.laurent2@cabinet-test.example.fr"


def staff_with_namesakes(path: Path, *, both: bool = True) -> Path:
    rows = [
        [ALICE, "Alice", "Martin", "06 11 22 33 44", "Corniche", "Conseiller"],
        [JULIE_ROUVIERE, "Julie", "Laurent", "", "Rouvière", "Conseiller"],
    ]
    if both:
        rows.insert(1, [JULIE_CORNICHE, "Julie", "Laurent", "", "Corniche", "Conseiller"])
    return write_csv(path, ADVISORS_HEADER, rows)


def advisor_of(session: Session, number: str) -> str:
    client = session.scalars(select(Client).where(Client.number == number)).one()
    return session.get_one(Advisor, client.advisor_id).email


def test_a_shared_name_is_settled_by_the_branch_or_rejected(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok(m3, "import", "advisors", str(staff_with_namesakes(tmp_path / "staff.csv")))
    rows = [
        contract("700001", "J1", "01/10/2026", "Julie Laurent", **{"Agence": "Rouvière"}),
        contract("700002", "J2", "01/10/2026", "julie LAURENT", **{"Agence": "corniche"}),
        contract("700003", "J3", "01/10/2026", "Julie Laurent", **{"Agence": ""}),
        contract("700004", "J4", "01/10/2026", "Julie Laurent", **{"Agence": "Vieux-Port"}),
        contract("700005", "J5", "01/10/2026", JULIE_CORNICHE, **{"Agence": "Rouvière"}),
        contract("700006", "J6", "01/10/2026", "Alice Martin", **{"Agence": "Rouvière"}),
    ]
    code, summary = import_json(m3, portfolio_csv(tmp_path / "export.csv", rows))
    assert code == 1
    ambiguous = (
        "conseiller ambigu : plusieurs conseillers s'appellent « Julie Laurent » ; "
        "indiquez son e-mail"
    )
    assert reasons(summary["rejected"]) == {4: [ambiguous], 5: [ambiguous]}
    with factory() as session:
        assert advisor_of(session, "700001") == JULIE_ROUVIERE
        assert advisor_of(session, "700002") == JULIE_CORNICHE
        assert advisor_of(session, "700005") == JULIE_CORNICHE  # an e-mail is one person
        assert advisor_of(session, "700006") == ALICE

    # Julie of Corniche leaves: her name now means the Julie still here, and the rows
    # already imported are read again (their advisor depended on who shares the name).
    ok(m3, "import", "advisors", str(staff_with_namesakes(tmp_path / "left.csv", both=False)))
    code, summary = import_json(m3, portfolio_csv(tmp_path / "export.csv", rows))
    assert code == 0, summary["rejected"]
    with factory() as session:
        for number in ("700001", "700002", "700003", "700004"):
            assert advisor_of(session, number) == JULIE_ROUVIERE
        assert advisor_of(session, "700005") == JULIE_CORNICHE


def test_an_advisor_written_last_name_first_is_found(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """« MARTIN Alice », as many CRMs list people, is Alice Martin; a name two advisors answer
    to once the order is free (Paul Martin and Martin Paul) is settled as namesakes are: by
    the row's branch, else the row is rejected rather than given to either."""
    staff = [
        [ALICE, "Alice", "Martin", "", "Corniche", "Conseiller"],
        [BRUNO, "Paul", "Martin", "", "Corniche", "Conseiller"],
        [CLARA, "Martin", "Paul", "", "Rouvière", "Conseiller"],
    ]
    ok(m3, "import", "advisors", str(write_csv(tmp_path / "staff.csv", ADVISORS_HEADER, staff)))
    rows = [
        contract("710001", "N1", "01/10/2026", "MARTIN Alice"),
        contract("710002", "N2", "01/10/2026", "Alice Martin"),
        contract("710003", "N3", "01/10/2026", "Martin Paul", **{"Agence": "Rouvière"}),
        contract("710004", "N4", "01/10/2026", "Martin Paul", **{"Agence": "Vieux-Port"}),
    ]
    code, summary = import_json(m3, portfolio_csv(tmp_path / "export.csv", rows))
    assert code == 1
    assert reasons(summary["rejected"]) == {
        5: [
            "conseiller ambigu : plusieurs conseillers s'appellent « Martin Paul » ; "
            "indiquez son e-mail"
        ]
    }
    with factory() as session:
        assert advisor_of(session, "710001") == ALICE
        assert advisor_of(session, "710002") == ALICE
        assert advisor_of(session, "710003") == CLARA


# --- Invisible characters --------------------------------------------------------------------


def test_format_characters_are_removed_from_every_cell(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [
        contract("800001", "Z1", "01/10/2026", **{"Nom": "Dupont"}),
        contract("\ufeff800001", "Z2", "01/10/2026", **{"Nom": "Du\u200bpont"}),
        contract(
            "800001\u200b",
            "Z3\u2060",
            "01/10/2026",
            "\u200d" + ALICE,
            **{
                "Nom": "Dupont\u200c",
                "E-mail": "zoe\u200b.dupont@example.org",
                "Téléphone": "06\u200b12 34 56 78",
            },
        ),
    ]
    path = portfolio_csv(tmp_path / "export.csv", rows, encoding="utf-8")
    code, summary = import_json(m3, path)
    assert code == 0, summary["rejected"]
    assert summary["to_fix"] == []
    with factory() as session:
        client = clients(session)
        assert list(client) == ["800001"]
        assert client["800001"].last_name == "Dupont"
        assert client["800001"].email == "zoe.dupont@example.org"
        assert client["800001"].phone == "+33612345678"
        numbers = sorted(session.scalars(select(Contract.number)))
        assert numbers == ["Z1", "Z2", "Z3"]


@pytest.mark.parametrize("space", ["\u202f", "\u3000", "\u2002", "\u00a0"])
def test_every_kind_of_space_in_a_cell_is_a_space(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session], space: str
) -> None:
    """A narrow no-break space (French typography), an ideographic or an en space in a value
    is stored as a plain space, as the no-break space is: `Le Goff` is found as typed."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    row = contract("800002", "Z4", "01/10/2026", Nom=f"Le{space}Goff", Ville=f"Aix{space}")
    path = portfolio_csv(tmp_path / "export.csv", [row], encoding="utf-8")
    assert import_json(m3, path)[0] == 0
    with factory() as session:
        client = clients(session)["800002"]
        assert (client.last_name, client.city) == ("Le Goff", "Aix")


# --- Reasons quoting the file ----------------------------------------------------------------


def test_a_reason_quotes_a_long_value_shortened(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    long = "x" * 940 + "FIN"
    shown = "« " + "x" * 60 + "… »"
    rows = [
        contract("900001", "L1", "01/10/2026"),
        contract("900002", "L2", "01/10/2026", long),
        contract("900003", "L3", "01/10/2026", **{"Type client": long}),
        contract("900004", "L4", "01/10/2026", status=long),
        contract("900005", "L5", long),
        contract("900006", "L6", "01/10/2026", **{"Téléphone": "0" * 20}),
    ]
    code, summary = import_json(m3, portfolio_csv(tmp_path / "export.csv", rows))
    assert code == 1
    rejected = reasons(summary["rejected"])
    assert rejected == {
        3: [f"conseiller inconnu {shown} : importez d'abord la liste des conseillers "
            "(m3 import advisors)"],
        4: [f"type de client inconnu {shown} (attendu Particulier, Professionnel ou "
            "Entreprise)"],
        5: [f"statut de contrat inconnu {shown} (attendu Actif, Résilié ou Suspendu)"],
        6: [f"date d'effet invalide {shown} (attendu JJ/MM/AAAA)"],
    }  # fmt: skip
    assert reasons(summary["to_fix"]) == {
        7: ["téléphone invalide « 00000000000000000000 » : à corriger dans Lagon"]
    }
    with factory() as session:
        stored = {r.line: r.reason for r in session.scalars(select(RejectedRow))}
        assert stored == {line: found[0] for line, found in rejected.items()}


# --- Phones one digit short --------------------------------------------------------------------

# A French number one digit short keeps its trunk zero in `phonenumbers` (`+33061234567`), a
# length that is possible: it must be flagged, not stored as a wrong number.
SHORT_PHONES = ["06 12 34 56 7", "061234567", "04 91 00 00 0", "+33 0 12 34 56 78"]

# Written as in the export → E.164, as before the leading-zero check.
GOOD_PHONES = [
    ("06 12 34 56 78", "+33612345678"),
    ("04 91 00 00 00", "+33491000000"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("612345678", "+33612345678"),  # a mobile whose leading zero a spreadsheet ate
    ("+39 06 1234 5678", "+390612345678"),  # Italy dials the zero from abroad
    ("+32 2 123 45 67", "+3221234567"),
    ("+32 470 12 34 56", "+32470123456"),
]


@pytest.mark.parametrize("text", SHORT_PHONES)
def test_a_phone_one_digit_short_is_invalid(text: str) -> None:
    assert normalize_phone(text) is None
    assert _normalize_phone.__wrapped__(text) is None


@pytest.mark.parametrize(("text", "expected"), GOOD_PHONES)
def test_a_well_formed_phone_is_normalised(text: str, expected: str) -> None:
    assert normalize_phone(text) == expected
    assert _normalize_phone.__wrapped__(text) == expected  # the library path, not a shortcut


def test_a_phone_one_digit_short_is_kept_as_written_and_flagged(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [
        contract(f"95000{i}", f"P{i}", "01/10/2026", **{"Téléphone": text})
        for i, text in enumerate(SHORT_PHONES[:3])
    ]
    code, summary = import_json(m3, portfolio_csv(tmp_path / "export.csv", rows))
    assert code == 0, summary["rejected"]
    assert reasons(summary["to_fix"]) == {
        line: [f"téléphone invalide « {text} » : à corriger dans Lagon"]
        for line, text in enumerate(SHORT_PHONES[:3], start=2)
    }
    with factory() as session:
        client = clients(session)
        for i, text in enumerate(SHORT_PHONES[:3]):
            assert (client[f"95000{i}"].phone, client[f"95000{i}"].phone_invalid) == (text, True)


# --- Dates, statuses, DP -----------------------------------------------------------------------


def test_a_date_names_its_column_and_an_iso_time_is_read(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [
        contract("910001", "D1", "2026-10-01T00:00:00"),
        contract("910002", "D2", "2026-10-01T08:30:00Z"),
        contract("910003", "D3", "bientôt"),
        contract("910004", "D4", "01/10/2026", **{"Date de résiliation": "31/02/2027"}),
        # A time after the date is read, as machines write it; a second date, or a word
        # without a time, is not one date.
        contract("910005", "D5", "01/10/2026 14:30"),
        contract("910006", "D6", "01/10/2026 ou 02/10/2026"),
        contract("910007", "D7", "01/10/2026", **{"Date de résiliation": "31/12/2026 (prévue)"}),
    ]
    code, summary = import_json(m3, portfolio_csv(tmp_path / "export.csv", rows))
    assert code == 1
    assert reasons(summary["rejected"]) == {
        4: ["date d'effet invalide « bientôt » (attendu JJ/MM/AAAA)"],
        5: ["date de résiliation invalide « 31/02/2027 » (attendu JJ/MM/AAAA)"],
        7: ["date d'effet invalide « 01/10/2026 ou 02/10/2026 » (attendu JJ/MM/AAAA)"],
        8: ["date de résiliation invalide « 31/12/2026 (prévue) » (attendu JJ/MM/AAAA)"],
    }
    with factory() as session:
        effects = dict(session.execute(select(Contract.number, Contract.effect_date)).all())
    day = dt.date(2026, 10, 1)
    assert effects == {"D1": day, "D2": day, "D5": day}


@pytest.mark.parametrize(
    "written",
    [
        "01/10/2026 14h30",
        "01/10/2026 à 14:30",
        "2026-10-01 00:00:00 +0100",
        "2026-10-01 00:00:00 UTC",
        "01/10/2026 12:00:00 AM",
        "01/10/2026 00:00:00 CET",
        "2026-10-01T00:00:00+01:00[Europe/Paris]",
        "2026-10-01T12:00:00.0-05:00",  # (« 00.0-05 » is no second date)
    ],
)
def test_a_date_with_a_time_as_machines_write_it_is_read(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session], written: str
) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [contract("910101", "E1", written)]
    code, summary = import_json(m3, portfolio_csv(tmp_path / "export.csv", rows))
    assert (code, summary["rejected"]) == (0, [])
    with factory() as session:
        assert session.scalar(select(Contract.effect_date)) == dt.date(2026, 10, 1)


def test_an_iso_date_with_a_time_then_a_second_date_is_rejected(m3: M3, tmp_path: Path) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [contract("910201", "F1", "2026-10-01T10:00 ou 2026-10-02")]
    code, summary = import_json(m3, portfolio_csv(tmp_path / "export.csv", rows))
    assert code == 1
    assert reasons(summary["rejected"]) == {
        2: ["date d'effet invalide « 2026-10-01T10:00 ou 2026-10-02 » (attendu JJ/MM/AAAA)"]
    }


def test_an_active_contract_whose_termination_passed_reads_as_terminated(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """« Actif » with a termination date before the import's day (2026-11-23): the contract
    ended then, opens no M+3, and the CRM is to be corrected (at every import, as a bad phone
    is); with a termination date still to come it stays active."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [
        contract("920001", "T1", "01/10/2026", **{"Date de résiliation": "20/11/2026"}),
        contract("920002", "T2", "01/10/2026", **{"Date de résiliation": "20/12/2026"}),
    ]
    path = portfolio_csv(tmp_path / "export.csv", rows)
    flag = "contrat « Actif » résilié le 20/11/2026 : lu comme résilié, à corriger dans Lagon"
    for _ in range(2):
        code, summary = import_json(m3, path)
        assert code == 0
        assert reasons(summary["to_fix"]) == {2: [flag]}
    assert summary["cases"]["opened"] == 0
    with factory() as session:
        statuses = dict(session.execute(select(Contract.number, Contract.status)).all())
        cases = {c.client.number for c in session.scalars(select(Contract)) if c.case_id}
    assert statuses == {"T1": "Résilié", "T2": "Actif"}
    assert cases == {"920002"}


def test_an_unreadable_dp_is_to_be_corrected_in_the_crm(m3: M3, tmp_path: Path) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [contract("930001", "P1", "01/10/2026", **{"DP signées": "peut-être"})]
    code, summary = import_json(m3, portfolio_csv(tmp_path / "export.csv", rows))
    assert code == 0
    assert reasons(summary["to_fix"]) == {
        2: ["DP signées : valeur oui/non invalide « peut-être » : à corriger dans Lagon"]
    }


# --- A note beside a workbook's table ---------------------------------------------------------


def test_a_note_beside_a_workbook_table_is_not_a_column(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    path = workbook(tmp_path / "export.xlsx", [contract("950001", "X1", "01/10/2026")])
    book = openpyxl.load_workbook(path)
    book.active.cell(row=2, column=len(PORTFOLIO_HEADER) + 2, value="à rappeler")
    book.save(path)
    code, summary = import_json(m3, path)
    assert (code, summary["created"], summary["rejected"]) == (0, 1, [])
    with factory() as session:
        assert session.scalars(select(Contract.number)).all() == ["X1"]


# --- Origins that say AN -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "new_business"),
    [
        ("AN", True),
        ("A.N.", True),
        ("Affaire nouvelle", True),
        ("AN - Affaire nouvelle", True),
        ("Affaire Nouvelle (AN)", True),
        ("Affaires nouvelles", True),
        ("Nouvelle affaire", True),
        ("Aff. nouvelle", True),
        ("Avenant", False),
        ("Transfert", False),
        ("Remplacement", False),
        ("Remplacement AN", False),  # replaces a contract: not new business
        ("Non AN", False),
        ("Nouvelle", False),
        ("Affaire", False),
        ("", False),
    ],
)
def test_an_origin_says_an_however_it_is_spelt(origin: str, new_business: bool) -> None:
    assert is_new_business(origin) is new_business


def test_an_origin_spelt_out_opens_its_m3(m3: M3, tmp_path: Path) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [
        contract("960001", "O1", "01/10/2026", origin="AN - Affaire nouvelle"),
        contract("960002", "O2", "01/10/2026", origin="Affaires nouvelles"),
        contract("960003", "O3", "01/10/2026", origin="Avenant"),
    ]
    code, summary = import_json(m3, portfolio_csv(tmp_path / "export.csv", rows))
    assert (code, summary["created"], summary["cases"]["opened"]) == (0, 3, 2)


def test_the_header_repeated_inside_the_file_is_skipped(m3: M3, tmp_path: Path) -> None:
    """An export made of several pages repeats its header line: skipped like a blank line,
    neither counted nor rejected."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    rows = [contract(f"97000{i}", f"H{i}", "01/10/2026") for i in range(4)]
    path = portfolio_csv(tmp_path / "export.csv", rows)
    header, *lines = path.read_bytes().split(b"\r\n")
    path.write_bytes(b"\r\n".join([header, *lines[:2], b" " + header, *lines[2:]]))
    code, summary = import_json(m3, path)
    assert (code, summary["rows"], summary["created"], summary["rejected"]) == (0, 4, 4, [])


def test_two_exports_joined_end_to_end_read_as_one(m3: M3, tmp_path: Path) -> None:
    """Two UTF-8 exports joined end to end (`cat`): the second one's header, after its byte
    order mark, is the header again, skipped."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    first, second = (
        portfolio_csv(
            tmp_path / f"part{part}.csv",
            [contract(f"97100{part}{i}", f"J{part}{i}", "01/10/2026") for i in range(3)],
            encoding="utf-8-sig",
        ).read_bytes()
        for part in (1, 2)
    )
    assert second.startswith(codecs.BOM_UTF8)
    path = tmp_path / "export.csv"
    path.write_bytes(first + second)
    code, summary = import_json(m3, path)
    assert (code, summary["rows"], summary["created"], summary["rejected"]) == (0, 6, 6, [])

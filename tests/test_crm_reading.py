"""Reading the CRM exports through `m3 import portfolio`: header names, encodings, separators,
workbooks, and files that cannot be read; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import M3
from tests.exports import (
    PORTFOLIO_HEADER,
    advisors_csv,
    contract,
    ok,
    ok_json,
    portfolio_csv,
    read_csv,
    write_csv,
    write_edited_xlsx,
)

# --- The number prefix of a header -------------------------------------------------------------

# Every way an export writes the client and contract numbers' headers; `N° client` and
# `N° contrat` are the sample's.
NUMBER_HEADERS = [
    ("N° client", "N° contrat"),
    ("N° de client", "N° de contrat"),
    ("No client", "No contrat"),
    ("No de client", "No de contrat"),
    ("No. client", "No. contrat"),
    ("Nº client", "Nº contrat"),
    ("Num client", "Num contrat"),
    ("Num de client", "Num de contrat"),
    ("Numéro client", "Numéro contrat"),
    ("Numéro de client", "Numéro de contrat"),
    ("Numero client", "Numero contrat"),
    ("Numero de client", "Numero de contrat"),
    ("NUMERO_CLIENT", "NUMERO_CONTRAT"),
    ("numéro-de-client", "numéro-de-contrat"),
]


@pytest.mark.parametrize(("client_header", "contract_header"), NUMBER_HEADERS)
def test_number_headers_are_read_with_every_prefix(
    m3: M3, tmp_path: Path, client_header: str, contract_header: str
) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    renamed = [
        {"N° client": client_header, "N° contrat": contract_header}.get(name, name)
        for name in PORTFOLIO_HEADER
    ]
    # Effect 28/10/2026: due 28/01/2027, window 21/01–04/02/2027 (upcoming on 23/11/2026).
    rows = [contract("C7001", "K7001", "28/10/2026"), contract("C7002", "K7002", "28/10/2026")]
    path = portfolio_csv(tmp_path / "export.csv", rows, header=renamed)
    summary = ok_json(m3, "import", "portfolio", str(path))
    assert (summary["created"], summary["rejected"]) == (2, [])
    listed = ok_json(m3, "cases", "--all")
    assert {(c["client_number"], tuple(c["contract_numbers"])) for c in listed} == {
        ("C7001", ("K7001",)),
        ("C7002", ("K7002",)),
    }
    assert {c["due_date"] for c in listed} == {"2027-01-28"}


def test_nom_is_not_mistaken_for_a_number(m3: M3, tmp_path: Path) -> None:
    """`Nom` starts like `No`: the last name still lands in the last name."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    path = portfolio_csv(tmp_path / "e.csv", [contract("C1", "K1", "28/10/2026", Nom="Ménard")])
    ok_json(m3, "import", "portfolio", str(path))
    (case,) = ok_json(m3, "cases", "--all")
    assert case["client_name"] == "Zoé Ménard"


@pytest.mark.parametrize("invisible", ["\u200b", "\u00ad", "\u200e", "\ufeff"])
def test_an_invisible_character_in_a_header_name_is_ignored(
    m3: M3, tmp_path: Path, invisible: str
) -> None:
    """A zero-width space, a soft hyphen, a direction mark or a BOM left in a header name by a
    spreadsheet: `Nom` is still the last name (its column was dropped without a word)."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    header = [f"{invisible}Nom" if name == "Nom" else name for name in PORTFOLIO_HEADER]
    rows = [contract("C1", "K1", "28/10/2026", Nom="Ménard")]
    path = portfolio_csv(tmp_path / "e.csv", rows, header=header, encoding="utf-8-sig")
    ok_json(m3, "import", "portfolio", str(path))
    (case,) = ok_json(m3, "cases", "--all")
    assert case["client_name"] == "Zoé Ménard"


# --- Header names, encodings and separators on the sample export -----------------------------

VARIANT_HEADERS = {
    "N° client": "Code client",
    "Type client": "Nature client",
    "Téléphone": "Tel portable",
    "E-mail": "Courriel",
    "Chargé de clientèle": "GESTIONNAIRE",
    "N° contrat": "Numéro de contrat",
    "Origine": "Type d'affaire",
    "Date d'effet": "date_effet",
    "Statut contrat": "État contrat",
    "Agence": "Point de vente",
    "Produit": "Famille produit",
}


@pytest.mark.parametrize(
    ("encoding", "delimiter"),
    [("utf-8-sig", ","), ("utf-8", "\t"), ("cp1252", ";"), ("utf-16", "\t")],
)
def test_header_variants_encodings_and_separators(
    m3: M3, sample_dir: Path, tmp_path: Path, encoding: str, delimiter: str
) -> None:
    header, rows = read_csv(sample_dir / "portfolio.csv")
    renamed = [VARIANT_HEADERS.get(h, h) for h in header]
    path = write_csv(tmp_path / "x.csv", renamed, rows, encoding=encoding, delimiter=delimiter)
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    summary = ok_json(m3, "import", "portfolio", str(path))
    assert summary["created"] == len(rows)
    listed = ok_json(m3, "cases", "--date", "2026-12-01")
    last_names = {row[header.index("Nom")] for row in rows}
    accented = {n for n in last_names if any(ch in n for ch in "éèëêïôç")}
    assert accented, "the sample holds accented names"
    shown = " ".join(c["client_name"] for c in listed)
    assert any(name in shown for name in accented)  # decoded right, not mojibake


def test_a_small_windows_1252_export_whose_only_accents_are_in_its_header_is_read(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """The required columns and plain names: the header's « N° » and « Chargé de clientèle »
    are the file's only non-ASCII bytes, too few for charset-normalizer's measure of chaos to
    say anything (the file was refused as an unknown encoding)."""
    from bot.models import Client

    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    path = tmp_path / "petit.csv"
    path.write_bytes(
        "N° client;Type client;N° contrat;Origine;Date d'effet;Chargé de clientèle;Nom\r\n"
        "C1;Particulier;K1;AN;28/08/2026;alice.martin@cabinet-test.example.fr;Martin\r\n"
        "C2;Particulier;K2;AN;28/08/2026;alice.martin@cabinet-test.example.fr;Durand\r\n".encode(
            "cp1252"
        )
    )
    summary = ok_json(m3, "import", "portfolio", str(path))
    assert (summary["created"], summary["rejected"]) == (2, [])
    with factory() as session:
        names = session.scalars(select(Client.last_name).order_by(Client.number)).all()
    assert names == ["Martin", "Durand"]


def test_rows_of_data_above_a_workbooks_header_are_rejected_by_row(
    m3: M3, sample_dir: Path, tmp_path: Path
) -> None:
    """A sheet whose first rows are contracts, then a title, then the header: the contracts
    above the header are rejected with their row numbers (they were passed over without a
    word, as titles), the title is passed over, the rows after the header are imported."""
    header, rows = read_csv(sample_dir / "portfolio.csv")
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    number = header.index("N° client")
    for index, row in enumerate(rows[:2]):
        early = list(row)
        early[number] = f"AVANT{index}"
        early[header.index("N° contrat")] = f"KAVANT{index}"
        sheet.append(early)
    sheet.append(["Portefeuille au 23/11/2026"])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    code, summary = m3.json("import", "portfolio", str(path))
    assert code == 1
    assert [r["line"] for r in summary["rejected"]] == [1, 2]
    assert all(
        r["reason"].startswith("ligne de données au-dessus de la ligne d'en-têtes (ligne 4)")
        for r in summary["rejected"]
    )
    assert summary["created"] == len(rows)
    assert summary["rows"] == len(rows) + 2


def test_excels_escapes_of_control_characters_in_a_workbook_are_read_as_them(
    m3: M3, sample_dir: Path, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """Excel writes a control character of a cell's text as `_xHHHH_`: the carriage return of
    a line break (`_x000D_`) reads as a space, as in a CSV value; a bell (`_x0007_`) rejects
    its row, and so does a lone surrogate (`_xD800_`: it failed the whole import). None is
    stored as the escape's text."""
    from bot.models import Client

    header, rows = read_csv(sample_dir / "portfolio.csv")
    numbers = [row[header.index("N° client")] for row in rows]
    alone = next(i for i, n in enumerate(numbers) if numbers.count(n) == 1 and i > 2)
    changed = [list(row) for row in rows]
    changed[alone][header.index("Adresse")] = "ADDRESSHERE"  # (its client's only row)
    changed[0][header.index("Nom")] = "NAMEHERE"
    changed[2][header.index("Nom")] = "HALFHERE"  # a lone surrogate: never storable
    path = write_edited_xlsx(
        tmp_path / "export.xlsx",
        header,
        changed,
        {
            b"ADDRESSHERE": "1 rue Paradis_x000D_\nBât. B".encode(),
            b"NAMEHERE": b"Dur_x0007_and",
            b"HALFHERE": b"Dupont_xD800_",
        },
    )
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    code, summary = m3.json("import", "portfolio", str(path))
    assert code == 1
    bell, half = summary["rejected"]
    assert bell["line"] == 2
    assert bell["reason"].startswith("caractère de contrôle U+0007 dans le champ n° ")
    assert half["line"] == 4
    assert half["reason"].startswith("caractère non valide U+D800 dans le champ n° ")
    number = numbers[alone]
    with factory() as session:
        address = session.scalars(select(Client.address).where(Client.number == number)).one()
    assert address == "1 rue Paradis Bât. B"


def test_an_escaped_underscore_in_a_workbook_reads_as_the_escapes_text(
    m3: M3, sample_dir: Path, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """Excel writes a typed `_x000D_` as `_x005F_x000D_` (`_x005F_` is the underscore): it
    reads as the text typed, not as a line break."""
    from bot.models import Client

    header, rows = read_csv(sample_dir / "portfolio.csv")
    numbers = [row[header.index("N° client")] for row in rows]
    alone = next(i for i, n in enumerate(numbers) if numbers.count(n) == 1)
    changed = [list(row) for row in rows]
    changed[alone][header.index("Adresse")] = "ADDRESSHERE"
    path = write_edited_xlsx(
        tmp_path / "export.xlsx", header, changed, {b"ADDRESSHERE": b"Lot_x005F_x000D_4"}
    )
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    ok_json(m3, "import", "portfolio", str(path))
    with factory() as session:
        address = session.scalars(
            select(Client.address).where(Client.number == numbers[alone])
        ).one()
    assert address == "Lot_x000D_4"


def test_a_small_export_in_another_code_page_is_still_refused(m3: M3, tmp_path: Path) -> None:
    """A few non-ASCII bytes that no French code page reads as French (Polish, in
    Windows-1250): refused as an unknown encoding, not stored as Mac Roman's « KrakÛw »."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    path = tmp_path / "pl.csv"
    lines = ["Num client;Type client;Num contrat;Origine;Date effet;Conseiller;Nom;Prenom;Ville"]
    people = [
        ("Wiśniewski", "Marc", "Kraków"),
        ("Łukasz", "Marc", "Marseille"),
        ("Dvořák", "Marc", "Marseille"),
        ("Šťastný", "Šťastný", "Marseille"),
        ("Dvořák", "Kraków", "Marseille"),
    ]
    for i, person in enumerate(people, start=1):
        lines.append(
            f"C{i};Particulier;K{i};AN;28/08/2026;alice.martin@cabinet-test.example.fr;"
            + ";".join(person)
        )
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1250"))
    code, summary = m3.json("import", "portfolio", str(path))
    assert code == 2
    assert "encodage du fichier" in summary["error"]


def test_titles_above_a_narrow_header_are_passed_over(m3: M3, tmp_path: Path) -> None:
    """Above a header of six columns, a title that fills half of them, a line of what the
    export holds and a line of technical column names: none is a row of data, none is
    rejected."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    path = tmp_path / "etroit.csv"
    path.write_text(
        "Portefeuille;Agence Corniche;au 12/11/2026;;;\r\n"
        "Exporté le;12/11/2026;Par;J. Dupont;;\r\n"
        "champ_a;champ_b;champ_c;champ_d;champ_e;champ_f\r\n"
        "N° client;Type client;N° contrat;Origine;Date d'effet;Chargé de clientèle\r\n"
        "C1;Particulier;P1;AN;15/09/2026;alice.martin@cabinet-test.example.fr\r\n",
        encoding="utf-8",
    )
    summary = ok_json(m3, "import", "portfolio", str(path))
    assert (summary["rows"], summary["created"], summary["rejected"]) == (1, 1, [])


def test_xlsx_export_with_date_cells(
    m3: M3, sample_dir: Path, tmp_path: Path, expected: dict[str, Any]
) -> None:
    header, rows = read_csv(sample_dir / "portfolio.csv")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    effect = header.index("Date d'effet")
    phone = header.index("Téléphone")
    for row in rows:
        values: list[Any] = list(row)
        day, month, year = row[effect].split("/")
        values[effect] = dt.datetime(int(year), int(month), int(day))
        digits = "".join(ch for ch in row[phone] if ch.isdigit())
        if len(digits) == 10 and digits.startswith("0"):
            values[phone] = int(digits)  # Excel drops the leading zero of a number cell
        sheet.append(values)
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    summary = ok_json(m3, "import", "portfolio", str(path))
    assert summary["created"] == len(rows)
    assert not [f for f in summary["to_fix"] if "téléphone" in f["reason"]]
    # The contracts whose window holds 01/12/2026 (due ± 7 days) are listed with that due date.
    on = dt.date(2026, 12, 1)
    in_window = [
        item
        for item in expected["an_active"]
        if abs((dt.date.fromisoformat(item["due"]) - on).days) <= 7
    ]
    assert in_window
    listed = ok_json(m3, "cases", "--date", "2026-12-01")
    contracts = {n for case in listed for n in case["contract_numbers"]}
    assert {item["contract"] for item in in_window} <= contracts


def test_a_cells_type_is_part_of_its_rows_fingerprint(
    m3: M3, sample_dir: Path, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    """A workbook whose postal code is the text `1000`, then the same workbook with a number
    cell `1000` (a spreadsheet dropped the zero): the second is not taken for the first, and
    gives what it gives alone, `01000`."""
    from bot.models import Client

    header, rows = read_csv(sample_dir / "portfolio.csv")
    numbers = [row[header.index("N° client")] for row in rows]
    alone = next(i for i, n in enumerate(numbers) if numbers.count(n) == 1)
    postal = header.index("Code postal")

    def workbook(name: str, value: Any) -> Path:
        book = Workbook()
        sheet = book.active
        sheet.append(header)
        for index, row in enumerate(rows):
            sheet.append([value if (index, i) == (alone, postal) else c for i, c in enumerate(row)])
        book.save(tmp_path / name)
        return tmp_path / name

    ok(m3, "import", "advisors", str(sample_dir / "advisors.csv"))
    ok_json(m3, "import", "portfolio", str(workbook("text.xlsx", "1000")))
    summary = ok_json(m3, "import", "portfolio", str(workbook("number.xlsx", 1000)))
    assert (summary["updated"], summary["unchanged"]) == (1, len(rows) - 1)
    with factory() as session:
        stored = session.scalars(select(Client.postal_code).where(Client.number == numbers[alone]))
        assert stored.one() == "01000"


@pytest.fixture
def expected(sample_dir: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((sample_dir / "expected.json").read_text())
    return document


# --- Files that cannot be read ----------------------------------------------------------------


def test_a_file_without_the_required_columns_is_refused_and_changes_nothing(
    m3: M3, tmp_path: Path, factory: sessionmaker[Session]
) -> None:
    from bot.models import ImportRun

    path = write_csv(tmp_path / "x.csv", ["Nom", "Prénom", "Ville"], [["A", "B", "C"]])
    result = m3("import", "portfolio", str(path))
    assert result.exit_code == 2
    assert "colonnes obligatoires introuvables" in result.output
    code, summary = m3.json("import", "portfolio", str(path))
    assert code == 2 and "fichier refusé" in summary["error"]
    with factory() as session:
        assert session.scalars(select(ImportRun)).all() == []


def test_a_binary_file_is_refused(m3: M3, tmp_path: Path) -> None:
    path = tmp_path / "export.pdf"
    path.write_bytes(b"%PDF-1.4\x00\x01\x02binary")
    result = m3("import", "portfolio", str(path))
    assert result.exit_code == 2
    assert "format « .pdf » non pris en charge" in result.output
    assert "Traceback" not in result.output


def test_a_missing_file_is_refused(m3: M3, tmp_path: Path) -> None:
    result = m3("import", "portfolio", str(tmp_path / "absent.csv"))
    assert result.exit_code == 2
    assert "impossible de lire le fichier" in result.output

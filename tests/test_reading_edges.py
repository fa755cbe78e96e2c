"""The edges of reading an export: a workbook whatever its name, other archives, blank files,
a long quoted value, a symbolic link in a loop, headers that name a field loosely next to its
own name, a workbook whose first sheet is empty, a separator inside a column name (a comma
in a `;` or tab file, a quoted `;` in a comma one), and lines above the header (Excel's
`sep=;`, blank lines, a title). Every refusal is French, with no name of a Python exception
or of a system error code."""

from __future__ import annotations

import errno
import re
import signal
import zipfile
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from bot.crm import scan
from bot.crm.reading import FileRefused, Problem, Row, os_reason, read_table
from bot.crm.vocabulary import (
    PORTFOLIO_FIELDS,
    PORTFOLIO_REQUIRED,
    find_headers,
    match_headers,
)
from tests.conftest import M3
from tests.exports import (
    ADVISORS_HEADER,
    ALICE,
    PORTFOLIO_HEADER,
    STAFF,
    advisors_csv,
    contract,
    ok,
    ok_json,
    portfolio_csv,
    write_csv,
)

# What a message must never show: an exception's class name or an errno code.
NOT_FRENCH = re.compile(r"Exception|Error|\bE[A-Z]{3,}\b|\(s\)")

ROWS = [
    ["C8001", "Particulier", "Mme", "Ménard", "Zoé", ALICE, "K8001", "AN", "28/10/2026"],
    ["C8002", "Particulier", "M.", "Roux", "Léo", ALICE, "K8002", "AN", "28/10/2026"],
]
SHORT_HEADER = [
    "N° client",
    "Type client",
    "Civilité",
    "Nom",
    "Prénom",
    "Chargé de clientèle",
    "N° contrat",
    "Origine",
    "Date d'effet",
]


def refusal(path: Path) -> str:
    with pytest.raises(FileRefused) as caught:
        read_table(path)
    message = str(caught.value)
    assert not NOT_FRENCH.search(message), message
    return message


def rows_of(path: Path) -> tuple[list[str], list[Row | Problem]]:
    table = read_table(path)
    return table.header, list(table.rows())


def workbook(path: Path, *sheets: tuple[list[list[Any]], bool]) -> Path:
    """A workbook with one sheet per (rows, hidden)."""
    book = Workbook()
    book.remove(book.active)
    for number, (rows, hidden) in enumerate(sheets, start=1):
        sheet = book.create_sheet(f"Feuille{number}")
        for row in rows:
            sheet.append(row)
        if hidden:
            sheet.sheet_state = "hidden"
    book.save(path)
    return path


# --- A workbook is told by its content, not its name ---------------------------------------------


@pytest.mark.parametrize("name", ["export.xlsx", "export.csv", "export", "export.txt"])
def test_a_workbook_is_read_whatever_its_name(tmp_path: Path, name: str) -> None:
    path = workbook(tmp_path / name, ([SHORT_HEADER, *ROWS], False))
    header, rows = rows_of(path)
    assert header == SHORT_HEADER
    assert [(r.line, r.cells) for r in rows if isinstance(r, Row)] == [(2, ROWS[0]), (3, ROWS[1])]


def test_a_workbook_renamed_csv_is_imported(m3: M3, tmp_path: Path) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    path = workbook(tmp_path / "export.csv", ([SHORT_HEADER, *ROWS], False))
    summary = ok_json(m3, "import", "portfolio", str(path))
    assert (summary["created"], summary["rejected"]) == (2, [])


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


ODS = {
    "mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
    "content.xml": b"<?xml version='1.0'?><office:document-content/>",
    "META-INF/manifest.xml": b"<?xml version='1.0'?><manifest:manifest/>",
}


@pytest.mark.parametrize("name", ["export.ods", "export.csv", "export"])
def test_an_ods_sheet_is_refused_saying_how_to_save_it(tmp_path: Path, name: str) -> None:
    message = refusal(_zip(tmp_path / name, ODS))
    assert ".ods" in message and "non pris en charge" in message
    assert ".xlsx" in message and "CSV" in message
    assert "illisible" not in message


@pytest.mark.parametrize("name", ["export.csv", "export.xlsx", "export"])
def test_another_archive_is_refused_in_french(tmp_path: Path, name: str) -> None:
    path = _zip(tmp_path / name, {"export.csv": "N° client;Nom\r\nC1;Ménard\r\n".encode()})
    message = refusal(path)
    assert "archive ZIP" in message and "décompressez" in message


def test_a_damaged_workbook_is_refused_without_technical_words(tmp_path: Path) -> None:
    good = workbook(tmp_path / "good.xlsx", ([SHORT_HEADER, *ROWS], False)).read_bytes()
    truncated = tmp_path / "truncated.csv"
    truncated.write_bytes(good[: len(good) // 2])
    assert "ZIP endommagée ou tronquée" in refusal(truncated)
    # The two members that make an Excel workbook, holding nothing Excel can read.
    hollow = _zip(
        tmp_path / "hollow.xlsx", {"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"?"}
    )
    assert "classeur Excel illisible" in refusal(hollow)


@pytest.mark.parametrize(
    ("magic", "kind"),
    [(b"\x1f\x8b\x08", "gzip"), (b"7z\xbc\xaf\x27\x1c", "7-Zip"), (b"Rar!\x1a\x07\x00", "RAR")],
)
def test_a_compressed_file_is_refused_saying_to_decompress_it(
    tmp_path: Path, magic: bytes, kind: str
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(magic + bytes(range(256)) * 4)
    message = refusal(path)
    assert f"le fichier est compressé ({kind})" in message and "décompressez-le" in message


def test_an_old_excel_file_is_refused_whatever_its_name(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert "Excel 97-2003" in refusal(path)


# --- Workbook sheets ------------------------------------------------------------------------------


def test_an_empty_first_sheet_is_passed_over(tmp_path: Path) -> None:
    path = workbook(tmp_path / "export.xlsx", ([], False), ([SHORT_HEADER, *ROWS], False))
    header, rows = rows_of(path)
    assert header == SHORT_HEADER
    assert [r.cells[0] for r in rows if isinstance(r, Row)] == ["C8001", "C8002"]


def test_a_visible_sheet_is_read_before_a_hidden_one(tmp_path: Path) -> None:
    lists = [["Produits"], ["Auto"], ["Habitation"]]  # a hidden sheet of drop-down lists
    path = workbook(tmp_path / "export.xlsx", (lists, True), ([SHORT_HEADER, *ROWS], False))
    header, _ = rows_of(path)
    assert header == SHORT_HEADER


def test_a_workbook_without_data_is_empty(tmp_path: Path) -> None:
    path = workbook(tmp_path / "export.xlsx", ([], False), ([[None, ""]], False))
    assert "le classeur est vide" in refusal(path)


def _declaring(path: Path, size: str) -> Path:
    """The workbook at `path` with its first sheet declaring `size` (its `dimension`)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    members[sheet], count = re.subn(
        rb'<dimension ref="[^"]*"', f'<dimension ref="{size}"'.encode(), members[sheet]
    )
    assert count == 1
    return _zip(path, members)


@pytest.mark.parametrize("size", ["A1:I2", "A1:C3", "A1"])
def test_a_stale_declared_size_loses_no_row_and_no_column(tmp_path: Path, size: str) -> None:
    """A sheet declares its size, which the program that wrote it may leave stale: every row
    and every column is read all the same."""
    rows = [[f"C81{n:02}", *ROWS[0][1:6], f"K81{n:02}", *ROWS[0][7:]] for n in range(6)]
    path = _declaring(workbook(tmp_path / "export.xlsx", ([SHORT_HEADER, *rows], False)), size)
    header, read = rows_of(path)
    assert header == SHORT_HEADER
    assert [r.cells for r in read if isinstance(r, Row)] == rows


def test_a_huge_declared_size_is_not_read_cell_by_cell(tmp_path: Path) -> None:
    """A few bytes can declare A1:XFD1048576 with one value in its last cell: read as
    declared, 17 billion empty cells (hours). The rows are read as they are, and a value far
    right of the header's columns is not read."""
    book = Workbook()
    sheet = book.active
    for row in [SHORT_HEADER, *ROWS]:
        sheet.append(row)
    sheet["XFD1048576"] = "x"
    book.save(tmp_path / "export.xlsx")
    path = _declaring(tmp_path / "export.xlsx", "A1:XFD1048576")

    def too_long(*_: object) -> None:
        raise AssertionError("the workbook is read cell by cell")

    previous = signal.signal(signal.SIGALRM, too_long)
    signal.alarm(60)  # a bound on a hang, not a measure of speed: it takes about a second
    try:
        header, read = rows_of(path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert header == SHORT_HEADER
    assert [r.cells for r in read] == ROWS


# --- Blank and tiny files -------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"\r\n\r\n\r\n", b"\n", b"   \r\n", b"\xef\xbb\xbf\r\n"])
def test_a_file_of_blank_lines_is_empty(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    assert refusal(path) == "le fichier est vide"


def test_a_tiny_file_without_nul_byte_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"Nom\r\n")
    assert read_table(path).header == ["Nom"]


def test_a_tiny_file_with_a_nul_byte_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"ab\x00\x00\r\n")
    assert "caractères nuls" in refusal(path)


# --- A quoted value over the csv module's 128 KiB -------------------------------------------------


def _long_quoted(tmp_path: Path) -> Path:
    """Two rows, the second with a 200 000-character address written between quotes."""
    rows = [
        contract("C8101", "K8101", "28/10/2026"),
        contract("C8102", "K8102", "28/10/2026", Adresse="x" * 200_000),
    ]
    path = portfolio_csv(tmp_path / "export.csv", rows)
    data = path.read_bytes()
    path.write_bytes(data.replace(b"x" * 200_000, b'"' + b"x" * 200_000 + b'"'))
    return path


def test_a_long_quoted_value_is_read_whole(tmp_path: Path) -> None:
    path = _long_quoted(tmp_path)
    _, rows = rows_of(path)
    assert [type(r) for r in rows] == [Row, Row]
    second = rows[1]
    assert isinstance(second, Row)
    assert second.cells[PORTFOLIO_HEADER.index("Adresse")] == "x" * 200_000


def test_a_long_quoted_value_is_rejected_by_its_length(m3: M3, tmp_path: Path) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    code, summary = m3.json("import", "portfolio", str(_long_quoted(tmp_path)))
    assert code == 1
    (rejected,) = summary["rejected"]
    assert rejected["line"] == 3
    assert re.search(r"200\s000 caractères", rejected["reason"]), rejected["reason"]
    assert "Adresse" in rejected["reason"] and "guillemets" not in rejected["reason"]
    assert summary["created"] == 1


# --- What the system says ------------------------------------------------------------------------


def test_a_symbolic_link_loop_is_said_in_french(tmp_path: Path) -> None:
    (tmp_path / "a.csv").symlink_to(tmp_path / "b.csv")
    (tmp_path / "b.csv").symlink_to(tmp_path / "a.csv")
    message = refusal(tmp_path / "a.csv")
    assert message == "impossible de lire le fichier « a.csv » : lien symbolique en boucle"


@pytest.mark.parametrize("code", [errno.EBUSY, errno.ESTALE, errno.EXDEV, errno.ENOSPC, 0])
def test_every_system_error_is_worded_in_french(code: int) -> None:
    message = os_reason(OSError(code, "Some English words"), "export.csv")
    assert message.startswith("impossible de lire le fichier « export.csv » : ")
    assert not NOT_FRENCH.search(message) and "English" not in message


# --- Headers: a looser name next to the field's own -----------------------------------------------


@pytest.mark.parametrize(
    ("own", "loose", "field"),
    [("N° client", "Client", "client_number"), ("N° contrat", "Contrat", "contract_number")],
)
def test_a_loose_alias_next_to_the_fields_own_name_is_left_aside(
    own: str, loose: str, field: str
) -> None:
    header = [*PORTFOLIO_HEADER, loose]
    assert match_headers(header, PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED)[field] == header.index(own)
    # Before it, too.
    header = [loose, *PORTFOLIO_HEADER]
    assert match_headers(header, PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED)[field] == header.index(own)


def test_the_loose_alias_alone_still_names_the_field() -> None:
    header = ["Client" if h == "N° client" else h for h in PORTFOLIO_HEADER]
    columns = match_headers(header, PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED)
    assert columns["client_number"] == header.index("Client")


@pytest.mark.parametrize(
    ("first", "second"),
    [("N° client", "Numéro client"), ("N° client", "N° de client"), ("Client", "CLIENT")],
)
def test_two_names_as_close_as_each_other_are_a_duplicate(first: str, second: str) -> None:
    header = [first, *[h for h in PORTFOLIO_HEADER if h != "N° client"], second]
    with pytest.raises(FileRefused) as caught:
        match_headers(header, PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED)
    message = str(caught.value)
    assert f"colonne « {second} » en double" in message
    assert f"colonnes 1 et {len(header)}" in message


def test_a_client_column_holding_the_name_is_imported(m3: M3, tmp_path: Path) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    header = [*SHORT_HEADER, "Client"]
    rows = [[*row, f"{row[4]} {row[3]}"] for row in ROWS]
    summary = ok_json(m3, "import", "portfolio", str(write_csv(tmp_path / "e.csv", header, rows)))
    assert (summary["created"], summary["rejected"]) == (2, [])
    listed = ok_json(m3, "cases", "--all")
    assert sorted(c["client_number"] for c in listed) == ["C8001", "C8002"]


# --- Required columns: singular or plural ---------------------------------------------------------


def test_one_missing_required_column_is_said_in_the_singular() -> None:
    header = [h for h in PORTFOLIO_HEADER if h != "Origine"]
    with pytest.raises(FileRefused) as caught:
        match_headers(header, PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED)
    message = str(caught.value)
    assert message.startswith("colonne obligatoire introuvable\u00a0: «\u00a0Origine\u00a0».")
    assert not NOT_FRENCH.search(message)


def test_several_missing_required_columns_are_said_in_the_plural() -> None:
    with pytest.raises(FileRefused) as caught:
        match_headers(["Nom", "Prénom", "Ville"], PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED)
    message = str(caught.value)
    assert message.startswith("colonnes obligatoires introuvables\u00a0: «\u00a0N° client\u00a0»")
    assert "«\u00a0Origine\u00a0»" in message and not NOT_FRENCH.search(message)


# --- The separator: a comma (or a `;`) inside a column name ---------------------------------------


def _renamed(old: str, new: str) -> list[str]:
    return [new if h == old else h for h in PORTFOLIO_HEADER]


TURNOVER = "Chiffre d'affaires (€, HT)"
STREET = "Adresse (n°, voie)"


def _rows_with_commas() -> list[dict[str, str]]:
    """Two rows whose turnover (a French decimal) and address hold a comma, unquoted in a `;`
    or tab file: as many commas on each line as in the header."""
    return [
        contract("C8201", "K8201", "28/10/2026", Adresse="12, rue Paradis")
        | {"Chiffre d'affaires": "1234,50"},
        contract("C8202", "K8202", "28/10/2026", Adresse="3, bd Périer")
        | {"Chiffre d'affaires": "99,90"},
    ]


@pytest.mark.parametrize(
    ("delimiter", "old", "new"),
    [
        (";", "Chiffre d'affaires", TURNOVER),
        ("\t", "Adresse", STREET),
        (";", "Adresse", STREET),
        ("\t", "Chiffre d'affaires", TURNOVER),
    ],
)
def test_a_comma_in_a_column_name_does_not_change_the_separator(
    tmp_path: Path, delimiter: str, old: str, new: str
) -> None:
    header = _renamed(old, new)
    path = portfolio_csv(
        tmp_path / "export.csv", _rows_with_commas(), header=header, delimiter=delimiter
    )
    table = read_table(path)
    assert table.delimiter == delimiter
    assert table.header == header
    rows = list(table.rows())
    assert all(isinstance(r, Row) for r in rows), rows
    assert [r.line for r in rows] == [2, 3]
    assert [r.cells[header.index(new)] for r in rows if isinstance(r, Row)] == (
        ["1234,50", "99,90"] if old == "Chiffre d'affaires" else ["12, rue Paradis", "3, bd Périer"]
    )
    assert [len(r.cells) for r in rows if isinstance(r, Row)] == [len(header)] * 2


def test_a_semicolon_file_with_a_comma_in_a_column_name_is_imported(m3: M3, tmp_path: Path) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    header = _renamed("Chiffre d'affaires", TURNOVER)
    path = portfolio_csv(tmp_path / "export.csv", _rows_with_commas(), header=header)
    summary = ok_json(m3, "import", "portfolio", str(path))
    assert (summary["created"], summary["rejected"]) == (2, [])


def test_a_comma_in_a_column_name_of_a_header_alone(tmp_path: Path) -> None:
    header = _renamed("Chiffre d'affaires", TURNOVER)
    path = write_csv(tmp_path / "export.csv", header, [])
    table = read_table(path)
    assert (table.delimiter, table.header) == (";", header)
    assert list(table.rows()) == []


def test_a_quoted_semicolon_in_a_column_name_of_a_comma_file(tmp_path: Path) -> None:
    header = _renamed("Chiffre d'affaires", "Chiffre d'affaires (€; HT)")
    row = contract("C8203", "K8203", "28/10/2026") | {"Chiffre d'affaires": "12,5"}
    cells = [row.get(name, "") for name in PORTFOLIO_HEADER]
    # Every field quoted, as some CRMs write them: the `;` is inside quotes, the decimal too.
    lines = [",".join(f'"{c}"' for c in fields) for fields in (header, cells, cells)]
    path = tmp_path / "export.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    table = read_table(path)
    assert (table.delimiter, table.header) == (",", header)
    rows = list(table.rows())
    assert [(r.line, r.cells) for r in rows if isinstance(r, Row)] == [(2, cells), (3, cells)]


def test_a_comma_file_with_quoted_decimals_stays_a_comma_file(tmp_path: Path) -> None:
    rows = [
        contract("C8204", "K8204", "28/10/2026") | {"Chiffre d'affaires": "12,5"},
        contract("C8205", "K8205", "28/10/2026", Adresse="4; impasse"),
    ]
    path = portfolio_csv(tmp_path / "export.csv", rows, delimiter=",")
    assert b'"12,5"' in path.read_bytes()
    table = read_table(path)
    assert (table.delimiter, table.header) == (",", PORTFOLIO_HEADER)
    read = [r for r in table.rows() if isinstance(r, Row)]
    assert [r.cells[PORTFOLIO_HEADER.index("Chiffre d'affaires")] for r in read] == ["12,5", ""]
    assert read[1].cells[PORTFOLIO_HEADER.index("Adresse")] == "4; impasse"


def test_a_value_on_several_lines_does_not_change_the_separator(tmp_path: Path) -> None:
    header = _renamed("Chiffre d'affaires", TURNOVER)
    rows = [
        contract("C8206", "K8206", "28/10/2026", Adresse="Bât. B, 2e étage\r\n12, rue Paradis"),
        *_rows_with_commas(),
    ]
    path = portfolio_csv(tmp_path / "export.csv", rows, header=header)
    table = read_table(path)
    assert (table.delimiter, table.header) == (";", header)
    read = [r for r in table.rows() if isinstance(r, Row)]
    assert [r.line for r in read] == [2, 4, 5]
    assert read[0].cells[header.index("Adresse")] == "Bât. B, 2e étage 12, rue Paradis"


def test_a_short_row_does_not_hand_the_file_to_the_comma(tmp_path: Path) -> None:
    """Every line has one comma, as the header: read with `,` they all have two fields; with
    `;` one row is short. The separator that gives the header its thirty columns wins."""
    header = _renamed("Chiffre d'affaires", TURNOVER)
    rows = [
        contract(f"C821{n}", f"K821{n}", "28/10/2026") | {"Chiffre d'affaires": "1234,50"}
        for n in range(3)
    ]
    path = portfolio_csv(tmp_path / "export.csv", rows, header=header)
    data = path.read_bytes().replace(b"Oui;\r\n", b"\r\n", 1)  # the first row: one field less
    path.write_bytes(data)
    table = read_table(path)
    assert (table.delimiter, table.header) == (";", header)
    widths = [len(r.cells) for r in table.rows() if isinstance(r, Row)]
    assert widths == [len(header) - 1, len(header), len(header)]


def test_rows_short_of_their_last_cell_do_not_hand_the_file_to_the_comma(tmp_path: Path) -> None:
    """Every row lacks its last (empty) cell and has one comma, as the header: with `,` they
    all have two fields, with `;` twenty-nine of the header's thirty. Rows a cell short still
    say the separator is `;` (they are rejected by their own reading)."""
    header = _renamed("Chiffre d'affaires", TURNOVER)
    rows = [
        contract(f"C822{n}", f"K822{n}", "28/10/2026") | {"Chiffre d'affaires": "1234,50"}
        for n in range(5)
    ]
    path = portfolio_csv(tmp_path / "export.csv", rows, header=header)
    path.write_bytes(path.read_bytes().replace(b"Oui;\r\n", b"Oui\r\n"))
    table = read_table(path)
    assert (table.delimiter, table.header) == (";", header)


@pytest.mark.parametrize(
    ("data", "delimiter", "header"),
    [
        (b"Nom\r\nDupont, Jean\r\n", ";", ["Nom"]),
        (b'"N\xc2\xb0 client","Nom"\r\n', ",", ["N° client", "Nom"]),
        (
            b"N\xc2\xb0 client\tNom (ou raison, sociale)\r\n",
            "\t",
            ["N° client", "Nom (ou raison, sociale)"],
        ),
    ],
)
def test_the_separator_of_a_header_with_few_or_no_rows(
    tmp_path: Path, data: bytes, delimiter: str, header: list[str]
) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    table = read_table(path)
    assert (table.delimiter, table.header) == (delimiter, header)


def test_a_header_with_a_quote_left_open_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b'N\xc2\xb0 client;"Nom;Pr\xc3\xa9nom\r\nC1;Dupont;Jean\r\n')
    assert "un nom de colonne entre guillemets n'est jamais fermé" in refusal(path)


# --- Lines above the header -----------------------------------------------------------------------


def is_portfolio_header(cells: list[str]) -> bool:
    """What the portfolio import asks of a header line (`bot.crm.run.start`)."""
    return set(PORTFOLIO_REQUIRED) <= find_headers(cells, PORTFOLIO_FIELDS)


def _with_lines_above(path: Path, above: str, delimiter: str = ";") -> Path:
    """A portfolio export with `above` written before its header: four rows, the second with
    an effect date that is none (rejected by the import), the third with a stray quote
    (rejected by the reading), the others imported."""
    rows = [
        contract("C8301", "K8301", "28/10/2026"),
        contract("C8302", "K8302", "pas une date"),
        contract("C8303", "K8303", "28/10/2026"),
        contract("C8304", "K8304", "28/10/2026"),
    ]
    data = portfolio_csv(path, rows, delimiter=delimiter).read_bytes()
    data = data.replace(b"ClientC8303", b'Cli"entC8303')
    path.write_bytes(above.encode("cp1252") + data)
    return path


TITLE = "Export du portefeuille au 12/11/2026\r\n"
# (lines above the header, separator of the file): the header is on line 1 + lines above.
LINES_ABOVE = {
    "sep": ("sep=;\r\n", ";"),
    "sep-quoted-upper-case": ('"SEP=;"\r\n', ";"),
    "sep-comma": ("sep=,\r\n", ","),
    "sep-tab-written-out": ("sep=\\t\r\n", "\t"),
    "sep-tab": ("sep=\t\r\n", "\t"),
    "blank-lines": ("\r\n;;;;\r\n  \r\n", ";"),
    "title": (TITLE, ";"),
    "title-with-commas": ("Portefeuille, agence Corniche, au 12/11/2026\r\n", ";"),
    "titles-with-separators": (
        "Agence Corniche;;;\r\n" + TITLE.replace("\r", ";;;\r") + ";;;\r\n",
        ";",
    ),
    "title-with-semicolons-in-a-comma-file": ("Agence Corniche;;;;;;\r\n", ","),
    "sep-blank-and-title": ("sep=;\r\n\r\n" + TITLE, ";"),
    # Titles that list the required columns: the lines after them are not split their way.
    "title-listing-the-columns": (
        "Export trié par date, N° client, Type client, N° contrat, Origine, Date d'effet, "
        "Chargé de clientèle\r\n",
        ";",
    ),
    "title-listing-the-columns-with-semicolons": (
        "Colonnes : N° client;Type client;N° contrat;Origine;Date d'effet;Chargé de clientèle\r\n",
        ";",
    ),
    "title-of-thousands-of-cells": ("x," * 5000 + "\r\n", ";"),
}


@pytest.mark.parametrize(("above", "delimiter"), LINES_ABOVE.values(), ids=list(LINES_ABOVE))
def test_the_header_is_found_below_the_lines_above_it(
    tmp_path: Path, above: str, delimiter: str
) -> None:
    path = _with_lines_above(tmp_path / "export.csv", above, delimiter)
    table = read_table(path, is_header=is_portfolio_header)
    header_line = 1 + above.count("\n")
    assert (table.header, table.delimiter) == (PORTFOLIO_HEADER, delimiter)
    assert table.header_line == header_line
    read = [(type(r).__name__, r.line) for r in table.rows()]
    assert read == [("Row", header_line + n) for n in (1, 2)] + [
        ("Problem", header_line + 3),
        ("Row", header_line + 4),
    ]
    cells = [r.cells for r in table.rows() if isinstance(r, Row)]
    assert [c[0] for c in cells] == ["C8301", "C8302", "C8304"]
    assert all(len(c) == len(PORTFOLIO_HEADER) for c in cells)


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes"])
@pytest.mark.parametrize(
    "above",
    ["sep=;\r\n", "\r\n;;;;\r\n  \r\n", TITLE, "Agence Corniche;;;\r\n" + TITLE + ";;;\r\n"],
    ids=["sep", "blank-lines", "title", "titles-with-separators"],
)
def test_an_export_with_lines_above_its_header_is_imported(
    m3: M3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, above: str, processes: int
) -> None:
    """The rows below the header are imported, a rejected one with its physical line number;
    on two processes too, as a large file is read (the threshold lowered: the file is shared
    in blocks of 2 records)."""
    shared: list[int] = []
    if processes == 2:
        monkeypatch.setattr(scan, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(scan, "BLOCK", 2)
        run = scan._TwoProcesses.run
        monkeypatch.setattr(scan._TwoProcesses, "run", lambda self: shared.append(1) or run(self))
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    path = _with_lines_above(tmp_path / "export.csv", above)
    header_line = 1 + above.count("\n")
    code, summary = m3.json("import", "portfolio", str(path))
    assert code == 1, summary
    assert summary["created"] == 2
    assert [r["line"] for r in summary["rejected"]] == [header_line + 2, header_line + 3]
    assert "date" in summary["rejected"][0]["reason"]
    assert "guillemet isolé" in summary["rejected"][1]["reason"]
    assert shared == ([1] if processes == 2 and scan._can_fork() else [])
    # The stray quote fixed: its row is created, the others are known (their fingerprints
    # were taken under the same header), the bad date is rejected on its line again.
    path.write_bytes(path.read_bytes().replace(b'Cli"entC8303', b"ClientC8303"))
    code, summary = m3.json("import", "portfolio", str(path))
    assert code == 1, summary
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (1, 0, 2)
    assert [r["line"] for r in summary["rejected"]] == [header_line + 2]


def _broken_header(path: Path, above: str, breaks: dict[str, str]) -> Path:
    """`_with_lines_above`'s export with line breaks typed in column names (Excel writes the
    name quoted, the break inside): `breaks` maps a name to how it is written."""
    _with_lines_above(path, above)
    data = path.read_bytes()
    header = ";".join(PORTFOLIO_HEADER).encode("cp1252")
    broken = ";".join(breaks.get(name, name) for name in PORTFOLIO_HEADER).encode("cp1252")
    assert data.count(header) == 1
    path.write_bytes(data.replace(header, broken))
    return path


# A line break typed in a column name (Alt+Entrée), as Excel writes it: inside quotes.
BROKEN_NAMES = {
    "one-name": {"Chiffre d'affaires": '"Chiffre\r\nd\'affaires"'},
    "two-names-lf": {
        "Date d'effet": '"Date\nd\'effet"',
        "Chargé de clientèle": '"Chargé de \n clientèle"',
    },
    "two-breaks-in-one-name": {"N° contrat": '"N°\r\n\r\ncontrat"'},
}


@pytest.mark.parametrize("breaks", BROKEN_NAMES.values(), ids=list(BROKEN_NAMES))
@pytest.mark.parametrize("above", ["", TITLE], ids=["first-line", "below-a-title"])
def test_a_column_name_with_a_line_break_is_read_as_a_space(
    tmp_path: Path, above: str, breaks: dict[str, str]
) -> None:
    """The header then spans several lines: its names read with a space for each break, and
    the rows keep their file line numbers."""
    path = _broken_header(tmp_path / "export.csv", above, breaks)
    table = read_table(path, is_header=is_portfolio_header)
    assert (table.header, table.delimiter) == (PORTFOLIO_HEADER, ";")
    first = 1 + above.count("\n")
    last = first + sum(written.count("\n") for written in breaks.values())
    assert table.header_line == first
    read = [(type(r).__name__, r.line) for r in table.rows()]
    assert read == [("Row", last + n) for n in (1, 2)] + [("Problem", last + 3), ("Row", last + 4)]


def test_a_header_whose_quote_no_line_closes_is_refused_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    header = ";".join(PORTFOLIO_HEADER).replace("Chiffre d'affaires", "\"Chiffre d'affaires")
    path.write_bytes((header + "\r\n" + "C1;Dupont\r\n" * 3).encode("cp1252"))
    with pytest.raises(FileRefused) as refused:
        read_table(path, is_header=is_portfolio_header)
    message = str(refused.value)
    assert "un nom de colonne entre guillemets n'est jamais fermé" in message
    assert not NOT_FRENCH.search(message), message


@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes"])
def test_an_export_whose_column_names_hold_line_breaks_is_imported(
    m3: M3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    """Through the CLI, on one process and on two (the threshold lowered): the rows are
    imported, a rejected one named by its physical line, and the same file again is known."""
    if processes == 2:
        monkeypatch.setattr(scan, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(scan, "BLOCK", 2)
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    path = _broken_header(tmp_path / "export.csv", TITLE, BROKEN_NAMES["two-names-lf"])
    last = 4  # the title, then the header over three lines
    code, summary = m3.json("import", "portfolio", str(path))
    assert code == 1, summary
    assert summary["created"] == 2
    assert [r["line"] for r in summary["rejected"]] == [last + 2, last + 3]
    code, summary = m3.json("import", "portfolio", str(path))
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (0, 0, 2)


def test_a_workbook_header_cell_with_a_line_break_is_read_as_a_space(tmp_path: Path) -> None:
    header = [name.replace("d'effet", "\nd'effet") for name in SHORT_HEADER]
    path = workbook(tmp_path / "export.xlsx", ([header, ROWS[0]], False))
    table = read_table(path, is_header=is_portfolio_header)
    assert table.header == SHORT_HEADER


def test_excels_hint_names_the_separator_whatever_the_lines_say(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"sep=,\r\nNom;Pr\xe9nom\r\nDupont;Jean\r\n")
    table = read_table(path)
    assert (table.delimiter, table.header, table.header_line) == (",", ["Nom;Prénom"], 2)
    path.write_bytes(path.read_bytes().removeprefix(b"sep=,\r\n"))
    assert read_table(path).delimiter == ";"


def test_a_staff_file_with_a_title_and_excels_hint_is_imported(m3: M3, tmp_path: Path) -> None:
    path = tmp_path / "staff.csv"
    write_csv(path, ADVISORS_HEADER, [[email, *STAFF[email]] for email in STAFF])
    path.write_bytes(b"sep=;\r\nListe du personnel;;;\r\n\r\n" + path.read_bytes())
    summary = ok_json(m3, "import", "advisors", str(path))
    assert (summary["created"], summary["rejected"]) == (len(STAFF), [])


def test_without_a_test_the_header_is_the_first_non_blank_line(tmp_path: Path) -> None:
    path = _with_lines_above(tmp_path / "export.csv", "sep=,\r\n\r\n;;;\r\n" + TITLE, ",")
    table = read_table(path)
    assert (table.header, table.header_line, table.delimiter) == (
        ["Export du portefeuille au 12/11/2026"],
        4,
        ",",
    )
    blank = _with_lines_above(tmp_path / "blank.csv", "\r\n  ;;\r\n")
    assert read_table(blank).header == PORTFOLIO_HEADER


def _title_workbook(path: Path) -> Path:
    rows: list[list[Any]] = [
        ["Export du portefeuille au 12/11/2026"],
        [],
        ["Agence Corniche", None, None],
        SHORT_HEADER,
        ROWS[0],
        [*ROWS[1][:8], "pas une date"],
        [],
        ["C8003", *ROWS[0][1:6], "K8003", *ROWS[0][7:]],
    ]
    return workbook(path, (rows, False))


def test_a_workbook_with_a_title_row_is_read_from_its_header(tmp_path: Path) -> None:
    path = _title_workbook(tmp_path / "export.xlsx")
    table = read_table(path, is_header=is_portfolio_header)
    assert (table.header, table.header_line) == (SHORT_HEADER, 4)
    read = [(r.line, r.cells[0]) for r in table.rows() if isinstance(r, Row)]
    assert read == [(5, "C8001"), (6, "C8002"), (8, "C8003")]
    # Without a test, the first non-blank row, as ever.
    assert read_table(path).header == ["Export du portefeuille au 12/11/2026"]


def test_a_workbook_with_a_title_row_is_imported(m3: M3, tmp_path: Path) -> None:
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    path = _title_workbook(tmp_path / "export.xlsx")
    code, summary = m3.json("import", "portfolio", str(path))
    assert code == 1, summary
    assert summary["created"] == 2
    assert [r["line"] for r in summary["rejected"]] == [6]


def test_a_file_whose_first_lines_name_no_required_column_is_refused(
    m3: M3, tmp_path: Path
) -> None:
    """No line among the first few names the required columns: the first non-blank line is
    read as the header, and the refusal lists what it holds."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    header = [name for name in PORTFOLIO_HEADER if name != "Origine"]
    path = tmp_path / "export.csv"
    write_csv(path, header, [["C8321", "Particulier"]])
    path.write_bytes(b"\r\n;;;\r\n" + TITLE.encode() + path.read_bytes())
    table = read_table(path, is_header=is_portfolio_header)
    assert (table.header, table.header_line) == (["Export du portefeuille au 12/11/2026"], 3)
    code, document = m3.json("import", "portfolio", str(path))
    assert code == 2
    message = document["error"]
    assert message.startswith("fichier refusé : colonnes obligatoires introuvables")
    assert "Origine" in message and "Colonnes lues" in message
    assert "Export du portefeuille au 12/11/2026\u00a0» (ligne 3\u00a0;" in message
    assert not NOT_FRENCH.search(message), message


def test_a_header_below_too_many_lines_is_not_looked_for(m3: M3, tmp_path: Path) -> None:
    """The header is looked for among the first ten non-blank lines only: the reading never
    goes far into a file that has none."""
    ok(m3, "import", "advisors", str(advisors_csv(tmp_path / "staff.csv")))
    titles = "".join(f"Ligne de titre {n}\r\n" for n in range(1, 11))
    path = _with_lines_above(tmp_path / "export.csv", titles)
    assert read_table(path, is_header=is_portfolio_header).header == ["Ligne de titre 1"]
    code, document = m3.json("import", "portfolio", str(path))
    assert code == 2
    assert "colonnes obligatoires introuvables" in document["error"]
    assert "Ligne de titre 1" in document["error"]
    assert document["error"].endswith(
        "(ligne 1\u00a0; les en-têtes sont cherchés dans les 10 premières lignes non vides du "
        "fichier)"
    )
    # Nine lines above it: the header is the tenth non-blank line, and is found.
    path = _with_lines_above(tmp_path / "nine.csv", titles.split("\r\n", 1)[1])
    assert read_table(path, is_header=is_portfolio_header).header_line == 10


def test_a_file_of_excels_hint_alone_is_refused_in_french(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"sep=;\r\n;;;\r\n")
    message = refusal(path)
    assert message == (
        "le fichier est vide ou ne commence que par des lignes vides : sa ligne d'en-têtes "
        "est introuvable"
    )


def test_a_plain_line_says_whether_its_parsing_must_look_for_format_characters(
    tmp_path: Path,
) -> None:
    """A line of printable characters only is split and said printable: its row is not
    checked again. A zero-width space or a soft hyphen is not printable: the row's parsing
    removes them. A tab is read as a space, and the line is not said printable either."""
    path = tmp_path / "export.csv"
    path.write_bytes("N° client;Nom\r\n1;Dupont\r\n".encode())
    table = read_table(path)
    assert table.split("1;Dupont é".encode()) == (["1", "Dupont é"], True)
    assert table.split("1;Du\u00a0pont".encode()) == (["1", "Du pont"], True)
    for odd in ("\u200b", "\u00ad"):
        assert table.split(f"1;Du{odd}pont".encode()) == (["1", f"Du{odd}pont"], False)
    assert table.split(b"1;Du\tpont") == (["1", "Du pont"], False)

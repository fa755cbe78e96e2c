"""Writes the broken exports of this folder (run it from the project root after changing it:
`.venv/bin/python tests/data/broken/make_corpus.py`); `cases.json` says what each one must do.

Every file is a small portfolio export of the tests' own agency (`tests/exports.py`: the staff
ALICE and BRUNO), 200 contracts of clients C0001…C0200, broken in one way, byte for byte as the
CRM or a spreadsheet would have broken it.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the project root: run as a script from anywhere

from tests.exports import ALICE, BRUNO  # noqa: E402 - after the path above
from tests.exports import PORTFOLIO_HEADER as HEADER  # noqa: E402

ROWS = 200


def rows(count: int = ROWS) -> list[list[str]]:
    """Clean rows: client C0001… with one AN contract K0001…, effect 28/08/2026 (an open case
    on 23/11/2026)."""
    out = []
    for i in range(1, count + 1):
        row = dict.fromkeys(HEADER, "")
        row.update(
            {
                "N° client": f"C{i:04d}",
                "Type client": "Particulier",
                "Civilité": "Mme" if i % 2 else "M.",
                "Nom": f"Durand{i}",
                "Prénom": "Zoé",
                "Adresse": f"{i} rue Paradis",
                "Code postal": "13006",
                "Ville": "Marseille",
                "Téléphone": f"06 12 34 {i // 100 % 100:02d} {i % 100:02d}",
                "Agence": "Corniche",
                "Chargé de clientèle": ALICE if i % 3 else BRUNO,
                "N° contrat": f"K{i:04d}",
                "Produit": "Auto",
                "Origine": "AN",
                "Date d'effet": "28/08/2026",
                "Statut contrat": "Actif",
                "Vendeur": "Marc Vidal",
                "DP signées": "Oui",
            }
        )
        out.append([row[name] for name in HEADER])
    return out


def text(table: list[list[str]], *, header: list[str] = HEADER, delimiter: str = ";") -> str:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows([header, *table])
    return buffer.getvalue()


def cell(table: list[list[str]], line: int, name: str, value: str) -> None:
    """Set a cell of the row on `line` (the header is line 1)."""
    table[line - 2][HEADER.index(name)] = value


def write(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)


def main() -> None:
    cases: list[dict[str, Any]] = []

    # An unbalanced quote: line 5 opens a quoted field never closed on its line, and a stray
    # quote on line 123 would close it, 118 lines later: a CSV reader swallowed the 117 rows
    # between into one field.
    table = rows()
    cell(table, 5, "Nom", "XXLEBON")
    cell(table, 123, "Nom", "XXDURAND")
    raw = text(table).replace(";XXLEBON;", ';"Lebon;').replace(";XXDURAND;", ';Durand";')
    write("unbalanced-quote.csv", raw.encode("cp1252"))
    cases.append(
        {
            "file": "unbalanced-quote.csv",
            "kind": "an unbalanced quote that would swallow the next 117 rows",
            "exit": 1,
            "rejected": {"5": "guillemet", "123": "guillemet"},
            "contracts": ROWS - 2,
        }
    )

    # A quote opened in a column on line 5 and closed in the same column on line 9: read as
    # CSV, the record has as many fields as the header, the rows between inside one value
    # (lines 6 to 8 were lost without a word).
    table = rows()
    cell(table, 5, "Nom", "XXOPEN")
    cell(table, 9, "Nom", "XXCLOSE")
    raw = text(table).replace(";XXOPEN;", ';"Durand4;').replace(";XXCLOSE;", ';Durand8";')
    write("quote-closed-lines-later.csv", raw.encode("cp1252"))
    cases.append(
        {
            "file": "quote-closed-lines-later.csv",
            "kind": "a quote closed four lines later in the same column, the rows between "
            "inside one value",
            "exit": 1,
            "rejected": {"5": "englobe des lignes entières", "9": "guillemet isolé"},
            "contracts": ROWS - 2,
        }
    )

    # A quote opened on the last line, which the file ends without closing (a blank line
    # after it, as many files end).
    table = rows()
    cell(table, ROWS + 1, "Nom", "XXOPEN")
    raw = text(table).replace(";XXOPEN;", ';"Durand200;') + "\r\n"
    write("quote-open-at-the-end.csv", raw.encode("cp1252"))
    cases.append(
        {
            "file": "quote-open-at-the-end.csv",
            "kind": "a quote opened on the last line and never closed",
            "exit": 1,
            "rejected": {
                str(ROWS + 1): "guillemet ouvert dans la colonne « Nom » (champ n° 4) et jamais "
                "refermé : la ligne est rejetée"
            },
            "contracts": ROWS - 1,
        }
    )

    # ISO-8859-15: œ is 0xBD there, « ½ » in Windows-1252; € is 0xA4, « ¤ » in Windows-1252.
    table = rows()
    cell(table, 2, "Nom", "Lebœuf")
    cell(table, 3, "Nom", "Cœurdevey")
    cell(table, 4, "Adresse", "2 rue de la Sœur Valérie")
    write("iso-8859-15.csv", text(table).encode("iso8859_15"))
    cases.append(
        {
            "file": "iso-8859-15.csv",
            "kind": "ISO-8859-15 text (œ), which Windows-1252 would read as « ½ »",
            "exit": 0,
            "rejected": {},
            "contracts": ROWS,
            "clients": {"C0001": {"last_name": "Lebœuf"}, "C0002": {"last_name": "Cœurdevey"}},
        }
    )

    # The same bytes, but the only letters told apart by the two encodings are in words both
    # read plausibly: which one is it? Refused, rather than store « ¤ » for « € ».
    table = rows()
    cell(table, 2, "Activité", "Prix 12 €")
    write("doubtful-encoding.csv", text(table).encode("iso8859_15"))
    cases.append(
        {
            "file": "doubtful-encoding.csv",
            "kind": "a single-byte file whose decoding is doubtful (€ or ¤)",
            "exit": 2,
            "error": "encodage du fichier incertain",
            "contracts": 0,
        }
    )

    # Windows-1252 with its own letters (’, œ, €): read as such, not doubted.
    table = rows()
    cell(table, 2, "Nom", "Lebœuf")
    cell(table, 3, "Adresse", "2 rue de l’Église")
    write("windows-1252.csv", text(table).encode("cp1252"))
    cases.append(
        {
            "file": "windows-1252.csv",
            "kind": "Windows-1252 with œ and ’",
            "exit": 0,
            "rejected": {},
            "contracts": ROWS,
            "clients": {
                "C0001": {"last_name": "Lebœuf"},
                "C0002": {"address": "2 rue de l’Église"},
            },
        }
    )

    # NUL bytes: one early in the file (line 3), one inside a name (line 40).
    table = rows()
    cell(table, 40, "Nom", "BER\x00TRAND")
    raw = text(table)
    lines = raw.split("\r\n")
    lines[2] = lines[2][:10] + "\x00" + lines[2][10:]
    write("nul-bytes.csv", "\r\n".join(lines).encode("cp1252"))
    cases.append(
        {
            "file": "nul-bytes.csv",
            "kind": "NUL bytes early in the file and inside a name",
            "exit": 1,
            "rejected": {"3": "caractère nul", "40": "caractère nul"},
            "contracts": ROWS - 2,
        }
    )

    # Old Mac line ends: CR alone.
    write("mac-cr.csv", text(rows()).replace("\r\n", "\r").encode("mac_roman"))
    cases.append(
        {
            "file": "mac-cr.csv",
            "kind": "old Mac CR-only line endings (Mac Roman)",
            "exit": 0,
            "rejected": {},
            "contracts": ROWS,
            "clients": {"C0001": {"first_name": "Zoé"}},
        }
    )

    # A header column named twice.
    header = list(HEADER)
    header[HEADER.index("Vendeur")] = "Nom"
    write("duplicate-column.csv", text(rows(), header=header).encode("cp1252"))
    cases.append(
        {
            "file": "duplicate-column.csv",
            "kind": "a column named twice in the header",
            "exit": 2,
            "error": "colonne « Nom » en double",
            "contracts": 0,
        }
    )

    # The header alone (an export filtered down to nothing), then lines of empty cells.
    write("header-only.csv", (text([]) + ";" * (len(HEADER) - 1) + "\r\n").encode("cp1252"))
    cases.append(
        {
            "file": "header-only.csv",
            "kind": "the header alone, then a line of empty cells",
            "exit": 2,
            "error": "aucune ligne de contrat",
            "contracts": 0,
        }
    )

    # UTF-16 without its byte order mark.
    write("utf16-no-bom.csv", text(rows(), delimiter="\t").encode("utf-16-le"))
    cases.append(
        {
            "file": "utf16-no-bom.csv",
            "kind": "UTF-16 without byte order mark",
            "exit": 2,
            "error": "UTF-16",
            "contracts": 0,
        }
    )

    # UTF-16 with its byte order mark (Excel's « Texte Unicode »): fine.
    write(
        "utf16-bom.csv",
        codecs.BOM_UTF16_LE + text(rows(), delimiter="\t").encode("utf-16-le"),
    )
    cases.append(
        {
            "file": "utf16-bom.csv",
            "kind": "UTF-16 with byte order mark",
            "exit": 0,
            "rejected": {},
            "contracts": ROWS,
        }
    )

    # Dates out of any plausible range.
    table = rows()
    cell(table, 7, "Date d'effet", "31/12/9999")
    cell(table, 8, "Date d'effet", "01/01/2099")
    cell(table, 9, "Date d'effet", "01/01/1900")
    cell(table, 10, "Date de résiliation", "31/12/9999")
    cell(table, 11, "Date d'effet", "01/01/0001")
    write("implausible-dates.csv", text(table).encode("cp1252"))
    cases.append(
        {
            "file": "implausible-dates.csv",
            "kind": "effect dates in 9999, 2099, 1900 and the year 1, a termination date in 9999",
            "exit": 1,
            "rejected": {
                "7": "date d'effet invraisemblable",
                "8": "date d'effet invraisemblable",
                "9": "date d'effet invraisemblable",
                "10": "date de résiliation invraisemblable",
                "11": "date d'effet invraisemblable « 01/01/0001 »",
            },
            "contracts": ROWS - 5,
        }
    )

    # Control characters and a tab in values; a value too long for its column; a stray quote.
    table = rows()
    cell(table, 11, "Prénom", "Zo\x07é")
    cell(table, 12, "Adresse", "12\true Paradis")
    cell(table, 13, "Nom", "D" * 150)
    cell(table, 14, "Nom", "XXSTRAY")
    cell(table, 15, "Ville", "Mar\x1bseille")
    raw = text(table).replace(";XXSTRAY;", ';Du"pont;')
    write("control-characters.csv", raw.encode("cp1252"))
    cases.append(
        {
            "file": "control-characters.csv",
            "kind": "control characters, a tab, a 150-character name and a stray quote",
            "exit": 1,
            "rejected": {
                "11": "caractère de contrôle U+0007",
                "13": "valeur trop longue dans la colonne « Nom »",
                "14": "guillemet isolé",
                "15": "caractère de contrôle U+001B",
            },
            "contracts": ROWS - 4,
            "clients": {"C0011": {"address": "12 rue Paradis"}},
        }
    )

    # A quoted address over two lines: one record, read as one row (the line break a space).
    table = rows()
    cell(table, 20, "Adresse", "Résidence Les Pins\r\nBât. B")
    write("multiline-address.csv", text(table).encode("cp1252"))
    cases.append(
        {
            "file": "multiline-address.csv",
            "kind": "a quoted address with a line break",
            "exit": 0,
            "rejected": {},
            "contracts": ROWS,
            "clients": {"C0019": {"address": "Résidence Les Pins Bât. B"}},
        }
    )

    # A UTF-8 export with one line in Windows-1252 (two files pasted together).
    table = rows()
    cell(table, 30, "Nom", "Hélène")
    cell(table, 31, "Nom", "Valérie")
    raw = text(table).encode("utf-8")
    bad = text(table).split("\r\n")[29]
    raw = raw.replace(bad.encode("utf-8"), bad.encode("cp1252"))
    write("mixed-encodings.csv", raw)
    cases.append(
        {
            "file": "mixed-encodings.csv",
            "kind": "a UTF-8 export with one line in Windows-1252",
            "exit": 1,
            "rejected": {"30": "UTF-8"},
            "contracts": ROWS - 1,
            "clients": {"C0030": {"last_name": "Valérie"}},
        }
    )

    # Unicode's noncharacters (a misread or damaged file: U+FFFE is a byte-swapped BOM), in a
    # plain value, a quoted one and one of the last plane; a private-use character and an emoji
    # beside them are text, kept.
    table = rows()
    cell(table, 16, "Nom", "Dur\ufffeand")
    cell(table, 17, "Adresse", "3; rue \ufdd0Paradis")  # (the separator has it quoted)
    cell(table, 18, "Prénom", "Zo\U0010ffffé")
    cell(table, 19, "Nom", "Durand \ue000\U0001f600")
    write("noncharacters.csv", text(table).encode("utf-8"))
    cases.append(
        {
            "file": "noncharacters.csv",
            "kind": "noncharacters U+FFFE, U+FDD0 (quoted) and U+10FFFF; a private-use character",
            "exit": 1,
            "rejected": {
                "16": "caractère non valide U+FFFE dans la colonne « Nom »",
                "17": "caractère non valide U+FDD0",
                "18": "caractère non valide U+10FFFF dans la colonne « Prénom »",
            },
            "contracts": ROWS - 3,
            "clients": {"C0018": {"last_name": "Durand \ue000\U0001f600"}},
        }
    )

    # Rows of data above the header (pages pasted together, the first header lost), a title
    # between them and the header: the rows are rejected by line, the title passed over.
    above = rows(2)
    cell(above, 2, "N° client", "C0901")
    cell(above, 2, "N° contrat", "K0901")
    cell(above, 3, "N° client", "C0902")
    cell(above, 3, "N° contrat", "K0902")
    lines = text(above).split("\r\n")[1:3]  # the two rows, without their header
    title = "Portefeuille au 23/11/2026" + ";" * (len(HEADER) - 1)
    write("rows-above-header.csv", "\r\n".join([*lines, title, text(rows())]).encode("cp1252"))
    cases.append(
        {
            "file": "rows-above-header.csv",
            "kind": "two rows of data above the header, then a title line",
            "exit": 1,
            "rejected": {
                "1": "ligne de données au-dessus de la ligne d'en-têtes (ligne 4)",
                "2": "ligne de données au-dessus de la ligne d'en-têtes (ligne 4)",
            },
            "contracts": ROWS,
        }
    )

    # A line with too few fields and a line with too many (a separator in a name).
    table = rows()
    cell(table, 50, "Nom", "XXTWO")
    raw = text(table).replace(";XXTWO;", ";Durand;Martin;")
    lines = raw.split("\r\n")
    lines[50] = ";".join(lines[50].split(";")[:7])
    write("wrong-field-counts.csv", "\r\n".join(lines).encode("cp1252"))
    cases.append(
        {
            "file": "wrong-field-counts.csv",
            "kind": "a row cut short and a row with a separator in a value",
            "exit": 1,
            "rejected": {"50": "31 au lieu de 30", "51": "7 au lieu de 30"},
            "contracts": ROWS - 2,
        }
    )

    # Values a file stores wrong unless the import sees them: « \ufffd », a character lost
    # before the export (imported, flagged); a client number in full-width digits (the same
    # client as in plain digits); a revenue past what both databases keep to the cent.
    table = rows()
    cell(table, 20, "Nom", "Leb\ufffduf")
    cell(table, 22, "N° client", "\uff23\uff10\uff10\uff12\uff10")  # C0020, as line 21
    cell(table, 23, "Chiffre d'affaires", "95 000 000 000 000,01")
    write("damaged-values.csv", text(table).encode("utf-8"))
    cases.append(
        {
            "file": "damaged-values.csv",
            "kind": "a character lost before the export, full-width digits, a huge revenue",
            "exit": 0,
            "rejected": {},
            "to_fix": {
                "20": "caractère illisible (« \ufffd ») dans la colonne « Nom »",
                "23": "chiffre d'affaires : montant trop grand",
            },
            "contracts": ROWS,
            "client_count": ROWS - 1,
            "clients": {
                "C0019": {"last_name": "Leb\ufffduf"},
                "C0020": {"last_name": "Durand21"},  # its last row's
                "C0022": {"revenue": None},
            },
        }
    )

    # What a spreadsheet leaves in an export it saved: errors in place of formulas' results
    # (in English in a workbook, in French in a CSV file a French Excel saved), numbers in
    # scientific notation (their last digits lost), and its way of keeping a number as text,
    # `="…"`, unquoted or quoted as a CSV writer quotes it. A « # » in a text is no error.
    table = rows()
    cell(table, 5, "N° client", "#N/A")
    cell(table, 6, "N° client", "#N/A")  # not one client with line 5's
    cell(table, 7, "Nom", "#VALEUR!")
    cell(table, 8, "N° client", "1,00660E+11")
    cell(table, 9, "N° client", "KEPT-AS-TEXT")
    cell(table, 10, "Code postal", '="06000"')
    cell(table, 11, "Adresse", "Bât. #3")
    cell(table, 12, "SIRET", "4,12524E+13")
    marked = text(table).replace("KEPT-AS-TEXT", '="C0008"')
    write("spreadsheet-marks.csv", marked.encode("utf-8"))
    cases.append(
        {
            "file": "spreadsheet-marks.csv",
            "kind": "a spreadsheet's errors, scientific notation and numbers kept as text",
            "exit": 1,
            "rejected": {
                "5": "erreur de formule « #N/A » dans la colonne « N° client »",
                "6": "erreur de formule « #N/A » dans la colonne « N° client »",
                "7": "erreur de formule « #VALEUR! » dans la colonne « Nom »",
                "8": "numéro de client « 1,00660E+11 » en notation scientifique",
                "12": "SIRET « 4,12524E+13 » en notation scientifique",
            },
            "to_fix": {},
            "contracts": ROWS - 5,
            "client_count": ROWS - 5,
            "clients": {
                "C0008": {"last_name": "Durand8"},  # its number kept as text
                "C0009": {"postal_code": "06000"},
                "C0010": {"address": "Bât. #3"},
            },
        }
    )

    (HERE / "cases.json").write_text(
        json.dumps({"cases": cases}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()

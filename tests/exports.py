"""Small CRM exports written by the tests themselves, so that a test's identities and dates are
its own and its expected values are written out by hand from the rules (not computed by the
code under test). The layout is the agency's export's (`sample/portfolio.csv`): `;`,
Windows-1252, CRLF, French dates."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tests.conftest import IMPORT_DAY, M3

PORTFOLIO_HEADER = [
    "N° client",
    "Type client",
    "Civilité",
    "Nom",
    "Prénom",
    "Raison sociale",
    "Adresse",
    "Code postal",
    "Ville",
    "Téléphone",
    "E-mail",
    "Situation familiale",
    "Situation professionnelle",
    "SIRET",
    "Code NAF",
    "Activité",
    "Chiffre d'affaires",
    "Effectif",
    "Contact assurances",
    "Agence",
    "Chargé de clientèle",
    "N° contrat",
    "Produit",
    "Origine",
    "Date d'effet",
    "Statut contrat",
    "Date de résiliation",
    "Vendeur",
    "DP signées",
    "Pièces manquantes",
]
ADVISORS_HEADER = ["E-mail", "Prénom", "Nom", "Téléphone", "Agence", "Rôle"]

# The staff of the tests' own agency (invented; `example.fr` is a reserved domain).
ALICE = "alice.martin@cabinet-test.example.fr"
BRUNO = "bruno.petit@cabinet-test.example.fr"
CLARA = "clara.roux@cabinet-test.example.fr"
STAFF = {
    ALICE: ("Alice", "Martin", "06 11 22 33 44", "Corniche", "Conseiller"),
    BRUNO: ("Bruno", "Petit", "06 22 33 44 55", "Rouvière", "Conseiller"),
    CLARA: ("Clara", "Roux", "06 33 44 55 66", "Corniche", "Manager"),
}


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    encoding: str = "cp1252",
    delimiter: str = ";",
) -> Path:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows([header, *rows])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_edited_xlsx(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    edits: dict[bytes, bytes],
) -> Path:
    """A workbook of `header` and `rows` whose sheet's XML then has each key of `edits`
    replaced by its value: what Excel writes and openpyxl does not (`_xHHHH_` escapes, the
    extensions of Excel 2010)."""
    import zipfile

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in (header, *rows):
        sheet.append(list(row))
    plain = io.BytesIO()
    workbook.save(plain)
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "xl/worksheets/sheet1.xml":
                for old, new in edits.items():
                    data = data.replace(old, new)
            target.writestr(name, data)
    return path


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    """A `;`-separated Windows-1252 export (the sample files): header, rows."""
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode("cp1252")), delimiter=";"))
    return rows[0], rows[1:]


def advisors_csv(path: Path, emails: Iterable[str] = tuple(STAFF)) -> Path:
    return write_csv(path, ADVISORS_HEADER, [[email, *STAFF[email]] for email in emails])


def contract(
    client: str,
    number: str,
    effect: str,
    advisor: str = ALICE,
    *,
    origin: str = "AN",
    status: str = "Actif",
    **fields: str,
) -> dict[str, str]:
    """One row of a portfolio export; `fields` override any other column by its header."""
    row = {
        "N° client": client,
        "Type client": "Particulier",
        "Civilité": "Mme",
        "Nom": f"Client{client}",
        "Prénom": "Zoé",
        "Adresse": "1 rue Paradis",
        "Code postal": "13006",
        "Ville": "Marseille",
        "Téléphone": "06 12 34 56 78",
        "Agence": "Corniche",
        "Chargé de clientèle": advisor,
        "N° contrat": number,
        "Produit": "Auto",
        "Origine": origin,
        "Date d'effet": effect,
        "Statut contrat": status,
        "Vendeur": "Marc Vidal",
        "DP signées": "Oui",
    }
    row.update(fields)
    return row


def portfolio_csv(
    path: Path,
    rows: Iterable[dict[str, str]],
    *,
    header: Sequence[str] = PORTFOLIO_HEADER,
    encoding: str = "cp1252",
    delimiter: str = ";",
) -> Path:
    """Rows keyed by the standard header, written under `header` (same order, maybe renamed)."""
    cells = [[row.get(name, "") for name in PORTFOLIO_HEADER] for row in rows]
    return write_csv(path, header, cells, encoding=encoding, delimiter=delimiter)


def ok(m3: M3, *args: str, today: str = IMPORT_DAY) -> Any:
    """Run `m3` and check it succeeded."""
    result = m3(*args, today=today)
    assert result.exit_code == 0, result.output
    return result


def ok_json(m3: M3, *args: str, today: str = IMPORT_DAY) -> Any:
    """Run `m3 … --json`, check it succeeded, return the document."""
    code, document = m3.json(*args, today=today)
    assert code == 0, document
    return document

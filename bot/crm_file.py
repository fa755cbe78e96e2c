"""Reading the agency's CRM exports: CSV (`;`, `,` or tab; UTF-8, UTF-8 BOM, UTF-16 or
Windows-1252, detected) and `.xlsx`, with the header names real exports use.

`read_table()` gives the header and the rows with their line numbers (the header is line 1);
`match_headers()` maps the header to the fields; the `parse_*` functions turn French cell
values into Python values, raising `ValueError` with a French message.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email


class FileRefused(Exception):
    """The file cannot be imported at all; the message says why, in French."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    cells: list[Any]


@dataclass(frozen=True, slots=True)
class Table:
    header: list[str]
    rows: Iterator[Row]
    size_hint: int  # bytes for a CSV, rows for a workbook: for a progress bar


# --- Header names ----------------------------------------------------------------------------

_PREFIX = re.compile(r"^(n°|no|num|numero|nº)(?=[a-z]|$)")


def normalize_header(name: str) -> str:
    """Fold case, accents, spaces, hyphens, underscores, apostrophes and the N°/Num prefix."""
    text = unicodedata.normalize("NFKD", str(name)).casefold()
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("n°", "n°").replace("nº", "n°")
    text = re.sub(r"[\s\-_'’`.]+", "", text)
    text = _PREFIX.sub("", text)
    return re.sub(r"[^a-z0-9°]", "", text).replace("°", "")


PORTFOLIO_FIELDS: dict[str, tuple[str, ...]] = {
    "client_number": ("N° client", "Num client", "Numéro client", "Code client", "Client"),
    "client_type": ("Type client", "Type de client", "Type personne", "Nature client"),
    "civility": ("Civilité", "Titre"),
    "last_name": ("Nom", "Nom client"),
    "first_name": ("Prénom",),
    "company_name": ("Raison sociale", "Dénomination"),
    "address": ("Adresse", "Adresse 1", "Adresse ligne 1"),
    "postal_code": ("Code postal", "CP"),
    "city": ("Ville", "Commune"),
    "phone": (
        "Téléphone",
        "Tel",
        "Tél",
        "Tel portable",
        "Portable",
        "Mobile",
        "Téléphone mobile",
    ),
    "email": ("E-mail", "Email", "Mail", "Adresse mail", "Courriel"),
    "marital_status": ("Situation familiale", "Situation matrimoniale"),
    "professional_status": ("Situation professionnelle", "Situation pro", "CSP"),
    "siret": ("SIRET", "N° SIRET", "SIREN/SIRET", "SIREN"),
    "naf_code": ("Code NAF", "NAF", "Code APE", "APE"),
    "activity": ("Activité", "Activité exacte", "Profession"),
    "revenue": ("Chiffre d'affaires", "CA", "CA annuel"),
    "headcount": ("Effectif", "Nombre de salariés"),
    "insurance_contact": (
        "Contact assurances",
        "Interlocuteur assurances",
        "Décideur",
        "Gérant",
    ),
    "branch": ("Agence", "Point de vente"),
    "advisor": (
        "Chargé de clientèle",
        "Conseiller",
        "Chargé de clientèle (e-mail)",
        "Gestionnaire",
    ),
    "contract_number": ("N° contrat", "Num contrat", "Numéro de contrat", "Contrat", "Police"),
    "product": ("Produit", "Branche", "Famille produit"),
    "origin": ("Origine", "Type d'affaire", "Nature affaire"),
    "effect_date": ("Date d'effet", "Date effet", "Effet"),
    "contract_status": ("Statut contrat", "Statut", "État contrat", "Situation contrat"),
    "termination_date": ("Date de résiliation", "Date résiliation", "Résilié le"),
    "seller": ("Vendeur", "Apporteur", "Souscripteur"),
    "dp_signed": ("DP signées", "DP signée", "Dispositions particulières signées"),
    "missing_pieces": ("Pièces manquantes", "Pièces à fournir"),
}
PORTFOLIO_REQUIRED = (
    "client_number",
    "client_type",
    "contract_number",
    "origin",
    "effect_date",
    "advisor",
)

ADVISOR_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("E-mail", "Email", "Mail", "Adresse mail", "Courriel"),
    "first_name": ("Prénom",),
    "last_name": ("Nom",),
    "phone": ("Téléphone", "Tel", "Tél", "Portable", "Mobile", "Ligne directe"),
    "branch": ("Agence", "Point de vente"),
    "role": ("Rôle", "Fonction", "Profil"),
}
ADVISOR_REQUIRED = ("email",)


def match_headers(
    header: list[str], fields: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> dict[str, int]:
    """Column index of each known field; `FileRefused` when a required one is missing."""
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        positions.setdefault(normalize_header(name), index)
    mapping: dict[str, int] = {}
    for field, aliases in fields.items():
        for alias in aliases:
            index_or_none = positions.get(normalize_header(alias))
            if index_or_none is not None:
                mapping[field] = index_or_none
                break
    missing = [fields[f][0] for f in required if f not in mapping]
    if missing:
        raise FileRefused(
            "colonne(s) obligatoire(s) introuvable(s) : "
            + ", ".join(f"« {m} »" for m in missing)
            + ". Colonnes lues : "
            + ", ".join(f"« {h} »" for h in header if str(h).strip())
        )
    return mapping


# --- Reading files ---------------------------------------------------------------------------


def _decode(raw: bytes) -> str:
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        # French Excel writes Windows-1252; it decodes any byte but five, which latin-1 takes.
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


def _delimiter(first_line: str) -> str:
    try:
        return csv.Sniffer().sniff(first_line, delimiters=";,\t").delimiter
    except csv.Error:
        counts = {d: first_line.count(d) for d in ";,\t"}
        return max(counts, key=lambda d: counts[d])


def _csv_table(raw: bytes) -> Table:
    if b"\x00" in raw[:4096] and not raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRefused("ce fichier n'est ni un CSV ni un classeur Excel (.xlsx) lisible")
    text = _decode(raw)
    first_line = text.split("\n", 1)[0]
    if not first_line.strip():
        raise FileRefused("le fichier est vide ou sa première ligne (les en-têtes) est vide")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise FileRefused("impossible de lire la ligne d'en-têtes du fichier") from exc

    def rows() -> Iterator[Row]:
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield Row(line, [])  # malformed quoting: rejected as a wrong field count
                line = reader.line_num + 1
                continue
            if any(c.strip() for c in cells):
                yield Row(line, cells)
            line = reader.line_num + 1

    return Table(header=[h.strip() for h in header], rows=rows(), size_hint=len(raw))


def _xlsx_table(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged archive
        raise FileRefused(f"classeur Excel illisible ({type(exc).__name__})") from exc
    sheet = workbook.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    header: list[str] = []
    line = 0
    for line, cells in enumerate(values, start=1):  # noqa: B007 - line is used after the loop
        if any(c not in (None, "") for c in cells):
            header = ["" if c is None else str(c).strip() for c in cells]
            break
    if not header:
        workbook.close()
        raise FileRefused("le classeur est vide")
    while header and not header[-1]:
        header.pop()
    width = len(header)
    header_line = line

    def rows() -> Iterator[Row]:
        for number, cells in enumerate(values, start=header_line + 1):
            cells_list = list(cells)
            if not any(c not in (None, "") for c in cells_list):
                continue
            extra = cells_list[width:]
            if any(c not in (None, "") for c in extra):
                yield Row(number, cells_list)
            else:
                yield Row(number, cells_list[:width] + [None] * (width - len(cells_list)))
        workbook.close()

    return Table(header=header, rows=rows(), size_hint=sheet.max_row or 0)


def read_table(path: Path) -> Table:
    """Open a CSV or XLSX export; `FileRefused` when it cannot be read at all."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileRefused(f"impossible de lire le fichier : {exc.strerror}") from exc
    if raw.startswith(b"PK\x03\x04"):
        return _xlsx_table(path)
    if path.suffix.lower() in {".xls", ".ods", ".pdf", ".doc", ".docx"}:
        raise FileRefused(
            f"format « {path.suffix} » non pris en charge : enregistrez l'export en CSV ou .xlsx"
        )
    return _csv_table(raw)


# --- Cell values ------------------------------------------------------------------------------


def clean(value: Any) -> str:
    if type(value) is str:  # the common case, called for every cell: keep it cheap
        return value.strip() if "\u00a0" not in value else value.replace("\u00a0", " ").strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\u00a0", " ").strip()


_DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%Y/%m/%d")


def parse_date(value: Any) -> dt.date | None:
    """`15/01/2025`, `15/01/25`, `2025-01-15` or an Excel date cell; empty → None."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return _parse_date_text(clean(value))


@lru_cache(maxsize=16384)  # an export repeats the same dates many times
def _parse_date_text(text: str) -> dt.date | None:
    if not text:
        return None
    day = text.split(" ")[0]  # `15/01/2025 00:00:00` from some exports
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(day, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date invalide « {text} » (attendu JJ/MM/AAAA)")


_YES = {"oui", "o", "1", "x", "yes", "y", "vrai", "true"}
_NO = {"non", "n", "0", "no", "faux", "false", "-"}


def parse_yes_no(value: Any) -> bool | None:
    """Oui/Non, O/N, 1/0, X/empty. Empty → None (unknown), except that X/empty reads as no."""
    if isinstance(value, bool):
        return value
    text = clean(value).casefold()
    if not text:
        return None
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(f"valeur oui/non invalide « {clean(value)} »")


def parse_decimal(value: Any) -> Decimal | None:
    """`1 250 000,00` (spaces possibly non-breaking), `1250000.00`, `1.250.000,00`."""
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = re.sub(r"[\s\u00a0\u202f€]", "", clean(value))
    if not text:
        return None
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"montant invalide « {clean(value)} »") from exc


def parse_int(value: Any) -> int | None:
    number = parse_decimal(value)
    return None if number is None else int(number)


@lru_cache(maxsize=65536)
def normalize_phone(text: str) -> str | None:
    """E.164 for a number that can exist (region FR by default), else None.

    "Can exist" is `is_possible_number` (right length for its country), not `is_valid_number`:
    the latter also refuses ranges not yet allocated in the library's metadata, and flagging a
    client's real number as wrong would send the advisor hunting for nothing.
    """
    digits = re.sub(r"\D", "", text)
    if len(digits) == 9 and text.strip()[0] in "67":  # a spreadsheet ate the leading zero
        text = "0" + digits
    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=65536)
def normalize_email(text: str) -> str | None:
    """The normalised address when valid (syntax only, no DNS), else None."""
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def split_pieces(value: Any) -> list[str]:
    return [p.strip() for p in re.split(r"[,;|]", clean(value)) if p.strip()]

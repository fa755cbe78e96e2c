"""Reading the agency's CRM exports: CSV (`;`, `,` or tab; UTF-8, UTF-8 BOM, UTF-16 or
Windows-1252, detected) and `.xlsx`.

`read_table()` gives the header and the rows with their line numbers (the header is line 1);
a file that cannot be read at all raises `FileRefused` with a French message.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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

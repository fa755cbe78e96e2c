"""The stats as files a spreadsheet opens: CSV for French Excel (`;`, UTF-8 with a BOM, decimal
commas) and XLSX (openpyxl). One row for the whole scope, each branch and each advisor; one
column per figure (`bot.stats.FIGURES`, rates in percent), then the gaps by product and the
next actions by kind and state.

A cell of text that starts with `=`, `+`, `-`, `@` (or a tab or carriage return) is neutralised
with a leading apostrophe, so that a name typed into the CRM cannot run as a formula."""

from __future__ import annotations

import csv
import io
from typing import Any

from bot.blocks.stats import product_label, say, words
from bot.stats import FIGURES, ActionState, Kind, Report, export_value

Cell = str | int | float | None
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def table(report: Report) -> tuple[list[str], list[list[Cell]]]:
    """The header and the rows (text neutralised, numbers as numbers)."""
    w = words()
    kinds = report.action_kinds()
    products = report.products()
    header = [say(w.level_column()), say(w.branch_column()), say(w.advisor_column())]
    header += [say(w.percent_column(f.label)) if f.kind is Kind.RATE else f.label for f in FIGURES]
    header += [say(w.gap_column(product_label(code))) for code in products]
    header += [say(w.action_column(kind, state.value)) for kind in kinds for state in ActionState]
    rows: list[list[Cell]] = []
    for line in report.lines:
        row: list[Cell] = [
            say(w.level_value(line.level.value)),
            neutralise(line.branch or ""),
            neutralise(line.advisor or ""),
        ]
        row += [export_value(f, line.value(f)) for f in FIGURES]
        row += [line.gaps.get(code, 0) for code in products]
        row += [line.actions.get(kind, {}).get(state, 0) for kind in kinds for state in ActionState]
        rows.append(row)
    return header, rows


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")
    return str(value)


def to_csv(report: Report) -> bytes:
    header, rows = table(report)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    writer.writerows([[_csv_cell(cell) for cell in row] for row in rows])
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment

    header, rows = table(report)
    workbook = Workbook()
    sheet: Any = workbook.active
    sheet.title = say(words().sheet_title())[:31]
    sheet.append([neutralise(h) for h in header])
    for row in rows:
        sheet.append(row)
    sheet.freeze_panes = "D2"
    for cell in sheet[1]:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()

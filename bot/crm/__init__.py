"""The CRM ("Lagon") exports and their import, by concern.

- `reading`: a file → its header and rows with their line numbers (CSV in any of the encodings
  and delimiters French Excel writes, or an `.xlsx` workbook); `FileRefused` when it cannot be.
- `vocabulary`: the words of the export: header names and their normalisation, the fields of
  each file (`PORTFOLIO_FIELDS`, `ADVISOR_FIELDS`), client types, origins and statuses.
- `rows`: cell values (dates, yes/no, amounts, phones, e-mails, pieces) and one portfolio row
  parsed into plain values, or rejected with a French reason.
- `run`: what every import shares: the result, the opening step (read, map the columns, record
  the run), the advisor and branch lookups, diffs and audit rows.
- `scan`: a portfolio export's records fingerprinted and parsed into staging rows, on two
  processes for a large file.
- `stage`: the temporary tables those rows are bulk-loaded into.
- `portfolio`: `import_portfolio` (one row per contract), which keeps the M+3 cases in step.
- `advisors`: `import_advisors` (the agency's staff).
"""

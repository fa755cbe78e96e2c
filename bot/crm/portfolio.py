"""Importing the portfolio export (one row per contract) and keeping the M+3 cases in step.

A row that cannot be a contract is rejected with its line and a French reason; the others are
imported. A bad phone or e-mail is kept and flagged "à corriger dans Lagon". A file that cannot
be read at all raises `FileRefused` and changes nothing. Re-importing the same file changes
nothing. Choices where the rules are silent:

- The same contract twice in one file with the same values is imported once; with different
  values, the later row is rejected (the CRM export is inconsistent, a person must look). The
  values are the contract's and its client's details: a repeat that gives the client another
  phone is rejected too, not passed over.
- A client's details come from its last row in the file.
- The advisor column holds an e-mail, a "Prénom Nom" or a "NOM Prénom"; an advisor the bot
  does not know rejects the row (import the advisors first: `m3 import advisors`). When no row
  names a known advisor, the whole file is refused with one line listing the unknown ones: the
  staff file was not imported, or this export belongs to another agency.
- An empty contract status reads as active, unless a termination date already passed. A
  contract the CRM calls « Actif » whose termination date has passed reads as terminated (it
  opens no M+3 and leaves its open case), flagged "à corriger dans Lagon".
- An effect or termination date before 1950 or more than two years ahead rejects the row.
- An optional column the file lacks (no « Téléphone », or one the bot cannot name: « Tél.
  mobile ») erases nothing: an existing client or contract keeps what the database holds for
  it (`_keep_stored_values`), a new one has it empty. Such columns, and the file's columns the
  bot does not read, are listed in the summary. Without a status column, a contract whose
  termination date has passed still reads as terminated.

How, at scale (hundreds of thousands of rows, bounded memory):

1. The file is streamed (`bot.crm.reading`). Each record's bytes are fingerprinted (BLAKE2b,
   keyed by what gives them their meaning: the header, the encoding, the staff the advisor
   column resolves to, the parser's version). A record whose fingerprint is a contract's
   `row_hash` is known: the database already holds exactly what it says, and it is neither
   parsed nor validated again. The others are parsed and written, by batches, to temporary
   staging tables (`bot.crm.stage`: `executemany` on SQLite, `COPY` on PostgreSQL). A large
   CSV file mostly new to the database is read on two processes (`bot.crm.scan`).
2. Set-wise statements over the staged rows then settle the duplicates, find each client's
   last row (a new client's id is given there, `bot.bulk.new_ids`), insert the new clients,
   open their cases (`_open_cases_of_new_clients`) and insert the contracts (`INSERT …
   SELECT`; a first load on SQLite builds their plain indexes after it, `bot.bulk`), and
   compare the existing ones; only the rows that differ come back to Python, for the
   comparison and the audit log, and the changed contracts are updated from their staged rows
   in one statement. PostgreSQL keeps the staging tables and the statements' sorts in memory
   (`bot.db`, `bot.crm.stage`).
3. The case engine (`bot.cases.engine`) and the CRM corrections run over the touched clients:
   those with new contracts or new details, and both clients of a contract changed in a field
   the engine reads (`CASE_FIELDS`).

A contract keeps the fingerprint of its row only while that row says everything the database
holds about it: nothing that changes with the day (an empty status with a termination date
still to come), and the client's details in the database are the ones on that row. What the
row has to fix in the CRM (a bad phone, say) is kept with the fingerprint
(`contract.row_flags`), and reported again at every import that skips the row. A client whose
details change has the fingerprints of its other contracts cleared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from array import array
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import (
    ARRAY,
    Connection,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.orm import Session

from bot.bulk import Loader, foreign_keys_checked_after, indexes_built_after, new_ids
from bot.cases.engine import (
    CASE_FIELDS,
    NEW_CASE_COLUMNS,
    LeftOut,
    SyncReport,
    open_cases,
    sync_cases,
)
from bot.corrections import apply_imported
from bot.crm import stage
from bot.crm.reading import FileRefused, Table
from bot.crm.rows import (
    CLIENT_FIELDS,
    CONTRACT_FIELDS,
    PortfolioParser,
    native_values,
    sqlite_values,
)
from bot.crm.run import (
    AUDIT_COLUMNS,
    ImportResult,
    Lookup,
    Progress,
    Rejection,
    audit_values,
    comparable,
    diff,
    start,
)
from bot.crm.scan import Scanner, no_cycle_collection, scan_file
from bot.crm.vocabulary import PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED, fold
from bot.models import (
    AuditEntry,
    Base,
    Case,
    Client,
    Contract,
    ContractStatus,
    ImportRun,
    RejectedRow,
)
from bot.rules import Status, oldest_effect_opening, window_for

# Change it whenever a row's meaning changes (parsing, validation): every fingerprint then
# misses once, and every row is read again.
# 2: French amounts only, format characters, namesakes; 3: « Actif » past its termination
# date, phones one digit short, AN origins spelt out, a workbook's 13-digit SIRET cells;
# 4: a row naming an advisor who left is flagged; 5: spaces of every kind made plain spaces,
# number cells past 15 digits rejected, invisible characters in header names; 6: amounts
# from 10**13 flagged, « \ufffd » flagged, client and contract numbers in NFKC form; 7: a
# spreadsheet's formula errors and numbers in scientific notation rejected, `="…"` unwrapped.
FINGERPRINT_VERSION = b"m3-portfolio-7"
PAGE = 2000
# Values looked up a statement (`_Import._one_of`): on SQLite, within its limit on parameters;
# on PostgreSQL, one array parameter.
IN_PAGE = 900
ARRAY_PAGE = 10_000
# The SQLite that has `UPDATE … FROM` (before it, `_Import._from_staged_rows` sets each column
# by its own subquery).
SQLITE_UPDATE_FROM = (3, 33)
# From this many new contracts, PostgreSQL's statistics are refreshed before the import ends.
ANALYZE_NEW_CONTRACTS = 10_000

_client = Base.metadata.tables[Client.__tablename__]
_contract = Base.metadata.tables[Contract.__tablename__]
_audit = Base.metadata.tables[AuditEntry.__tablename__]
_rejected = Base.metadata.tables[RejectedRow.__tablename__]
_case = Base.metadata.tables[Case.__tablename__]
S = stage.stage_row
SC = stage.stage_client
F = stage.stage_final
T = stage.stage_touched
ROW_FIELDS = (*CONTRACT_FIELDS, *CLIENT_FIELDS)  # what a row says, besides its numbers
# The column a stored field comes from, where it is not the field's own name.
_COLUMN_OF = {
    "phone_invalid": "phone",
    "email_invalid": "email",
    "branch_id": "branch",
    "advisor_id": "advisor",
    "status": "contract_status",
    "new_business": "origin",
}


def import_portfolio(
    session: Session,
    path: Path,
    *,
    today: dt.date,
    progress: Progress | None = None,
    run_kind: str = "portfolio",
    fingerprints: bool = True,
    parallel: bool = True,
) -> ImportResult:
    """Import a portfolio export. Raises `FileRefused` (nothing written: the caller rolls the
    session back) when the file is unreadable or names no advisor the bot knows. `run_kind`
    is recorded on the import run (the demo marks its own). `fingerprints=False` reads every
    row again, `parallel=False` reads a large file on this process alone (`bot.crm.scan`):
    the tests compare both ways."""
    table, columns, lookup, run = start(
        session, path, run_kind, PORTFOLIO_FIELDS, PORTFOLIO_REQUIRED, today
    )
    connection = session.connection()
    importing = _Import(
        session,
        connection,
        table,
        columns,
        lookup,
        run,
        today,
        progress,
        fingerprints,
        path=path if parallel else None,
    )
    with no_cycle_collection():
        result = importing.run()
    # On failure the caller rolls back, which takes the staging tables with it.
    if importing.staging:
        stage.drop(connection)
    return result


def _context_key(table: Table, lookup: Lookup) -> bytes:
    """The key of every fingerprint of this file: what gives a record's bytes their meaning."""
    context = hashlib.blake2b(digest_size=32)
    context.update(FINGERPRINT_VERSION)
    for part in (table.encoding, table.delimiter, *table.header):
        context.update(b"\x1f" + part.encode("utf-8", "surrogatepass"))
    for advisor_id, email, first_name, last_name in lookup.staff:
        context.update(f"\x1e{advisor_id}\x1f{email}\x1f{first_name}\x1f{last_name}".encode())
    return context.digest()


class _KnownRow(NamedTuple):
    """A row of the file whose fingerprint a contract keeps (`_Import._lines_met`)."""

    line: int
    number: str  # the contract's
    client_number: str


class _Import:
    def __init__(
        self,
        session: Session,
        connection: Connection,
        table: Table,
        columns: dict[str, int],
        lookup: Lookup,
        run: ImportRun,
        today: dt.date,
        progress: Progress | None,
        fingerprints: bool,
        *,
        path: Path | None,
    ) -> None:
        self.session = session
        self.connection = connection
        self.table = table
        self.columns = columns
        self.lookup = lookup
        self.run_row = run
        self.today = today
        self.progress = progress
        self.fingerprints = fingerprints
        self.path = path  # the file, when it may be read on two processes
        self.actor = f"import:{run.id}"
        self.audit_at = dt.datetime.now(dt.UTC)  # one time for this import's audit entries
        self.result = ImportResult()
        # The optional columns the file lacks: what the database holds for them stays.
        self.absent = {name for name in PORTFOLIO_FIELDS if name not in columns}
        read = set(columns.values())
        self.result.absent_columns = [
            PORTFOLIO_FIELDS[n][0] for n in PORTFOLIO_FIELDS if n in self.absent
        ]
        self.result.unread_columns = [
            name for position, name in enumerate(table.header) if name and position not in read
        ]
        self.postgresql = connection.dialect.name == "postgresql"
        version = connection.dialect.server_version_info or ()
        self.update_from = self.postgresql or version >= SQLITE_UPDATE_FROM
        self.converters = native_values() if self.postgresql else sqlite_values()
        # The known rows (fingerprint met in the database): fingerprint and line, in order.
        self.known_hashes = array("q")
        self.known_lines = array("q")
        self.staged = 0
        self.staging = False  # the staging tables are made (`_staging`)
        # Known rows rejected as a duplicate (they do not count for their client's details).
        self.dead_known: set[int] = set()
        self.known_updated = 0  # known rows of a client whose details changed
        self.known_rejected = 0  # known rows rejected as a duplicate with other values
        self.new_cases: SyncReport | None = None  # the cases of new clients
        self.new_clients = 0  # how many
        self.clients = 0  # clients of the file (staged rows' clients)
        self.changing = 0  # existing ones whose last staged row gives other details
        self.changed_clients = 0  # and of those, the ones whose details changed
        self.fresh = 0  # staged rows of new contracts
        self.touched = 0  # clients whose cases to bring in step (`stage_touched`)
        self.dropped = 0  # staged rows dropped as a repeat of another
        self.any_contract = True  # contracts existed before the import
        self.redated: set[str] = set()  # contracts whose effect date the CRM corrected
        # The first id of the contracts this import creates (none: past any id).
        self.new_from = 1 << 62

    # --- 1. Reading ---------------------------------------------------------------------------

    def run(self) -> ImportResult:
        self.read()
        if self.staged:
            self.settle()
        return self.finish()

    def read(self) -> None:
        table, result, lookup = self.table, self.result, self.lookup
        parser = PortfolioParser(
            columns=self.columns,
            header=table.header,
            lookup=lookup,
            today=self.today,
            plain=table.encoding != "xlsx",
            **self.converters,
        )
        rows = Loader(self.connection, S, stage.ROW_COLUMNS, ready=True)
        clients = Loader(self.connection, SC, stage.CLIENT_COLUMNS, ready=True)

        def flush_rows() -> None:
            if rows.buffer:
                self._staging()
            rows.flush()

        def flush_clients() -> None:
            if clients.buffer:
                self._staging()
            clients.flush()

        known, known_flags = self._known() if self.fingerprints else (set(), {})
        scanner = Scanner(
            table=table,
            parser=parser,
            lookup=lookup,
            advisor_column=self.columns["advisor"],
            known=known,
            known_flags=known_flags,
            key=_context_key(table, lookup),
            remember=self.fingerprints,
            rows=rows.buffer,
            clients=clients.buffer,
            flush_rows=flush_rows,
            flush_clients=flush_clients,
        )
        lookup.stage_branches()
        found = scan_file(scanner, self.path, self.progress)
        if found.new_branches:
            self._staging()  # (a row can name a branch and be rejected: none staged)
            self._create_branches(found.new_branches)
        result.rows = found.count
        result.rejected.extend(found.rejected)
        result.to_fix.extend(found.to_fix)
        result.other_origins = sorted(found.other_origins, key=fold)
        if self.progress is not None:
            self.progress(found.count)
        self.known_hashes, self.known_lines = found.known_hashes, found.known_lines
        self.staged = rows.count
        if not found.count:
            raise FileRefused(
                "le fichier ne contient aucune ligne de contrat, seulement ses en-têtes : "
                "vérifiez les filtres de l'export dans Lagon"
            )
        if found.unknown_advisors and not found.known_advisor:
            raise FileRefused(
                _unknown_advisors(
                    found.unknown_advisors, found.unknown_count, staff=bool(lookup.advisors)
                )
            )

    def _staging(self) -> None:
        """Make the staging tables, when the first parsed row is written: a file the database
        holds already makes none (on PostgreSQL, making and dropping them took 25–30 ms)."""
        if not self.staging:
            stage.create(self.connection)
            self.staging = True

    def _create_branches(self, staged: dict[int, tuple[str, str]]) -> None:
        """Create the branches the file names that the bot did not know, and give the staged
        clients their ids in place of the placeholders (`Lookup.stage_branches`)."""
        ids = self.lookup.create_branches(staged)
        self.result.new_branches = sorted(self.lookup.created, key=fold)
        real = case(
            *[(SC.c.branch_id == placeholder, branch_id) for placeholder, branch_id in ids.items()]
        )
        self.connection.execute(update(SC).where(SC.c.branch_id < 0).values(branch_id=real))

    def _known(self) -> tuple[set[int], dict[int, str]]:
        """Every fingerprint the contracts keep, and the fixes kept with some (JSON), read with
        the driver's own cursor (one row at a time through SQLAlchemy costs as much again as
        the rest of a re-import)."""
        raw = self.connection.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            cursor.execute("SELECT row_hash, row_flags FROM contract WHERE row_hash IS NOT NULL")
            known: set[int] = set()
            flags: dict[int, str] = {}
            while batch := cursor.fetchmany(50_000):
                known.update(map(_first, batch))
                flags.update(filter(_second, batch))
            return known, flags
        finally:
            cursor.close()

    # --- 2. Settling the staged rows ----------------------------------------------------------

    def settle(self) -> None:
        connection = self.connection
        if self.staged >= stage.ANALYZE_STAGED_ROWS:
            stage.analyze(connection)
        # Before the first import, no contract to look up, compare or keep a fingerprint of.
        self.any_contract = connection.execute(select(_contract.c.id).limit(1)).first() is not None
        if self.any_contract:
            self._look_up_contracts()
        if self.absent:
            self._keep_stored_values()
        self._duplicates(self._known_rows_of_contracts())
        self._final_rows()
        changers = self._known_rows_of_changing_clients()
        changed_clients = self._clients()
        self.changed_clients = len(changed_clients)
        if changed_clients:
            # Their other contracts' rows carry the old details: read them again next time.
            connection.execute(
                update(_contract)
                .where(
                    _contract.c.client_id.in_(select(F.c.client_id).where(F.c.changed)),
                    _contract.c.row_hash.is_not(None),
                )
                .values(row_hash=None, row_flags=None)
            )
            self.known_updated = sum(
                1
                for row in changers
                if row.line not in self.dead_known and row.client_number in changed_clients
            )
        self._contracts()

    def _keep_stored_values(self) -> None:
        """The fields whose column the file lacks take, in the staged rows of existing clients
        and contracts, the values the database holds: the comparisons that follow find them
        unchanged, and nothing is erased. A contract's status is the exception while the file
        gives termination dates: one that has passed reads as terminated, as in the CRM."""
        absent = self.absent
        client_fields = [f for f in CLIENT_FIELDS if _COLUMN_OF.get(f, f) in absent]
        if client_fields:
            self._fill(
                SC,
                SC.c.client_number == _client.c.number,
                {name: _client.c[name] for name in client_fields},
            )
        contract_fields = [f for f in CONTRACT_FIELDS if _COLUMN_OF.get(f, f) in absent]
        if contract_fields and self.any_contract:
            values: dict[str, Any] = {name: _contract.c[name] for name in contract_fields}
            if "status" in values and "termination_date" not in absent:
                ended = ContractStatus.TERMINATED.value
                values["status"] = case((S.c.status == ended, S.c.status), else_=_contract.c.status)
            self._fill(S, S.c.contract_id == _contract.c.id, values)

    def _fill(self, target: Any, on: Any, values: dict[str, Any]) -> None:
        """Set `values` (columns of another table, joined `on`) in the rows of `target` that
        join: `UPDATE … FROM`, or correlated subqueries where SQLite is older than 3.33."""
        if self.update_from:
            self.connection.execute(update(target).where(on).values(values))
            return
        self.connection.execute(
            update(target)
            .where(select(literal(1)).where(on).exists())
            .values(
                {name: select(value).where(on).scalar_subquery() for name, value in values.items()}
            )
        )

    def _lines_met(self, hashes: Iterable[int]) -> dict[int, list[int]]:
        """Those of `hashes` met on known rows of the file, each with its lines in order (the
        same row again on the later ones). One pass in C tells that none was met, the common
        case: a changed contract keeps its former row's fingerprint, rarely in the file too."""
        wanted = set(hashes)
        if wanted.isdisjoint(self.known_hashes):
            return {}
        met: dict[int, list[int]] = defaultdict(list)
        for h, line in zip(self.known_hashes, self.known_lines, strict=True):
            if h in wanted:
                met[h].append(line)
        return met

    def _look_up_contracts(self) -> None:
        """Each staged row's existing contract, if any, and the fingerprint it keeps: one
        lookup by the contract number, driven by the staged rows."""
        self._fill(
            S,
            _contract.c.number == S.c.contract_number,
            {"contract_id": _contract.c.id, "contract_hash": _contract.c.row_hash},
        )

    def _known_rows_of_contracts(self) -> list[_KnownRow]:
        """The known rows of the staged rows' contracts: the same contract on a known row and a
        staged row is a duplicate to settle (`_duplicates`). A changed contract keeps the
        fingerprint of its former row, rarely in the file too: one set's lookups tell."""
        if not self.known_hashes:
            return []
        met = self._lines_met(
            self.connection.execute(
                select(S.c.contract_hash).where(S.c.contract_hash.is_not(None))
            ).scalars()
        )
        if not met:
            return []
        interest: dict[int, tuple[str, str]] = {}
        for chunk in self._pages(list(met)):
            interest.update(
                (h, (number, client_number))
                for h, number, client_number in self.connection.execute(
                    select(S.c.contract_hash, _contract.c.number, _client.c.number)
                    .join(_contract, _contract.c.id == S.c.contract_id)
                    .join(_client, _client.c.id == _contract.c.client_id)
                    .where(self._one_of(S.c.contract_hash, chunk))
                )
            )
        found = sorted(_KnownRow(line, *interest[h]) for h, lines in met.items() for line in lines)
        # The same row twice: the later one is a duplicate, which leaves the client's details
        # alone (it stays counted unchanged).
        first: set[str] = set()
        for row in found:
            if row.number in first:
                self.dead_known.add(row.line)
            first.add(row.number)
        return found

    def _duplicates(self, known_rows: list[_KnownRow]) -> None:
        """The same contract on several rows (`known_rows`: the known rows of staged rows'
        contracts): the first is kept, a later one with the same values is dropped (counted
        unchanged), one with other values is rejected."""
        connection = self.connection
        numbers = set(
            connection.execute(
                select(S.c.contract_number).group_by(S.c.contract_number).having(func.count() > 1)
            ).scalars()
        )
        known_by_number: dict[str, list[int]] = defaultdict(list)
        for seen in known_rows:  # each of a staged row's contract
            known_by_number[seen.number].append(seen.line)
            numbers.add(seen.number)
        if not numbers:
            return
        gone_lines: list[int] = []
        for chunk in self._pages(sorted(numbers)):
            occurrences: dict[str, list[tuple[int, str, dict[str, Any], bool]]] = defaultdict(list)
            # A row's values: its contract's and its client's details (a repeat that changes
            # the client's phone is another row, not the same one twice).
            for row in connection.execute(
                select(
                    S.c.line,
                    S.c.contract_number,
                    S.c.client_number,
                    *_fields(S),
                    *[SC.c[name] for name in CLIENT_FIELDS],
                )
                .join(SC, SC.c.client_ref == S.c.client_ref)
                .where(self._one_of(S.c.contract_number, chunk))
                .order_by(S.c.line)
            ):
                values = dict(zip(ROW_FIELDS, row[3:], strict=True))
                occurrences[row[1]].append((row[0], row[2], values, False))
            in_file = [n for n in chunk if n in known_by_number]
            if in_file:
                # A known row says what the database holds (its fingerprint is dropped when
                # its client's details change).
                for row in connection.execute(
                    select(
                        _contract.c.number,
                        _client.c.number,
                        *_fields(_contract),
                        *[_client.c[name] for name in CLIENT_FIELDS],
                    )
                    .join(_client, _client.c.id == _contract.c.client_id)
                    .where(self._one_of(_contract.c.number, in_file))
                ):
                    values = dict(zip(ROW_FIELDS, row[2:], strict=True))
                    for line in known_by_number[row[0]]:
                        occurrences[row[0]].append((line, row[1], values, True))
            for number, found in occurrences.items():
                found.sort(key=lambda item: item[0])
                first_line, first_client, first_values, _ = found[0]
                for line, client_number, values, known in found[1:]:
                    same = client_number == first_client and not diff(values, first_values)
                    if not same:
                        self.result.rejected.append(
                            Rejection(
                                line,
                                f"contrat {number} déjà présent ligne {first_line} avec "
                                "d'autres valeurs",
                            )
                        )
                    if known:
                        self.dead_known.add(line)
                        self.known_rejected += not same
                    else:
                        gone_lines.append(line)
                        self.result.unchanged += same
        for chunk in self._pages(gone_lines):
            connection.execute(delete(S).where(self._one_of(S.c.line, chunk)))
        self.dropped = len(gone_lines)

    def _final_rows(self) -> None:
        """Each client's last row: its details are the client's."""
        connection = self.connection
        if self.postgresql:
            last = (
                select(S.c.client_number, func.max(S.c.line).label("line"))
                .group_by(S.c.client_number)
                .subquery()
            )
            rows = select(last, S.c.client_ref).join(S, S.c.line == last.c.line)
        else:
            # SQLite gives a bare column of a query whose one aggregate is `max()` the value
            # of the row holding the maximum (documented, "Bare columns in an aggregate
            # query"): no join back to the last row (a first import of 100 000 rows: 110 →
            # 60 ms for the select).
            last = (
                select(S.c.client_number, func.max(S.c.line).label("line"), S.c.client_ref)
                .group_by(S.c.client_number)
                .subquery()
            )
            rows = select(last)
        # A new client's id is given here, in the order of the numbers (`bot.bulk.new_ids`):
        # the client is then inserted with it, and nothing reads it back.
        number = last.c.client_number
        client_id = new_ids(connection, _client, existing=_client.c.id, order_by=number)
        self.clients = connection.execute(
            insert(F)
            .from_select(
                ["client_number", "line", "client_ref", "client_id", "is_new"],
                rows.add_columns(client_id, _client.c.id.is_(None))
                .outerjoin(_client, _client.c.number == number)
                .order_by(number),
            )
            .execution_options(preserve_rowcount=True)
        ).rowcount

    def _known_rows_of_changing_clients(self) -> list[_KnownRow]:
        """The existing clients whose last staged row gives other details than the database
        holds, and their known rows: a later one of the file (not a duplicate) says the
        details in the database, which it keeps. Those clients are few (a daily export
        changes few clients' details), and the others need no known row: whatever row of
        the file is last, their details stay the same."""
        connection = self.connection
        differs = _other_details()
        changing: list[str] = []
        for window in self._windows(
            F.c.client_number, "", F.c.is_new.is_not(True), rows=self.clients
        ):
            changing.extend(
                connection.execute(
                    select(F.c.client_number)
                    .join(SC, SC.c.client_ref == F.c.client_ref)
                    .join(_client, _client.c.id == F.c.client_id)
                    .where(F.c.is_new.is_not(True), window, differs)
                ).scalars()
            )
        self.changing = len(changing)
        if not changing or not self.known_hashes:
            return []
        rows: dict[int, tuple[str, str]] = {}
        for chunk in self._pages(changing):
            rows.update(
                (h, (number, client_number))
                for h, number, client_number in connection.execute(
                    select(_contract.c.row_hash, _contract.c.number, _client.c.number)
                    .join(_contract, _contract.c.client_id == _client.c.id)
                    .where(self._one_of(_client.c.number, chunk), _contract.c.row_hash.is_not(None))
                )
            )
        # A row met again later is the same row: its first line is the one that counts.
        found = [_KnownRow(lines[0], *rows[h]) for h, lines in self._lines_met(rows).items()]
        last_known: dict[str, int] = {}
        for row in found:
            if row.line not in self.dead_known and row.line > last_known.get(row.client_number, 0):
                last_known[row.client_number] = row.line
        if last_known:
            later = []
            for chunk in self._pages(sorted(last_known)):
                for client_number, line in connection.execute(
                    select(F.c.client_number, F.c.line).where(
                        self._one_of(F.c.client_number, chunk)
                    )
                ):
                    if last_known[client_number] > line:
                        later.append(client_number)
            self._set_where(F.c.client_number, later, client_ref=None)
        return found

    def _clients(self) -> set[str]:
        """Insert the new clients, update the changed ones (audited); the numbers of the
        changed ones."""
        connection = self.connection
        self.new_clients = self._count(F, F.c.is_new.is_(True))
        if self.new_clients:  # (a daily import has none: no statement for them)
            with (
                foreign_keys_checked_after(connection, _client, self.new_clients),
                indexes_built_after(connection, _client, self.new_clients),
            ):
                connection.execute(
                    insert(_client).from_select(
                        ["id", "number", *CLIENT_FIELDS],
                        select(
                            F.c.client_id,
                            F.c.client_number,
                            *[SC.c[name] for name in CLIENT_FIELDS],
                        )
                        .join(SC, SC.c.client_ref == F.c.client_ref)
                        .where(F.c.is_new.is_(True))
                        .order_by(F.c.client_number),  # the ids' order
                    )
                )
            connection.execute(
                text("CREATE INDEX m3_stage_final_client ON m3_stage_final (client_id)")
            )

        if not self.changing:  # (`_known_rows_of_changing_clients`: no client to compare)
            return set()
        # Existing clients whose details come from a staged row: compare, in pages.
        differs = _other_details()
        changed: set[str] = set()
        audit = Loader(connection, _audit, AUDIT_COLUMNS)
        width = len(CLIENT_FIELDS)
        for window in self._windows(
            F.c.client_number, "", F.c.is_new.is_not(True), rows=self.clients
        ):
            page = connection.execute(
                select(
                    F.c.client_number,
                    _client.c.id,
                    *[_client.c[name] for name in CLIENT_FIELDS],
                    *[SC.c[name] for name in CLIENT_FIELDS],
                )
                .join(SC, SC.c.client_ref == F.c.client_ref)
                .join(_client, _client.c.id == F.c.client_id)
                .where(F.c.is_new.is_not(True), window, differs)
                .order_by(F.c.client_number)
            ).all()
            updates: list[dict[str, Any]] = []
            numbers: list[str] = []
            for row in page:
                number, client_id = row[0], row[1]
                current = dict(zip(CLIENT_FIELDS, row[2 : 2 + width], strict=True))
                values = dict(zip(CLIENT_FIELDS, row[2 + width :], strict=True))
                changes = diff(current, values)
                if changes:
                    changed.add(number)
                    numbers.append(number)
                    updates.append({"b_id": client_id, **values})
                    audit.extend(audit_values(self.audit_at, self.actor, "client", number, changes))
            if updates:
                connection.execute(
                    update(_client)
                    .where(_client.c.id == bindparam("b_id"))
                    .values({name: bindparam(name) for name in CLIENT_FIELDS}),
                    updates,
                )
                self._set_where(F.c.client_number, numbers, changed=True)
        audit.flush()
        self._kept_details()
        return changed

    def _kept_details(self) -> None:
        """For a client whose details stay those in the database (a later known row of the
        file says so), the staged values equal to them, if any: its staged rows with those
        values keep their fingerprint."""
        connection = self.connection
        kept = connection.execute(
            select(F.c.client_number, *[_client.c[name] for name in CLIENT_FIELDS])
            .join(_client, _client.c.id == F.c.client_id)
            .where(F.c.client_ref.is_(None))
        ).all()
        if not kept:
            return
        decimal_value = self.converters["decimal_value"]
        revenue = CLIENT_FIELDS.index("revenue")
        wanted: set[tuple[str, int]] = set()
        for row in kept:
            values = list(row[1:])
            if values[revenue] is not None:
                values[revenue] = decimal_value(values[revenue])
            wanted.add((row[0], hash((row[0], tuple(values)))))
        matches = [
            (number, ref)
            for ref, number in connection.execute(
                select(SC.c.client_ref, SC.c.client_number)
                .join(F, F.c.client_number == SC.c.client_number)
                .where(F.c.client_ref.is_(None))
            )
            if (number, ref) in wanted
        ]
        self._set_final(F.c.match_ref, matches)

    def _contracts(self) -> None:
        connection, any_contract = self.connection, self.any_contract
        self._open_cases_of_new_clients()
        # A staged row's fingerprint, and its fixes, are kept when its client's details are
        # the ones it gives.
        kept = and_(
            S.c.row_hash.is_not(None),
            S.c.client_ref == func.coalesce(F.c.client_ref, F.c.match_ref),
        )
        remembered = {
            "row_hash": case((kept, S.c.row_hash), else_=None),
            "row_flags": case((kept, S.c.row_flags), else_=None),
        }
        # The existing clients whose cases must be brought in step: those with a new contract
        # or new details, and (below) both clients of a changed contract.
        touched = select(F.c.client_id).where(
            F.c.is_new.is_not(True),
            or_(
                F.c.changed.is_(True),
                F.c.client_number.in_(select(S.c.client_number).where(S.c.contract_id.is_(None))),
            ),
        )
        # Before the first import, every staged row left is a new contract (`_duplicates`
        # is what deletes staged rows, and counts them: another delete must count too).
        fresh = self.fresh = (
            self._count(S, S.c.contract_id.is_(None))
            if any_contract
            else self.staged - self.dropped
        )
        if fresh or self.changed_clients:  # (else none: a daily change of contracts)
            self.touched += connection.execute(
                insert(T)
                .from_select(["client_id"], touched)
                .execution_options(preserve_rowcount=True)
            ).rowcount
        if fresh:
            self._insert_contracts(fresh, remembered)
        if any_contract:
            self._existing_contracts(remembered)

    def _insert_contracts(self, fresh: int, remembered: dict[str, Any]) -> None:
        """The `fresh` staged rows of new contracts, each with its case (new clients')."""
        connection, L = self.connection, stage.stage_link
        self.new_from = (connection.execute(select(func.max(_contract.c.id))).scalar() or 0) + 1
        with (
            foreign_keys_checked_after(connection, _contract, fresh),
            indexes_built_after(connection, _contract, fresh),
        ):
            created = connection.execute(
                insert(_contract)
                .from_select(
                    [
                        "number",
                        "client_id",
                        "first_seen_on",
                        *CONTRACT_FIELDS,
                        *remembered,
                        "case_id",
                    ],
                    select(
                        S.c.contract_number,
                        F.c.client_id,
                        literal(self.today, _contract.c.first_seen_on.type),
                        *_fields(S),
                        *remembered.values(),
                        L.c.case_id,
                    )
                    .join(F, F.c.client_number == S.c.client_number)
                    .outerjoin(L, L.c.line == S.c.line)
                    .where(S.c.contract_id.is_(None))
                    # In the file's order, the staged rows' own: sorting the numbers cost
                    # PostgreSQL 0.2 s more at 100 000 contracts, for nothing a reader sees.
                    .order_by(S.c.line),
                )
                .execution_options(preserve_rowcount=True)
            )
        self.result.created = created.rowcount

    def _existing_contracts(self, remembered: dict[str, Any]) -> None:
        """The staged rows of existing contracts: those that differ are updated (audited),
        and each keeps its row's fingerprint (`remembered`) or loses it."""
        connection, result = self.connection, self.result
        # Compare those that differ, in pages.
        unequal = [
            _comparable(_contract.c[name]).is_distinct_from(_comparable(S.c[name]))
            for name in CONTRACT_FIELDS
        ]
        differs = or_(_contract.c.client_id != F.c.client_id, *unequal)
        # Of a field both sides agree on, neither value is read (NULL): Python compares the
        # others, whose values the audit needs (1 000 changed rows, one field of nine changed
        # in each: on PostgreSQL 49 → 10 ms to read them, the comparisons a third shorter).
        touched_ids: set[int] = set()
        changed_lines: list[int] = []
        moved = False  # a contract now another client's
        width = len(CONTRACT_FIELDS)
        audit = Loader(connection, _audit, AUDIT_COLUMNS)
        if not self.update_from:  # for the correlated subqueries of `_from_staged_rows`
            connection.execute(
                text("CREATE INDEX m3_stage_row_contract ON m3_stage_row (contract_id)")
            )
        for window in self._windows(S.c.line, 0, S.c.contract_id.is_not(None), rows=self.staged):
            page = connection.execute(
                select(
                    S.c.line,
                    S.c.contract_number,
                    _contract.c.client_id,
                    F.c.client_id,
                    *[
                        case((differ, _contract.c[name]), else_=None)
                        for differ, name in zip(unequal, CONTRACT_FIELDS, strict=True)
                    ],
                    *[
                        case((differ, S.c[name]), else_=None)
                        for differ, name in zip(unequal, CONTRACT_FIELDS, strict=True)
                    ],
                )
                .join(_contract, _contract.c.id == S.c.contract_id)
                .join(F, F.c.client_number == S.c.client_number)
                .where(window, differs)
                .order_by(S.c.line)
            ).all()
            for row in page:
                line, number, old_client, new_client = row[:4]
                # A field both sides agree on reads NULL on both (above).
                changes = {
                    name: (old, new)
                    for name, old, new in zip(
                        CONTRACT_FIELDS, row[4 : 4 + width], row[4 + width :], strict=True
                    )
                    if (old is not None or new is not None) and comparable(old) != comparable(new)
                }
                if old_client != new_client:
                    changes["client_id"] = (old_client, new_client)
                if changes:
                    changed_lines.append(line)
                    moved = moved or "client_id" in changes
                    audit.extend(
                        audit_values(self.audit_at, self.actor, "contract", number, changes)
                    )
                    if not CASE_FIELDS.isdisjoint(changes):
                        touched_ids.update((old_client, new_client))
                    if "effect_date" in changes:
                        self.redated.add(number)
        audit.flush()
        if changed_lines:
            self._set_where(S.c.line, changed_lines, changed=True)
            new_values = {name: S.c[name] for name in CONTRACT_FIELDS}
            if moved:
                # Only then: SQLite rewrites the index of every column the update sets, even
                # to the same value (10 000 changed contracts of a million, measured alone: the
                # update and its commit 0.28–0.32 → 0.19–0.23 s).
                new_values["client_id"] = F.c.client_id
            new_values.update(remembered)
            connection.execute(self._from_staged_rows(new_values, S.c.changed.is_(True)))
        if touched_ids:
            self._touch(touched_ids)
        # The staged rows of existing contracts (`_duplicates` deleted the repeats).
        parsed_existing = self.staged - self.dropped - self.fresh
        if parsed_existing > len(changed_lines):
            # Every other existing contract read from a row keeps (or loses) that row's
            # fingerprint: one new version of each changed contract, not two (on PostgreSQL a
            # contract updated twice in a transaction has its foreign keys checked again).
            # Nor of one whose fingerprint stays what it is: a row read at every import (an
            # « Actif » with a termination date to come keeps none) is not written each time.
            connection.execute(
                self._from_staged_rows(
                    remembered,
                    and_(S.c.contract_id.is_not(None), S.c.changed.is_not(True)),
                    if_new=True,
                )
            )
        if not self.changed_clients:
            updated = len(changed_lines)
        else:  # and the contracts of the clients whose details changed
            updated = connection.execute(
                select(func.count())
                .select_from(S)
                .join(F, F.c.client_number == S.c.client_number)
                .where(
                    S.c.contract_id.is_not(None), or_(S.c.changed.is_(True), F.c.changed.is_(True))
                )
            ).scalar_one()
        result.updated += updated
        result.unchanged += parsed_existing - updated

    def _from_staged_rows(
        self, values: dict[str, Any], staged: Any, *, if_new: bool = False
    ) -> Any:
        """The statement that sets `values` (expressions over a staged row and its client's
        final row) on the contract of each staged row that meets `staged`, set-wise; with
        `if_new`, only where one of them differs from the contract's."""
        if self.update_from:
            return (
                update(_contract)
                .where(
                    _contract.c.id == S.c.contract_id,
                    F.c.client_number == S.c.client_number,
                    staged,
                    _differs(values) if if_new else true(),
                )
                .values(values)
            )
        # SQLite before 3.33 (no `UPDATE … FROM`): a correlated subquery a column, by the index
        # on the staged rows' contract (a changed contract's eleven took 35 µs, against 21 µs
        # for its row of the join, among a million contracts).
        subqueries = {
            name: select(value)
            .select_from(S)
            .join(F, F.c.client_number == S.c.client_number)
            .where(S.c.contract_id == _contract.c.id)
            .scalar_subquery()
            for name, value in values.items()
        }
        return (
            update(_contract)
            .where(
                _contract.c.id.in_(select(S.c.contract_id).where(staged)),
                _differs(subqueries) if if_new else true(),
            )
            .values(subqueries)
        )

    def _open_cases_of_new_clients(self) -> None:
        """The cases of new clients, placed before their contracts are written (each new
        contract is written with its case): no need to read them back.

        A new client has no case yet, so its contracts that took effect before
        `oldest_effect_opening` open nothing: they are only counted (most of an old
        portfolio's first import). The others are placed as `bot.rules.place_contracts`
        places them. When they all take effect on or before the first one's deadline (nearly
        every client), that is one case, opened set-wise: the first contract's window, the
        latest one's deadline (it grows with the effect date), every contract in it. The few
        clients whose contracts spread further go through the case engine, a client at a
        time."""
        if not self.new_clients:  # (a daily import has none)
            return
        connection = self.connection
        oldest = oldest_effect_opening(self.today)
        active_an = (S.c.new_business.is_(True), S.c.status == ContractStatus.ACTIVE.value)
        # Of a new client: in `G`. A contract the bot knows already (the CRM moved it to this
        # client) leaves its case through the case engine, which places it then.
        recent = (*active_an, S.c.effect_date >= oldest, S.c.contract_id.is_(None))
        W, G, L = stage.stage_window, stage.stage_group, stage.stage_link
        windows = Loader(connection, W, [c.name for c in W.columns])
        for effect in connection.execute(
            select(S.c.effect_date).where(S.c.effect_date >= oldest).distinct()
        ).scalars():
            window = window_for(effect)
            windows.add((effect, window.due, window.start, window.end, window.deadline))
        windows.flush()

        spread = (
            select(
                S.c.client_number,
                func.min(S.c.effect_date).label("first_effect"),
                func.max(S.c.effect_date).label("last_effect"),
            )
            .join(F, F.c.client_number == S.c.client_number)
            .where(F.c.is_new.is_(True), *recent)
            .group_by(S.c.client_number)
            .subquery()
        )
        first, last = W.alias("first_window"), W.alias("last_window")
        connection.execute(
            insert(G).from_select(
                [c.name for c in G.columns],
                select(
                    spread.c.client_number,
                    F.c.client_id,
                    SC.c.advisor_id,
                    spread.c.first_effect,
                    last.c.deadline,
                    spread.c.last_effect <= first.c.deadline,
                )
                .join(F, F.c.client_number == spread.c.client_number)
                .join(SC, SC.c.client_ref == F.c.client_ref)
                .join(first, first.c.effect_date == spread.c.first_effect)
                .join(last, last.c.effect_date == spread.c.last_effect),
            )
        )
        report = SyncReport()
        # The new clients stand for the cases about to be written (a client rarely opens more
        # than one): their count decides whether the keys are checked after (see `bot.bulk`).
        with foreign_keys_checked_after(connection, _case, self.new_clients):
            opened = connection.execute(
                insert(_case)
                .from_select(
                    [name for name in NEW_CASE_COLUMNS if name != "id"],
                    select(
                        G.c.client_id,
                        G.c.advisor_id,
                        literal(True, _case.c.is_current.type),
                        G.c.first_effect,
                        W.c.due_date,
                        W.c.window_start,
                        W.c.window_end,
                        G.c.deadline,
                        literal(Status.TODO.value, _case.c.status.type),
                        literal(dt.datetime.now(dt.UTC), _case.c.created_at.type),
                    )
                    .join(W, W.c.effect_date == G.c.first_effect)
                    .where(G.c.one_case.is_(True))
                    .order_by(G.c.client_id),
                )
                .execution_options(preserve_rowcount=True)
            )
            report.opened += opened.rowcount
            connection.execute(
                insert(L).from_select(
                    ["line", "case_id"],
                    select(S.c.line, _case.c.id)
                    .join(G, G.c.client_number == S.c.client_number)
                    .join(_case, _case.c.client_id == G.c.client_id)
                    .where(*recent, G.c.one_case.is_(True)),
                )
            )
            spread_out = select(G.c.client_number).where(G.c.one_case.is_(False)).limit(1)
            if connection.execute(spread_out).first() is not None:
                self._open_spread_cases(recent, report)
        too_old = select(S.c.contract_number).where(
            *active_an, S.c.effect_date < oldest, S.c.contract_id.is_(None)
        )
        if self.any_contract or self.new_clients < self.clients:
            # Only new clients' contracts (else every staged row is one).
            too_old = too_old.join(F, F.c.client_number == S.c.client_number).where(
                F.c.is_new.is_(True)
            )
        count = connection.execute(select(func.count()).select_from(too_old.subquery())).scalar()
        if count:
            sample = connection.execute(too_old.order_by(S.c.line).limit(LeftOut.SAMPLE)).scalars()
            report.left_out.merge(LeftOut.counted(count, sample))
        self.new_cases = report

    def _open_spread_cases(self, recent: tuple[Any, ...], report: SyncReport) -> None:
        """The case engine places the recent contracts of the new clients whose contracts do
        not all fit in one case."""
        connection = self.connection
        G = stage.stage_group
        rows = connection.execute(
            select(G.c.client_id, G.c.advisor_id, S.c.line, S.c.contract_number, S.c.effect_date)
            .select_from(S)
            .join(G, G.c.client_number == S.c.client_number)
            .where(*recent, G.c.one_case.is_(False))
            .order_by(G.c.client_id)
            .execution_options(stream_results=True, yield_per=PAGE)
        )
        links = Loader(connection, stage.stage_link, ("line", "case_id"), ready=True)

        def clients() -> Iterator[tuple[int, int, list[tuple[int, str, dt.date]]]]:
            current: tuple[int, int] | None = None
            contracts: list[tuple[int, str, dt.date]] = []
            for client_id, advisor_id, line, number, effect in rows:
                if current is not None and client_id != current[0]:
                    yield (*current, contracts)
                    contracts = []
                current = (client_id, advisor_id)
                contracts.append((line, number, effect))
            if current is not None:
                yield (*current, contracts)

        report.add(
            open_cases(connection, clients(), today=self.today, actor=self.actor, link=links.extend)
        )
        links.flush()

    def _set_final(self, column: Any, values: Sequence[tuple[str, Any]]) -> None:
        """Set `column` of the final rows to the value given with their client number. On
        PostgreSQL from two arrays a page (`unnest`): one statement a row, even pipelined, took
        50 µs a row; SQLite runs them in its own process."""
        if not values:
            return
        if not self.postgresql:
            self.connection.execute(
                update(F)
                .where(F.c.client_number == bindparam("b_number"))
                .values({column.name: bindparam("b_value")}),
                [{"b_number": number, "b_value": value} for number, value in values],
            )
            return
        pairs = (
            func.unnest(
                bindparam("numbers", type_=ARRAY(F.c.client_number.type)),
                bindparam("values", type_=ARRAY(column.type)),
            )
            .table_valued("number", "value")
            .render_derived()
        )
        statement = (
            update(F)
            .where(F.c.client_number == pairs.c.number)
            .values({column.name: pairs.c.value})
        )
        for chunk in _chunks(values, ARRAY_PAGE):
            numbers, new = zip(*chunk, strict=True)
            self.connection.execute(statement, {"numbers": list(numbers), "values": list(new)})

    def _windows(self, key: Any, start: Any, *where: Any, rows: int) -> Iterator[Any]:
        """The rows of a staging table that meet `where` (those that may differ: a first
        import has one window, empty), `PAGE` at a time, by its primary key `key` (all greater
        than `start`): a condition on `key` for each window, that a statement reading a page of
        changes adds to its own (keeping the memory bound). Each window is its own range of the
        key, found by its index: a page that took the next `PAGE` changes after the last one
        (`LIMIT`) had PostgreSQL join every staged row again for each page, expecting few to
        differ (10 000 changed contracts: 80 ms a page). The table holding `rows` rows at most,
        no more than a page, the one window is all of it (no statement to find its end)."""
        if rows <= PAGE:
            yield key > start
            return
        after = start
        while True:
            up_to = self.connection.execute(
                select(key).where(key > after, *where).order_by(key).offset(PAGE - 1).limit(1)
            ).scalar()
            if up_to is None:
                yield key > after
                return
            yield and_(key > after, key <= up_to)
            after = up_to

    def _count(self, table: Any, *where: Any) -> int:
        """How many staged rows a load would insert (`bot.bulk` handles a large one its own
        way)."""
        return int(
            self.connection.execute(select(func.count()).select_from(table).where(*where)).scalar()
            or 0
        )

    def _pages(self, values: Sequence[Any]) -> Iterable[Sequence[Any]]:
        """`values` a statement at a time, for `_one_of`: within SQLite's limit on parameters;
        on PostgreSQL, larger pages, still small enough for what a caller holds of each page
        (the rows of its duplicates, say)."""
        return _chunks(values, ARRAY_PAGE if self.postgresql else IN_PAGE)

    def _one_of(self, column: Any, values: Sequence[Any]) -> Any:
        """`column` is one of `values` (a page of `_pages`). PostgreSQL takes them as one array:
        a list of a thousand parameters cost more to send and to plan than to run."""
        if self.postgresql:
            return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
        return column.in_(values)

    def _set_where(self, column: Any, values: Sequence[Any], **new: Any) -> None:
        """Set `new` on the rows of `column`'s table (its primary key) whose `column` is one of
        `values`: on PostgreSQL a page (`_pages`) a statement; on SQLite one statement, run for
        each value by the driver's `executemany` (a list of 900 values cost more to build than
        to run)."""
        if not values:
            return
        if not self.postgresql:
            self.connection.execute(
                update(column.table).where(column == bindparam("b_key")).values(**new),
                [{"b_key": value} for value in values],
            )
            return
        for chunk in self._pages(values):
            self.connection.execute(
                update(column.table).where(self._one_of(column, chunk)).values(**new)
            )

    def _touch(self, client_ids: Iterable[int]) -> None:
        connection = self.connection
        present: set[int] = set()
        ids = sorted(client_ids)
        for chunk in self._pages(ids):
            present.update(
                connection.execute(select(T.c.client_id).where(self._one_of(T.c.client_id, chunk)))
                .scalars()
                .all()
            )
        fresh = [{"client_id": i} for i in ids if i not in present]
        if fresh:
            connection.execute(insert(T), fresh)
            self.touched += len(fresh)

    # --- 3. Cases, corrections, the run ---------------------------------------------------------

    def finish(self) -> ImportResult:
        result, connection = self.result, self.connection
        known = len(self.known_hashes)
        result.unchanged += known - self.known_rejected - self.known_updated
        result.updated += self.known_updated
        if self.touched:
            touched = select(T.c.client_id)
            result.cases = sync_cases(
                connection,
                client_ids=touched,
                today=self.today,
                actor=self.actor,
                new_from=self.new_from,
                redated=self.redated,
            )
            result.corrections_applied = apply_imported(
                self.session, client_ids=touched, today=self.today, actor=self.actor
            )
        if self.new_cases is not None:
            result.cases.add(self.new_cases)
        run = self.run_row
        run.rows, run.created, run.updated, run.unchanged = (
            result.rows,
            result.created,
            result.updated,
            result.unchanged,
        )
        if self.postgresql and result.created >= ANALYZE_NEW_CONTRACTS:
            # Fresh statistics for the planner: the next import, and the queues, read these
            # tables at once (autovacuum would analyse them a minute or so later, with the
            # full sample). A small sample is enough for their lookups by key, in a sixth of
            # the time.
            connection.execute(text("SET LOCAL default_statistics_target = 10"))
            for name in (_client.name, _contract.name, _case.name):
                connection.execute(text(f"ANALYZE {name}"))
            connection.execute(text("RESET default_statistics_target"))
        result.rejected.sort(key=lambda r: r.line)
        fitted = RejectedRow.fitted
        for chunk in _chunks(result.rejected, 5000):
            # A reason longer than the column (it quotes the file) is stored cut with « … ».
            connection.execute(
                insert(_rejected),
                [
                    {"import_run_id": run.id, "line": r.line, "reason": fitted(r.reason)}
                    for r in chunk
                ],
            )
        return result


def _other_details() -> Any:
    """A staged client's details (`stage_client`) differ from the database's (`client`)."""
    return or_(*[_client.c[name].is_distinct_from(SC.c[name]) for name in CLIENT_FIELDS])


_first = itemgetter(0)
_second = itemgetter(1)


def _differs(values: dict[str, Any]) -> Any:
    """One of a contract's columns differs from the value given for it."""
    return or_(*[_contract.c[name].is_distinct_from(value) for name, value in values.items()])


def _fields(table: Any) -> list[Any]:
    return [table.c[name] for name in CONTRACT_FIELDS]


def _comparable(column: Any) -> Any:
    """JSON has no equality in PostgreSQL: compare its text (both sides written by
    `json.dumps`; a difference in text alone reaches Python's comparison, which settles it)."""
    if column.name == "missing_pieces":
        return cast(column, Text)
    return column


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return not diff(a, b)


def _chunks(items: Sequence[Any], size: int = 900) -> Iterable[Sequence[Any]]:
    for first in range(0, len(items), size):
        yield items[first : first + size]


def _unknown_advisors(names: set[str], count: int, *, staff: bool, shown: int = 5) -> str:
    listed = sorted(names, key=str.casefold)
    more = len(listed) - shown
    if count > len(listed):  # more names than were kept
        tail = " … et d'autres"
    else:
        tail = f" … et {more} autre{'s' if more > 1 else ''}" if more > 0 else ""
    text = ", ".join(listed[:shown]) + tail
    hint = (
        "importez d'abord la liste des conseillers : m3 import advisors conseillers.csv"
        if not staff
        else "vérifiez qu'il s'agit bien de l'export de cette agence, ou importez la liste "
        "des conseillers à jour : m3 import advisors conseillers.csv"
    )
    return f"aucun chargé de clientèle de ce fichier n'est connu du bot ({text}) : {hint}"

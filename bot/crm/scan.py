"""Reading a portfolio export's records into staging rows: the import's work a row at a time
(fingerprint, split, parse), on one process or, for a large CSV file, on two.

`Scanner.scan` takes records and fills two buffers, the `stage_row` and `stage_client` tuples
of `bot.crm.stage`, handing them to the caller's writers a batch at a time; what else it
finds (the rejected lines, the values to fix in the CRM, the known fingerprints, whether the
file names an advisor the bot knows) is its `Scan`.

`scan_file` reads a large CSV file on two processes: the import's own process and a forked
child share its records a block (`BLOCK` records) at a time, each taking the next block not
yet taken whenever it is done with one, so that the work balances itself whatever slows
either side; the import's process also writes every staged row, the child sending its own
through a pipe, a batch at a time. Both read the file's records from the start (cheap: lines
only), so both count the same records whatever quotes span lines. A client's values are
staged once, under a hash of them that both processes compute alike (their `client_ref`; the
parent drops what the child sends again). The child never touches the database (its
connection is the parent's: it inherits it and leaves it alone). Elsewhere than on Linux, or
with one processor, the file is read on one process; the result is the same.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import multiprocessing
import os
import sys
import traceback
from array import array
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from bot.crm.reading import FileRefused, LineProblem, Record, Table, blank
from bot.crm.rows import PortfolioParser, RowError, visible
from bot.crm.run import Lookup, Progress, Rejection, stage_branch

# From this size, a CSV file is read on two processes (below, starting the child costs more
# than it saves).
PARALLEL_BYTES = 8 << 20
# Records a block: what either process takes at a time (it writes rows besides, so the parent
# takes fewer). Small enough that neither waits long for the other at the end.
BLOCK = 500
CHILD_BATCH = 1000  # rows a message from the child
DRAIN_EVERY = 250  # records the parent reads between two looks at the pipe
PIPE_BYTES = 1 << 20  # the pipe's buffer, where Linux lets it grow (a few messages)
UNKNOWN_KEPT = 50  # unknown advisor names kept for the refusal's message

_log = logging.getLogger(__name__)


@dataclass
class Scan:
    """What reading records found, besides the staged rows."""

    count: int = 0  # records, blank ones aside
    rejected: list[Rejection] = field(default_factory=list)
    to_fix: list[Rejection] = field(default_factory=list)
    known_hashes: array[int] = field(default_factory=lambda: array("q"))
    known_lines: array[int] = field(default_factory=lambda: array("q"))
    known_advisor: bool = False  # a row names an advisor the bot knows
    unknown_advisors: set[str] = field(default_factory=set)  # the first few
    unknown_count: int = 0
    # The branches the bot does not know, under their placeholder ids (`Lookup.stage_branches`).
    new_branches: dict[int, tuple[str, str]] = field(default_factory=dict)
    other_origins: set[str] = field(default_factory=set)  # `PortfolioParser.other_origins`

    def add(self, other: Scan) -> None:
        self.count += other.count
        self.rejected.extend(other.rejected)
        self.to_fix.extend(other.to_fix)
        self.known_hashes.extend(other.known_hashes)
        self.known_lines.extend(other.known_lines)
        self.known_advisor = self.known_advisor or other.known_advisor
        names = self.unknown_advisors | other.unknown_advisors
        if self.unknown_count + other.unknown_count <= UNKNOWN_KEPT:
            self.unknown_count = len(names)  # both complete: the names met twice count once
        else:
            self.unknown_count += other.unknown_count
        self.unknown_advisors = set(sorted(names, key=str.casefold)[:UNKNOWN_KEPT])
        for placeholder, (key, name) in other.new_branches.items():
            stage_branch(self.new_branches, placeholder, key, name)
        self.other_origins |= other.other_origins

    def in_line_order(self) -> None:
        """Put what two processes found, block by block, back in the file's order."""
        by_line = attrgetter("line")
        self.rejected.sort(key=by_line)  # stable: a line's reasons keep their order
        self.to_fix.sort(key=by_line)
        known = sorted(zip(self.known_lines, self.known_hashes, strict=True), key=itemgetter(0))
        self.known_lines = array("q", (line for line, _ in known))
        self.known_hashes = array("q", (fingerprint for _, fingerprint in known))


class Scanner:
    """Reads records into the `rows` and `clients` buffers (the caller's writers' own);
    `flush_rows` and `flush_clients` must empty them, in place, when called."""

    BATCH = 5000

    def __init__(
        self,
        *,
        table: Table,
        parser: PortfolioParser,
        lookup: Lookup,
        advisor_column: int,
        known: set[int],
        known_flags: dict[int, str],
        key: bytes,
        remember: bool,
        rows: list[tuple[Any, ...]],
        clients: list[tuple[Any, ...]],
        flush_rows: Callable[[], None],
        flush_clients: Callable[[], None],
    ) -> None:
        self.table = table
        self.parser = parser
        self.lookup = lookup
        self.advisor_column = advisor_column
        self.known = known
        self.known_flags = known_flags  # of the known rows with something to fix: the fixes
        self.key = key
        self.remember = remember  # fingerprints are kept (else every row is read again)
        self.rows = rows
        self.clients = clients
        self.flush_rows = flush_rows
        self.flush_clients = flush_clients
        # The client values staged so far, by their hash (their `client_ref`).
        self.staged_clients: set[int] = set()
        self.batch = self.BATCH

    def scan(
        self,
        records: Iterable[Record],
        progress: Callable[[int], None] | None = None,
        every: int = 5000,
    ) -> Scan:
        """Read `records`; `progress` is told the count every `every` records."""
        found = Scan()
        table, lookup, parser = self.table, self.lookup, self.parser
        known, key, remember = self.known, self.key, self.remember
        known_flags = self.known_flags
        # Each record's hash starts from the key's state, copied (a keyed hash made anew for
        # each record cost 40 % more).
        keyed = hashlib.blake2b(digest_size=8, key=key).copy
        from_bytes = int.from_bytes
        row_buffer, client_buffer = self.rows, self.clients
        flush_rows, flush_clients, batch = self.flush_rows, self.flush_clients, self.batch
        staged_clients = self.staged_clients
        known_hashes, known_lines = found.known_hashes, found.known_lines
        split = table.split
        rejected, to_fix = found.rejected, found.to_fix
        advisor_column = self.advisor_column
        width = len(table.header)
        header = table.header
        known_advisor = False
        unknown_advisors = found.unknown_advisors
        unknown_count = 0
        next_progress = every
        count = 0
        for line, raw, cells, problem in records:
            if problem is not None:
                count += 1
                rejected.append(Rejection(line, problem))
                continue
            digest = keyed()
            digest.update(raw)
            fingerprint = from_bytes(digest.digest(), "little", signed=True)
            count += 1
            if progress is not None and count >= next_progress:
                progress(count)
                next_progress += every
            if fingerprint in known:
                known_hashes.append(fingerprint)
                known_lines.append(line)
                if known_flags and fingerprint in known_flags:  # reported as when read
                    to_fix.extend(
                        Rejection(line, flag) for flag in json.loads(known_flags[fingerprint])
                    )
                continue
            printable = False
            if cells is None:
                try:
                    cells, printable = split(raw)
                except LineProblem as exc:
                    rejected.append(Rejection(line, str(exc)))
                    continue
            if not known_advisor and len(cells) == width:
                named = cells[advisor_column]
                named = named.strip() if type(named) is str else str(named or "").strip()
                if named and lookup.advisor(named) is None:
                    if named not in unknown_advisors:
                        unknown_count += 1
                        if len(unknown_advisors) < UNKNOWN_KEPT:
                            unknown_advisors.add(named)
                elif named:
                    known_advisor = True
            try:
                (
                    client_number,
                    contract_number,
                    client,
                    contract,
                    flags,
                    keep,
                ) = parser.parse(cells, printable)
            except RowError as exc:
                if all(blank(c) for c in cells) or _repeats(cells, header):
                    # A blank record, or the header again (exports made of several pages
                    # repeat it): skipped, not counted.
                    count -= 1
                    continue
                rejected.append(Rejection(line, str(exc)))
                continue
            if flags:
                to_fix.extend(Rejection(line, flag) for flag in flags)
            client_ref = hash((client_number, client))
            if client_ref not in staged_clients:
                staged_clients.add(client_ref)
                client_buffer.append((client_ref, client_number, *client))
                if len(client_buffer) >= batch:
                    flush_clients()
            kept = keep and remember
            row_buffer.append(
                (
                    line,
                    fingerprint if kept else None,
                    json.dumps(flags, ensure_ascii=False) if flags and kept else None,
                    client_number,
                    contract_number,
                    client_ref,
                    *contract,
                )
            )
            if len(row_buffer) >= batch:
                flush_rows()
        flush_rows()
        flush_clients()
        found.count = count
        found.new_branches = dict(lookup.new_branches)
        found.other_origins = set(parser.other_origins)
        found.known_advisor = known_advisor or bool(known_hashes)
        found.unknown_count = unknown_count
        return found


def _repeats(cells: list[Any], header: list[str]) -> bool:
    """Whether a record is the header line again (cells compared with their spaces and line
    breaks folded and their invisible characters removed, as the header's names were read:
    two exports joined end to end put the second one's byte order mark before it)."""
    return len(cells) == len(header) and all(
        (" ".join(visible(c).split()) if type(c) is str else c) == " ".join(h.split())
        for c, h in zip(cells, header, strict=True)
    )


def scan_file(scanner: Scanner, path: Path | None, progress: Progress | None) -> Scan:
    """Read the whole table: on two processes when the file is given (`path`), is a large
    CSV, most of its rows are not known already (a daily re-import has little to read: a
    second process would cost more than it saves) and the machine can; else on this one."""
    with no_cycle_collection():
        table = scanner.table
        if path is not None and table.encoding != "xlsx" and _can_fork():
            lines = _count_lines(path)
            if lines and lines > 2 * len(scanner.known):
                return _TwoProcesses(scanner, progress).run()
        return scanner.scan(table.records(), progress)


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """The cyclic garbage collector paused while the file is read (on both processes: the
    child is forked inside), and by `bot.crm.portfolio` for the whole import. The reading makes
    millions of strings and tuples, which form no cycle, and the collector's passes over them
    were 3-6 % of it (0.06-0.12 s at 100 000 rows); reading the known fingerprints (100 000
    rows fetched) took 45 or 90 ms by whether a full pass fell in it, which depends on how many
    objects the process held before (the modules imported). Memory is freed as before, by
    reference counting; what a cycle holds is collected once the import is over (an import of
    100 000 rows leaves no more cycles than with the collector running, and its peak memory is
    the same)."""
    enabled = gc.isenabled()  # else the caller paused it, and it stays paused
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _can_fork() -> bool:
    """Linux with two processors at least (macOS has `fork`, but its system libraries are not
    safe in a forked child; Windows has none)."""
    if not sys.platform.startswith("linux"):
        return False
    return len(os.sched_getaffinity(0)) > 1


def _count_lines(path: Path) -> int:
    """About how many lines the file has (ending with LF, CRLF or CR alone), from the size of
    its first megabyte's lines: enough to share it; 0 when it is too small to share (or cannot
    be read: the reading will say why)."""
    try:
        size = path.stat().st_size
        if size < PARALLEL_BYTES:
            return 0
        with path.open("rb") as handle:
            head = handle.read(1 << 20)
    except OSError:
        return 0
    ends = head.count(b"\n") or head.count(b"\r")
    return size * ends // len(head) if head else 0


class _TwoProcesses:
    def __init__(self, scanner: Scanner, progress: Progress | None) -> None:
        self.scanner = scanner
        self.progress = progress
        self.own = 0  # records read here so far
        self.theirs = 0  # records read by the child so far
        self.child_scan: Scan | None = None

    def run(self) -> Scan:
        context = multiprocessing.get_context("fork")
        reading, writing = context.Pipe(duplex=False)
        _grow_pipe(writing.fileno())
        # The next block to take: each process starts with one of its own (0 here, 1 there).
        blocks = context.Value("q", 2)
        child = context.Process(target=_child, args=(self.scanner, blocks, writing), daemon=True)
        # The child's garbage collector leaves the parent's objects alone (else it would
        # touch, and so copy, every page of them).
        gc.freeze()
        try:
            child.start()
        finally:
            gc.unfreeze()
        writing.close()
        self.pipe = reading
        scanner = self.scanner
        self.write_rows = scanner.flush_rows

        records = scanner.table.records()
        try:
            found = scanner.scan(_taken(records, blocks, 0), self._own_progress, every=DRAIN_EVERY)
            _close(records)
            while self.child_scan is None:
                self._drain(block=True)
            _log.debug(
                "read on two processes: %d records here, %d by the child",
                found.count,
                self.child_scan.count,
            )
            found.add(self.child_scan)
            found.in_line_order()
            return found
        finally:
            _close(records)
            reading.close()
            if child.is_alive():
                child.terminate()
            child.join()

    def _own_progress(self, count: int) -> None:
        self.own = count
        self._drain(block=False)  # often enough that the child never waits on a full pipe
        if self.progress is not None and count % 5000 < DRAIN_EVERY:
            self.progress(self.own + self.theirs)

    def _drain(self, *, block: bool) -> None:
        scanner = self.scanner
        while self.child_scan is None and (block or self.pipe.poll()):
            try:
                kind, payload, count = self.pipe.recv()
            except EOFError:
                raise RuntimeError("le processus de lecture s'est arrêté sans finir") from None
            if kind == "rows":
                scanner.rows.extend(payload)
                if len(scanner.rows) >= scanner.batch:
                    self.write_rows()
            elif kind == "clients":  # those this process has not staged already
                staged = scanner.staged_clients
                for client in payload:
                    if client[0] not in staged:
                        staged.add(client[0])
                        scanner.clients.append(client)
                if len(scanner.clients) >= scanner.batch:
                    scanner.flush_clients()
            elif kind == "done":
                self.write_rows()
                scanner.flush_clients()
                self.child_scan = payload
                return
            elif kind == "refused":
                raise FileRefused(payload)
            else:
                raise RuntimeError(f"la lecture du fichier a échoué :\n{payload}")
            self.theirs = count
            if self.progress is not None and block:
                self.progress(self.own + self.theirs)
            block = False


def _child(scanner: Scanner, blocks: Any, pipe: Any) -> None:
    """The forked reader: the blocks of records it takes, its rows sent a batch at a time."""
    sent = 0

    def send(kind: str, buffer: list[tuple[Any, ...]]) -> None:
        if buffer:
            pipe.send((kind, buffer[:], sent))
            buffer.clear()

    def progress(count: int) -> None:
        nonlocal sent
        sent = count

    scanner.flush_rows = lambda: send("rows", scanner.rows)
    scanner.flush_clients = lambda: send("clients", scanner.clients)
    scanner.batch = CHILD_BATCH
    try:
        found = scanner.scan(_taken(scanner.table.records(), blocks, 1), progress)
        pipe.send(("done", found, found.count))
    except FileRefused as exc:
        pipe.send(("refused", str(exc), 0))
    except BaseException:
        pipe.send(("failed", traceback.format_exc(), 0))
    finally:
        pipe.close()


def _taken(records: Iterable[Record], blocks: Any, mine: int) -> Iterator[Record]:
    """The records of the blocks this process takes: block `mine` first, then, each time it
    is done with one, the next block neither process has taken (`blocks`, shared)."""
    for index, record in enumerate(records):
        block = index // BLOCK
        if block > mine:
            with blocks.get_lock():
                mine = blocks.value
                blocks.value = mine + 1
        if block == mine:
            yield record


def _close(records: Iterator[Record]) -> None:
    """Close the file under records left unfinished."""
    if isinstance(records, Generator):
        records.close()


def _grow_pipe(fd: int) -> None:
    """A larger pipe buffer (Linux): the child writes on while the parent is busy."""
    try:
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass

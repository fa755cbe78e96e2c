"""What every import shares: its result, its opening step (read the file, map its columns,
record the run), the lookups of advisors and branches, and the diff and audit rows of a
change."""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bot.cases.engine import SyncReport
from bot.crm.reading import HEADER_LINES, FileRefused, Table, read_table, shown_name
from bot.crm.rows import quote, visible
from bot.crm.vocabulary import MissingColumns, find_headers, fold, match_headers
from bot.models import Advisor, Base, Branch, ImportRun

Progress = Callable[[int], None]


@dataclass(slots=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    to_fix: list[Rejection] = field(default_factory=list)  # imported, flagged for the CRM
    cases: SyncReport = field(default_factory=SyncReport)
    corrections_applied: int = 0  # CRM corrections from calls that this export now carries
    new_branches: list[str] = field(default_factory=list)  # created: named by no one before
    # The optional columns the file lacks (their values in the database are kept), by their
    # usual names, and the file's columns the bot does not read (a renamed one, say).
    absent_columns: list[str] = field(default_factory=list)
    unread_columns: list[str] = field(default_factory=list)
    # Origin labels read as not new business (no M+3) that the bot does not know as such.
    other_origins: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.rejected else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejected],
            "to_fix": [{"line": r.line, "reason": r.reason} for r in self.to_fix],
            "cases": {
                "opened": self.cases.opened,
                "joined": self.cases.joined,
                "cancelled": self.cases.cancelled,
                "moved": self.cases.moved,
                "restored": self.cases.restored,
                "merged": self.cases.merged,
                "left_out": len(self.cases.left_out),
            },
            "corrections_applied": self.corrections_applied,
            "new_branches": self.new_branches,
            "absent_columns": self.absent_columns,
            "unread_columns": self.unread_columns,
            "other_origins": self.other_origins,
        }


class Lookup:
    """Advisors and branches known to the database, by e-mail, name and branch name (plain
    rows, no ORM objects; a branch named for the first time is created).

    An e-mail names one advisor, and so does a "Prénom Nom" or a "NOM Prénom". A name several
    advisors answer to (namesakes, or a first and a last name swapped) names the
    active one when only one of them is active (the others left the agency); else the one of
    the row's branch when that settles it; else the row cannot say whose client it is: the
    advisor is ambiguous, and the export must give the e-mail instead. The first one created
    is never picked silently: the client would go to someone else's queue."""

    def __init__(self, session: Session) -> None:
        self.session = session
        # While staging (`stage_branches`): the branches met that the bot does not know, by
        # their placeholder id: (folded name, name as first written).
        self.staging = False
        self.new_branches: dict[int, tuple[str, str]] = {}
        self.created: list[str] = []  # the names of the branches created, as first written
        # E-mail (case folded), and a name only one advisor answers to (`fold`): the advisor.
        self.advisors: dict[str, int] = {}
        # A name several advisors answer to: (id, branch) of each candidate.
        self.namesakes: dict[str, list[tuple[int, int | None]]] = {}
        # What a row's advisor column can resolve to (part of an import's fingerprint
        # context): (id, e-mail, first name, last name) of every advisor, and (id, e-mail,
        # "actif" or "inactif", "") since a row naming an inactive advisor is flagged; then, for
        # each advisor sharing a name with another, (id, e-mail, "agence <branch id>", "actif"
        # or "inactif"), since those decide between namesakes: a change there reads the rows
        # again.
        self.staff: list[tuple[int, str, str, str]] = []
        self.inactive: set[int] = set()  # advisors who left (missing from the staff file)
        table = Base.metadata.tables[Advisor.__tablename__]
        rows = session.execute(
            select(
                table.c.id,
                table.c.email,
                table.c.first_name,
                table.c.last_name,
                table.c.branch_id,
                table.c.active,
            ).order_by(table.c.id)
        )
        by_name: dict[str, list[tuple[int, str, int | None, bool]]] = {}
        for advisor_id, email, first_name, last_name, branch_id, active in rows:
            self.staff.append((advisor_id, email, first_name, last_name))
            self.staff.append((advisor_id, email, "actif" if active else "inactif", ""))
            if not active:
                self.inactive.add(advisor_id)
            self.advisors[email.casefold()] = advisor_id
            # "Prénom Nom", or "NOM Prénom" as many CRMs list people: both name the advisor
            # (when two advisors answer to one of them, it is settled as for namesakes).
            entry = (advisor_id, email, branch_id, bool(active))
            for full in {fold(f"{first_name}{last_name}"), fold(f"{last_name}{first_name}")}:
                if full:
                    by_name.setdefault(full, []).append(entry)
        for full, named in by_name.items():
            if len(named) == 1:
                self.advisors.setdefault(full, named[0][0])
                continue
            for advisor_id, email, branch_id, active in named:
                state = "actif" if active else "inactif"
                self.staff.append((advisor_id, email, f"agence {branch_id}", state))
            candidates = [entry for entry in named if entry[3]] or named
            if len(candidates) == 1:
                self.advisors.setdefault(full, candidates[0][0])
            else:
                self.namesakes[full] = [(entry[0], entry[2]) for entry in candidates]
        branches = Base.metadata.tables[Branch.__tablename__]
        self.branches: dict[str, int] = {
            fold(name): branch_id
            for branch_id, name in session.execute(select(branches.c.id, branches.c.name))
        }

    def advisor(self, value: str, branch: str = "") -> int | str | None:
        """The advisor `value` (an e-mail or a "Prénom Nom") names; for a name namesakes
        share, the one of `branch` (the row's), else the French reason the row is rejected;
        None when no advisor answers to `value`."""
        found = self.advisors.get(value.casefold())
        if found is not None:
            return found
        full = fold(value)
        found = self.advisors.get(full)
        if found is not None:
            return found
        candidates = self.namesakes.get(full)
        if candidates is None:
            shown = visible(value)  # an e-mail with a zero-width space in it
            return self.advisors.get(shown.casefold()) if shown != value else None
        branch_id = self.branches.get(fold(branch)) if branch else None
        if branch_id is not None:
            in_branch = [advisor_id for advisor_id, home in candidates if home == branch_id]
            if len(in_branch) == 1:
                return in_branch[0]
        return (
            f"conseiller ambigu : plusieurs conseillers s'appellent {quote(value)} ; "
            "indiquez son e-mail"
        )

    def branch(self, name: str) -> int | None:
        """The id of the branch `name` (case and accents aside); one the bot does not know is
        created, or, while staging, given a placeholder id."""
        if not name:
            return None
        key = fold(name)
        found = self.branches.get(key)
        if found is not None:
            return found
        if self.staging:
            return self._placeholder(key, name)
        return self._create_branch(key, name)

    def stage_branches(self) -> None:
        """From now on, `branch` creates nothing: a branch the bot does not know gets a
        placeholder id, negative and the same in every process for the same name (the reader
        child of a large file shares the import's connection and must not write to it; both
        processes stage the same client values under the same hash). `create_branches` then
        creates them, in the importer's process."""
        self.staging = True

    def create_branches(self, staged: dict[int, tuple[str, str]]) -> dict[int, int]:
        """Create the branches staged under placeholder ids (`new_branches`, of every
        process that read the file): the real id of each placeholder."""
        return {
            placeholder: self.branches.get(key) or self._create_branch(key, name)
            for placeholder, (key, name) in sorted(staged.items(), key=lambda item: item[1])
        }

    def _placeholder(self, key: str, name: str) -> int:
        placeholder = -1 - (zlib.crc32(key.encode()) & 0x7FFFFFFF)
        stage_branch(self.new_branches, placeholder, key, name)
        return placeholder

    def _create_branch(self, key: str, name: str) -> int:
        table = Base.metadata.tables[Branch.__tablename__]
        created = self.session.connection().execute(insert(table).values(name=name))
        branch_id: int = created.inserted_primary_key[0]  # type: ignore[index]
        self.branches[key] = branch_id
        self.created.append(name)
        return branch_id


def stage_branch(staged: dict[int, tuple[str, str]], placeholder: int, key: str, name: str) -> None:
    """Note a new branch (`key` its folded name) under its placeholder id in `staged`, as a
    process met it or as two processes' findings are put together. Two names under one
    placeholder (one chance in millions): the file is refused rather than the two merged."""
    known = staged.setdefault(placeholder, (key, name))
    if known[0] != key:
        raise FileRefused(
            f"les agences {quote(known[1])} et {quote(name)}, inconnues du bot, ne peuvent pas "
            "être créées ensemble par cet import : importez d'abord l'équipe avec l'une "
            "d'elles (m3 import advisors), puis relancez"
        )


def comparable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    return value


def diff(current: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {
        name: (current.get(name), value)
        for name, value in new.items()
        if comparable(current.get(name)) != comparable(value)
    }


def start(
    session: Session,
    path: Path,
    kind: str,
    fields: dict[str, tuple[str, ...]],
    required: tuple[str, ...],
    today: dt.date,
    *,
    screen: Callable[[list[str]], None] | None = None,
) -> tuple[Table, dict[str, int], Lookup, ImportRun]:
    """Open the file, let `screen` refuse its header, and map its columns (`FileRefused`
    before anything is written); then record the import run. The header is the first of the
    file's first lines that names the `required` columns (a title or blank lines may come
    above it), else its first non-blank line, whose columns the refusal lists, with its line
    and how far the header was looked for."""
    wanted = set(required)
    table = read_table(path, is_header=lambda cells: wanted <= find_headers(cells, fields))
    if screen is not None:
        screen(table.header)
    try:
        columns = match_headers(table.header, fields, required)
    except MissingColumns as exc:
        raise FileRefused(
            f"{exc} (ligne {table.header_line}\u00a0; les en-têtes sont cherchés dans les "
            f"{HEADER_LINES} premières lignes non vides du fichier)"
        ) from None
    run = ImportRun(kind=kind, filename=shown_name(path), import_date=today)
    session.add(run)
    session.flush()
    return table, columns, Lookup(session), run


# The audit log's columns an entry of `audit_rows` fills, in order (for a bulk load).
AUDIT_COLUMNS = ("at", "actor", "entity", "entity_key", "field", "old_value", "new_value")


def audit_rows(
    actor: str, entity: str, key: str, changes: dict[str, tuple[Any, Any]]
) -> list[dict[str, Any]]:
    return [
        dict(zip(AUDIT_COLUMNS, entry, strict=True))
        for entry in audit_values(dt.datetime.now(dt.UTC), actor, entity, key, changes)
    ]


def audit_values(
    at: dt.datetime, actor: str, entity: str, key: str, changes: dict[str, tuple[Any, Any]]
) -> list[tuple[Any, ...]]:
    """The audit log's entries for `changes`, as rows of `AUDIT_COLUMNS` (for a bulk load)."""
    return [
        (
            at,
            actor,
            entity,
            key,
            name,
            None if old is None else str(old),
            None if new is None else str(new),
        )
        for name, (old, new) in changes.items()
    ]

"""Reading the agency's CRM exports: CSV (`;`, `,` or tab) in whatever encoding the file turns
out to be, or an `.xlsx` workbook, streamed: a file is never held whole in memory.

`read_table()` opens a file, finds its header and decides how to decode it, or raises
`FileRefused` with a French message; `Table.records()` then gives each record with its line
number: the physical line (or row) of the file, whatever comes above the header (a record
spanning several physical lines has the number of its first one). Nothing a file holds makes
it raise anything else.

How a CSV export is read, and why:

- **Encoding.** A byte order mark decides (UTF-8, UTF-16). Otherwise a file whose non-ASCII
  lines mostly read as UTF-8 is UTF-8 (a line that does not is rejected, not guessed).
  Anything else is a single-byte code page, detected by `charset-normalizer` among those a
  French export can be in (Windows-1252, ISO-8859-15, Mac Roman, DOS 850), on the first lines
  with non-ASCII bytes; the whole file is scanned for the byte values it uses. When no code
  page reads like text, the file is refused. When several stay about as likely (close
  `charset-normalizer` chaos) and read some byte of the file differently, one that makes a
  control character of it is ruled out; between the others, the words where they differ
  settle it by `charset-normalizer`'s mess measure (the same byte is « ½ » in Windows-1252 and
  « œ » in ISO-8859-15); a tie refuses the file, naming a word both ways, rather than store
  text that may be wrong. UTF-16 without a byte order mark is refused with that explanation,
  and a file with binary bytes as not being a CSV export.
- **Lines.** Lines may end with CRLF, LF or CR alone (old Mac exports). A record whose quoted
  field spans several lines is accepted when it reads as one row of the header's width, within
  `MAX_SPAN` lines; otherwise its first line (the one opening the quote) is rejected and the
  lines after it are read as records of their own, so that one stray quote cannot swallow the
  rows that follow. Quotes that break the CSV rules, a NUL byte or another control character,
  a Unicode noncharacter (U+FFFE…), bytes the encoding cannot decode and lines longer than
  `MAX_LINE_BYTES` reject their line, with the reason. Tabs, line breaks and other blank
  control characters inside a value read as a space. Blank records are skipped (not
  counted), and so is the header line repeated (an export made of pages), by `bot.crm.scan`.
- **Separator.** The one Excel's hint on the first line names (`sep=;`, `sep=,`, `sep=\\t` or
  a tab, any case, maybe quoted; that line is no header). Else `;`, `,` or tab: the one that
  splits the header and the first lines after it (`SNIFF_LINES` of them, within
  `SNIFF_BYTES`) into the same number of fields, quotes taken into account, preferring the
  one that gives the header the most fields; so a comma in a column name (« Chiffre
  d'affaires (€, HT) ») does not make a `;` file a comma one. A tie goes to `;`, then tab,
  then `,`.
- **Header.** Lines above it are common (Excel's `sep=;`, blank lines, a title such as « Export
  du portefeuille au 12/11/2026 » or « Agence Corniche;;; »). Blank lines (empty, or only
  separators, quotes and spaces) are passed over; the header is the first of the first
  `HEADER_LINES` non-blank lines (within `HEADER_SEARCH_LINES` lines and `HEADER_SEARCH_BYTES`:
  only the first chunks of the file are read) that the caller's `is_header` accepts, each read
  with the separator chosen on it and the lines after it, so that a title line never chooses it;
  a line the lines after it do not split its way (a title listing the columns in a sentence) or
  of more than `HEADER_CELLS` cells is no header. A row a tenth of its fields short or long
  still supports a separator (it drops its trailing empty cells, say; its own reading rejects
  it). Without `is_header`, or when no line qualifies, it is the first non-blank line (whose
  columns the importer's refusal then lists). A line above the header that reads as a row of
  data (the header's width, half of its fields filled, digits in two of them: a title, a line
  of what the export holds or of column names has one at most) is rejected with its number,
  not passed over: pages of an export pasted together, the first header lost, would otherwise
  lose their first rows unsaid. A line break typed in a column name
  (Alt+Entrée in Excel: the name is quoted, and the header spans several lines, up to
  `HEADER_SPAN`) is read as a space, and the rows keep their file line numbers; a quote left
  open on a candidate that no later line closes is said, when no header is found. A column named
  twice refuses the file (`bot.crm.vocabulary`). A workbook's header row is found the same way
  (its rows numbered as the sheet's; a line break in a cell is a space too).
"""

from __future__ import annotations

import codecs
import csv
import errno
import logging
import os
import re
import stat
import unicodedata
import zipfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 16 << 20  # longer physical lines are rejected without being held
MAX_SPAN = 20  # physical lines one record may span (a quoted field with line breaks)
HEAD_BYTES = 1 << 16
# The header is looked for among the first non-blank lines, up to these many, within the
# first physical lines and bytes (the first non-blank line aside, taken whole).
HEADER_LINES = 10
HEADER_CELLS = 1000  # more cells than that on a line: no header (a real one has some thirty)
HEADER_SPAN = 5  # physical lines a header may span (line breaks typed in its column names)
HEADER_SEARCH_LINES = 100
HEADER_SEARCH_BYTES = 1 << 20
# The separator is chosen on the header and the lines after it, up to these many (or bytes).
SNIFF_LINES = 20
SNIFF_BYTES = 1 << 16
# The csv module refuses a field over 128 KiB; a longer one is let through for the importer to
# reject with its length and column (a record is never longer than this anyway).
FIELD_BYTES = 2 * MAX_LINE_BYTES + MAX_SPAN

_log = logging.getLogger(__name__)


class FileRefused(Exception):
    """The file cannot be imported at all; the message says why, in French."""


class LineProblem(ValueError):
    """A record that cannot be read as a row; the message is the French reason."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    cells: list[Any]


@dataclass(frozen=True, slots=True)
class Problem:
    """A record rejected before it could be read as cells."""

    line: int
    reason: str


# One record: (line, key, cells, problem).
# - `key`: the record's bytes (the fingerprint of its content), b"" for a problem;
# - `cells`: the values, or None for a plain CSV line not split yet (`Table.split(key)`);
# - `problem`: None, or the French reason the record is rejected.
Record = tuple[int, bytes, list[Any] | None, str | None]

# Whether a candidate line, as its stripped cells, is the header (the importer's test: it names
# the required columns).
HeaderTest = Callable[[list[str]], bool]


@dataclass
class Table:
    header: list[str]
    encoding: str  # a label for people and for fingerprints: "UTF-8", "Windows-1252", "xlsx"…
    delimiter: str
    size_hint: int  # bytes for a CSV, rows for a workbook: for a progress bar
    records: Callable[[], Iterator[Record]]
    # A plain line's cells, and whether all its characters are printable (`_Lines.split`).
    split: Callable[[bytes], tuple[list[Any], bool]] = field(default=lambda key: ([], False))
    header_line: int = 1  # the header's physical line (or row) in the file

    def rows(self) -> Iterator[Row | Problem]:
        """Each record as a `Row` of cells, or a `Problem` (for small files: no fingerprints)."""
        for line, key, cells, problem in self.records():
            if problem is not None:
                yield Problem(line, problem)
                continue
            if cells is None:
                try:
                    cells, _ = self.split(key)
                except LineProblem as exc:
                    yield Problem(line, str(exc))
                    continue
            if not all(blank(c) for c in cells):
                yield Row(line, cells)


def blank(value: Any) -> bool:
    """An empty cell: None, or only white space (a no-break space included)."""
    return value is None or (isinstance(value, str) and not value.strip())


# --- Opening a file --------------------------------------------------------------------------


def shown_name(path: Path) -> str:
    """The file's name as people read it, and as the database stores it: bytes that are not
    UTF-8 (a name from an archive made on Windows) shown as « � »."""
    return os.fsencode(path.name or str(path)).decode("utf-8", "replace")


def read_table(path: Path, is_header: HeaderTest | None = None) -> Table:
    """Open a CSV or XLSX export; `FileRefused` (in French) when it cannot be read at all.

    The header is the first non-blank line; with `is_header`, the first of the first few
    non-blank lines it accepts, else still the first non-blank one (see the module)."""
    shown = shown_name(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused(
                f"impossible de lire le fichier « {shown} » : c'est un dossier, pas un fichier"
            )
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(
                f"impossible de lire le fichier « {shown} » : ce n'est pas un fichier ordinaire"
            )
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as exc:
        raise FileRefused(os_reason(exc, shown)) from None
    if not head.removeprefix(codecs.BOM_UTF8).strip() and info.st_size <= len(head):
        raise FileRefused("le fichier est vide")
    suffix = path.suffix.lower()
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_table(path, suffix, is_header)
    for magic, kind in _COMPRESSED:
        if head.startswith(magic):
            raise FileRefused(
                f"le fichier est compressé ({kind}), pas un export CSV ni un classeur "
                "Excel\u00a0: décompressez-le et importez le fichier qu'il contient"
            )
    if head.startswith(b"\xd0\xcf\x11\xe0") and suffix not in _OFFICE_SUFFIXES:
        # Excel 97-2003, whatever the name; an .xlsx protected by a password is stored so too.
        raise FileRefused(
            "classeur Excel 97-2003 (.xls) ou protégé par un mot de passe, non pris en "
            "charge\u00a0: enregistrez-le en classeur .xlsx sans mot de passe, ou en CSV"
        )
    if suffix in _OFFICE_SUFFIXES:
        raise _unsupported(path.suffix)
    if head.startswith(b"%PDF") or suffix == ".pdf":
        raise FileRefused(
            f"format « {path.suffix if suffix == '.pdf' else '.pdf'} » non pris en charge : "
            "enregistrez l'export en CSV ou .xlsx"
        )
    return _CsvFile(path, head, info.st_size).table(is_header)


_OFFICE_SUFFIXES = {".xls", ".ods", ".doc", ".docx"}
# The first bytes of the compressed files a mail or a download may leave (ZIP is read above).
_COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"\xfd7zXZ\x00", "xz"),
)
_ODS = b"application/vnd.oasis.opendocument.spreadsheet"


def _unsupported(format_name: str) -> FileRefused:
    return FileRefused(
        f"format « {format_name} » non pris en charge : enregistrez l'export en CSV ou en "
        "classeur .xlsx"
    )


def _zip_table(path: Path, suffix: str, is_header: HeaderTest | None) -> Table:
    """A ZIP archive is told by what it holds, whatever its name: an Excel workbook (`.xlsx`,
    or one renamed `.csv` or without extension) is read; a LibreOffice `.ods` sheet or any
    other archive is refused, saying what to do."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = b""
            if "mimetype" in names:
                with archive.open("mimetype") as member:
                    mimetype = member.read(200)
    except Exception as exc:  # zipfile raises many kinds for a damaged or odd archive
        _log.info("archive ZIP illisible : %s", path, exc_info=exc)
        raise FileRefused(
            "le fichier est une archive ZIP endommagée ou tronquée (un classeur .xlsx "
            "incomplet\u00a0?)\u00a0: exportez-le à nouveau, en CSV ou en classeur .xlsx"
        ) from None
    if {"[Content_Types].xml", "xl/workbook.xml"} <= names:
        return _xlsx_table(path, is_header)
    if mimetype.strip() == _ODS:
        raise FileRefused(
            "classeur LibreOffice ou OpenOffice (.ods) non pris en charge\u00a0: enregistrez-le "
            "au format Excel (.xlsx) ou en CSV"
        )
    if suffix in _OFFICE_SUFFIXES:
        raise _unsupported(path.suffix)
    raise FileRefused(
        "le fichier est une archive ZIP, pas un export CSV ni un classeur Excel\u00a0: "
        "décompressez-la et importez le fichier qu'elle contient, ou enregistrez l'export en "
        "CSV ou en classeur .xlsx"
    )


_OS_REASONS = {
    errno.ELOOP: "lien symbolique en boucle",
    errno.ENAMETOOLONG: "nom de fichier trop long",
    errno.EIO: "erreur d'entrée-sortie (disque ou partage réseau)",
    errno.EBUSY: "fichier occupé par un autre programme",
    errno.EAGAIN: "fichier verrouillé par un autre programme",
    errno.ETXTBSY: "fichier occupé par un autre programme",
    errno.EMFILE: "trop de fichiers ouverts\u00a0: réessayez dans un instant",
    errno.ENFILE: "trop de fichiers ouverts\u00a0: réessayez dans un instant",
    errno.ENOMEM: "mémoire insuffisante",
    errno.ENXIO: "périphérique absent ou débranché",
    errno.ENODEV: "périphérique absent ou débranché",
    errno.ESTALE: "partage réseau déconnecté\u00a0: reconnectez-le et réessayez",
    errno.ETIMEDOUT: "le partage réseau ne répond pas",
    errno.EHOSTDOWN: "le partage réseau ne répond pas",
    errno.EINVAL: "nom de fichier invalide",
    errno.EOVERFLOW: "fichier trop volumineux",
    errno.EFBIG: "fichier trop volumineux",
    errno.ENOSPC: "disque plein",
    errno.EDQUOT: "quota du disque dépassé",
    errno.EROFS: "disque en lecture seule",
}


def os_reason(exc: OSError, shown: str, *, writing: bool = False) -> str:
    """What the operating system said, in French, of reading the file (or `writing` it)."""
    if isinstance(exc, FileNotFoundError):
        if not writing:
            why = "fichier introuvable"
        elif not Path(shown).parent.is_dir():  # (written, a file is created: its folder)
            why = "dossier introuvable"
        else:  # a broken link, a place where files cannot be made (/proc)
            why = "ce chemin ne peut pas être créé"
    elif isinstance(exc, IsADirectoryError):
        why = "c'est un dossier, pas un fichier"
    elif isinstance(exc, NotADirectoryError):
        why = "une partie du chemin n'est pas un dossier"
    elif isinstance(exc, PermissionError):
        why = f"{'écriture' if writing else 'lecture'} interdite (droits insuffisants)"
    elif exc.errno in _OS_REASONS:
        why = _OS_REASONS[exc.errno]
    else:
        _log.info("erreur système sur %s", shown, exc_info=exc)
        act = "l'écriture" if writing else "la lecture"
        why = f"le système refuse {act} (erreur n° {exc.errno})"
    verb = "d'écrire" if writing else "de lire"
    return f"impossible {verb} le fichier « {shown} » : {why}"


# --- Encodings ---------------------------------------------------------------------------------

# The single-byte code pages a French export may be written in (Excel, old Mac, DOS tools).
CODE_PAGES = ("cp1252", "iso8859_15", "mac_roman", "cp850")
LABELS = {
    "utf-8": "UTF-8",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252",
    "iso8859_15": "ISO-8859-15",
    "mac_roman": "Mac Roman",
    "cp850": "DOS (CP850)",
}
_ASCII = bytes(range(128))
_HIGH = re.compile(rb"[\x80-\xff]")
_LINE_ENDS = b"\r\n"
_TOKEN_ENDS = b' \t\r\n;,"'
_SAMPLE_LINES = 300
_SAMPLE_TOKENS = 3000
_CLOSE_CHAOS = 0.01  # charset-normalizer chaos difference below which two decodings compete
_MAX_CHAOS = 0.05  # above it, no decoding reads like a French export: doubtful
# ... when the sample holds this many non-ASCII bytes at least: on fewer (a header's « N° » and
# « Chargé de clientèle », the only accents of a small export), charset-normalizer's chaos is
# noise (0.066 for that header alone in Windows-1252, 0.013 for the whole 30-column header),
# and the best code page is kept when it reads every non-ASCII byte as French (`_french`).
_MIN_CHAOS_EVIDENCE = 40


@dataclass(frozen=True)
class _Encoding:
    codec: str  # how the record bytes decode ("utf-8" for UTF-16, which is transcoded first)
    label: str
    transcode: str | None = None  # "utf-16": the file is decoded and re-encoded as UTF-8
    bom: bytes = b""
    # The file is read as a single-byte code page but some lines read as UTF-8: those lines
    # are rejected (they would be stored as « Ã© »).
    reject_utf8_lines: bool = False


def _refuse_utf16_without_bom(head: bytes) -> None:
    pairs = len(head) // 2
    if pairs < 2:
        return
    even = head[0 : pairs * 2 : 2].count(0)
    odd = head[1 : pairs * 2 : 2].count(0)
    nuls = even + odd
    if nuls == 0 or nuls < len(head) // 8:
        return
    if odd >= 0.9 * nuls and odd >= pairs // 3:
        order = "UTF-16 « little endian »"
    elif even >= 0.9 * nuls and even >= pairs // 3:
        order = "UTF-16 « big endian »"
    else:
        raise FileRefused(
            "ce fichier n'est pas un export CSV lisible : il contient des octets binaires "
            "(caractères nuls) ; enregistrez l'export en CSV ou en classeur .xlsx"
        )
    raise FileRefused(
        f"le fichier semble encodé en {order} sans marque d'ordre des octets (BOM) : son "
        "encodage ne peut pas être lu avec certitude ; enregistrez-le en UTF-8, ou en UTF-16 "
        "avec BOM (« Texte Unicode » dans Excel)"
    )


def _control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"


# The non-ASCII characters of French text (and of its numbers and quotes).
_FRENCH = set("àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ°€’‘“”«»–—…\u00a0²³µ§·")


def _french(codec: str, present: set[int]) -> bool:
    """Every non-ASCII byte of the file reads, in `codec`, as a character of French text: on a
    handful of them, what lets a code page through despite its chaos (a Polish « Kraków »
    read as Mac Roman « KrakÛw » is not let through)."""
    return all(bytes([value]).decode(codec, errors="replace") in _FRENCH for value in present)


def _decodes_cleanly(codec: str, present: set[int]) -> bool:
    """Every byte the file uses is a printable character in `codec`."""
    for value in present:
        try:
            char = bytes([value]).decode(codec)
        except UnicodeDecodeError:
            return False
        if _control(char):
            return False
    return True


class _CsvFile:
    def __init__(self, path: Path, head: bytes, size: int) -> None:
        self.path = path
        self.head = head
        self.size = size

    # Raw bytes, in chunks.
    def _raw_chunks(self) -> Iterator[bytes]:
        try:
            with self.path.open("rb") as handle:
                while chunk := handle.read(CHUNK_BYTES):
                    yield chunk
        except OSError as exc:
            raise FileRefused(os_reason(exc, shown_name(self.path))) from None

    def table(self, is_header: HeaderTest | None = None) -> Table:
        encoding = self._encoding()
        reader = _Lines(self, encoding)
        lines, searched = reader.head_lines()
        hint = _separator_hint(lines[0]) if lines else None
        candidates = [
            index for index in range(1 if hint else 0, searched) if not _blank_line(lines[index])
        ]
        if not candidates:
            if searched < len(lines) and lines[searched] is _OVERLONG:
                raise FileRefused(
                    f"{_header_line(searched + 1, 'la première ligne (les en-têtes)')} est "
                    "démesurément longue"
                )
            raise FileRefused(
                "le fichier est vide ou ne commence que par des lignes vides : sa ligne "
                "d'en-têtes est introuvable"
            )
        if csv.field_size_limit() < FIELD_BYTES:
            csv.field_size_limit(FIELD_BYTES)
        found: tuple[int, list[str], str, int] | None = None
        unclosed: _UnclosedHeader | None = None
        if is_header is not None:
            for index in candidates:
                try:
                    header, delimiter, span = self._header(lines, index, hint, encoding)
                except _UnclosedHeader as exc:
                    unclosed = unclosed or exc  # the header, maybe: said if none is found
                    continue
                except FileRefused:
                    continue  # a title line that does not even read as one
                if len(header) > HEADER_CELLS:
                    continue  # no export has that many columns (and the test would be slow)
                last = index + span - 1
                if not hint and not _supported(lines, last, encoding, delimiter, len(header)):
                    # A title that lists the columns in a sentence (« Export trié par N°
                    # client, Type client, … »): the lines after it are not split that way.
                    continue
                if is_header([h.strip() for h in header]):
                    found = index, header, delimiter, span
                    break
        if found is None:
            if unclosed is not None:
                raise unclosed
            # The first non-blank line: its refusals, or the importer's (the columns it holds).
            index = candidates[0]
            found = (index, *self._header(lines, index, hint, encoding))
        index, header, delimiter, span = found
        reader.header_line = index + span  # its last physical line: the records come after
        reader.above = [
            (above + 1, _above_the_header(index + 1))
            for above in candidates
            if above < index
            and _a_row(_split_alone(lines[above], encoding.codec, delimiter), len(header))
        ]
        reader.delimiter = delimiter
        reader.names = [h.strip() for h in header]
        reader.controls = _CONTROLS_BUT_TAB if delimiter == "\t" else _CONTROLS
        reader.width = len(header)
        return Table(
            header=[h.strip() for h in header],
            encoding=encoding.label,
            delimiter=delimiter,
            size_hint=self.size,
            records=reader.records,
            split=reader.split,
            header_line=index + 1,
        )

    @staticmethod
    def _header(
        lines: list[bytes], index: int, hint: str | None, encoding: _Encoding
    ) -> tuple[list[str], str, int]:
        """The cells of the header that starts on `lines[index]`, the separator (the hint's,
        else the one chosen on the header and the lines after it) and how many lines the
        header spans (more than one when a quoted column name holds a line break: read as a
        space); `FileRefused` when it cannot be a header."""
        where = _header_line(index + 1, "la ligne d'en-têtes")
        texts: list[str] = []
        for line in lines[index : index + HEADER_SPAN]:
            if line is _OVERLONG:
                break
            try:
                texts.append(line.decode(encoding.codec))
            except UnicodeDecodeError:
                raise FileRefused(f"{where} n'est pas lisible en {encoding.label}") from None
            text = "\n".join(texts)
            if len(texts) == 1:
                if not text.strip(" \t;,"):
                    raise FileRefused(f"le fichier est vide ou {where} est vide")
            elif text.count('"') % 2:
                continue  # the quote opened on an earlier line is still open
            if any(_control(c) and c not in "\t\n" for c in text):
                raise FileRefused(
                    f"{where} contient des caractères de contrôle (octets nuls ou "
                    "binaires) : le fichier est endommagé ou n'est pas un export CSV"
                )
            span = len(texts)
            after = _after(lines, index + span - 1)
            delimiter = hint or _delimiter(
                text, [line.decode(encoding.codec, errors="replace") for line in after]
            )
            try:
                (header,) = list(csv.reader([text], delimiter=delimiter, strict=True))
            except (csv.Error, ValueError) as exc:
                if "unexpected end of data" in str(exc):  # a quote left open at the line's end
                    continue
                raise FileRefused(
                    f"impossible de lire {where} du fichier (guillemets mal formés)"
                ) from None
            if span > 1:
                header = [_LINE_BREAKS.sub(" ", name) for name in header]
            return header, delimiter, span
        raise _UnclosedHeader(
            f"impossible de lire {where} du fichier : un nom de colonne entre guillemets "
            "n'est jamais fermé (guillemets mal formés dans les en-têtes)"
        )

    def _encoding(self) -> _Encoding:
        head = self.head
        if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
            raise FileRefused(
                "le fichier est encodé en UTF-32, que l'import ne lit pas : enregistrez-le en UTF-8"
            )
        if head.startswith(codecs.BOM_UTF8):
            return _Encoding("utf-8", "UTF-8", bom=codecs.BOM_UTF8)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return _Encoding("utf-8", "UTF-16", transcode="utf-16")
        _refuse_utf16_without_bom(head)
        return self._detect()

    def _detect(self) -> _Encoding:
        """UTF-8, or the single-byte code page charset-normalizer finds (see the docstring)."""
        good = bad = 0
        decided = False  # whether the lines read as UTF-8 or not is settled
        present: set[int] = set()  # every non-ASCII byte value of the file
        sample: list[bytes] = []  # the first lines with non-ASCII bytes
        carry = b""
        for chunk in self._raw_chunks():
            high = chunk.translate(None, _ASCII)
            present.update(high)
            if decided or not (high or carry):
                carry = b""
                continue
            data = carry + chunk
            cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
            carry, data = (data[cut + 1 :], data[: cut + 1]) if cut >= 0 else (data, b"")
            if len(carry) > MAX_LINE_BYTES:
                carry = b""
            good, bad = self._count_utf8(_around(data, _HIGH, _LINE_ENDS), good, bad, sample)
            if good >= 1000 and bad == 0:
                return _Encoding("utf-8", "UTF-8")
            decided = bad >= 50 and bad > 10 * good
        if not decided:
            good, bad = self._count_utf8(_around(carry, _HIGH, _LINE_ENDS), good, bad, sample)
        if good > bad or bad == 0:
            return _Encoding("utf-8", "UTF-8")  # a line that does not decode is rejected
        codec = self._code_page(present, sample)
        return _Encoding(codec, LABELS[codec], reject_utf8_lines=good > 0)

    @staticmethod
    def _count_utf8(
        lines: list[bytes], good: int, bad: int, sample: list[bytes]
    ) -> tuple[int, int]:
        for line in lines:
            try:
                line.decode("utf-8")
                good += 1
            except UnicodeDecodeError:
                bad += 1
            if len(sample) < _SAMPLE_LINES:
                sample.append(line[:2000])
        return good, bad

    def _code_page(self, present: set[int], sample: list[bytes]) -> str:
        from charset_normalizer import from_bytes

        matches = from_bytes(b"\n".join(sample), cp_isolation=list(CODE_PAGES))
        chaos: dict[str, float] = {}
        for match in matches:
            for codec in (match.encoding, *match.could_be_from_charset):
                if codec in CODE_PAGES:
                    chaos.setdefault(codec, match.chaos)
        ranked = sorted(chaos, key=lambda c: chaos[c])
        evidence = sum(len(_HIGH.findall(line)) for line in sample)
        if not ranked or (
            chaos[ranked[0]] > _MAX_CHAOS
            and (evidence >= _MIN_CHAOS_EVIDENCE or not _french(ranked[0], present))
        ):
            raise FileRefused(
                "encodage du fichier non reconnu ou incertain (ni UTF-8, ni Windows-1252, ni "
                "ISO-8859-15 lisibles) : enregistrez l'export en UTF-8"
            )
        # Code pages that read every byte of the file the same way are one choice.
        values = bytes(sorted(present))
        groups: dict[str, str] = {}
        for codec in ranked:
            groups.setdefault(values.decode(codec, errors="replace"), codec)
        best = ranked[0]
        close = [c for c in groups.values() if chaos[c] - chaos[best] <= _CLOSE_CHAOS]
        # A rival that makes control characters or nothing of some byte of the file is out.
        clean = [c for c in close if _decodes_cleanly(c, present)]
        if clean:
            close = clean
        if len(close) == 1:
            return close[0]
        return self._settle(close, present)

    def _settle(self, codecs_: list[str], present: set[int]) -> str:
        """Code pages charset-normalizer finds equally likely: the words where they differ
        decide, by mess; a tie is a doubt, and the file is refused."""
        from charset_normalizer.md import mess_ratio

        differing = bytes(
            v for v in sorted(present) if len({bytes([v]).decode(c) for c in codecs_}) > 1
        )
        pattern = re.compile(rb"[" + re.escape(differing) + rb"]")
        tokens: set[bytes] = set()
        for chunk in self._lines_for_tokens():
            tokens.update(_around(chunk, pattern, _TOKEN_ENDS))
            if len(tokens) >= _SAMPLE_TOKENS:
                break
        scores = {
            c: sum(
                min(1.0, mess_ratio(t.decode(c, errors="replace"), maximum_threshold=1.0))
                for t in tokens
            )
            for c in codecs_
        }
        ranked = sorted(codecs_, key=lambda c: scores[c])
        if scores[ranked[0]] < scores[ranked[1]]:
            return ranked[0]
        example = min(tokens, key=len) if tokens else differing[:1]
        readings = " ou ".join(
            f"« {example.decode(c, errors='replace')} » en {LABELS[c]}" for c in ranked[:2]
        )
        raise FileRefused(
            f"encodage du fichier incertain : le même texte se lit {readings}. Pour ne pas "
            "enregistrer de noms faux, l'import s'arrête : enregistrez l'export en UTF-8"
        )

    def _lines_for_tokens(self) -> Iterator[bytes]:
        carry = b""
        for chunk in self._raw_chunks():
            data = carry + chunk
            cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
            if cut < 0:
                carry = data[-MAX_LINE_BYTES:]
                continue
            carry = data[cut + 1 :]
            yield data[: cut + 1]
        if carry:
            yield carry


def _around(data: bytes, pattern: re.Pattern[bytes], ends: bytes) -> list[bytes]:
    """The spans of `data` between bytes of `ends` that hold a match of `pattern` (the lines,
    or words, with a non-ASCII byte); linear, however long a span (a regular expression with
    a span on each side of the match would backtrack quadratically over a 10 MB line)."""
    found = []
    position = 0
    size = len(data)
    while (match := pattern.search(data, position)) is not None:
        hit = match.start()
        start = max(data.rfind(bytes([end]), position, hit) for end in ends) + 1
        stop = min((i for end in ends if (i := data.find(bytes([end]), hit)) >= 0), default=size)
        found.append(data[max(start, position) : stop])
        position = stop + 1
    return found


_DELIMITERS = (";", "\t", ",")  # in the order a tie is settled
# Excel's separator hint, a file's first line: `sep=;`, `"sep=,"`, `SEP=\t` (written out, or a
# tab), maybe followed by empty fields.
_SEPARATOR_HINT = re.compile(rb'(?i)[ \t]*"?sep=(;|,|\t|\\t)"?[ \t;,]*')
_BLANK_BYTES = b' \t;,"'  # what a blank line holds, if anything


def _separator_hint(line: bytes) -> str | None:
    """The separator Excel's hint on the first line names, or None when it is no hint."""
    if line is _OVERLONG:
        return None
    match = _SEPARATOR_HINT.fullmatch(line)
    if match is None:
        return None
    return "\t" if match.group(1) == b"\\t" else match.group(1).decode("ascii")


def _split_alone(line: bytes, codec: str, delimiter: str) -> list[str]:
    """A line above the header split as a record of its own (none when it does not read)."""
    if line is _OVERLONG:
        return []
    try:
        return next(csv.reader([line.decode(codec)], delimiter=delimiter), [])
    except (UnicodeDecodeError, csv.Error):
        return []


def _a_row(cells: Sequence[Any], width: int) -> bool:
    """Whether a line or a sheet's row above the header is a row of data, not a title: the
    header's width (a workbook's empty cells past it aside), half of its cells filled or more,
    and digits in two of them at least, as a contract's numbers and dates. A title
    (« Portefeuille;Agence Corniche;au 12/11/2026;;; »), a line of what the export holds
    (« Exporté le;12/11/2026;Par;J. Dupont;;… ») or a second line of column names has digits
    in one cell at most, or fills too few."""
    kept = list(cells)
    while kept and blank(kept[-1]) and len(kept) > width:
        kept.pop()
    if len(kept) != width:
        return False
    filled = [c for c in kept if not blank(c)]
    numeric = sum(1 for c in filled if not isinstance(c, str) or any(ch.isdigit() for ch in c))
    return 2 * len(filled) >= width and numeric >= 2


def _above_the_header(header_line: int) -> str:
    return (
        f"ligne de données au-dessus de la ligne d'en-têtes (ligne {header_line}) : l'import "
        "ne lit que les lignes qui la suivent ; remettez l'en-tête en tête de l'export"
    )


def _blank_line(line: bytes) -> bool:
    """Empty, or only separators, quotes and spaces (`;;;;`): no header, no record."""
    return line is not _OVERLONG and not line.strip(_BLANK_BYTES)


def _after(lines: list[bytes], index: int) -> list[bytes]:
    """Up to `SNIFF_LINES` of the lines after `lines[index]`, within `SNIFF_BYTES` and up to
    a line too long to hold: to choose the separator on, with that line as the header."""
    sample: list[bytes] = []
    size = 0
    for line in lines[index + 1 :]:
        size += len(line)
        if line is _OVERLONG or size > SNIFF_BYTES:
            break
        sample.append(line)
        if len(sample) >= SNIFF_LINES:
            break
    return sample


class _UnclosedHeader(FileRefused):
    """A header line with a quote left open: a column name with a line break in it."""


def _supported(
    lines: list[bytes], index: int, encoding: _Encoding, delimiter: str, width: int
) -> bool:
    """Whether the lines after `lines[index]`, read with `delimiter`, mostly have its number of
    fields (`_agreement`); true when none follows (a file of headers alone)."""
    sample = [line.decode(encoding.codec, errors="replace") for line in _after(lines, index)]
    agree, total = _agreement(sample, delimiter, width)
    return 2 * agree >= total


def _header_line(number: int, first: str) -> str:
    """How a message names the header on physical line `number`: `first` for line 1."""
    return first if number == 1 else f"la ligne d'en-têtes (ligne {number})"


def _delimiter(header: str, sample: list[str]) -> str:
    """The separator of a CSV file, from its header line and the physical lines after it.

    Candidates are those that read the header by the CSV rules. First come the ones that
    split it into two fields or more and at least half of the records of `sample` into as
    many; among them, the one that gives the header the most fields (a real export has some
    thirty columns, commas inside column names make only a few fields); then the one more
    records agree with; then `_DELIMITERS`' order. Reading `sample` with each candidate, not
    counting characters on the header alone, is what keeps `(€, HT)` in a column name from
    making a `;` file a comma one. A header no candidate splits into two fields gets the
    separator it holds most (`;` when none: a one-column file)."""
    ranked: list[tuple[bool, int, int, int, str]] = []
    for preference, delimiter in enumerate(_DELIMITERS):
        try:
            (fields,) = list(csv.reader([header], delimiter=delimiter, strict=True))
        except (csv.Error, ValueError):
            continue
        width = len(fields)
        agree, total = _agreement(sample, delimiter, width)
        plausible = width > 1 and 2 * agree >= total
        ranked.append((plausible, width, agree, -preference, delimiter))
    best = max(ranked, default=None)
    if best is None or best[1] < 2:
        # Nothing splits the header: the separator it holds, if any (a quote left open
        # then refuses the header, rather than read it as one column).
        return max(_DELIMITERS, key=header.count)
    return best[-1]


def _agreement(lines: list[str], delimiter: str, width: int) -> tuple[int, int]:
    """How many of the records `lines` hold have `width` fields read with `delimiter` (within
    a tenth of them: a row that drops its trailing empty cells, or has one separator too many,
    still says the separator is right; its own reading will reject it), and how
    many records there are. Records are assembled as `_Lines.records` does: a quoted field
    may span up to `MAX_SPAN` lines; a record that cannot be read, or that spans several
    lines into a row of another width, counts as its first line alone, and the lines after it
    are read again. A record still open where the sample ends is left out."""
    agree = total = 0
    near = width // 10
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip():
            continue
        if '"' not in line:
            total += 1
            agree += int(abs(line.count(delimiter) + 1 - width) <= near)
            continue
        span = 1
        while True:
            try:
                rows = list(
                    csv.reader(
                        ["\n".join(lines[index - 1 : index - 1 + span])],
                        delimiter=delimiter,
                        strict=True,
                    )
                )
                fields = len(rows[0]) if len(rows) == 1 else -1
            except csv.Error as exc:
                if "unexpected end of data" not in str(exc):
                    fields = -1
                elif index - 1 + span >= len(lines):
                    return agree, total  # open where the sample ends
                elif span < MAX_SPAN:
                    span += 1
                    continue
                else:
                    fields = -1
            except ValueError:
                fields = -1
            break
        total += 1
        if fields == width:
            agree += 1
            index += span - 1
        elif fields > 0 and abs(fields - width) <= near:
            agree += 1  # its lines after the first are read again, as for another width
    return agree, total


# --- Records ---------------------------------------------------------------------------------

# Control characters: the blank ones read as a space inside a value; the others reject the line,
# as Unicode's noncharacters do (U+FFFE, U+FFFF and the like: never text, a sign of a damaged
# or misread file; private-use characters and symbols Python does not know yet are kept).
_NONCHARACTERS = "\ud800-\udfff\ufdd0-\ufdef" + "".join(
    chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17)
)  # (and lone surrogates, which only a workbook's `_xD800_` escape can make: never storable)
_CONTROLS = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_NONCHARACTERS}]")
_CONTROLS_BUT_TAB = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029{_NONCHARACTERS}]")
_BLANK_CONTROLS = re.compile("[\t\n\r\x0b\x0c\u2028\u2029]+")
_LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+[ \t]*")  # in a column name: read as a space
_BAD_CONTROL = re.compile(f"[\x00-\x08\x0e-\x1f\x7f-\x9f{_NONCHARACTERS}]")
_OVERLONG = b'"\x00overlong'  # stands for a line too long to hold (never a real line)


def _names(char: str) -> str:
    if char == "\x00":
        return "caractère nul (octet 00)"
    if unicodedata.category(char) != "Cc":
        return f"caractère non valide U+{ord(char):04X}"
    return f"caractère de contrôle U+{ord(char):04X}"


class _Lines:
    """The physical lines of a CSV file after its header, assembled into records."""

    def __init__(self, source: _CsvFile, encoding: _Encoding) -> None:
        self.source = source
        self.encoding = encoding
        self.codec = encoding.codec
        self.delimiter = ";"
        self.width = 0
        self.overlong: list[int] = []
        self.controls = _CONTROLS
        self.names: list[str] = []  # the header's column names, for reasons
        self.header_line = 1  # the header's physical line: records come after it
        # Rows of data above the header (line, reason): rejected, not passed over as titles.
        self.above: list[tuple[int, str]] = []

    def _chunks(self) -> Iterator[bytes]:
        chunks = self.source._raw_chunks()
        if self.encoding.transcode is None:
            return chunks
        return self._transcoded(chunks, self.encoding.transcode)

    def _transcoded(self, chunks: Iterator[bytes], codec: str) -> Iterator[bytes]:
        decoder = codecs.getincrementaldecoder(codec)(errors="strict")
        for chunk in chunks:
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError:
                raise FileRefused(
                    f"le fichier commence comme de l'{LABELS.get(codec, codec)} mais contient "
                    "des octets qui ne se lisent pas dans cet encodage : il est endommagé"
                ) from None
            if text:
                yield text.encode("utf-8", errors="surrogatepass")
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise FileRefused(
                f"le fichier {LABELS.get(codec, codec)} se termine au milieu d'un caractère : "
                "il est tronqué ou endommagé"
            ) from None
        if tail:
            yield tail.encode("utf-8", errors="surrogatepass")

    def _line_chunks(self) -> Generator[list[bytes], None, None]:
        """Complete physical lines (without their ends), a chunk at a time; a line longer
        than `MAX_LINE_BYTES` comes as `_OVERLONG`, its length in `self.overlong`."""
        carry = b""
        skipping = -1  # ≥ 0: bytes of an overlong line seen so far, while skipping it
        drop_lf = False
        first = True
        for chunk in self._chunks():
            if first:
                first = False
                if self.encoding.bom and chunk.startswith(self.encoding.bom):
                    chunk = chunk[len(self.encoding.bom) :]
            if drop_lf:
                drop_lf = False
                if chunk.startswith(b"\n"):
                    chunk = chunk[1:]
            if skipping >= 0:
                ends = [i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0]
                if not ends:
                    skipping += len(chunk)
                    continue
                end = min(ends)
                skipping += end
                self.overlong.append(skipping)
                yield [_OVERLONG]
                skipping = -1
                if chunk[end : end + 2] == b"\r\n":
                    end += 1
                elif chunk[end : end + 1] == b"\r" and end == len(chunk) - 1:
                    drop_lf = True
                chunk = chunk[end + 1 :]
            data = carry + chunk if carry else chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                cut = data.rfind(b"\r", 0, len(data) - 1)
            if cut < 0:
                carry = data
            else:
                yield data[: cut + 1].splitlines()
                carry = data[cut + 1 :]
            if len(carry) > MAX_LINE_BYTES:
                skipping, carry = len(carry), b""
        if skipping >= 0:
            self.overlong.append(skipping)
            yield [_OVERLONG]
        elif carry:
            yield carry.splitlines()

    def head_lines(self) -> tuple[list[bytes], int]:
        """The first physical lines of the file, and how many of them the header is looked
        for in: up to the `HEADER_LINES`-th non-blank one (Excel's separator hint aside),
        within `HEADER_SEARCH_LINES` lines and `HEADER_SEARCH_BYTES` (the first non-blank line
        aside, taken whole); then up to `SNIFF_LINES` lines more, within `SNIFF_BYTES`, to
        choose the separator on. A line too long to hold ends them (as `_OVERLONG`, kept
        last). Only the first chunks of the file are read."""
        lines: list[bytes] = []
        searched = -1  # the lines searched, once the search is over
        filled = 0  # non-blank lines searched
        size = 0
        chunks = self._line_chunks()
        try:
            for chunk in chunks:
                for line in chunk:
                    if searched < 0:
                        blank = _blank_line(line) or (not lines and _separator_hint(line))
                        whole = not filled and not blank  # the first non-blank line
                        if (
                            line is _OVERLONG
                            or filled >= HEADER_LINES
                            or len(lines) >= HEADER_SEARCH_LINES
                            or (not whole and size + len(line) > HEADER_SEARCH_BYTES)
                        ):
                            searched, size = len(lines), 0
                        else:
                            lines.append(line)
                            size += 0 if whole else len(line)
                            filled += not blank
                            continue
                    size += len(line)
                    if line is _OVERLONG:
                        lines.append(line)
                        return lines, searched
                    if size > SNIFF_BYTES:
                        return lines, searched
                    lines.append(line)
                    if len(lines) - searched >= SNIFF_LINES:
                        return lines, searched
        finally:
            chunks.close()
            self.overlong.clear()  # `records()` reads the file again from its start
        return lines, len(lines) if searched < 0 else searched

    def records(self) -> Iterator[Record]:
        for line, reason in self.above:
            yield (line, b"", None, reason)
        lines: Iterator[bytes] = chain.from_iterable(self._line_chunks())
        # The header and the lines above it (never too long: the header search ends there).
        line = 0
        for raw in lines:
            line += 1
            if raw is _OVERLONG:
                self.overlong.pop(0)
            if line >= self.header_line:
                break
        else:
            return
        while True:
            replay: list[bytes] | None = None
            for raw in lines:
                line += 1
                if not raw:
                    continue
                if b'"' not in raw:
                    yield (line, raw, None, None)
                    continue
                if raw is _OVERLONG:
                    size = self.overlong.pop(0)
                    yield (
                        line,
                        b"",
                        None,
                        f"ligne de {size:,} octets : une ligne d'export ne dépasse pas "
                        f"{MAX_LINE_BYTES >> 20} Mo (fichier endommagé ou guillemets "
                        "mal fermés)".replace(",", " "),
                    )
                    continue
                record, span, replay = self._quoted(raw, lines, line)
                yield record
                line += span - 1
                if replay:
                    break
            if not replay:
                return
            lines = chain(iter(replay), lines)

    # A record with quotes: read it as CSV, across lines while a quoted field is open.
    def _quoted(
        self, raw: bytes, lines: Iterator[bytes], line: int
    ) -> tuple[Record, int, list[bytes] | None]:
        parts = [raw]
        size = len(raw)
        ended = False  # the file ends after `parts`
        while True:
            joined = b"\n".join(parts)
            cells, error = self._parse_quoted(joined)
            if error != "open":
                break
            if len(parts) >= MAX_SPAN or size > MAX_LINE_BYTES:
                break
            following = next(lines, None)
            if following is None or following is _OVERLONG:
                if following is _OVERLONG:
                    parts.append(following)
                ended = following is None
                break
            parts.append(following)
            size += len(following)
        if error is None and cells is not None and len(parts) > 1:
            error = self._swallowed(cells, len(parts))
        if error is None and cells is not None:
            return (line, joined, _cleaned(cells), None), len(parts), None
        if error == "open":
            where = self._field(_opening_field(raw, self.delimiter))
            if ended and not any(_printed(part) for part in parts[1:]):  # only blank lines left
                error = f"guillemet ouvert {where} et jamais refermé : la ligne est rejetée"
            else:
                error = (
                    f"guillemet ouvert {where} et jamais refermé dans "
                    f"{_following(len(parts) - 1)} : lue ainsi, cette ligne en engloberait "
                    "d'autres ; elle est rejetée seule et les suivantes sont lues normalement"
                )
        if len(parts) == 1:
            return (line, b"", None, error), 1, None
        # The quote opened on this line closes nowhere sensible: reject this line alone and
        # read the next ones again as records of their own.
        return (line, b"", None, error), 1, parts[1:]

    def _swallowed(self, cells: list[Any], span: int) -> str | None:
        """Why a record spanning `span` lines cannot be a row, or None when it can (`cells` as
        read: their line breaks not yet made spaces)."""
        if len(cells) != self.width:
            return (
                f"guillemet ouvert sur cette ligne et refermé {span - 1} "
                f"ligne{'s' if span > 2 else ''} plus loin : "
                f"lue ainsi, la ligne aurait {len(cells)} champs au lieu de {self.width} ; elle "
                "est rejetée seule et les suivantes sont lues normalement"
            )
        limit = max(2, self.width // 3)
        for cell in cells:
            if isinstance(cell, str) and "\n" in cell:
                for segment in cell.split("\n")[1:]:
                    if segment.count(self.delimiter) >= limit:
                        return (
                            "guillemet ouvert sur cette ligne qui englobe des lignes "
                            "entières de l'export : la ligne est rejetée seule et les "
                            "suivantes sont lues normalement"
                        )
        return None

    def _parse_quoted(self, raw: bytes) -> tuple[list[Any] | None, str | None]:
        """The cells of a record with quotes, as written (`_cleaned` makes them values); or an
        error: "open" while a quoted field is not closed, else the French reason."""
        try:
            text = raw.decode(self.codec)
        except UnicodeDecodeError:
            return None, self._undecodable()
        bad = _BAD_CONTROL.search(text)
        if bad is not None:
            where = text.count(self.delimiter, 0, bad.start())  # about: quotes may hold some
            return None, f"{_names(bad.group())} {self._field(where)} : export endommagé"
        try:
            records = list(csv.reader([text], delimiter=self.delimiter, strict=True))
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):
                return None, "open"
            return None, (
                "guillemets mal placés : un champ entre guillemets doit être suivi du "
                f"séparateur « {self._shown_delimiter()} » ou de la fin de ligne"
            )
        except ValueError:
            return None, "ligne illisible"
        if len(records) != 1:
            return None, "open"
        cells: list[Any] = records[0]
        if any('"' in c for c in cells):
            column = _stray_quote(text, self.delimiter)
            if column is not None:
                return None, (
                    f"guillemet isolé {self._field(column)} (un guillemet dans une valeur "
                    "s'écrit entre guillemets et doublé)"
                )
        return cells, None

    def _shown_delimiter(self) -> str:
        return "tabulation" if self.delimiter == "\t" else self.delimiter

    def _undecodable(self) -> str:
        return f"octets illisibles en {self.encoding.label} : la ligne est dans un autre encodage"

    def split(self, raw: bytes) -> tuple[list[Any], bool]:
        """The cells of a plain line (no quotes), and whether every character of the line is
        printable (then no cell has a format character to remove: the row's parsing need not
        look again); `LineProblem` when it cannot be read."""
        try:
            text = raw.decode(self.codec)
        except UnicodeDecodeError:
            raise LineProblem(self._undecodable()) from None
        if self.encoding.reject_utf8_lines and not text.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                pass
            else:
                raise LineProblem(
                    f"ligne en UTF-8 dans un fichier en {self.encoding.label} : elle serait "
                    "enregistrée avec des caractères faux"
                )
        if "\u00a0" in text:
            text = text.replace("\u00a0", " ")
        if text.isprintable():  # a C loop first
            return text.split(self.delimiter), True
        if self.controls.search(text) is None:
            return text.split(self.delimiter), False
        cells = text.split(self.delimiter)
        for index, cell in enumerate(cells):
            bad = _BAD_CONTROL.search(cell)
            if bad is not None:
                raise LineProblem(f"{_names(bad.group())} {self._field(index)}")
        return [_BLANK_CONTROLS.sub(" ", c) for c in cells], False

    def _field(self, index: int) -> str:
        """Where a value is, for a reason: « dans la colonne « Nom » (champ n° 4) »."""
        if 0 <= index < len(self.names) and self.names[index]:
            return f"dans la colonne « {self.names[index]} » (champ n° {index + 1})"
        return f"dans le champ n° {index + 1}"


def _cleaned(cells: list[str]) -> list[Any]:
    """A quoted record's cells as values: a line break or another blank control character is a
    space, and so is a no-break space."""
    return [
        (_BLANK_CONTROLS.sub(" ", c) if _CONTROLS.search(c) else c).replace("\u00a0", " ")
        for c in cells
    ]


def _printed(line: bytes) -> bool:
    """Whether a line holds more than separators and spaces (a blank record)."""
    return bool(line.strip(b" \t\r\n;,|"))


def _following(count: int) -> str:
    """« la ligne suivante », « les 3 lignes suivantes »."""
    return "la ligne suivante" if count == 1 else f"les {count} lignes suivantes"


def _opening_field(raw: bytes, delimiter: str) -> int:
    """The index of the field whose opening quote is never closed on this line (about: the
    delimiters before the last quote that starts a field)."""
    text = raw.decode("latin-1")
    position = text.rfind('"')
    while position > 0 and text[position - 1] != delimiter:
        position = text.rfind('"', 0, position)
    return text.count(delimiter, 0, max(position, 0))


def _kept_as_text(field: str) -> bool:
    """Excel's way of keeping a number as text (`="00123"`), written unquoted: its quotes
    are its own (`bot.crm.rows` reads the text inside)."""
    return (
        len(field) >= 3
        and field.startswith('="')
        and field.endswith('"')
        and ('"' not in field[2:-1])
    )


def _stray_quote(text: str, delimiter: str) -> int | None:
    """The index of the first unquoted field holding a quote, or None."""
    index = 0
    position = 0
    length = len(text)
    while position <= length:
        if position < length and text[position] == '"':
            position += 1
            while position < length:
                if text[position] == '"':
                    if position + 1 < length and text[position + 1] == '"':
                        position += 2
                        continue
                    break
                position += 1
            position += 1
            end = text.find(delimiter, position)
            position = length + 1 if end < 0 else end + 1
        else:
            end = text.find(delimiter, position)
            field_text = text[position:] if end < 0 else text[position:end]
            if '"' in field_text and not _kept_as_text(field_text.strip()):
                return index
            position = length + 1 if end < 0 else end + 1
        index += 1
    return None


# --- Workbooks ---------------------------------------------------------------------------------


_UNREADABLE_WORKBOOK = (
    "classeur Excel illisible\u00a0: le fichier est endommagé ou n'est pas un classeur "
    ".xlsx\u00a0; ouvrez-le dans Excel et enregistrez-le à nouveau, en .xlsx ou en CSV"
)


# How far right of its header's last column a workbook's row is read (`_xlsx_table`).
WORKBOOK_EXTRA_COLUMNS = 50


def _xlsx_table(path: Path, is_header: HeaderTest | None = None) -> Table:
    """The first sheet that holds something (an empty first sheet, or a hidden one, is passed
    over: the export is where the data is), its header row found as a CSV file's header line
    (`_header_row`). Opened from a file object, so that a workbook renamed `.csv` or without
    extension is read too."""
    import warnings

    from openpyxl import load_workbook

    # openpyxl warns, in English on stderr, of the parts of a workbook it would drop when
    # saving it (a drop-down list's or a conditional format's Excel 2010 extension): nothing
    # the import reads, nothing for the user to do.
    warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise FileRefused(os_reason(exc, shown_name(path))) from None
    try:
        workbook = load_workbook(handle, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged archive
        handle.close()
        _log.info("classeur illisible : %s", path, exc_info=exc)
        raise FileRefused(_UNREADABLE_WORKBOOK) from None

    def close() -> None:
        workbook.close()
        handle.close()

    # The size a sheet declares (its `dimension`) is what the program that wrote it says, not
    # always the truth: openpyxl would stop at a stale one, losing the rows and the columns
    # past it without a word, or pad every row to a false one (A1:XFD1048576, a few bytes:
    # 17 billion cells). Each sheet is read as it is; the declared rows only size the
    # progress bar.
    declared: dict[int, int] = {}
    try:
        for sheet in workbook.worksheets:
            declared[id(sheet)] = sheet.max_row or 0
            sheet.reset_dimensions()
        found = _first_filled_sheet(workbook.worksheets, is_header)
    except Exception as exc:
        close()
        _log.info("classeur illisible : %s", path, exc_info=exc)
        raise FileRefused(_UNREADABLE_WORKBOOK) from None
    if found is None:
        close()
        raise FileRefused(
            "le classeur est vide\u00a0: aucune de ses feuilles ne contient de données"
        )
    sheet, header, header_line, above = found
    while header and not header[-1]:
        header.pop()
    width = len(header)
    rejected_above = [number for number, cells in above if _a_row(cells, width)]

    def records() -> Iterator[Record]:
        for number in rejected_above:
            yield (number, b"", None, _above_the_header(header_line))
        try:
            # The rows after the header, read again from it (a few rows), each as wide as the
            # header and `WORKBOOK_EXTRA_COLUMNS` more: a value there rejects its row (a column
            # without a name), and a row's cells further right are not read at all.
            values = sheet.iter_rows(
                min_row=header_line + 1, max_col=width + WORKBOOK_EXTRA_COLUMNS, values_only=True
            )
            for number, cells in enumerate(values, start=header_line + 1):
                if cells.count(None) == len(cells):  # (a C loop: a blank row costs nothing)
                    continue
                cells_list = list(cells)
                if not any(c not in (None, "") for c in cells_list):
                    continue
                extra = cells_list[width:]
                if not any(c not in (None, "") for c in extra):
                    cells_list = cells_list[:width] + [None] * (width - len(cells_list))
                try:
                    cleaned = [_clean_cell(c, i) for i, c in enumerate(cells_list)]
                except LineProblem as exc:
                    yield (number, b"", None, str(exc))
                    continue
                key = "\x1f".join(map(_cell_key, cleaned)).encode("utf-8", "replace")
                yield (number, key, cleaned, None)
        except Exception as exc:  # a damaged sheet met halfway
            _log.info("classeur illisible : %s", path, exc_info=exc)
            raise FileRefused(_UNREADABLE_WORKBOOK) from None
        finally:
            close()

    return Table(
        header=header,
        encoding="xlsx",
        delimiter="",
        size_hint=declared.get(id(sheet), 0),
        records=records,
        header_line=header_line,
    )


def _first_filled_sheet(
    sheets: list[Any], is_header: HeaderTest | None
) -> tuple[Any, list[str], int, list[tuple[int, tuple[Any, ...]]]] | None:
    """The first visible sheet with a non-blank row (else the first hidden one): the sheet,
    the header, its line number and the non-blank rows above it (the rows after it are read
    again from there, `_xlsx_table`)."""
    visible = [s for s in sheets if getattr(s, "sheet_state", "visible") == "visible"]
    for sheet in visible + [s for s in sheets if s not in visible]:
        found = _header_row(sheet.iter_rows(values_only=True), is_header)
        if found is not None:
            return sheet, *found
    return None


def _header_row(
    values: Iterator[tuple[Any, ...]], is_header: HeaderTest | None
) -> tuple[list[str], int, list[tuple[int, tuple[Any, ...]]]] | None:
    """A sheet's header row, as a CSV file's header line: the first of its first
    `HEADER_LINES` non-blank rows (within `HEADER_SEARCH_LINES` rows) that `is_header`
    accepts, else (or without `is_header`) the first non-blank one. Its cells, its row
    number and the non-blank rows above it (number, cells); None for a sheet without a
    non-blank row."""
    first_cells: tuple[Any, ...] = ()  # the first non-blank row
    above: list[tuple[int, tuple[Any, ...]]] = []
    first = 0  # its row number
    filled = 0
    for line, cells in enumerate(values, start=1):
        if not any(c not in (None, "") for c in cells):
            if first and line - first + 1 >= HEADER_SEARCH_LINES:
                break
            continue
        header = _header_cells(cells)
        if not first:
            first, first_cells = line, cells
        if is_header is None or is_header(header):
            return header, line, above
        above.append((line, cells))
        filled += 1
        if filled >= HEADER_LINES or line - first + 1 >= HEADER_SEARCH_LINES:
            break
    if not first:
        return None
    return _header_cells(first_cells), first, []


def _header_cells(cells: tuple[Any, ...]) -> list[str]:
    """A workbook's header row as names: a line break typed in a cell (Alt+Entrée) is a
    space, as in a CSV header."""
    return ["" if c is None else _LINE_BREAKS.sub(" ", _cell_text(c)).strip() for c in cells]


def _cell_text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value) if value is not None else ""


def _cell_key(value: Any) -> str:
    """A cell in a row's fingerprint: its text, and the type of a cell that is not text (a
    number cell `1000` is not read as the text `1000`: a postal code gets its zero back).
    A text cell holds no control character (`_clean_cell`): one (U+001E) marks the others."""
    if type(value) is str:
        return value
    return "" if value is None else f"\x1e{type(value).__name__}\x1e{value!r}"


def _clean_cell(value: Any, index: int) -> Any:
    if isinstance(value, str) and "_x" in value:
        # Excel writes a control character of a cell's text as `_xHHHH_` (`_x000D_` for the
        # carriage return of a line break, say), which openpyxl leaves as it is: read as the
        # character it stands for, then as any other (a space, or the row rejected).
        from openpyxl.utils.escape import unescape

        value = unescape(value)
    if not isinstance(value, str) or _CONTROLS.search(value) is None:
        return value
    bad = _BAD_CONTROL.search(value)
    if bad is not None:
        raise LineProblem(f"{_names(bad.group())} dans le champ n° {index + 1}")
    return _BLANK_CONTROLS.sub(" ", value)

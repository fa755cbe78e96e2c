"""Cell values and rows of a portfolio export.

The `parse_*` functions turn French cell values into Python values, raising `ValueError` with
a French message. `PortfolioParser` turns one row into plain values ready for the database (a
client tuple and a contract tuple), or raises `RowError` with the French reason the row is
rejected. A bad phone or e-mail, an amount or a headcount that cannot be read for sure, is
flagged "à corriger dans Lagon" (the phone or e-mail kept as written, the number not stored).
Zero-width and other format characters (Unicode category Cf) are removed from every cell: a CRM
export never means anything by them, and in a client number they would make a look-alike
client. A value a reason quotes is shortened (`quote`).

An export repeats the same few values (dates, types, statuses, branches, advisors) thousands of
times: the parser remembers what each distinct cell text gave, and phones and e-mails in the
common shapes are checked by a pattern known to agree with `phonenumbers` and
`email-validator` (the tests compare them), the libraries deciding every other shape.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from operator import gt, itemgetter
from typing import TYPE_CHECKING, Any, Protocol

from dateutil.relativedelta import relativedelta

from bot.crm.vocabulary import CLIENT_TYPES, OTHER_ORIGINS, STATUSES, fold, is_new_business
from bot.models import Client, Contract, ContractStatus
from bot.rendering import date_fr

if TYPE_CHECKING:
    from phonenumbers import PhoneNumber

# --- Cell values ------------------------------------------------------------------------------

QUOTED = 60  # characters of a value a reason quotes


def quote(value: Any) -> str:
    """`« value »` for a reason, shortened to its first `QUOTED` characters and « … »: a damaged
    cell can hold thousands, and a reason is read in a terminal or a Slack message."""
    text = value if type(value) is str else str(value)
    if len(text) > QUOTED:
        text = text[:QUOTED].rstrip() + "…"
    return f"« {text} »"


def too_long(label: str, length: int, limit: int) -> str:
    """The reason a value of `length` characters does not fit its column (`limit`)."""
    return f"valeur trop longue dans la colonne « {label} » ({length} caractères, {limit} au plus)"


# U+FFFD REPLACEMENT CHARACTER: what a program writes for a character it could not read.
LOST = "\ufffd"

# How many unknown origin labels a reading keeps for the summary (`PortfolioParser`).
OTHER_ORIGINS_KEPT = 20

# What a spreadsheet shows in place of a formula it could not compute: a workbook stores the
# English codes, a CSV file saved by a French Excel its French words.
SPREADSHEET_ERRORS = frozenset(
    {
        *("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"),
        *("#GETTING_DATA", "#SPILL!", "#CALC!", "#FIELD!", "#BLOCKED!", "#CONNECT!", "#BUSY!"),
        *("#UNKNOWN!", "#NUL!", "#VALEUR!", "#NOM?", "#NOMBRE!", "#PROPAGATION!", "#CALCUL!"),
    }
)
# A number a spreadsheet wrote in scientific notation (« 1,00660E+11 »): its last digits are
# lost, whatever it was.
_SCIENTIFIC = re.compile(r"[0-9]+(?:[.,][0-9]+)?[eE]\+[0-9]+")


def _same_characters(number: str) -> str:
    """A client or contract number with its characters in their plain form (Unicode NFKC):
    full-width digits and letters (« １２３ », typed with some keyboards), ligatures and
    the like read as the characters they stand for, so that one number is one client or
    contract however the CRM wrote it."""
    return unicodedata.normalize("NFKC", number).strip()


def visible(text: str) -> str:
    """`text` without its format characters (zero-width spaces and joiners, byte order marks,
    direction marks: Unicode category Cf), its other spaces (narrow no-break, ideographic, en
    space…: category Zs) made plain spaces as the no-break space is, stripped again."""
    if text.isprintable():  # the common case (a C loop): no such character can be there
        return text
    category = unicodedata.category
    return "".join(
        " " if kind == "Zs" else c for c in text if (kind := category(c)) != "Cf"
    ).strip()


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
    """`15/01/2025`, `15/01/25`, `2025-01-15` or an Excel date cell; empty → None. A time after
    the date is ignored (`15/01/2025 00:00:00`, ISO `2025-01-15T00:00:00Z`)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return _parse_date_text(clean(value))


# What may follow a date: a time of day first (`00:00:00`, `14h30`, `à 14:30`), then whatever
# machines write after one (`.000`, `AM`, `+0100`, `UTC`, `[Europe/Paris]`); never a second date.
_TIME_OF_DAY = re.compile(r"(?:à\s*)?[0-9]{1,2}[:h][0-9]{2}")
_A_DATE = re.compile(
    r"(?<![0-9:.,])(?:[0-9]{1,2}/[0-9]{1,2}/[0-9]{2,4}|[0-9]{1,2}[.-][0-9]{1,2}[.-][0-9]{4}"
    r"|[0-9]{4}-[0-9]{2}-[0-9]{2})"
)


@lru_cache(maxsize=16384)  # an export repeats the same dates many times
def _parse_date_text(text: str) -> dt.date | None:
    if not text:
        return None
    day, _, rest = text.partition(" ")  # `15/01/2025 00:00:00` from some exports
    if len(day) > 10 and day[10] == "T":  # ISO 8601 with a time: `2025-01-15T00:00:00`
        day, rest = day[:10], text[11:]
    rest = rest.strip()
    if rest and (_TIME_OF_DAY.match(rest) is None or _A_DATE.search(rest)):
        # « 28/08/2026 ou 29/08/2026 », « 31/12/2026 (prévisionnelle) »: not one date.
        raise ValueError(f"date invalide {quote(text)} (attendu JJ/MM/AAAA)")
    if (shape := _PLAIN_DAY.fullmatch(day)) is not None:
        # The export's own `15/01/2025` (or ISO): the date `strptime` would give, without
        # its cost (a third of a changed row's parsing: its dates are seldom in the cache).
        d, m, y = shape.group(1, 2, 3) if shape.group(1) else shape.group(6, 5, 4)
        try:
            return dt.date(int(y), int(m), int(d))
        except ValueError:
            pass  # « 31/02/2025 »: none of the formats reads it, as below
    return _by_formats(text, day)


# `JJ/MM/AAAA` or `AAAA-MM-JJ`, nothing else (`_by_formats` reads the other formats).
_PLAIN_DAY = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})|([0-9]{4})-([0-9]{2})-([0-9]{2})")


def _by_formats(text: str, day: str) -> dt.date:
    """`day` (the date part of `text`) read with each of `_DATE_FORMATS` in turn."""
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(day, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date invalide {quote(text)} (attendu JJ/MM/AAAA)")


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
    raise ValueError(f"valeur oui/non invalide {quote(clean(value))}")


# French exports write `1 234,56` or `1234,56` (spaces possibly no-break), and `1.234,56` is
# plausible (points grouping thousands). A single point followed by three digits (`1.234`,
# `1.000`) may be a decimal point or a thousands separator, and `1,234.56` is not French: such a
# value is not guessed. A single point followed by another number of digits (`1250000.00`) can
# only be a decimal point, as a spreadsheet writes a number. A comma is the decimal one: `12,345`
# is 12.345 (a workbook's number cell 12.345 reads so too).
_FRENCH_NUMBER = re.compile(r"[-+]?(?:[0-9]+|[0-9]{1,3}(?:\.[0-9]{3})+)(?:,[0-9]+)?")
_POINT_NUMBER = re.compile(r"[-+]?[0-9]+\.[0-9]+")
_SEPARATED = re.compile(r"[-+]?[0-9.,]+")
_AMOUNT_SPACES = re.compile(r"[\s\u00a0\u202f€]")


def parse_decimal(value: Any, what: str = "montant") -> Decimal | None:
    """A number as French exports write it (see above); empty → None. `ValueError` for one
    that is not a number, or whose separators leave it ambiguous (`1.234`, `1,234.56`).
    `what` names the value in the message (« montant », « nombre »)."""
    if isinstance(value, bool):
        raise ValueError(f"{what} invalide {quote(value)}")
    if isinstance(value, int | float):
        number = Decimal(str(value))
    else:
        written = clean(value)
        text = _AMOUNT_SPACES.sub("", written)
        if not text:
            return None
        if _FRENCH_NUMBER.fullmatch(text):
            if "," not in text and text.count(".") == 1:
                raise ValueError(_ambiguous(what, written))
            number = Decimal(text.replace(".", "").replace(",", "."))
        elif _POINT_NUMBER.fullmatch(text):
            number = Decimal(text)
        elif _SEPARATED.fullmatch(text) and any(c.isdigit() for c in text):
            raise ValueError(_ambiguous(what, written))
        else:
            raise ValueError(f"{what} invalide {quote(written)}")
    if not number.is_finite():
        raise ValueError(f"{what} invalide {quote(clean(value))}")
    if abs(number) >= _MAX_AMOUNT:
        raise ValueError(f"{what} trop grand {quote(clean(value))}")
    return number


def _ambiguous(what: str, written: str) -> str:
    example = "1 234,56" if what == "montant" else "1 234"
    return f"{what} ambigu {quote(written)} (séparateurs non français ; par exemple {example})"


# Ten thousand billion euros, beyond any client's revenue: below it, both databases keep the
# cents (SQLite stores a decimal as a float, exact to the cent up to 2**53 cents, about 9 × 10**13
# euros: above, 95 000 000 000 000,01 came back as ...,02).
_MAX_AMOUNT = Decimal(10) ** 13
_CENT = Decimal("0.01")


def parse_amount(value: Any) -> Decimal | None:
    """An amount in euros, rounded to the cent (half away from zero, as the database column
    holds it: both databases then store the same value)."""
    number = parse_decimal(value)
    if number is None:
        return None
    return number.quantize(_CENT, rounding=ROUND_HALF_UP)


def parse_int(value: Any) -> int | None:
    """A whole number (`1 250`); a fraction (`12,7`) is refused, not cut."""
    number = parse_decimal(value, "nombre")
    if number is None:
        return None
    if number != number.to_integral_value():
        raise ValueError(f"nombre non entier {quote(clean(value))}")
    if abs(number) >= 2**31:
        raise ValueError(f"nombre invalide {quote(clean(value))}")
    return int(number)


# Phones in the shapes French exports write (`06 12 34 56 78`, `06.12.34.56.78`, `0612345678`,
# `+33 6 12 34 56 78`, a mobile whose leading zero a spreadsheet ate): E.164 directly, as
# `phonenumbers` gives it for these shapes (every 9-digit French national number is possible).
_FR_NATIONAL = re.compile(r"0[1-9](?:[ .\-]?[0-9]{2}){4}")
_FR_INTERNATIONAL = re.compile(r"\+33 ?[1-9](?:[ .\-]?[0-9]{2}){4}")
_FR_NO_ZERO = re.compile(r"[67][0-9]{8}")


def normalize_phone(text: str) -> str | None:
    """E.164 for a number that can exist (region FR by default), else None.

    "Can exist" is `is_possible_number` (right length for its country), not `is_valid_number`:
    the latter also refuses ranges not yet allocated in the library's metadata, and flagging a
    client's real number as wrong would send the advisor hunting for nothing. A number whose
    digits keep a leading zero its country does not dial from abroad (`06 12 34 56 7`, one digit
    short, would be `+33061234567`) cannot exist either: see `_leading_zero_allowed`.
    """
    if _FR_NATIONAL.fullmatch(text):
        return "+33" + _digits(text)[1:]
    if _FR_INTERNATIONAL.fullmatch(text):
        return "+" + _digits(text)[1:]
    if _FR_NO_ZERO.fullmatch(text):
        return "+33" + text
    return _normalize_phone(text)


def _digits(text: str) -> str:
    """The digits of a number `_FR_NATIONAL` or `_FR_INTERNATIONAL` matched (so that spaces,
    dots and dashes are all that separates them; the plus sign is kept): three C loops, four
    times faster than a regular expression's substitution."""
    return text.replace(" ", "").replace(".", "").replace("-", "")


@lru_cache(maxsize=65536)
def _normalize_phone(text: str) -> str | None:
    import phonenumbers

    digits = re.sub(r"\D", "", text)
    if not digits:
        return None
    if len(digits) == 9 and text.strip()[:1] in ("6", "7"):  # a spreadsheet ate the zero
        text = "0" + digits
    try:
        number = phonenumbers.parse(text, "FR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number) or not _leading_zero_allowed(number):
        return None
    normalized: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return normalized


def _leading_zero_allowed(number: PhoneNumber) -> bool:
    """False for a number that keeps a leading zero its country does not use after the code.

    When stripping the trunk zero leaves a national number of the wrong length, `phonenumbers`
    keeps the zero as part of the number (`italian_leading_zero`), and the length is then
    possible: `061234567` becomes `+33061234567`. Some countries do dial that zero from abroad
    (Italy: `+39 06 1234 5678`), so the zero is accepted when the national significant number
    matches the general description of one of the country's regions (the broad pattern of all
    its numbers, not the allocated ranges `is_valid_number` checks). `leading_zero_possible` in
    the metadata cannot say it: libphonenumber no longer fills it in (False everywhere).
    """
    import phonenumbers
    from phonenumbers import PhoneMetadata

    if not number.italian_leading_zero:
        return True
    national = phonenumbers.national_significant_number(number)
    code = number.country_code or 0
    for region in phonenumbers.region_codes_for_country_code(code):
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
        desc = metadata.general_desc if metadata else None
        pattern = desc.national_number_pattern if desc else None
        if pattern and re.fullmatch(pattern, national):
            return True
    return False


# E-mails in the plain ASCII shape (dot-atom local part, a host name under a letters-only
# top-level domain): normalised as `email-validator` does (domain in lower case).
_SIMPLE_EMAIL = re.compile(
    r"([A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*)@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)
_SPECIAL_USE = frozenset({"arpa", "invalid", "local", "localhost", "onion", "test"})
_CASE_INSENSITIVE_LOCAL = frozenset(
    {
        "info",
        "marketing",
        "sales",
        "support",
        "abuse",
        "noc",
        "security",
        "postmaster",
        "hostmaster",
        "usenet",
        "news",
        "webmaster",
        "www",
        "uucp",
        "ftp",
    }
)


def normalize_email(text: str) -> str | None:
    """The normalised address when valid (syntax only, no DNS), else None."""
    match = _SIMPLE_EMAIL.fullmatch(text)
    if match is not None and len(text) <= 254:
        local, domain = match.groups()
        domain = domain.lower()
        if (
            len(local) <= 64
            and "--" not in domain
            and local.lower() not in _CASE_INSENSITIVE_LOCAL
            and domain.rsplit(".", 1)[1] not in _SPECIAL_USE
        ):
            return f"{local}@{domain}"
    return _normalize_email(text)


@lru_cache(maxsize=65536)
def _normalize_email(text: str) -> str | None:
    from email_validator import EmailNotValidError, validate_email

    try:
        normalized: str = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        return None
    return normalized


def split_pieces(value: Any) -> list[str]:
    return [p.strip() for p in re.split(r"[,;|]", clean(value)) if p.strip()]


# --- Rows -------------------------------------------------------------------------------------


class RowError(ValueError):
    """The row is rejected; the message is the French reason."""


class Lookup(Protocol):
    """The advisors and branches a row refers to, by what the export writes; `inactive`: the
    ids of the advisors who left."""

    inactive: set[int]

    def advisor(self, value: str, branch: str = "") -> int | str | None:
        """The advisor's id; the French reason when the name is ambiguous (the row's branch,
        `branch`, did not settle it); None when no advisor is known by `value`."""
        ...

    def branch(self, name: str) -> int | None: ...


CLIENT_FIELDS = (
    "client_type",
    "civility",
    "last_name",
    "first_name",
    "company_name",
    "address",
    "postal_code",
    "city",
    "phone",
    "phone_invalid",
    "email",
    "email_invalid",
    "marital_status",
    "professional_status",
    "siret",
    "naf_code",
    "activity",
    "revenue",
    "headcount",
    "insurance_contact",
    "branch_id",
    "advisor_id",
)
CONTRACT_FIELDS = (
    "product",
    "origin",
    "new_business",
    "effect_date",
    "status",
    "termination_date",
    "seller",
    "dp_signed",
    "missing_pieces",
)
# The columns whose text is stored as written, and how long the database lets it be.
_TEXT_CLIENT = (
    "civility",
    "last_name",
    "first_name",
    "company_name",
    "address",
    "postal_code",
    "city",
    "marital_status",
    "professional_status",
    "naf_code",
    "activity",
    "insurance_contact",
)
_TEXT_CONTRACT = ("product", "origin", "seller")


def _limit(model: Any, name: str) -> int:
    length = model.__table__.c[name].type.length
    return int(length) if length else 10_000


LIMITS = {
    **{name: _limit(Client, name) for name in (*_TEXT_CLIENT, "phone", "email")},
    **{name: _limit(Contract, name) for name in _TEXT_CONTRACT},
    "number": _limit(Client, "number"),
    "contract_number": _limit(Contract, "number"),
    "siret": _limit(Client, "siret"),
    "branch": 100,
}
MAX_CELL = 4000  # longer, even in a column the import does not read, means a damaged export
EARLIEST = dt.date(1950, 1, 1)
HORIZON_YEARS = 2

# Labels of the fields in French, for reasons.
LABELS = {
    "client_number": "N° client",
    "contract_number": "N° contrat",
    "civility": "Civilité",
    "last_name": "Nom",
    "first_name": "Prénom",
    "company_name": "Raison sociale",
    "address": "Adresse",
    "postal_code": "Code postal",
    "city": "Ville",
    "phone": "Téléphone",
    "email": "E-mail",
    "marital_status": "Situation familiale",
    "professional_status": "Situation professionnelle",
    "siret": "SIRET",
    "naf_code": "Code NAF",
    "activity": "Activité",
    "insurance_contact": "Contact assurances",
    "branch": "Agence",
    "product": "Produit",
    "origin": "Origine",
    "seller": "Vendeur",
}

# A parsed row: client number, contract number, client values (`CLIENT_FIELDS`), contract
# values (`CONTRACT_FIELDS`), the flags "à corriger dans Lagon", and whether the row may be
# remembered by its fingerprint (nothing in it that depends on the day of the import; its
# flags are remembered with it). Every flag follows from the row's bytes and what the
# fingerprint's key holds (the staff), but one: an « Actif » contract past its termination
# date, which stays past once it is.
Parsed = tuple[str, str, tuple[Any, ...], tuple[Any, ...], list[str], bool]

# From this size a number cell may have lost digits: a spreadsheet keeps 15 significant ones
# (and a double, past 2**53, no longer holds every integer), whether the file writes the number
# with an exponent (a float for openpyxl) or without (an int).
SPREADSHEET_DIGITS_LIMIT = 1e15
_MISSING = object()
_SHARED = object()  # a name several advisors share: the row's branch decides
_DATE_COLUMNS = frozenset({"effect_date", "termination_date"})
_ACTIVE = ContractStatus.ACTIVE.value
_TERMINATED = ContractStatus.TERMINATED.value


def _duration(value: dt.timedelta) -> str:
    """A duration as a French spreadsheet shows it: `3 j 04:30:00`, `-00:15:00`."""
    seconds = round(abs(value.total_seconds()))
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3600)
    shown = f"{hours:02d}:{seconds // 60:02d}:{seconds % 60:02d}"
    if days:
        shown = f"{days} j {shown}"
    return f"-{shown}" if value < dt.timedelta(0) else shown


class PortfolioParser:
    """Parses the rows of one portfolio export into database-ready tuples.

    `date_value`, `decimal_value` and `json_value` turn a date, an amount and the list of
    missing pieces into what the database driver takes (SQLite wants text and floats,
    PostgreSQL the Python values). The parser remembers what each distinct cell text of the
    repetitive columns gave (types, statuses, dates, amounts, advisors, branches…).
    """

    def __init__(
        self,
        *,
        columns: dict[str, int],
        header: list[str],
        lookup: Lookup,
        today: dt.date,
        date_value: Callable[[dt.date], Any],
        decimal_value: Callable[[Decimal], Any],
        json_value: Callable[[list[str]], Any],
        plain: bool = False,
    ) -> None:
        self.plain = plain  # cells are strings from a CSV line (no-break spaces made spaces)
        self.header = header
        self.width = len(header)
        self.lookup = lookup
        self.today = today
        self.latest = today + relativedelta(years=HORIZON_YEARS)
        self.date_value = date_value
        self.decimal_value = decimal_value
        self.json_value = json_value
        # A column the file lacks reads as the empty cell appended after the last one.
        missing = self.width

        def at(*names: str) -> list[int]:
            return [columns.get(name, missing) for name in names]

        self._cells = itemgetter(
            *at(
                "client_number",
                "contract_number",
                "client_type",
                "effect_date",
                "termination_date",
                "contract_status",
                "advisor",
                "branch",
                "phone",
                "email",
                "siret",
                "revenue",
                "headcount",
                "dp_signed",
                "missing_pieces",
                "origin",
                "product",
                "seller",
            )
        )
        self._texts = itemgetter(*at(*_TEXT_CLIENT))
        self._names = {position: name for name, position in columns.items()}
        self._limits = [LIMITS[name] for name in _TEXT_CLIENT]
        self._types: dict[str, str] = {}
        self._effects: dict[Any, Any] = {}
        self._terminations: dict[Any, Any] = {}
        self._statuses: dict[str, str] = {}
        self._origins: dict[str, bool] = {}
        # Origin labels read as not new business that the vocabulary does not know as such
        # (« Affaire nouvele »: a typo in the CRM would cost the contract its M+3), the first
        # `OTHER_ORIGINS_KEPT`: the summary lists them.
        self.other_origins: set[str] = set()
        self._yes_no: dict[str, Any] = {}
        self._amounts: dict[str, Any] = {}
        self._counts: dict[str, Any] = {}
        self._pieces: dict[str, Any] = {}
        self._advisors: dict[str, Any] = {}
        self._inactive = frozenset(lookup.inactive)
        self._namesakes: dict[tuple[str, str], int | str | None] = {}
        self._branches: dict[str, int | None] = {}
        self._phones: dict[str, tuple[str | None, bool]] = {}
        self._emails: dict[str, tuple[str | None, bool]] = {}

    def parse(self, cells: list[Any], printable: bool = False) -> Parsed:
        """A row's values; `printable`: the caller knows every character of `cells` to be
        printable (`Table.split` says so)."""
        if len(cells) != self.width:
            cells = self._fitted(cells)
        if self.plain:
            values = list(map(str.strip, cells))
            joined = "".join(values)  # its length is the cells' together
            if len(joined) > MAX_CELL:
                self._check_lengths(values)
            if not printable and not joined.isprintable():  # a C loop: format characters are rare
                values = [visible(value) for value in values]
            damaged = LOST in joined
            if "#" in joined or '="' in joined:  # (C loops: a spreadsheet's marks are rare)
                values = self._spreadsheet_marks(values)
        else:
            values = self._spreadsheet_marks(self._normalize(cells))
            damaged = any(type(value) is str and LOST in value for value in values)
        values.append("")
        (
            client_number,
            contract_number,
            raw_type,
            effect_raw,
            termination_raw,
            raw_status,
            advisor_text,
            branch_text,
            phone_raw,
            email_raw,
            siret_raw,
            revenue_raw,
            headcount_raw,
            dp_raw,
            pieces_raw,
            origin,
            product,
            seller,
        ) = self._cells(values)
        if "+" in client_number or "+" in contract_number or "+" in siret_raw:
            self._scientific(client_number, contract_number, siret_raw)
        if not client_number.isascii():  # (a C loop: the common case costs nothing more)
            client_number = _same_characters(client_number)
        if not contract_number.isascii():
            contract_number = _same_characters(contract_number)
        if not client_number:
            raise RowError("numéro de client manquant")
        if not contract_number:
            raise RowError("numéro de contrat manquant")
        if len(client_number) > LIMITS["number"]:
            raise self._too_long("client_number", client_number)
        if len(contract_number) > LIMITS["contract_number"]:
            raise self._too_long("contract_number", contract_number)
        client_type = self._types.get(raw_type)
        if client_type is None:
            client_type = self._client_type(raw_type)

        effect = self._effects.get(effect_raw) if effect_raw else None
        if effect is None:
            effect = self._date(effect_raw, "date d'effet", self._effects)
            if effect is None:
                raise RowError("date d'effet manquante")
        if type(effect) is str:
            raise RowError(effect)
        termination = None
        if termination_raw:
            termination = self._terminations.get(termination_raw)
            if termination is None:
                termination = self._date(termination_raw, "date de résiliation", self._terminations)
            if type(termination) is str:
                raise RowError(termination)
        remember = True
        ended_on = None  # the termination date of a contract the CRM still calls active
        if raw_status:
            status = self._statuses.get(raw_status)
            if status is None:
                status = self._status(raw_status)
            if termination is not None and status == _ACTIVE:
                if termination[0] <= self.today:
                    # It ended on that day: calling about it would be a mistake.
                    status, ended_on = _TERMINATED, termination[0]
                else:  # active until then: read again once that day has come
                    remember = False
        else:
            ended = termination is not None and termination[0] <= self.today
            status = _TERMINATED if ended else _ACTIVE
            # Active until its termination date: read again once that day has come.
            remember = termination is None or ended

        advisor_id = self._advisors.get(advisor_text)
        if type(advisor_id) is not int:
            advisor_id = self._advisor(advisor_text, branch_text)
        branch_id = self._branches.get(branch_text, _MISSING)
        if branch_id is _MISSING:
            if len(branch_text) > LIMITS["branch"]:
                raise self._too_long("branch", branch_text)
            branch_id = self._branches[branch_text] = self.lookup.branch(branch_text)

        texts = self._texts(values)
        if any(map(gt, map(len, texts), self._limits)):
            for name, text, limit in zip(_TEXT_CLIENT, texts, self._limits, strict=True):
                if len(text) > limit:
                    raise self._too_long(name, text)
        (
            civility,
            last_name,
            first_name,
            company_name,
            address,
            postal_code,
            city,
            marital_status,
            professional_status,
            naf_code,
            activity,
            insurance_contact,
        ) = texts
        if len(product) > LIMITS["product"]:
            raise self._too_long("product", product)
        if len(origin) > LIMITS["origin"]:
            raise self._too_long("origin", origin)
        if len(seller) > LIMITS["seller"]:
            raise self._too_long("seller", seller)

        flags: list[str] = []
        if damaged:
            flags.extend(self._lost_characters(values))
        if advisor_id in self._inactive:
            flags.append(
                f"{quote(advisor_text)} n'est plus dans l'équipe (absent·e du fichier des "
                "conseillers) : ses dossiers vont aux managers, à répartir ; réattribuez le "
                "client dans Lagon"
            )
        if ended_on is not None:
            flags.append(
                f"contrat « Actif » résilié le {date_fr(ended_on)} : lu comme résilié, à corriger "
                "dans Lagon"
            )
        revenue = self._amounts.get(revenue_raw, _MISSING) if revenue_raw else None
        if revenue is _MISSING or type(revenue) is str:
            revenue = self._amount(revenue_raw, flags)
        headcount = self._counts.get(headcount_raw, _MISSING) if headcount_raw else None
        if headcount is _MISSING or type(headcount) is str:
            headcount = self._count(headcount_raw, flags)
        dp_signed = self._yes_no.get(dp_raw, _MISSING)
        if dp_signed is _MISSING or type(dp_signed) is str:
            dp_signed = self._dp_signed(dp_raw, flags)
        if phone_raw:
            phone_found = self._phones.get(phone_raw)
            if phone_found is None:
                phone_found = self._contact(phone_raw, normalize_phone, "phone", self._phones)
            phone, phone_invalid = phone_found
            if phone_invalid:
                flags.append(f"téléphone invalide {quote(phone_raw)} : à corriger dans Lagon")
        else:
            phone, phone_invalid = None, False
        if email_raw:
            email_found = self._emails.get(email_raw)
            if email_found is None:
                email_found = self._contact(email_raw, normalize_email, "email", self._emails)
            email, email_invalid = email_found
            if email_invalid:
                flags.append(f"e-mail invalide {quote(email_raw)} : à corriger dans Lagon")
        else:
            email, email_invalid = None, False
        siret = siret_raw.replace(" ", "") if " " in siret_raw else siret_raw
        if len(siret) > LIMITS["siret"]:
            raise self._too_long("siret", siret)
        new_business = self._origins.get(origin)
        if new_business is None:
            new_business = is_new_business(origin)
            _remember(self._origins, origin, new_business)
            if (
                not new_business
                and len(self.other_origins) < OTHER_ORIGINS_KEPT
                and fold(origin) not in OTHER_ORIGINS
            ):
                self.other_origins.add(origin)
        pieces = self._pieces.get(pieces_raw)
        if pieces is None:
            pieces = self.json_value(split_pieces(pieces_raw))
            _remember(self._pieces, pieces_raw, pieces)

        client = (
            client_type,
            civility or None,
            last_name or None,
            first_name or None,
            company_name or None,
            address or None,
            postal_code or None,
            city or None,
            phone,
            phone_invalid,
            email,
            email_invalid,
            marital_status or None,
            professional_status or None,
            siret or None,
            naf_code or None,
            activity or None,
            revenue,
            headcount,
            insurance_contact or None,
            branch_id,
            advisor_id,
        )
        contract = (
            product or None,
            origin or None,
            new_business,
            effect[1],
            status,
            termination[1] if termination is not None else None,
            seller or None,
            dp_signed,
            pieces,
        )
        return (
            client_number,
            contract_number,
            client,
            contract,
            flags,
            remember,
        )

    def _fitted(self, cells: list[Any]) -> list[Any]:
        """A workbook row with more or fewer cells than the header has columns: a cell right
        of the last column is in no column (a note beside the table), a missing one is empty;
        a workbook's cells cannot shift. A CSV row is rejected: an extra or a missing
        separator would put its values in the wrong columns, even when the cell it adds or
        drops at the end is empty (`1 rue; Paradis` shifts every value after it)."""
        width = self.width
        if not self.plain:
            return [*cells[:width], *([""] * (width - len(cells)))]
        raise RowError(
            f"nombre de champs incorrect ({len(cells)} au lieu de {width}) : "
            "vérifiez les séparateurs et les guillemets de la ligne"
        )

    # Helpers: the first time a value is met (their result is remembered).
    def _client_type(self, raw: str) -> str:
        found = CLIENT_TYPES.get(fold(raw))
        if found is None:
            raise RowError(
                f"type de client inconnu {quote(raw)} (attendu Particulier, Professionnel ou "
                "Entreprise)"
            )
        self._types[raw] = found.value
        return found.value

    def _status(self, raw: str) -> str:
        found = STATUSES.get(fold(raw))
        if found is None:
            raise RowError(
                f"statut de contrat inconnu {quote(raw)} (attendu Actif, Résilié ou Suspendu)"
            )
        self._statuses[raw] = found.value
        return found.value

    def _advisor(self, text: str, branch: str) -> int:
        """The advisor a row names (`Lookup.advisor`); a name several advisors share is settled
        by the row's branch, remembered for each (name, branch)."""
        if not text:
            raise RowError("chargé de clientèle manquant")
        found = self._advisors.get(text, _MISSING)
        if found is _MISSING:
            found = self.lookup.advisor(text)
            _remember(self._advisors, text, _SHARED if type(found) is str else found)
        if found is _SHARED or type(found) is str:
            found = self._namesakes.get((text, branch), _MISSING)
            if found is _MISSING:
                found = self.lookup.advisor(text, branch)
                _remember(self._namesakes, (text, branch), found)
        if found is None:
            raise RowError(
                f"conseiller inconnu {quote(text)} : importez d'abord la liste des "
                "conseillers (m3 import advisors)"
            )
        if type(found) is str:
            raise RowError(found)
        advisor_id: int = found
        return advisor_id

    def _normalize(self, cells: list[Any]) -> list[Any]:
        """Cells of any type (a workbook's): text stripped, no-break spaces made spaces, format
        characters removed; a number, a date or a yes/no cell as `_typed` reads it."""
        values: list[Any] = []
        for position, value in enumerate(cells):
            if type(value) is str:
                text = clean(value)
                values.append(text if text.isprintable() else visible(text))
            elif value is None:
                values.append("")
            else:
                values.append(self._typed(position, value))
        self._check_lengths(values)
        return values

    def _typed(self, position: int, value: Any) -> Any:
        """A workbook cell that is not text, in a column the import reads: a number as its
        French text (`12,5`; a postal code a spreadsheet made a number, `1000`, given back its
        leading zero: French postal codes have five digits, a SIRET fourteen); a date in a
        date column as is, a yes/no in « DP signées » as « oui »/« non ». A date, a time or a
        yes/no anywhere else makes no sense: the row is rejected, naming the column."""
        name = self._names.get(position)
        if name is None:  # a column the import does not read
            return ""
        if isinstance(value, bool):
            if name == "dp_signed":
                return "oui" if value else "non"
            return self._not_text(position, "valeur oui/non", "VRAI" if value else "FAUX")
        if isinstance(value, int | float):
            if abs(value) >= SPREADSHEET_DIGITS_LIMIT:
                raise RowError(
                    f"nombre {quote(f'{value:.0f}')} de plus de 15 chiffres dans la colonne "
                    f"« {self._column(position)} » : un tableur n'en garde que 15, les suivants "
                    "sont perdus ; saisissez la valeur comme texte (cellule du classeur à "
                    "corriger)"
                )
            if isinstance(value, float) and not value.is_integer():
                return str(value).replace(".", ",")
            text = clean(value)
            if name == "postal_code" and len(text) == 4 and text.isdigit():
                return "0" + text
            if name == "siret" and len(text) == 13 and text.isdigit():
                return "0" + text  # fourteen digits, the first a zero the number cell lost
            return text
        if isinstance(value, dt.datetime):
            if name in _DATE_COLUMNS:
                return value
            shown = date_fr(value)
            if value.time() != dt.time():
                shown = f"{shown} {value:%H:%M}"
            return self._not_text(position, "date", shown)
        if isinstance(value, dt.date):
            if name in _DATE_COLUMNS:
                return value
            return self._not_text(position, "date", date_fr(value))
        if isinstance(value, dt.time):
            return self._not_text(position, "heure", value.strftime("%H:%M"))
        if isinstance(value, dt.timedelta):
            return self._not_text(position, "durée", _duration(value))
        return clean(value)

    def _not_text(self, position: int, kind: str, shown: str) -> Any:
        expected = "une date" if self._names.get(position) in _DATE_COLUMNS else "un texte"
        raise RowError(
            f"{kind} {quote(shown)} au lieu d'{expected} dans la colonne "
            f"« {self._column(position)} » : cellule du classeur à corriger"
        )

    def _check_lengths(self, values: list[Any]) -> None:
        for position, value in enumerate(values):
            if type(value) is str and len(value) > MAX_CELL:
                raise RowError(
                    f"valeur de {len(value):,} caractères dans la colonne « "
                    f"{self._column(position)} » ({MAX_CELL:,} au plus) : export "
                    "endommagé ?".replace(",", " ")
                )

    def _spreadsheet_marks(self, values: list[Any]) -> list[Any]:
        """`values` without the marks a spreadsheet leaves in an export: Excel's way of keeping
        a number as text, `="00123"`, is the text `00123`; an error shown in place of a
        formula's result (« #N/A », « #REF! ») in a column the import reads rejects the row,
        naming the column: stored, it would be taken for the value (two clients numbered
        « #N/A » would be one)."""
        marked = []
        for position, value in enumerate(values):
            if type(value) is str and value[:1] in ("#", "="):
                if value in SPREADSHEET_ERRORS and position in self._names:
                    raise RowError(
                        f"erreur de formule {quote(value)} dans la colonne « "
                        f"{self._column(position)} » : le tableur n'a pas pu calculer la "
                        "valeur ; corrigez la formule ou exportez à nouveau depuis Lagon"
                    )
                if len(value) >= 3 and value.startswith('="') and value.endswith('"'):
                    value = value[2:-1].replace('""', '"').strip()
            marked.append(value)
        return marked

    def _scientific(self, *numbers: str) -> None:
        """A row whose client, contract or SIRET number a spreadsheet wrote in scientific
        notation (« 1,00660E+11 ») is rejected: the number's last digits are lost, and two
        clients could read as one."""
        labels = ("numéro de client", "numéro de contrat", "SIRET")
        for label, number in zip(labels, numbers, strict=True):
            if _SCIENTIFIC.fullmatch(number):
                raise RowError(
                    f"{label} {quote(number)} en notation scientifique : le fichier est passé "
                    "par un tableur qui a arrondi le nombre (ses derniers chiffres sont "
                    "perdus) ; exportez à nouveau depuis Lagon sans l'ouvrir dans Excel, ou "
                    "mettez la colonne au format Texte"
                )

    def _lost_characters(self, values: list[Any]) -> list[str]:
        """A flag for each column the import reads whose text holds `LOST`, the character
        a program writes for one it could not read: a letter was lost before the export
        reached the bot. The text is stored as it is (the row is not lost for it)."""
        return [
            f"caractère illisible (« {LOST} ») dans la colonne « {self._column(position)} » "
            f"{quote(value)} : texte abîmé avant l'export, à corriger dans Lagon"
            for position, value in enumerate(values)
            if position in self._names and type(value) is str and LOST in value
        ]

    def _column(self, position: int) -> str:
        name = self.header[position] if position < len(self.header) else ""
        return name or f"n° {position + 1}"

    def _too_long(self, name: str, text: str) -> RowError:
        limit = LIMITS[name] if name in LIMITS else LIMITS["number"]
        return RowError(too_long(LABELS.get(name, name), len(text), limit))

    def _date(self, raw: Any, label: str, known: dict[Any, Any]) -> Any:
        """(date, database value), None when empty, or the French reason it is rejected: not
        a date, or outside 1950 – today + 2 years. Remembered by cell text."""
        if raw is None or raw == "":
            return None
        try:
            day = parse_date(raw)
        except ValueError:
            found: Any = f"{label} invalide {quote(clean(raw))} (attendu JJ/MM/AAAA)"
        else:
            if day is None:
                return None
            if not EARLIEST <= day <= self.latest:
                found = (
                    f"{label} invraisemblable {quote(date_fr(day))} (attendue entre le "
                    f"{date_fr(EARLIEST)} et le {date_fr(self.latest)})"
                )
            else:
                found = (day, self.date_value(day))
        _remember(known, raw, found)
        return found

    def _amount(self, raw: str, flags: list[str]) -> Any:
        """The revenue, to the cent; flagged (not stored) when it cannot be read for sure or
        is negative."""
        found = self._amounts.get(raw, _MISSING)
        if found is _MISSING:
            try:
                number = parse_amount(raw)
            except ValueError as exc:
                found = f"chiffre d'affaires : {exc} : à corriger dans Lagon"
            else:
                if number is None:
                    found = None
                elif number < 0:
                    found = f"chiffre d'affaires négatif {quote(raw)} : à corriger dans Lagon"
                else:
                    found = self.decimal_value(number)
            _remember(self._amounts, raw, found)
        if isinstance(found, str):
            flags.append(found)
            return None
        return found

    def _count(self, raw: str, flags: list[str]) -> int | None:
        """The headcount; flagged (not stored) when it is not a whole number for sure or is
        negative."""
        found = self._counts.get(raw, _MISSING)
        if found is _MISSING:
            try:
                found = parse_int(raw)
            except ValueError as exc:
                found = f"effectif : {exc} : à corriger dans Lagon"
            else:
                if found is not None and found < 0:
                    found = f"effectif négatif {quote(raw)} : à corriger dans Lagon"
            _remember(self._counts, raw, found)
        if isinstance(found, str):
            flags.append(found)
            return None
        count: int | None = found
        return count

    def _dp_signed(self, raw: str, flags: list[str]) -> bool | None:
        found = self._yes_no.get(raw, _MISSING)
        if found is _MISSING:
            try:
                found = parse_yes_no(raw)
            except ValueError as exc:
                found = f"DP signées : {exc} : à corriger dans Lagon"
            self._yes_no[raw] = found
        if isinstance(found, str):
            flags.append(found)
            return None
        signed: bool | None = found
        return signed

    def _contact(
        self,
        raw: str,
        normalize: Callable[[str], str | None],
        name: str,
        known: dict[str, tuple[str | None, bool]],
    ) -> tuple[str | None, bool]:
        """A phone or e-mail normalised; a bad one is kept as written (and flagged for the
        CRM by the caller). A client's rows repeat it: remembered, within bounds."""
        normalized = normalize(raw)
        if normalized is None:
            if len(raw) > LIMITS[name]:
                raise self._too_long(name, raw)
            found: tuple[str | None, bool] = (raw, True)
        else:
            found = (normalized, False)
        _remember(known, raw, found)
        return found


REMEMBERED = 20_000  # distinct values remembered per column: a bounded memory


def _remember(known: dict[Any, Any], key: Any, value: Any) -> None:
    """Remember a cell's result; past `REMEMBERED` values the column starts afresh (the values
    that repeat most come back first; a client's rows, usually together, share theirs)."""
    if len(known) >= REMEMBERED:
        known.clear()
    known[key] = value


def sqlite_values() -> dict[str, Callable[[Any], Any]]:
    """The converters `PortfolioParser` takes, for SQLite (what SQLAlchemy stores there)."""
    return {
        "date_value": dt.date.isoformat,
        "decimal_value": float,
        "json_value": json.dumps,
    }


def native_values() -> dict[str, Callable[[Any], Any]]:
    """The converters for PostgreSQL: Python values, the JSON as text."""
    return {
        "date_value": lambda day: day,
        "decimal_value": lambda number: number,
        "json_value": json.dumps,
    }

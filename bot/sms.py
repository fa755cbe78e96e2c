"""SMS: how long a text is (segments and encoding, counted with the GSM 03.38 codec), when an SMS
may leave (the quiet-hours rule, pure), the sender name, phone numbers as people read them, and
the providers that send (`console`, `twilio`, `brevo`).

**Segments.** A text every character of which the GSM 03.38 codec (`gsm0338`) can encode goes
as GSM-7: 160 septets in one SMS, 153 per part when it is split (the rest is the concatenation
header); a character of the extension table (`€`, `[`, `{`…) takes two septets, never split
across two parts. Any other character (`’`, `ç`, `ê`, a non-breaking space, an emoji) turns the
whole text into UCS-2: 70 UTF-16 units in one SMS, 67 per part; an emoji outside the BMP takes
two units, never split. No alphabet is written here: the codec decides.

**Quiet hours** (`sms_block`, `next_sms_time`): an SMS to a client leaves Monday to Saturday,
08:00–20:00 in the agency's zone, never on a Sunday or a French public holiday — the strictest
of the rules French operators apply to SMS sent to consumers (their code of conduct on
commercial SMS). Half-open: 19:59 yes, 20:00 no. Pure functions of the time given.

**Providers.** Each takes an `SmsMessage` and answers `Accepted` (the provider took it, with
its message id) or raises `SendFailure`: `permanent` (an invalid number: no retry), temporary
(429, 5xx, a connection refused: retried, honouring `Retry-After`), or `ambiguous` (the request
left and no answer came back: the provider may have taken it, so it is never sent again
automatically — see `bot.outbox`). The console backend prints the text (number masked) and
answers `Accepted(simulated=True)`: it never sets the card's tag. Twilio's Messages API and
Brevo's `POST /v3/transactionalSMS/send` are called over their documented REST (stdlib HTTP),
`SMS_API_URL` replacing the base URL so that tests reach a local fake. No secret and no full
number is ever logged.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import http.client
import json
import logging
import socket
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

import gsm0338  # type: ignore[import-untyped]
import phonenumbers

from bot.rules import is_public_holiday

log = logging.getLogger(__name__)

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
MAX_SEGMENTS = 2  # the card's text is refused beyond (see bot.card)
SENDER_MAX = 11

# --- Length --------------------------------------------------------------------------------


class Encoding(enum.StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SmsShape:
    """How a text travels: its encoding, its size in that encoding's units (septets or UTF-16
    units), how many SMS it takes, and the characters that forced UCS-2 (in order, once)."""

    encoding: Encoding
    units: int
    segments: int
    characters: int
    costly: tuple[str, ...] = ()

    @property
    def single_limit(self) -> int:
        return GSM7_SINGLE if self.encoding is Encoding.GSM7 else UCS2_SINGLE


@lru_cache(maxsize=1)
def _codec() -> gsm0338.Codec:
    return gsm0338.Codec()


def _septets(char: str) -> int | None:
    """Septets a character takes in GSM-7 (1, or 2 for the extension table), None if the
    codec cannot encode it."""
    try:
        encoded, _ = _codec().encode(char)
    except UnicodeEncodeError:
        return None
    return len(encoded)


def _pack(sizes: list[int], single: int, part: int) -> int:
    """SMS needed for characters of these sizes: one when they fit `single`, else parts of
    `part` units, a character never split between two."""
    if sum(sizes) <= single:
        return 1 if sizes else 0
    segments, used = 1, 0
    for size in sizes:
        if used + size > part:
            segments, used = segments + 1, 0
        used += size
    return segments


def measure(text: str) -> SmsShape:
    """The encoding, size and number of SMS of `text` (module docstring)."""
    septets = [_septets(c) for c in text]
    if all(s is not None for s in septets):
        sizes = [s for s in septets if s is not None]
        return SmsShape(Encoding.GSM7, sum(sizes), _pack(sizes, GSM7_SINGLE, GSM7_PART), len(text))
    costly = tuple(dict.fromkeys(c for c, s in zip(text, septets, strict=True) if s is None))
    units = [len(c.encode("utf-16-be")) // 2 for c in text]
    return SmsShape(
        Encoding.UCS2, sum(units), _pack(units, UCS2_SINGLE, UCS2_PART), len(text), costly
    )


def character_name(char: str) -> str:
    """How the modal names a costly character: itself, or its name when it is invisible."""
    if char.isspace() or unicodedata.category(char).startswith(("Z", "C")):
        return unicodedata.name(char, "caractère invisible").lower()
    return char


def sender_id(name: str) -> str:
    """The alphanumeric sender shown on the client's phone: the name's letters and digits
    (accents dropped), at most 11, with at least one letter."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    kept = "".join(c for c in plain if c.isascii() and c.isalnum())[:SENDER_MAX]
    return kept if any(c.isalpha() for c in kept) else "Agence"


# --- Numbers -------------------------------------------------------------------------------


def _parse(number: str) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(number, "FR")
    except phonenumbers.NumberParseException:
        return None
    return parsed if phonenumbers.is_valid_number(parsed) else None


def to_e164(number: str) -> str | None:
    """A number as typed (« 06 12 34 56 78 », « +33 6… ») in E.164, or None."""
    parsed = _parse(number)
    if parsed is None:
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def is_mobile(number: str) -> bool:
    """Whether the number can take an SMS: a mobile (a French landline cannot)."""
    parsed = _parse(number)
    if parsed is None:
        return False
    kind = phonenumbers.number_type(parsed)
    return kind in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    )


def french_format(number: str) -> str:
    """« 06 12 34 56 78 » for a French number, the international format otherwise."""
    parsed = _parse(number)
    if parsed is None:
        return number
    style = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if parsed.country_code == 33
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return str(phonenumbers.format_number(parsed, style))


def mask_phone(number: str | None) -> str:
    """« +33 6•• •• •• 78 »-like: the country, the first digit and the last two only."""
    if not number:
        return "—"
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) < 6:
        return "•" * len(digits)
    head = 3 if digits.startswith("33") else 2
    return "+" + digits[:head] + "•" * (len(digits) - head - 2) + digits[-2:]


def mask_email(address: str | None) -> str:
    """« j•••••@agence.example.fr »: the first letter and the domain."""
    if not address or "@" not in address:
        return "—"
    local, _, domain = address.partition("@")
    return local[:1] + "•" * max(len(local) - 1, 1) + "@" + domain


# --- Quiet hours ---------------------------------------------------------------------------

SMS_START, SMS_END = dt.time(8, 0), dt.time(20, 0)


class SmsBlock(enum.StrEnum):
    SUNDAY = "sunday"
    PUBLIC_HOLIDAY = "public_holiday"
    OUTSIDE_HOURS = "outside_hours"


def sms_block(at: dt.datetime, zone: ZoneInfo) -> SmsBlock | None:
    """Why an SMS may not leave at `at` (zone-aware), or None when it may."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a zone-aware datetime is needed, got {at!r}")
    local = at.astimezone(zone)
    if local.weekday() == 6:
        return SmsBlock.SUNDAY
    if is_public_holiday(local.date()):
        return SmsBlock.PUBLIC_HOLIDAY
    if not SMS_START <= local.time().replace(tzinfo=None) < SMS_END:
        return SmsBlock.OUTSIDE_HOURS
    return None


def next_sms_time(at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """`at` when an SMS may leave then, else the next opening (08:00 of the next allowed
    day, or today's 08:00 before it), in the agency's zone."""
    if sms_block(at, zone) is None:
        return at.astimezone(zone)
    local = at.astimezone(zone)
    day = local.date()
    for offset in range(15):
        candidate = dt.datetime.combine(day + dt.timedelta(days=offset), SMS_START, tzinfo=zone)
        if candidate >= local and sms_block(candidate, zone) is None:
            return candidate
    raise ValueError(f"no time to send an SMS within two weeks of {at!r}")  # pragma: no cover


# --- Providers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SmsMessage:
    """One SMS to send: E.164 recipient, text, sender name, our reference (the outbox key,
    for the provider's tag), and where receipts go (None: no receipt asked)."""

    to: str
    body: str
    sender: str
    reference: str
    status_callback: str | None = None


@dataclass(frozen=True)
class Accepted:
    provider: str
    message_id: str | None
    simulated: bool = False
    status: str | None = None


@dataclass
class SendFailure(Exception):
    """A send that did not go. `reason` is a code (`invalid_number`, `rate_limited`…) that
    templates turn into French; `detail` is the provider's own words (logged, never a secret).
    """

    reason: str
    detail: str = ""
    permanent: bool = False
    ambiguous: bool = False
    retry_after: float | None = None
    code: str | None = None

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


class SmsBackend(Protocol):
    name: str

    def send(self, message: SmsMessage) -> Accepted: ...


@dataclass
class ConsoleSms:
    """Prints the SMS (number masked) instead of sending it: a simulation."""

    name: str = "console"
    printer: Callable[[str], None] = print

    def send(self, message: SmsMessage) -> Accepted:
        self.printer(
            f"[SMS simulé] de {message.sender} à {mask_phone(message.to)} :\n{message.body}"
        )
        return Accepted(provider=self.name, message_id=None, simulated=True)


DEFAULT_TIMEOUT = 10.0


@dataclass
class _Http:
    """A JSON-answering POST with the stdlib, errors sorted into `SendFailure`s."""

    timeout: float = DEFAULT_TIMEOUT

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, permanent_codes: frozenset[str]
    ) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            payload = _json(exc.read())
            raise _http_failure(
                exc.code, payload, exc.headers.get("Retry-After"), permanent_codes
            ) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ConnectionRefusedError | socket.gaierror):
                raise SendFailure("unreachable", type(exc.reason).__name__) from None
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise SendFailure("no_answer", "timeout", ambiguous=True) from None
            raise SendFailure("no_answer", type(exc.reason).__name__, ambiguous=True) from None
        except (TimeoutError, ConnectionResetError, http.client.HTTPException) as exc:
            raise SendFailure("no_answer", type(exc).__name__, ambiguous=True) from None


def _json(raw: bytes) -> dict[str, object]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _http_failure(
    status: int, payload: dict[str, object], retry_after: str | None, permanent: frozenset[str]
) -> SendFailure:
    code = str(payload.get("code") or "") or None
    detail = str(payload.get("message") or "")[:200]
    if status == 429:
        return SendFailure("rate_limited", detail, retry_after=_retry_after(retry_after), code=code)
    if status >= 500:
        return SendFailure(
            "provider_error", f"HTTP {status}", retry_after=_retry_after(retry_after), code=code
        )
    if status in (401, 403):
        return SendFailure("auth_refused", f"HTTP {status}", code=code)
    if status == 402:
        return SendFailure("no_credit", detail, code=code)
    if code in permanent or status in (400, 404, 422):
        reason = "invalid_number" if code in permanent else "refused"
        return SendFailure(reason, detail, permanent=True, code=code)
    return SendFailure("refused", f"HTTP {status} {detail}", code=code)


# Twilio's error codes that no retry will mend: the number itself (invalid, not a mobile,
# unreachable, unsubscribed from this sender, a region not enabled).
TWILIO_NUMBER_ERRORS = frozenset({"21211", "21214", "21408", "21610", "21612", "21614"})


@dataclass
class TwilioSms:
    """Twilio's Messages API: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP
    basic auth (Account SID, Auth Token), form fields `To`, `From`, `Body` and, when receipts
    are configured, `StatusCallback`."""

    account_sid: str
    auth_token: str
    sender: str
    base_url: str = "https://api.twilio.com"
    timeout: float = DEFAULT_TIMEOUT
    name: str = "twilio"

    def send(self, message: SmsMessage) -> Accepted:
        fields = {"To": message.to, "From": self.sender or message.sender, "Body": message.body}
        if message.status_callback:
            fields["StatusCallback"] = message.status_callback
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        url = f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        _, payload = _Http(self.timeout).post(
            url,
            urllib.parse.urlencode(fields).encode(),
            {
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            permanent_codes=TWILIO_NUMBER_ERRORS,
        )
        return Accepted(
            provider=self.name,
            message_id=str(payload.get("sid") or "") or None,
            status=str(payload.get("status") or "") or None,
        )


# Brevo answers an invalid number with a 400 and one of these codes.
BREVO_NUMBER_ERRORS = frozenset({"invalid_parameter", "invalid_phone_number"})


@dataclass
class BrevoSms:
    """Brevo's transactional SMS: `POST /v3/transactionalSMS/send` (the current endpoint, not
    the deprecated `/v3/transactionalSMS/sms`), header `api-key`, JSON `sender` (3 to 11
    letters and digits), `recipient`, `content`, `type` « transactional », our reference as
    `tag`, `unicodeEnabled` when the text needs UCS-2, and `webUrl` for receipts."""

    api_key: str
    base_url: str = "https://api.brevo.com"
    timeout: float = DEFAULT_TIMEOUT
    name: str = "brevo"

    def send(self, message: SmsMessage) -> Accepted:
        body: dict[str, object] = {
            "sender": message.sender,
            "recipient": message.to.lstrip("+"),
            "content": message.body,
            "type": "transactional",
            "tag": message.reference,
            "unicodeEnabled": measure(message.body).encoding is Encoding.UCS2,
        }
        if message.status_callback:
            body["webUrl"] = message.status_callback
        _, payload = _Http(self.timeout).post(
            f"{self.base_url.rstrip('/')}/v3/transactionalSMS/send",
            json.dumps(body).encode(),
            {
                "api-key": self.api_key,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            permanent_codes=BREVO_NUMBER_ERRORS,
        )
        message_id = payload.get("messageId")
        return Accepted(
            provider=self.name, message_id=None if message_id is None else str(message_id)
        )


@dataclass(frozen=True)
class SmsConfig:
    """What `make_backend` needs (from the settings)."""

    backend: str = "console"
    api_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    brevo_api_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    extra: dict[str, str] = field(default_factory=dict)


def make_backend(config: SmsConfig, printer: Callable[[str], None] = print) -> SmsBackend:
    if config.backend == "twilio":
        return TwilioSms(
            account_sid=config.twilio_account_sid or "",
            auth_token=config.twilio_auth_token or "",
            sender=config.twilio_from or "",
            base_url=config.api_url or "https://api.twilio.com",
            timeout=config.timeout,
        )
    if config.backend == "brevo":
        return BrevoSms(
            api_key=config.brevo_api_key or "",
            base_url=config.api_url or "https://api.brevo.com",
            timeout=config.timeout,
        )
    return ConsoleSms(printer=printer)

"""Settings, read from the environment (and an optional `.env`): the only module that does so.

`load_settings()` turns a bad value into one line in French (`SettingsError`) naming the
variable and what it expects, so that the CLI stops with that line instead of a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as SourceError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.calls import CallRules
from bot.names import fold_key


class SettingsError(Exception):
    """A setting is wrong; the message is one line in French naming the variable."""


class Branch(BaseModel):
    """One branch (point de vente) of the agency, with what the contact card shows."""

    name: str
    address: str = ""
    phone: str = ""
    opening_hours: str = ""


def _default_branches() -> list[Branch]:
    return [Branch(name="Corniche"), Branch(name="Rouvière")]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = Field(default="sqlite:///m3.db", alias="DATABASE_URL")
    timezone: str = Field(default="Europe/Paris", alias="M3_TIMEZONE")
    digest_time: str = Field(default="08:30", alias="M3_DIGEST_TIME")
    # Decoded by `_json_list` (not by the settings source) so that bad JSON gets a clear line.
    branches: Annotated[list[Branch], NoDecode] = Field(
        default_factory=_default_branches, alias="M3_BRANCHES"
    )
    frozen_today: dt.date | None = Field(default=None, alias="M3_TODAY")
    frozen_now: dt.datetime | None = Field(default=None, alias="M3_NOW")
    call_rules_mode: str = Field(default="strict", alias="M3_CALL_RULES")
    # How the call script greets the client: « Bonjour Marie » or « Bonjour Madame Leblanc ».
    script_address: Literal["prenom", "civilite"] = Field(
        default="prenom", alias="M3_SCRIPT_ADDRESS"
    )

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, alias="SLACK_API_URL")
    managers_channel: str | None = Field(default=None, alias="M3_MANAGERS_CHANNEL")
    port: int = Field(default=3000, alias="PORT", ge=1, le=65535)

    # The contact card (bot/card.py): the agency, the link, e-mail and SMS.
    agency_name: str = Field(default="Agence", alias="M3_AGENCY_NAME", min_length=1)
    public_url: str | None = Field(default=None, alias="M3_PUBLIC_URL")
    mail_from: str | None = Field(default=None, alias="M3_MAIL_FROM")
    smtp_host: str | None = Field(default=None, alias="SMTP_HOST")
    smtp_port: int = Field(default=587, alias="SMTP_PORT", ge=1, le=65535)
    smtp_username: str | None = Field(default=None, alias="SMTP_USERNAME")
    smtp_password: str | None = Field(default=None, alias="SMTP_PASSWORD")
    smtp_security: str = Field(default="starttls", alias="SMTP_SECURITY")
    sms_backend: str = Field(default="console", alias="SMS_BACKEND")
    sms_api_url: str | None = Field(default=None, alias="SMS_API_URL")
    sms_sender: str | None = Field(default=None, alias="M3_SMS_SENDER")
    twilio_account_sid: str | None = Field(default=None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: str | None = Field(default=None, alias="TWILIO_AUTH_TOKEN")
    twilio_from: str | None = Field(default=None, alias="TWILIO_FROM")
    brevo_api_key: str | None = Field(default=None, alias="BREVO_API_KEY")
    brevo_webhook_token: str | None = Field(default=None, alias="BREVO_WEBHOOK_TOKEN")

    @field_validator("database_url")
    @classmethod
    def _sqlite_or_postgresql(cls, value: str) -> str:
        scheme, separator, rest = value.strip().partition("://")
        if not separator:
            raise ValueError("ce n'est pas une URL")
        scheme = scheme.lower()
        if scheme in _POSTGRESQL_SCHEMES:
            # Hosting platforms hand out `postgres://` URLs; SQLAlchemy wants the driver named.
            value = "postgresql+psycopg://" + rest
        elif scheme not in _SQLITE_SCHEMES:
            raise ValueError(f"type de base « {scheme} » non pris en charge")
        try:
            make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError("URL illisible") from None
        return value

    @field_validator("frozen_today", mode="before")
    @classmethod
    def _iso_day(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None  # set but empty: not frozen
        if isinstance(value, str):
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
                raise ValueError(f"« {value} » n'est pas une date AAAA-MM-JJ")
            try:
                value = dt.date.fromisoformat(value.strip())
            except ValueError:
                raise ValueError(f"« {value} » n'est pas une date du calendrier") from None
        if isinstance(value, dt.date) and not _FIRST_DAY <= value <= _LAST_DAY:
            raise ValueError(f"{value.isoformat()} est hors de la plage 2000–2100")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"fuseau horaire inconnu « {value} »") from exc
        return value

    @field_validator("call_rules_mode")
    @classmethod
    def _strict_or_off(cls, value: str) -> str:
        if value.strip().lower() not in ("strict", "off"):
            raise ValueError(f"valeur inconnue « {value} » (attendu : strict ou off)")
        return value.strip().lower()

    @field_validator("digest_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        match = re.fullmatch(r"([01]?\d|2[0-3])[:hH]([0-5]\d)", value.strip())
        if not match:
            raise ValueError(f"heure invalide « {value} »")
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    @field_validator("branches", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueError("JSON illisible") from None
        if not isinstance(value, list):
            raise ValueError("ce n'est pas une liste JSON")
        if not value:
            raise ValueError("au moins une agence est nécessaire")
        for number, branch in enumerate(value, start=1):
            if isinstance(branch, Branch):
                continue
            if not isinstance(branch, dict) or not str(branch.get("name") or "").strip():
                raise ValueError(f"l'agence n° {number} n'a pas de « name »")
            if not all(isinstance(v, str) for v in branch.values()):
                raise ValueError(f"l'agence n° {number} a une valeur qui n'est pas du texte")
        seen: dict[str, int] = {}
        for number, branch in enumerate(value, start=1):
            name = branch.name if isinstance(branch, Branch) else str(branch["name"])
            first = seen.setdefault(fold_key(name), number)
            if first != number:
                raise ValueError(
                    f"les agences n° {first} et n° {number} portent le même nom (aux majuscules "
                    "et accents près)"
                )
        return value

    @field_validator(
        "public_url",
        "mail_from",
        "smtp_host",
        "smtp_username",
        "smtp_password",
        "sms_api_url",
        "sms_sender",
        "twilio_account_sid",
        "twilio_auth_token",
        "twilio_from",
        "brevo_api_key",
        "brevo_webhook_token",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("public_url", "sms_api_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value and not re.match(r"https?://[^/\s]+", value.strip()):
            raise ValueError(f"« {value} » n'est pas une URL http(s)")
        return value.strip().rstrip("/") if value else None

    @field_validator("smtp_security")
    @classmethod
    def _smtp_security(cls, value: str) -> str:
        if value.strip().lower() not in ("starttls", "ssl", "none"):
            raise ValueError(f"valeur inconnue « {value} » (attendu : starttls, ssl ou none)")
        return value.strip().lower()

    @field_validator("sms_backend")
    @classmethod
    def _sms_backend(cls, value: str) -> str:
        if value.strip().lower() not in ("console", "twilio", "brevo"):
            raise ValueError(f"valeur inconnue « {value} » (attendu : console, twilio ou brevo)")
        return value.strip().lower()

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str | None) -> str | None:
        if value and "@" not in value:
            raise ValueError(f"« {value} » n'est pas une adresse e-mail")
        return value.strip() if value else None

    @field_validator("slack_bot_token", "slack_app_token", "slack_signing_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().startswith("xoxb-"):
            raise ValueError("ce n'est pas un jeton de bot")
        return value.strip() if value else value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().startswith("xapp-"):
            raise ValueError("ce n'est pas un jeton d'application")
        return value.strip() if value else value

    @field_validator("slack_api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not re.match(r"https?://[^/\s]+", value.strip()):
            raise ValueError(f"« {value} » n'est pas une URL http(s)")
        return value.strip() if value else None

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def digest_hour_minute(self) -> tuple[int, int]:
        hour, minute = self.digest_time.split(":")
        return int(hour), int(minute)

    def today(self) -> dt.date:
        """Today in the agency's time zone, or the frozen date of `M3_NOW` / `M3_TODAY`."""
        if self.frozen_now is not None:
            return self.now().date()
        if self.frozen_today is not None:
            return self.frozen_today
        return dt.datetime.now(self.zone).date()

    def now(self) -> dt.datetime:
        """Now, zone-aware in the agency's zone: `M3_NOW` when set (a naive value is read in
        the agency's zone), else `M3_TODAY` at the current time of day, else the clock."""
        if self.frozen_now is not None:
            at = self.frozen_now
            return at.replace(tzinfo=self.zone) if at.tzinfo is None else at.astimezone(self.zone)
        now = dt.datetime.now(self.zone)
        if self.frozen_today is not None:
            return dt.datetime.combine(self.frozen_today, now.timetz())
        return now

    @cached_property
    def call_rules(self) -> CallRules:
        """The rules on calling clients (`M3_CALL_RULES`: strict or off; see `bot.calls`)."""
        return CallRules.from_setting(self.call_rules_mode, self.timezone)

    def sending_problem(self) -> str | None:
        """What keeps the contact card from leaving as configured, in one French line (a
        provider named without its credentials), or None."""
        needed = {
            "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"),
            "brevo": ("BREVO_API_KEY",),
        }.get(self.sms_backend, ())
        values = {
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
            "TWILIO_FROM": self.twilio_from,
            "BREVO_API_KEY": self.brevo_api_key,
        }
        missing = [name for name in needed if not values[name]]
        if missing:
            return (
                f"Configuration incomplète : SMS_BACKEND={self.sms_backend} demande "
                + ", ".join(missing)
                + "."
            )
        if self.smtp_host and not self.mail_from:
            return "Configuration incomplète : SMTP_HOST est défini mais pas M3_MAIL_FROM."
        return None

    def branch(self, name: str | None) -> Branch | None:
        """The configured branch `name` is (case, accents, spaces and punctuation aside, as the
        imports match branch names: a branch first written « Rouviere » is « Rouvière »)."""
        if not name:
            return None
        key = fold_key(name)
        return next((b for b in self.branches if fold_key(b.name) == key), None)


_ENV_NAMES = {name: (field.alias or name).upper() for name, field in Settings.model_fields.items()}

# What each variable expects, said in every message about it.
_EXPECTED = {
    "DATABASE_URL": "sqlite:///chemin/m3.db ou postgresql://utilisateur@hôte:5432/base",
    "M3_TIMEZONE": "un fuseau horaire IANA, ex. Europe/Paris",
    "M3_DIGEST_TIME": "une heure HH:MM, ex. 08:30",
    "M3_BRANCHES": 'une liste JSON d\'agences, ex. [{"name":"Corniche"},{"name":"Rouvière"}]',
    "M3_TODAY": "une date AAAA-MM-JJ entre 2000-01-01 et 2100-12-31, ex. 2026-11-24",
    "M3_SCRIPT_ADDRESS": "prenom (« Bonjour Marie ») ou civilite (« Bonjour Madame Leblanc »)",
    "M3_NOW": "une date et heure AAAA-MM-JJTHH:MM, ex. 2026-11-24T08:30",
    "SLACK_BOT_TOKEN": "le jeton du bot, « xoxb-… » (OAuth & Permissions)",
    "SLACK_APP_TOKEN": "le jeton d'application, « xapp-… » (Basic Information → App-Level Tokens)",
    "SLACK_API_URL": "une URL commençant par http:// ou https://",
    "PORT": "un numéro de port entre 1 et 65535",
    "M3_PUBLIC_URL": "l'adresse publique de m3 web, ex. https://m3.agence.example.fr",
    "SMS_API_URL": "une URL commençant par http:// ou https://",
    "SMTP_PORT": "un numéro de port entre 1 et 65535",
    "SMTP_SECURITY": "starttls, ssl ou none",
    "SMS_BACKEND": "console, twilio ou brevo",
    "M3_MAIL_FROM": "une adresse e-mail, ex. M+3 <m3@agence.example.fr>",
}
# Never repeated in a message: they hold passwords or secrets.
_SECRET = {
    "DATABASE_URL",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SMTP_PASSWORD",
    "TWILIO_AUTH_TOKEN",
    "BREVO_API_KEY",
    "BREVO_WEBHOOK_TOKEN",
}
_POSTGRESQL_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg")
_SQLITE_SCHEMES = ("sqlite", "sqlite+pysqlite")
_FIRST_DAY, _LAST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)


def _one_line(text: object, limit: int = 80) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _describe(error: ErrorDetails) -> str:
    field = str(error["loc"][0]) if error["loc"] else "?"
    variable = _ENV_NAMES.get(field, field.upper())
    if error["type"] == "value_error":
        problem = _one_line(error.get("ctx", {}).get("error", error["msg"]), 200)
    elif variable in _SECRET:
        problem = "valeur invalide"
    else:
        problem = f"valeur invalide « {_one_line(error['input'])} »"
    expected = _EXPECTED.get(variable)
    return f"Configuration invalide : {variable} — {problem}" + (
        f" ; attendu : {expected}." if expected else "."
    )


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise `SettingsError` with one French line naming the variable
    and what it expects."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc.errors()[0])) from None
    except SourceError as exc:  # a value the settings source itself could not decode
        match = re.search(r'field "(\w+)"', str(exc))
        variable = _ENV_NAMES.get(match.group(1), "?") if match else "?"
        raise SettingsError(
            f"Configuration invalide : {variable} — valeur illisible"
            + (f" ; attendu : {_EXPECTED[variable]}." if variable in _EXPECTED else ".")
        ) from None

"""Settings, read from the environment (and an optional `.env`): the only module that does so.

`load_settings()` turns a validation error into one clear line (`SettingsError`), so that the
CLI stops with that line instead of a traceback.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cached_property
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A setting is missing or wrong; the message is one line, in French and English."""


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
    branches: list[Branch] = Field(default_factory=_default_branches, alias="M3_BRANCHES")
    frozen_today: dt.date | None = Field(default=None, alias="M3_TODAY")

    slack_bot_token: str | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str | None = Field(default=None, alias="SLACK_API_URL")
    managers_channel: str | None = Field(default=None, alias="M3_MANAGERS_CHANNEL")
    port: int = Field(default=3000, alias="PORT")

    @field_validator("database_url")
    @classmethod
    def _psycopg3(cls, value: str) -> str:
        # Hosting platforms hand out `postgres://` URLs; SQLAlchemy wants an explicit driver.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"fuseau horaire inconnu « {value} » (ex. Europe/Paris)") from exc
        return value

    @field_validator("digest_time")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        match = re.fullmatch(r"([01]?\d|2[0-3])[:hH]([0-5]\d)", value.strip())
        if not match:
            raise ValueError(f"heure invalide « {value} » (format HH:MM, ex. 08:30)")
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    @field_validator("branches")
    @classmethod
    def _some_branch(cls, value: list[Branch]) -> list[Branch]:
        if not value:
            raise ValueError("au moins une agence est nécessaire")
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def digest_hour_minute(self) -> tuple[int, int]:
        hour, minute = self.digest_time.split(":")
        return int(hour), int(minute)

    def today(self) -> dt.date:
        """Today in the agency's time zone, or the frozen date of `M3_TODAY`."""
        if self.frozen_today is not None:
            return self.frozen_today
        return dt.datetime.now(self.zone).date()

    def branch(self, name: str | None) -> Branch | None:
        if not name:
            return None
        key = name.casefold()
        return next((b for b in self.branches if b.name.casefold() == key), None)


_ENV_NAMES = {name: (field.alias or name).upper() for name, field in Settings.model_fields.items()}


def load_settings(**overrides: object) -> Settings:
    """Read the settings, or raise `SettingsError` with one line naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        variable = _ENV_NAMES.get(field, field.upper())
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(
            f"Configuration invalide / invalid setting: {variable} — {message}"
        ) from None

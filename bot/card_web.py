"""What `m3 web` serves for the contact card, besides Slack:

- `GET /c/<token>`: the card behind the SMS's short link, as `text/vcard` (a phone offers
  « Ajouter aux contacts »). The token is random (72 bits), stored with its SMS, and expires
  (`bot.card.LINK_LIFETIME`); an unknown, expired or objected one is a plain 404.
- `POST /sms/twilio/status?ref=<row>`: Twilio's status callback, verified with the
  `X-Twilio-Signature` header (HMAC-SHA1 with the Auth Token over the full URL Twilio called,
  then every POST parameter sorted by name, name and value concatenated; base64).
- `POST /sms/brevo/events?ref=<row>`: Brevo's SMS webhook, verified with the credentials Brevo
  sends (`BREVO_WEBHOOK_TOKEN`, as HTTP basic password or bearer token).
An unverified receipt is refused (403) and changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.card import LINK_PATH
from bot.outbox import BREVO_RECEIPTS, TWILIO_RECEIPTS, Receipt, apply_receipt, card_for_link
from bot.settings import Settings

log = logging.getLogger(__name__)

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
PATHS = (LINK_PATH, TWILIO_RECEIPTS, BREVO_RECEIPTS)
MAX_BODY = 64 * 1024


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return bytes(environ["wsgi.input"].read(min(length, MAX_BODY))) if length > 0 else b""


def _answer(start_response: Callable[..., Any], status: str, body: bytes = b"") -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [body]


def _ref(environ: dict[str, Any]) -> int | None:
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    try:
        return int(query.get("ref", [""])[0])
    except ValueError:
        return None


def card_routes(settings: Settings, factory: sessionmaker[Session]) -> Wsgi:
    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        method = str(environ.get("REQUEST_METHOD", "GET"))
        if path.startswith(LINK_PATH) and method in ("GET", "HEAD"):
            with factory() as session:
                found = card_for_link(session, path[len(LINK_PATH) :], now=settings.now())
            if found is None:
                return _answer(start_response, "404 Not Found", b"Lien inconnu ou expir\xc3\xa9.")
            vcf, filename = found
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/vcard; charset=utf-8"),
                    ("Content-Disposition", f'inline; filename="{filename}"'),
                    ("Cache-Control", "private, no-store"),
                    ("X-Robots-Tag", "noindex"),
                ],
            )
            return [vcf if method == "GET" else b""]
        if path == TWILIO_RECEIPTS and method == "POST":
            return _twilio(environ, start_response)
        if path == BREVO_RECEIPTS and method == "POST":
            return _brevo(environ, start_response)
        return _answer(start_response, "404 Not Found")

    def _twilio(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        token = settings.twilio_auth_token
        raw = _body(environ)
        params = {
            k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode(), keep_blank_values=True).items()
        }
        query = environ.get("QUERY_STRING", "")
        url = f"{settings.public_url}{TWILIO_RECEIPTS}" + (f"?{query}" if query else "")
        signature = str(environ.get("HTTP_X_TWILIO_SIGNATURE", ""))
        if (
            not token
            or not settings.public_url
            or not hmac.compare_digest(signature, twilio_signature(token, url, params))
        ):
            log.warning("Accusé Twilio refusé : signature invalide")
            return _answer(start_response, "403 Forbidden")
        ref = _ref(environ)
        if ref is None:
            return _answer(start_response, "400 Bad Request")
        apply_receipt(
            factory,
            Receipt(
                row_id=ref,
                provider="twilio",
                status=params.get("MessageStatus", ""),
                message_id=params.get("MessageSid") or params.get("SmsSid"),
                error_code=params.get("ErrorCode"),
            ),
            now=settings.now(),
        )
        return _answer(start_response, "204 No Content")

    def _brevo(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        token = settings.brevo_webhook_token
        header = str(environ.get("HTTP_AUTHORIZATION", ""))
        scheme, _, credentials = header.partition(" ")
        given = ""
        if scheme.lower() == "bearer":
            given = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                given = base64.b64decode(credentials).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                given = ""
        if not token or not given or not hmac.compare_digest(given, token):
            log.warning("Accusé Brevo refusé : authentification invalide")
            return _answer(start_response, "403 Forbidden")
        ref = _ref(environ)
        try:
            event = json.loads(_body(environ) or b"{}")
        except ValueError:
            event = None
        if ref is None or not isinstance(event, dict):
            return _answer(start_response, "400 Bad Request")
        message_id = event.get("messageId")
        apply_receipt(
            factory,
            Receipt(
                row_id=ref,
                provider="brevo",
                status=str(event.get("msg_status") or event.get("event") or ""),
                message_id=None if message_id is None else str(message_id),
            ),
            now=settings.now(),
        )
        return _answer(start_response, "204 No Content")

    return application

"""E-mail over SMTP: the message (French text and HTML bodies, the `.vcf` attached as the exact
bytes of the card, `Date`, `Message-ID`, `Reply-To` the advisor) and its sending.

`SMTP_SECURITY`: `starttls` (the default: a plain connection upgraded with STARTTLS, port 587),
`ssl` (TLS from the start, port 465) or `none` (a local relay). Login only when
`SMTP_USERNAME` is set. The SMTP server's answer sorts the failure: a 5xx refusal of the
recipient is permanent (no retry), a 4xx or a connection refused is temporary, a connection
that dropped after the message's data left is ambiguous (never resent blindly: `bot.outbox`).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.rendering import TEMPLATES_PACKAGE, date_fr, long_date_fr
from bot.sms import Accepted, SendFailure

DEFAULT_TIMEOUT = 15.0


@lru_cache(maxsize=1)
def _html_environment() -> Environment:
    """Autoescaped whatever the template's name (`card.html.j2` does not end in `.html`)."""
    env = Environment(
        loader=PackageLoader(TEMPLATES_PACKAGE, "."),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(date_fr=date_fr, long_date_fr=long_date_fr)
    return env


def render_html(name: str, **context: Any) -> str:
    return _html_environment().get_template(name).render(**context).strip() + "\n"


@dataclass(frozen=True)
class MailMessage:
    """One e-mail to send, as the outbox froze it."""

    to: str
    subject: str
    text: str
    html: str | None
    reply_to: str | None
    attachment: bytes | None
    filename: str | None
    message_id: str
    date: Any  # a zone-aware datetime


def build(message: MailMessage, *, sender: str) -> EmailMessage:
    """The MIME message: text and HTML alternatives, then the card attached as `text/vcard`
    bytes (base64: the CRLF line endings arrive byte for byte)."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    if message.reply_to:
        mail["Reply-To"] = message.reply_to
    mail["Subject"] = message.subject
    mail["Date"] = format_datetime(message.date)
    mail["Message-ID"] = message.message_id
    mail.set_content(message.text, charset="utf-8")
    if message.html:
        mail.add_alternative(message.html, subtype="html", charset="utf-8")
    if message.attachment is not None:
        mail.add_attachment(
            message.attachment,
            maintype="text",
            subtype="vcard",
            filename=message.filename or "contact.vcf",
        )
    return mail


def message_id(sender: str, key: str) -> str:
    """A Message-ID chosen once per outbox row (the same on every try)."""
    domain = parseaddr(sender)[1].partition("@")[2] or "m3.invalid"
    return make_msgid(idstring=key.replace(":", "."), domain=domain)


@dataclass
class SmtpMailer:
    host: str
    port: int
    sender: str
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    name: str = "smtp"

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        if self.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def send(self, message: MailMessage) -> Accepted:
        mail = build(message, sender=self.sender)
        data_sent = False
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password or "")
                data_sent = True
                refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            code = next(iter(exc.recipients.values()))[0]
            raise SendFailure(
                "address_refused", f"SMTP {code}", permanent=code >= 500, code=str(code)
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise SendFailure("auth_refused", f"SMTP {exc.smtp_code}") from None
        except smtplib.SMTPResponseException as exc:
            raise SendFailure(
                "refused", f"SMTP {exc.smtp_code}", permanent=exc.smtp_code >= 500
            ) from None
        except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as exc:
            if data_sent and not isinstance(exc, ConnectionRefusedError):
                raise SendFailure("no_answer", type(exc).__name__, ambiguous=True) from None
            raise SendFailure("unreachable", type(exc).__name__) from None
        if refused:
            raise SendFailure("address_refused", "SMTP", permanent=True)
        return Accepted(provider=self.name, message_id=message.message_id)


@dataclass
class ConsoleMailer:
    """No SMTP server configured: the e-mail is printed (address masked), a simulation."""

    printer: Any = print
    name: str = "console"

    def send(self, message: MailMessage) -> Accepted:
        from bot.sms import mask_email

        self.printer(f"[E-mail simulé] à {mask_email(message.to)} : {message.subject}")
        return Accepted(provider=self.name, message_id=message.message_id, simulated=True)

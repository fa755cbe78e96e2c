"""Jinja environments over `templates/`: every word a person reads lives there.

The folder sits at the top of the repository and is installed as the package `bot.templates`
(see pyproject.toml), so the templates are found the same way from a checkout, an editable
install or a wheel.

Slack text escapes only `&`, `<` and `>` (Slack's own rule); terminal text escapes nothing;
e-mail HTML autoescapes.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from bot.calls import spoken_product

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES_PACKAGE = "bot.templates"

_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")


def date_fr(value: dt.date) -> str:
    """`15/04/2025`: how the agency writes dates, the year on four digits whatever it is
    (`strftime` writes year 1 as `1`; an export can hold `01/01/0001`)."""
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


def long_date_fr(value: dt.date) -> str:
    """`mardi 15 avril 2025`."""
    day = "1er" if value.day == 1 else str(value.day)
    return f"{_DAYS[value.weekday()]} {day} {_MONTHS[value.month - 1]} {value.year}"


def day_fr(value: dt.date, today: dt.date) -> str:
    """`04/12` for a day of the current year, `04/12/2027` otherwise."""
    return value.strftime("%d/%m") if value.year == today.year else date_fr(value)


def long_day_fr(value: dt.date) -> str:
    """`mardi 15 avril`: today's date, the year goes without saying."""
    return long_date_fr(value).rsplit(" ", 1)[0]


_ELIDING = frozenset("aeiouyhàâäéèêëîïôöûüÿæœ")


def de(name: Any) -> str:
    """The preposition before a name, elided before a vowel or a mute h: « d'Agnès »,
    « d'Hélène », « de Julie »."""
    text = str(name)
    return f"d'{text}" if text[:1].casefold() in _ELIDING else f"de {text}"


def join_fr(items: Any, last: str = "et") -> str:
    """`a, b et c`."""
    words = [str(i) for i in items]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {last} {words[-1]}"


def slack_escape(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_unescape(text: str) -> str:
    """The three entities Slack writes for `<`, `>` and `&` (in a slash command's text, in
    mrkdwn) decoded: what the person typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """`0 essai`, `1 essai`, `2 essais`: French takes the singular below 2; the plural is the
    singular with an `s` unless given."""
    return f"{number(count)} {singular if count <= 1 else (plural_form or singular + 's')}"


def number(value: int) -> str:
    """A whole number as French writes it: `100 000`, the thousands apart by a narrow no-break
    space."""
    return f"{value:,}".replace(",", "\u202f")


def plain(text: str) -> str:
    """Slack's mrkdwn as plain text, for a terminal: `<url|label>` → label, `<url>` → url,
    `:emoji:` and the `*` / `_` marks dropped, entities decoded."""
    text = re.sub(r"<([^<>|]*)\|([^<>]*)>", r"\2", text)
    text = re.sub(r"<([^<>]*)>", r"\1", text)
    text = re.sub(r":[a-z0-9_+-]+: ?", "", text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"\1", text)
    return slack_unescape(text)


def _environment(autoescape: bool) -> Environment:
    # Jinja is imported here, not with the module: the importer writes dates with `date_fr`
    # and never renders a template.
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader(TEMPLATES_PACKAGE, "."),
        autoescape=select_autoescape(["html"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        date_fr=date_fr,
        long_date_fr=long_date_fr,
        day_fr=day_fr,
        long_day_fr=long_day_fr,
        de=de,
        join_fr=join_fr,
        product_word=spoken_product,
        slack=slack_escape,
        plural=plural,
        number=number,
    )
    return env


def macros(name: str) -> Any:
    """A template's macros, to word one thing from code: `macros("slack/card.j2").reason(code)`."""
    return environment().get_template(name).module


@lru_cache(maxsize=2)
def environment(*, html: bool = False) -> Environment:
    return _environment(html)


def render(name: str, **context: Any) -> str:
    return environment(html=name.endswith(".html")).get_template(name).render(**context).strip()

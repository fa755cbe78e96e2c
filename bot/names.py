"""People's names as the CRM export writes them: shown in one casing, compared without regard
to case, accents and order, and the client's civility.

Pure functions of plain values (no database, no Slack). They return names and codes; the
sentences that use them live in `templates/`.

- **Casing.** The export mixes « Sophie López » and « Mehdi GUYOT ». A word written all in
  capitals (two letters or more) is shown with a capital initial (« Guyot », « Étienne »,
  « Dupont-Moreau », « Le Gall »; the particles « de », « du », « des », « d' » before
  another word in lower case); other words are kept as written (« McKenzie », « López »,
  « de la Tour »), unless the whole name was typed in lower case. Company names are not
  touched: capitals are part of them (« SARL »).
- **The seller.** The export's `Vendeur` is free text (« Agnès Fournier », « FOURNIER Agnès »,
  « A. Fournier », « agnes fournier »); the advisor has a first and a last name. They are
  compared folded (case, accents, hyphens, order). The seller is the advisor when the names
  match, or when the seller gives the advisor's last name with the initial of (or without) the
  first name. A seller with the advisor's first name and another last name is a namesake
  (named in full in the script, never by the first name alone). A seller written with the
  advisor's first name only cannot be told apart: the script then names no seller.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

_PARTICLES = frozenset({"de", "du", "des"})
_ELIDED_PARTICLE = re.compile(r"^(d)['’](.+)$", re.IGNORECASE)


def fold(text: str) -> str:
    """Lower case, no accents, words separated by one space (« Jean-Éric » → « jean eric »)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(w for w in re.split(r"[^a-z0-9]+", plain) if w)


def fold_key(text: str) -> str:
    """Case, accents and everything but letters and digits folded away: `Résilié` → `resilie`,
    « Rouvière » and « ROUVIERE » one key (the imports' vocabulary and the settings' branch
    names compare by it)."""
    decomposed = unicodedata.normalize("NFKD", text).casefold()
    return "".join(c for c in decomposed if c.isalnum())


def _is_capitals(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _is_lower(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return bool(letters) and all(c.islower() for c in letters)


def _initials_word(word: str) -> bool:
    """« JP », « J.-P. »: initials, not a name (letters, dots and hyphens, no vowel)."""
    letters = [c for c in fold(word) if c.isalpha()]
    return (
        0 < len(letters) <= 2
        and all(c.isalpha() or c in ".-" for c in word)
        and not set(letters) & set("aeiouy")
    )


def _capitalize(word: str) -> str:
    """« DUPONT-MOREAU » → « Dupont-Moreau », « D'ALMEIDA » → « D'Almeida »."""
    return re.sub(r"[^\W\d_]+", lambda m: m.group(0)[:1].upper() + m.group(0)[1:].lower(), word)


def proper_case(name: str | None) -> str:
    """A person's name in one casing: words in capitals get a capital initial only; words in
    mixed case are kept as written."""
    if not name:
        return ""
    words = name.split()
    typed_lower = all(_is_lower(w) or not any(c.isalpha() for c in w) for w in words)
    out: list[str] = []
    for index, word in enumerate(words):
        if not (_is_capitals(word) or (typed_lower and _is_lower(word))) or _initials_word(word):
            out.append(word)  # as the CRM writes it: « López », « McKenzie », « de la », « JP »
            continue
        elided = _ELIDED_PARTICLE.match(word)
        if elided and len(words) > 1:
            out.append("d'" + _capitalize(elided.group(2)))
        elif word.lower() in _PARTICLES and index < len(words) - 1:
            out.append(word.lower())
        else:
            out.append(_capitalize(word))
    return " ".join(out)


def person_name(first_name: str | None, last_name: str | None) -> str:
    """« Sophie López », « Mehdi Guyot »: first name then last name, in one casing."""
    return " ".join(p for p in (proper_case(first_name), proper_case(last_name)) if p)


# --- Civility -------------------------------------------------------------------------------


class Civility(enum.StrEnum):
    """The client's civility, by code (the words « Madame », « assurée »… are in templates)."""

    MADAME = "mme"
    MONSIEUR = "m"


_CIVILITIES = {
    "mme": Civility.MADAME,
    "madame": Civility.MADAME,
    "mlle": Civility.MADAME,
    "mademoiselle": Civility.MADAME,
    "m": Civility.MONSIEUR,
    "mr": Civility.MONSIEUR,
    "monsieur": Civility.MONSIEUR,
}


def civility_of(label: str | None) -> Civility | None:
    """`Mme`, `Madame`, `Mlle` → MADAME; `M.`, `Mr`, `Monsieur` → MONSIEUR; else None (`M. et
    Mme`, empty…: the script then makes no agreement and uses no civility)."""
    return _CIVILITIES.get(fold(label or ""))


# --- The seller -----------------------------------------------------------------------------


class SellerRole(enum.StrEnum):
    """Who the seller of a contract is, for the advisor who calls."""

    ADVISOR = "advisor"  # the advisor sold it: « c'est moi qui ai assuré… »
    NAMESAKE = "namesake"  # a colleague with the advisor's first name: named in full
    COLLEAGUE = "colleague"  # someone else: named by the first name
    UNSURE = "unsure"  # only the advisor's first name is written: could be either


@dataclass(frozen=True, slots=True)
class Seller:
    """A seller as the export writes it, read: `first_name` as the script says it, `full_name`
    (first name then last name, one casing), and `role` for the advisor who calls."""

    written: str
    first_name: str
    full_name: str
    role: SellerRole


def _split_seller(written: str) -> tuple[list[str], list[str]]:
    """First-name words and last-name words. « FOURNIER Agnès » → (Agnès, FOURNIER): a CRM
    that writes the last name in capitals gives it away; otherwise the first word is the first
    name (« Agnès Fournier », « Jean-Pierre Martin »)."""
    words = written.split()
    # A last name in capitals: words of three letters or more, or shorter ones next to another
    # word in capitals (« LE GALL »), not an initial like « JP ».
    caps = [_is_capitals(w) for w in words]
    last = [
        caps[i]
        and (len(words[i]) >= 3 or (i > 0 and caps[i - 1]) or (i + 1 < len(words) and caps[i + 1]))
        for i in range(len(words))
    ]
    if any(last) and not all(last):
        return (
            [w for w, is_last in zip(words, last, strict=True) if not is_last],
            [w for w, is_last in zip(words, last, strict=True) if is_last],
        )
    return words[:1], words[1:]


def _initials(words: list[str]) -> bool:
    return bool(words) and all(len(w) == 1 for w in words)


def seller_role(written: str, *, advisor_first_name: str, advisor_last_name: str) -> SellerRole:
    """Whether the seller is the advisor, a namesake, a colleague, or cannot be told apart."""
    seller = fold(written).split()
    first = fold(advisor_first_name).split()
    last = fold(advisor_last_name).split()
    if not seller:
        return SellerRole.UNSURE
    if last and sorted(seller) == sorted(first + last):
        return SellerRole.ADVISOR
    rest = list(seller)
    if last and all(word in rest for word in last):
        for word in last:
            rest.remove(word)
        # « Fournier », « A. Fournier », « Fournier A. », « JP Martin »: the advisor's last
        # name, with the first name's initials or nothing.
        initials = "".join(w[0] for w in first)
        if (
            not rest
            or "".join(rest) == initials
            or (_initials(rest) and initials.startswith("".join(rest)))
        ):
            return SellerRole.ADVISOR
    if first and seller == first:
        return SellerRole.UNSURE
    first_words, _ = _split_seller(written)
    if first and fold(" ".join(first_words)).split() == first:
        return SellerRole.NAMESAKE
    return SellerRole.COLLEAGUE


def read_seller(written: str, *, advisor_first_name: str, advisor_last_name: str) -> Seller:
    first_words, last_words = _split_seller(written.strip())
    if _initials([w.rstrip(".") for w in first_words]) or _initials(
        [w.rstrip(".") for w in last_words]
    ):
        # « M. Langlois », « Langlois M. »: no first name to say, the name as written.
        first_name = full_name = proper_case(written.strip())
    else:
        first_name = proper_case(" ".join(first_words))
        full_name = " ".join(p for p in (first_name, proper_case(" ".join(last_words))) if p)
    role = seller_role(
        written, advisor_first_name=advisor_first_name, advisor_last_name=advisor_last_name
    )
    return Seller(written=written, first_name=first_name, full_name=full_name, role=role)

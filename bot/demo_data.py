"""Invented CRM ("Lagon") portfolio exports, for demos, tests and benchmarks.

`generate_rows()` returns contract rows in exactly the column layout of the agency's export
(`tests/data/sample/portfolio.csv`): French labels, French dates (`15/01/2025`), decimal
commas with spaces as thousands separators, phone numbers in mixed formats. `write_csv()` writes
them as the CRM does: `;`-separated, Windows-1252, CRLF.

Everything is drawn from `random.Random(seed)` and dated relative to the `today` argument: the
same arguments give the same rows, and the module never reads the clock. All names, numbers,
companies and addresses are invented (e-mails use the reserved `example.*` domains).

Effect dates are spread so that, on `today`, the portfolio holds M+3 windows (effect + 3 months
± 7 days) of every kind: opening today, open, passed but before effect + 4 months (late), not
yet open (upcoming), and long gone (old contracts). The first clients (as many as there are
kinds) each hold an active new-business (`AN`) contract of one kind, so that even a tiny
portfolio shows each of them; the rest is random.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dateutil.relativedelta import relativedelta

HEADER: tuple[str, ...] = (
    "N° client",
    "Type client",
    "Civilité",
    "Nom",
    "Prénom",
    "Raison sociale",
    "Adresse",
    "Code postal",
    "Ville",
    "Téléphone",
    "E-mail",
    "Situation familiale",
    "Situation professionnelle",
    "SIRET",
    "Code NAF",
    "Activité",
    "Chiffre d'affaires",
    "Effectif",
    "Contact assurances",
    "Agence",
    "Chargé de clientèle",
    "N° contrat",
    "Produit",
    "Origine",
    "Date d'effet",
    "Statut contrat",
    "Date de résiliation",
    "Vendeur",
    "DP signées",
    "Pièces manquantes",
)

ENCODING = "cp1252"
DELIMITER = ";"

# --- Invented identities -------------------------------------------------------------------

_FIRST_NAMES_F = (
    "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Sophie", "Christine", "Julie",
    "Camille", "Léa", "Chloé", "Manon", "Emma", "Inès", "Sarah", "Laura", "Céline", "Aurélie",
    "Émilie", "Noémie", "Zoé", "Françoise", "Monique", "Hélène", "Élodie", "Agnès", "Anaïs",
    "Mélanie", "Valérie", "Sandrine", "Karima", "Yasmina", "Fatima", "Lucie", "Clémence",
)  # fmt: skip
_FIRST_NAMES_M = (
    "Jean", "Pierre", "Michel", "Philippe", "Alain", "Nicolas", "Laurent", "Thomas", "Julien",
    "Sébastien", "Christophe", "Frédéric", "Hugo", "Lucas", "Louis", "Mehdi", "Karim", "Rémi",
    "Benoît", "Marc", "Olivier", "Stéphane", "Jérôme", "François", "Antoine", "Mathieu",
    "Yanis", "Rachid", "Damien", "Vincent", "Grégory", "Maxime", "Théo", "Gaël", "Cédric",
)  # fmt: skip
_LAST_NAMES = (
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont", "Lambert", "Bonnet",
    "François", "Martinez", "Legrand", "Garnier", "Faure", "Rousseau", "Blanc", "Guérin",
    "Muller", "Henry", "Roussel", "Nicolas", "Perrin", "Morin", "Mathieu", "Clément", "Gauthier",
    "Dumont", "Lopez", "Fontaine", "Chevalier", "Robin", "Masson", "Sanchez", "Gérard", "Nguyen",
    "Boyer", "Denis", "Lemaire", "Duval", "Joly", "Gautier", "Roger", "Roche", "Roy", "Noël",
    "Meyer", "Lucas", "Meunier", "Jean", "Pérez", "Marchand", "Dufour", "Blanchard", "Marie",
    "Barbier", "Brun", "Dumas", "Brunet", "Schmitt", "Leroux", "Colin", "Fernandez", "Pierre",
    "Renard", "Arnaud", "Rolland", "Caron", "Aubert", "Giraud", "Leclerc", "Vidal", "Bourgeois",
    "Renaud", "Lemoine", "Picard", "Gaillard", "Philippe", "Leclercq", "Lacroix", "Fabre",
    "Dupuis", "Olivier", "Rodriguez", "Da Silva", "Hubert", "Louis", "Charles", "Guillot",
    "Rivière", "Le Gall", "Guillaume", "Adam", "Rey", "Moulin", "Gonzalez", "Berger", "Lecomte",
    "Ménard", "Fleury", "Deschamps", "Carpentier", "Julien", "Benoît", "Paris", "Maillard",
    "Marchal", "Aubry", "Vasseur", "Le Roux", "Renault", "Jacquet", "Collet", "Prévost",
    "Poirier", "Charpentier", "Royer", "Huet", "Baron", "Dupuy", "Pons", "Paul", "Laine",
    "Carré", "Breton", "Rémy", "Schneider", "Pelletier", "Lebrun", "Hoarau", "Grondin",
    "Benali", "Haddad", "Bouchet", "Ferrandi", "Santoni", "Giordano", "Orsini", "Lombardi",
)  # fmt: skip

_STREETS = (
    "rue Paradis", "rue de Rome", "boulevard Michelet", "avenue de Mazargues", "rue d'Endoume",
    "rue Sainte", "boulevard Périer", "rue Breteuil", "chemin du Roucas Blanc",
    "traverse de la Gouffonne", "boulevard de la Rouvière", "La Canebière", "cours Julien",
    "boulevard Baille", "avenue du Prado", "rue Saint-Ferréol", "boulevard Chave",
    "rue de la République", "boulevard Longchamp", "boulevard Rabatau",
    "avenue de Saint-Barnabé", "chemin de Château-Gombert", "rue d'Aubagne",
    "boulevard National", "avenue des Chartreux", "rue Sainte-Cécile",
    "boulevard de Sainte-Marguerite", "avenue de Montolivet", "rue du Vallon des Auffes",
    "chemin des Accates", "avenue de la Pointe Rouge", "traverse du Sablier",
    "Corniche Président John Fitzgerald Kennedy", "montée des Oblats", "rue Caisserie",
)  # fmt: skip

_TOWNS: tuple[tuple[str, str, int], ...] = (
    # (postal code, town, weight)
    ("13001", "Marseille", 3),
    ("13004", "Marseille", 3),
    ("13005", "Marseille", 3),
    ("13006", "Marseille", 5),
    ("13007", "Marseille", 5),
    ("13008", "Marseille", 8),
    ("13009", "Marseille", 6),
    ("13010", "Marseille", 4),
    ("13011", "Marseille", 3),
    ("13012", "Marseille", 4),
    ("13013", "Marseille", 3),
    ("13400", "Aubagne", 5),
    ("13260", "Cassis", 3),
    ("13600", "La Ciotat", 4),
    ("13190", "Allauch", 2),
    ("13380", "Plan-de-Cuques", 2),
)

_MARITAL = ("Célibataire", "Marié(e)", "Pacsé(e)", "Divorcé(e)", "Veuf(ve)")
_MARITAL_WEIGHTS = (30, 35, 15, 14, 6)
_PRO_STATUS = ("Salarié", "Retraité", "Fonctionnaire", "Sans emploi", "Étudiant")
_PRO_STATUS_WEIGHTS = (45, 22, 15, 9, 9)

_NAF: tuple[tuple[str, str], ...] = (
    ("6201Z", "Programmation informatique"),
    ("6202A", "Conseil en informatique"),
    ("4778A", "Commerce de détail d'optique"),
    ("5610A", "Restauration traditionnelle"),
    ("5610C", "Restauration rapide"),
    ("1071C", "Boulangerie-pâtisserie"),
    ("9602A", "Coiffure"),
    ("7111Z", "Architecte"),
    ("8690D", "Cabinet infirmier"),
    ("8621Z", "Médecin généraliste"),
    ("8623Z", "Chirurgien-dentiste"),
    ("6920Z", "Expertise comptable"),
    ("4932Z", "Taxi"),
    ("4941B", "Transport de marchandises"),
    ("4322A", "Plomberie, chauffage"),
    ("4321A", "Électricité générale"),
    ("4332A", "Menuiserie"),
    ("4520A", "Garage automobile"),
    ("6831Z", "Agence immobilière"),
    ("4711B", "Épicerie"),
    ("5510Z", "Hôtellerie"),
    ("4120A", "Construction de maisons individuelles"),
)

_COMPANY_FORMS = ("SARL", "SAS", "EURL", "SASU", "SCI")
_COMPANY_SUFFIXES = ("SERVICES", "ET FILS", "CONSEIL", "MÉDITERRANÉE", "PROVENCE", "& ASSOCIÉS")

_PRODUCTS_PERSONAL: tuple[tuple[str, int], ...] = (
    ("Auto", 30),
    ("Habitation", 20),
    ("Santé", 10),
    ("Protection juridique", 8),
    ("Moto", 6),
    ("Prévoyance", 7),
    ("Scolaire", 7),
    ("GAV", 5),
    ("Épargne retraite", 7),
)
_PRODUCTS_PRO: tuple[tuple[str, int], ...] = (
    ("Multirisque pro", 20),
    ("RC pro", 14),
    ("Auto", 16),
    ("Flotte automobile", 6),
    ("Prévoyance", 12),
    ("Santé", 12),
    ("Protection juridique", 8),
    ("Épargne retraite", 6),
    ("Habitation", 6),
)

_PIECES_BY_PRODUCT: dict[str, tuple[str, ...]] = {
    "Auto": ("Carte grise", "Permis de conduire", "Relevé d'information", "CNI"),
    "Moto": ("Carte grise", "Permis de conduire", "Relevé d'information", "CNI"),
    "Flotte automobile": ("Cartes grises", "Relevé d'information", "Kbis"),
    "Habitation": ("Bail", "CNI"),
    "Multirisque pro": ("Kbis", "Bail commercial", "CNI"),
    "RC pro": ("Kbis", "CNI"),
}
_PIECES_DEFAULT: tuple[str, ...] = ("CNI",)

_ORIGINS = ("AN", "Avenant", "Transfert", "Remplacement")
_ORIGIN_WEIGHTS = (76, 9, 8, 7)
_STATUSES = ("Actif", "Résilié", "Suspendu")
_STATUS_WEIGHTS = (90, 7, 3)

# --- Effect dates relative to `today` -------------------------------------------------------

_OPENS_TODAY = "opens_today"  # window (due - 7 days) starts today
_OPEN = "open"  # window started before today and has not closed
_LATE = "late"  # window closed, effect + 4 months not passed
_UPCOMING = "upcoming"  # window not open yet (recent or future effect date)
_OLD = "old"  # effect + 4 months passed
_KINDS = (_OPENS_TODAY, _OPEN, _LATE, _UPCOMING, _OLD)
# About the same number of contracts per effect day in the last months (the density an
# agency's new business has), plus the long tail of old contracts.
_KIND_WEIGHTS = (0.6, 9.0, 9.0, 21.0, 60.4)

_HISTORY_YEARS = 8  # oldest effect dates
_FUTURE_DAYS = 92  # latest effect dates: contracts signed now, taking effect later


def _kind_of(effect: dt.date, today: dt.date) -> str:
    due = effect + relativedelta(months=3)
    start, end = due - dt.timedelta(days=7), due + dt.timedelta(days=7)
    if start == today:
        return _OPENS_TODAY
    if start < today <= end:
        return _OPEN
    if today < start:
        return _UPCOMING
    if today <= effect + relativedelta(months=4):
        return _LATE
    return _OLD


def _effect_dates_by_kind(today: dt.date) -> dict[str, list[dt.date]]:
    """Every candidate effect date, classified by where its window stands on `today`."""
    by_kind: dict[str, list[dt.date]] = {kind: [] for kind in _KINDS}
    day = today - relativedelta(years=_HISTORY_YEARS)
    last = today + dt.timedelta(days=_FUTURE_DAYS)
    while day <= last:
        by_kind[_kind_of(day, today)].append(day)
        day += dt.timedelta(days=1)
    if not by_kind[_OPENS_TODAY]:
        # No effect date has its window opening exactly today (e.g. due 29–31 May: no
        # 29–31 February): take the dates whose window opens first after today.
        first = min(d + relativedelta(months=3) for d in by_kind[_UPCOMING])
        by_kind[_OPENS_TODAY] = [
            d for d in by_kind[_UPCOMING] if d + relativedelta(months=3) == first
        ]
    return by_kind


# --- Formatting -----------------------------------------------------------------------------


def _fr_date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _fr_amount(value: int) -> str:
    """1250000 → '1 250 000,00'."""
    return f"{value:,}".replace(",", " ") + ",00"


def _ascii_slug(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if c.isalnum() and c.isascii())
    return kept.lower()


def _phone(rng: random.Random, *, landline: bool = False) -> str:
    # Mobiles 06/07; landlines of the Marseille area 04 91 / 04 42.
    prefix = rng.choice(("0491", "0442")) if landline else rng.choice(("06", "07"))
    width = 10 - len(prefix)
    digits = prefix + f"{rng.randrange(10**width):0{width}d}"
    pairs = [digits[i : i + 2] for i in range(0, 10, 2)]
    style = rng.choices(("spaced", "compact", "intl", "dotted"), weights=(50, 20, 20, 10))[0]
    if style == "spaced":
        return " ".join(pairs)
    if style == "compact":
        return digits
    if style == "dotted":
        return ".".join(pairs)
    return "+33 " + digits[1] + " " + " ".join(pairs[1:])


def _maybe(rng: random.Random, value: str, *, blank: float) -> str:
    return "" if rng.random() < blank else value


# --- Generation -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Advisor:
    email: str
    branch: str


def _advisors_with_branches(emails: Sequence[str]) -> list[_Advisor]:
    """The branch of an advisor: from the e-mail's domain when it names one, else alternating."""
    advisors = []
    for index, email in enumerate(emails):
        key = _ascii_slug(email.partition("@")[2])
        if "rouviere" in key:
            branch = "Rouvière"
        elif "corniche" in key:
            branch = "Corniche"
        else:
            branch = ("Corniche", "Rouvière")[index % 2]
        advisors.append(_Advisor(email=email, branch=branch))
    return advisors


def _person_name(rng: random.Random) -> tuple[str, str, str]:
    """(civility, first name, last name)."""
    if rng.random() < 0.5:
        return "Mme", rng.choice(_FIRST_NAMES_F), rng.choice(_LAST_NAMES)
    return "M.", rng.choice(_FIRST_NAMES_M), rng.choice(_LAST_NAMES)


def _client_fields(
    rng: random.Random, *, number: int, client_type: str, advisor: _Advisor
) -> dict[str, str]:
    civility, first, last = _person_name(rng)
    postal_code, town = rng.choices(
        [(code, name) for code, name, _ in _TOWNS], weights=[w for _, _, w in _TOWNS]
    )[0]
    email = f"{_ascii_slug(first)}.{_ascii_slug(last)}{rng.randrange(100)}@" + rng.choice(
        ("example.org", "example.com", "example.net")
    )
    personal = client_type == "Particulier"
    fields = {
        "N° client": str(number),
        "Type client": client_type,
        "Civilité": civility,
        # Some CRM records have the last name in capitals, as typed by the agency.
        "Nom": last.upper() if rng.random() < 0.35 else last,
        "Prénom": first,
        "Raison sociale": "",
        "Adresse": f"{rng.randint(1, 300)} {rng.choice(_STREETS)}",
        "Code postal": postal_code,
        "Ville": town,
        "Téléphone": _maybe(rng, _phone(rng), blank=0.03),
        "E-mail": _maybe(rng, email, blank=0.12),
        "Situation familiale": _maybe(
            rng, rng.choices(_MARITAL, weights=_MARITAL_WEIGHTS)[0], blank=0.1
        ),
        "Situation professionnelle": (
            _maybe(rng, rng.choices(_PRO_STATUS, weights=_PRO_STATUS_WEIGHTS)[0], blank=0.12)
            if personal
            else "TNS"
        ),
        "SIRET": "",
        "Code NAF": "",
        "Activité": "",
        "Chiffre d'affaires": "",
        "Effectif": "",
        "Contact assurances": "",
        "Agence": advisor.branch,
        "Chargé de clientèle": advisor.email,
    }
    if personal:
        return fields
    naf, activity = rng.choice(_NAF)
    if client_type == "Professionnel":
        revenue = rng.randrange(60, 1500) * 1000
        headcount = rng.choices(range(10), weights=(35, 20, 12, 9, 7, 5, 4, 3, 3, 2))[0]
    else:
        revenue = rng.randrange(300, 12000) * 1000
        headcount = rng.randint(2, 120)
    # The pro fields are filled; a few are blank, as in real exports (the CRM check finds them).
    fields.update(
        {
            "SIRET": f"{rng.randrange(10**14):014d}",
            "Code NAF": _maybe(rng, naf, blank=0.05),
            "Activité": activity,
            "Chiffre d'affaires": _maybe(rng, _fr_amount(revenue), blank=0.05),
            "Effectif": _maybe(rng, str(headcount), blank=0.05),
        }
    )
    if client_type == "Entreprise":
        company = f"{rng.choice(_COMPANY_FORMS)} {rng.choice(_LAST_NAMES).upper()}"
        if rng.random() < 0.7:
            company += " " + rng.choice(_COMPANY_SUFFIXES)
        fields["Raison sociale"] = company
        _, contact_first, contact_last = _person_name(rng)
        fields["Contact assurances"] = f"{contact_first} {contact_last}"
        if rng.random() < 0.3:
            fields["Téléphone"] = _phone(rng, landline=True)
    return fields


def _missing_pieces(rng: random.Random, product: str, *, dp_signed: bool) -> str:
    if rng.random() >= (0.2 if dp_signed else 0.5):
        return ""
    pool = _PIECES_BY_PRODUCT.get(product, _PIECES_DEFAULT)
    count = rng.randint(1, min(2, len(pool)))
    chosen = set(rng.sample(pool, count))
    return ", ".join(piece for piece in pool if piece in chosen)


def _contract_number(rng: random.Random, used: set[str]) -> str:
    while True:
        number = rng.choice(("AL", "AZ")) + f"{rng.randrange(10**9):09d}"
        if number not in used:
            used.add(number)
            return number


def generate_rows(
    *, today: dt.date, advisors: Sequence[str], clients: int, seed: int = 0
) -> list[dict[str, str]]:
    """One dict per contract (keys: `HEADER`), about 1–4 contracts for each of `clients` clients.

    Rows come in no particular order (shuffled, like a CRM export); a client's identity and
    advisor are the same on all its rows.
    """
    if not advisors:
        raise ValueError("advisors must name at least one advisor e-mail")
    if clients < 0:
        raise ValueError("clients must be >= 0")
    rng = random.Random(seed)
    staff = _advisors_with_branches(advisors)
    sellers = [f"{first} {last}" for _, first, last in (_person_name(rng) for _ in range(12))]
    effects = _effect_dates_by_kind(today)
    used_contracts: set[str] = set()
    rows: list[dict[str, str]] = []
    number = 100000
    for index in range(clients):
        number += rng.randint(1, 3)
        client_type = rng.choices(
            ("Particulier", "Professionnel", "Entreprise"), weights=(70, 20, 10)
        )[0]
        client = _client_fields(
            rng, number=number, client_type=client_type, advisor=rng.choice(staff)
        )
        products = _PRODUCTS_PERSONAL if client_type == "Particulier" else _PRODUCTS_PRO
        main_seller = rng.choice(sellers)
        contracts = rng.choices((1, 2, 3, 4), weights=(40, 30, 20, 10))[0]
        # The first clients show every kind of window: one active AN contract each, their
        # other contracts old.
        forced_kind = _KINDS[index] if index < len(_KINDS) else None
        for position in range(contracts):
            if forced_kind is not None:
                kind = forced_kind if position == 0 else _OLD
            else:
                kind = rng.choices(_KINDS, weights=_KIND_WEIGHTS)[0]
            effect = rng.choice(effects[kind])
            product = rng.choices([p for p, _ in products], weights=[w for _, w in products])[0]
            if forced_kind is not None and position == 0:
                origin, status = "AN", "Actif"
            else:
                origin = rng.choices(_ORIGINS, weights=_ORIGIN_WEIGHTS)[0]
                status = rng.choices(_STATUSES, weights=_STATUS_WEIGHTS)[0]
            terminated = ""
            if status == "Résilié":
                days_active = (today - effect).days
                if days_active < 1:
                    status = "Actif"  # not terminated before it even took effect
                else:
                    span = min(days_active, 730)
                    terminated = _fr_date(effect + dt.timedelta(days=rng.randint(1, span)))
            dp_signed = rng.random() < 0.8
            rows.append(
                {
                    **client,
                    "N° contrat": _contract_number(rng, used_contracts),
                    "Produit": product,
                    "Origine": origin,
                    "Date d'effet": _fr_date(effect),
                    "Statut contrat": status,
                    "Date de résiliation": terminated,
                    "Vendeur": main_seller if rng.random() < 0.7 else rng.choice(sellers),
                    "DP signées": "Oui" if dp_signed else "Non",
                    "Pièces manquantes": _missing_pieces(rng, product, dp_signed=dp_signed),
                }
            )
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: Iterable[dict[str, str]]) -> None:
    """Write rows as the CRM exports them: `;`, Windows-1252 (unmappable → `?`), CRLF."""
    with path.open("w", encoding=ENCODING, errors="replace", newline="") as handle:
        writer = csv.DictWriter(
            handle, fieldnames=HEADER, delimiter=DELIMITER, lineterminator="\r\n", restval=""
        )
        writer.writeheader()
        writer.writerows(rows)


# --- Advisors -------------------------------------------------------------------------------


def demo_advisors_csv() -> Path:
    """The packaged demo staff file (`E-mail;Prénom;Nom;Téléphone;Agence;Rôle`)."""
    return Path(__file__).parent / "demo-data" / "advisors.csv"


def _header_key(name: str) -> str:
    return _ascii_slug(name.replace("-", ""))


def advisor_emails(path: Path, role: str | None = "Conseiller") -> list[str]:
    """The e-mails of the staff with this role (`Conseiller` by default; None: everyone), in
    file order."""
    raw = path.read_bytes()
    text = raw[3:].decode("utf-8") if raw.startswith(b"\xef\xbb\xbf") else raw.decode(ENCODING)
    reader = csv.reader(text.splitlines(), delimiter=DELIMITER)
    header = [_header_key(name) for name in next(reader, [])]
    try:
        email_at, role_at = header.index("email"), header.index("role")
    except ValueError as exc:
        raise ValueError(f"{path}: columns E-mail and Rôle expected") from exc
    emails = []
    for record in reader:
        if len(record) <= max(email_at, role_at):
            continue
        wanted = role is None or _ascii_slug(record[role_at]) == _ascii_slug(role)
        if wanted and record[email_at].strip():
            emails.append(record[email_at].strip())
    return emails

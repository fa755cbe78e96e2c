"""The words of the CRM export: header names and how they are matched, the fields of each
file, and the vocabularies of values (client types, origins, contract statuses).

Headers are matched without regard to case, accents, spaces, hyphens, underscores,
apostrophes and the `N°`/`Num`/`Numéro` prefix (`normalize_header`); `match_headers()` maps a
header to the fields, or refuses the file when a required one is missing or a column is named
twice (a looser name next to the field's own, `Client` next to `N° client`, is left aside).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import pairwise

from bot.crm.reading import FileRefused
from bot.models import ClientType, ContractStatus, Role
from bot.names import fold_key

# --- Header names ----------------------------------------------------------------------------

# A number's prefix (`N°`, `No`, `Num`, `Numéro`; `Nº` and `№` read as `No` once decomposed),
# with or without `de`. Longest first: `num` must not take the start of `numero`.
_PREFIX = re.compile(r"^(?:numero|num|no|n°)(?:de)?(?=[a-z]|$)")


def normalize_header(name: str) -> str:
    """Fold case, accents, spaces, hyphens, underscores, apostrophes and the number prefix:
    `N° client`, `Numéro de client` and `NUMERO_CLIENT` all read `client`."""
    return re.sub(r"[^a-z0-9]", "", _PREFIX.sub("", _folded(name)))


def _folded(name: str) -> str:
    """Without its accents, and without the invisible characters a spreadsheet can leave in a
    name (a zero-width space, a soft hyphen: Unicode's format characters), which a row's cells
    lose too: `Nom` after a zero-width space is `Nom`."""
    text = unicodedata.normalize("NFKD", str(name)).casefold()
    text = "".join(
        c for c in text if not unicodedata.combining(c) and unicodedata.category(c) != "Cf"
    )
    return re.sub(r"[\s\-_'’`.]+", "", text)


PORTFOLIO_FIELDS: dict[str, tuple[str, ...]] = {
    "client_number": ("N° client", "Num client", "Numéro client", "Code client", "Client"),
    "client_type": ("Type client", "Type de client", "Type personne", "Nature client"),
    "civility": ("Civilité", "Titre"),
    "last_name": ("Nom", "Nom client"),
    "first_name": ("Prénom",),
    "company_name": ("Raison sociale", "Dénomination"),
    "address": ("Adresse", "Adresse 1", "Adresse ligne 1"),
    "postal_code": ("Code postal", "CP"),
    "city": ("Ville", "Commune"),
    "phone": (
        "Téléphone",
        "Tel",
        "Tél",
        "Tel portable",
        "Portable",
        "Mobile",
        "Téléphone mobile",
    ),
    "email": ("E-mail", "Email", "Mail", "Adresse mail", "Courriel"),
    "marital_status": ("Situation familiale", "Situation matrimoniale"),
    "professional_status": ("Situation professionnelle", "Situation pro", "CSP"),
    "siret": ("SIRET", "N° SIRET", "SIREN/SIRET", "SIREN"),
    "naf_code": ("Code NAF", "NAF", "Code APE", "APE"),
    "activity": ("Activité", "Activité exacte", "Profession"),
    "revenue": ("Chiffre d'affaires", "CA", "CA annuel"),
    "headcount": ("Effectif", "Nombre de salariés"),
    "insurance_contact": (
        "Contact assurances",
        "Interlocuteur assurances",
        "Décideur",
        "Gérant",
    ),
    "branch": ("Agence", "Point de vente"),
    "advisor": (
        "Chargé de clientèle",
        "Conseiller",
        "Chargé de clientèle (e-mail)",
        "Gestionnaire",
    ),
    "contract_number": ("N° contrat", "Num contrat", "Numéro de contrat", "Contrat", "Police"),
    "product": ("Produit", "Branche", "Famille produit"),
    "origin": ("Origine", "Type d'affaire", "Nature affaire"),
    "effect_date": ("Date d'effet", "Date effet", "Effet"),
    "contract_status": ("Statut contrat", "Statut", "État contrat", "Situation contrat"),
    "termination_date": ("Date de résiliation", "Date résiliation", "Résilié le"),
    "seller": ("Vendeur", "Apporteur", "Souscripteur"),
    "dp_signed": ("DP signées", "DP signée", "Dispositions particulières signées"),
    "missing_pieces": ("Pièces manquantes", "Pièces à fournir"),
}
PORTFOLIO_REQUIRED = (
    "client_number",
    "client_type",
    "contract_number",
    "origin",
    "effect_date",
    "advisor",
)

ADVISOR_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("E-mail", "Email", "Mail", "Adresse mail", "Courriel"),
    "first_name": ("Prénom",),
    "last_name": ("Nom",),
    "phone": ("Téléphone", "Tel", "Tél", "Portable", "Mobile", "Ligne directe"),
    "branch": ("Agence", "Point de vente"),
    "role": ("Rôle", "Fonction", "Profil"),
}
# What the bot needs of each person: the e-mail (the key, and the Slack match) and the names
# (the portfolio's advisor column may hold "Prénom Nom"; the call script uses the first name).
ADVISOR_REQUIRED = ("email", "first_name", "last_name")

# The words of a staff file's role column, accents and case aside (`role_of`). A manager sees
# the team's cases and stats: only a word of this list gives it.
_MANAGER_WORDS = frozenset(
    {
        "manager",
        "managers",
        "manageur",
        "manageuse",
        "directeur",
        "directrice",
        "direction",
        "responsable",
        "chef",
        "cheffe",
        "gerant",
        "gerante",
        "superviseur",
        "superviseuse",
    }
)
_ADVISOR_WORDS = frozenset(
    {
        "conseiller",
        "conseillere",
        "conseil",
        "charge",
        "chargee",
        "commercial",
        "commerciale",
        "collaborateur",
        "collaboratrice",
        "gestionnaire",
        "assistant",
        "assistante",
        "vendeur",
        "vendeuse",
        "souscripteur",
        "souscriptrice",
        "agent",
        "agente",
        "attache",
        "attachee",
        "clientele",
        "advisor",
    }
)
# A word that undoes the one after it: « Non manager », « Ex-directrice », « Ancien gérant »
# (« Manager sans portefeuille » is still a manager).
_NEGATIONS = frozenset({"non", "pas", "ex", "ancien", "ancienne"})
# Who assists is no manager (« Assistante de direction »).
_ASSISTANTS = frozenset({"assistant", "assistante", "secretaire"})
# Words of direction that also name an advisor's title with « clientèle » (« Responsable de
# clientèle », « Chef de clientèle »).
_CLIENT_TITLES = frozenset({"responsable", "chef", "cheffe"})


def role_of(text: str) -> tuple[Role, bool]:
    """The role a staff file's role cell gives, and whether the cell was understood.

    « Manager », « Directrice d'agence », « Chef d'agence », « Responsable », « Gérante »,
    « Agent général » (who runs the agency) read as Manager; « Conseillère », « Chargé de
    clientèle », « Responsable de clientèle », « Commercial »… and an empty cell as
    Conseiller, and so does a word of direction undone (« Non manager », « Ex-directeur »,
    « Assistante de direction »). A text the lists do not know reads as Conseiller, which
    gives no right over the team, and is not understood (the import flags it)."""
    words = [fold(word) for word in re.split(r"[\W_]+", text) if word]
    words = [word for word in words if word]
    if not words:
        return Role.ADVISOR, True
    general = any(
        word in ("agent", "agente") and following in ("general", "generale")
        for word, following in pairwise(words)
    )
    directing = [
        word
        for previous, word in pairwise(["", *words])
        if word in _MANAGER_WORDS and previous not in _NEGATIONS
    ]
    if "clientele" in words:
        directing = [word for word in directing if word not in _CLIENT_TITLES]
    if _ASSISTANTS.isdisjoint(words) and (general or directing):
        return Role.MANAGER, True
    known = _MANAGER_WORDS | _ADVISOR_WORDS | _ASSISTANTS
    return Role.ADVISOR, not known.isdisjoint(words)


def find_headers(header: list[str], fields: dict[str, tuple[str, ...]]) -> set[str]:
    """The fields of `fields` that the header holds."""
    names = {normalize_header(name) for name in header}
    return {
        field
        for field, aliases in fields.items()
        if any(normalize_header(alias) in names for alias in aliases)
    }


def _spelled(name: str) -> str:
    """`normalize_header` keeping that a number prefix is there (as `no`): `N° client` and
    `Numéro de client` spell `noclient`, `Client` spells `client`."""
    return re.sub(r"[^a-z0-9]", "", _PREFIX.sub("no", _folded(name)))


def numbered(name: str) -> bool:
    """Whether a header name carries a number prefix: `N° contrat`, `Numéro de police`, not
    `Contrat`."""
    return _spelled(name) == "no" + normalize_header(name)


class MissingColumns(FileRefused):
    """A required column the header does not name."""


def match_headers(
    header: list[str], fields: dict[str, tuple[str, ...]], required: tuple[str, ...]
) -> dict[str, int]:
    """Column index of each known field; `FileRefused` when a required one is missing, or
    when a column is named twice (which one would hold the value?).

    Headers that read the same once folded are one column named twice, unless one names it
    more closely: its strength is the position, in the field's aliases, of the first alias it
    spells with its number prefix (the field's own name first), and a header that spells none
    comes after them all. Only the closest is read; the others are left aside like unknown
    columns: next to `N° client`, a `Client` column (often the client's name) is not the
    client number; `Contrat` next to `N° contrat` the same. Two headers as close as each
    other (`N° client` and `Numéro client`, `Client` and `CLIENT`) refuse the file."""
    loosest = max((len(aliases) for aliases in fields.values()), default=0)
    spelled_aliases: dict[tuple[str, str], int] = {}
    for aliases in fields.values():
        for position, alias in enumerate(aliases):
            spelled_aliases.setdefault((normalize_header(alias), _spelled(alias)), position)
    same: dict[str, list[tuple[int, int]]] = {}  # folded name: (strength, index) of each
    for index, name in enumerate(header):
        key = normalize_header(name)
        if key:
            strength = spelled_aliases.get((key, _spelled(name)), loosest)
            same.setdefault(key, []).append((strength, index))
    positions: dict[str, int] = {}
    for key, columns in same.items():
        closest = min(strength for strength, _ in columns)
        indexes = [index for strength, index in columns if strength == closest]
        if len(indexes) > 1:
            first, second = indexes[:2]
            earlier, later = str(header[first]).strip(), str(header[second]).strip()
            both = "" if earlier == later else f" : « {earlier} » et « {later} »"
            raise FileRefused(
                f"colonne « {later} » en double (colonnes {first + 1} et {second + 1}{both}) : "
                "l'import ne peut pas savoir laquelle lire ; supprimez ou renommez l'une des deux"
            )
        positions[key] = indexes[0]
    mapping: dict[str, int] = {}
    for field, aliases in fields.items():
        for alias in aliases:
            index_or_none = positions.get(normalize_header(alias))
            if index_or_none is not None:
                mapping[field] = index_or_none
                break
    missing = [fields[f][0] for f in required if f not in mapping]
    if missing:
        plural = len(missing) > 1
        raise MissingColumns(
            ("colonnes obligatoires introuvables" if plural else "colonne obligatoire introuvable")
            + "\u00a0: "
            + ", ".join(f"«\u00a0{m}\u00a0»" for m in missing)
            + ". Colonnes lues\u00a0: "
            + ", ".join(f"«\u00a0{h}\u00a0»" for h in header if str(h).strip())
        )
    return mapping


# --- Values ----------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """`bot.names.fold_key`, remembered: an export repeats the same few values."""
    return fold_key(text)


CLIENT_TYPES = {
    **dict.fromkeys(("particulier", "part", "personnephysique", "pp"), ClientType.PERSON),
    **dict.fromkeys(
        (
            "professionnel",
            "pro",
            "tns",
            "professionnel(tns)",
            "professionneltns",
            "artisan",
            "commercant",
            "professionliberale",
            "independant",
        ),
        ClientType.PROFESSIONAL,
    ),
    **dict.fromkeys(("entreprise", "societe", "personnemorale", "pm"), ClientType.COMPANY),
}
NEW_BUSINESS = {"an", "affairenouvelle", "nouvelleaffaire", "affnouvelle"}
# The words of an origin label that says "new business" however a CRM spells it out:
# « AN - Affaire nouvelle », « Affaire Nouvelle (AN) », « Affaires nouvelles ».
_NEW_BUSINESS_WORDS = frozenset(
    {"an", "aff", "affaire", "affaires", "nouv", "nouvelle", "nouvelles", "nouveau", "nouveaux"}
)


# Origins that are known not to be new business, folded: no need to point them out.
OTHER_ORIGINS = frozenset(
    {
        *("avenant", "transfert", "remplacement", "remplacementan", "renouvellement"),
        *("reprise", "substitution", "portabilite", "transformation", "mutation"),
        *("modification", "changementdeproduit", "affaireremplacee"),
    }
)


def is_new_business(origin: str) -> bool:
    """Whether a contract's origin says AN (affaire nouvelle): one of `NEW_BUSINESS` once
    folded, or only the words of one (`_NEW_BUSINESS_WORDS`) with « AN » or an « affaire »
    among them. Any other label (« Avenant », « Transfert », « Remplacement AN »…) is not."""
    if fold(origin) in NEW_BUSINESS:
        return True
    words = set(re.findall(r"[a-z0-9]+", unicodedata.normalize("NFKD", origin).casefold()))
    return (
        bool(words)
        and words <= _NEW_BUSINESS_WORDS
        and bool(words & {"an", "affaire", "affaires", "aff"})
        and bool(words & {"an", "nouv", "nouvelle", "nouvelles", "nouveau", "nouveaux"})
    )


STATUSES = {
    **dict.fromkeys(
        ("actif", "active", "encours", "envigueur", "valide", "enregle"), ContractStatus.ACTIVE
    ),
    **dict.fromkeys(
        ("resilie", "resiliee", "resiliation", "annule", "sanseffet", "clos", "termine"),
        ContractStatus.TERMINATED,
    ),
    **dict.fromkeys(("suspendu", "suspendue", "suspension"), ContractStatus.SUSPENDED),
}

"""After the call: the outcome, the three objectives, the tags, and the rules on calling clients.

Pure functions of plain values, like `bot.rules`: no database, no Slack, no clock read (callers
pass `today` or `now`, zone-aware). Words a person reads live in `templates/`; this module
returns codes (enums), never French sentences. The values of `MaritalStatus`,
`ProfessionalStatus` and `Product.crm_label` are the CRM's own vocabulary (data, not wording).

Choices the domain page leaves open, made as an agency would:

- **Call tag** ("Appel téléphonique OK" = the client was reached). `joint`, `rappel` (the client
  answered and asked to be called back) and `refus` (the client answered and declined the
  review) reach the client: call OK. `messagerie`, `pas_de_reponse`, `numero_errone`: call KO.
  A call tag once OK stays OK: a later voicemail does not "un-reach" the client.
- **Mise à jour fiche Lagon** is assessed only when the client was reached: OK when every field
  of objective 1 for the client's type was validated with the client, else KO. A wrong number
  sets it KO (the record holds a number known to be wrong). Voicemail and no answer leave it as
  it was (not set until someone talks to the client).
- **Bilan effectué** is assessed only when the client was reached: OK when the advisor says the
  review was done *and* objectives 1 and 2 are done — the guide (« Points de vigilance ») says
  not to move to the commercial part without validating objectives 1 and 2. A refusal sets it
  KO unless a previous call already did the review. Voicemail and no answer leave it as it was.
- **SMS/Mail coordonnées** is never set here: only the real delivery of the contact card sets it.
- **Status** is `bot.rules.status_from_tags`: À faire until the call is OK, Terminé when all four
  tags are OK, En cours between. A refusal therefore leaves the case En cours (call OK, review
  KO); `may_call` keeps anyone from calling again for 60 days, past the case's deadline.
- **completed_on** is the day the case becomes Terminé (kept if it already was), and is cleared
  if a later capture makes it no longer Terminé.
- **Objective 2 is done** when the special conditions (DP) are signed, the quotes/projects are
  signed (or there is none to sign: the advisor ticks it) and no piece is missing.
- **Follow-up**: after voicemail, no answer or a wrong number, a next-try date (default: the next
  working day); after `rappel`, the callback date and time agreed with the client.
- **Gap hints** follow the domain page's table. Unknown facts suggest nothing, except the home
  (for a person or a self-employed client: everyone lives somewhere) and the premises (for a
  professional or a company): the advisor confirms or removes them. A product held with us is
  never suggested; one held elsewhere stays suggested (the aim is "tous ses contrats chez
  nous"), flagged as such.

**Rules on calling clients** (`CallRules`, setting `M3_CALL_RULES` = `strict` or `off`):
Code de la consommation, art. D223-9 (created by décret n° 2022-1313 of 13 October 2022, in
force since 1 March 2023), on telephone solicitation of a consumer for commercial prospection:

- calls only Monday to Friday, except public holidays (Code du travail, art. L3133-1), from 10:00
  to 13:00 and from 14:00 to 20:00 (ranges taken as half-open: 12:59 yes, 13:00 no);
- no more than four calls or attempted calls to the same consumer within thirty calendar days;
- after the consumer refused during a telephone conversation, no new solicitation before sixty
  calendar days from the date of the refusal.

Per the agency's reading: the M+3 call has a commercial part (objective 3), so every client is
treated as a consumer under these rules, professionals and companies included (one rule for
everyone, on the safe side). The article allows other hours with the client's express, prior and
provable consent; the bot does not rely on that (a callback is still picked inside the ranges).
The hours are read in the agency's time zone (the text says the consumer's; the agency's clients
are local). Periods count calendar days in that zone, the day of the event being day 1 (per the
agency's reading): an attempt made 30 days ago no longer counts, and a client who refused on
1 March may be called again from 30 April. Art. L223-1 (the Bloctel opposition list) excepts
pre-existing contractual relations, which every M+3 client has, and is not checked here; a
client's own objection (`objected_on`) blocks every call whatever the setting.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot.names import fold
from bot.rules import (
    ClientType,
    Status,
    TagValue,
    is_public_holiday,
    next_working_day,
    status_from_tags,
)

# --- The call's outcome ---------------------------------------------------------------------


class Outcome(enum.StrEnum):
    """Résultat de l'appel."""

    REACHED = "joint"
    VOICEMAIL = "messagerie"
    NO_ANSWER = "pas_de_reponse"
    WRONG_NUMBER = "numero_errone"
    CALLBACK = "rappel"  # rappel demandé: the client answered and asked to be called back
    REFUSED = "refus"  # the client answered and declined the review

    @property
    def reached(self) -> bool:
        """Whether the client was reached (the call tag's meaning)."""
        return self in _REACHED


_REACHED = frozenset({Outcome.REACHED, Outcome.CALLBACK, Outcome.REFUSED})


class FollowUp(enum.StrEnum):
    """What the capture asks for after an outcome."""

    NEXT_TRY = "next_try"  # a date to try again
    CALLBACK = "callback"  # the date and time agreed with the client
    NONE = "none"


def follow_up(outcome: Outcome) -> FollowUp:
    if outcome is Outcome.CALLBACK:
        return FollowUp.CALLBACK
    if outcome.reached:
        return FollowUp.NONE
    return FollowUp.NEXT_TRY


def default_next_try_on(today: dt.date, *, not_before: dt.date | None = None) -> dt.date:
    """The next try's default date: the first working day after `today` (and not before
    `not_before`, e.g. the day `may_call` allows calling again)."""
    day = today + dt.timedelta(days=1)
    if not_before is not None and not_before > day:
        day = not_before
    return next_working_day(day)


CALLBACK_REMINDER_LEAD = dt.timedelta(minutes=10)


def callback_reminder_at(callback_at: dt.datetime) -> dt.datetime:
    """When the advisor is reminded of an agreed callback (a DM, once)."""
    return callback_at - CALLBACK_REMINDER_LEAD


# --- Objective 1: the CRM (Lagon) record ----------------------------------------------------


class CrmField(enum.StrEnum):
    """A field of the client's record checked with the client (objective 1)."""

    ADDRESS = "address"  # full address: street, postal code, city
    PHONE = "phone"
    EMAIL = "email"
    MARITAL_STATUS = "marital_status"
    PROFESSIONAL_STATUS = "professional_status"
    SIRET = "siret"
    NAF_CODE = "naf_code"
    ACTIVITY = "activity"  # activité exacte
    REVENUE = "revenue"  # chiffre d'affaires
    HEADCOUNT = "headcount"  # effectif
    INSURANCE_CONTACT = "insurance_contact"  # who handles insurance at the company
    BRANCH = "branch"  # the right branch (Corniche, Rouvière…)
    ADVISOR = "advisor"  # the right chargé de clientèle


_PERSON_FIELDS: tuple[CrmField, ...] = (
    CrmField.ADDRESS,
    CrmField.PHONE,
    CrmField.EMAIL,
    CrmField.MARITAL_STATUS,
    CrmField.PROFESSIONAL_STATUS,
)
_PROFESSIONAL_FIELDS: tuple[CrmField, ...] = (
    CrmField.SIRET,
    CrmField.NAF_CODE,
    CrmField.ACTIVITY,
    CrmField.REVENUE,
    CrmField.HEADCOUNT,
)
_ALWAYS_FIELDS: tuple[CrmField, ...] = (CrmField.BRANCH, CrmField.ADVISOR)


def crm_fields(client_type: ClientType | str) -> tuple[CrmField, ...]:
    """The fields to validate for a client type, in the guide's order.

    Particulier: address, phone, e-mail, marital and professional status. Professionnel (TNS):
    the same plus SIRET, NAF code, exact activity, revenue, headcount. Entreprise: all of that
    plus the insurance contact. Always: the branch and the advisor (« point obligatoire »).
    """
    kind = ClientType(client_type)
    fields = _PERSON_FIELDS
    if kind in (ClientType.PROFESSIONAL, ClientType.COMPANY):
        fields += _PROFESSIONAL_FIELDS
    if kind is ClientType.COMPANY:
        fields += (CrmField.INSURANCE_CONTACT,)
    return fields + _ALWAYS_FIELDS


def crm_fields_left(
    client_type: ClientType | str, checked: Iterable[CrmField]
) -> tuple[CrmField, ...]:
    """The fields still to validate, in the guide's order."""
    done = set(checked)
    return tuple(f for f in crm_fields(client_type) if f not in done)


def crm_validated(client_type: ClientType | str, checked: Iterable[CrmField]) -> bool:
    """Objective 1 done: every field for the client's type was validated with the client."""
    return not crm_fields_left(client_type, checked)


class MaritalStatus(enum.StrEnum):
    """Situation matrimoniale, as the CRM spells it."""

    SINGLE = "Célibataire"
    MARRIED = "Marié(e)"
    CIVIL_PARTNERSHIP = "Pacsé(e)"
    DIVORCED = "Divorcé(e)"
    WIDOWED = "Veuf(ve)"


class ProfessionalStatus(enum.StrEnum):
    """Situation professionnelle, as the CRM spells it (the guide's « Employé » is the CRM's
    « Salarié »; « Fonctionnaire » appears in the agency's exports)."""

    EMPLOYEE = "Salarié"
    CIVIL_SERVANT = "Fonctionnaire"
    SELF_EMPLOYED = "TNS"
    RETIRED = "Retraité"
    UNEMPLOYED = "Sans emploi"
    STUDENT = "Étudiant"


# --- Products -------------------------------------------------------------------------------


class Product(enum.StrEnum):
    """An insurance product, by code. `crm_label` is the name the CRM export uses."""

    AUTO = "auto"
    MOTO = "moto"
    FLEET = "flotte_automobile"
    HOME = "habitation"
    HEALTH = "sante"
    PERSONAL_PROTECTION = "prevoyance"
    LEGAL_PROTECTION = "protection_juridique"
    ACCIDENT = "gav"  # garantie des accidents de la vie
    BUSINESS_MULTIRISK = "multirisque_pro"
    PROFESSIONAL_LIABILITY = "rc_pro"
    SCHOOL = "scolaire"
    RETIREMENT_SAVINGS = "epargne_retraite"

    @property
    def crm_label(self) -> str:
        return _CRM_LABELS[self]


_CRM_LABELS: dict[Product, str] = {
    Product.AUTO: "Auto",
    Product.MOTO: "Moto",
    Product.FLEET: "Flotte automobile",
    Product.HOME: "Habitation",
    Product.HEALTH: "Santé",
    Product.PERSONAL_PROTECTION: "Prévoyance",
    Product.LEGAL_PROTECTION: "Protection juridique",
    Product.ACCIDENT: "GAV",
    Product.BUSINESS_MULTIRISK: "Multirisque pro",
    Product.PROFESSIONAL_LIABILITY: "RC pro",
    Product.SCHOOL: "Scolaire",
    Product.RETIREMENT_SAVINGS: "Épargne retraite",
}


_PRODUCT_CODES = frozenset(p.value for p in Product)
_PRODUCT_NAMES: dict[str, Product] = {
    **{fold(label): product for product, label in _CRM_LABELS.items()},
    "automobile": Product.AUTO,
    "voiture": Product.AUTO,
    "2 roues": Product.MOTO,
    "deux roues": Product.MOTO,
    "flotte": Product.FLEET,
    "mrh": Product.HOME,
    "multirisque habitation": Product.HOME,
    "sante individuelle": Product.HEALTH,
    "mutuelle": Product.HEALTH,
    "complementaire sante": Product.HEALTH,
    "pj": Product.LEGAL_PROTECTION,
    "garantie des accidents de la vie": Product.ACCIDENT,
    "mrp": Product.BUSINESS_MULTIRISK,
    "multirisque professionnelle": Product.BUSINESS_MULTIRISK,
    "rc professionnelle": Product.PROFESSIONAL_LIABILITY,
    "responsabilite civile professionnelle": Product.PROFESSIONAL_LIABILITY,
    "assurance scolaire": Product.SCHOOL,
    "per": Product.RETIREMENT_SAVINGS,
    "retraite": Product.RETIREMENT_SAVINGS,
}


def product_from_label(label: str) -> Product | None:
    """The product a CRM label (or a code) names, whatever its case and accents; None when the
    label is not one the bot knows (« Assurance emprunteur »…)."""
    folded = fold(label)
    code = folded.replace(" ", "_")
    if code in _PRODUCT_CODES:
        return Product(code)
    return _PRODUCT_NAMES.get(folded)


def _acronym(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def spoken_product(label: str) -> str:
    """A product as a sentence names it (« votre contrat … »): the CRM's label of a known
    product, else the label as exported, in lower case but for its acronyms (« auto »,
    « épargne retraite », « RC pro », « GAV », « assurance emprunteur »)."""
    known = product_from_label(label)
    text = known.crm_label if known is not None else " ".join(label.split())
    return " ".join(w if _acronym(w) else w[:1].lower() + w[1:] for w in text.split())


# --- Objective 2: contracts finalised -------------------------------------------------------


class Piece(enum.StrEnum):
    """A document on file (pièce au dossier), per the guide's checklist."""

    REGISTRATION = "carte_grise"
    DRIVING_LICENCE = "permis"
    IDENTITY = "identite"  # CNI / passeport
    LEASE = "bail"
    OTHER_PROOF = "justificatifs"  # justificatifs divers selon le risque


_VEHICLE_PRODUCTS = frozenset({Product.AUTO, Product.MOTO, Product.FLEET})


def pieces_for(products: Iterable[Product]) -> tuple[Piece, ...]:
    """The pieces to have on file for these products, in the guide's order: vehicle
    registration and driving licence for Auto/Moto (and a fleet), ID card or passport always,
    the lease for Habitation. Other proofs depend on the risk: the advisor adds them."""
    held = set(products)
    pieces: list[Piece] = []
    if held & _VEHICLE_PRODUCTS:
        pieces += [Piece.REGISTRATION, Piece.DRIVING_LICENCE]
    pieces.append(Piece.IDENTITY)
    if Product.HOME in held:
        pieces.append(Piece.LEASE)
    return tuple(pieces)


_PIECE_NAMES: dict[str, Piece] = {
    "carte grise": Piece.REGISTRATION,
    "cartes grises": Piece.REGISTRATION,
    "certificat d immatriculation": Piece.REGISTRATION,
    "permis": Piece.DRIVING_LICENCE,
    "permis de conduire": Piece.DRIVING_LICENCE,
    "cni": Piece.IDENTITY,
    "carte d identite": Piece.IDENTITY,
    "carte nationale d identite": Piece.IDENTITY,
    "passeport": Piece.IDENTITY,
    "cni passeport": Piece.IDENTITY,
    "piece d identite": Piece.IDENTITY,
    "bail": Piece.LEASE,
}


def piece_from_label(label: str) -> Piece:
    """The checklist item a CRM "missing piece" belongs to; anything else (relevé
    d'information, Kbis, titre de propriété, bail commercial…) is a proof depending on the risk."""
    return _PIECE_NAMES.get(fold(label), Piece.OTHER_PROOF)


# --- The objectives and the tags ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Objectives:
    """What the capture says of the three objectives (the case's review so far)."""

    crm_checked: frozenset[CrmField] = frozenset()  # objective 1: fields validated
    dp_signed: bool = False  # objective 2: dispositions particulières signées
    quotes_signed: bool = False  # objective 2: devis / projets signés (or none to sign)
    pieces_missing: frozenset[Piece] = frozenset()  # objective 2: pieces still awaited
    review_done: bool = False  # objective 3: the advisor says the review was done


def contracts_finalised(objectives: Objectives) -> bool:
    """Objective 2 done: DP and quotes signed, no piece missing."""
    return objectives.dp_signed and objectives.quotes_signed and not objectives.pieces_missing


class ReviewBlocker(enum.StrEnum):
    """Why "Bilan effectué" cannot be OK yet."""

    CRM_NOT_VALIDATED = "crm_not_validated"
    CONTRACTS_NOT_FINALISED = "contracts_not_finalised"


def review_blockers(
    client_type: ClientType | str, objectives: Objectives
) -> tuple[ReviewBlocker, ...]:
    """What stops "Bilan effectué" from being OK: objectives 1 and 2 come first (guide, « Points
    de vigilance »: not the commercial part before objectives 1 and 2 are validated)."""
    blockers: list[ReviewBlocker] = []
    if not crm_validated(client_type, objectives.crm_checked):
        blockers.append(ReviewBlocker.CRM_NOT_VALIDATED)
    if not contracts_finalised(objectives):
        blockers.append(ReviewBlocker.CONTRACTS_NOT_FINALISED)
    return tuple(blockers)


def review_allowed(client_type: ClientType | str, objectives: Objectives) -> bool:
    return not review_blockers(client_type, objectives)


def _tag(value: TagValue | str | None) -> TagValue | None:
    return TagValue(value) if value else None


@dataclass(frozen=True, slots=True)
class CaseTags:
    """The case's four tags (None: not set)."""

    call: TagValue | None = None
    crm: TagValue | None = None
    review: TagValue | None = None
    card: TagValue | None = None

    @classmethod
    def of(
        cls,
        *,
        call: TagValue | str | None = None,
        crm: TagValue | str | None = None,
        review: TagValue | str | None = None,
        card: TagValue | str | None = None,
    ) -> CaseTags:
        """From the stored strings (`Case.tag_*`: "OK", "KO" or None)."""
        return cls(call=_tag(call), crm=_tag(crm), review=_tag(review), card=_tag(card))

    def status(self) -> Status:
        return status_from_tags(call=self.call, crm=self.crm, review=self.review, card=self.card)


def _ok(condition: bool) -> TagValue:
    return TagValue.OK if condition else TagValue.KO


def tags_after_call(
    *,
    outcome: Outcome,
    objectives: Objectives,
    client_type: ClientType | str,
    previous: CaseTags,
) -> CaseTags:
    """The case's tags once this call is captured (the card tag is carried over untouched).

    See the module docstring for the rules; in short: call OK when the client was reached (or
    already had been), the CRM and review tags assessed only when the client was reached.
    """
    call = _ok(outcome.reached or previous.call is TagValue.OK)
    if outcome.reached:
        crm: TagValue | None = _ok(crm_validated(client_type, objectives.crm_checked))
    elif outcome is Outcome.WRONG_NUMBER:
        crm = TagValue.KO
    else:
        crm = previous.crm
    if outcome is Outcome.REFUSED:
        review: TagValue | None = _ok(previous.review is TagValue.OK)
    elif outcome.reached:
        review = _ok(objectives.review_done and review_allowed(client_type, objectives))
    else:
        review = previous.review
    return CaseTags(call=call, crm=crm, review=review, card=previous.card)


def completed_on_for(status: Status, *, previous: dt.date | None, today: dt.date) -> dt.date | None:
    """The case's completion day: kept when it was already Terminé, today when it becomes so,
    none when it is not (or no longer) Terminé."""
    if status is not Status.DONE:
        return None
    return previous or today


@dataclass(frozen=True, slots=True)
class CaseUpdate:
    tags: CaseTags
    status: Status
    completed_on: dt.date | None


def after_call(
    *,
    outcome: Outcome,
    objectives: Objectives,
    client_type: ClientType | str,
    previous: CaseTags,
    previous_completed_on: dt.date | None,
    today: dt.date,
) -> CaseUpdate:
    """Tags, status and completion day of a case once a call is captured."""
    tags = tags_after_call(
        outcome=outcome, objectives=objectives, client_type=client_type, previous=previous
    )
    status = tags.status()
    return CaseUpdate(
        tags=tags,
        status=status,
        completed_on=completed_on_for(status, previous=previous_completed_on, today=today),
    )


# --- Objective 3: held elsewhere, gaps, next actions ----------------------------------------


class NextActionKind(enum.StrEnum):
    QUOTE = "devis"  # devis à envoyer
    APPOINTMENT = "rdv"  # rendez-vous à planifier
    DOCUMENTS = "elements"  # éléments à transmettre
    FOLLOW_UP_CALL = "relance"  # relance programmée


class NextActionProblem(enum.StrEnum):
    PAST = "past"
    NOT_A_CALL_DAY = "not_a_call_day"  # a follow-up call on a day calls are not allowed


class GapReason(enum.StrEnum):
    """A row of the domain page's gap table."""

    VEHICLE = "vehicle"  # has a car
    HOME = "home"  # owns or rents a home
    PREMISES = "premises"  # professional with premises
    CHILDREN = "children"  # family with children
    SELF_EMPLOYED_COVER = "self_employed_cover"  # TNS without protection
    LEGAL_PROTECTION = "legal_protection"  # no legal protection
    ACCIDENT_COVER = "accident_cover"  # no accident cover
    SICK_LEAVE_INCOME = "sick_leave_income"  # pro / TNS: income on sick leave
    WEALTH = "wealth"  # retirement, taxes


@dataclass(frozen=True, slots=True)
class ClientSituation:
    """What the bot knows of the client (None: not known)."""

    client_type: ClientType | str
    held: frozenset[Product] = frozenset()  # active contracts with us
    held_elsewhere: frozenset[Product] = frozenset()
    professional_status: str | None = None
    has_vehicle: bool | None = None
    has_home: bool | None = None
    has_premises: bool | None = None
    has_children: bool | None = None
    wealthy: bool | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    product: Product
    reasons: tuple[GapReason, ...]
    held_elsewhere: bool = False


_VEHICLE_HELD = frozenset({Product.AUTO, Product.MOTO, Product.FLEET})


def known_situation(
    *,
    client_type: ClientType | str,
    professional_status: str | None,
    held: Iterable[Product],
    held_elsewhere: Iterable[Product] = (),
    missing_pieces: Iterable[str] = (),
) -> ClientSituation:
    """What the bot knows of a client from the CRM export: every active contract held with us
    (`held`, all of them, not only the case's), the pieces the export lists as missing, and
    the record. Only what the data says is set; the rest stays unknown (None), so that
    `suggest_gaps` asks nothing about it:

    - a vehicle when an Auto, Moto or fleet contract is held;
    - children when a Scolaire contract is held (nothing else in the export tells of them: the
      marital status does not);
    - premises when a Multirisque pro contract is held or a « bail commercial » is on file;
    - wealth never (no column tells of it; the advisor hears of it during the call).
    """
    products = frozenset(held)
    pieces = {fold(p) for p in missing_pieces}
    return ClientSituation(
        client_type=client_type,
        held=products,
        held_elsewhere=frozenset(held_elsewhere),
        professional_status=professional_status,
        has_vehicle=True if products & _VEHICLE_HELD else None,
        has_children=True if Product.SCHOOL in products else None,
        has_premises=(
            True if Product.BUSINESS_MULTIRISK in products or "bail commercial" in pieces else None
        ),
    )


def suggest_gaps(situation: ClientSituation) -> list[Gap]:
    """Contracts the client's situation calls for, with the reasons, in the table's order;
    never one held with us (the advisor keeps, removes or adds)."""
    kind = ClientType(situation.client_type)
    person = kind in (ClientType.PERSON, ClientType.PROFESSIONAL)
    business = kind in (ClientType.PROFESSIONAL, ClientType.COMPANY)
    self_employed = kind is ClientType.PROFESSIONAL or (
        situation.professional_status is not None
        and fold(situation.professional_status) == fold(ProfessionalStatus.SELF_EMPLOYED)
    )
    reasons: dict[Product, list[GapReason]] = {}

    def suggest(reason: GapReason, *products: Product) -> None:
        for product in products:
            reasons.setdefault(product, []).append(reason)

    if situation.has_vehicle and not situation.held & {Product.AUTO, Product.FLEET}:
        suggest(GapReason.VEHICLE, Product.AUTO)
    if situation.has_home or (situation.has_home is None and person):
        suggest(GapReason.HOME, Product.HOME)
    if situation.has_premises or (situation.has_premises is None and business):
        suggest(GapReason.PREMISES, Product.BUSINESS_MULTIRISK)
    if situation.has_children:
        suggest(GapReason.CHILDREN, Product.SCHOOL, Product.PERSONAL_PROTECTION)
    if self_employed:
        suggest(GapReason.SELF_EMPLOYED_COVER, Product.HEALTH, Product.PERSONAL_PROTECTION)
    suggest(GapReason.LEGAL_PROTECTION, Product.LEGAL_PROTECTION)
    if person:
        suggest(GapReason.ACCIDENT_COVER, Product.ACCIDENT)
    if self_employed:
        suggest(GapReason.SICK_LEAVE_INCOME, Product.PERSONAL_PROTECTION)
    if situation.wealthy:
        suggest(GapReason.WEALTH, Product.RETIREMENT_SAVINGS)
    return [
        Gap(product, tuple(why), held_elsewhere=product in situation.held_elsewhere)
        for product, why in reasons.items()
        if product not in situation.held
    ]


# --- Rules on calling clients (Code de la consommation, art. D223-9) ------------------------

CALL_HOURS: tuple[tuple[dt.time, dt.time], ...] = (
    (dt.time(10, 0), dt.time(13, 0)),
    (dt.time(14, 0), dt.time(20, 0)),
)
MAX_ATTEMPTS = 4  # calls or attempted calls…
ATTEMPT_PERIOD_DAYS = 30  # …within this many calendar days
REFUSAL_QUIET_DAYS = 60  # no new call for this many calendar days after a refusal
SLOT_STEP = dt.timedelta(minutes=30)  # the callback picker's step
# With the rules off the picker still offers a working day's hours, every day.
UNRESTRICTED_HOURS: tuple[tuple[dt.time, dt.time], ...] = ((dt.time(8, 0), dt.time(20, 0)),)
AGENCY_ZONE = ZoneInfo("Europe/Paris")


class CallRulesMode(enum.StrEnum):
    STRICT = "strict"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class CallRules:
    """Whether the rules of art. D223-9 are enforced, and the agency's time zone.

    `strict` (the default): days, hours, at most `MAX_ATTEMPTS` calls per `ATTEMPT_PERIOD_DAYS`
    and `REFUSAL_QUIET_DAYS` of quiet after a refusal, as the module docstring explains.
    `off`: none of these (a client's objection still blocks calls).
    """

    mode: CallRulesMode = CallRulesMode.STRICT
    zone: ZoneInfo = AGENCY_ZONE

    @classmethod
    def from_setting(cls, value: str, zone: str = "Europe/Paris") -> CallRules:
        """From `M3_CALL_RULES` and `M3_TIMEZONE`; ValueError on anything but strict/off."""
        return cls(mode=CallRulesMode(value.strip().lower()), zone=ZoneInfo(zone))

    @property
    def strict(self) -> bool:
        return self.mode is CallRulesMode.STRICT


class CallBlock(enum.StrEnum):
    """Why a call may not be made (or a callback not set) at a given moment."""

    OBJECTED = "objected"  # the client objected to being contacted
    REFUSED_RECENTLY = "refused_recently"  # refused less than 60 days ago
    TOO_MANY_ATTEMPTS = "too_many_attempts"  # 4 calls within 30 days already
    WEEKEND = "weekend"
    PUBLIC_HOLIDAY = "public_holiday"
    OUTSIDE_HOURS = "outside_hours"
    PAST = "past"  # a callback already in the past


def _local(at: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a zone-aware datetime is needed, got {at!r}")
    return at.astimezone(zone)


def slot_block(at: dt.datetime, rules: CallRules) -> CallBlock | None:
    """Why `at` (zone-aware) is not a time to call, or None when it is."""
    local = _local(at, rules.zone)
    if not rules.strict:
        return None
    if local.weekday() >= 5:
        return CallBlock.WEEKEND
    if is_public_holiday(local.date()):
        return CallBlock.PUBLIC_HOLIDAY
    clock = local.time().replace(tzinfo=None)
    if not any(start <= clock < end for start, end in CALL_HOURS):
        return CallBlock.OUTSIDE_HOURS
    return None


def call_slot_allowed(at: dt.datetime, rules: CallRules) -> bool:
    """Monday to Friday, 10:00–13:00 or 14:00–20:00 in the agency's zone, not a public
    holiday (always true with the rules off)."""
    return slot_block(at, rules) is None


def allowed_slots(
    day: dt.date, rules: CallRules, *, step: dt.timedelta = SLOT_STEP
) -> list[dt.datetime]:
    """The times a callback may be set on `day`, every `step` (zone-aware, agency zone)."""
    if rules.strict and (day.weekday() >= 5 or is_public_holiday(day)):
        return []
    slots: list[dt.datetime] = []
    for start, end in CALL_HOURS if rules.strict else UNRESTRICTED_HOURS:
        at = dt.datetime.combine(day, start, tzinfo=rules.zone)
        stop = dt.datetime.combine(day, end, tzinfo=rules.zone)
        while at < stop:
            slots.append(at)
            at += step
    return slots


def next_allowed_slot(
    after: dt.datetime, rules: CallRules, *, step: dt.timedelta = SLOT_STEP
) -> dt.datetime:
    """The first picker slot at or after `after` (zone-aware)."""
    local = _local(after, rules.zone)
    for offset in range(400):
        day = local.date() + dt.timedelta(days=offset)
        for slot in allowed_slots(day, rules, step=step):
            if slot >= local:
                return slot
    raise ValueError(f"no slot to call within 400 days of {after!r}")  # pragma: no cover


def callback_block(at: dt.datetime, *, now: dt.datetime, rules: CallRules) -> CallBlock | None:
    """Why a callback cannot be set at `at`, or None."""
    if at <= now:
        return CallBlock.PAST
    return slot_block(at, rules)


def next_action_problem(
    kind: NextActionKind, due_on: dt.date, *, today: dt.date, rules: CallRules
) -> NextActionProblem | None:
    """Why a next action's date does not do, or None. A follow-up call must fall on a day
    calls are allowed; the other actions on any day from today on."""
    if due_on < today:
        return NextActionProblem.PAST
    if kind is NextActionKind.FOLLOW_UP_CALL and rules.strict and not allowed_slots(due_on, rules):
        return NextActionProblem.NOT_A_CALL_DAY
    return None


def _local_day(value: dt.date, zone: ZoneInfo) -> dt.date:
    if isinstance(value, dt.datetime):
        return _local(value, zone).date()
    return value


def _recent_attempt_days(
    attempts: Iterable[dt.datetime], now: dt.datetime, zone: ZoneInfo
) -> list[dt.date]:
    """The days (agency zone) of the attempts made up to `now` in the current 30-day period:
    today and the 29 days before it."""
    local_now = _local(now, zone)
    first = local_now.date() - dt.timedelta(days=ATTEMPT_PERIOD_DAYS - 1)
    days = [_local(at, zone).date() for at in attempts if at <= now]
    return sorted(day for day in days if day >= first)


def attempts_in_last_30_days(
    attempts: Iterable[dt.datetime], now: dt.datetime, *, zone: ZoneInfo = AGENCY_ZONE
) -> int:
    """How many attempts count towards the limit at `now`: those made on today's date or the
    29 days before (calendar days in the agency's zone). One made 30 days ago no longer counts."""
    return len(_recent_attempt_days(attempts, now, zone))


def refusal_quiet_until(refused_on: dt.date) -> dt.date:
    """The first day a client who refused on `refused_on` may be called again: 60 calendar days
    later, the refusal's day being the first of the 60 (refused 1 March → 30 April)."""
    return refused_on + dt.timedelta(days=REFUSAL_QUIET_DAYS)


@dataclass(frozen=True, slots=True)
class CallPermission:
    """`may_call`'s answer. True when the call may be made; else `reason` says why and
    `earliest` when it may be (None: not while the client's objection stands)."""

    reason: CallBlock | None
    earliest: dt.datetime | None

    @property
    def allowed(self) -> bool:
        return self.reason is None

    def __bool__(self) -> bool:
        return self.allowed


def may_call(
    *,
    attempts: Iterable[dt.datetime],
    last_refusal: dt.date | None,
    now: dt.datetime,
    rules: CallRules,
    objected_on: dt.date | None = None,
) -> CallPermission:
    """Whether the client may be called at `now`.

    `attempts`: every call attempt to the client (all its cases), zone-aware; `last_refusal`:
    the day (agency zone) of its latest refusal, if any. The first reason found is given, in
    this order: objection, refusal, number of attempts, day, hours.
    """
    local_now = _local(now, rules.zone)
    if objected_on is not None:
        return CallPermission(CallBlock.OBJECTED, None)
    if not rules.strict:
        return CallPermission(None, local_now)
    reason: CallBlock | None = None
    not_before = local_now.date()
    if last_refusal is not None:
        resume = refusal_quiet_until(_local_day(last_refusal, rules.zone))
        if resume > local_now.date():
            reason = CallBlock.REFUSED_RECENTLY
            not_before = max(not_before, resume)
    days = _recent_attempt_days(attempts, now, rules.zone)
    if len(days) >= MAX_ATTEMPTS:
        reason = reason or CallBlock.TOO_MANY_ATTEMPTS
        # The day enough of them have left the period for one more call.
        frees = days[len(days) - MAX_ATTEMPTS] + dt.timedelta(days=ATTEMPT_PERIOD_DAYS)
        not_before = max(not_before, frees)
    reason = reason or slot_block(local_now, rules)
    if reason is None:
        return CallPermission(None, local_now)
    start = max(local_now, dt.datetime.combine(not_before, dt.time(0, 0), tzinfo=rules.zone))
    earliest = start if call_slot_allowed(start, rules) else next_allowed_slot(start, rules)
    return CallPermission(reason, earliest)


# --- CRM corrections ------------------------------------------------------------------------


def correction_applied(new_value: str | None, imported_value: str | None) -> bool:
    """Whether an import carries the value an advisor typed during a call (compared without
    regard to case, accents, spacing and punctuation: « 06 12 34 56 78 » and « 0612345678 »,
    « Rue de Rome » and « rue de rome »). Phones stored in E.164 should be compared by the
    caller after normalising both sides the importer's way."""
    return _squeeze(new_value) == _squeeze(imported_value)


def _squeeze(value: str | None) -> str:
    return fold(value or "").replace(" ", "")

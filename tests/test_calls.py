"""The after-call rules (`bot.calls`): tags and status for every outcome and state of the
objectives, the objectives' lists, gap hints, and the rules on calling clients (D223-9).

Expected values are written by hand from the domain page, the agency's guide and the article;
none is computed by the code under test."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bot.calls import (
    ATTEMPT_PERIOD_DAYS,
    MAX_ATTEMPTS,
    REFUSAL_QUIET_DAYS,
    CallBlock,
    CallRules,
    CallRulesMode,
    CaseTags,
    ClientSituation,
    CrmField,
    FollowUp,
    GapReason,
    MaritalStatus,
    NextActionKind,
    NextActionProblem,
    Objectives,
    Outcome,
    Piece,
    Product,
    ProfessionalStatus,
    ReviewBlocker,
    after_call,
    allowed_slots,
    attempts_in_last_30_days,
    call_slot_allowed,
    callback_block,
    callback_reminder_at,
    completed_on_for,
    correction_applied,
    crm_fields,
    crm_fields_left,
    crm_validated,
    default_next_try_on,
    follow_up,
    may_call,
    next_action_problem,
    next_allowed_slot,
    piece_from_label,
    pieces_for,
    product_from_label,
    refusal_quiet_until,
    review_blockers,
    slot_block,
    suggest_gaps,
    tags_after_call,
)
from bot.rules import ClientType, Status, TagValue

PARIS = ZoneInfo("Europe/Paris")
STRICT = CallRules()
OFF = CallRules(mode=CallRulesMode.OFF)
OK, KO = TagValue.OK, TagValue.KO


def D(year: int, month: int, day: int) -> dt.date:
    return dt.date(year, month, day)


def at(year: int, month: int, day: int, hour: int = 11, minute: int = 0) -> dt.datetime:
    """A time in Paris."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=PARIS)


def test_the_outcome_values_are_the_captures_codes() -> None:
    assert [o.value for o in Outcome] == [
        "joint",
        "messagerie",
        "pas_de_reponse",
        "numero_errone",
        "rappel",
        "refus",
    ]
    assert [k.value for k in NextActionKind] == ["devis", "rdv", "elements", "relance"]


# --- Objective 1: the fields by client type -------------------------------------------------

PERSON_FIELDS = [
    CrmField.ADDRESS,
    CrmField.PHONE,
    CrmField.EMAIL,
    CrmField.MARITAL_STATUS,
    CrmField.PROFESSIONAL_STATUS,
]
PRO_FIELDS = [
    CrmField.SIRET,
    CrmField.NAF_CODE,
    CrmField.ACTIVITY,
    CrmField.REVENUE,
    CrmField.HEADCOUNT,
]
ALWAYS = [CrmField.BRANCH, CrmField.ADVISOR]


def test_a_persons_record_has_contact_data_and_situation_plus_branch_and_advisor() -> None:
    assert list(crm_fields(ClientType.PERSON)) == [*PERSON_FIELDS, *ALWAYS]
    assert list(crm_fields("Particulier")) == [*PERSON_FIELDS, *ALWAYS]


def test_a_professional_adds_siret_naf_activity_revenue_headcount() -> None:
    assert list(crm_fields(ClientType.PROFESSIONAL)) == [*PERSON_FIELDS, *PRO_FIELDS, *ALWAYS]


def test_a_company_adds_the_insurance_contact() -> None:
    assert list(crm_fields(ClientType.COMPANY)) == [
        *PERSON_FIELDS,
        *PRO_FIELDS,
        CrmField.INSURANCE_CONTACT,
        *ALWAYS,
    ]


def test_an_unknown_client_type_is_an_error() -> None:
    with pytest.raises(ValueError):
        crm_fields("Association")


def test_objective_1_is_done_only_when_every_field_of_the_type_is_checked() -> None:
    person = {*PERSON_FIELDS, *ALWAYS}
    assert crm_validated(ClientType.PERSON, person)
    assert not crm_validated(ClientType.PERSON, person - {CrmField.ADVISOR})
    assert crm_fields_left(ClientType.PERSON, person - {CrmField.EMAIL, CrmField.BRANCH}) == (
        CrmField.EMAIL,
        CrmField.BRANCH,
    )
    # The same checks do not make a professional's record complete.
    assert not crm_validated(ClientType.PROFESSIONAL, person)
    assert crm_fields_left(ClientType.PROFESSIONAL, person) == tuple(PRO_FIELDS)


def test_the_status_vocabularies_are_the_crms() -> None:
    assert [m.value for m in MaritalStatus] == [
        "Célibataire",
        "Marié(e)",
        "Pacsé(e)",
        "Divorcé(e)",
        "Veuf(ve)",
    ]
    assert {p.value for p in ProfessionalStatus} == {
        "Salarié",
        "Fonctionnaire",
        "TNS",
        "Retraité",
        "Sans emploi",
        "Étudiant",
    }


# --- Objective 2: pieces --------------------------------------------------------------------


def test_pieces_by_product_follow_the_guides_checklist() -> None:
    identity = Piece.IDENTITY
    assert pieces_for([Product.AUTO]) == (Piece.REGISTRATION, Piece.DRIVING_LICENCE, identity)
    assert pieces_for([Product.MOTO]) == (Piece.REGISTRATION, Piece.DRIVING_LICENCE, identity)
    assert pieces_for([Product.HOME]) == (identity, Piece.LEASE)
    assert pieces_for([Product.HEALTH]) == (identity,)
    assert pieces_for([]) == (identity,)
    assert pieces_for([Product.HOME, Product.AUTO, Product.MOTO]) == (
        Piece.REGISTRATION,
        Piece.DRIVING_LICENCE,
        identity,
        Piece.LEASE,
    )


@pytest.mark.parametrize(
    ("label", "piece"),
    [
        ("Carte grise", Piece.REGISTRATION),
        ("Cartes grises", Piece.REGISTRATION),
        ("Permis de conduire", Piece.DRIVING_LICENCE),
        ("CNI", Piece.IDENTITY),
        ("Passeport", Piece.IDENTITY),
        ("Carte d'identité", Piece.IDENTITY),
        ("Bail", Piece.LEASE),
        ("Relevé d'information", Piece.OTHER_PROOF),
        ("Titre de propriété", Piece.OTHER_PROOF),
        ("Kbis", Piece.OTHER_PROOF),
        ("Bail commercial", Piece.OTHER_PROOF),
    ],
)
def test_the_crms_missing_pieces_map_to_the_checklist(label: str, piece: Piece) -> None:
    assert piece_from_label(label) is piece


@pytest.mark.parametrize(
    ("label", "product"),
    [
        ("Auto", Product.AUTO),
        ("Moto", Product.MOTO),
        ("Flotte automobile", Product.FLEET),
        ("Habitation", Product.HOME),
        ("Santé", Product.HEALTH),
        ("SANTE", Product.HEALTH),
        ("Prévoyance", Product.PERSONAL_PROTECTION),
        ("Protection juridique", Product.LEGAL_PROTECTION),
        ("GAV", Product.ACCIDENT),
        ("Multirisque pro", Product.BUSINESS_MULTIRISK),
        ("RC pro", Product.PROFESSIONAL_LIABILITY),
        ("Scolaire", Product.SCHOOL),
        ("Épargne retraite", Product.RETIREMENT_SAVINGS),
        ("epargne_retraite", Product.RETIREMENT_SAVINGS),
        ("Multirisque habitation", Product.HOME),
        ("Assurance emprunteur", None),
    ],
)
def test_crm_product_labels_map_to_codes(label: str, product: Product | None) -> None:
    assert product_from_label(label) is product


def test_a_products_crm_label_is_the_exports_spelling() -> None:
    assert Product.RETIREMENT_SAVINGS.crm_label == "Épargne retraite"
    assert Product.BUSINESS_MULTIRISK.crm_label == "Multirisque pro"


# --- Tags and status: every outcome × every state of the objectives -------------------------

PERSON_ALL_CHECKED = frozenset({*PERSON_FIELDS, *ALWAYS})


def objectives(state: str) -> Objectives:
    """`state`: three letters, T/F — objective 1 validated, objective 2 done, review done."""
    crm, contracts, review = (letter == "T" for letter in state)
    return Objectives(
        crm_checked=PERSON_ALL_CHECKED if crm else frozenset({CrmField.PHONE}),
        dp_signed=contracts,
        quotes_signed=contracts,
        pieces_missing=frozenset() if contracts else frozenset({Piece.REGISTRATION}),
        review_done=review,
    )


def tag(letter: str) -> TagValue | None:
    return {"O": OK, "K": KO, "-": None}[letter]


# outcome, objectives (crm/contracts/review: T/F), expected call/crm/review tags (O/K/-), status.
# No previous tag, card not sent: the status is never Terminé.
FRESH_CASES = [
    # joint: reached. CRM OK iff objective 1; review OK iff done *and* objectives 1 and 2.
    ("joint", "FFF", "OKK", "en_cours"),
    ("joint", "FFT", "OKK", "en_cours"),
    ("joint", "FTF", "OKK", "en_cours"),
    ("joint", "FTT", "OKK", "en_cours"),
    ("joint", "TFF", "OOK", "en_cours"),
    ("joint", "TFT", "OOK", "en_cours"),
    ("joint", "TTF", "OOK", "en_cours"),
    ("joint", "TTT", "OOO", "en_cours"),
    # rappel: the client answered (reached), same rules as joint.
    ("rappel", "FFF", "OKK", "en_cours"),
    ("rappel", "FFT", "OKK", "en_cours"),
    ("rappel", "FTF", "OKK", "en_cours"),
    ("rappel", "FTT", "OKK", "en_cours"),
    ("rappel", "TFF", "OOK", "en_cours"),
    ("rappel", "TFT", "OOK", "en_cours"),
    ("rappel", "TTF", "OOK", "en_cours"),
    ("rappel", "TTT", "OOO", "en_cours"),
    # refus: reached, the review declined: review KO whatever was ticked.
    ("refus", "FFF", "OKK", "en_cours"),
    ("refus", "FFT", "OKK", "en_cours"),
    ("refus", "FTF", "OKK", "en_cours"),
    ("refus", "FTT", "OKK", "en_cours"),
    ("refus", "TFF", "OOK", "en_cours"),
    ("refus", "TFT", "OOK", "en_cours"),
    ("refus", "TTF", "OOK", "en_cours"),
    ("refus", "TTT", "OOK", "en_cours"),
    # messagerie, pas de réponse: not reached; CRM and review not assessed.
    ("messagerie", "FFF", "K--", "a_faire"),
    ("messagerie", "FFT", "K--", "a_faire"),
    ("messagerie", "FTF", "K--", "a_faire"),
    ("messagerie", "FTT", "K--", "a_faire"),
    ("messagerie", "TFF", "K--", "a_faire"),
    ("messagerie", "TFT", "K--", "a_faire"),
    ("messagerie", "TTF", "K--", "a_faire"),
    ("messagerie", "TTT", "K--", "a_faire"),
    ("pas_de_reponse", "FFF", "K--", "a_faire"),
    ("pas_de_reponse", "FFT", "K--", "a_faire"),
    ("pas_de_reponse", "FTF", "K--", "a_faire"),
    ("pas_de_reponse", "FTT", "K--", "a_faire"),
    ("pas_de_reponse", "TFF", "K--", "a_faire"),
    ("pas_de_reponse", "TFT", "K--", "a_faire"),
    ("pas_de_reponse", "TTF", "K--", "a_faire"),
    ("pas_de_reponse", "TTT", "K--", "a_faire"),
    # numéro erroné: not reached, and the record holds a wrong number: CRM KO.
    ("numero_errone", "FFF", "KK-", "a_faire"),
    ("numero_errone", "FFT", "KK-", "a_faire"),
    ("numero_errone", "FTF", "KK-", "a_faire"),
    ("numero_errone", "FTT", "KK-", "a_faire"),
    ("numero_errone", "TFF", "KK-", "a_faire"),
    ("numero_errone", "TFT", "KK-", "a_faire"),
    ("numero_errone", "TTF", "KK-", "a_faire"),
    ("numero_errone", "TTT", "KK-", "a_faire"),
]


def test_the_table_covers_every_outcome_and_state() -> None:
    pairs = {(outcome, state) for outcome, state, _, _ in FRESH_CASES}
    states = {a + b + c for a in "TF" for b in "TF" for c in "TF"}
    assert pairs == {(o.value, s) for o in Outcome for s in states}


@pytest.mark.parametrize(("outcome", "state", "tags", "status"), FRESH_CASES)
def test_tags_and_status_after_a_first_call(
    outcome: str, state: str, tags: str, status: str
) -> None:
    update = after_call(
        outcome=Outcome(outcome),
        objectives=objectives(state),
        client_type=ClientType.PERSON,
        previous=CaseTags(),
        previous_completed_on=None,
        today=D(2026, 11, 24),
    )
    assert update.tags == CaseTags(call=tag(tags[0]), crm=tag(tags[1]), review=tag(tags[2]))
    assert update.status == Status(status)
    assert update.completed_on is None


# The same table when the contact card already reached the client (card OK): only the cases
# where the three other tags are OK become Terminé, completed today.
@pytest.mark.parametrize(("outcome", "state", "tags", "status"), FRESH_CASES)
def test_with_the_card_sent_all_four_ok_is_terminé(
    outcome: str, state: str, tags: str, status: str
) -> None:
    update = after_call(
        outcome=Outcome(outcome),
        objectives=objectives(state),
        client_type=ClientType.PERSON,
        previous=CaseTags(card=OK),
        previous_completed_on=None,
        today=D(2026, 11, 24),
    )
    assert update.tags.card is OK
    if tags == "OOO":
        assert update.status is Status.DONE
        assert update.completed_on == D(2026, 11, 24)
    else:
        assert update.status == Status(status)
        assert update.completed_on is None


# A case already tried or reached: previous tags, then another call.
LATER_CASES = [
    # previous (call, crm, review, card), outcome, state, expected (call, crm, review, card)
    ("K---", "joint", "TTT", "OOO-"),  # a failed try, then reached: call OK
    ("KK--", "messagerie", "FFF", "KK--"),  # two failures: nothing changes but the call KO
    ("OOK-", "messagerie", "FFF", "OOK-"),  # reached before: a voicemail keeps call OK
    ("OOK-", "pas_de_reponse", "TTT", "OOK-"),  # not reached: CRM and review not re-assessed
    ("OOO-", "numero_errone", "TTT", "OKO-"),  # the number is wrong now: CRM KO
    ("OOK-", "joint", "TTT", "OOO-"),  # the callback done: review OK
    ("OOO-", "refus", "TTT", "OOO-"),  # review done before: a later refusal keeps it
    ("OOK-", "refus", "TTT", "OOK-"),  # declined: review stays KO
    ("OOOO", "messagerie", "TTT", "OOOO"),  # Terminé stays Terminé
    ("OOOO", "joint", "FTT", "OKKO"),  # a field unchecked again: no longer Terminé
]


def tags_of(letters: str) -> CaseTags:
    return CaseTags(
        call=tag(letters[0]), crm=tag(letters[1]), review=tag(letters[2]), card=tag(letters[3])
    )


@pytest.mark.parametrize(("previous", "outcome", "state", "expected"), LATER_CASES)
def test_tags_after_a_later_call(previous: str, outcome: str, state: str, expected: str) -> None:
    tags = tags_after_call(
        outcome=Outcome(outcome),
        objectives=objectives(state),
        client_type=ClientType.PERSON,
        previous=tags_of(previous),
    )
    assert tags == tags_of(expected)


def test_completion_day_is_kept_set_or_cleared() -> None:
    today = D(2026, 11, 24)
    assert completed_on_for(Status.DONE, previous=None, today=today) == today
    assert completed_on_for(Status.DONE, previous=D(2026, 11, 20), today=today) == D(2026, 11, 20)
    assert completed_on_for(Status.IN_PROGRESS, previous=D(2026, 11, 20), today=today) is None
    assert completed_on_for(Status.TODO, previous=None, today=today) is None


def test_terminé_stays_terminé_with_its_first_completion_day() -> None:
    update = after_call(
        outcome=Outcome.VOICEMAIL,
        objectives=objectives("TTT"),
        client_type=ClientType.PERSON,
        previous=tags_of("OOOO"),
        previous_completed_on=D(2026, 11, 20),
        today=D(2026, 11, 24),
    )
    assert update.status is Status.DONE
    assert update.completed_on == D(2026, 11, 20)


def test_a_professionals_crm_tag_needs_the_professional_fields() -> None:
    person_only = Objectives(crm_checked=PERSON_ALL_CHECKED)
    complete = Objectives(crm_checked=PERSON_ALL_CHECKED | set(PRO_FIELDS))
    kwargs = {"outcome": Outcome.REACHED, "previous": CaseTags()}
    assert (
        tags_after_call(client_type=ClientType.PROFESSIONAL, objectives=person_only, **kwargs).crm
        is KO
    )
    assert (
        tags_after_call(client_type=ClientType.PROFESSIONAL, objectives=complete, **kwargs).crm
        is OK
    )


def test_the_card_tag_is_never_set_by_a_call() -> None:
    for outcome in Outcome:
        for card in (None, OK, KO):
            tags = tags_after_call(
                outcome=outcome,
                objectives=objectives("TTT"),
                client_type=ClientType.PERSON,
                previous=CaseTags(card=card),
            )
            assert tags.card is card


def test_review_blockers_name_objectives_1_and_2() -> None:
    assert review_blockers(ClientType.PERSON, objectives("TTT")) == ()
    assert review_blockers(ClientType.PERSON, objectives("FTT")) == (
        ReviewBlocker.CRM_NOT_VALIDATED,
    )
    assert review_blockers(ClientType.PERSON, objectives("TFT")) == (
        ReviewBlocker.CONTRACTS_NOT_FINALISED,
    )
    assert review_blockers(ClientType.PERSON, objectives("FFF")) == (
        ReviewBlocker.CRM_NOT_VALIDATED,
        ReviewBlocker.CONTRACTS_NOT_FINALISED,
    )


@pytest.mark.parametrize(
    ("dp", "quotes", "missing", "finalised"),
    [
        (True, True, frozenset(), True),
        (False, True, frozenset(), False),
        (True, False, frozenset(), False),
        (True, True, frozenset({Piece.IDENTITY}), False),
    ],
)
def test_objective_2_needs_both_signatures_and_every_piece(
    dp: bool, quotes: bool, missing: frozenset[Piece], finalised: bool
) -> None:
    state = Objectives(
        crm_checked=PERSON_ALL_CHECKED,
        dp_signed=dp,
        quotes_signed=quotes,
        pieces_missing=missing,
        review_done=True,
    )
    assert (review_blockers(ClientType.PERSON, state) == ()) is finalised


def test_tags_read_from_the_stored_strings() -> None:
    assert CaseTags.of(call="OK", crm="KO", review=None, card="") == CaseTags(call=OK, crm=KO)
    assert CaseTags.of(call="OK", crm="OK", review="OK", card="OK").status() is Status.DONE


# --- Follow-up after the call ---------------------------------------------------------------


def test_what_follows_each_outcome() -> None:
    assert follow_up(Outcome.VOICEMAIL) is FollowUp.NEXT_TRY
    assert follow_up(Outcome.NO_ANSWER) is FollowUp.NEXT_TRY
    assert follow_up(Outcome.WRONG_NUMBER) is FollowUp.NEXT_TRY
    assert follow_up(Outcome.CALLBACK) is FollowUp.CALLBACK
    assert follow_up(Outcome.REACHED) is FollowUp.NONE
    assert follow_up(Outcome.REFUSED) is FollowUp.NONE


def test_the_next_try_defaults_to_the_next_working_day() -> None:
    assert default_next_try_on(D(2026, 11, 24)) == D(2026, 11, 25)  # Tuesday → Wednesday
    assert default_next_try_on(D(2026, 11, 27)) == D(2026, 11, 30)  # Friday → Monday
    assert default_next_try_on(D(2026, 4, 30)) == D(2026, 5, 4)  # Thursday → (1 May) → Monday
    assert default_next_try_on(D(2027, 3, 26)) == D(2027, 3, 30)  # Friday → Easter Monday → Tue
    assert default_next_try_on(D(2026, 11, 24), not_before=D(2026, 11, 28)) == D(2026, 11, 30)
    assert default_next_try_on(D(2026, 11, 24), not_before=D(2026, 11, 20)) == D(2026, 11, 25)


def test_the_callback_reminder_is_ten_minutes_before() -> None:
    assert callback_reminder_at(at(2026, 11, 26, 14, 30)) == at(2026, 11, 26, 14, 20)


# --- Call slots (art. D223-9: Monday–Friday, 10–13 and 14–20, not on public holidays) --------

TUESDAY = (2026, 11, 24)


@pytest.mark.parametrize(
    ("hour", "minute", "allowed"),
    [
        (9, 59, False),
        (10, 0, True),
        (12, 59, True),
        (13, 0, False),
        (13, 59, False),
        (14, 0, True),
        (19, 59, True),
        (20, 0, False),
    ],
)
def test_slot_boundaries_on_a_tuesday(hour: int, minute: int, allowed: bool) -> None:
    assert call_slot_allowed(at(*TUESDAY, hour, minute), STRICT) is allowed


@pytest.mark.parametrize(
    ("when", "block"),
    [
        (at(2026, 11, 24, 9, 59), CallBlock.OUTSIDE_HOURS),
        (at(2026, 11, 24, 13, 30), CallBlock.OUTSIDE_HOURS),
        (at(2026, 11, 28, 11, 0), CallBlock.WEEKEND),  # Saturday
        (at(2026, 11, 29, 11, 0), CallBlock.WEEKEND),  # Sunday
        (at(2026, 5, 1, 11, 0), CallBlock.PUBLIC_HOLIDAY),  # 1 May 2026, a Friday
        (at(2026, 7, 14, 11, 0), CallBlock.PUBLIC_HOLIDAY),  # 14 July 2026, a Tuesday
        (at(2027, 3, 29, 11, 0), CallBlock.PUBLIC_HOLIDAY),  # Easter Monday 2027
        (at(2027, 3, 30, 11, 0), None),  # the Tuesday after
        (at(2026, 11, 27, 19, 30), None),  # a Friday evening
    ],
)
def test_slot_reasons(when: dt.datetime, block: CallBlock | None) -> None:
    assert slot_block(when, STRICT) is block


def test_slots_are_read_in_the_agencys_zone() -> None:
    utc = dt.UTC
    # Winter (UTC+1): 09:00 UTC is 10:00 in Paris; summer (UTC+2): 08:00 UTC is 10:00.
    assert call_slot_allowed(dt.datetime(2026, 11, 24, 9, 0, tzinfo=utc), STRICT)
    assert not call_slot_allowed(dt.datetime(2026, 11, 24, 8, 59, tzinfo=utc), STRICT)
    assert call_slot_allowed(dt.datetime(2026, 7, 15, 8, 0, tzinfo=utc), STRICT)
    assert not call_slot_allowed(dt.datetime(2026, 7, 15, 18, 0, tzinfo=utc), STRICT)  # 20:00
    # 23:30 UTC on Friday is already Saturday in Paris.
    assert slot_block(dt.datetime(2026, 11, 27, 23, 30, tzinfo=utc), STRICT) is CallBlock.WEEKEND


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        call_slot_allowed(dt.datetime(2026, 11, 24, 11, 0), STRICT)


def test_with_the_rules_off_any_time_will_do() -> None:
    assert call_slot_allowed(at(2026, 11, 28, 22, 0), OFF)  # Saturday night
    assert call_slot_allowed(at(2026, 5, 1, 8, 0), OFF)  # 1 May


def test_call_rules_from_the_setting() -> None:
    assert CallRules.from_setting("strict") == STRICT
    assert CallRules.from_setting(" OFF ", "Europe/Paris") == OFF
    assert CallRules.from_setting("strict", "America/Cayenne").zone == ZoneInfo("America/Cayenne")
    with pytest.raises(ValueError):
        CallRules.from_setting("lenient")


def test_the_numbers_are_the_articles() -> None:
    assert (MAX_ATTEMPTS, ATTEMPT_PERIOD_DAYS, REFUSAL_QUIET_DAYS) == (4, 30, 60)


def hm(slots: list[dt.datetime]) -> list[str]:
    return [s.strftime("%H:%M") for s in slots]


def test_the_callback_picker_offers_every_half_hour_inside_the_ranges() -> None:
    slots = allowed_slots(D(*TUESDAY), STRICT)
    assert hm(slots) == [
        "10:00",
        "10:30",
        "11:00",
        "11:30",
        "12:00",
        "12:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
        "16:00",
        "16:30",
        "17:00",
        "17:30",
        "18:00",
        "18:30",
        "19:00",
        "19:30",
    ]
    assert all(s.tzinfo == PARIS for s in slots)
    assert allowed_slots(D(2026, 11, 28), STRICT) == []  # Saturday
    assert allowed_slots(D(2026, 7, 14), STRICT) == []  # 14 July
    assert allowed_slots(D(2027, 3, 29), STRICT) == []  # Easter Monday
    assert hm(allowed_slots(D(2026, 11, 28), OFF))[:3] == ["08:00", "08:30", "09:00"]
    assert len(allowed_slots(D(2026, 11, 28), OFF)) == 24  # 08:00 … 19:30


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (at(2026, 11, 24, 10, 0), at(2026, 11, 24, 10, 0)),
        (at(2026, 11, 24, 10, 10), at(2026, 11, 24, 10, 30)),
        (at(2026, 11, 24, 12, 40), at(2026, 11, 24, 14, 0)),
        (at(2026, 11, 24, 8, 0), at(2026, 11, 24, 10, 0)),
        (at(2026, 11, 27, 19, 45), at(2026, 11, 30, 10, 0)),  # Friday evening → Monday
        (at(2026, 4, 30, 20, 5), at(2026, 5, 4, 10, 0)),  # → 1 May (Fri), weekend → Monday
        (at(2027, 3, 26, 20, 0), at(2027, 3, 30, 10, 0)),  # → weekend, Easter Monday → Tue
    ],
)
def test_next_allowed_slot(after: dt.datetime, expected: dt.datetime) -> None:
    assert next_allowed_slot(after, STRICT) == expected


def test_a_callback_must_be_ahead_and_inside_the_ranges() -> None:
    now = at(2026, 11, 24, 11, 0)
    assert callback_block(at(2026, 11, 24, 10, 30), now=now, rules=STRICT) is CallBlock.PAST
    assert callback_block(now, now=now, rules=STRICT) is CallBlock.PAST
    assert callback_block(at(2026, 11, 24, 13, 15), now=now, rules=STRICT) is (
        CallBlock.OUTSIDE_HOURS
    )
    assert callback_block(at(2026, 11, 28, 11, 0), now=now, rules=STRICT) is CallBlock.WEEKEND
    assert callback_block(at(2026, 11, 25, 18, 30), now=now, rules=STRICT) is None
    assert callback_block(at(2026, 11, 28, 11, 0), now=now, rules=OFF) is None


def test_next_action_dates() -> None:
    today = D(*TUESDAY)
    quote, call = NextActionKind.QUOTE, NextActionKind.FOLLOW_UP_CALL
    assert next_action_problem(quote, D(2026, 11, 23), today=today, rules=STRICT) is (
        NextActionProblem.PAST
    )
    assert next_action_problem(quote, today, today=today, rules=STRICT) is None
    assert next_action_problem(quote, D(2026, 11, 28), today=today, rules=STRICT) is None
    assert next_action_problem(call, D(2026, 11, 28), today=today, rules=STRICT) is (
        NextActionProblem.NOT_A_CALL_DAY
    )
    assert next_action_problem(call, D(2026, 11, 28), today=today, rules=OFF) is None
    assert next_action_problem(call, D(2026, 11, 30), today=today, rules=STRICT) is None


# --- Attempts in 30 days, refusal, objection -------------------------------------------------

NOW = at(2026, 11, 24, 15, 0)  # Tuesday 24 Nov 2026, 15:00


def test_attempts_count_over_thirty_calendar_days() -> None:
    thirty_days_ago = at(2026, 10, 25, 15, 0)  # exactly 30 days before NOW
    twenty_nine_days_ago = at(2026, 10, 26, 10, 0)
    assert attempts_in_last_30_days([thirty_days_ago], NOW) == 0
    assert attempts_in_last_30_days([twenty_nine_days_ago], NOW) == 1
    assert attempts_in_last_30_days([at(2026, 10, 25, 23, 59)], NOW) == 0
    assert attempts_in_last_30_days([at(2026, 10, 26, 0, 0)], NOW) == 1
    assert attempts_in_last_30_days([at(2026, 11, 24, 10, 0), NOW], NOW) == 2
    assert attempts_in_last_30_days([at(2026, 11, 24, 16, 0)], NOW) == 0  # not made yet
    # Calendar days in Paris: 23:30 UTC on 25 Oct is already 26 Oct in Paris (UTC+1).
    late_utc = dt.datetime(2026, 10, 25, 23, 30, tzinfo=dt.UTC)
    assert attempts_in_last_30_days([late_utc], NOW) == 1


THREE = [at(2026, 11, 2, 11, 0), at(2026, 11, 9, 11, 0), at(2026, 11, 16, 11, 0)]


def test_a_fourth_call_in_thirty_days_is_allowed_a_fifth_is_not() -> None:
    assert may_call(attempts=THREE, last_refusal=None, now=NOW, rules=STRICT)
    four = [at(2026, 10, 26, 11, 0), *THREE]
    permission = may_call(attempts=four, last_refusal=None, now=NOW, rules=STRICT)
    assert not permission
    assert permission.reason is CallBlock.TOO_MANY_ATTEMPTS
    # 26 Oct leaves the period on 25 Nov (a Wednesday): from 10:00 that day.
    assert permission.earliest == at(2026, 11, 25, 10, 0)


def test_an_attempt_thirty_days_ago_no_longer_counts() -> None:
    four = [at(2026, 10, 25, 11, 0), *THREE]
    permission = may_call(attempts=four, last_refusal=None, now=NOW, rules=STRICT)
    assert permission.allowed
    assert permission.reason is None
    assert permission.earliest == NOW


def test_five_attempts_wait_for_the_second_oldest() -> None:
    five = [at(2026, 10, 27, 11, 0), at(2026, 10, 28, 11, 0), *THREE]
    permission = may_call(attempts=five, last_refusal=None, now=NOW, rules=STRICT)
    assert permission.reason is CallBlock.TOO_MANY_ATTEMPTS
    assert permission.earliest == at(2026, 11, 27, 10, 0)  # 28 Oct + 30 days, a Friday


def test_refusal_quiet_period_is_sixty_days() -> None:
    assert refusal_quiet_until(D(2027, 3, 1)) == D(2027, 4, 30)
    assert refusal_quiet_until(D(2026, 11, 24)) == D(2027, 1, 23)


def test_sixty_day_refusal_boundary() -> None:
    refused = D(2027, 3, 1)
    day_59 = may_call(attempts=[], last_refusal=refused, now=at(2027, 4, 29, 11, 0), rules=STRICT)
    assert day_59.reason is CallBlock.REFUSED_RECENTLY
    assert day_59.earliest == at(2027, 4, 30, 10, 0)
    day_60 = may_call(attempts=[], last_refusal=refused, now=at(2027, 4, 30, 11, 0), rules=STRICT)
    assert day_60.allowed


def test_a_refusal_given_as_a_datetime_counts_on_its_paris_day() -> None:
    refused_at = dt.datetime(2027, 3, 1, 23, 30, tzinfo=dt.UTC)  # 2 March 00:30 in Paris
    permission = may_call(
        attempts=[], last_refusal=refused_at, now=at(2027, 4, 30, 11, 0), rules=STRICT
    )
    assert permission.reason is CallBlock.REFUSED_RECENTLY
    assert permission.earliest == at(2027, 5, 3, 10, 0)  # 1 May (Sat), 2 May (Sun) → Monday


def test_reasons_come_in_order_refusal_attempts_day_hours() -> None:
    four = [at(2026, 10, 26, 11, 0), *THREE]
    both = may_call(attempts=four, last_refusal=D(2026, 11, 20), now=NOW, rules=STRICT)
    assert both.reason is CallBlock.REFUSED_RECENTLY
    assert both.earliest == at(2027, 1, 19, 10, 0)  # 20 Nov + 60 days, a Tuesday
    saturday = may_call(attempts=[], last_refusal=None, now=at(2026, 11, 28, 11), rules=STRICT)
    assert saturday.reason is CallBlock.WEEKEND
    assert saturday.earliest == at(2026, 11, 30, 10, 0)
    lunch = may_call(attempts=[], last_refusal=None, now=at(2026, 11, 24, 13, 10), rules=STRICT)
    assert lunch.reason is CallBlock.OUTSIDE_HOURS
    assert lunch.earliest == at(2026, 11, 24, 14, 0)


def test_an_objection_blocks_every_call_even_with_the_rules_off() -> None:
    for rules in (STRICT, OFF):
        permission = may_call(
            attempts=[], last_refusal=None, now=NOW, rules=rules, objected_on=D(2026, 10, 1)
        )
        assert permission.reason is CallBlock.OBJECTED
        assert permission.earliest is None
        assert not permission


def test_with_the_rules_off_attempts_refusal_and_hours_do_not_block() -> None:
    five = [at(2026, 11, d, 11, 0) for d in (16, 17, 18, 19, 20)]
    sunday_night = at(2026, 11, 29, 22, 0)
    permission = may_call(attempts=five, last_refusal=D(2026, 11, 20), now=sunday_night, rules=OFF)
    assert permission.allowed
    assert permission.earliest == sunday_night


# --- Gap hints ------------------------------------------------------------------------------


def gaps(**facts: object) -> list[tuple[Product, tuple[GapReason, ...], bool]]:
    situation = ClientSituation(**facts)  # type: ignore[arg-type]
    return [(g.product, g.reasons, g.held_elsewhere) for g in suggest_gaps(situation)]


def test_a_person_with_a_car_insured_here() -> None:
    assert gaps(client_type=ClientType.PERSON, held=frozenset({Product.AUTO})) == [
        (Product.HOME, (GapReason.HOME,), False),
        (Product.LEGAL_PROTECTION, (GapReason.LEGAL_PROTECTION,), False),
        (Product.ACCIDENT, (GapReason.ACCIDENT_COVER,), False),
    ]


def test_a_person_with_a_car_elsewhere_and_children() -> None:
    assert gaps(
        client_type=ClientType.PERSON,
        held=frozenset({Product.HOME, Product.LEGAL_PROTECTION}),
        held_elsewhere=frozenset({Product.AUTO}),
        has_vehicle=True,
        has_children=True,
    ) == [
        (Product.AUTO, (GapReason.VEHICLE,), True),
        (Product.SCHOOL, (GapReason.CHILDREN,), False),
        (Product.PERSONAL_PROTECTION, (GapReason.CHILDREN,), False),
        (Product.ACCIDENT, (GapReason.ACCIDENT_COVER,), False),
    ]


def test_a_wealthy_person_with_no_home_car_or_children_to_insure() -> None:
    assert gaps(
        client_type=ClientType.PERSON,
        held=frozenset({Product.ACCIDENT}),
        has_home=False,
        has_vehicle=False,
        has_children=False,
        wealthy=True,
    ) == [
        (Product.LEGAL_PROTECTION, (GapReason.LEGAL_PROTECTION,), False),
        (Product.RETIREMENT_SAVINGS, (GapReason.WEALTH,), False),
    ]


def test_a_self_employed_professional() -> None:
    assert gaps(
        client_type=ClientType.PROFESSIONAL,
        held=frozenset({Product.BUSINESS_MULTIRISK}),
        professional_status="TNS",
    ) == [
        (Product.HOME, (GapReason.HOME,), False),
        (Product.HEALTH, (GapReason.SELF_EMPLOYED_COVER,), False),
        (
            Product.PERSONAL_PROTECTION,
            (GapReason.SELF_EMPLOYED_COVER, GapReason.SICK_LEAVE_INCOME),
            False,
        ),
        (Product.LEGAL_PROTECTION, (GapReason.LEGAL_PROTECTION,), False),
        (Product.ACCIDENT, (GapReason.ACCIDENT_COVER,), False),
    ]


def test_a_professional_without_premises_holding_health_and_protection() -> None:
    assert gaps(
        client_type=ClientType.PROFESSIONAL,
        held=frozenset({Product.HEALTH, Product.PERSONAL_PROTECTION, Product.HOME}),
        has_premises=False,
    ) == [
        (Product.LEGAL_PROTECTION, (GapReason.LEGAL_PROTECTION,), False),
        (Product.ACCIDENT, (GapReason.ACCIDENT_COVER,), False),
    ]


def test_a_person_who_is_tns_gets_the_self_employed_hints() -> None:
    assert gaps(
        client_type=ClientType.PERSON,
        held=frozenset({Product.AUTO, Product.HOME, Product.LEGAL_PROTECTION, Product.ACCIDENT}),
        professional_status="tns",
    ) == [
        (Product.HEALTH, (GapReason.SELF_EMPLOYED_COVER,), False),
        (
            Product.PERSONAL_PROTECTION,
            (GapReason.SELF_EMPLOYED_COVER, GapReason.SICK_LEAVE_INCOME),
            False,
        ),
    ]


def test_a_company_with_a_fleet() -> None:
    assert gaps(
        client_type=ClientType.COMPANY,
        held=frozenset({Product.FLEET}),
        has_vehicle=True,
    ) == [
        (Product.BUSINESS_MULTIRISK, (GapReason.PREMISES,), False),
        (Product.LEGAL_PROTECTION, (GapReason.LEGAL_PROTECTION,), False),
    ]


def test_a_fully_equipped_company_gets_no_hint() -> None:
    held = frozenset({Product.BUSINESS_MULTIRISK, Product.LEGAL_PROTECTION})
    assert suggest_gaps(ClientSituation(client_type=ClientType.COMPANY, held=held)) == []
    assert suggest_gaps(ClientSituation(client_type="Entreprise", held=held)) == []


# --- Corrections ----------------------------------------------------------------------------


def test_a_correction_is_applied_when_an_import_carries_the_value() -> None:
    assert correction_applied("06 12 34 56 78", "0612345678")
    assert correction_applied("12 Rue de Rome", "12 rue de Rome ")
    assert correction_applied("Pacsé(e)", "PACSE(E)")
    assert not correction_applied("Marié(e)", "Pacsé(e)")
    assert not correction_applied("a@b.fr", None)
    assert correction_applied(None, "")

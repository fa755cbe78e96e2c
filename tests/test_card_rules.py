"""The contact card's pure parts: SMS length (checked against the GSM 03.38 codec itself),
quiet hours, the sender, numbers, the vCard, the texts."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import gsm0338  # type: ignore[import-untyped]
import pytest
import vobject  # type: ignore[import-untyped]

from bot.card import AdvisorCard, SmsTooLong, card_tag, mail_content, sms_text, vcard_bytes
from bot.rules import TagValue
from bot.sms import (
    Encoding,
    SmsBlock,
    french_format,
    is_mobile,
    mask_email,
    mask_phone,
    measure,
    next_sms_time,
    sender_id,
    sms_block,
)

PARIS = ZoneInfo("Europe/Paris")
NBSP, NNBSP = "\u00a0", "\u202f"

# (text, encoding, segments): at least 50 French strings, the boundaries written out by hand.
SEGMENTS: list[tuple[str, str, int]] = [
    ("Bonjour", "GSM-7", 1),
    ("Bonjour Marie, c'est Julie de l'agence Corniche.", "GSM-7", 1),
    ("Rendez-vous mardi à 10 h à l'agence.", "GSM-7", 1),
    ("Votre contrat auto est à jour.", "GSM-7", 1),
    ("Très bien, à bientôt !", "UCS-2", 1),  # ô
    ("Cotisation : 45 €", "GSM-7", 1),
    ("Prime annuelle 1 250 € TTC", "GSM-7", 1),
    ("Élodie", "GSM-7", 1),
    ("Évelyne à Nîmes", "UCS-2", 1),  # î
    ("Noël", "UCS-2", 1),  # ë is not in GSM-7
    ("Ça va ?", "GSM-7", 1),  # Ç is
    ("ça va ?", "UCS-2", 1),  # ç is not
    ("Français", "UCS-2", 1),
    ("Être assuré", "UCS-2", 1),  # Ê
    ("fête", "UCS-2", 1),  # ê
    ("aujourd’hui", "UCS-2", 1),  # typographic apostrophe
    ("aujourd'hui", "GSM-7", 1),
    (f"Tél.{NBSP}: 06 12 34 56 78", "UCS-2", 1),  # non-breaking space
    (f"10{NNBSP}h", "UCS-2", 1),  # narrow non-breaking space
    ("Merci 🙂", "UCS-2", 1),
    ("où", "GSM-7", 1),  # ù is GSM-7
    ("voilà", "GSM-7", 1),
    ("cœur", "UCS-2", 1),
    ("« guillemets »", "UCS-2", 1),
    ('"guillemets"', "GSM-7", 1),
    ("[crochets] {accolades}", "GSM-7", 1),  # extension table: 2 septets each
    ("tiret – demi-cadratin", "UCS-2", 1),
    ("tiret - simple", "GSM-7", 1),
    ("points de suspension…", "UCS-2", 1),
    ("points de suspension...", "GSM-7", 1),
    ("Conseiller·ère", "UCS-2", 1),
    ("Naïve", "UCS-2", 1),
    ("Müller", "GSM-7", 1),  # ü is GSM-7
    ("Ñandú", "UCS-2", 1),  # Ñ yes, ú no
    ("Ø Å Æ ß", "GSM-7", 1),
    ("@ £ $ ¥", "GSM-7", 1),
    ("~ ^ | \\", "GSM-7", 1),
    ("a" * 160, "GSM-7", 1),
    ("a" * 161, "GSM-7", 2),
    ("a" * 306, "GSM-7", 2),
    ("a" * 307, "GSM-7", 3),
    ("€" * 80, "GSM-7", 1),  # 160 septets
    ("a" + "€" * 80, "GSM-7", 2),  # 161 septets
    ("a" * 152 + "€", "GSM-7", 1),  # 154 septets
    ("a" * 152 + "€" + "a" * 7, "GSM-7", 2),  # 161: the € not split across parts
    ("é" * 160, "GSM-7", 1),
    ("é" * 161, "GSM-7", 2),
    ("ê" * 70, "UCS-2", 1),
    ("ê" * 71, "UCS-2", 2),
    ("ê" * 134, "UCS-2", 2),
    ("ê" * 135, "UCS-2", 3),
    ("’" + "a" * 69, "UCS-2", 1),
    ("’" + "a" * 70, "UCS-2", 2),
    ("🙂" * 35, "UCS-2", 1),  # 70 units
    ("a" + "🙂" * 35, "UCS-2", 2),  # 71 units
    ("ç" + "a" * 159, "UCS-2", 3),  # one ç: 3 SMS instead of 1
]


def test_the_segment_table_has_at_least_fifty_french_strings() -> None:
    assert len(SEGMENTS) >= 50


@pytest.mark.parametrize(("text", "encoding", "segments"), SEGMENTS)
def test_segments_and_encoding(text: str, encoding: str, segments: int) -> None:
    shape = measure(text)
    assert (shape.encoding.value, shape.segments) == (encoding, segments)
    # Checked against the codec itself: GSM-7 exactly when it encodes the text.
    codec = gsm0338.Codec()
    try:
        septets = len(codec.encode(text)[0])
    except UnicodeEncodeError:
        assert shape.encoding is Encoding.UCS2
        assert shape.units == len(text.encode("utf-16-be")) // 2
    else:
        assert shape.encoding is Encoding.GSM7 and shape.units == septets


def test_the_characters_that_force_ucs2_are_named_once() -> None:
    assert measure(f"aujourd’hui ça va{NBSP}? l’été").costly == ("’", "ç", NBSP)


@pytest.mark.parametrize(
    ("at", "block", "leaves"),
    [
        # Tuesday 24/11/2026
        ("2026-11-24 11:00", None, "2026-11-24 11:00"),
        ("2026-11-24 07:59", SmsBlock.OUTSIDE_HOURS, "2026-11-24 08:00"),
        ("2026-11-24 08:00", None, "2026-11-24 08:00"),
        ("2026-11-24 19:59", None, "2026-11-24 19:59"),
        ("2026-11-24 20:00", SmsBlock.OUTSIDE_HOURS, "2026-11-25 08:00"),
        # Saturday is allowed, Sunday is not.
        ("2026-11-28 10:00", None, "2026-11-28 10:00"),
        ("2026-11-28 21:00", SmsBlock.OUTSIDE_HOURS, "2026-11-30 08:00"),
        ("2026-11-29 10:00", SmsBlock.SUNDAY, "2026-11-30 08:00"),
        # Christmas (Friday 25/12/2026) then Saturday: Saturday 08:00.
        ("2026-12-24 20:30", SmsBlock.OUTSIDE_HOURS, "2026-12-26 08:00"),
        ("2026-12-25 12:00", SmsBlock.PUBLIC_HOLIDAY, "2026-12-26 08:00"),
        # 1 May 2027 is a Saturday, 2 May a Sunday: Monday 3 May.
        ("2027-05-01 09:00", SmsBlock.PUBLIC_HOLIDAY, "2027-05-03 08:00"),
        # 14 July 2027 (Wednesday).
        ("2027-07-13 22:00", SmsBlock.OUTSIDE_HOURS, "2027-07-15 08:00"),
    ],
)
def test_quiet_hours(at: str, block: SmsBlock | None, leaves: str) -> None:
    moment = dt.datetime.fromisoformat(at).replace(tzinfo=PARIS)
    assert sms_block(moment, PARIS) is block
    assert next_sms_time(moment, PARIS) == dt.datetime.fromisoformat(leaves).replace(tzinfo=PARIS)


def test_quiet_hours_need_a_zone_aware_time() -> None:
    with pytest.raises(ValueError):
        sms_block(dt.datetime(2026, 11, 24, 11), PARIS)


@pytest.mark.parametrize(
    ("name", "sender"),
    [
        ("Agence Corniche", "AgenceCorni"),
        ("Cabinet Rouvière & fils", "CabinetRouv"),
        ("M+3", "M3"),
        ("AXA", "AXA"),
        ("1234", "Agence"),
    ],
)
def test_sender_is_at_most_eleven_letters_and_digits(name: str, sender: str) -> None:
    assert sender_id(name) == sender


def test_numbers() -> None:
    assert is_mobile("+33612345678") and is_mobile("07 81 23 45 67")
    assert not is_mobile("+33491000000")  # a landline
    assert not is_mobile("12")
    assert french_format("+33612345678") == "06 12 34 56 78"
    assert mask_phone("+33612345678") == "+336••••••78"
    assert "12345" not in mask_phone("+33612345678")
    assert mask_email("julie.laurent@agence.example.fr") == "j••••••••••••@agence.example.fr"


CARD = AdvisorCard(
    first_name="Julie",
    last_name="Laurent",
    email="julie.laurent@agence-corniche.fr",
    phone="+33612345678",
    agency="Agence",
    branch="Corniche",
    address="12 rue de Rome, 13001 Marseille",
    opening_hours="lundi–vendredi 9 h – 12 h 30 ; 14 h – 18 h",
)


def test_the_vcard_is_version_3_with_crlf_and_every_field() -> None:
    vcf = vcard_bytes(CARD)
    text = vcf.decode("utf-8")
    assert text.startswith("BEGIN:VCARD\r\nVERSION:3.0\r\n") and text.endswith("END:VCARD\r\n")
    assert "\n" not in text.replace("\r\n", "")
    parsed = vobject.readOne(text)
    assert parsed.version.value == "3.0"
    assert parsed.fn.value == "Julie Laurent"
    assert parsed.n.value.family == "Laurent" and parsed.n.value.given == "Julie"
    assert parsed.org.value == ["Agence", "Corniche"]
    assert parsed.title.value == "Conseiller·ère"
    assert parsed.tel.value == "+33612345678"
    assert parsed.tel.params["TYPE"] == ["WORK", "VOICE"]
    assert parsed.email.value == CARD.email
    assert "12 rue de Rome" in parsed.adr.value.street
    assert "14 h – 18 h" in parsed.note.value


def test_the_sms_fits_one_gsm7_segment_for_a_typical_name() -> None:
    text, shape = sms_text(CARD, link=None)
    assert text == (
        "Agence Corniche : Julie Laurent suit votre dossier, tél. 06 12 34 56 78, "
        "julie.laurent@agence-corniche.fr. Opposition aux messages : dites-le-moi."
    )
    assert (shape.encoding, shape.segments) == (Encoding.GSM7, 1)


def test_with_a_link_the_sms_takes_at_most_two() -> None:
    text, shape = sms_text(CARD, link="https://m3.agence-corniche.fr/c/AbCdEfGhIjKl")
    assert "https://m3.agence-corniche.fr/c/AbCdEfGhIjKl" in text
    assert shape.encoding is Encoding.GSM7 and shape.segments <= 2


def test_a_text_that_would_take_three_sms_is_refused_when_rendered() -> None:
    long = AdvisorCard(
        first_name="Marie-Françoise",  # ç: UCS-2
        last_name="de La Tour d'Auvergne-Lauraguais",
        email="marie-francoise.de-la-tour-dauvergne@agence-corniche.example.fr",
        phone="+33612345678",
        agency="Agence",
        branch="Corniche",
    )
    with pytest.raises(SmsTooLong) as refused:
        sms_text(long, link=None)
    assert refused.value.shape.segments > 2 and refused.value.shape.encoding is Encoding.UCS2


def test_the_email_is_french_and_its_html_escapes_the_client_name() -> None:
    mail = mail_content(CARD, "<b>Durand & fils</b>")
    assert mail.subject == "Julie Laurent — votre contact à l'agence Agence Corniche"
    assert "Bonjour <b>Durand & fils</b>," in mail.text
    assert "&lt;b&gt;Durand &amp; fils&lt;/b&gt;" in mail.html and "<b>Durand" not in mail.html
    assert "Ma carte de contact est jointe" in mail.text and mail.filename == "julie-laurent.vcf"


def test_the_tag_follows_real_acceptance_only() -> None:
    assert card_tag([]) is None
    assert card_tag(["queued", "simulated"]) is None  # a simulation never sets it
    assert card_tag(["failed"]) is TagValue.KO
    assert card_tag(["failed", "sent"]) is TagValue.OK
    assert card_tag(["uncertain"]) is None

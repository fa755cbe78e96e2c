"""The migrations against the model, on SQLite and PostgreSQL: up to head they build exactly
`Base.metadata`; 0003 and 0008 go up and down with data in place; and what the schema enforces
for the call capture (one attempt per submission, one review per case, one reminder per
callback)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, String, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot import db
from bot.calls import CaseTags, CrmField, Objectives, Outcome, Piece, after_call
from bot.models import (
    Advisor,
    Attempt,
    Base,
    Case,
    CaseReview,
    Client,
    Contract,
    Correction,
    NextAction,
    Reminder,
)
from bot.rules import ClientType, TagValue

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
NEW_TABLES = {"case_review", "next_action", "correction", "reminder"}


def _postgres_url() -> str:
    url = os.environ["TEST_DATABASE_URL"]
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    return url


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of its own (a file, or a PostgreSQL schema), not yet migrated."""
    if request.param == "sqlite":
        engine = db.make_engine(f"sqlite:///{tmp_path / 'm3.db'}")
        yield engine
        engine.dispose()
        return
    schema = f"m3mig_{uuid.uuid4().hex[:10]}"
    admin = db.make_engine(_postgres_url())
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = db.make_engine(f"{_postgres_url()}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _differences(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(db.alembic_config(engine), revision)


def test_migrations_to_head_build_exactly_the_model(empty_engine: Engine) -> None:
    db.upgrade(empty_engine)
    assert _differences(empty_engine) == []


def _seed_at_0002(engine: Engine) -> None:
    """An advisor, a client with a contract, a case and one attempt, in the 0002 schema."""
    now = dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.UTC)
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO advisor (id, email, first_name, last_name, role, active)"
                " VALUES (1, 'ines@agence.example.fr', 'Inès', 'Roux', 'Conseiller', :yes)"
            ),
            {"yes": True},
        )
        c.execute(
            text(
                "INSERT INTO client (id, number, client_type, phone_invalid, email_invalid,"
                " advisor_id) VALUES (1, 'C-1', 'Particulier', :no, :no, 1)"
            ),
            {"no": False},
        )
        c.execute(
            text(
                "INSERT INTO m3_case (id, client_id, advisor_id, is_current, effect_date,"
                " due_date, window_start, window_end, deadline, status, created_at)"
                " VALUES (1, 1, 1, :yes, :effect, :due, :start, :end, :deadline, 'a_faire', :now)"
            ),
            {
                "yes": True,
                "effect": dt.date(2026, 8, 20),
                "due": dt.date(2026, 11, 20),
                "start": dt.date(2026, 11, 13),
                "end": dt.date(2026, 11, 27),
                "deadline": dt.date(2026, 12, 20),
                "now": now,
            },
        )
        c.execute(
            text(
                "INSERT INTO contract (id, number, client_id, new_business, effect_date, status,"
                " missing_pieces, first_seen_on, case_id)"
                " VALUES (1, 'AU-1', 1, :yes, :effect, 'Actif', '[]', :seen, 1)"
            ),
            {"yes": True, "effect": dt.date(2026, 8, 20), "seen": dt.date(2026, 8, 21)},
        )
        c.execute(
            text(
                "INSERT INTO attempt (id, case_id, advisor_id, at, outcome, note)"
                " VALUES (1, 1, 1, :now, 'messagerie', 'laissé un message')"
            ),
            {"now": now},
        )


def _use_0003(engine: Engine) -> None:
    """One row in each new table and the new columns filled, through the model."""
    with db.session_factory(engine).begin() as session:
        attempt = session.get_one(Attempt, 1)
        attempt.submission_key = "V123:abc"
        attempt.next_try_on = dt.date(2026, 11, 25)
        session.get_one(Client, 1).objected_on = dt.date(2026, 11, 24)
        session.add_all(
            [
                CaseReview(case_id=1, updated_by_id=1, crm_checked=["phone"]),
                NextAction(case_id=1, attempt_id=1, kind="devis", due_on=dt.date(2026, 12, 1),
                           created_by_id=1),
                Correction(client_id=1, attempt_id=1, field="email", new_value="a@b.fr",
                           advisor_id=1),
                Reminder(attempt_id=1, advisor_id=1),
            ]
        )  # fmt: skip


def test_0003_goes_up_and_down_with_data_in_place(empty_engine: Engine) -> None:
    db.upgrade(empty_engine, "0002")
    _seed_at_0002(empty_engine)

    db.upgrade(empty_engine, "0003")
    assert _revision(empty_engine) == "0003"
    _use_0003(empty_engine)

    _downgrade(empty_engine, "0002")
    assert _revision(empty_engine) == "0002"
    inspector = inspect(empty_engine)
    assert not NEW_TABLES & set(inspector.get_table_names())
    assert "objected_on" not in {c["name"] for c in inspector.get_columns("client")}
    attempt_columns = {c["name"] for c in inspector.get_columns("attempt")}
    assert not {"submission_key", "callback_at", "next_try_on"} & attempt_columns
    with empty_engine.connect() as c:
        assert c.execute(text("SELECT outcome, note FROM attempt")).all() == [
            ("messagerie", "laissé un message")
        ]
        assert c.execute(text("SELECT number FROM client")).scalars().all() == ["C-1"]
        assert c.execute(text("SELECT number FROM contract")).scalars().all() == ["AU-1"]

    db.upgrade(empty_engine)
    assert _differences(empty_engine) == []
    with empty_engine.connect() as c:
        assert c.execute(text("SELECT outcome FROM attempt")).scalars().all() == ["messagerie"]


def test_every_migration_goes_down_to_an_empty_database_and_up_again(
    empty_engine: Engine,
) -> None:
    db.upgrade(empty_engine)
    _downgrade(empty_engine, "base")
    assert set(inspect(empty_engine).get_table_names()) <= {"alembic_version"}
    db.upgrade(empty_engine)
    assert _differences(empty_engine) == []


def test_0004_moves_each_absence_into_its_own_table_and_back(empty_engine: Engine) -> None:
    db.upgrade(empty_engine, "0003")
    with empty_engine.begin() as c:
        for id_, email, start, end in (
            (1, "ines@agence.example.fr", dt.date(2026, 12, 21), dt.date(2027, 1, 2)),
            (2, "paul@agence.example.fr", dt.date(2026, 11, 2), None),
            (3, "lea@agence.example.fr", None, None),
        ):
            c.execute(
                text(
                    "INSERT INTO advisor (id, email, first_name, last_name, role, active,"
                    " absent_from, absent_until)"
                    " VALUES (:id, :email, '', '', 'Conseiller', :yes, :start, :end)"
                ),
                {"id": id_, "email": email, "yes": True, "start": start, "end": end},
            )

    db.upgrade(empty_engine, "0004")
    assert "absent_from" not in {c["name"] for c in inspect(empty_engine).get_columns("advisor")}
    with empty_engine.connect() as c:
        rows = c.execute(
            text("SELECT advisor_id, start_on, end_on FROM absence ORDER BY advisor_id")
        ).all()
    # An absence with no end was bounded to a year (2 Nov 2026 + 365 days).
    assert [(a, str(s), str(e)) for a, s, e in rows] == [
        (1, "2026-12-21", "2027-01-02"),
        (2, "2026-11-02", "2027-11-02"),
    ]
    with db.session_factory(empty_engine)() as session:
        ines = session.get_one(Advisor, 1)
        assert ines.absent_on(dt.date(2027, 1, 2)) and not ines.absent_on(dt.date(2027, 1, 3))

    _downgrade(empty_engine, "0003")
    assert "absence" not in inspect(empty_engine).get_table_names()
    with empty_engine.connect() as c:
        back = c.execute(
            text("SELECT id, absent_from, absent_until FROM advisor ORDER BY id")
        ).all()
    assert [(a, s and str(s), e and str(e)) for a, s, e in back] == [
        (1, "2026-12-21", "2027-01-02"),
        (2, "2026-11-02", "2027-11-02"),
        (3, None, None),
    ]


def _audit_lengths(engine: Engine) -> dict[str, int | None]:
    columns = inspect(engine).get_columns("audit_log")
    return {
        c["name"]: cast(String, c["type"]).length
        for c in columns
        if c["name"] in ("actor", "entity_key")
    }


def test_0008_widens_the_audit_keys_to_an_email_and_back(empty_engine: Engine) -> None:
    """An advisor's e-mail (up to 254 characters) fits the audit's key and actor from 0008;
    going back cuts the longer values to the older lengths, the rows kept."""
    db.upgrade(empty_engine, "0007")
    assert _audit_lengths(empty_engine) == {"actor": 120, "entity_key": 64}
    insert = text(
        "INSERT INTO audit_log (id, at, actor, entity, entity_key, field, old_value, new_value)"
        " VALUES (:id, :at, :actor, 'advisor', :key, 'active', 'True', 'False')"
    )
    at = dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.UTC)
    with empty_engine.begin() as c:
        c.execute(insert, {"id": 1, "at": at, "actor": "import:1", "key": "ines@agence.fr"})

    db.upgrade(empty_engine, "0008")
    assert _audit_lengths(empty_engine) == {"actor": 254, "entity_key": 254}
    email = f"{'l' * 64}@{'a' * 63}.{'b' * 63}.{'c' * 58}.fr"  # 254 characters
    with empty_engine.begin() as c:
        c.execute(insert, {"id": 2, "at": at, "actor": email, "key": email})
    rows = "SELECT id, actor, entity_key, new_value FROM audit_log ORDER BY id"
    with empty_engine.connect() as c:
        assert c.execute(text(rows)).all() == [
            (1, "import:1", "ines@agence.fr", "False"),
            (2, email, email, "False"),
        ]
        index = {i["name"]: i["column_names"] for i in inspect(c).get_indexes("audit_log")}
        assert index == {"ix_audit_log_entity": ["entity", "entity_key"]}

    _downgrade(empty_engine, "0007")
    assert _revision(empty_engine) == "0007"
    assert _audit_lengths(empty_engine) == {"actor": 120, "entity_key": 64}
    with empty_engine.connect() as c:
        assert c.execute(text(rows)).all() == [
            (1, "import:1", "ines@agence.fr", "False"),
            (2, email[:120], email[:64], "False"),
        ]
    db.upgrade(empty_engine)
    assert _differences(empty_engine) == []


# --- What the schema enforces ---------------------------------------------------------------


def _case(factory: sessionmaker[Session]) -> tuple[int, int]:
    with factory.begin() as session:
        advisor = Advisor(email="ines@agence.example.fr", first_name="Inès", last_name="Roux")
        client = Client(number="C-1", client_type=ClientType.PERSON.value, advisor=advisor)
        case = Case(
            client=client,
            advisor=advisor,
            effect_date=dt.date(2026, 8, 20),
            due_date=dt.date(2026, 11, 20),
            window_start=dt.date(2026, 11, 13),
            window_end=dt.date(2026, 11, 27),
            deadline=dt.date(2026, 12, 20),
        )
        session.add(case)
        session.flush()
        return case.id, advisor.id


def _attempt(case_id: int, advisor_id: int, key: str | None) -> Attempt:
    return Attempt(
        case_id=case_id,
        advisor_id=advisor_id,
        at=dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.UTC),
        outcome=Outcome.VOICEMAIL.value,
        submission_key=key,
    )


def test_the_same_submission_twice_records_one_attempt(factory: sessionmaker[Session]) -> None:
    case_id, advisor_id = _case(factory)
    with factory.begin() as session:
        session.add(_attempt(case_id, advisor_id, "V1:h1"))
    with pytest.raises(IntegrityError), factory.begin() as session:
        session.add(_attempt(case_id, advisor_id, "V1:h1"))
    with factory.begin() as session:
        # Attempts recorded without a key (older rows) do not collide.
        session.add_all([_attempt(case_id, advisor_id, None), _attempt(case_id, advisor_id, None)])
    with factory() as session:
        keys = sorted(str(a.submission_key) for a in session.query(Attempt))
    assert keys == ["None", "None", "V1:h1"]


def test_one_review_per_case(factory: sessionmaker[Session]) -> None:
    case_id, advisor_id = _case(factory)
    with factory.begin() as session:
        session.add(CaseReview(case_id=case_id, updated_by_id=advisor_id))
    with pytest.raises(IntegrityError), factory.begin() as session:
        session.add(CaseReview(case_id=case_id, updated_by_id=advisor_id))


def test_one_callback_reminder_per_attempt(factory: sessionmaker[Session]) -> None:
    case_id, advisor_id = _case(factory)
    with factory.begin() as session:
        attempt = _attempt(case_id, advisor_id, "V2:h")
        attempt.outcome = Outcome.CALLBACK.value
        attempt.callback_at = dt.datetime(2026, 11, 26, 14, 30, tzinfo=dt.UTC)
        session.add(attempt)
        session.flush()
        attempt_id = attempt.id
        session.add(Reminder(attempt_id=attempt_id, advisor_id=advisor_id))
    with pytest.raises(IntegrityError), factory.begin() as session:
        session.add(Reminder(attempt_id=attempt_id, advisor_id=advisor_id))


def test_a_review_reads_back_as_objectives_and_a_case_stores_its_update(
    factory: sessionmaker[Session],
) -> None:
    case_id, advisor_id = _case(factory)
    every_field = ["address", "phone", "email", "marital_status", "professional_status"]
    with factory.begin() as session:
        session.add(
            CaseReview(
                case_id=case_id,
                updated_by_id=advisor_id,
                crm_checked=[*every_field, "branch", "advisor"],
                dp_signed=True,
                quotes_signed=True,
                pieces_missing=["carte_grise"],
                review_done=True,
                held_elsewhere=[{"product": "habitation", "insurer": "MAAF"}],
                gaps=["protection_juridique"],
            )
        )
    with factory.begin() as session:
        case = session.get_one(Case, case_id)
        review = case.review
        assert review is not None
        objectives = review.objectives()
        assert objectives == Objectives(
            crm_checked=frozenset(
                {
                    CrmField.ADDRESS,
                    CrmField.PHONE,
                    CrmField.EMAIL,
                    CrmField.MARITAL_STATUS,
                    CrmField.PROFESSIONAL_STATUS,
                    CrmField.BRANCH,
                    CrmField.ADVISOR,
                }
            ),
            dp_signed=True,
            quotes_signed=True,
            pieces_missing=frozenset({Piece.REGISTRATION}),
            review_done=True,
        )
        assert review.held_elsewhere == [{"product": "habitation", "insurer": "MAAF"}]
        assert case.tags == CaseTags()
        case.apply(
            after_call(
                outcome=Outcome.REACHED,
                objectives=objectives,
                client_type=case.client.client_type,
                previous=case.tags,
                previous_completed_on=case.completed_on,
                today=dt.date(2026, 11, 24),
            )
        )
    with factory() as session:
        stored = session.get_one(Case, case_id)
        # A piece is missing: objective 2 is not done, so the review cannot be OK yet.
        assert (stored.tag_call, stored.tag_crm, stored.tag_review, stored.tag_card) == (
            "OK",
            "OK",
            "KO",
            None,
        )
        assert stored.status == "en_cours"
        assert stored.completed_on is None
        assert stored.tags.call is TagValue.OK


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {
            name: c.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in ("advisor", "client", "contract", "m3_case")
        }


def test_an_agency_database_goes_down_to_the_first_schema_and_up_again(
    empty_engine: Engine,
) -> None:
    """Down to 0001 with an agency's data in place (on SQLite, the migrations that rebuild
    `advisor` while clients refer to it), then up again: nothing lost, the keys kept."""
    from bot import demo

    db.upgrade(empty_engine)
    with db.session_factory(empty_engine).begin() as session:
        demo.load(session, today=dt.date(2026, 11, 26), clients=40)
    before = _counts(empty_engine)
    assert before["client"] == 40 and before["contract"] > 40 and before["m3_case"] > 0

    _downgrade(empty_engine, "0001")
    assert _revision(empty_engine) == "0001"
    assert _counts(empty_engine) == before
    if empty_engine.dialect.name == "sqlite":
        with empty_engine.connect() as c:  # the pooled connection has its keys back on
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1

    db.upgrade(empty_engine)
    assert _differences(empty_engine) == []
    assert _counts(empty_engine) == before


def test_a_migration_stops_on_rows_referring_to_missing_rows(empty_engine: Engine) -> None:
    """A database whose rows refer to missing ones (written with the keys off) is not
    migrated: the migration stops with the first such row, and the database stays as it was
    (SQLite checks every key before committing; PostgreSQL never lets such rows in)."""
    db.upgrade(empty_engine, "0001")
    with empty_engine.begin() as c:
        if empty_engine.dialect.name == "sqlite":
            c.exec_driver_sql("PRAGMA foreign_keys=OFF")
        c.execute(
            text(
                "INSERT INTO advisor (id, email, first_name, last_name, role, active)"
                " VALUES (1, 'ines@agence.example.fr', 'Inès', 'Morel', 'Conseiller', :yes)"
            ),
            {"yes": True},
        )
        insert_client = text(
            "INSERT INTO client (id, number, client_type, advisor_id, phone_invalid,"
            " email_invalid) VALUES (1, 'C-1', 'Particulier', 99, :no, :no)"
        )
        if empty_engine.dialect.name == "postgresql":
            with pytest.raises(IntegrityError), c.begin_nested():
                c.execute(insert_client, {"no": False})
            return
        c.execute(insert_client, {"no": False})
        c.exec_driver_sql("PRAGMA foreign_keys=ON")
    with pytest.raises(RuntimeError, match=r"table client, ligne 1, vers la table advisor"):
        db.upgrade(empty_engine, "0002")
    assert _revision(empty_engine) == "0001"
    assert "digest" not in inspect(empty_engine).get_table_names()  # 0002's table


def test_0009_leaves_room_on_postgresql_pages_and_takes_it_back(empty_engine: Engine) -> None:
    """From 0009, PostgreSQL fills the pages of `client` and `contract` to 90 % (room for a
    changed row to stay on its page); down to 0008, back to its default."""
    if empty_engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL storage setting")

    def options() -> dict[str, list[str] | None]:
        query = text(
            "SELECT relname, reloptions FROM pg_class WHERE relkind = 'r' AND relname IN "
            "('client', 'contract') AND relnamespace = to_regnamespace(current_schema())::oid"
        )
        with empty_engine.connect() as c:
            return {name: reloptions for name, reloptions in c.execute(query)}

    db.upgrade(empty_engine, "0008")
    assert options() == {"client": None, "contract": None}
    db.upgrade(empty_engine)
    assert options() == {"client": ["fillfactor=90"], "contract": ["fillfactor=90"]}
    _downgrade(empty_engine, "0008")
    assert options() == {"client": None, "contract": None}


def test_0011_gives_full_width_numbers_their_plain_form_in_place(empty_engine: Engine) -> None:
    """A number stored in full-width characters (or as a spreadsheet's `="…"`) before the
    importer read them plain keeps its row (its id, its cases) under the plain number; one
    whose plain form is taken, or too long for the column once plain, stays as it was."""
    db.upgrade(empty_engine, "0010")
    numbers = {
        1: "８２０００１",  # full-width digits: « 820001 »
        2: "820002",  # plain already
        3: "Ｘ９",  # plain form taken by client 4
        4: "X9",
        5: "Café-5",  # not ASCII, but plain already
        6: "㍿" * 20,  # NFKC makes each « 株式会社 »: 80 characters, the column holds 64
        7: '="00107"',  # a spreadsheet's number kept as text: « 00107 »
    }
    with db.session_factory(empty_engine).begin() as session:
        advisor = Advisor(email="ines@agence.example.fr", first_name="Inès", last_name="Roux")
        session.add_all(
            Client(id=i, number=n, client_type=ClientType.PERSON.value, advisor=advisor)
            for i, n in numbers.items()
        )
        session.flush()
        session.add_all(
            [
                Contract(id=1, number="ＡＵ－１", client_id=1, effect_date=dt.date(2026, 8, 20),
                         first_seen_on=dt.date(2026, 8, 21)),
                Contract(id=2, number="AU-2", client_id=2, effect_date=dt.date(2026, 8, 20),
                         first_seen_on=dt.date(2026, 8, 21)),
            ]
        )  # fmt: skip

    db.upgrade(empty_engine)
    assert _differences(empty_engine) == []
    with empty_engine.connect() as c:
        clients = dict(c.execute(text("SELECT id, number FROM client")).all())
        contracts = c.execute(text("SELECT id, number, client_id FROM contract ORDER BY id")).all()
    assert clients == {**numbers, 1: "820001", 7: "00107"}
    assert contracts == [(1, "AU-1", 1), (2, "AU-2", 2)]

    _downgrade(empty_engine, "0010")  # the plain numbers are the CRM's: they stay
    with empty_engine.connect() as c:
        assert c.execute(text("SELECT number FROM client WHERE id = 1")).scalar() == "820001"

"""absence periods: an advisor's absences become rows of `absence` (several can be planned);
`advisor.absent_from` and `advisor.absent_until` are moved there and dropped

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:00:00.000000
"""

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An absence with no end (possible before 0004) gets one: absences last a year at most.
LONGEST = dt.timedelta(days=365)


def upgrade() -> None:
    op.create_table(
        "absence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advisor_id", sa.Integer(), nullable=False),
        sa.Column("start_on", sa.Date(), nullable=False),
        sa.Column("end_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisor_id"], ["advisor.id"], name=op.f("fk_absence_advisor_id_advisor")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_absence")),
    )
    op.create_index(op.f("ix_absence_advisor_id"), "absence", ["advisor_id"], unique=False)

    connection = op.get_bind()
    advisor = sa.table(
        "advisor",
        sa.column("id", sa.Integer()),
        sa.column("absent_from", sa.Date()),
        sa.column("absent_until", sa.Date()),
    )
    absence = sa.table(
        "absence",
        sa.column("advisor_id", sa.Integer()),
        sa.column("start_on", sa.Date()),
        sa.column("end_on", sa.Date()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    rows = connection.execute(
        sa.select(advisor.c.id, advisor.c.absent_from, advisor.c.absent_until).where(
            advisor.c.absent_from.is_not(None)
        )
    ).all()
    now = dt.datetime.now(dt.UTC)
    periods = [
        {
            "advisor_id": advisor_id,
            "start_on": start,
            "end_on": end if end is not None and end >= start else start + LONGEST,
            "created_at": now,
        }
        for advisor_id, start, end in rows
    ]
    if periods:
        connection.execute(sa.insert(absence), periods)

    # Dropped in place (PostgreSQL; SQLite 3.35 and later), as 0003's downgrade does: a batch
    # rebuild of `advisor` would have to drop a table every client and case points to.
    op.drop_column("advisor", "absent_until")
    op.drop_column("advisor", "absent_from")


def downgrade() -> None:
    op.add_column("advisor", sa.Column("absent_from", sa.Date(), nullable=True))
    op.add_column("advisor", sa.Column("absent_until", sa.Date(), nullable=True))

    # One period per advisor fits the old columns: the one going on today, else the next one
    # planned, else the last one.
    connection = op.get_bind()
    absence = sa.table(
        "absence",
        sa.column("advisor_id", sa.Integer()),
        sa.column("start_on", sa.Date()),
        sa.column("end_on", sa.Date()),
    )
    advisor = sa.table(
        "advisor",
        sa.column("id", sa.Integer()),
        sa.column("absent_from", sa.Date()),
        sa.column("absent_until", sa.Date()),
    )
    # The agency's date (the bot's default zone), not the server's: they differ at night.
    today = dt.datetime.now(ZoneInfo("Europe/Paris")).date()
    kept: dict[int, tuple[dt.date, dt.date]] = {}
    for advisor_id, start, end in connection.execute(
        sa.select(absence.c.advisor_id, absence.c.start_on, absence.c.end_on)
    ):

        def rank(period: tuple[dt.date, dt.date]) -> tuple[int, int]:
            begin, finish = period
            if begin <= today <= finish:
                return (0, 0)
            if begin > today:
                return (1, (begin - today).days)
            return (2, (today - finish).days)

        current = kept.get(advisor_id)
        if current is None or rank((start, end)) < rank(current):
            kept[advisor_id] = (start, end)
    for advisor_id, (start, end) in kept.items():
        connection.execute(
            sa.update(advisor)
            .where(advisor.c.id == advisor_id)
            .values(absent_from=start, absent_until=end)
        )

    op.drop_index(op.f("ix_absence_advisor_id"), table_name="absence")
    op.drop_table("absence")

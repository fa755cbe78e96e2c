"""call capture: attempts' follow-up and idempotency key, case reviews, next actions, CRM
corrections, reminders, client objection

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 00:20:20.877121
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Columns and indexes first: on SQLite they need no table rebuild (a rebuild of `client`
    # or `attempt` would have to drop a table other rows point to).
    with op.batch_alter_table("client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("objected_on", sa.Date(), nullable=True))

    with op.batch_alter_table("attempt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission_key", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("callback_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("next_try_on", sa.Date(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_attempt_submission_key"), ["submission_key"], unique=True
        )
        batch_op.create_index(batch_op.f("ix_attempt_callback_at"), ["callback_at"], unique=False)

    op.create_table(
        "case_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("crm_checked", sa.JSON(), nullable=False),
        sa.Column("dp_signed", sa.Boolean(), nullable=False),
        sa.Column("quotes_signed", sa.Boolean(), nullable=False),
        sa.Column("pieces_missing", sa.JSON(), nullable=False),
        sa.Column("review_done", sa.Boolean(), nullable=False),
        sa.Column("held_elsewhere", sa.JSON(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["m3_case.id"], name=op.f("fk_case_review_case_id_m3_case")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["advisor.id"], name=op.f("fk_case_review_updated_by_id_advisor")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_review")),
        sa.UniqueConstraint("case_id", name=op.f("uq_case_review_case_id")),
    )
    op.create_table(
        "correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("advisor_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["advisor_id"], ["advisor.id"], name=op.f("fk_correction_advisor_id_advisor")
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempt.id"], name=op.f("fk_correction_attempt_id_attempt")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["client.id"], name=op.f("fk_correction_client_id_client")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_correction")),
    )
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_correction_client_id"), ["client_id"], unique=False)

    op.create_table(
        "next_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("product", sa.String(length=40), nullable=True),
        sa.Column("done_on", sa.Date(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempt.id"], name=op.f("fk_next_action_attempt_id_attempt")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["m3_case.id"], name=op.f("fk_next_action_case_id_m3_case")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["advisor.id"], name=op.f("fk_next_action_created_by_id_advisor")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_next_action")),
    )
    with op.batch_alter_table("next_action", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_next_action_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_next_action_due_on"), ["due_on"], unique=False)

    op.create_table(
        "reminder",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("advisor_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["advisor_id"], ["advisor.id"], name=op.f("fk_reminder_advisor_id_advisor")
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempt.id"], name=op.f("fk_reminder_attempt_id_attempt")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder")),
        sa.UniqueConstraint("attempt_id", "kind", name=op.f("uq_reminder_attempt_id")),
    )


def downgrade() -> None:
    op.drop_table("reminder")
    with op.batch_alter_table("next_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_next_action_due_on"))
        batch_op.drop_index(batch_op.f("ix_next_action_case_id"))

    op.drop_table("next_action")
    with op.batch_alter_table("correction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_correction_client_id"))

    op.drop_table("correction")
    op.drop_table("case_review")

    # Columns dropped in place (PostgreSQL; SQLite 3.35 and later): SQLite's batch mode would
    # rebuild the table, and dropping the old `client` fails while contracts and cases point
    # to it.
    op.drop_index(op.f("ix_attempt_callback_at"), table_name="attempt")
    op.drop_index(op.f("ix_attempt_submission_key"), table_name="attempt")
    op.drop_column("attempt", "next_try_on")
    op.drop_column("attempt", "callback_at")
    op.drop_column("attempt", "submission_key")
    op.drop_column("client", "objected_on")

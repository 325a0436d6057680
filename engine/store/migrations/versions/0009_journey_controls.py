"""journey controls (pause, resume, stop)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 17:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "journey_controls",
        sa.Column("journey_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(), nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'stopped')", name=op.f("ck_journey_controls_status")
        ),
        sa.PrimaryKeyConstraint("journey_id", name=op.f("pk_journey_controls")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("journey_controls")

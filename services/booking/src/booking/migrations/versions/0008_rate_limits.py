"""The windows the rate limits of the public write paths are counted in
(service_kit.ratelimit).

Revision ID: 0008
"""

from alembic import op

from service_kit.ratelimit import add_rate_limits, drop_rate_limits

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_rate_limits(op)


def downgrade() -> None:
    drop_rate_limits(op)

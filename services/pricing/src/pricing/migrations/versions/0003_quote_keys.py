"""Quote keys: a booking may be priced more than once over its life (a modification prices the
new dates or party), so a saga's quote is idempotent by its key, not by its booking.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("quotes", sa.Column("quote_key", sa.Text))
    op.execute("UPDATE quotes SET quote_key = booking_id WHERE booking_id IS NOT NULL")
    op.create_unique_constraint("quotes_quote_key_key", "quotes", ["quote_key"])
    op.drop_constraint("quotes_booking_id_key", "quotes")
    op.create_index("quotes_booking_idx", "quotes", ["booking_id"])


def downgrade() -> None:
    op.drop_index("quotes_booking_idx", "quotes")
    op.create_unique_constraint("quotes_booking_id_key", "quotes", ["booking_id"])
    op.drop_constraint("quotes_quote_key_key", "quotes")
    op.drop_column("quotes", "quote_key")

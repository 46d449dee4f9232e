"""A booking whose status changes notifies ``booking_status`` (its id), at commit, so a request
waiting for the booking's answer (``Prefer: wait``) is woken instead of polling.

Revision ID: 0007
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION bookings_status_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('booking_status', NEW.id::text);
            RETURN NULL;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER bookings_status_notify AFTER UPDATE OF status ON bookings "
        "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) "
        "EXECUTE FUNCTION bookings_status_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER bookings_status_notify ON bookings")
    op.execute("DROP FUNCTION bookings_status_notify()")

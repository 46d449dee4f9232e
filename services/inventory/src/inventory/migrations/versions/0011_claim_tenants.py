"""A claim names its tenant (its resource's), so saga commands and events are scoped by it.

A trigger fills ``tenant_id`` from the resource on every insert, so claims written by a pod of
the previous release during a rolling upgrade get it too.

Revision ID: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reservations", sa.Column("tenant_id", sa.Text))
    op.execute(
        "UPDATE reservations r SET tenant_id = x.tenant_id FROM resources x "
        "WHERE x.id = r.resource_id AND r.tenant_id IS NULL"
    )
    op.execute(
        """
        CREATE FUNCTION reservations_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.tenant_id IS NULL THEN
                SELECT tenant_id INTO NEW.tenant_id FROM resources WHERE id = NEW.resource_id;
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER reservations_tenant BEFORE INSERT ON reservations "
        "FOR EACH ROW EXECUTE FUNCTION reservations_tenant()"
    )
    op.create_index("reservations_tenant_idx", "reservations", ["tenant_id"])


def downgrade() -> None:
    op.drop_index("reservations_tenant_idx", "reservations")
    op.execute("DROP TRIGGER reservations_tenant ON reservations")
    op.execute("DROP FUNCTION reservations_tenant()")
    op.drop_column("reservations", "tenant_id")

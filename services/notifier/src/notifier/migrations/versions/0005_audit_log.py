"""The audit trail of changes made through the API (service_kit.audit): who, from where, when,
and the values before and after.

Revision ID: 0005
"""

from alembic import op

from service_kit.audit import create_audit_log, drop_audit_log

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_audit_log(op)


def downgrade() -> None:
    drop_audit_log(op)

"""outgoing mail claims (the run that reserved a message and until when, so that overlapping
runs send each message once); report export batches; on PostgreSQL the task queue's schema
"procrastinate"

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 08:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# The task queue (backend/tasks.py) keeps its tables and functions in a schema of their own, out
# of the application's: its connections search only that schema. The SQL is the one of the
# procrastinate release setup.cfg pins (procrastinate's own schema.sql); a newer release brings
# its own migration files (procrastinate/sql/migrations), to be applied by a new revision here.
QUEUE_SCHEMA = "procrastinate"


def _create_queue_schema():
    from importlib import resources

    sql = (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8")
    bind = op.get_bind()
    search_path = bind.exec_driver_sql("SHOW search_path").scalar()
    bind.exec_driver_sql(f"CREATE SCHEMA {QUEUE_SCHEMA}")
    bind.exec_driver_sql(f"SET LOCAL search_path TO {QUEUE_SCHEMA}")
    bind.exec_driver_sql(sql.replace("%", "%%"))  # no parameters: a literal % in the script
    bind.exec_driver_sql(f"SET LOCAL search_path TO {search_path}")


def upgrade():
    with op.batch_alter_table('outgoing_mail', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_by', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('report_exports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('batches', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('batches_done', sa.Integer(), server_default='0', nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        _create_queue_schema()


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP SCHEMA {QUEUE_SCHEMA} CASCADE")
    with op.batch_alter_table('report_exports', schema=None) as batch_op:
        batch_op.drop_column('batches_done')
        batch_op.drop_column('batches')
    with op.batch_alter_table('outgoing_mail', schema=None) as batch_op:
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')

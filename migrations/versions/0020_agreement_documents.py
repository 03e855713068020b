"""agreement documents: the regeling text the works council consented to (with its sha256) and
the drivers' acknowledgements of the privacy notice

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'agreement_consented_texts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agreement_version_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['agreement_version_id'], ['agreement_versions.id'],
                                name=op.f('fk_agreement_consented_texts_agreement_version_id_agreement_versions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_agreement_consented_texts')),
        sa.UniqueConstraint('agreement_version_id', name=op.f('uq_agreement_consented_texts_agreement_version_id')),
    )
    op.create_table(
        'privacy_notice_acknowledgements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('agreement_version_id', sa.Integer(), nullable=False),
        sa.Column('notice_sha256', sa.String(length=64), nullable=False),
        sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['agreement_version_id'], ['agreement_versions.id'],
                                name=op.f('fk_privacy_notice_acknowledgements_agreement_version_id_agreement_versions')),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'],
                                name=op.f('fk_privacy_notice_acknowledgements_user_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_privacy_notice_acknowledgements')),
        sa.UniqueConstraint('user_id', 'notice_sha256', name='uq_notice_ack_user_text'),
    )
    with op.batch_alter_table('privacy_notice_acknowledgements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_privacy_notice_acknowledgements_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('privacy_notice_acknowledgements', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_privacy_notice_acknowledgements_user_id'))
    op.drop_table('privacy_notice_acknowledgements')
    op.drop_table('agreement_consented_texts')

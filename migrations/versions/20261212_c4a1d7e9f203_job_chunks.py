"""Job chunks: a job split into pieces that several workers run in parallel.

Revision ID: c4a1d7e9f203
Revises: c4d8e2f1a6b3
Create Date: 2026-12-10 08:30:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = 'c4a1d7e9f203'
down_revision = 'c4d8e2f1a6b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chunks_total', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('chunks_done', sa.Integer(), server_default='0', nullable=False)
        )

    op.create_table('job_chunks',
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('worker', sa.String(length=128), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f('ck_job_chunks_known_status')),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_job_chunks_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('job_id', 'index', name=op.f('pk_job_chunks'))
    )


def downgrade() -> None:
    op.drop_table('job_chunks')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('chunks_done')
        batch_op.drop_column('chunks_total')

"""Forecasting: imported demand history, promotions, forecast runs and forecasts.

Revision ID: 70be1400b5d0
Revises: 5d1f0c2a9b7e
Create Date: 2026-11-25 12:51:54.956889
"""

from alembic import op
import sqlalchemy as sa


revision = '70be1400b5d0'
down_revision = '5d1f0c2a9b7e'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('demand_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('stockout', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('imported_by', sa.String(length=64), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_demand_history_quantity_not_negative')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_demand_history_product_id_products')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_demand_history_warehouse_id_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand_history')),
    sa.UniqueConstraint('product_id', 'warehouse_id', 'day', name=op.f('uq_demand_history_product_id_warehouse_id_day'))
    )
    with op.batch_alter_table('demand_history', schema=None) as batch_op:
        batch_op.create_index('ix_demand_history_warehouse_id', ['warehouse_id'], unique=False)

    op.create_table('forecast_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('horizon', sa.Integer(), nullable=False),
    sa.Column('frequency', sa.String(length=1), nullable=False),
    sa.Column('skus', sa.JSON(), nullable=True),
    sa.Column('warehouses', sa.JSON(), nullable=True),
    sa.Column('history_end', sa.Date(), nullable=False),
    sa.Column('series_total', sa.Integer(), nullable=False),
    sa.Column('series_done', sa.Integer(), nullable=False),
    sa.Column('series_failed', sa.Integer(), nullable=False),
    sa.Column('mase', sa.Float(), nullable=True),
    sa.Column('wape', sa.Float(), nullable=True),
    sa.Column('bias', sa.Float(), nullable=True),
    sa.Column('models', sa.JSON(), nullable=True),
    sa.Column('failures', sa.JSON(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("frequency IN ('D', 'W', 'M')", name=op.f('ck_forecast_runs_known_frequency')),
    sa.CheckConstraint('horizon > 0', name=op.f('ck_forecast_runs_horizon_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_forecast_runs_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_forecast_runs_job_id_jobs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_forecast_runs')),
    sa.UniqueConstraint('job_id', name=op.f('uq_forecast_runs_job_id'))
    )
    op.create_table('promotions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('expected_uplift', sa.Float(), nullable=True),
    sa.Column('discount', sa.Float(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('discount IS NULL OR (discount >= 0 AND discount < 1)', name=op.f('ck_promotions_discount_range')),
    sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_promotions_ends_after_start')),
    sa.CheckConstraint('expected_uplift IS NULL OR expected_uplift > -1', name=op.f('ck_promotions_uplift_range')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_promotions_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_promotions_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promotions'))
    )
    with op.batch_alter_table('promotions', schema=None) as batch_op:
        batch_op.create_index('ix_promotions_ends_on', ['ends_on'], unique=False)
        batch_op.create_index('ix_promotions_product_id', ['product_id', 'starts_on'], unique=False)

    op.create_table('forecasts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('frequency', sa.String(length=1), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('history_end', sa.Date(), nullable=False),
    sa.Column('observations', sa.Integer(), nullable=False),
    sa.Column('censored', sa.Integer(), nullable=False),
    sa.Column('mase', sa.Float(), nullable=True),
    sa.Column('wape', sa.Float(), nullable=True),
    sa.Column('bias', sa.Float(), nullable=True),
    sa.Column('periods', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("frequency IN ('D', 'W', 'M')", name=op.f('ck_forecasts_known_frequency')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_forecasts_product_id_products')),
    sa.ForeignKeyConstraint(['run_id'], ['forecast_runs.id'], name=op.f('fk_forecasts_run_id_forecast_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_forecasts_warehouse_id_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_forecasts')),
    sa.UniqueConstraint('run_id', 'product_id', 'warehouse_id', name=op.f('uq_forecasts_run_id_product_id_warehouse_id'))
    )
    with op.batch_alter_table('forecasts', schema=None) as batch_op:
        batch_op.create_index('ix_forecasts_series', ['product_id', 'warehouse_id', 'id'], unique=False)

    op.create_table('promotion_warehouses',
    sa.Column('promotion_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['promotion_id'], ['promotions.id'], name=op.f('fk_promotion_warehouses_promotion_id_promotions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_promotion_warehouses_warehouse_id_warehouses')),
    sa.PrimaryKeyConstraint('promotion_id', 'warehouse_id', name=op.f('pk_promotion_warehouses'))
    )


def downgrade() -> None:
    op.drop_table('promotion_warehouses')
    with op.batch_alter_table('forecasts', schema=None) as batch_op:
        batch_op.drop_index('ix_forecasts_series')

    op.drop_table('forecasts')
    with op.batch_alter_table('promotions', schema=None) as batch_op:
        batch_op.drop_index('ix_promotions_product_id')
        batch_op.drop_index('ix_promotions_ends_on')

    op.drop_table('promotions')
    op.drop_table('forecast_runs')
    with op.batch_alter_table('demand_history', schema=None) as batch_op:
        batch_op.drop_index('ix_demand_history_warehouse_id')

    op.drop_table('demand_history')

"""Procurement: suppliers and their standing, price lists with breaks, purchase orders, approvals, receipts.

Revision ID: 2a6923b840c8
Revises: 70be1400b5d0
Create Date: 2026-11-25 12:53:32.092812
"""

from alembic import op
import sqlalchemy as sa


revision = '2a6923b840c8'
down_revision = '70be1400b5d0'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('suppliers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('default_lead_time_days', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('status_changed_by', sa.String(length=64), nullable=True),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('grade', sa.String(length=1), nullable=True),
    sa.Column('score', sa.Numeric(precision=5, scale=1), nullable=True),
    sa.Column('graded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('flagged_for_review', sa.Boolean(), nullable=False),
    sa.Column('flag_reason', sa.Text(), nullable=True),
    sa.Column('flagged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("grade IS NULL OR grade IN ('A', 'B', 'C', 'D')", name=op.f('ck_suppliers_known_grade')),
    sa.CheckConstraint("status IN ('candidate', 'approved', 'suspended', 'blocked')", name=op.f('ck_suppliers_known_status')),
    sa.CheckConstraint('default_lead_time_days >= 0', name=op.f('ck_suppliers_lead_time_not_negative')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppliers')),
    sa.UniqueConstraint('code', name=op.f('uq_suppliers_code'))
    )
    op.create_table('purchase_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('warehouse_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('total', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('expected_date', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('approvals_required', sa.Integer(), nullable=False),
    sa.Column('status_reason', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'pending_approval', 'approved', 'rejected', 'sent', 'partially_received', 'received', 'closed', 'cancelled')", name=op.f('ck_purchase_orders_known_status')),
    sa.CheckConstraint('approvals_required BETWEEN 0 AND 2', name=op.f('ck_purchase_orders_approvals_required_range')),
    sa.CheckConstraint('total >= 0', name=op.f('ck_purchase_orders_total_not_negative')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_purchase_orders_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_purchase_orders_supplier_id_suppliers')),
    sa.ForeignKeyConstraint(['warehouse_id'], ['warehouses.id'], name=op.f('fk_purchase_orders_warehouse_id_warehouses')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_orders'))
    )
    with op.batch_alter_table('purchase_orders', schema=None) as batch_op:
        batch_op.create_index('ix_purchase_orders_status_id', ['status', 'id'], unique=False)
        batch_op.create_index('ix_purchase_orders_supplier_id_id', ['supplier_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_purchase_orders_warehouse_id'), ['warehouse_id'], unique=False)

    op.create_table('supplier_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_supplier_events_actor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_supplier_events_supplier_id_suppliers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_events'))
    )
    with op.batch_alter_table('supplier_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supplier_events_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('supplier_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('supplier_sku', sa.String(length=64), nullable=True),
    sa.Column('unit_price', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('moq', sa.Integer(), nullable=False),
    sa.Column('pack_size', sa.Integer(), nullable=False),
    sa.Column('lead_time_days', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('lead_time_days IS NULL OR lead_time_days >= 0', name=op.f('ck_supplier_items_lead_time_not_negative')),
    sa.CheckConstraint('moq >= 1', name=op.f('ck_supplier_items_moq_positive')),
    sa.CheckConstraint('pack_size >= 1', name=op.f('ck_supplier_items_pack_size_positive')),
    sa.CheckConstraint('unit_price >= 0', name=op.f('ck_supplier_items_unit_price_not_negative')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_supplier_items_product_id_products')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_supplier_items_supplier_id_suppliers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supplier_items')),
    sa.UniqueConstraint('supplier_id', 'product_id', name=op.f('uq_supplier_items_supplier_id_product_id'))
    )
    with op.batch_alter_table('supplier_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_supplier_items_product_id'), ['product_id'], unique=False)

    op.create_table('purchase_order_approvals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=8), nullable=False),
    sa.Column('approver_id', sa.Integer(), nullable=True),
    sa.Column('approver', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('order_version', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("decision IN ('approved', 'rejected')", name=op.f('ck_purchase_order_approvals_known_decision')),
    sa.ForeignKeyConstraint(['approver_id'], ['users.id'], name=op.f('fk_purchase_order_approvals_approver_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_id'], ['purchase_orders.id'], name=op.f('fk_purchase_order_approvals_order_id_purchase_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order_approvals')),
    sa.UniqueConstraint('order_id', 'approver', name=op.f('uq_purchase_order_approvals_order_id_approver'))
    )
    op.create_table('purchase_order_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('list_price', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('price_source', sa.String(length=8), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.CheckConstraint("price_source IN ('list', 'manual')", name=op.f('ck_purchase_order_lines_known_price_source')),
    sa.CheckConstraint('accepted >= 0 AND accepted <= quantity', name=op.f('ck_purchase_order_lines_accepted_range')),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_purchase_order_lines_quantity_positive')),
    sa.CheckConstraint('rejected >= 0', name=op.f('ck_purchase_order_lines_rejected_not_negative')),
    sa.CheckConstraint('unit_price >= 0', name=op.f('ck_purchase_order_lines_unit_price_not_negative')),
    sa.ForeignKeyConstraint(['order_id'], ['purchase_orders.id'], name=op.f('fk_purchase_order_lines_order_id_purchase_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_purchase_order_lines_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchase_order_lines')),
    sa.UniqueConstraint('order_id', 'line_no', name=op.f('uq_purchase_order_lines_order_id_line_no')),
    sa.UniqueConstraint('order_id', 'product_id', name=op.f('uq_purchase_order_lines_order_id_product_id'))
    )
    with op.batch_alter_table('purchase_order_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purchase_order_lines_product_id'), ['product_id'], unique=False)

    op.create_table('receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_by_id', sa.Integer(), nullable=True),
    sa.Column('received_by', sa.String(length=64), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['purchase_orders.id'], name=op.f('fk_receipts_order_id_purchase_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['received_by_id'], ['users.id'], name=op.f('fk_receipts_received_by_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipts'))
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipts_order_id'), ['order_id'], unique=False)

    op.create_table('supplier_price_breaks',
    sa.Column('supplier_item_id', sa.Integer(), nullable=False),
    sa.Column('min_quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.CheckConstraint('min_quantity >= 2', name=op.f('ck_supplier_price_breaks_min_quantity_above_one')),
    sa.CheckConstraint('unit_price >= 0', name=op.f('ck_supplier_price_breaks_unit_price_not_negative')),
    sa.ForeignKeyConstraint(['supplier_item_id'], ['supplier_items.id'], name=op.f('fk_supplier_price_breaks_supplier_item_id_supplier_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('supplier_item_id', 'min_quantity', name=op.f('pk_supplier_price_breaks'))
    )
    op.create_table('receipt_lines',
    sa.Column('receipt_id', sa.Integer(), nullable=False),
    sa.Column('order_line_id', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('reject_reason', sa.Text(), nullable=True),
    sa.Column('movement_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.CheckConstraint('accepted + rejected > 0', name=op.f('ck_receipt_lines_something_delivered')),
    sa.CheckConstraint('accepted >= 0 AND rejected >= 0', name=op.f('ck_receipt_lines_quantities_not_negative')),
    sa.ForeignKeyConstraint(['movement_id'], ['stock_movements.id'], name=op.f('fk_receipt_lines_movement_id_stock_movements')),
    sa.ForeignKeyConstraint(['order_line_id'], ['purchase_order_lines.id'], name=op.f('fk_receipt_lines_order_line_id_purchase_order_lines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['receipt_id'], ['receipts.id'], name=op.f('fk_receipt_lines_receipt_id_receipts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('receipt_id', 'order_line_id', name=op.f('pk_receipt_lines'))
    )


def downgrade() -> None:
    op.drop_table('receipt_lines')
    op.drop_table('supplier_price_breaks')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipts_order_id'))

    op.drop_table('receipts')
    with op.batch_alter_table('purchase_order_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_order_lines_product_id'))

    op.drop_table('purchase_order_lines')
    op.drop_table('purchase_order_approvals')
    with op.batch_alter_table('supplier_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supplier_items_product_id'))

    op.drop_table('supplier_items')
    with op.batch_alter_table('supplier_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_supplier_events_supplier_id'))

    op.drop_table('supplier_events')
    with op.batch_alter_table('purchase_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purchase_orders_warehouse_id'))
        batch_op.drop_index('ix_purchase_orders_supplier_id_id')
        batch_op.drop_index('ix_purchase_orders_status_id')

    op.drop_table('purchase_orders')
    op.drop_table('suppliers')

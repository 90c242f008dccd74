"""PostgreSQL functions: claim an Idempotency-Key, and hold a whole reservation in one statement.

``idempotency_claim`` takes the key's advisory lock (or fails with SQLSTATE ``SR409`` while another
request holds it), forgets an expired record and returns the live one, if any: the claim and the
look-up of ``core.idempotency`` in one round trip, the look-up reading after the lock is held.

``reserve_stock`` is what ``inventory.reservations.reserve`` runs once the allocation is chosen in
Python: the key's claim (returning its earlier record, and doing nothing else, when there is one),
the reservation, its lines and the key's record, then the conditional holds on every level in the
order given, which the caller sorts by (product, warehouse) so that concurrent reservations lock
in one order. The holds come last so that a level everyone wants (a promotion's sku) stays locked
for as short a time as possible. A level that no longer has the units fails the whole statement
with SQLSTATE ``SR001``, and the caller plans again under row locks. Called on its own
(autocommit), the statement is the transaction: every line is held, with its record, or nothing
is.

SQLite has no such functions; it keeps the statements of the Python code.

Revision ID: c4e8a1f7d2b3
Revises: c4a1d7e9f203
Create Date: 2026-12-05 09:00:00.000000
"""

from alembic import op

revision = "c4e8a1f7d2b3"
down_revision = "c4a1d7e9f203"
branch_labels = None
depends_on = None


IDEMPOTENCY_CLAIM = """
CREATE OR REPLACE FUNCTION idempotency_claim(
    p_lock bigint, p_scope text, p_key text, p_now timestamptz
) RETURNS SETOF idempotency_keys
LANGUAGE plpgsql AS $$
DECLARE
    earlier idempotency_keys;
BEGIN
    IF NOT pg_try_advisory_xact_lock(p_lock) THEN
        RAISE EXCEPTION 'a request with this Idempotency-Key is in flight'
            USING ERRCODE = 'SR409';
    END IF;
    -- Read with a snapshot taken after the lock was granted.
    SELECT * INTO earlier FROM idempotency_keys WHERE scope = p_scope AND key = p_key;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF earlier.expires_at <= p_now THEN
        DELETE FROM idempotency_keys WHERE scope = p_scope AND key = p_key;
        RETURN;
    END IF;
    RETURN NEXT earlier;
END
$$
"""

RESERVE_STOCK = """
CREATE OR REPLACE FUNCTION reserve_stock(
    p_now timestamptz,
    p_id bigint,
    p_order_ref text,
    p_expires_at timestamptz,
    p_warehouse_id integer,
    p_latitude double precision,
    p_longitude double precision,
    p_region text,
    p_deliver_by date,
    p_created_by_id integer,
    p_created_by text,
    p_products integer[],
    p_warehouses integer[],
    p_line_nos integer[],
    p_quantities integer[],
    p_lock bigint,
    p_scope text,
    p_key text,
    p_record jsonb
) RETURNS SETOF idempotency_keys
LANGUAGE plpgsql AS $$
DECLARE
    earlier idempotency_keys;
BEGIN
    IF p_lock IS NOT NULL THEN
        SELECT * INTO earlier FROM idempotency_claim(p_lock, p_scope, p_key, p_now);
        IF FOUND THEN
            RETURN NEXT earlier;
            RETURN;
        END IF;
    END IF;
    INSERT INTO reservations (
        id, order_ref, status, expires_at, warehouse_id, destination_latitude,
        destination_longitude, destination_region, deliver_by, created_by_id, created_by,
        created_at, updated_at
    ) VALUES (
        p_id, p_order_ref, 'active', p_expires_at, p_warehouse_id, p_latitude, p_longitude,
        p_region, p_deliver_by, p_created_by_id, p_created_by, p_now, p_now
    );
    INSERT INTO reservation_lines (
        reservation_id, product_id, warehouse_id, line_no, quantity, held, expires_at
    )
    SELECT p_id, l.product_id, l.warehouse_id, l.line_no, l.quantity, true, p_expires_at
      FROM unnest(p_products, p_warehouses, p_line_nos, p_quantities)
           AS l(product_id, warehouse_id, line_no, quantity);
    IF p_record IS NOT NULL THEN
        INSERT INTO idempotency_keys
        SELECT * FROM jsonb_populate_record(NULL::idempotency_keys, p_record);
    END IF;
    -- The holds come last: a popular level stays locked only from its UPDATE to the commit.
    FOR i IN 1 .. cardinality(p_products) LOOP
        UPDATE stock_levels
           SET reserved = reserved + p_quantities[i], updated_at = p_now
         WHERE product_id = p_products[i] AND warehouse_id = p_warehouses[i]
           AND on_hand - reserved >= p_quantities[i];
        IF NOT FOUND THEN
            RAISE EXCEPTION 'level (%, %) no longer has % units', p_products[i],
                p_warehouses[i], p_quantities[i] USING ERRCODE = 'SR001';
        END IF;
    END LOOP;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(IDEMPOTENCY_CLAIM)
    op.execute(RESERVE_STOCK)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.execute(
        "DROP FUNCTION IF EXISTS reserve_stock(timestamptz, bigint, text, timestamptz, integer, "
        "double precision, double precision, text, date, integer, text, integer[], integer[], "
        "integer[], integer[], bigint, text, text, jsonb)"
    )
    op.execute("DROP FUNCTION IF EXISTS idempotency_claim(bigint, text, text, timestamptz)")

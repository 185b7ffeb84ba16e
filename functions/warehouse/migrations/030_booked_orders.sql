-- Booked revenue: the shop's own orders (the OLTP database's orders and order_items), copied by
-- each ETL run (functions/etl/orders.py) so tracked purchases can be reconciled with them
-- (dashboard/revenue.sql; definitions in docs/warehouse-etl.md, "Booked revenue").
-- Rows are upserted by order_id: a status change (a refund, a cancellation) updates its row.

CREATE TABLE booked_orders (
    order_id    text PRIMARY KEY,              -- the shop's uuid, as text (tracked ids are compared as text)
    user_id     text NOT NULL,
    status      text NOT NULL CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
    currency    text NOT NULL,
    total       numeric(12, 2) NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,          -- the shop's; the sync's watermark is the largest
    run_id      bigint NOT NULL REFERENCES etl_runs (run_id),
    synced_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX booked_orders_created_at_idx ON booked_orders (created_at);
CREATE INDEX booked_orders_updated_at_idx ON booked_orders (updated_at);
CREATE INDEX booked_orders_user_created_idx ON booked_orders (user_id, created_at);

CREATE TABLE booked_order_items (
    -- deferred: the sync rewrites an order's items before it upserts the order (one transaction)
    order_id    text NOT NULL REFERENCES booked_orders (order_id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    product_id  text NOT NULL,
    quantity    integer NOT NULL,
    unit_price  numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

-- Tracked purchases are matched to orders by order_id: find them without a scan of all events.
CREATE INDEX clickstream_events_order_id_idx ON clickstream_events (order_id)
    WHERE event_name = 'purchase' AND order_id IS NOT NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON booked_orders, booked_order_items TO clickstream_writer;

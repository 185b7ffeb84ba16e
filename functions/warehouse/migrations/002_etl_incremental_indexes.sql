-- The ETL updates agg_product_daily incrementally (deltas of the touched sessions); only a
-- (day, product) key's name/category/brand (from the day's latest engagement event) is looked
-- up again, which this index answers with a short backward scan instead of a scan of the day.
CREATE INDEX clickstream_events_product_engagement_idx
    ON clickstream_events (context_product_id, event_timestamp, event_id)
    WHERE event_name IN ('product_view', 'add_to_cart') AND context_product_id IS NOT NULL;

-- A day's units of one product can pass 2^31 - 1 (each quantity is at most that, see the
-- ETL's parsing.MAX_QUANTITY): as an integer the sum failed the batch, and every rerun.
ALTER TABLE agg_product_daily ALTER COLUMN units TYPE bigint;

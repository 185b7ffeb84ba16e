-- The clickstream warehouse: events, sessions, the aggregates the dashboards read, ETL
-- bookkeeping, and the two group roles everyone else's privileges hang off.
-- Timestamps are timestamptz and every day/hour bucket is taken in UTC.

-- Group roles (NOLOGIN). Roles are cluster-wide, so another database on the same server
-- may have created them already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clickstream_writer') THEN
        CREATE ROLE clickstream_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clickstream_reader') THEN
        CREATE ROLE clickstream_reader NOLOGIN;
    END IF;
END
$$;

-- Only the two groups (and the owner) may connect; only the ETL may make temp (staging) tables.
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO clickstream_writer, clickstream_reader',
                   current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO clickstream_writer', current_database());
END
$$;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO clickstream_writer, clickstream_reader;

-- One row per distinct event_id, ever.
CREATE TABLE clickstream_events (
    event_id                       uuid PRIMARY KEY,
    event_timestamp                timestamptz NOT NULL,
    event_name                     text NOT NULL,
    user_id                        text,
    user_login_state               text NOT NULL CHECK (user_login_state IN ('guest', 'logged_in')),
    identity_source                text,
    client_id                      text NOT NULL,
    session_id                     text NOT NULL,
    is_first_visit                 boolean NOT NULL DEFAULT false,
    context_product_id             text,
    context_product_name           text,
    context_product_category       text,
    context_product_brand          text,
    context_product_price          numeric CHECK (context_product_price >= 0),
    context_product_discount_price numeric CHECK (context_product_discount_price >= 0),
    context_product_url_path       text,
    page_url                       text,
    page_path                      text,
    page_title                     text,
    page_referrer                  text,
    order_id                       text,
    order_revenue                  numeric CHECK (order_revenue >= 0),
    order_currency                 text,
    order_items                    jsonb,      -- [{product_id, quantity, price}]
    properties                     jsonb,
    received_at                    timestamptz NOT NULL,
    ingest_request_id              text,
    source_ip                      text,       -- anonymised by ingest (IPv4 /24, IPv6 /48)
    user_agent                     text,
    is_bot                         boolean NOT NULL DEFAULT false,
    source_key                     text NOT NULL,  -- the raw object it was loaded from
    etl_run_id                     bigint,
    loaded_at                      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clickstream_events_event_timestamp_idx ON clickstream_events (event_timestamp);
CREATE INDEX clickstream_events_session_id_idx ON clickstream_events (session_id);

-- One row per session_id, rebuilt from all of its events whenever one arrives (late ones too).
CREATE TABLE sessions (
    session_id        text PRIMARY KEY,
    client_id         text NOT NULL,           -- of the first event
    user_id           text,                    -- the last non-null user_id
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz NOT NULL,
    duration_s        numeric NOT NULL,        -- ended_at - started_at, in seconds
    events            integer NOT NULL,
    page_views        integer NOT NULL,
    product_views     integer NOT NULL,
    entry_page        text,                    -- page.path of the first event that has one
    exit_page         text,                    -- page.path of the last event that has one
    landing_referrer  text,                    -- page.referrer of the first event that has one
    is_first_visit    boolean NOT NULL,
    logged_in         boolean NOT NULL,        -- any event logged_in
    reached_product   boolean NOT NULL,        -- had a product_view
    reached_cart      boolean NOT NULL,        -- had an add_to_cart
    reached_checkout  boolean NOT NULL,        -- had a begin_checkout
    purchased         boolean NOT NULL,        -- had a purchase
    orders            integer NOT NULL,        -- purchase events
    revenue           numeric NOT NULL,        -- sum of their order revenue
    is_bot            boolean NOT NULL,        -- any of its events is from a bot
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_started_at_idx ON sessions (started_at);
CREATE INDEX sessions_user_id_idx ON sessions (user_id) WHERE user_id IS NOT NULL;

-- Daily funnel by sessions, by the UTC day the session started; bot sessions excluded.
-- sessions_<step> = sessions that had at least one event of that step.
CREATE TABLE agg_funnel_daily (
    day                      date PRIMARY KEY,
    sessions                 integer NOT NULL,
    sessions_page_view       integer NOT NULL,
    sessions_product_view    integer NOT NULL,
    sessions_add_to_cart     integer NOT NULL,
    sessions_begin_checkout  integer NOT NULL,
    sessions_purchase        integer NOT NULL,
    orders                   integer NOT NULL,
    revenue                  numeric NOT NULL,
    updated_at               timestamptz NOT NULL DEFAULT now()
);

-- Daily engagement per product, by the UTC day of the event; bot sessions excluded.
-- views/add_to_carts count events; purchases counts purchase events listing the product,
-- units and revenue sum their items (quantity, quantity * price).
CREATE TABLE agg_product_daily (
    day               date NOT NULL,
    product_id        text NOT NULL,
    product_name      text,                    -- from the day's latest event about the product
    product_category  text,
    product_brand     text,
    views             integer NOT NULL,
    add_to_carts      integer NOT NULL,
    purchases         integer NOT NULL,
    units             integer NOT NULL,
    revenue           numeric NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, product_id)
);
CREATE INDEX agg_product_daily_product_idx ON agg_product_daily (product_id, day);

-- Hourly activity (UTC hour of the event); bot sessions excluded.
CREATE TABLE agg_activity_hourly (
    hour        timestamptz PRIMARY KEY,
    events      integer NOT NULL,
    users       integer NOT NULL,              -- distinct client_id
    sessions    integer NOT NULL,              -- distinct session_id
    page_views  integer NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- ETL bookkeeping.
CREATE TABLE etl_runs (
    run_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    status            text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    trigger           text NOT NULL,           -- scheduled | manual | cli
    window_start      timestamptz,
    window_end        timestamptz,
    files             integer NOT NULL DEFAULT 0,
    events_loaded     bigint NOT NULL DEFAULT 0,
    duplicates        bigint NOT NULL DEFAULT 0,
    rejected          bigint NOT NULL DEFAULT 0,
    sessions_touched  bigint NOT NULL DEFAULT 0,
    error             text
);
CREATE INDEX etl_runs_started_at_idx ON etl_runs (started_at);

-- A raw object is loaded once per ETag, in the same transaction as its events.
CREATE TABLE etl_file_manifest (
    key          text PRIMARY KEY,
    etag         text NOT NULL,
    size         bigint NOT NULL,
    object_hour  timestamptz NOT NULL,         -- from the key's events/YYYY/MM/DD/HH/ prefix
    events       integer NOT NULL,             -- valid lines
    rejected     integer NOT NULL,             -- lines (or the object) sent to etl_rejects
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    run_id       bigint NOT NULL REFERENCES etl_runs (run_id)
);
CREATE INDEX etl_file_manifest_object_hour_idx ON etl_file_manifest (object_hour);

CREATE TABLE etl_rejects (
    reject_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key          text NOT NULL,
    line         integer,                      -- 1-based; NULL when about the whole object
    reason       text NOT NULL,
    raw_line     text,                         -- truncated
    rejected_at  timestamptz NOT NULL DEFAULT now(),
    run_id       bigint NOT NULL REFERENCES etl_runs (run_id)
);
CREATE INDEX etl_rejects_key_idx ON etl_rejects (key);
CREATE INDEX etl_rejects_rejected_at_idx ON etl_rejects (rejected_at);

-- Privileges. The ETL appends events and rewrites derived rows; it never deletes an event.
GRANT SELECT, INSERT ON clickstream_events TO clickstream_writer;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON sessions, agg_funnel_daily, agg_product_daily, agg_activity_hourly,
       etl_runs, etl_file_manifest, etl_rejects
    TO clickstream_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO clickstream_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO clickstream_reader;

-- Later migrations' objects (run by the same migrating role): readable tables/views and
-- executable functions for the reader; functions are not executable by everyone.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO clickstream_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO clickstream_reader;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

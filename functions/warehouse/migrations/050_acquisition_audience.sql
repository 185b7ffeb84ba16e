-- Acquisition and audience (docs/warehouse-etl.md, "Acquisition and audience"):
--   events   gain the ETL's enrichment columns (rows.ROW_SPEC, functions/etl/enrich.py)
--   sessions gain device, browser, OS, country, acquisition (campaign fields, referrer host,
--            landing path, GA4 source / medium, channel), is_returning, bot_reason, their
--            signed-in users and their steps
--   clients       each browser's first non-bot session: new vs returning, retention cohorts
--   client_users  the signed-in users seen on each browser
-- Events loaded before this migration keep NULL enrichment (a later run skips events already
-- loaded); their sessions get what the warehouse alone can give (the backfill at the end).

ALTER TABLE clickstream_events
    ADD COLUMN bot_reason      text,      -- functions.enrichment.bots; NULL: not a bot
    ADD COLUMN device_type     text,      -- desktop | mobile | tablet | other
    ADD COLUMN browser_family  text,      -- ua-parser's family, as it reports it
    ADD COLUMN browser_major   text,
    ADD COLUMN os_family       text,
    ADD COLUMN country         text,      -- ISO 3166-1 alpha-2; NULL without a country database
    ADD COLUMN utm_source      text,      -- the page URL's campaign parameters, decoded
    ADD COLUMN utm_medium      text,
    ADD COLUMN utm_campaign    text,
    ADD COLUMN utm_term        text,
    ADD COLUMN utm_content     text,
    ADD COLUMN click_id_type   text,      -- gclid, gbraid, wbraid, msclkid, ttclid, li_fat_id, twclid, fbclid
    ADD COLUMN referrer_host   text;      -- lower case, without www.

-- Orders by the time of their purchase event (attribution reads purchases of a range).
CREATE INDEX clickstream_events_purchase_time_idx ON clickstream_events (event_timestamp)
    WHERE event_name = 'purchase';

ALTER TABLE sessions
    ADD COLUMN bot_reason      text,      -- of its first bot event; NULL for a non-bot session
    ADD COLUMN device_type     text,      -- of its first event
    ADD COLUMN browser_family  text,
    ADD COLUMN browser_major   text,
    ADD COLUMN os_family       text,
    ADD COLUMN country         text,
    ADD COLUMN landing_path    text,      -- of its landing event: the first with a page.path
    ADD COLUMN utm_source      text,      -- the landing event's campaign fields, as sent
    ADD COLUMN utm_medium      text,
    ADD COLUMN campaign        text,
    ADD COLUMN term            text,
    ADD COLUMN content         text,
    ADD COLUMN click_id_type   text,
    ADD COLUMN referrer_host   text,
    ADD COLUMN source          text,      -- GA4's session source / medium (channel_traffic_source)
    ADD COLUMN medium          text,
    ADD COLUMN channel         text,      -- channel_rules (channel_for)
    ADD COLUMN is_returning    boolean NOT NULL DEFAULT false,  -- the client had an earlier non-bot session
    ADD COLUMN user_ids        text[],    -- the distinct signed-in users of its events, sorted
    ADD COLUMN steps           text[],    -- its event names in order, repeats in a row collapsed,
    ADD COLUMN step_count      integer;   --   the first max_session_steps() of step_count

-- A client's sessions in time order: is_returning, attribution's lookback, retention.
CREATE INDEX sessions_client_started_idx ON sessions (client_id, started_at, session_id);

-- Each client's first non-bot session, ordered by (started_at, session_id). Maintained by the
-- ETL for the clients a batch touches.
CREATE TABLE clients (
    client_id         text PRIMARY KEY,
    first_session_id  text NOT NULL,
    first_started_at  timestamptz NOT NULL
);
CREATE INDEX clients_first_started_at_idx ON clients (first_started_at);

-- The signed-in users seen on each browser (any event with a user_id, bots included).
CREATE TABLE client_users (
    client_id   text NOT NULL,
    user_id     text NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    PRIMARY KEY (client_id, user_id)
);
CREATE INDEX client_users_user_id_idx ON client_users (user_id);

-- How many steps a session keeps (sessions.steps): the journey figures show up to 10.
CREATE FUNCTION max_session_steps() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 12;

-- An array with repeats in a row collapsed (a, a, b, a -> a, b, a).
CREATE FUNCTION collapse_repeats(p_items text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce(array_agg(t.item ORDER BY t.n), '{}')
    FROM unnest(p_items) WITH ORDINALITY AS t(item, n)
    WHERE t.n = 1 OR t.item IS DISTINCT FROM p_items[t.n - 1];
END;

-- The host of an absolute URL by functions.enrichment.urls.host()'s rule (lower case, no
-- "www.", port, credentials or trailing dot), for the own hosts the ETL records from landing
-- pages; tests/etl/test_acquisition.py holds the two to the same answers.
CREATE FUNCTION url_host(p_url text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE WHEN h ~ '^[[:alnum:]_.:-]+$' AND length(h) <= 253 THEN h END
    FROM (SELECT regexp_replace(rtrim(lower(substring(btrim(p_url)
                 FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?([^/?#:]+)')), '.'), '^www\.', '') AS h) x
    WHERE h <> '';
END;

GRANT SELECT, INSERT, UPDATE, DELETE ON clients, client_users TO clickstream_writer;
GRANT EXECUTE ON FUNCTION max_session_steps(), collapse_repeats(text[]), url_host(text) TO clickstream_writer;

-- Sessions loaded before this migration get what the warehouse alone can give: their steps
-- and signed-in users (from their events), their clients and whether they were returning, and
-- a channel from the landing referrer's host (campaign parameters and the user agent's fields
-- were not stored and are not re-derived here). One pass over the events, once.
UPDATE sessions s
SET steps = x.steps[1:max_session_steps()], step_count = cardinality(x.steps), user_ids = x.user_ids,
    referrer_host = url_host(s.landing_referrer)
FROM (SELECT o.session_id,
             array_agg(o.event_name ORDER BY o.event_timestamp, o.event_id)
                 FILTER (WHERE o.previous_name IS DISTINCT FROM o.event_name) AS steps,
             array_agg(DISTINCT o.user_id) FILTER (WHERE o.user_id IS NOT NULL) AS user_ids
      FROM (SELECT e.session_id, e.event_name, e.event_timestamp, e.event_id, e.user_id,
                   lag(e.event_name) OVER (PARTITION BY e.session_id ORDER BY e.event_timestamp, e.event_id)
                       AS previous_name
            FROM clickstream_events e) o
      GROUP BY o.session_id) x
WHERE x.session_id = s.session_id;

SELECT channel_add_own_hosts(ARRAY(SELECT DISTINCT url_host(e.page_url) FROM clickstream_events e
                                   WHERE e.page_url IS NOT NULL));

UPDATE sessions s SET source = a.source, medium = a.medium, channel = a.channel
FROM (SELECT k.referrer_host, t.source, t.medium, t.channel
      FROM (SELECT DISTINCT referrer_host FROM sessions) k
      CROSS JOIN LATERAL channel_acquisition(NULL, NULL, NULL, NULL, k.referrer_host) t) a
WHERE s.referrer_host IS NOT DISTINCT FROM a.referrer_host;

INSERT INTO clients (client_id, first_session_id, first_started_at)
    SELECT DISTINCT ON (client_id) client_id, session_id, started_at
    FROM sessions WHERE NOT is_bot
    ORDER BY client_id, started_at, session_id;

UPDATE sessions s SET is_returning = true
FROM clients c
WHERE c.client_id = s.client_id AND (s.started_at, s.session_id) > (c.first_started_at, c.first_session_id);

INSERT INTO client_users (client_id, user_id, first_seen, last_seen)
    SELECT client_id, user_id, min(event_timestamp), max(event_timestamp)
    FROM clickstream_events WHERE user_id IS NOT NULL
    GROUP BY client_id, user_id;

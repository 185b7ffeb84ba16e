"""Migration 006 on a real PostgreSQL: GA4's channel rules and source/medium derivation, against the
expected channel of each case and against a plain-Python reading of GA4's definitions written here."""

from __future__ import annotations

import contextlib
import itertools
import secrets

import psycopg2
import pytest
from psycopg2 import sql

from functions.warehouse.migrate import apply_migrations
from tests.support import acquisition

OWN_HOST = "shop.example"


@pytest.fixture
def conn(pg_conn):
    apply_migrations(pg_conn)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT channel_add_own_hosts(%s)", ([OWN_HOST],))
    pg_conn.commit()
    return pg_conn


def categories(conn) -> dict[str, str]:
    with conn.cursor() as cur:
        cur.execute("SELECT source, category FROM channel_source_categories")
        return dict(cur.fetchall())


# ---- GA4's definitions, read independently of the SQL: the oracle's (tests/support/acquisition.py)
EXCLUDED_OWN = {OWN_HOST}


def ga4_source_medium(utm_source, utm_medium, utm_campaign, click_id_type, referrer_host):
    return acquisition.ga4_source_medium(utm_source, utm_medium, utm_campaign, click_id_type, referrer_host,
                                         EXCLUDED_OWN)


ga4_channel = acquisition.ga4_channel


# ---- the cases: (utm_source, utm_medium, utm_campaign, click id, referrer host) ->
#      (source, medium, channel) -----------------------------------------------------------------
N = None
CASES = [
    # the list
    ((N, N, N, N, N), ("(direct)", "(none)", "Direct")),
    ((N, N, N, N, "google.com"), ("google", "organic", "Organic Search")),
    ((N, N, N, N, "google.co.uk"), ("google", "organic", "Organic Search")),
    ((N, N, N, N, "bing.com"), ("bing", "organic", "Organic Search")),
    ((N, N, N, N, "duckduckgo.com"), ("duckduckgo", "organic", "Organic Search")),
    ((N, N, N, N, "uk.search.yahoo.com"), ("yahoo", "organic", "Organic Search")),
    ((N, N, N, N, "ecosia.org"), ("ecosia.org", "organic", "Organic Search")),
    ((N, N, N, N, "news.google.com"), ("news.google.com", "referral", "Organic Search")),
    (("google", "cpc", "brand", N, N), ("google", "cpc", "Paid Search")),
    (("bing", "ppc", N, N, "bing.com"), ("bing", "ppc", "Paid Search")),
    (("google", "paidsearch", N, N, N), ("google", "paidsearch", "Paid Search")),
    ((N, N, N, "gclid", N), ("google", "cpc", "Paid Search")),
    ((N, N, N, "gbraid", "google.com"), ("google", "cpc", "Paid Search")),
    ((N, N, N, "wbraid", N), ("google", "cpc", "Paid Search")),
    ((N, N, N, "msclkid", "bing.com"), ("bing", "cpc", "Paid Search")),
    (("newsletter", "email", "spring", "gclid", N), ("newsletter", "email", "Paid Search")),
    ((N, N, N, N, "l.facebook.com"), ("l.facebook.com", "referral", "Organic Social")),
    ((N, N, N, N, "t.co"), ("t.co", "referral", "Organic Social")),
    ((N, N, N, N, "news.ycombinator.com"), ("news.ycombinator.com", "referral", "Organic Social")),
    ((N, N, N, N, "linkedin.com"), ("linkedin.com", "referral", "Organic Social")),
    ((N, N, N, "fbclid", "m.facebook.com"), ("m.facebook.com", "referral", "Organic Social")),
    ((N, N, N, "fbclid", N), ("(direct)", "(none)", "Direct")),                 # fbclid alone: not paid
    ((N, N, N, "ttclid", N), ("(direct)", "(none)", "Direct")),
    (("facebook", "paid_social", "spring", N, N), ("facebook", "paid_social", "Paid Social")),
    (("instagram", "cpc", N, "fbclid", N), ("instagram", "cpc", "Paid Social")),
    (("newsletter", "email", "spring", N, N), ("newsletter", "email", "Email")),
    (("partner-site", "affiliate", N, N, N), ("partner-site", "affiliate", "Affiliates")),
    (("adnetwork", "display", N, N, N), ("adnetwork", "display", "Display")),
    (("adnetwork", "banner", N, N, N), ("adnetwork", "banner", "Display")),
    (("adnetwork", "cpm", N, N, N), ("adnetwork", "cpm", "Display")),           # Display before Paid Other
    ((N, N, N, N, "blog.example"), ("blog.example", "referral", "Referral")),
    ((N, N, N, N, "mail.google.com"), ("mail.google.com", "referral", "Referral")),
    ((N, N, N, N, OWN_HOST), ("(direct)", "(none)", "Direct")),                # own host
    ((N, N, N, N, "blog." + OWN_HOST), ("(direct)", "(none)", "Direct")),      # and its subdomains
    ((N, N, N, N, "paypal.com"), ("(direct)", "(none)", "Direct")),            # payment gateways
    ((N, N, N, N, "checkout.stripe.com"), ("(direct)", "(none)", "Direct")),
    ((N, N, N, N, "klarna.com"), ("(direct)", "(none)", "Direct")),
    ((N, N, N, N, "notstripe.com"), ("notstripe.com", "referral", "Referral")),
    ((N, N, "summer", N, N), ("(not set)", "(not set)", "Unassigned")),         # tagged, no rule
    (("foo", "bar", N, N, "google.com"), ("foo", "bar", "Unassigned")),
    # the rest of GA4's rules, and its order
    (("google", "cpc", "pmax_cross-network", "gclid", N), ("google", "cpc", "Cross-network")),
    (("amazon", "cpc", N, N, N), ("amazon", "cpc", "Paid Shopping")),
    (("google", "cpc", "summer_shopping", N, N), ("google", "cpc", "Paid Shopping")),
    (("google", "cpc", "shop-week", N, N), ("google", "cpc", "Paid Shopping")),
    (("google", "cpc", "workshop", N, N), ("google", "cpc", "Paid Search")),   # "workshop" is no shop
    (("youtube", "cpc", N, N, N), ("youtube", "cpc", "Paid Video")),
    (("partner", "paid", N, N, N), ("partner", "paid", "Paid Other")),
    (("partner", "retargeting", N, N, N), ("partner", "retargeting", "Paid Other")),
    (("google", "cpm", N, N, N), ("google", "cpm", "Paid Search")),            # Paid Search before Display
    ((N, N, N, N, "amazon.com"), ("amazon.com", "referral", "Organic Shopping")),
    (("newsletter", "email", "shop-week", N, N), ("newsletter", "email", "Organic Shopping")),
    (("pcbuilders-forum", "social", N, N, N), ("pcbuilders-forum", "social", "Organic Social")),
    (("google", "email", N, N, N), ("google", "email", "Organic Search")),     # search list before Email
    (("facebook", "email", N, N, N), ("facebook", "email", "Organic Social")),
    ((N, N, N, N, "m.youtube.com"), ("m.youtube.com", "referral", "Organic Video")),
    (("vendor", "video", N, N, N), ("vendor", "video", "Organic Video")),
    (("myengine", "organic", N, N, N), ("myengine", "organic", "Organic Search")),
    (("partner.example", "referral", N, N, N), ("partner.example", "referral", "Referral")),
    (("partner.example", "app", N, N, N), ("partner.example", "app", "Referral")),
    (("e-mail", "newsletter", N, N, N), ("e-mail", "newsletter", "Email")),
    (("podcast", "audio", N, N, N), ("podcast", "audio", "Audio")),
    (("sms", "text", N, N, N), ("sms", "text", "SMS")),
    (("gateway", "sms", N, N, N), ("gateway", "sms", "SMS")),
    (("app", "web-push", N, N, N), ("app", "web-push", "Mobile Push Notifications")),
    (("app", "in-app-notification", N, N, N), ("app", "in-app-notification", "Mobile Push Notifications")),
    (("firebase", "inbox", N, N, N), ("firebase", "inbox", "Mobile Push Notifications")),
    (("Google", "CPC", N, N, N), ("Google", "CPC", "Paid Search")),            # case-insensitive
    (("Google Shopping", "Organic", N, N, N), ("Google Shopping", "Organic", "Organic Shopping")),
    ((N, "email", N, N, N), ("(not set)", "email", "Email")),
    (("  ", "", "", N, "google.com"), ("google", "organic", "Organic Search")),  # blank is absent
]


def test_every_case_gets_its_channel_in_sql_and_in_python(conn):
    category_of = categories(conn)
    wrong = []
    with conn.cursor() as cur:
        for args, expected in CASES:
            cur.execute("SELECT source, medium, channel FROM channel_acquisition(%s, %s, %s, %s, %s)", args)
            from_sql = cur.fetchone()
            clean = [a.strip() or None if isinstance(a, str) else a for a in args]
            source, medium = ga4_source_medium(*clean)
            from_python = (source, medium, ga4_channel(source, medium, clean[2], clean[3], category_of))
            if not from_sql == from_python == expected:
                wrong.append((args, expected, from_sql, from_python))
    assert wrong == []


def test_the_cases_reach_every_rule(conn):
    """Each seeded rule decides at least one case: none is dead, and the order is exercised."""
    with conn.cursor() as cur:
        cur.execute("SELECT priority, channel FROM channel_rules ORDER BY priority")
        rules = cur.fetchall()
        decided = set()
        for args, (source, medium, _) in CASES:
            cur.execute(
                """SELECT min(r.priority) FROM channel_rules r
                   LEFT JOIN channel_source_categories sc ON sc.source = lower(%(s)s)
                   WHERE (r.source_in IS NULL OR lower(%(s)s) = ANY (r.source_in))
                     AND (r.source_regex IS NULL OR %(s)s ~* r.source_regex)
                     AND (r.source_category IS NULL OR sc.category = r.source_category)
                     AND (r.medium_in IS NULL OR lower(%(m)s) = ANY (r.medium_in))
                     AND (r.medium_regex IS NULL OR %(m)s ~* r.medium_regex)
                     AND (r.campaign_regex IS NULL OR %(c)s ~* r.campaign_regex)
                     AND (r.click_id_type_in IS NULL OR %(k)s = ANY (r.click_id_type_in))""",
                {"s": source, "m": medium, "c": (args[2] or "").strip() or None, "k": args[3]})
            decided.add(cur.fetchone()[0])
    assert {p for p, _ in rules} <= decided
    assert None in decided  # and Unassigned
    assert [c for _, c in rules][:3] == ["Direct", "Cross-network", "Paid Shopping"]


def test_sql_and_python_agree_on_every_combination(conn):
    """A cross product of sources, mediums, campaigns, click ids and referrers, each combination
    landing twice, classified set-based as the session rebuild does (one call per DISTINCT
    combination, joined back) and row by row in Python."""
    sources = [None, "google", "facebook", "amazon", "youtube", "newsletter", "firebase", "Google Shopping"]
    mediums = [None, "cpc", "display", "cpm", "email", "affiliate", "social", "organic", "video", "audio",
               "sms", "web-push"]
    campaigns = [None, "cross-network", "shopping", "workshop"]
    click_ids = [None, "gclid", "msclkid", "fbclid"]
    referrers = [None, "google.com", "l.facebook.com", "news.ycombinator.com", "amazon.com", "m.youtube.com",
                 "blog.example", OWN_HOST, "checkout.stripe.com"]
    combos = list(itertools.product(sources, mediums, campaigns, click_ids, referrers))
    rows = [(i, *combo) for i, combo in enumerate(combos + combos)]
    category_of = categories(conn)
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE landing (session int, utm_source text, utm_medium text, "
                    "utm_campaign text, click_id_type text, referrer_host text)")
        cur.execute("INSERT INTO landing SELECT * FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[], "
                    "%s::text[], %s::text[])", [list(col) for col in zip(*rows, strict=True)])
        cur.execute("""
            WITH combos AS (
                SELECT DISTINCT utm_source, utm_medium, utm_campaign, click_id_type, referrer_host
                FROM landing
            ), classified AS (
                SELECT ROW(c.*)::text AS combo, a.source, a.medium, a.channel
                FROM combos c,
                     channel_acquisition(c.utm_source, c.utm_medium, c.utm_campaign, c.click_id_type,
                                         c.referrer_host) a
            )
            SELECT l.session, k.source, k.medium, k.channel
            FROM landing l
            JOIN classified k ON k.combo = ROW(l.utm_source, l.utm_medium, l.utm_campaign, l.click_id_type,
                                               l.referrer_host)::text
            ORDER BY l.session""")
        from_sql = cur.fetchall()
        cur.execute("SELECT DISTINCT channel FROM channel_rules")
        channels = {r[0] for r in cur.fetchall()} | {"Unassigned"}
    assert len(from_sql) == len(rows) == 2 * len(combos)
    from_python = []
    for i, *args in rows:
        source, medium = ga4_source_medium(*args)
        from_python.append((i, source, medium, ga4_channel(source, medium, args[2], args[3], category_of)))
    assert from_sql == from_python
    assert {r[3] for r in from_sql} == channels  # every channel is reached


def test_source_categories_follow_gas_categories(conn):
    category_of = categories(conn)
    counts = {}
    for category in category_of.values():
        counts[category] = counts.get(category, 0) + 1
    assert set(counts) == {"SEARCH", "SOCIAL", "SHOPPING", "VIDEO"}
    assert category_of["news.ycombinator.com"] == "SOCIAL"
    assert category_of["google"] == category_of["bing"] == category_of["duckduckgo"] == "SEARCH"
    assert category_of["t.co"] == category_of["l.facebook.com"] == category_of["x.com"] == "SOCIAL"
    assert category_of["amazon"] == category_of["google shopping"] == "SHOPPING"
    assert category_of["youtube.com"] == category_of["netflix"] == "VIDEO"
    with conn.cursor() as cur:  # every engine the derivation names is on the SEARCH list
        cur.execute("SELECT engine FROM channel_search_engines EXCEPT "
                    "SELECT source FROM channel_source_categories WHERE category = 'SEARCH'")
        assert cur.fetchall() == []


def test_rules_are_data_an_insert_changes_the_channel(conn):
    def channel(host):
        with conn.cursor() as cur:
            cur.execute("SELECT channel FROM channel_acquisition(NULL, NULL, NULL, NULL, %s)", (host,))
            return cur.fetchone()[0]

    assert channel("chatgpt.com") == "Referral"
    with conn.cursor() as cur:
        cur.execute("INSERT INTO channel_rules (priority, channel, source_regex, definition) "
                    r"VALUES (5, 'AI Assistants', '^(chatgpt\.com|perplexity\.ai)$', 'AI chat referrers')")
    assert channel("chatgpt.com") == "AI Assistants"
    assert channel("perplexity.ai") == "AI Assistants"
    assert channel("google.com") == "Organic Search"
    with conn.cursor() as cur:
        cur.execute("DELETE FROM channel_rules WHERE priority = 5")
        cur.execute("UPDATE channel_rules SET channel = 'Search' WHERE channel = 'Organic Search'")
    assert channel("google.com") == "Search"
    conn.rollback()
    assert channel("google.com") == "Organic Search"


def test_bad_rules_are_refused_with_a_clear_error(conn):
    with conn.cursor() as cur, pytest.raises(psycopg2.errors.InvalidRegularExpression, match="parentheses"):
        cur.execute("INSERT INTO channel_rules (priority, channel, medium_regex, definition) "
                    "VALUES (7, 'Broken', '^(cpc', 'unbalanced')")
    conn.rollback()
    with conn.cursor() as cur, pytest.raises(psycopg2.errors.CheckViolation, match="channel_rules"):
        cur.execute("INSERT INTO channel_rules (priority, channel, medium_in, definition) "
                    "VALUES (7, 'Upper', '{CPC}', 'lists are lower case')")
    conn.rollback()
    with conn.cursor() as cur, pytest.raises(psycopg2.errors.CheckViolation, match="channel_referrer"):
        cur.execute("INSERT INTO channel_referrer_exclusions (host, kind) "
                    "VALUES ('www.shop.example', 'own_host')")
    conn.rollback()


def test_own_hosts_are_added_once(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT channel_add_own_hosts(%s)", (["m.shop2.example", "m.shop2.example", None, "",
                                                          OWN_HOST],))
        assert cur.fetchone() == (1,)
        cur.execute("SELECT host, kind FROM channel_referrer_exclusions ORDER BY host")
        assert cur.fetchall() == [("adyen.com", "payment_gateway"), ("klarna.com", "payment_gateway"),
                                  ("m.shop2.example", "own_host"), ("paypal.com", "payment_gateway"),
                                  (OWN_HOST, "own_host"), ("stripe.com", "payment_gateway")]
        cur.execute("SELECT channel_referrer_excluded(h) FROM unnest(%s::text[]) AS h",
                    (["m.shop2.example", "x.m.shop2.example", "shop2.example", "example", None],))
        assert [r[0] for r in cur.fetchall()] == [True, True, False, False, False]


@contextlib.contextmanager
def login(pg_cluster, dsn: str, group: str):
    name, password = f"login_{secrets.token_hex(5)}", secrets.token_urlsafe(16)
    with contextlib.closing(psycopg2.connect(pg_cluster.dsn)) as admin:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE {}").format(
                sql.Identifier(name), sql.Identifier(group)), (password,))
    params = psycopg2.extensions.parse_dsn(dsn)
    params.update(user=name, password=password)
    try:
        with contextlib.closing(psycopg2.connect(**params)) as conn:
            yield conn
    finally:
        with contextlib.closing(psycopg2.connect(pg_cluster.dsn)) as admin:
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_the_etl_classifies_and_adds_own_hosts_the_reader_only_reads(conn, pg_cluster, pg_dsn):
    with login(pg_cluster, pg_dsn, "clickstream_writer") as writer, writer.cursor() as cur:
        cur.execute("SELECT channel FROM channel_acquisition('google', 'cpc', NULL, NULL, NULL)")
        assert cur.fetchone() == ("Paid Search",)
        cur.execute("SELECT channel_add_own_hosts(ARRAY['checkout.shop.example'])")
        cur.execute("SELECT count(*) FROM channel_rules")
        assert cur.fetchone()[0] >= 27
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("UPDATE channel_rules SET channel = 'x'")
        writer.rollback()
    with login(pg_cluster, pg_dsn, "clickstream_reader") as reader, reader.cursor() as cur:
        cur.execute("SELECT channel_for('google', 'organic', NULL, NULL), count(*) FROM channel_rules")
        assert cur.fetchone()[0] == "Organic Search"
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("SELECT channel_add_own_hosts(ARRAY['evil.example'])")
        reader.rollback()
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cur.execute("INSERT INTO channel_referrer_exclusions (host, kind) "
                        "VALUES ('evil.example', 'own_host')")

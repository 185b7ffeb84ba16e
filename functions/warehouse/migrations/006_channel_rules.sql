-- Acquisition channels from rules kept as data, so an analyst can read and change them with SQL
-- (as the database owner) and the ETL re-derives the channels of a window after a change:
--   channel_rules              ordered rules: the first whose conditions all hold names the channel
--   channel_source_categories  source -> SEARCH / SOCIAL / SHOPPING / VIDEO, for the rules
--   channel_search_engines     referrer hosts that are search engines -> <engine>/organic
--   channel_click_id_sources   click ids that set source/medium on an untagged landing
--   channel_referrer_exclusions  own hosts and payment gateways: a referrer there is no referrer
-- and the functions the ETL's session rebuild calls once per DISTINCT combination of a
-- session's acquisition fields, then joins: channel_acquisition() = channel_traffic_source()
-- (GA4's source/medium) followed by channel_for() (the rules).
--
-- Source of the rules: Google Analytics Help, "[GA4] Default channel group",
-- https://support.google.com/analytics/answer/9756891 — the table "Channels for manual
-- traffic", seeded in its evaluation order.
-- Matching is case-insensitive, as in GA4: values are lower-cased before list comparisons and
-- regular expressions (PostgreSQL AREs) are applied with ~*.

CREATE TABLE channel_source_categories (
    source    text PRIMARY KEY CHECK (source <> '' AND source = lower(source)),
    category  text NOT NULL CHECK (category IN ('SEARCH', 'SOCIAL', 'SHOPPING', 'VIDEO'))
);

-- One row per alternative: a channel whose GA4 definition is "A OR B" has two rows. A NULL
-- condition is no condition; every other one must hold (a NULL value satisfies none).
CREATE TABLE channel_rules (
    priority          integer PRIMARY KEY,     -- evaluation order, lowest first
    channel           text NOT NULL CHECK (channel <> ''),
    source_in         text[],                  -- source is one of (lower case)
    source_regex      text,                    -- source ~* this
    source_category   text CHECK (source_category IN ('SEARCH', 'SOCIAL', 'SHOPPING', 'VIDEO')),
    medium_in         text[],                  -- medium is one of (lower case)
    medium_regex      text,                    -- medium ~* this
    campaign_regex    text,                    -- campaign ~* this
    click_id_type_in  text[],                  -- click id type is one of
    definition        text NOT NULL,           -- the rule in words (GA4's, where it is GA4's)
    CHECK (source_in::text = lower(source_in::text) AND medium_in::text = lower(medium_in::text)),
    -- a regular expression that does not compile fails here, at INSERT/UPDATE, naming itself
    CHECK (('' ~* source_regex) IS NOT NULL OR source_regex IS NULL),
    CHECK (('' ~* medium_regex) IS NOT NULL OR medium_regex IS NULL),
    CHECK (('' ~* campaign_regex) IS NOT NULL OR campaign_regex IS NULL)
);

-- Referrer hosts (lower case, without "www.") that are search engines: GA4 reports such a
-- session as <engine>/organic. The engine names are the ones GA4 uses as sources (entries of
-- its SEARCH list); the host patterns are this warehouse's, anchored.
CREATE TABLE channel_search_engines (
    host_regex  text PRIMARY KEY CHECK (('' ~ host_regex) IS NOT NULL),
    engine      text NOT NULL CHECK (engine <> '')
);

-- Click ids that, on a landing URL without utm_source/utm_medium/utm_campaign, make the
-- session's source/medium (Google's auto-tagging, Microsoft Advertising's). Other click ids
-- (fbclid, ttclid, li_fat_id, twclid) set nothing: the referrer decides, so fbclid alone does
-- not make a session paid.
CREATE TABLE channel_click_id_sources (
    click_id_type  text PRIMARY KEY,
    source         text NOT NULL,
    medium         text NOT NULL
);

-- Referrer hosts that count as no referrer, and their subdomains: the shop's own hosts (the
-- ETL adds the hosts of the page URLs it loads, channel_add_own_hosts()) and payment gateways
-- a checkout returns from. A session arriving from one is Direct, so last non-direct touch
-- credits the source before it.
CREATE TABLE channel_referrer_exclusions (
    host   text PRIMARY KEY CHECK (host <> '' AND host = lower(host) AND host !~ '^www\.'),
    kind   text NOT NULL CHECK (kind IN ('own_host', 'payment_gateway')),
    added_at timestamptz NOT NULL DEFAULT now()
);

-- GA4's "Channels for manual traffic", in its order. ^(.*cp.*|ppc|retargeting|paid.*)$ is its
-- paid-medium pattern, ^(.*(([^a-df-z]|^)shop|shopping).*)$ its shopping-campaign pattern.
-- Priority 41 is this warehouse's: a Google or Microsoft ad click id (a campaign parameter
-- too) is Paid Search whatever utm_medium says, unless an earlier rule (Cross-network,
-- Paid Shopping) claims it. No rule matching: 'Unassigned' (channel_for()).
INSERT INTO channel_rules (priority, channel, source_in, source_category, medium_in, medium_regex,
                           campaign_regex, click_id_type_in, definition) VALUES
(10, 'Direct', '{"(direct)"}', NULL, '{"(not set)","(none)"}', NULL, NULL, NULL,
 'Source exactly matches "(direct)" AND Medium is one of ("(not set)", "(none)")'),
(20, 'Cross-network', NULL, NULL, NULL, NULL, 'cross-network', NULL,
 'Campaign Name contains "cross-network"'),
(30, 'Paid Shopping', NULL, 'SHOPPING', NULL, '^(.*cp.*|ppc|retargeting|paid.*)$', NULL, NULL,
 '(Source matches a list of shopping sites OR Campaign Name matches regex '
 '^(.*(([^a-df-z]|^)shop|shopping).*)$) AND Medium matches regex ^(.*cp.*|ppc|retargeting|paid.*)$'),
(31, 'Paid Shopping', NULL, NULL, NULL, '^(.*cp.*|ppc|retargeting|paid.*)$',
 '^(.*(([^a-df-z]|^)shop|shopping).*)$', NULL,
 '(the campaign alternative of priority 30)'),
(40, 'Paid Search', NULL, 'SEARCH', NULL, '^(.*cp.*|ppc|retargeting|paid.*)$', NULL, NULL,
 'Source matches a list of search sites AND Medium matches regex ^(.*cp.*|ppc|retargeting|paid.*)$'),
(41, 'Paid Search', NULL, NULL, NULL, NULL, NULL, '{gclid,gbraid,wbraid,msclkid}',
 'The landing URL has a Google or Microsoft ad click id (gclid, gbraid, wbraid, msclkid)'),
(50, 'Paid Social', NULL, 'SOCIAL', NULL, '^(.*cp.*|ppc|retargeting|paid.*)$', NULL, NULL,
 'Source matches a regex list of social sites AND Medium matches regex ^(.*cp.*|ppc|retargeting|paid.*)$'),
(60, 'Paid Video', NULL, 'VIDEO', NULL, '^(.*cp.*|ppc|retargeting|paid.*)$', NULL, NULL,
 'Source matches a list of video sites AND Medium matches regex ^(.*cp.*|ppc|retargeting|paid.*)$'),
(70, 'Display', NULL, NULL, '{display,banner,expandable,interstitial,cpm}', NULL, NULL, NULL,
 'Medium is one of ("display", "banner", "expandable", "interstitial", "cpm")'),
(80, 'Paid Other', NULL, NULL, NULL, '^(.*cp.*|ppc|retargeting|paid.*)$', NULL, NULL,
 'Medium matches regex ^(.*cp.*|ppc|retargeting|paid.*)$'),
(90, 'Organic Shopping', NULL, 'SHOPPING', NULL, NULL, NULL, NULL,
 'Source matches a list of shopping sites OR Campaign name matches regex '
 '^(.*(([^a-df-z]|^)shop|shopping).*)$'),
(91, 'Organic Shopping', NULL, NULL, NULL, NULL, '^(.*(([^a-df-z]|^)shop|shopping).*)$', NULL,
 '(the campaign alternative of priority 90)'),
(100, 'Organic Social', NULL, 'SOCIAL', NULL, NULL, NULL, NULL,
 'Source matches a regex list of social sites OR Medium is one of ("social", "social-network", '
 '"social-media", "sm", "social network", "social media")'),
(101, 'Organic Social', NULL, NULL,
 '{social,social-network,social-media,sm,"social network","social media"}', NULL, NULL, NULL,
 '(the medium alternative of priority 100)'),
(110, 'Organic Video', NULL, 'VIDEO', NULL, NULL, NULL, NULL,
 'Source matches a list of video sites OR Medium matches regex ^(.*video.*)$'),
(111, 'Organic Video', NULL, NULL, NULL, '^(.*video.*)$', NULL, NULL,
 '(the medium alternative of priority 110)'),
(120, 'Organic Search', NULL, 'SEARCH', NULL, NULL, NULL, NULL,
 'Source matches a list of search sites OR Medium exactly matches organic'),
(121, 'Organic Search', NULL, NULL, '{organic}', NULL, NULL, NULL,
 '(the medium alternative of priority 120)'),
(130, 'Referral', NULL, NULL, '{referral,app,link}', NULL, NULL, NULL,
 'Medium is one of ("referral", "app", or "link")'),
(140, 'Email', '{email,e-mail,e_mail,"e mail"}', NULL, NULL, NULL, NULL, NULL,
 'Source = email|e-mail|e_mail|e mail OR Medium = email|e-mail|e_mail|e mail'),
(141, 'Email', NULL, NULL, '{email,e-mail,e_mail,"e mail"}', NULL, NULL, NULL,
 '(the medium alternative of priority 140)'),
(150, 'Affiliates', NULL, NULL, '{affiliate}', NULL, NULL, NULL,
 'Medium = affiliate'),
(160, 'Audio', NULL, NULL, '{audio}', NULL, NULL, NULL,
 'Medium exactly matches audio'),
(170, 'SMS', '{sms}', NULL, NULL, NULL, NULL, NULL,
 'Source exactly matches sms OR Medium exactly matches sms'),
(171, 'SMS', NULL, NULL, '{sms}', NULL, NULL, NULL,
 '(the medium alternative of priority 170)'),
(180, 'Mobile Push Notifications', NULL, NULL, NULL, 'push$', NULL, NULL,
 'Medium ends with "push" OR Medium contains "mobile" or "notification" OR Source exactly '
 'matches "firebase"'),
(181, 'Mobile Push Notifications', NULL, NULL, NULL, 'mobile|notification', NULL, NULL,
 '(the "contains" alternative of priority 180)'),
(182, 'Mobile Push Notifications', '{firebase}', NULL, NULL, NULL, NULL, NULL,
 '(the source alternative of priority 180)');

-- Source categories (lower-cased): this warehouse's own list of the search engines, social
-- networks, shopping and video sites a computer shop's visitors come from, in GA4's four
-- categories. It follows GA4's categories where a source is on them (so news.ycombinator.com,
-- t.co and l.facebook.com are SOCIAL) and has hosts GA4's list lacked (x.com, threads.net,
-- bsky.app). Google's full published list can be loaded over it (docs/enrichment.md).
-- SEARCH: 85 sources
INSERT INTO channel_source_categories (source, category)
SELECT source, 'SEARCH' FROM unnest(ARRAY[
    '360.cn', 'aol', 'aol.com', 'ask', 'ask.com', 'baidu', 'baidu.com', 'bing', 'bing.com',
    'brave', 'cn.bing.com', 'coccoc', 'coccoc.com', 'daum', 'daum.net', 'de.search.yahoo.com',
    'dogpile', 'dogpile.com', 'duckduckgo', 'duckduckgo.com', 'ecosia', 'ecosia.org', 'excite',
    'excite.com', 'fr.search.yahoo.com', 'go.mail.ru', 'google', 'google.com', 'kagi', 'kagi.com',
    'lens.google.com', 'lite.qwant.com', 'lycos', 'lycos.com', 'm.baidu.com', 'm.search.naver.com',
    'm.sogou.com', 'mail.ru', 'metager', 'metager.org', 'mojeek', 'mojeek.com', 'msn', 'msn.com',
    'naver', 'naver.com', 'news.google.com', 'ntp.msn.com', 'onet', 'onet.pl', 'petalsearch',
    'petalsearch.com', 'qwant', 'qwant.com', 'rambler', 'rambler.ru', 'search.aol.com',
    'search.brave.com', 'search.daum.net', 'search.google.com', 'search.naver.com',
    'search.seznam.cz', 'search.yahoo.co.jp', 'search.yahoo.com', 'seznam', 'seznam.cz', 'so.com',
    'sogou', 'sogou.com', 'startpage', 'startpage.com', 'swisscows', 'swisscows.com',
    'uk.search.yahoo.com', 'wp.pl', 'ya.ru', 'yahoo', 'yahoo.co.jp', 'yahoo.com', 'yandex',
    'yandex.com', 'yandex.com.tr', 'yandex.ru', 'yep', 'yep.com'
]) AS source;

-- SOCIAL: 123 sources
INSERT INTO channel_source_categories (source, category)
SELECT source, 'SOCIAL' FROM unnest(ARRAY[
    'amp.reddit.com', 'askubuntu.com', 'badoo', 'badoo.com', 'blogger', 'blogger.com',
    'blogspot.com', 'bsky', 'bsky.app', 'deviantart', 'deviantart.com', 'digg', 'digg.com',
    'discord', 'discord.com', 'discordapp.com', 'disqus', 'disqus.com', 'douban', 'douban.com',
    'facebook', 'facebook.com', 'fb', 'fb.com', 'fb.me', 'flickr', 'flickr.com', 'gab.com',
    'goodreads', 'goodreads.com', 'hackernews', 'ig', 'instagram', 'instagram.com', 'kakao.com',
    'kakaotalk', 'kbin.social', 'l.facebook.com', 'l.instagram.com', 'lemmy.world', 'line',
    'line.me', 'linkedin', 'linkedin.com', 'livejournal', 'livejournal.com', 'lm.facebook.com',
    'lnkd.in', 'lobste.rs', 'm.facebook.com', 'mastodon', 'mastodon.social', 'mbasic.facebook.com',
    'medium', 'medium.com', 'meetup', 'meetup.com', 'messenger', 'messenger.com', 'mix.com',
    'mobile.twitter.com', 'myspace', 'myspace.com', 'news.ycombinator.com', 'nextdoor',
    'nextdoor.com', 'ok.ru', 'old.reddit.com', 'out.reddit.com', 'pin.it', 'pinterest',
    'pinterest.com', 'plurk.com', 'producthunt', 'producthunt.com', 'quora', 'quora.com', 'reddit',
    'reddit.com', 'serverfault.com', 'skyrock.com', 'slashdot.org', 'snapchat', 'snapchat.com',
    'stackexchange.com', 'stackoverflow', 'stackoverflow.com', 'superuser.com', 't.co', 't.me',
    'tagged.com', 'telegram', 'telegram.org', 'threads', 'threads.net', 'tiktok', 'tiktok.com',
    'tildes.net', 'tripadvisor', 'tripadvisor.com', 'truthsocial.com', 'tumblr', 'tumblr.com',
    'twitter', 'twitter.com', 'vk', 'vk.com', 'wa.me', 'web.whatsapp.com', 'wechat', 'weibo',
    'weibo.com', 'whatsapp', 'whatsapp.com', 'x', 'x.com', 'xing', 'xing.com', 'ycombinator.com',
    'yelp', 'yelp.com', 'zhihu', 'zhihu.com'
]) AS source;

-- SHOPPING: 69 sources
INSERT INTO channel_source_categories (source, category)
SELECT source, 'SHOPPING' FROM unnest(ARRAY[
    'alibaba', 'alibaba.com', 'aliexpress', 'aliexpress.com', 'allegro', 'allegro.pl', 'amazon',
    'amazon.ca', 'amazon.co.jp', 'amazon.co.uk', 'amazon.com', 'amazon.com.au', 'amazon.de',
    'amazon.es', 'amazon.fr', 'amazon.in', 'amazon.it', 'bestbuy', 'bestbuy.com', 'bol.com',
    'cdiscount.com', 'ebay', 'ebay.co.uk', 'ebay.com', 'ebay.de', 'etsy', 'etsy.com', 'flipkart',
    'flipkart.com', 'geizhals', 'geizhals.de', 'google shopping', 'idealo', 'idealo.de',
    'igshopping', 'jd.com', 'kelkoo', 'kelkoo.com', 'mercadolibre', 'mercadolibre.com',
    'mercadolivre.com.br', 'newegg', 'newegg.com', 'otto.de', 'pricegrabber', 'pricerunner',
    'pricerunner.com', 'pricespy', 'pricespy.co.uk', 'rakuten', 'rakuten.co.jp', 'rakuten.com',
    'shop.app', 'shopify', 'shopify.com', 'shopping.google.com', 'shopping.yahoo.com', 'shopzilla',
    'smile.amazon.com', 'taobao', 'taobao.com', 'target', 'target.com', 'tmall', 'tmall.com',
    'walmart', 'walmart.com', 'zalando', 'zalando.de'
]) AS source;

-- VIDEO: 36 sources
INSERT INTO channel_source_categories (source, category)
SELECT source, 'VIDEO' FROM unnest(ARRAY[
    'bilibili', 'bilibili.com', 'dailymotion', 'dailymotion.com', 'disneyplus.com', 'hulu',
    'hulu.com', 'iqiyi', 'iqiyi.com', 'm.twitch.tv', 'm.youtube.com', 'music.youtube.com',
    'netflix', 'netflix.com', 'nicovideo.jp', 'odysee', 'odysee.com', 'peertube',
    'player.vimeo.com', 'primevideo.com', 'rumble', 'rumble.com', 'tv.naver.com', 'twitch',
    'twitch.tv', 'veoh', 'veoh.com', 'vimeo', 'vimeo.com', 'wistia', 'wistia.com', 'youku',
    'youku.com', 'youtu.be', 'youtube', 'youtube.com'
]) AS source;


-- The major engines GA reports as <engine>/organic, by the hosts their result pages refer
-- from. Other hosts of the SEARCH list (e.g. news.google.com, lens.google.com) are
-- <host>/referral and Organic Search by the rules; any other Google host (mail., docs., ...)
-- is a plain referral.
INSERT INTO channel_search_engines (host_regex, engine) VALUES
('^(m\.)?google(\.[a-z]{2,3}){1,2}$', 'google'),
('^(cn\.)?bing\.com$', 'bing'),
('^(([a-z]{2}|espanol|malaysia)\.)?search\.yahoo\.com$|^search\.yahoo\.co\.jp$', 'yahoo'),
('^(html\.|lite\.)?duckduckgo\.com$', 'duckduckgo'),
('^(m\.)?baidu\.com$', 'baidu'),
('^yandex\.(ru|com|com\.tr|by|kz|ua|uz|fr)$|^ya\.ru$', 'yandex'),
('^ecosia\.org$', 'ecosia.org'),
('^(m\.)?(search\.)?naver\.com$', 'naver'),
('^(search\.)?seznam\.cz$', 'seznam'),
('^(lite\.)?qwant\.com$', 'qwant'),
('^(m\.|wap\.)?sogou\.com$', 'sogou'),
('^(search\.)?daum\.net$', 'daum'),
('^search\.aol\.(com|co\.uk)$', 'aol'),
('^ask\.com$', 'ask');

INSERT INTO channel_click_id_sources (click_id_type, source, medium) VALUES
('gclid', 'google', 'cpc'),
('gbraid', 'google', 'cpc'),
('wbraid', 'google', 'cpc'),
('msclkid', 'bing', 'cpc');

INSERT INTO channel_referrer_exclusions (host, kind) VALUES
('paypal.com', 'payment_gateway'),
('stripe.com', 'payment_gateway'),
('adyen.com', 'payment_gateway'),
('klarna.com', 'payment_gateway');

-- Whether a referrer host (lower case, without "www.", as functions.enrichment.urls.host()
-- gives it) is excluded: it, or a domain it belongs to, is in channel_referrer_exclusions.
-- Looks up each suffix of the host (a.b.example, b.example, example) by primary key.
CREATE FUNCTION channel_referrer_excluded(p_host text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT EXISTS (
        SELECT 1 FROM channel_referrer_exclusions e
        WHERE e.host IN (SELECT array_to_string(h.labels[i:], '.')
                         FROM (SELECT string_to_array(p_host, '.') AS labels) h,
                              generate_series(1, cardinality(h.labels)) AS i));
END;

-- GA4's session source and medium from the landing URL's campaign fields and the referrer:
--   any of utm_source, utm_medium, utm_campaign -> utm_source / utm_medium ('(not set)' if absent)
--   else a click id of channel_click_id_sources -> its source / medium (gclid -> google / cpc)
--   else no referrer, or an excluded one        -> (direct) / (none)
--   else a search engine's host                 -> <engine> / organic
--   else                                        -> <host> / referral
-- Blank values count as absent.
CREATE FUNCTION channel_traffic_source(p_utm_source text, p_utm_medium text, p_utm_campaign text,
                                       p_click_id_type text, p_referrer_host text)
RETURNS TABLE (source text, medium text)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    WITH f AS (
        SELECT nullif(btrim(p_utm_source), '') AS utm_source,
               nullif(btrim(p_utm_medium), '') AS utm_medium,
               nullif(btrim(p_utm_campaign), '') AS utm_campaign,
               nullif(btrim(p_referrer_host), '') AS host
    )
    SELECT CASE WHEN f.utm_source IS NOT NULL OR f.utm_medium IS NOT NULL OR f.utm_campaign IS NOT NULL
                    THEN coalesce(f.utm_source, '(not set)')
                WHEN c.click_id_type IS NOT NULL THEN c.source
                WHEN f.host IS NULL OR channel_referrer_excluded(f.host) THEN '(direct)'
                WHEN se.engine IS NOT NULL THEN se.engine
                ELSE f.host END,
           CASE WHEN f.utm_source IS NOT NULL OR f.utm_medium IS NOT NULL OR f.utm_campaign IS NOT NULL
                    THEN coalesce(f.utm_medium, '(not set)')
                WHEN c.click_id_type IS NOT NULL THEN c.medium
                WHEN f.host IS NULL OR channel_referrer_excluded(f.host) THEN '(none)'
                WHEN se.engine IS NOT NULL THEN 'organic'
                ELSE 'referral' END
    FROM f
    LEFT JOIN channel_click_id_sources c ON c.click_id_type = p_click_id_type
    LEFT JOIN LATERAL (SELECT s.engine FROM channel_search_engines s WHERE f.host ~ s.host_regex
                       ORDER BY s.engine LIMIT 1) se ON true;
END;

-- The channel of a session's source, medium, campaign and click id type: the first of
-- channel_rules, by priority, whose conditions all hold; 'Unassigned' when none does.
CREATE FUNCTION channel_for(p_source text, p_medium text, p_campaign text, p_click_id_type text)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT coalesce((
        SELECT r.channel
        FROM channel_rules r
        LEFT JOIN channel_source_categories sc ON sc.source = lower(p_source)
        WHERE (r.source_in IS NULL OR lower(p_source) = ANY (r.source_in))
          AND (r.source_regex IS NULL OR p_source ~* r.source_regex)
          AND (r.source_category IS NULL OR sc.category = r.source_category)
          AND (r.medium_in IS NULL OR lower(p_medium) = ANY (r.medium_in))
          AND (r.medium_regex IS NULL OR p_medium ~* r.medium_regex)
          AND (r.campaign_regex IS NULL OR p_campaign ~* r.campaign_regex)
          AND (r.click_id_type_in IS NULL OR p_click_id_type = ANY (r.click_id_type_in))
        ORDER BY r.priority
        LIMIT 1), 'Unassigned');
END;

-- Both in one call: what the session rebuild joins on its DISTINCT acquisition fields.
CREATE FUNCTION channel_acquisition(p_utm_source text, p_utm_medium text, p_utm_campaign text,
                                    p_click_id_type text, p_referrer_host text)
RETURNS TABLE (source text, medium text, channel text)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT t.source, t.medium, channel_for(t.source, t.medium, nullif(btrim(p_utm_campaign), ''), p_click_id_type)
    FROM channel_traffic_source(p_utm_source, p_utm_medium, p_utm_campaign, p_click_id_type,
                                p_referrer_host) t;
END;

-- The ETL records the hosts of the page URLs it loads as own hosts, before it rebuilds the
-- sessions of that batch; returns how many were new.
CREATE FUNCTION channel_add_own_hosts(p_hosts text[]) RETURNS integer
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    WITH added AS (
        INSERT INTO channel_referrer_exclusions (host, kind)
        SELECT DISTINCT h, 'own_host' FROM unnest(p_hosts) AS h WHERE h IS NOT NULL AND h <> ''
        ON CONFLICT (host) DO NOTHING
        RETURNING 1
    )
    SELECT count(*)::integer FROM added;
END;

-- The ETL reads the rules and records own hosts; the reader reads (default privileges) but
-- adds nothing.
GRANT SELECT ON channel_rules, channel_source_categories, channel_search_engines,
                channel_click_id_sources, channel_referrer_exclusions TO clickstream_writer;
GRANT INSERT ON channel_referrer_exclusions TO clickstream_writer;
GRANT EXECUTE ON FUNCTION channel_referrer_excluded(text),
                          channel_traffic_source(text, text, text, text, text),
                          channel_for(text, text, text, text),
                          channel_acquisition(text, text, text, text, text),
                          channel_add_own_hosts(text[]) TO clickstream_writer;
REVOKE EXECUTE ON FUNCTION channel_add_own_hosts(text[]) FROM clickstream_reader;

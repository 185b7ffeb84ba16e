"""functions.enrichment.urls: the stored form of URLs, campaign parameters, click ids, hosts, paths."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.enrichment.urls import (
    CAMPAIGN_PARAMETERS,
    CLICK_ID_PARAMETERS,
    KEPT_PARAMETERS,
    MAX_VALUE_CHARS,
    Acquisition,
    acquisition,
    host,
    path,
    storage_url,
)


@pytest.mark.parametrize(("url", "stored"), [
    ("https://shop.example/p/1", "https://shop.example/p/1"),
    ("https://shop.example/p?utm_source=news&session=abc&utm_medium=email&gclid=G1#reviews",
     "https://shop.example/p?utm_source=news&utm_medium=email&gclid=G1"),
    ("https://shop.example/reset?token=s3cret&email=a%40b.example", "https://shop.example/reset"),
    ("https://shop.example/p#access_token=s3cret", "https://shop.example/p"),
    ("https://shop.example/p#frag?utm_source=in-fragment", "https://shop.example/p"),
    # order as sent, every click id, encoding untouched, repeated names kept as sent
    ("https://shop.example/?fbclid=F&x=1&ttclid=T&li_fat_id=L&twclid=W&msclkid=M&wbraid=B&gbraid=R",
     "https://shop.example/?fbclid=F&ttclid=T&li_fat_id=L&twclid=W&msclkid=M&wbraid=B&gbraid=R"),
    ("/p?utm_campaign=summer+sale%21&utm_campaign=again&utm_term=a%20b&utm_content=c",
     "/p?utm_campaign=summer+sale%21&utm_campaign=again&utm_term=a%20b&utm_content=c"),
    ("https://shop.example/p?utm%5Fsource=enc&UTM_SOURCE=upper&utm_sourcex=1", "https://shop.example/p?utm%5Fsource=enc"),
    ("https://shop.example/p?", "https://shop.example/p"),
    ("https://shop.example/p?&&utm_source=a&&", "https://shop.example/p?utm_source=a"),
    ("https://shop.example/p?utm_source", "https://shop.example/p?utm_source"),
    # malformed input: the same rule, no exception
    ("not a url?%%%&utm_term=%zz&x", "not a url?utm_term=%zz"),
    ("http://[::1/p?utm_medium=cpc&q=1", "http://[::1/p?utm_medium=cpc"),
    ("", ""),
    ("?#", ""),
    (None, None),
])
def test_storage_url(url, stored):
    assert storage_url(url) == stored


def test_a_url_without_query_or_fragment_is_returned_as_is():
    url = "https://shop.example/category/laptops"
    assert storage_url(url) is url


_pieces = st.sampled_from([*"ab%=&?#/:+ .5F_", *sorted(KEPT_PARAMETERS)])


@given(st.lists(_pieces, max_size=40).map("".join))
def test_storage_url_keeps_the_prefix_and_only_campaign_pieces(url):
    stored = storage_url(url)
    assert storage_url(stored) == stored
    assert "#" not in stored
    prefix = url.split("#")[0].split("?")[0]
    assert stored.startswith(prefix)
    query = stored[len(prefix):]
    if query:
        assert query.startswith("?")
        pieces = query[1:].split("&")
        assert all(p and unquote(p.split("=")[0]) in KEPT_PARAMETERS for p in pieces)
        assert all(p in url for p in pieces)


@given(st.text(max_size=80), st.one_of(st.none(), st.text(max_size=80)))
def test_acquisition_never_raises(page_url, referrer):
    result = acquisition(page_url, referrer)
    assert isinstance(result, Acquisition)
    assert result.click_id_type in (None, *CLICK_ID_PARAMETERS)


def test_campaign_parameters_are_decoded_trimmed_first_non_empty():
    result = acquisition(
        "https://shop.example/landing?utm_source=&utm_source=News+Letter&utm_source=second"
        "&utm_medium=%20email%20&utm_campaign=summer%2Bsale&utm_term=a%zz&utm_content=x" + "y" * 400,
        None)
    assert result.source == "News Letter"
    assert result.medium == "email"
    assert result.campaign == "summer+sale"
    assert result.term == "a%zz"
    assert result.content == ("x" + "y" * 400)[:MAX_VALUE_CHARS]
    assert result.landing_path == "/landing"
    assert result.click_id_type is None
    assert result.referrer_host is None


def test_campaign_parameters_in_the_fragment_or_with_other_case_do_not_count():
    assert acquisition("https://shop.example/#utm_source=x", None).source is None
    assert acquisition("https://shop.example/?UTM_SOURCE=x", None).source is None


@pytest.mark.parametrize(("query", "click_id_type"), [
    ("gclid=1&gbraid=2&wbraid=3&msclkid=4&fbclid=5", "gclid"),
    ("fbclid=5&wbraid=3&gbraid=2", "gbraid"),
    ("fbclid=5&wbraid=3", "wbraid"),
    ("fbclid=5&msclkid=4", "msclkid"),
    ("fbclid=5&twclid=8&li_fat_id=7&ttclid=6", "ttclid"),
    ("fbclid=5&twclid=8&li_fat_id=7", "li_fat_id"),
    ("fbclid=5&twclid=8", "twclid"),
    ("fbclid=5", "fbclid"),
    ("gclid=&fbclid=5", "fbclid"),  # an empty id is no id
    ("utm_source=google", None),
])
def test_click_id_precedence(query, click_id_type):
    assert acquisition(f"https://shop.example/?{query}", None).click_id_type == click_id_type


def test_precedence_lists_every_click_id_once():
    assert len(set(CLICK_ID_PARAMETERS)) == len(CLICK_ID_PARAMETERS) == 8
    assert CLICK_ID_PARAMETERS[-1] == "fbclid"
    assert set(CAMPAIGN_PARAMETERS) | set(CLICK_ID_PARAMETERS) == KEPT_PARAMETERS


@pytest.mark.parametrize(("url", "expected"), [
    ("https://www.google.com/", "google.com"),
    ("https://WWW.Google.CO.UK:443/search?q=x", "google.co.uk"),
    ("https://news.ycombinator.com/item?id=1", "news.ycombinator.com"),
    ("https://user:secret@www.example.com.:8080/x", "example.com"),
    ("android-app://com.google.android.gm/", "com.google.android.gm"),
    ("//cdn.example/p", "cdn.example"),
    ("https://[2001:db8::1]/", "2001:db8::1"),
    ("https://wwwexample.com/", "wwwexample.com"),
    ("http://[::1/", None),            # unclosed bracket
    ("http://exa mple.com/", None),    # not a host name
    ("google.com/search", None),       # not absolute
    ("/relative/path", None),
    ("https:///nohost", None),
    ("", None),
    (None, None),
])
def test_host(url, expected):
    assert host(url) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("https://shop.example/p/1?x=1#y", "/p/1"),
    ("https://shop.example", "/"),
    ("https://shop.example?utm_source=a", "/"),
    ("//shop.example/a/b", "/a/b"),
    ("/a/b?c", "/a/b"),
    ("  https://shop.example/t  ", "/t"),
    ("https://shop.example/a%20b", "/a%20b"),
    ("relative/path", None),
    ("a/b://c/d", None),
    ("", None),
    (None, None),
])
def test_path(url, expected):
    assert path(url) == expected

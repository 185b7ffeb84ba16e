"""Body decoding: media types, base64, gzip (capped), UTF-8, JSON, the batch envelope, size caps."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

from functions.ingest.body import decode_text, gunzip_capped, parse_events
from functions.ingest.request import MAX_BODY_BYTES, MAX_EVENTS, RequestError, parse_apigw_v2
from tests.ingest.helpers import apigw_event, make_event


def request(body, **kwargs):
    return parse_apigw_v2(apigw_event(body, **kwargs))


def refused(body, **kwargs) -> RequestError:
    with pytest.raises(RequestError) as info:
        parse_events(request(body, **kwargs))
    return info.value


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@pytest.mark.parametrize("content_type", [
    "application/json", "text/plain", "text/plain;charset=UTF-8", "Application/JSON; charset=\"utf-8\"",
    "application/json; charset=utf8", None, "",
])
def test_accepted_media_types(content_type):
    headers = {"content-type": content_type} if content_type is not None else {"content-type": ""}
    assert parse_events(request(json.dumps(make_event()), headers=headers))[0]["event_name"] == "page_view"


@pytest.mark.parametrize(("content_type", "code", "needle"), [
    ("application/x-www-form-urlencoded", "unsupported_media_type", "application/x-www-form-urlencoded"),
    ("multipart/form-data; boundary=x", "unsupported_media_type", "multipart/form-data"),
    ("text/plain; charset=iso-8859-1", "unsupported_charset", "iso-8859-1"),
    ("application/json,text/plain", "multiple_content_types", "one Content-Type"),
])
def test_unsupported_media_types_are_415(content_type, code, needle):
    error = refused(json.dumps(make_event()), headers={"content-type": content_type})
    assert (error.status, error.code) == (415, code)
    assert needle in error.message


@pytest.mark.parametrize("coding", ["br", "deflate", "gzip, gzip", "compress"])
def test_unsupported_content_encodings_are_415(coding):
    error = refused(json.dumps(make_event()), headers={"content-encoding": coding})
    assert (error.status, error.code) == (415, "unsupported_content_encoding")
    assert "gzip" in error.message


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "GZIP"])
def test_gzip_base64_body(coding):
    event = make_event("search")
    body = b64(gzip.compress(json.dumps(event).encode()))
    assert parse_events(request(body, is_base64=True, headers={"content-encoding": coding})) == [event]


def test_identity_encoding_and_plain_base64():
    event = make_event()
    body = b64(json.dumps(event).encode())
    got = parse_events(request(body, is_base64=True, headers={"content-encoding": "identity"}))
    assert got == [event]


def test_gzip_sent_as_text_is_400():
    error = refused("not gzip", headers={"content-encoding": "gzip"})
    assert (error.status, error.code) == (400, "invalid_gzip")


def test_invalid_base64_is_400():
    error = refused("@@not base64@@", is_base64=True)
    assert (error.status, error.code) == (400, "invalid_base64")


def test_invalid_and_truncated_gzip_are_400():
    error = refused(b64(b"\x1f\x8bnot really gzip"), is_base64=True, headers={"content-encoding": "gzip"})
    assert (error.status, error.code) == (400, "invalid_gzip")
    truncated = gzip.compress(json.dumps(make_event()).encode())[:-12]
    error = refused(b64(truncated), is_base64=True, headers={"content-encoding": "gzip"})
    assert (error.status, error.code) == (400, "invalid_gzip")
    assert "truncated" in error.message


def test_gzip_bomb_is_413_without_inflating_it():
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB of spaces, ~64 KiB gzip
    assert len(bomb) < 100_000
    error = refused(b64(bomb), is_base64=True, headers={"content-encoding": "gzip"})
    assert (error.status, error.code) == (413, "body_too_large")
    assert "decompressed" in error.message


def test_gunzip_capped_boundary_and_multiple_members():
    exact = b"x" * 1000
    assert gunzip_capped(gzip.compress(exact), cap=1000) == exact
    with pytest.raises(RequestError) as info:
        gunzip_capped(gzip.compress(exact + b"y"), cap=1000)
    assert info.value.status == 413
    two_members = gzip.compress(b"ab") + gzip.compress(b"cd")
    assert gunzip_capped(two_members) == b"abcd"
    with pytest.raises(RequestError) as info:  # the cap counts all members together
        gunzip_capped(gzip.compress(exact) + gzip.compress(exact), cap=1500)
    assert info.value.status == 413


def test_body_size_cap_is_exactly_one_mebibyte():
    event = make_event(properties={"pad": ""})
    base = len(json.dumps(event))
    event["properties"]["pad"] = "p" * (MAX_BODY_BYTES - base)
    exact = json.dumps(event)
    assert len(exact.encode()) == MAX_BODY_BYTES
    assert decode_text(request(exact)) == exact
    error = refused(exact + " ")
    assert (error.status, error.code) == (413, "body_too_large")


def test_size_cap_counts_utf8_bytes_not_characters():
    text = json.dumps(make_event(properties={"pad": "é" * (MAX_BODY_BYTES // 2)}), ensure_ascii=False)
    assert len(text) < MAX_BODY_BYTES < len(text.encode())
    assert refused(text).status == 413


def test_size_cap_applies_after_base64_and_gzip():
    big = json.dumps(make_event(properties={"pad": "z" * MAX_BODY_BYTES}))
    assert refused(b64(big.encode()), is_base64=True).status == 413
    assert refused(b64(gzip.compress(big.encode())), is_base64=True,
                   headers={"content-encoding": "gzip"}).status == 413


def test_invalid_utf8_is_400():
    error = refused(b64(b'{"event_name": "\xff\xfe"}'), is_base64=True)
    assert (error.status, error.code) == (400, "invalid_utf8")
    assert "byte 16" in error.message


@pytest.mark.parametrize("body", [None, "", "   \n"])
def test_empty_body_is_400(body):
    error = refused(body)
    assert (error.status, error.code) == (400, "empty_body")


@pytest.mark.parametrize("body", ["{", "not json", '{"a": 1} trailing', "1" * 5000])
def test_invalid_json_is_400(body):
    error = refused(body)
    assert (error.status, error.code) == (400, "invalid_json")
    assert error.message.startswith("body is not valid JSON")


def test_json_nested_too_deeply_is_400():
    error = refused("[" * 100_000 + "]" * 100_000)
    assert (error.status, error.code) == (400, "invalid_json")


@pytest.mark.parametrize(("body", "kind"), [("[]", "array"), ('"text"', "string"), ("42", "number"),
                                            ("null", "null"), ("true", "boolean")])
def test_body_that_is_not_an_object_is_400(body, kind):
    error = refused(body)
    assert (error.status, error.code) == (400, "invalid_body")
    assert f"got a JSON {kind}" in error.message


def test_single_event_and_batch():
    one, two = make_event(), make_event("search")
    assert parse_events(request(json.dumps(one))) == [one]
    assert parse_events(request(json.dumps({"events": [one, two]}))) == [one, two]


def test_batch_envelope_errors():
    error = refused(json.dumps({"events": [make_event()], "sent_at": 1}))
    assert (error.status, error.code) == (400, "invalid_batch")
    assert "'sent_at'" in error.message
    error = refused(json.dumps({"events": {"a": 1}}))
    assert (error.status, error.code) == (400, "invalid_batch")
    assert "got object" in error.message
    error = refused(json.dumps({"events": []}))
    assert (error.status, error.code) == (400, "empty_batch")


def test_batch_of_500_is_fine_and_501_is_413():
    event = make_event()
    assert len(parse_events(request(json.dumps({"events": [event] * MAX_EVENTS})))) == MAX_EVENTS
    error = refused(json.dumps({"events": [event] * (MAX_EVENTS + 1)}))
    assert (error.status, error.code) == (413, "too_many_events")
    assert "501" in error.message

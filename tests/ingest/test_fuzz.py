"""Property-based fuzzing of the handler: bodies, headers, encodings, methods.

Whatever arrives, the handler answers (no unhandled exception) with a contract status and a JSON
body, writes one object exactly when it answers 202, and answers 5xx only when the put failed.
"""

from __future__ import annotations

import base64
import gzip
import json
import string
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.ingest import handler as handler_module
from functions.ingest.handler import handler
from functions.ingest.raw_store import StoreError
from functions.schemas import (
    ENRICHMENT_FIELDS,
    ENRICHMENT_VALIDATOR,
    EVENT_VALIDATOR,
    FAST_EVENT_VALIDATOR,
    validate_event,
)
from tests.ingest.helpers import MemorySink, apigw_event

FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)
CLIENT_ERRORS = {400, 405, 413, 415}

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                         st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
short_text = st.text(max_size=12)
event_names = st.one_of(
    st.sampled_from(["page_view", "product_view", "search", "add_to_cart", "remove_from_cart",
                     "begin_checkout", "purchase", "login", "sign_up", "click"]),
    st.from_regex(r"\A[a-z][a-z0-9_]{0,8}\n?\Z"), short_text)
timestamps = st.one_of(
    st.datetimes().map(lambda moment: moment.isoformat(timespec="milliseconds") + "Z"),
    st.integers(min_value=900_000_000_000, max_value=4_200_000_000_000), short_text, st.floats())
products = st.fixed_dictionaries({"id": st.one_of(short_text, st.integers())}, optional={
    "price": st.one_of(st.floats(), st.integers(min_value=-5, max_value=5)), "name": short_text,
    "brand": json_values})
orders = st.fixed_dictionaries({"order_id": short_text, "revenue": st.floats(), "currency": st.one_of(
    st.sampled_from(["USD", "VND", "usd"]), short_text)}, optional={"items": st.lists(st.fixed_dictionaries(
        {"product_id": short_text, "quantity": st.integers(min_value=-1, max_value=3)}), max_size=2)})
events = st.fixed_dictionaries(
    {"event_id": st.one_of(st.uuids().map(str), short_text),
     "event_timestamp": timestamps,
     "event_name": event_names,
     "user_login_state": st.one_of(st.sampled_from(["guest", "logged_in"]), short_text),
     "client_id": st.one_of(st.text(min_size=1, max_size=10), st.just("")),
     "session_id": st.text(min_size=1, max_size=10)},
    optional={"user_id": st.one_of(st.none(), short_text),
              "is_first_visit": st.one_of(st.booleans(), json_scalars),
              "page": st.one_of(st.fixed_dictionaries({}, optional={"url": short_text, "title": short_text}),
                                json_values),
              "context": st.fixed_dictionaries({}, optional={"product": products, "order": orders}),
              "properties": json_values,
              "extra_field": json_values})
documents = st.one_of(events, st.fixed_dictionaries({"events": st.lists(st.one_of(events, json_values),
                                                                         min_size=0, max_size=6)}),
                      json_values)
raw_bodies = st.one_of(
    documents.map(lambda doc: json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
    st.text(alphabet=string.printable, max_size=200).map(str.encode))
content_types = st.one_of(st.sampled_from(["application/json", "text/plain;charset=UTF-8", "text/plain",
                                           "application/json; charset=latin-1", "text/html", "",
                                           "application/json,text/plain"]), st.none(), short_text)
content_encodings = st.one_of(st.none(), st.sampled_from(["gzip", "identity", "br", "x-gzip", ""]),
                              short_text)
methods = st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "OPTIONS", "DELETE"])


@st.composite
def requests(draw) -> dict:
    raw = draw(raw_bodies)
    if draw(st.booleans()):
        raw = gzip.compress(raw)
    headers = draw(st.dictionaries(st.from_regex(r"\Ax-[a-z0-9-]{1,12}\Z"), short_text, max_size=3))
    content_type, content_encoding = draw(content_types), draw(content_encodings)
    if content_type is not None:
        headers["content-type"] = content_type
    if content_encoding is not None:
        headers["content-encoding"] = content_encoding
    is_base64 = draw(st.booleans())
    if is_base64:
        body = base64.b64encode(raw).decode("ascii")
        if draw(st.integers(0, 9)) == 0:
            body = body[:-1]  # a broken base64 text now and then
    else:
        body = raw.decode("utf-8", "replace")
    return apigw_event(body, method=draw(methods), headers=headers, is_base64=is_base64,
                       user_agent=draw(st.one_of(st.none(), short_text)),
                       source_ip=draw(st.one_of(st.ip_addresses().map(str), short_text)))


class FailingSink:
    def put(self, key: str, body: bytes) -> None:
        raise StoreError("bucket unavailable")


@FUZZ
@given(requests())
def test_handler_always_answers_within_the_contract(request):
    sink = MemorySink()
    with patch.object(handler_module, "sink", sink):
        response = handler(request, None)
    status = response["statusCode"]
    body = json.loads(response["body"])
    assert status in CLIENT_ERRORS | {202}, (status, body)
    if status == 202:
        (stored,) = sink.objects.values()
        lines = stored.decode("utf-8").splitlines()
        assert len(lines) == body["accepted"] >= 1
        for line in lines:
            record = json.loads(line)
            assert ENRICHMENT_VALIDATOR.is_valid({k: record[k] for k in ENRICHMENT_FIELDS if k in record})
            assert EVENT_VALIDATOR.is_valid({k: v for k, v in record.items() if k not in ENRICHMENT_FIELDS})
    else:
        assert sink.objects == {}
        assert isinstance(body["message"], str) and body["message"]


@FUZZ
@given(requests())
def test_a_failed_put_is_the_only_5xx(request):
    with patch.object(handler_module, "sink", FailingSink()):
        response = handler(request, None)
    status = response["statusCode"]
    assert status in CLIENT_ERRORS | {503}
    if status == 503:
        assert response["headers"]["retry-after"].isdigit()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(events)
def test_fast_validator_never_accepts_what_python_jsonschema_refuses(event):
    """jsonschema-rs answers the hot path; it must not let through anything the ETL's validator refuses."""
    try:
        fast_valid = FAST_EVENT_VALIDATOR.is_valid(event)
    except (ValueError, TypeError, OverflowError):
        fast_valid = None  # a value Rust cannot hold: validate_event asks python instead
    python_valid = EVENT_VALIDATOR.is_valid(event)
    if fast_valid:
        assert python_valid
    reason = validate_event(event)
    assert (reason is None) == (python_valid and fast_valid is not False)

"""The one factory of events in the tests.

``client_event``: a valid event as the tracker sends it to ingest (product or order context
where the contract requires one). ``seeded_event``: a client event of a seeded session, its id
drawn from the session's random generator and no default context. ``ingested``: the raw line's
record ingest stores for a client event - the event plus what ingest adds (when it arrived, its
request id, the anonymised address, the user agent and ingest's bot verdict).
"""

from __future__ import annotations

import random
import uuid


def client_event(name: str = "page_view", **fields) -> dict:
    """A valid client event; product/order context added where the schema requires it."""
    event = {
        "event_id": str(uuid.uuid4()),
        "event_timestamp": "2026-11-21T23:05:00.000+07:00",
        "event_name": name,
        "user_id": None,
        "user_login_state": "guest",
        "identity_source": "anonymous",
        "client_id": "client-42",
        "session_id": "session-7",
        "is_first_visit": False,
        "page": {"url": "https://shop.example/laptops", "path": "/laptops", "title": "Laptops",
                 "referrer": ""},
    }
    if name in ("product_view", "add_to_cart", "remove_from_cart"):
        event["context"] = {"product": {"id": "LAP-001", "name": "ThinkPad X1", "category": "laptops",
                                        "brand": "Lenovo", "price": 1899.0, "discount_price": 1699.0,
                                        "url_path": "/p/lap-001"}}
    if name == "purchase":
        event["context"] = {"order": {"order_id": "o-1", "revenue": 1699.0, "currency": "USD",
                                      "items": [{"product_id": "LAP-001", "quantity": 1, "price": 1699.0}]}}
    event.update(fields)
    return event


def seeded_event(rng: random.Random, name: str, *, event_timestamp: str, user_id: str | None,
                 client_id: str, session_id: str, page: dict, is_first_visit: bool = False,
                 context: dict | None = None) -> dict:
    """A seeded session's client event: the id from `rng`, the login fields from `user_id`, and
    `context` only when given."""
    event = client_event(
        name, event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)), event_timestamp=event_timestamp,
        user_id=user_id, user_login_state="logged_in" if user_id else "guest",
        identity_source="cognito" if user_id else "anonymous", client_id=client_id, session_id=session_id,
        is_first_visit=is_first_visit, page=page)
    event.pop("context", None)
    if context is not None:
        event["context"] = context
    return event


def ingested(event: dict, rng: random.Random, *, received_at: str, source_ip: str, user_agent: str,
             is_bot: bool) -> dict:
    """`event` as ingest stores it: its fields, then ingest's (the request id from `rng`)."""
    return {**event, "received_at": received_at,
            "ingest_request_id": uuid.UUID(int=rng.getrandbits(128), version=4).hex,
            "source_ip": source_ip, "user_agent": user_agent, "is_bot": is_bot}

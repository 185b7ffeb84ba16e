"""From the request body as API Gateway delivers it to the list of submitted events.

Order: media type, base64, size cap, gzip (streamed, capped), UTF-8, JSON, batch envelope.
Every refusal is a ``RequestError`` with the status the event contract gives it.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib

from functions.ingest.request import MAX_BODY_BYTES, MAX_EVENTS, IngestRequest, RequestError

#: What browsers send: fetch with application/json, sendBeacon / no-preflight fetch with text/plain.
ACCEPTED_MEDIA_TYPES = frozenset({"application/json", "text/plain"})
_GZIP = frozenset({"gzip", "x-gzip"})
_IDENTITY = frozenset({"", "identity"})
# Longest base64 text that can decode to at most MAX_BODY_BYTES (plus padding slack).
_MAX_BASE64_CHARS = (MAX_BODY_BYTES + 2) // 3 * 4 + 4
# Any str of at most this many characters encodes to at most MAX_BODY_BYTES UTF-8 bytes.
_ALWAYS_FITS_CHARS = MAX_BODY_BYTES // 4
_JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
                    float: "number", type(None): "null"}


def _quote(value: str, limit: int = 80) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def check_media_type(content_type: str | None) -> None:
    """Accept application/json and text/plain in UTF-8; no Content-Type is read as JSON."""
    if content_type is None or not content_type.strip():
        return
    if "," in content_type:
        raise RequestError(415, "multiple_content_types",
                           f"one Content-Type expected, got {_quote(content_type)}")
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type not in ACCEPTED_MEDIA_TYPES:
        raise RequestError(415, "unsupported_media_type",
                           f"unsupported Content-Type {_quote(media_type)}: send application/json "
                           "or text/plain")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in ("utf-8", "utf8"):
                raise RequestError(415, "unsupported_charset",
                                   f"unsupported charset {_quote(charset)}: the body must be UTF-8")


def _content_coding(content_encoding: str | None) -> str:
    coding = (content_encoding or "").strip().lower()
    if coding in _IDENTITY:
        return "identity"
    if coding in _GZIP:
        return "gzip"
    raise RequestError(415, "unsupported_content_encoding",
                       f"unsupported Content-Encoding {_quote(coding)}: send gzip or no encoding")


def _too_large(what: str) -> RequestError:
    return RequestError(413, "body_too_large", f"{what} is over the {MAX_BODY_BYTES}-byte body cap")


def gunzip_capped(data: bytes, cap: int = MAX_BODY_BYTES) -> bytes:
    """Decompress gzip (all members) without ever holding more than ``cap`` + 1 output bytes."""
    parts: list[bytes] = []
    total = 0
    while data:
        stream = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            chunk = stream.decompress(data, cap - total + 1)
        except zlib.error as exc:
            raise RequestError(400, "invalid_gzip", f"body is not valid gzip: {exc}") from exc
        total += len(chunk)
        if total > cap:
            raise _too_large("the decompressed body")
        parts.append(chunk)
        if not stream.eof:
            raise RequestError(400, "invalid_gzip", "body is not valid gzip: the stream is truncated")
        data = stream.unused_data
    return b"".join(parts)


def _unwrap(request: IngestRequest) -> bytes | str:
    """The body with base64 undone, refused early when it cannot fit the cap."""
    body = request.body or ""
    if not request.is_base64_encoded:
        if len(body) > MAX_BODY_BYTES:
            raise _too_large("the body")
        return body
    if len(body) > _MAX_BASE64_CHARS:
        raise _too_large("the body")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(400, "invalid_base64", "body is flagged base64 but is not valid base64") from exc


def _utf8_text(raw: bytes | str) -> str:
    """Decoded, size-checked UTF-8 text."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_BODY_BYTES:
            raise _too_large("the body")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RequestError(400, "invalid_utf8", f"body is not valid UTF-8 (byte {exc.start})") from exc
    if len(raw) > _ALWAYS_FITS_CHARS:
        try:
            size = len(raw.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise RequestError(400, "invalid_utf8", "body is not valid UTF-8") from exc
        if size > MAX_BODY_BYTES:
            raise _too_large("the body")
    return raw


def decode_text(request: IngestRequest) -> str:
    """The body as text: base64 and gzip undone, size-capped, UTF-8 checked."""
    check_media_type(request.content_type)
    coding = _content_coding(request.content_encoding)
    raw = _unwrap(request)
    if coding == "gzip":
        if isinstance(raw, str):  # API Gateway base64-encodes binary bodies; text cannot be gzip
            raise RequestError(400, "invalid_gzip", "body is not valid gzip: it was sent as text")
        raw = gunzip_capped(raw)
    text = _utf8_text(raw)
    if not text.strip():
        raise RequestError(400, "empty_body", 'empty body: send one event or {"events": [...]}')
    return text


def split_events(document) -> list:
    """One event object, or the events of a ``{"events": [...]}`` batch."""
    if isinstance(document, dict) and "events" in document:
        extra = sorted(str(key) for key in document if key != "events")
        if extra:
            raise RequestError(400, "invalid_batch",
                               'a batch is {"events": [...]} with no other keys; unexpected: '
                               + ", ".join(_quote(key, 40) for key in extra[:5]))
        events = document["events"]
        if not isinstance(events, list):
            raise RequestError(400, "invalid_batch",
                               f"events: must be an array of event objects, got {_json_type(events)}")
        if not events:
            raise RequestError(400, "empty_batch", f"events: empty; send 1 to {MAX_EVENTS} events")
        if len(events) > MAX_EVENTS:
            raise RequestError(413, "too_many_events",
                               f"events: {len(events)} events, over the {MAX_EVENTS}-event cap")
        return events
    if isinstance(document, dict):
        return [document]
    raise RequestError(400, "invalid_body",
                       'body must be one event object or {"events": [...]}, '
                       f"got a JSON {_json_type(document)}")


def _json_type(value) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def parse_events(request: IngestRequest) -> list:
    """The submitted events (not yet validated) of a request, or a ``RequestError``."""
    text = decode_text(request)
    try:
        document = json.loads(text)
    except RecursionError as exc:
        raise RequestError(400, "invalid_json", "body is not valid JSON: nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, and int fields over Python's digit limit
        raise RequestError(400, "invalid_json", f"body is not valid JSON: {exc}") from exc
    return split_events(document)

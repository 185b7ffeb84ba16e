"""Country (ISO 3166-1 alpha-2) of an anonymised address, from a MaxMind-format database.

Ingest stores only the network address of the client's /24 (IPv4) or /48 (IPv6), e.g.
``203.0.113.0``; that address is what is looked up. A GeoLite2/GeoIP2 Country (or City)
database answers with ``country.iso_code``, the country the network is in; where a record has
no ``country`` (MaxMind leaves it out for some anycast and satellite networks) its
``registered_country.iso_code`` answers. Anything that is not two letters A-Z is no answer.

``GEOIP_COUNTRY_DB`` is a filesystem path, or ``s3://bucket/key`` of an object that is fetched
once per process (a Lambda cold start) into the temp directory through the caller's boto3
client. Unset or empty: geography is not configured, ``CountryLookup.configured`` is False and
every lookup is None. A setting that names no readable database is an error that says which.
Lookups are cached per address (``CACHE_SIZE``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import maxminddb

ENV_VAR = "GEOIP_COUNTRY_DB"
CACHE_SIZE = 65536
_ISO_CODE = re.compile(r"[A-Z]{2}")
_S3_URL = re.compile(r"s3://(?P<bucket>[^/]+)/(?P<key>.+)")


class GeoConfigError(ValueError):
    """GEOIP_COUNTRY_DB names no usable country database; the message says why."""


class CountryLookup:
    """Country codes of addresses from one database; a lookup without a database is None."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._reader = None
        if self.path is not None:
            try:
                self._reader = maxminddb.open_database(str(self.path))
            except FileNotFoundError as exc:
                raise GeoConfigError(f"{ENV_VAR}: no file {self.path}") from exc
            except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
                raise GeoConfigError(f"{ENV_VAR}: {self.path} is not a MaxMind database ({exc})") from exc
        self.country = lru_cache(maxsize=CACHE_SIZE)(self._country)

    @property
    def configured(self) -> bool:
        """Whether a database is loaded; False means geography is not configured."""
        return self._reader is not None

    @property
    def database_type(self) -> str | None:
        """The database's own type, e.g. "GeoLite2-Country"; None when not configured."""
        return self._reader.metadata().database_type if self._reader is not None else None

    def _country(self, address: str | None) -> str | None:
        """ISO 3166-1 alpha-2 code of the network ``address`` is in; None if unknown or not an IP."""
        if self._reader is None or not address:
            return None
        try:
            record = self._reader.get(address)
        except (ValueError, TypeError):  # not an IP address, or IPv6 in an IPv4-only database
            return None
        if not isinstance(record, Mapping):
            return None
        for field in ("country", "registered_country"):
            place = record.get(field)
            code = place.get("iso_code") if isinstance(place, Mapping) else None
            if isinstance(code, str) and _ISO_CODE.fullmatch(code):
                return code
        return None

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


_by_setting: dict[str, CountryLookup] = {}
_by_setting_lock = threading.Lock()


def country_lookup(setting: str | None = None, *, s3_client=None, tmp_dir: str | None = None,
                   environ: Mapping[str, str] | None = None) -> CountryLookup:
    """The lookup for ``setting`` (default: ``$GEOIP_COUNTRY_DB``), opened once per process.

    An ``s3://bucket/key`` setting is downloaded with ``s3_client`` (a boto3 S3 client) into
    ``tmp_dir`` (default: the system's, /tmp on Lambda) on first use.
    """
    if setting is None:
        setting = (os.environ if environ is None else environ).get(ENV_VAR, "")
    setting = setting.strip()
    if not setting:
        return CountryLookup(None)
    with _by_setting_lock:
        if setting not in _by_setting:
            _by_setting[setting] = CountryLookup(_local_path(setting, s3_client, tmp_dir))
        return _by_setting[setting]


def _local_path(setting: str, s3_client, tmp_dir: str | None) -> Path:
    if not setting.startswith("s3://"):
        return Path(setting)
    match = _S3_URL.fullmatch(setting)
    if match is None:
        raise GeoConfigError(f"{ENV_VAR}={setting!r}: an S3 location is s3://bucket/key")
    if s3_client is None:
        raise GeoConfigError(f"{ENV_VAR}={setting!r}: an S3 location needs an S3 client to fetch it")
    directory = Path(tmp_dir or tempfile.gettempdir())
    target = directory / f"geoip-{hashlib.sha256(setting.encode()).hexdigest()[:16]}.mmdb"
    partial = target.with_suffix(f".{os.getpid()}.part")
    try:
        s3_client.download_file(match["bucket"], match["key"], str(partial))
    except Exception as exc:  # botocore's ClientError (404, 403) and connection errors alike
        partial.unlink(missing_ok=True)
        raise GeoConfigError(f"{ENV_VAR}={setting!r}: cannot fetch the object ({exc})") from exc
    os.replace(partial, target)  # whole or not at all, should two processes share the directory
    return target


def forget_lookups() -> None:
    """Close and drop the per-process lookups (tests; a new setting takes effect next call)."""
    with _by_setting_lock:
        for lookup in _by_setting.values():
            lookup.close()
        _by_setting.clear()

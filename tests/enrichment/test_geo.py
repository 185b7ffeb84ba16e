"""functions.enrichment.geo: countries from small GeoLite2-Country-layout databases (mmdb-writer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from mmdb_writer import MMDBWriter
from moto import mock_aws
from netaddr import IPSet

from functions.enrichment import geo
from functions.enrichment.geo import ENV_VAR, CountryLookup, GeoConfigError, country_lookup
from functions.ingest.enrich import anonymise_ip


def country(code: str) -> dict:
    return {"iso_code": code, "geoname_id": 1, "names": {"en": code}}


#: network -> GeoLite2-Country record
NETWORKS = {
    "203.0.113.0/24": {"continent": {"code": "EU"}, "country": country("DE"),
                       "registered_country": country("DE")},
    "198.51.100.0/24": {"registered_country": country("US")},              # no location: registered
    "192.0.2.0/24": {"country": country("FR"), "registered_country": country("GB")},
    "100.64.0.0/24": {"country": {"iso_code": "France"}},                   # not alpha-2: no answer
    "2001:db8:1::/48": {"country": country("JP"), "registered_country": country("JP")},
    "2001:db8:2::/48": {"country": {"names": {"en": "nowhere"}}},           # no code at all
}


def build_database(path: Path, networks: dict, *, ip_version: int = 6) -> Path:
    writer = MMDBWriter(ip_version=ip_version, ipv4_compatible=ip_version == 6,
                        database_type="GeoLite2-Country", languages=["en"], description="test countries")
    for network, record in networks.items():
        writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture(autouse=True)
def _fresh_lookups() -> Iterator[None]:
    geo.forget_lookups()
    yield
    geo.forget_lookups()


@pytest.fixture
def database(tmp_path) -> Path:
    return build_database(tmp_path / "country.mmdb", NETWORKS)


@pytest.mark.parametrize(("client_ip", "expected"), [
    ("203.0.113.77", "DE"),
    ("198.51.100.9", "US"),
    ("192.0.2.200", "FR"),
    ("100.64.0.9", None),
    ("2001:db8:1:2::3", "JP"),
    ("2001:db8:2::1", None),
    ("::ffff:203.0.113.5", "DE"),   # IPv4-mapped: ingest stores the IPv4 network
    ("10.1.2.3", None),              # not in the database
])
def test_country_of_the_anonymised_address(database, client_ip, expected):
    lookup = CountryLookup(database)
    stored = anonymise_ip(client_ip)     # what ingest keeps in source_ip
    assert lookup.configured is True
    assert lookup.database_type == "GeoLite2-Country"
    assert lookup.country(stored) == expected


@pytest.mark.parametrize("address", [None, "", "not an ip", "203.0.113", "2001:db8::/48"])
def test_what_is_not_an_address_has_no_country(database, address):
    assert CountryLookup(database).country(address) is None


def test_ipv6_in_an_ipv4_only_database_has_no_country(tmp_path):
    networks = {"203.0.113.0/24": {"country": country("NL")}}
    lookup = CountryLookup(build_database(tmp_path / "v4.mmdb", networks, ip_version=4))
    assert lookup.country("203.0.113.0") == "NL"
    assert lookup.country("2001:db8:1::") is None


def test_not_configured_means_every_lookup_is_none(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    lookup = country_lookup()
    assert lookup.configured is False
    assert lookup.database_type is None
    assert lookup.country("203.0.113.0") is None
    assert country_lookup("   ").configured is False


def test_a_path_from_the_environment_is_opened_once(database, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(database))
    first = country_lookup()
    assert first.configured and first.country("203.0.113.0") == "DE"
    assert country_lookup() is first
    assert country_lookup(environ={ENV_VAR: str(database)}) is first


def test_lookups_are_cached_per_address(database):
    lookup = CountryLookup(database)
    for _ in range(10):
        lookup.country("203.0.113.0")
        lookup.country("2001:db8:1::")
    info = lookup.country.cache_info()
    assert (info.misses, info.hits) == (2, 18)


def test_settings_that_name_no_database_are_errors_that_say_so(tmp_path):
    with pytest.raises(GeoConfigError, match=rf"{ENV_VAR}: no file .*missing\.mmdb"):
        country_lookup(str(tmp_path / "missing.mmdb"))
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a MaxMind database" * 100)
    with pytest.raises(GeoConfigError, match=r"junk\.mmdb is not a MaxMind database"):
        country_lookup(str(junk))
    with pytest.raises(GeoConfigError, match=r"an S3 location is s3://bucket/key"):
        country_lookup("s3://bucket-only")
    with pytest.raises(GeoConfigError, match=r"needs an S3 client"):
        country_lookup("s3://bucket/country.mmdb")


class CountingClient:
    """The real (moto) S3 client, counting downloads."""

    def __init__(self, client) -> None:
        self.client = client
        self.downloads = 0

    def download_file(self, *args, **kwargs):
        self.downloads += 1
        return self.client.download_file(*args, **kwargs)


@pytest.fixture
def s3(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "ap-southeast-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="ap-southeast-1")
        client.create_bucket(Bucket="raw", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-1"})
        yield client


def test_an_s3_object_is_fetched_once_per_process(s3, database, tmp_path):
    s3.upload_file(str(database), "raw", "geo/country.mmdb")
    client = CountingClient(s3)
    work = tmp_path / "tmp"
    work.mkdir()
    setting = "s3://raw/geo/country.mmdb"
    lookup = country_lookup(setting, s3_client=client, tmp_dir=str(work))
    assert lookup.country("203.0.113.0") == "DE"
    assert country_lookup(setting, s3_client=client, tmp_dir=str(work)) is lookup
    assert client.downloads == 1
    assert [p.suffix for p in work.iterdir()] == [".mmdb"]  # no partial download left


def test_a_missing_s3_object_is_an_error_naming_it(s3, tmp_path):
    with pytest.raises(GeoConfigError, match=r"s3://raw/geo/none\.mmdb.*cannot fetch the object"):
        country_lookup("s3://raw/geo/none.mmdb", s3_client=s3, tmp_dir=str(tmp_path))
    assert list(tmp_path.iterdir()) == []

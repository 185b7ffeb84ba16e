"""config.py: settings from the environment, and the warehouse password from SSM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest

from functions.etl import config, handler
from functions.etl.config import ConfigError, Settings
from tests.etl.conftest import REGION
from tests.etl.support import make_traffic, put_object


def test_settings_name_what_is_wrong():
    base = {"DWH_HOST": "h", "DWH_USER": "u", "RAW_BUCKET": "b"}
    assert Settings.from_env(base).dwh_port == 5432
    assert Settings.from_env(base).dwh_database == "clickstream_dw"
    with pytest.raises(ConfigError, match="missing environment variable"):
        Settings.from_env({"DWH_HOST": "h"})
    with pytest.raises(ConfigError, match="DWH_PORT='abc': not an integer"):
        Settings.from_env({**base, "DWH_PORT": "abc"})
    with pytest.raises(ConfigError, match="ETL_MAX_WORKERS=0: must be between 1 and 64"):
        Settings.from_env({**base, "ETL_MAX_WORKERS": "0"})
    with pytest.raises(ConfigError, match="ETL_LOOKBACK_HOURS=0: must be between 1 and 744"):
        Settings.from_env({**base, "ETL_LOOKBACK_HOURS": "0"})
    assert Settings.from_env({**base, "ETL_LOOKBACK_HOURS": "1"}).lookback_hours == 1


@pytest.mark.slow
def test_password_from_ssm_securestring(etl_env, s3, bucket, monkeypatch):
    ssm = boto3.client("ssm", region_name=REGION, endpoint_url=etl_env["AWS_ENDPOINT_URL"])
    name = f"/clickstream/dwh/{etl_env['DWH_USER']}"
    ssm.put_parameter(Name=name, Value=etl_env["DWH_PASSWORD"], Type="SecureString")
    env = {k: v for k, v in etl_env.items() if k != "DWH_PASSWORD"}
    env["DWH_PASSWORD_PARAM"] = name
    for k in etl_env:
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(config, "_password_cache", {})
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    records = make_traffic(seed=34, start=this_hour, sessions=1, spread=timedelta(minutes=40))
    put_object(s3, bucket, datetime(2026, 11, 20, 10, tzinfo=UTC), records)
    assert handler.handler({"detail-type": "Scheduled Event"}, None)["status"] == "succeeded"
    # Read once per cold start: a second invocation does not ask SSM again.
    ssm.delete_parameter(Name=name)
    assert handler.handler({"detail-type": "Scheduled Event"}, None)["status"] == "succeeded"
    monkeypatch.setattr(config, "_password_cache", {})
    with pytest.raises(ConfigError, match=f"DWH_PASSWORD_PARAM={name}: cannot read the parameter"):
        handler.handler({"detail-type": "Scheduled Event"}, None)

"""metrics.py: every invocation leaves one CloudWatch embedded-metric-format line in the log,
failed runs too, with the freshness figures the monitoring stack alarms on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from functions.etl import handler, metrics
from functions.etl.warehouse import WarehouseUnavailable
from tests.etl.support import make_traffic, put_by_hour
from tests.etl.test_handler import FakeContext
from tests.support.net import free_port

SCHEDULED = {"detail-type": "Scheduled Event"}


def emf_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def assert_emf(record: dict) -> dict:
    """The EMF structure CloudWatch requires; returns {metric name: value}."""
    [directive] = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Clickstream/ETL" and directive["Dimensions"] == [["Environment"]]
    assert isinstance(record["_aws"]["Timestamp"], int)
    names = [m["Name"] for m in directive["Metrics"]]
    assert all(name in record for name in names)             # each declared metric has its value
    return {name: record[name] for name in names}


@pytest.mark.usefixtures("settings", "dw")
def test_a_run_publishes_freshness_and_counts(s3, bucket, capsys, monkeypatch):
    monkeypatch.setenv("PLATFORM_ENV", "test")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    records = make_traffic(seed=41, start=hour, sessions=12, spread=timedelta(minutes=30), bot_share=0)
    put_by_hour(s3, bucket, records)
    summary = handler.handler(SCHEDULED, FakeContext())
    [record] = emf_lines(capsys.readouterr().out)
    assert record["Environment"] == "test"
    values = assert_emf(record)
    newest = max(datetime.fromisoformat(r["received_at"].replace("Z", "+00:00")) for r in records)
    newest_end = newest.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    expected_age = (datetime.now(UTC) - newest_end).total_seconds()
    assert values["NewestLoadedHourAgeSeconds"] == pytest.approx(expected_age, abs=30)
    assert 0 <= values["SecondsSinceLastSuccess"] < 30
    assert (values["OpenAnomalies"], values["RunFailed"]) == (0, 0)
    assert (values["EventsLoaded"], values["RejectedLines"]) == (summary["events_loaded"], 0)
    assert summary["events_loaded"] == len(records)


@pytest.mark.usefixtures("settings")
def test_a_failed_run_still_publishes_that_it_failed(monkeypatch, capsys, caplog):
    monkeypatch.setenv("DWH_PORT", str(free_port()))            # the warehouse is unreachable
    monkeypatch.setenv("DWH_CONNECT_TIMEOUT", "2")
    with pytest.raises(WarehouseUnavailable):
        handler.handler(SCHEDULED, FakeContext())
    [record] = emf_lines(capsys.readouterr().out)
    values = assert_emf(record)
    assert values == {"RunFailed": 1}                         # no freshness read: no made-up figures
    assert "freshness metrics not read" in caplog.text


def test_metrics_without_a_value_are_not_declared():
    line = json.loads(metrics.emf_line("dev", {"NewestLoadedHourAgeSeconds": None, "OpenAnomalies": 3},
                                       timestamp_ms=1))
    assert assert_emf(line) == {"OpenAnomalies": 3}
    assert "NewestLoadedHourAgeSeconds" not in line

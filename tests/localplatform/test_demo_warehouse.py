"""How the ETL and the summary reach the warehouse, and the summary's figures read through the
dashboard.* functions (localplatform.demo.warehouse), on a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

from localplatform.demo import state
from localplatform.demo.config import DemoConfig
from localplatform.demo.warehouse import FIGURES_SQL, Warehouse, etl_env


def test_dwh_dsn_gives_the_etl_its_parts_and_the_summary_the_dsn(tmp_path: Path):
    dsn = "host=db.internal dbname=clickstream_dw user=me"
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), "DWH_DSN": dsn})
    wh = Warehouse.for_demo(cfg, use_dw_host=False)
    assert wh.etl["DWH_HOST"] == "db.internal" and wh.etl["DWH_PORT"] == "5432"
    assert (wh.etl["DWH_USER"], wh.etl["DWH_DATABASE"], wh.dsn) == ("me", "clickstream_dw", dsn)
    env = etl_env(cfg, wh)
    assert env["DWH_HOST"] == "db.internal" and env["RAW_BUCKET"] == cfg.raw_bucket
    assert env["AWS_ENDPOINT_URL"] == cfg.s3_url


def test_the_dw_host_gives_the_etl_its_login_and_the_summary_the_readers(tmp_path: Path):
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": str(tmp_path), "DEMO_DW_PORT": "25432"})
    state.ensure_state_dir(cfg)
    state.ensure_secrets(cfg)
    wh = Warehouse.for_demo(cfg, use_dw_host=True)
    assert wh.etl == {"DWH_HOST": "127.0.0.1", "DWH_PORT": "25432", "DWH_USER": "etl_writer",
                      "DWH_PASSWORD": state.read_secret(cfg.secrets_dir / "dw_etl_writer"),
                      "DWH_DATABASE": "clickstream_dw"}
    assert wh.dsn is None and wh.reader_secret == cfg.secrets_dir / "dw_dashboard_reader"
    assert wh.etl["DWH_PASSWORD"] not in wh.label


def test_the_figures_query_calls_only_dashboard_functions():
    assert "dashboard." in FIGURES_SQL
    for table in ("clickstream_events", "sessions ", "agg_", "etl_runs", "etl_rejects"):
        assert f"FROM {table}" not in FIGURES_SQL and f"JOIN {table}" not in FIGURES_SQL


def test_an_empty_warehouse_has_zero_figures(warehouse):
    figures = Warehouse({}, "test", dsn=warehouse.reader_dsn).figures()
    assert figures == dict.fromkeys(("loaded", "loaded_bot", "sessions", "purchase_sessions", "etl_rejected",
                                     "etl_runs", "etl_failed_runs", "booked_orders", "booked_revenue",
                                     "tracked_revenue", "untracked_orders", "unbooked_purchases"), 0)


def test_the_figures_are_the_dashboards_counts_read_as_the_dashboards_login(filled_warehouse):
    warehouse, expected = filled_warehouse
    assert Warehouse({}, "test", dsn=warehouse.reader_dsn).figures() == expected


"""The migration runner and the privileges the migrations define, on a real PostgreSQL."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import parse_dsn

from functions.warehouse import migrate
from functions.warehouse.migrate import MIGRATIONS_DIR, MigrationError, apply_migrations, discover

ISSUE_TABLES = {
    "clickstream_events", "sessions", "agg_funnel_daily", "agg_product_daily", "agg_activity_hourly",
    "agg_activity_daily", "etl_file_manifest", "etl_rejects", "etl_runs",
}


def tables(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in cur.fetchall()}


def test_applies_all_then_nothing(pg_conn):
    versions = [m.version for m in discover()]
    assert apply_migrations(pg_conn) == versions
    assert ISSUE_TABLES | {"schema_migrations"} <= tables(pg_conn)
    assert apply_migrations(pg_conn) == []
    with pg_conn.cursor() as cur:
        cur.execute("SELECT version, name, length(checksum) FROM schema_migrations ORDER BY version")
        rows = cur.fetchall()
    assert rows[0] == (1, "core_schema", 64)


def test_refuses_a_changed_applied_migration(pg_conn, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    apply_migrations(pg_conn, copy)
    first = sorted(copy.glob("001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after the fact\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        apply_migrations(pg_conn, copy)


def test_failing_migration_leaves_nothing_behind(pg_conn, tmp_path):
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    (copy / "098_broken.sql").write_text(
        "CREATE TABLE half_done (x int);\nSELECT no_such_column FROM etl_runs;\n")
    with pytest.raises(MigrationError, match=r"098_broken\.sql: .*no_such_column"):
        apply_migrations(pg_conn, copy)
    assert "half_done" not in tables(pg_conn)
    with pg_conn.cursor() as cur:
        cur.execute("SELECT max(version) FROM schema_migrations")
        assert cur.fetchone()[0] < 98


def test_rejects_misnamed_files(tmp_path):
    (tmp_path / "7_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=r"NNN_<lowercase_name>\.sql"):
        discover(tmp_path)


def test_concurrent_runs_apply_once(pg_dsn):
    results: list[list[int]] = []

    def run() -> None:
        with contextlib.closing(psycopg2.connect(pg_dsn)) as conn:
            results.append(apply_migrations(conn))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(map(len, results)) == [0, 0, len(discover())]


def test_standalone_script_uses_only_libpq_settings(pg_dsn, tmp_path):
    params = parse_dsn(pg_dsn)
    # Run the file itself, from elsewhere, as the postgres_dw role does on the host.
    script = Path(migrate.__file__)
    cmd = [sys.executable, str(script), "--dbname", params["dbname"], "--host", params["host"],
           "--port", params["port"], "--user", params["user"]]
    env = {"PGPASSWORD": params["password"], "PATH": "/usr/bin:/bin"}
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == "applied 001_core_schema"
    assert lines[-1] == f"applied {len(discover())} migration(s)"
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert (second.returncode, second.stdout) == (0, "applied 0 migration(s)\n")
    bad = subprocess.run([*cmd[:-2], "--user", "nobody_here"], env=env, capture_output=True, text=True,
                         cwd=tmp_path, check=False)
    assert bad.returncode == 1
    assert "cannot connect" in bad.stderr


def test_reader_can_read_but_not_write(login_role):
    reader = psycopg2.connect(login_role("clickstream_reader"))
    try:
        with reader.cursor() as cur:
            for table in sorted(ISSUE_TABLES):
                cur.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
                assert cur.fetchone() == (0,)
        reader.commit()
        for statement in (
            "INSERT INTO agg_funnel_daily (day, sessions, sessions_page_view, sessions_product_view,"
            " sessions_add_to_cart, sessions_begin_checkout, sessions_purchase, orders, revenue)"
            " VALUES ('2026-01-01', 1, 1, 0, 0, 0, 0, 0, 0)",
            "DELETE FROM clickstream_events",
            "UPDATE sessions SET events = 0",
            "TRUNCATE etl_runs",
            "CREATE TABLE mine (x int)",
            "CREATE TEMP TABLE mine (x int)",
        ):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege), reader.cursor() as cur:
                cur.execute(statement)
            reader.rollback()
    finally:
        reader.close()


def test_writer_appends_events_but_cannot_delete_them(login_role):
    writer = psycopg2.connect(login_role("clickstream_writer"))
    try:
        with writer.cursor() as cur:
            cur.execute("CREATE TEMP TABLE staging (LIKE clickstream_events)")
            cur.execute("INSERT INTO etl_runs (trigger) VALUES ('cli') RETURNING run_id")
            assert cur.fetchone()[0] >= 1
        writer.commit()
        for statement in ("DELETE FROM clickstream_events", "DROP TABLE sessions",
                          "CREATE TABLE mine (x int)"):
            with pytest.raises(psycopg2.errors.InsufficientPrivilege), writer.cursor() as cur:
                cur.execute(statement)
            writer.rollback()
    finally:
        writer.close()

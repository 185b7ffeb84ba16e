"""Migration 010: only the writer may take advisory locks, so no reader can hold the ETL's run lock."""

from __future__ import annotations

import contextlib

import psycopg2
import pytest

from functions.etl.warehouse import ETL_LANE_LOCK_KEY, ETL_LOCK_KEY

LOCKING_CALLS = [
    "SELECT pg_advisory_lock(%s)", "SELECT pg_try_advisory_lock(%s)",
    "SELECT pg_advisory_lock_shared(%s)", "SELECT pg_try_advisory_lock_shared(%s)",
    "SELECT pg_advisory_xact_lock(%s)", "SELECT pg_try_advisory_xact_lock(%s)",
    "SELECT pg_advisory_xact_lock_shared(%s)", "SELECT pg_try_advisory_xact_lock_shared(%s)",
]


def test_a_reader_can_take_no_advisory_lock(login_role):
    with contextlib.closing(psycopg2.connect(login_role("clickstream_reader"))) as reader:
        for statement in LOCKING_CALLS:
            for key in (ETL_LOCK_KEY, ETL_LANE_LOCK_KEY):
                with pytest.raises(psycopg2.errors.InsufficientPrivilege), reader.cursor() as cur:
                    cur.execute(statement, (key,))
                reader.rollback()
        with pytest.raises(psycopg2.errors.InsufficientPrivilege), reader.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(1, 2)")   # the two-key forms too
        reader.rollback()


def test_the_writer_takes_and_releases_the_run_lock(login_role):
    with contextlib.closing(psycopg2.connect(login_role("clickstream_writer"))) as writer, \
            writer.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (ETL_LOCK_KEY,))
        assert cur.fetchone() == (True,)
        cur.execute("SELECT pg_advisory_unlock(%s)", (ETL_LOCK_KEY,))
        assert cur.fetchone() == (True,)


def test_no_advisory_lock_function_is_left_to_public(migrated_dsn):
    with contextlib.closing(psycopg2.connect(migrated_dsn)) as conn, conn.cursor() as cur:
        cur.execute("SELECT p.oid::regprocedure::text FROM pg_proc p"
                    " WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname LIKE 'pg%%advisory%%'"
                    " AND has_function_privilege('public', p.oid, 'EXECUTE')")
        assert cur.fetchall() == []
        cur.execute("SELECT count(*) FROM pg_proc p WHERE p.proname LIKE 'pg%%advisory%%'"
                    " AND has_function_privilege('clickstream_writer', p.oid, 'EXECUTE')")
        assert cur.fetchone()[0] >= 16


def test_a_non_superuser_cannot_apply_it_silently(pg_cluster, pg_dsn):
    """Run by a non-superuser the revokes would be mere warnings: the migration refuses instead."""
    from pathlib import Path  # noqa: PLC0415
    sql_text = (Path(__file__).resolve().parents[2] / "functions/warehouse/migrations"
                / "010_advisory_locks_writer_only.sql").read_text()
    with contextlib.closing(psycopg2.connect(pg_dsn)) as conn, conn.cursor() as cur:
        cur.execute("CREATE ROLE clickstream_writer NOLOGIN" if not _role_exists(cur, "clickstream_writer")
                    else "SELECT 1")
        cur.execute("CREATE ROLE mig_owner_010 NOLOGIN")
        cur.execute("SET ROLE mig_owner_010")
        with pytest.raises(psycopg2.errors.RaiseException, match="run the migrations as a superuser"):
            cur.execute(sql_text)
        conn.rollback()


def _role_exists(cur, name: str) -> bool:
    cur.execute("SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = %s)", (name,))
    return cur.fetchone()[0]

"""The test harness itself: the throwaway PostgreSQL server and the test-host image recipe."""

from __future__ import annotations

import os
import subprocess

import psycopg2
import pytest

from tests.conftest import REPO


def test_postgres_is_a_real_server(pg_conn):
    with pg_conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int, inet_server_addr()::text")
        version, addr = cur.fetchone()
    assert version >= 150000
    if not os.environ.get("DWH_TEST_DSN"):
        assert addr.startswith("127.0.0.1")


def test_each_test_gets_its_own_database(pg_conn, pg_dsn):
    with pg_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id int PRIMARY KEY)")
        cur.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cur.execute("INSERT INTO t VALUES (1)")
    pg_conn.rollback()
    assert psycopg2.extensions.parse_dsn(pg_dsn)["dbname"].startswith("test_")


def test_password_authentication_is_enforced(pg_cluster):
    if os.environ.get("DWH_TEST_DSN"):
        pytest.skip("auth of an external server is its own")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(pg_cluster.dsn_for("postgres", password="wrong"), connect_timeout=5)


def test_server_does_not_run_as_root(pg_conn):
    with pg_conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    if os.environ.get("DWH_TEST_DSN"):
        pytest.skip("external server")
    assert os.stat(f"/proc/{pid}").st_uid != 0


def test_containers_conf_sets_what_nested_podman_needs():
    text = (REPO / "ci" / "containers.conf").read_text()
    assert 'runtime = "runc"' in text
    assert 'cgroup_manager = "cgroupfs"' in text
    assert "default_ulimits = []" in text


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "make test" in ci
    assert "make test" in readme


def test_build_image_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(REPO / "scripts" / "build-test-image.sh")], check=True)

"""Shared fixtures: a real PostgreSQL server for the whole session, a fresh database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.support.pgcluster import PgCluster, cluster_from_env

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A real PostgreSQL server: DWH_TEST_DSN if set, else a throwaway cluster on 127.0.0.1."""
    cluster = cluster_from_env()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_dsn(pg_cluster: PgCluster) -> Iterator[str]:
    """DSN of a new, empty database on the session's server (dropped after the test)."""
    dsn = pg_cluster.create_database()
    yield dsn
    pg_cluster.drop_database(psycopg2.extensions.parse_dsn(dsn)["dbname"])


@pytest.fixture
def pg_conn(pg_dsn: str) -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(pg_dsn)
    yield conn
    conn.close()

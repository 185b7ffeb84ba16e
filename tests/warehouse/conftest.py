"""Fixtures: a migrated warehouse database and login roles in the two groups."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from functions.warehouse.migrate import apply_migrations


@pytest.fixture
def migrated_dsn(pg_dsn: str) -> str:
    with contextlib.closing(psycopg2.connect(pg_dsn)) as conn:
        apply_migrations(conn)
    return pg_dsn


@pytest.fixture
def login_role(pg_cluster, migrated_dsn) -> Iterator:
    """login_role("clickstream_reader") -> DSN of a new login role in that group."""
    made: list[str] = []

    def make(group: str) -> str:
        name, password = f"login_{secrets.token_hex(5)}", secrets.token_urlsafe(16)
        with contextlib.closing(psycopg2.connect(pg_cluster.dsn)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE {}").format(
                    sql.Identifier(name), sql.Identifier(group)), (password,))
        made.append(name)
        params = parse_dsn(migrated_dsn)
        params.update(user=name, password=password)
        return make_dsn(**params)

    yield make
    with contextlib.closing(psycopg2.connect(pg_cluster.dsn)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in made:
                cur.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))

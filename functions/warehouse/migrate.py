#!/usr/bin/env python3
"""Apply the warehouse's versioned SQL migrations (migrations/NNN_<name>.sql) in order.

Importable (`apply_migrations(conn)`) and runnable on the warehouse host with only the
standard library and psycopg2:

    python3 migrate.py --dbname clickstream_dw [--host H] [--port P] [--user U]

The password comes from libpq's usual sources (PGPASSWORD, ~/.pgpass). Each migration runs in
one transaction together with its `schema_migrations` row, so it is applied entirely or not at
all. A session-level advisory lock serialises concurrent runs (the second waits, then finds
nothing left to do). An applied migration whose file changed afterwards is refused: history
is fixed once applied; add a new migration instead.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg2

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
FILENAME_RE = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9][a-z0-9_]*)\.sql$")
# Arbitrary but fixed: the key every migration run locks on ("clickdw" + 1).
MIGRATION_LOCK_KEY = 0x636C69636B647701

SCHEMA_MIGRATIONS_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(Exception):
    """A migration cannot be applied safely (changed checksum, bad file name, SQL error)."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in `directory`, by version; a misnamed or duplicate .sql file is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = FILENAME_RE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files must be named NNN_<lowercase_name>.sql")
        version = int(match["version"])
        if version in found:
            other = found[version].path.name
            raise MigrationError(f"{path.name}: version {version:03d} also used by {other}")
        found[version] = Migration(version, match["name"], path)
    return [found[v] for v in sorted(found)]


def apply_migrations(conn, directory: Path = MIGRATIONS_DIR, log=None) -> list[int]:
    """Apply the pending migrations on `conn`; returns the versions applied now, in order.

    `log(line)` (optional) is called once per applied migration. Commits on `conn` (a
    transaction the caller left open is committed with the first step).
    """
    migrations = discover(directory)
    was_autocommit = conn.autocommit
    if was_autocommit:
        conn.autocommit = False
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.commit()
    try:
        with conn.cursor() as cur:
            cur.execute(SCHEMA_MIGRATIONS_DDL)
            cur.execute("SELECT version, checksum FROM schema_migrations")
            applied = dict(cur.fetchall())
        conn.commit()
        for migration in migrations:
            if migration.version in applied and applied[migration.version] != migration.checksum:
                raise MigrationError(
                    f"{migration.path.name}: changed after it was applied (checksum {migration.checksum[:12]}"
                    f" != recorded {applied[migration.version][:12]}); restore it and add a new migration"
                )
        newly_applied = []
        for migration in migrations:
            if migration.version in applied:
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute(migration.sql)
                    cur.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.checksum),
                    )
                conn.commit()
            except psycopg2.Error as exc:
                conn.rollback()
                detail = (exc.pgerror or str(exc)).strip()
                raise MigrationError(f"{migration.path.name}: {detail}") from exc
            newly_applied.append(migration.version)
            if log:
                log(f"applied {migration.version:03d}_{migration.name}")
        return newly_applied
    finally:
        if not conn.closed:
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
            conn.commit()
            conn.autocommit = was_autocommit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply the warehouse's SQL migrations.")
    parser.add_argument("--dbname", required=True)
    parser.add_argument("--host", help="server host or socket directory (libpq default when omitted)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--user")
    args = parser.parse_args(argv)
    params = {k: v for k, v in vars(args).items() if v is not None}
    try:
        conn = psycopg2.connect(connect_timeout=15, application_name="clickstream-migrate", **params)
    except psycopg2.OperationalError as exc:
        print(f"migrate: cannot connect to database {args.dbname!r}: {str(exc).strip()}", file=sys.stderr)
        return 1
    try:
        applied = apply_migrations(conn, log=print)
    except MigrationError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print(f"applied {len(applied)} migration(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

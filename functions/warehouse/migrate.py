#!/usr/bin/env python3
"""Apply the warehouse's SQL: the versioned migrations (migrations/NNN_<name>.sql) in order, then
the repeatable definitions (dashboard/<name>.sql) that are new or changed.

Importable (`apply_migrations(conn)`) and runnable on the warehouse host with only the
standard library and psycopg2:

    python3 migrate.py --dbname clickstream_dw [--host H] [--port P] [--user U]

The password comes from libpq's usual sources (PGPASSWORD, ~/.pgpass). A session-level advisory
lock serialises concurrent runs (the second waits, then finds nothing left to do).

Migrations: each runs once, in one transaction together with its `schema_migrations` row, so it
is applied entirely or not at all. An applied migration whose file changed afterwards is
refused: history is fixed once applied; add a new migration instead.

Repeatable definitions (the dashboard.* functions, one file per page), as Flyway's repeatable
migrations: a file is applied when it is new, when its content changed since (its checksum is
in `schema_repeatables`) or when a function it defined is missing. Each runs in one transaction
with its `schema_repeatables` row: it creates or replaces its functions (CREATE OR REPLACE),
and the functions it defined last time but no longer does are dropped. A file names the files
whose functions it uses in a header line, `-- requires: common, journeys`; they are applied
before it (files without an order between them go by name), and a function using another
file's function without that declaration is refused. A failing file rolls back alone: the
others are still applied, except the ones that require it; then the run fails, naming it.
"""

from __future__ import annotations

import argparse
import graphlib
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg2

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
REPEATABLE_DIR = Path(__file__).resolve().parent / "dashboard"
FILENAME_RE = re.compile(r"^(?P<version>\d{3})_(?P<name>[a-z0-9][a-z0-9_]*)\.sql$")
REPEATABLE_NAME_RE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.sql$")
REQUIRES_RE = re.compile(r"^--\s*requires:(?P<names>.*)$")
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

SCHEMA_REPEATABLES_DDL = """
CREATE TABLE IF NOT EXISTS schema_repeatables (
    name       text PRIMARY KEY,
    checksum   text NOT NULL,
    functions  text[] NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""

# The functions the current transaction created or replaced: their pg_proc rows are the
# versions it wrote (CREATE OR REPLACE keeps a function's oid, so new oids alone miss them).
DEFINED_NOW_SQL = """
SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.xmin = pg_current_xact_id()::xid ORDER BY 1
"""

# What the given functions use, in their SQL-standard bodies or parameter defaults.
USES_SQL = """
SELECT DISTINCT d.objid::regprocedure::text, d.refobjid::regprocedure::text
FROM pg_depend d
WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_proc'::regclass
  AND d.objid = ANY (%(mine)s::text[]::regprocedure[])
  AND d.refobjid <> ALL (%(mine)s::text[]::regprocedure[])
ORDER BY 1, 2
"""

# PostgreSQL's codes for a name it cannot resolve (function, table or type, schema).
UNDEFINED_OBJECT_CODES = {"42883", "42P01", "42704", "3F000"}


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


@dataclass(frozen=True)
class Repeatable:
    name: str
    path: Path
    requires: tuple[str, ...]  # as declared in the file's header
    after: frozenset[str] = frozenset()  # the files it requires, directly or through others

    @property
    def label(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Applied:
    """What one run applied: migration versions, then repeatable file names, in order."""

    migrations: list[int]
    repeatables: list[str]

    def summary(self) -> str:
        return f"applied {len(self.migrations)} migration(s) and {len(self.repeatables)} repeatable(s)"


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


def _declared_requires(path: Path) -> tuple[str, ...]:
    """The names on the `-- requires:` lines of the file's leading comment."""
    names: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("--"):
            break
        match = REQUIRES_RE.match(line)
        if match:
            names += [n.strip().removesuffix(".sql") for n in match["names"].split(",") if n.strip()]
    return tuple(names)


def discover_repeatables(directory: Path = REPEATABLE_DIR) -> list[Repeatable]:
    """The repeatable files in `directory`, each after the files it requires (else by name).

    A misnamed file, a requirement that names no file and a cycle of requirements are errors.
    """
    if not directory.is_dir():
        raise MigrationError(f"{directory}: the repeatable definitions' directory does not exist")
    declared: dict[str, Repeatable] = {}
    for path in sorted(directory.glob("*.sql")):
        match = REPEATABLE_NAME_RE.match(path.name)
        if not match:
            raise MigrationError(
                f"{directory.name}/{path.name}: repeatable files must be named <lowercase_name>.sql"
            )
        declared[match["name"]] = Repeatable(match["name"], path, _declared_requires(path))
    for rep in declared.values():
        for name in rep.requires:
            if name not in declared:
                raise MigrationError(
                    f"{rep.label}: requires {name!r}, which is not a file in {directory.name}/"
                )
    sorter = graphlib.TopologicalSorter({name: rep.requires for name, rep in declared.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise MigrationError(f"{directory.name}/: files require each other in a cycle: {cycle}") from exc
    ordered: list[Repeatable] = []
    after: dict[str, frozenset[str]] = {}
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        for name in ready:
            rep = declared[name]
            after[name] = frozenset(rep.requires).union(*(after[r] for r in rep.requires))
            ordered.append(Repeatable(rep.name, rep.path, rep.requires, after[name]))
        sorter.done(*ready)
    return ordered


def _sql_error(label: str, exc: psycopg2.Error) -> MigrationError:
    detail = (exc.pgerror or str(exc)).strip()
    if exc.pgcode in UNDEFINED_OBJECT_CODES:
        detail += "\n(if another file defines it, name that file in this one's header: -- requires: <name>)"
    return MigrationError(f"{label}: {detail}")


def _apply_repeatable(conn, rep: Repeatable, defined_this_run: dict[str, str]) -> None:
    """Applies one file and records it, in one transaction; rolls back and raises on any error."""
    try:
        with conn.cursor() as cur:
            cur.execute(rep.sql)
            cur.execute(DEFINED_NOW_SQL)
            defined = [row[0] for row in cur.fetchall()]
            for function in defined:
                if defined_this_run.get(function, rep.name) != rep.name:
                    raise MigrationError(
                        f"{rep.label}: defines {function}, as {defined_this_run[function]}.sql does"
                    )
            cur.execute("SELECT name, functions FROM schema_repeatables")
            recorded = dict(cur.fetchall())
            owner = {function: name for name, functions in recorded.items() for function in functions}
            for function in sorted(set(recorded.get(rep.name, [])) - set(defined)):
                cur.execute("SELECT to_regprocedure(%s)", (function,))
                if cur.fetchone()[0] is not None:
                    # A regprocedure's text, as PostgreSQL wrote it (names quoted where needed).
                    cur.execute(f"DROP FUNCTION {function}")
            cur.execute(USES_SQL, {"mine": defined})
            for function, used in cur.fetchall():
                used_from = owner.get(used)
                if used_from not in (None, rep.name) and used_from not in rep.after:
                    raise MigrationError(
                        f"{rep.label}: {function} uses {used} of {used_from}.sql, which this file does not"
                        f" require; add it to the header: -- requires: {used_from}"
                    )
            # A function moved here from another file is this file's from now on.
            cur.execute(
                "UPDATE schema_repeatables SET functions = ARRAY(SELECT unnest(functions) EXCEPT"
                " SELECT unnest(%(defined)s::text[]) ORDER BY 1)"
                " WHERE name <> %(name)s AND functions && %(defined)s::text[]",
                {"name": rep.name, "defined": defined},
            )
            cur.execute(
                "INSERT INTO schema_repeatables (name, checksum, functions) VALUES (%s, %s, %s)"
                " ON CONFLICT (name) DO UPDATE"
                " SET checksum = excluded.checksum, functions = excluded.functions, applied_at = now()",
                (rep.name, rep.checksum, defined),
            )
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        raise _sql_error(rep.label, exc) from exc
    except MigrationError:
        conn.rollback()
        raise
    for function in defined:
        defined_this_run[function] = rep.name


def _apply_repeatables(conn, repeatables: list[Repeatable], log) -> list[str]:
    with conn.cursor() as cur:
        cur.execute(SCHEMA_REPEATABLES_DDL)
    conn.commit()
    applied: list[str] = []
    failed: dict[str, str] = {}
    skipped: list[str] = []
    defined_this_run: dict[str, str] = {}
    for rep in repeatables:
        # Read per file: applying an earlier one may have dropped (CASCADE) a later one's function.
        with conn.cursor() as cur:
            cur.execute(
                "SELECT checksum, EXISTS (SELECT FROM unnest(functions) f WHERE to_regprocedure(f) IS NULL)"
                " FROM schema_repeatables WHERE name = %s",
                (rep.name,),
            )
            row = cur.fetchone()
        conn.commit()
        if row is None:
            reason = "new"
        elif row[0] != rep.checksum:
            reason = "changed"
        elif row[1]:
            reason = "a function it defines is missing"
        else:
            continue
        if any(name in failed or name in skipped for name in rep.requires):
            skipped.append(rep.name)
            continue
        try:
            _apply_repeatable(conn, rep, defined_this_run)
        except MigrationError as exc:
            failed[rep.name] = str(exc)
            continue
        applied.append(rep.name)
        if log:
            log(f"applied {rep.label} ({reason})")
    if failed:
        message = "\n".join(failed.values())
        if skipped:
            message += f"\nnot applied, as they require a failed file: {', '.join(skipped)}"
        raise MigrationError(message)
    return applied


def apply_migrations(conn, directory: Path = MIGRATIONS_DIR, repeatable_dir: Path = REPEATABLE_DIR,
                     log=None) -> Applied:
    """Apply the pending migrations, then the new or changed repeatable files, on `conn`.

    `log(line)` (optional) is called once per applied migration or file. Commits on `conn` (a
    transaction the caller left open is committed with the first step).
    """
    migrations = discover(directory)
    repeatables = discover_repeatables(repeatable_dir)
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
        return Applied(newly_applied, _apply_repeatables(conn, repeatables, log))
    finally:
        if not conn.closed:
            conn.rollback()
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
            conn.commit()
            conn.autocommit = was_autocommit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply the warehouse's migrations and repeatable SQL.")
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
    print(applied.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())

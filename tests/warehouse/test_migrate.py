"""The migration runner (numbered migrations, repeatable definitions) and the privileges the
migrations define, on a real PostgreSQL."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import psycopg2
import pytest
from psycopg2.extensions import parse_dsn

from functions.warehouse import migrate
from functions.warehouse.migrate import (
    MIGRATIONS_DIR,
    REPEATABLE_DIR,
    Applied,
    MigrationError,
    apply_migrations,
    discover,
    discover_repeatables,
)
from tests.dashboard import known_data
from tests.support.moto import moto_server

ISSUE_TABLES = {
    "clickstream_events", "sessions", "agg_funnel_daily", "agg_product_daily", "agg_activity_hourly",
    "agg_activity_daily", "etl_file_manifest", "etl_rejects", "etl_runs",
}
# What deployed warehouses recorded in schema_migrations: these files may never change.
DEPLOYED_CHECKSUMS = {
    "001_core_schema.sql": "dda9e84015c0bede2d66633dfd6b1b8d80111d6cb26286240796ced2431d7b4c",
    "002_etl_incremental_indexes.sql": "324393637f49139d3e2c894205af7dd39b33697ef05b08eed32a2ce30ac441de",
    "003_activity_daily.sql": "aaaa0ddefc21a634a7141442316f8eeeb30ee1262a99110b6a090013ca7fdf80",
    "004_activity_session_hours.sql": "bce16565616b00587872000e355dab2788edff7ad18164a3f101083db2dc4d54",
    "005_product_units_bigint.sql": "c0d22fcd0b70b39aef5f4e923c86c5037ce0c30281001db3c88b63c7945cb3cd",
    "100_dashboard_queries.sql": "00ea09227e4111b453e3b413bf7876fb7c9cac14ac0e83cc68a270d51c86cf44",
}


def tables(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in cur.fetchall()}


def dashboard_functions(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT oid::regprocedure::text FROM pg_proc"
                    " WHERE pronamespace = 'dashboard'::regnamespace")
        return {r[0] for r in cur.fetchall()}


def recorded(conn) -> dict[str, tuple[str, list[str]]]:
    """schema_repeatables: name -> (checksum, functions)."""
    with conn.cursor() as cur:
        cur.execute("SELECT name, checksum, functions FROM schema_repeatables")
        return {name: (checksum, functions) for name, checksum, functions in cur.fetchall()}


def scalar(conn, statement: str, params: tuple = ()):
    with conn.cursor() as cur:
        cur.execute(statement, params)
        value = cur.fetchone()[0]
    conn.commit()
    return value


@pytest.fixture
def repeatables(tmp_path) -> Path:
    """A copy of the repeatable definitions to edit."""
    return Path(shutil.copytree(REPEATABLE_DIR, tmp_path / "dashboard"))


def test_applies_all_then_nothing(pg_conn):
    versions = [m.version for m in discover()]
    files = [r.name for r in discover_repeatables()]
    assert apply_migrations(pg_conn) == Applied(versions, files)
    assert ISSUE_TABLES | {"schema_migrations", "schema_repeatables"} <= tables(pg_conn)
    assert apply_migrations(pg_conn) == Applied([], [])
    with pg_conn.cursor() as cur:
        cur.execute("SELECT version, name, length(checksum) FROM schema_migrations ORDER BY version")
        rows = cur.fetchall()
    assert rows[0] == (1, "core_schema", 64)
    # Every dashboard function belongs to exactly one file, with that file's checksum.
    book = recorded(pg_conn)
    assert {name: checksum for name, (checksum, _) in book.items()} == {
        r.name: hashlib.sha256(r.path.read_bytes()).hexdigest() for r in discover_repeatables()
    }
    owned = [f for _, functions in book.values() for f in functions]
    assert sorted(owned) == sorted(dashboard_functions(pg_conn))
    assert "dashboard.funnel(date,date,text,text,text)" in book["funnel"][1]


def test_deployed_migrations_are_unchanged():
    for name, checksum in DEPLOYED_CHECKSUMS.items():
        assert hashlib.sha256((MIGRATIONS_DIR / name).read_bytes()).hexdigest() == checksum, name


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
    results: list[Applied] = []

    def run() -> None:
        with contextlib.closing(psycopg2.connect(pg_dsn)) as conn:
            results.append(apply_migrations(conn))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = Applied([m.version for m in discover()], [r.name for r in discover_repeatables()])
    assert sorted(results, key=lambda a: len(a.migrations)) == [Applied([], []), Applied([], []), everything]


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
    assert "applied dashboard/common.sql (new)" in lines
    assert lines[-1] == (f"applied {len(discover())} migration(s)"
                         f" and {len(discover_repeatables())} repeatable(s)")
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tmp_path, check=False)
    assert (second.returncode, second.stdout) == (0, "applied 0 migration(s) and 0 repeatable(s)\n")
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


# --- repeatable definitions -------------------------------------------------------------------

PROBE = "CREATE OR REPLACE FUNCTION dashboard.{name}() RETURNS int LANGUAGE sql IMMUTABLE RETURN {value};\n"


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_a_changed_file_is_reapplied_alone_and_its_dropped_functions_go(pg_conn, repeatables):
    apply_migrations(pg_conn, repeatable_dir=repeatables)
    first, before = recorded(pg_conn), recorded(pg_conn)
    funnel = repeatables / "funnel.sql"
    original = funnel.read_text()
    append(funnel, PROBE.format(name="probe", value=1))
    assert apply_migrations(pg_conn, repeatable_dir=repeatables) == Applied([], ["funnel"])
    assert scalar(pg_conn, "SELECT dashboard.probe()") == 1
    after = recorded(pg_conn)
    assert after["funnel"][1] == sorted([*first["funnel"][1], "dashboard.probe()"])
    del after["funnel"], before["funnel"]
    assert after == before
    oid = scalar(pg_conn, "SELECT 'dashboard.probe()'::regprocedure::oid")

    funnel.write_text(original + PROBE.format(name="probe", value=2))
    assert apply_migrations(pg_conn, repeatable_dir=repeatables) == Applied([], ["funnel"])
    assert scalar(pg_conn, "SELECT dashboard.probe()") == 2
    assert scalar(pg_conn, "SELECT 'dashboard.probe()'::regprocedure::oid") == oid  # replaced in place

    funnel.write_text(original)  # the function is no longer defined: it is dropped
    assert apply_migrations(pg_conn, repeatable_dir=repeatables) == Applied([], ["funnel"])
    assert scalar(pg_conn, "SELECT to_regprocedure('dashboard.probe()')") is None
    assert recorded(pg_conn)["funnel"] == first["funnel"]
    assert apply_migrations(pg_conn, repeatable_dir=repeatables) == Applied([], [])


def test_recreated_functions_stay_executable_by_the_reader_only(pg_conn, repeatables, login_role):
    reader_dsn = login_role("clickstream_reader")
    journeys = repeatables / "journeys.sql"
    # A changed body re-creates nothing (same function), a new one is created: both callable.
    journeys.write_text(journeys.read_text().replace("nullif(sum(a.sessions), 0), 2)",
                                                     "nullif(sum(a.sessions), 0), 3)"))
    append(journeys, PROBE.format(name="probe", value=7))
    assert apply_migrations(pg_conn, repeatable_dir=repeatables).repeatables == ["journeys"]
    with contextlib.closing(psycopg2.connect(reader_dsn)) as reader, reader.cursor() as cur:
        cur.execute("SELECT dashboard.probe(), (SELECT sessions FROM dashboard.journey_summary(current_date,"
                    " current_date))")
        assert cur.fetchone() == (7, 0)
    for function in dashboard_functions(pg_conn):
        privileges = scalar(pg_conn, "SELECT has_function_privilege('clickstream_reader', %(f)s, 'EXECUTE')"
                            " AND NOT has_function_privilege('public', %(f)s, 'EXECUTE')", {"f": function})
        assert privileges, function


def test_a_broken_file_rolls_back_alone_and_is_named(pg_conn, repeatables):
    apply_migrations(pg_conn, repeatable_dir=repeatables)
    health_checksum = recorded(pg_conn)["health"][0]
    broken = "SELECT no_such_column FROM etl_runs;\n"
    append(repeatables / "health.sql", PROBE.format(name="half_done", value=1) + broken)
    append(repeatables / "products.sql", PROBE.format(name="probe", value=1))
    (repeatables / "zz_after_health.sql").write_text("-- requires: health\n"
                                                     + PROBE.format(name="later", value=1))
    with pytest.raises(MigrationError, match=r"dashboard/health\.sql: .*no_such_column") as failure:
        apply_migrations(pg_conn, repeatable_dir=repeatables)
    assert "not applied, as they require a failed file: zz_after_health" in str(failure.value)
    assert scalar(pg_conn, "SELECT to_regprocedure('dashboard.half_done()')") is None
    assert scalar(pg_conn, "SELECT to_regprocedure('dashboard.later()')") is None
    assert scalar(pg_conn, "SELECT dashboard.probe()") == 1  # the independent file went in
    assert recorded(pg_conn)["health"][0] == health_checksum
    assert "zz_after_health" not in recorded(pg_conn)

    health = repeatables / "health.sql"
    health.write_text(health.read_text().replace(broken, ""))
    assert apply_migrations(pg_conn, repeatable_dir=repeatables) == Applied([], ["health", "zz_after_health"])


def test_files_apply_after_the_files_they_require(tmp_path):
    (tmp_path / "b.sql").write_text("-- Uses c.\n-- requires: c\nSELECT 1;\n")
    (tmp_path / "c.sql").write_text("SELECT 1;\n")
    (tmp_path / "a.sql").write_text("-- requires: b, c.sql\nSELECT 1;\n")
    (tmp_path / "d.sql").write_text("SELECT 1;\n-- requires: a\n")  # not in the header: no requirement
    assert [(r.name, r.requires) for r in discover_repeatables(tmp_path)] == [
        ("c", ()), ("d", ()), ("b", ("c",)), ("a", ("b", "c")),
    ]
    assert discover_repeatables(tmp_path)[-1].after == {"b", "c"}


@pytest.mark.parametrize(("files", "error"), [
    ({"a.sql": "-- requires: nope\n"}, r"dashboard/a\.sql: requires 'nope', which is not a file in"),
    ({"a.sql": "-- requires: b\n", "b.sql": "-- requires: a\n"},
     r"files require each other in a cycle: (a -> b -> a|b -> a -> b)"),
    ({"A.sql": "SELECT 1;\n"}, r"dashboard/A\.sql: repeatable files must be named <lowercase_name>\.sql"),
])
def test_bad_requirements_and_names_are_refused_before_anything_runs(tmp_path, files, error):
    directory = tmp_path / "dashboard"
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    with pytest.raises(MigrationError, match=error):
        discover_repeatables(directory)
    with pytest.raises(MigrationError, match="does not exist"):
        discover_repeatables(tmp_path / "missing")


def test_a_file_using_another_files_function_must_require_it(pg_conn, tmp_path):
    directory = tmp_path / "dashboard"
    directory.mkdir()
    uses = ("CREATE OR REPLACE FUNCTION dashboard.alpha() RETURNS int LANGUAGE sql STABLE"
            " RETURN dashboard.zeta() + 1;\n")
    (directory / "alpha.sql").write_text(uses)
    (directory / "zeta.sql").write_text(PROBE.format(name="zeta", value=1))
    # alpha applies first (by name) and cannot find zeta's function.
    with pytest.raises(MigrationError, match=r"dashboard/alpha\.sql: .*function dashboard\.zeta\(\) does"
                       r" not exist(.|\n)*-- requires: <name>"):
        apply_migrations(pg_conn, repeatable_dir=directory)
    assert set(recorded(pg_conn)) == {"zeta"}
    # Once zeta's function exists the use is found in the catalog all the same.
    with pytest.raises(MigrationError, match=r"dashboard/alpha\.sql: dashboard\.alpha\(\) uses dashboard\."
                       r"zeta\(\) of zeta\.sql, which this file does not require; .*-- requires: zeta"):
        apply_migrations(pg_conn, repeatable_dir=directory)
    (directory / "alpha.sql").write_text("-- requires: zeta\n" + uses)
    assert apply_migrations(pg_conn, repeatable_dir=directory) == Applied([], ["alpha"])
    assert scalar(pg_conn, "SELECT dashboard.alpha()") == 2


def test_a_function_moves_between_files_but_is_defined_once(pg_conn, repeatables, tmp_path):
    apply_migrations(pg_conn, repeatable_dir=repeatables)
    first = recorded(pg_conn)
    common, activity = repeatables / "common.sql", repeatables / "activity.sql"
    start = common.read_text().index("-- Days that hold any")
    data_bounds = common.read_text()[start:]
    common.write_text(common.read_text()[:start])
    append(activity, "\n" + data_bounds)
    assert apply_migrations(pg_conn, repeatable_dir=repeatables) == Applied([], ["common", "activity"])
    book = recorded(pg_conn)
    assert "dashboard.data_bounds()" in book["activity"][1]
    assert "dashboard.data_bounds()" not in book["common"][1]
    assert scalar(pg_conn, "SELECT count(*) FROM dashboard.data_bounds()") == 1
    # And back: now the new home is applied before the old one, which must not drop it.
    activity.write_text(activity.read_text().replace("\n" + data_bounds, ""))
    append(common, data_bounds)
    assert apply_migrations(pg_conn, repeatable_dir=repeatables) == Applied([], ["common", "activity"])
    assert recorded(pg_conn) == first
    assert scalar(pg_conn, "SELECT count(*) FROM dashboard.data_bounds()") == 1

    twice = tmp_path / "twice" / "dashboard"
    twice.mkdir(parents=True)
    (twice / "one.sql").write_text(PROBE.format(name="probe", value=1))
    (twice / "two.sql").write_text(PROBE.format(name="probe", value=2))
    with pytest.raises(MigrationError, match=r"dashboard/two\.sql: defines dashboard\.probe\(\), as one"):
        apply_migrations(pg_conn, repeatable_dir=twice)


def test_a_changed_result_type_drops_and_restores_the_users_in_other_files(pg_conn, tmp_path):
    directory = tmp_path / "dashboard"
    directory.mkdir()
    (directory / "base.sql").write_text(PROBE.format(name="base", value=1))
    (directory / "user.sql").write_text("-- requires: base\nCREATE OR REPLACE FUNCTION dashboard.user_of()"
                                        " RETURNS int LANGUAGE sql STABLE RETURN dashboard.base() + 1;\n")
    apply_migrations(pg_conn, repeatable_dir=directory)
    bigint = PROBE.format(name="base", value=1).replace("RETURNS int", "RETURNS bigint")
    (directory / "base.sql").write_text("DROP FUNCTION IF EXISTS dashboard.base() CASCADE;\n" + bigint)
    lines: list[str] = []
    applied = apply_migrations(pg_conn, repeatable_dir=directory, log=lines.append)
    assert applied == Applied([], ["base", "user"])
    assert lines[1] == "applied dashboard/user.sql (a function it defines is missing)"
    assert scalar(pg_conn, "SELECT dashboard.user_of()") == 2


def test_a_function_a_migration_dropped_is_restored(pg_conn, tmp_path):
    apply_migrations(pg_conn)
    migrations = Path(shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations"))
    # What a migration altering a column a dashboard function reads would have to do.
    (migrations / "900_alter_funnel.sql").write_text(
        "DROP FUNCTION dashboard.funnel_daily(date, date, text, text, text);\n")
    lines: list[str] = []
    assert apply_migrations(pg_conn, migrations, log=lines.append) == Applied([900], ["funnel"])
    assert lines == ["applied 900_alter_funnel",
                     "applied dashboard/funnel.sql (a function it defines is missing)"]
    assert scalar(pg_conn, "SELECT count(*) FROM dashboard.funnel_daily(current_date, current_date)") == 0


# Every dashboard query, as the app calls it and with other parameters: what a warehouse
# answered before the switch to the repeatable files it must answer after it.
FROM, TO = known_data.FIRST_DAY, known_data.LAST_DAY
DASHBOARD_CALLS = [
    ("SELECT * FROM dashboard.data_bounds()", ()),
    ("SELECT * FROM dashboard.activity_hourly(%s, %s)", (FROM, TO)),
    ("SELECT * FROM dashboard.activity_daily(%s, %s)", (FROM, TO)),
    ("SELECT * FROM dashboard.activity_summary(%s, %s)", (FROM, TO)),
    ("SELECT * FROM dashboard.funnel(%s, %s)", (FROM, TO)),
    ("SELECT * FROM dashboard.funnel_daily(%s, %s)", (FROM, TO)),
    ("SELECT * FROM dashboard.product_filters(%s, %s)", (FROM, TO)),
    # The product functions gained booked_* columns and rank categories by booked revenue since.
    ("SELECT product_id, product_name, category, brand, views, add_to_carts, add_to_cart_rate, purchases,"
     " units, revenue FROM dashboard.product_engagement(%s, %s, '', '', 25)", (FROM, TO)),
    ("SELECT product_id, product_name, category, brand, views, add_to_carts, add_to_cart_rate, purchases,"
     " units, revenue FROM dashboard.product_engagement(%s, %s, 'Laptops', NULL, 3)", (FROM, TO)),
    ("SELECT products, views, add_to_carts, add_to_cart_rate, purchases, units, revenue"
     " FROM dashboard.product_summary(%s, %s, 'Laptops', 'Dell')", (FROM, TO)),
    ("SELECT category, views, add_to_carts, purchases, revenue FROM dashboard.category_engagement(%s, %s, '')"
     " ORDER BY revenue DESC, views DESC, category", (FROM, TO)),
    ("SELECT * FROM dashboard.etl_summary(%s, %s)", (FROM, TO)),
    ("SELECT * FROM dashboard.etl_loaded_hourly(%s, %s)", (FROM, TO)),
    ("SELECT * FROM dashboard.etl_rejects_by_reason(%s, %s)", (FROM, TO)),
    # lag_seconds moves with the clock
    ("SELECT run_id, status, last_success_at, newest_hour FROM dashboard.etl_last_run()", ()),
]
# Calls whose SQL changed: the entry and exit page tables (two functions before, one after), and
# the journeys, which described a sample of the latest 2,000 sessions (every session of the
# known data) and describe every session since, without the p_max_sessions parameter.
PAGE_CALLS = [  # (before, after)
    ("SELECT page, sessions, share FROM dashboard.entry_pages(%s, %s, 10, 2000)",
     "SELECT page, sessions, share FROM dashboard.journey_pages(%s, %s, 10) WHERE kind = 'entry'"),
    ("SELECT page, sessions, share FROM dashboard.exit_pages(%s, %s, 10, 2000)",
     "SELECT page, sessions, share FROM dashboard.journey_pages(%s, %s, 10) WHERE kind = 'exit'"),
    ("SELECT page, sessions, share FROM dashboard.entry_pages(%s, %s, 3, 2000)",
     "SELECT page, sessions, share FROM dashboard.journey_pages(%s, %s, 3) WHERE kind = 'entry'"),
    ("SELECT * FROM dashboard.journey_summary(%s, %s, 2000)",
     "SELECT * FROM dashboard.journey_summary(%s, %s)"),
    ("SELECT * FROM dashboard.journey_paths(%s, %s, 15, 6, 2000)",
     "SELECT * FROM dashboard.journey_paths(%s, %s, 15, 6)"),
    ("SELECT * FROM dashboard.journey_paths(%s, %s, 50, 3, 2000)",
     "SELECT * FROM dashboard.journey_paths(%s, %s, 50, 3)"),
    ("SELECT * FROM dashboard.journey_transitions(%s, %s, 5, 2000)",
     "SELECT * FROM dashboard.journey_transitions(%s, %s, 5)"),
]


def page_calls(which: int) -> list[tuple[str, tuple]]:
    return [(call[which], (FROM, TO)) for call in PAGE_CALLS]


def answers(conn, calls) -> list[list[tuple]]:
    out = []
    with conn.cursor() as cur:
        for statement, params in calls:
            cur.execute(statement, params)
            out.append(cur.fetchall())
    conn.commit()
    return out


def test_an_existing_warehouse_switches_to_the_files_with_the_same_answers(pg_cluster, pg_conn, tmp_path):
    deployed = tmp_path / "deployed"
    deployed.mkdir()
    for name in DEPLOYED_CHECKSUMS:
        shutil.copy(MIGRATIONS_DIR / name, deployed)
    nothing = tmp_path / "none"
    nothing.mkdir()
    # The warehouse as deployed before the files: migrations 001-100, holding data.
    assert apply_migrations(pg_conn, deployed, nothing) == Applied([1, 2, 3, 4, 5, 100], [])
    # The dashboard tests' known data, which the ETL loaded into a current warehouse, copied in.
    with (moto_server() as endpoint, known_data.known_warehouse(pg_cluster, endpoint) as (dsn, _),
          contextlib.closing(psycopg2.connect(dsn)) as source):
        known_data.copy_tables(source, pg_conn)
    before = answers(pg_conn, DASHBOARD_CALLS)
    pages_before = answers(pg_conn, page_calls(0))
    assert all(before) and all(pages_before)

    applied = apply_migrations(pg_conn)
    deployed_versions = {int(name[:3]) for name in DEPLOYED_CHECKSUMS}
    assert applied.migrations == [m.version for m in discover() if m.version not in deployed_versions]
    assert applied.repeatables == [r.name for r in discover_repeatables()]
    assert answers(pg_conn, DASHBOARD_CALLS) == before
    assert answers(pg_conn, page_calls(1)) == pages_before
    owned = {f for _, functions in recorded(pg_conn).values() for f in functions}
    assert owned == dashboard_functions(pg_conn)
    assert apply_migrations(pg_conn) == Applied([], [])


def test_columns_added_to_the_tables_leave_every_query_working(pg_conn, tmp_path):
    """A later migration adding columns needs no dashboard file re-applied."""
    apply_migrations(pg_conn)
    migrations = Path(shutil.copytree(MIGRATIONS_DIR, tmp_path / "migrations"))
    (migrations / "900_more_columns.sql").write_text(
        "ALTER TABLE sessions ADD COLUMN device text;\n"
        "ALTER TABLE clickstream_events ADD COLUMN device text;\n"
        "ALTER TABLE etl_runs ADD COLUMN host text;\n"
    )
    assert apply_migrations(pg_conn, migrations) == Applied([900], [])
    answers(pg_conn, [*DASHBOARD_CALLS, *page_calls(1)])  # none fails

"""batch.py: the batch SQL is the files in functions/etl/sql/, bound once to the row spec."""

from __future__ import annotations

from importlib.resources import files

from functions.etl import batch
from functions.etl.rows import COLUMNS

SQL_DIR = files("functions.etl") / "sql"


def code(statement, conn) -> str:
    """The statement as sent, without its comment lines."""
    lines = statement.as_string(conn).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("--"))


def test_every_sql_file_is_a_statement_or_the_fragment_the_batch_uses():
    names = sorted(p.name for p in SQL_DIR.iterdir() if p.name.endswith(".sql"))
    assert names == ["copy_staging.sql", "create_staging.sql",
                     "daily_figures.sql", "data_quality.sql",
                     "evaluate_anomalies.sql", "freshness.sql", "funnel_delta.sql", "insert_events.sql",
                     "pending_aggregates.sql", "product_delta.sql", "pull_orders.sql", "rebuild_activity.sql",
                     "rebuild_sessions.sql", "reclassify_aggregates.sql", "reclassify_sessions.sql",
                     "restatement_snapshot.sql", "session_events.sql", "upsert_orders.sql"]


def test_the_column_lists_come_from_the_row_spec(dw):
    copy = batch.COPY_STAGING.as_string(dw)
    assert copy == "COPY etl_staging ({}) FROM STDIN\n".format(", ".join(f'"{c}"' for c in COLUMNS))
    insert = code(batch.INSERT_EVENTS, dw)
    assert insert.count(", ".join(f'"{c}"' for c in COLUMNS)) == 2          # INSERT INTO and SELECT
    assert "ON CONFLICT (event_id) DO NOTHING" not in insert
    assert "ON CONFLICT (event_id) DO NOTHING" in code(batch.INSERT_EVENTS_SKIPPING_DUPLICATES, dw)
    rebuild = batch.REBUILD_SESSIONS.as_string(dw)
    assert ", ".join(f'"e"."{c}"' for c in batch.REBUILD_COLUMNS) in rebuild
    for statement in (batch.CREATE_STAGING, batch.REBUILD_SESSIONS, batch.REBUILD_AGGREGATES):
        text = code(statement, dw)
        assert "{" not in text and "}" not in text                               # nothing left unbound
    assert code(batch.REBUILD_AGGREGATES, dw).count("UNION ALL SELECT") >= 4   # session_events inlined


def test_the_staging_table_takes_the_columns_of_the_row_spec(dw):
    """In a real database: the staging table has exactly the row's columns, in COPY order."""
    dw.autocommit = False
    try:
        with dw.cursor() as cur:
            cur.execute(batch.CREATE_STAGING)
            cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'etl_staging'::regclass"
                        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum")
            assert tuple(r[0] for r in cur.fetchall()) == COLUMNS
    finally:
        dw.rollback()
        dw.autocommit = True


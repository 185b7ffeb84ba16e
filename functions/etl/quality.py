"""The run's data-quality check: judge the hours its batches touched (functions/etl/sql/
evaluate_anomalies.sql; definitions in docs/warehouse-etl.md, "Data quality")."""

from __future__ import annotations

from importlib.resources import files

EVALUATE_ANOMALIES = (files("functions.etl") / "sql" / "evaluate_anomalies.sql").read_text(encoding="utf-8")


def evaluate_anomalies(conn, run_id: int) -> dict:
    """Flags or clears the queued hours' anomalies in one transaction; returns what it did and how
    many anomalies are open now (the run publishes that figure). `conn` is in autocommit."""
    with conn.cursor() as cur:
        cur.execute(EVALUATE_ANOMALIES, {"run_id": run_id})
        judged, flagged, cleared = cur.fetchone()
        cur.execute("SELECT count(*) FROM dq_anomalies WHERE open")
        open_now = cur.fetchone()[0]
    return {"hours_judged": judged, "flagged": flagged, "cleared": cleared, "open": open_now}

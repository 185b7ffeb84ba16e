"""The run's data-quality check: judge the hours its batches touched (functions/etl/sql/
evaluate_anomalies.sql; definitions in docs/warehouse-etl.md, "Data quality")."""

from __future__ import annotations

from datetime import datetime
from importlib.resources import files

EVALUATE_ANOMALIES = (files("functions.etl") / "sql" / "evaluate_anomalies.sql").read_text(encoding="utf-8")


def evaluate_anomalies(conn, run_id: int, closed_before: datetime | None = None) -> dict:
    """Flags or clears the queued hours' anomalies in one transaction; returns what it did and how
    many anomalies are open now (the run publishes that figure). `conn` is in autocommit.

    Only the hours that ended by `closed_before` (the run's window end) are judged: the current
    hour, still filling, would read as a drop at every hourly run and clear at the next. It
    stays queued for the run after it ends. None judges every queued hour."""
    with conn.cursor() as cur:
        cur.execute(EVALUATE_ANOMALIES, {"run_id": run_id, "closed_before": closed_before})
        judged, flagged, cleared = cur.fetchone()
        cur.execute("SELECT count(*) FROM dq_anomalies WHERE open")
        open_now = cur.fetchone()[0]
    return {"hours_judged": judged, "flagged": flagged, "cleared": cleared, "open": open_now}

"""Step 6 of `up`: what was sent (the generator's record), what the warehouse holds (through the
dashboard.* functions), and where the dashboards are.
"""

from __future__ import annotations

from localplatform.demo.config import DW_CONTAINER, DemoConfig
from localplatform.demo.progress import Progress
from localplatform.demo.steps import TrafficOutcome
from localplatform.demo.warehouse import Warehouse, etl_available


def step_summary(cfg: DemoConfig, progress: Progress, outcome: TrafficOutcome | None,
                 wh: Warehouse | None, dashboards: bool) -> dict:
    """Print the summary; returns its figures ("record": what was sent, "warehouse": what is loaded)."""
    progress.step(6, "summary")
    rec = outcome.record if outcome else None
    summary: dict = {}
    rows: list[tuple[str, str]] = []
    if rec:
        sent, resp = rec["sent"], rec.get("responses", {})
        rows += [
            ("events sent", f"{sent['events']} in {sent['requests']} requests ({sent['invalid_events']} "
                            f"deliberately invalid, {sent['bot_events']} from bots)"),
            ("accepted by ingest", f"{resp.get('accepted', '?')}; "
                                   f"rejected by ingest {resp.get('rejected', '?')}"),
        ]
        summary["record"] = {"events": sent["events"], "accepted": resp.get("accepted"),
                             "rejected": resp.get("rejected")}
    figures = None
    if wh is not None and etl_available():
        try:
            figures = wh.figures()
        except Exception as exc:  # summary only: say why, never fail the whole demo on it
            progress.info(f"warehouse not readable for the summary: {type(exc).__name__}: {exc}")
    if figures:
        summary["warehouse"] = figures
        rows += [
            ("loaded into the DW", f"{figures['loaded']} events ({figures['loaded_bot']} from bots); "
                                   f"rejected by the ETL {figures['etl_rejected']}; "
                                   f"{figures['etl_runs']} ETL run(s), {figures['etl_failed_runs']} failed"),
            ("sessions", f"{figures['sessions']} shopper sessions"
                         + (f" (sent: {rec['sessions']['human']}, and {rec['sessions']['bot']} bot sessions "
                            "the dashboards leave out)" if rec else "")),
        ]
        if figures.get("booked_orders"):
            booked = figures["booked_orders"]
            coverage = (booked - figures["untracked_orders"]) / booked
            rows.append(("booked revenue",
                         f"${figures['booked_revenue']:,.2f} in {booked} shop orders; "
                         f"tracked ${figures['tracked_revenue']:,.2f}; coverage {coverage:.1%} "
                         f"({figures['untracked_orders']} booked orders untracked, "
                         f"{figures['unbooked_purchases']} purchase events without an order)"))
        if figures["sessions"]:
            rate = figures["purchase_sessions"] / figures["sessions"]
            rows.append(("conversion rate", f"{rate:.1%} ({figures['purchase_sessions']} of "
                                            f"{figures['sessions']} shopper sessions purchased)"))
    elif rec:
        rows.append(("conversion rate (sent)", f"{rec['conversion_rate']:.1%} of "
                                               f"{rec['sessions']['human']} shopper sessions"))
    rows.append(("warehouse", wh.label if wh else "none"))
    if dashboards:
        rows.append(("dashboard", cfg.dashboard_url))
    elif cfg.dwh_dsn:
        rows.append(("dashboard", "not available (DWH_DSN set: the dashboards live on the DW host)"))
    else:
        rows.append(("dashboard", f"NOT ANSWERING at {cfg.dashboard_url}; see `podman exec {DW_CONTAINER} "
                                  "journalctl -u shiny-server` and /var/log/shiny-server* there"))
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        progress.info(f"{key:<{width}}  {value}")
    if progress.skipped:
        progress.info("skipped: " + "; ".join(progress.skipped))
    return summary

"""Step 7 of `up`: what was sent (the generator's record and the shop walk's), what the warehouse
holds (through the dashboard.* functions), and where the dashboards are.
"""

from __future__ import annotations

from datetime import date

from localplatform import traffic
from localplatform.demo.config import DW_CONTAINER, DemoConfig
from localplatform.demo.progress import Progress
from localplatform.demo.steps import TrafficOutcome
from localplatform.demo.walk import WalkOutcome
from localplatform.demo.warehouse import Warehouse, etl_available


def step_summary(cfg: DemoConfig, progress: Progress, outcome: TrafficOutcome | None,
                 wh: Warehouse | None, dashboards: bool, *, walk: WalkOutcome | None = None) -> dict:
    """Print the summary; returns its figures ("record": what was sent, "warehouse": what is loaded,
    "walk": what the warehouse holds of the shop walk)."""
    progress.step(7, "summary")
    rec = outcome.record if outcome else None
    walked = walk.record if walk else None
    summary: dict = {}
    rows = _sent_rows(rec, walked, summary)
    if wh is not None and etl_available():
        try:
            summary["warehouse"] = wh.figures()
            if walked and rec and walked["activity_by_day"]:
                summary["walk"] = _walk_in_warehouse(wh, rec, walked)
            if rec and (rec.get("outage") or rec.get("late")):
                late = rec.get("late") or {}
                summary["quality"] = wh.quality(
                    date.fromisoformat(late["day"]) if late.get("day") else None,
                    (late.get("delivered") or {}).get("run_id"))
        except Exception as exc:  # summary only: say why, never fail the whole demo on it
            progress.info(f"warehouse not readable for the summary: {type(exc).__name__}: {exc}")
    if summary.get("warehouse"):
        rows += _warehouse_rows(summary, rec, walked)
    if summary.get("quality"):
        rows += _quality_rows(summary["quality"], rec, walked)
    elif rec:
        rows.append(("conversion rate (sent)", f"{rec['conversion_rate']:.1%} of "
                                               f"{rec['sessions']['human']} shopper sessions"))
    rows += _where_rows(cfg, wh, dashboards)
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        progress.info(f"{key:<{width}}  {value}")
    if progress.skipped:
        progress.info("skipped: " + "; ".join(progress.skipped))
    return summary


def _sent_rows(rec: dict | None, walked: dict | None, summary: dict) -> list[tuple[str, str]]:
    """What the generator sent and ingest answered, and what the shop walk made."""
    rows = []
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
    if walked:
        made = sum(walked["expected_events"].values())
        rows.append(("shop walk", f"{walked['params']['sessions']} session(s) in headless Chromium "
                                  f"({sum(s['signed_in'] for s in walked['walked'])} signed in, "
                                  f"{len(walked['orders_placed'])} order(s)): {made} events made, "
                                  f"{walked['sent']['valid_events']} in the raw bucket"))
    return rows


def _warehouse_rows(summary: dict, rec: dict | None, walked: dict | None) -> list[tuple[str, str]]:
    """What the warehouse holds, as the dashboards show it."""
    figures = summary["warehouse"]
    sent = ""
    if rec:
        walked_sessions = f", {walked['sessions']['human']} walked" if walked else ""
        sent = (f" (sent: {rec['sessions']['human']} by the generator{walked_sessions}, and "
                f"{rec['sessions']['bot']} bot sessions the dashboards leave out)")
    rows = [
        ("loaded into the DW", f"{figures['loaded']} events ({figures['loaded_bot']} from bots); "
                               f"rejected by the ETL {figures['etl_rejected']}; "
                               f"{figures['etl_runs']} ETL run(s), {figures['etl_failed_runs']} failed"),
        ("sessions", f"{figures['sessions']} shopper sessions{sent}"),
    ]
    if summary.get("walk"):
        found = summary["walk"]
        rows.append(("shop walk in the DW",
                     f"{found['events']} events of {found['sessions']} session(s) after the traffic window; "
                     f"{found['tracked_orders']} of its {len(walked['orders_placed'])} order(s) tracked"))
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
    return rows


def _quality_rows(quality: dict, rec: dict, walked: dict | None) -> list[tuple[str, str]]:
    """The injected outage and the anomalies flagged, the late batch and what it restated, as the
    data-health page shows them (dashboard.anomalies, dashboard.restatements)."""
    rows = []
    open_ = quality["anomalies"]
    outage = rec.get("outage")
    if outage:
        hour = traffic.parse_ts(outage["hour"])
        rows.append(("outage", f"injected at {hour:%Y-%m-%d %H:00} UTC: {outage['events_lost']} events of "
                               f"{outage['sessions_hit']} sessions lost (one browser in "
                               f"{round(1 / outage['kept_share'])} got through)"))
        flagged = [a for a in open_ if traffic.parse_ts(a["hour"]) == hour]
        rows.append(("anomaly", "; ".join(_anomaly(a) for a in flagged) if flagged else
                     "the outage hour is NOT flagged: at this volume its baseline (the same hour of the "
                     "previous periods) varies too much for a tenth of the traffic to stand out"))
        open_ = [a for a in open_ if a not in flagged]
    if open_:
        walk_hours = {traffic.parse_ts(h) for h in (walked or {}).get("activity_by_hour", {})}
        shown = [_anomaly(a) + (" (the shop walk's hour: its events alone)"
                                if traffic.parse_ts(a["hour"]) in walk_hours else "") for a in open_[:6]]
        more = f"; and {len(open_) - 6} more" if len(open_) > 6 else ""
        rows.append(("other anomalies", f"{len(open_)} open: " + "; ".join(shown) + more))
    late = rec.get("late")
    if late and late.get("delivered"):
        restated = quality["restatements"]
        rows.append(("late batch", f"{late['sessions']} sessions ({late['events']} events) of {late['day']}, "
                                   f"sent after ETL run {late['delivered']['after_run']}; run "
                                   f"{late['delivered']['run_id']} restated {len(restated)} figure(s)"))
        rows += [("  restated", f"{r['day']} {r['figure']}: {_number(r['before'])} -> {_number(r['after'])}")
                 for r in restated]
        others = quality["restated_figures"] - len(restated)
        if others > 0:
            rows.append(("restatement ledger", f"{others} other restated figure(s): the demo's own backfill "
                                               "(its days of history reach the warehouse in minutes, after "
                                               "their days)"))
    return rows


def _anomaly(a: dict) -> str:
    share = a["metric"].endswith("_share")
    value = (lambda v: f"{float(v):.1%}") if share else _number
    hour = traffic.parse_ts(a["hour"])
    return (f"{hour:%Y-%m-%d %H:00} UTC {a['metric']}: {value(a['observed'])} observed, "
            f"{value(a['expected'])} expected (band {value(a['lower_bound'])}-{value(a['upper_bound'])}, "
            f"score {float(a['score']):.1f})")


def _number(value) -> str:
    value = float(value)
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _where_rows(cfg: DemoConfig, wh: Warehouse | None, dashboards: bool) -> list[tuple[str, str]]:
    rows = [("warehouse", wh.label if wh else "none")]
    if dashboards:
        rows.append(("dashboard", cfg.dashboard_url))
    elif cfg.dwh_dsn:
        rows.append(("dashboard", "not available (DWH_DSN set: the dashboards live on the DW host)"))
    else:
        rows.append(("dashboard", f"NOT ANSWERING at {cfg.dashboard_url}; see `podman exec {DW_CONTAINER} "
                                  "journalctl -u shiny-server` and /var/log/shiny-server* there"))
    return rows


def _walk_in_warehouse(wh: Warehouse, rec: dict, walked: dict) -> dict[str, int]:
    """Events, sessions and tracked orders of the walk, as the dashboards count them: the walk came
    after the generator's window, so its events are those of the later hours; its sessions are
    those that started on its days less the generator's own sessions of those days."""
    days = sorted(walked["activity_by_day"])
    found = wh.walk_figures(traffic.parse_ts(rec["params"]["window_end"]),
                            [date.fromisoformat(d) for d in days],
                            [o["order_id"] for o in walked["orders_placed"]])
    generator = sum(rec["sessions_by_start_day"].get(d, {}).get("sessions", 0) for d in days)
    return {"events": found["events"], "sessions": found["sessions_on_walk_days"] - generator,
            "tracked_orders": found["tracked_orders"]}

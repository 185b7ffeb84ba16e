"""CLI: python -m functions.etl migrate | run [--since ISO] [--until ISO] | reclassify --since --until.

Settings come from the environment.

Progress goes to stderr (one updating line on a terminal, plain lines otherwise); the summary
is printed to stdout as JSON. Exit status: 0 done (or another run in progress), 1 failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys

from functions.etl.config import ConfigError, Settings, dwh_password
from functions.etl.window_args import parse_window


class ProgressPrinter:
    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.events = self.rejected = 0

    def __call__(self, event: dict) -> None:
        phase = event["phase"]
        if phase == "object":
            self.events += event["events"]
            self.rejected += event["rejected"]
            if self.tty:
                line = (f"\rfiles {event['files_done']}/{event['files_total']}  events {self.events:,}"
                        f"  rejected {self.rejected:,}")
                self.stream.write(line.ljust(70))
                self.stream.flush()
            return
        if self.tty:
            self.stream.write("\n")
        if phase == "discovered":
            self.stream.write(f"{event['files_total']} new object(s) in {event['batches']} batch(es)\n")
        elif phase == "batch":
            self.stream.write(f"batch {event['batch']}/{event['batches']} committed: {event['files']} files,"
                              f" {event['events_loaded']} events loaded, {event['duplicates']} duplicates,"
                              f" {event['rejected']} rejected\n")
        self.stream.flush()


def cmd_migrate(settings: Settings) -> int:
    from functions.etl.warehouse import connect  # noqa: PLC0415
    from functions.warehouse.migrate import MigrationError, apply_migrations  # noqa: PLC0415

    with contextlib.closing(connect(settings, dwh_password(settings))) as conn:
        try:
            applied = apply_migrations(conn, log=print)
        except MigrationError as exc:
            print(f"migrate: {exc}", file=sys.stderr)
            return 1
    print(applied.summary())
    return 0


def cmd_run(settings: Settings, since: str | None, until: str | None) -> int:
    from functions.etl.runner import run  # noqa: PLC0415

    start, end = parse_window(since, until)
    summary = run(settings, start, end, trigger="cli", progress=ProgressPrinter())
    print(json.dumps(summary))
    if summary["status"] == "skipped":
        print(f"etl: {summary['reason']}; nothing done", file=sys.stderr)
    return 0


def cmd_reclassify(settings: Settings, since: str, until: str) -> int:
    from functions.etl.reclassify import reclassify  # noqa: PLC0415

    start, end = parse_window(since, until)
    summary = reclassify(settings, start, end)
    print(json.dumps(summary))
    if summary["status"] == "skipped":
        print(f"etl: {summary['reason']}; nothing done", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m functions.etl", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the warehouse migrations")
    run_parser = sub.add_parser("run", help="load new raw objects into the warehouse")
    run_parser.add_argument("--since",
                            help="window start, ISO 8601 (default: last loaded hour less the lookback)")
    run_parser.add_argument("--until", help="window end, ISO 8601 (default: now)")
    reclassify_parser = sub.add_parser(
        "reclassify", help="re-derive the channels of a window's sessions (after a channel rule change)")
    reclassify_parser.add_argument("--since", required=True, help="window start, ISO 8601")
    reclassify_parser.add_argument("--until", required=True, help="window end, ISO 8601 (exclusive)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each batch's phase timings")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("functions.etl").setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        settings = Settings.from_env()
        if args.command == "migrate":
            return cmd_migrate(settings)
        if args.command == "reclassify":
            return cmd_reclassify(settings, args.since, args.until)
        return cmd_run(settings, args.since, args.until)
    except (ConfigError, ValueError) as exc:
        print(f"etl: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"etl: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""moto in server mode on one port of several addresses at once, all serving one state.

    python -m localplatform.moto_server --port 15000 --host 127.0.0.1 --host 10.88.0.1

The demo's AWS stand-in: the machine's own processes (ingest, the ETL) reach it on the loopback,
the demo's podman hosts at their bridge's gateway (they read their passwords from its Parameter
Store), and a bucket or parameter made through one address is there through the other (one
application, moto's backends being the process's). Runs until SIGTERM or SIGINT; an address it
cannot listen on is an error at the start.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localplatform.moto_server",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", action="append", required=True, help="an address to listen on (repeatable)")
    args = parser.parse_args(argv)
    app = DomainDispatcherApplication(create_backend_app)
    servers = []
    try:
        for host in dict.fromkeys(args.host):
            servers.append(make_server(host, args.port, app, threaded=True,
                                       request_handler=MotoRequestHandler))
    except (OSError, SystemExit):  # werkzeug prints the reason and exits
        print(f"moto_server: cannot listen on {host}:{args.port}", file=sys.stderr)
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in servers]
    for host, thread in zip(dict.fromkeys(args.host), threads, strict=True):
        thread.start()
        print(f"moto listening on http://{host}:{args.port}", flush=True)
    stop.wait()
    for server in servers:
        server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

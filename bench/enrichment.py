"""Cost of the enrichment functions per call, cached and uncached, and of their first use (prints a table).

Uncached: every call sees a user agent (or address) not seen before, as the first event of each
distinct agent does; cached: the same agents again, as every later event does. First use: a
fresh interpreter importing the module and making one call (ua-parser builds its resolver,
crawlerdetect compiles its list).

    .venv/bin/python bench/enrichment.py [--calls 4000]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from functions.enrichment import bots, geo, urls, user_agent  # noqa: E402

#: Real agents' shapes; {i} makes each call's agent distinct (a build number).
TEMPLATES = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.{i}.86 "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E{i} Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.{i}.104 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.{i} Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.{i}",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E{i} Safari/604.1",
    "Mozilla/5.0 (compatible; Googlebot/2.{i}; +http://www.google.com/bot.html)",
    "python-requests/2.{i}.0",
)
URL_PLAIN = "https://shop.example/category/laptops/gaming-laptop-16-inch"
URL_TAGGED = ("https://shop.example/p/LAP-016?utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale"
              "&session=9f8e7d&gclid=EAIaIQobChMI#reviews")
REFERRER = "https://www.google.com/"


def agents(n: int, offset: int) -> list[str]:
    return [TEMPLATES[k % len(TEMPLATES)].format(i=offset + k) for k in range(n)]


def per_call_us(fn, items) -> float:
    """CPU microseconds per call (CPU time: the machine may be shared, wall time would say more
    about the neighbours than about the code)."""
    start = time.process_time()
    for item in items:
        fn(item)
    return (time.process_time() - start) / len(items) * 1e6


#: What the Lambda zips hold without .pyc files (the zips are built with --no-compile and Lambda's
#: code directory is read-only, so these compile from source on every cold start).
ZIP_PACKAGES = ("crawlerdetect", "ua_parser", "ua_parser_builtins")


def fresh_ms(code: str, runs: int, *, bytecode: bool = True) -> float:
    """Median CPU ms of ``code`` (which prints its own ms) over fresh interpreters; without
    ``bytecode``, functions/ and ZIP_PACKAGES come from copies without .pyc, as from a zip."""
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tree:
            path = str(REPO)
            if not bytecode:
                ignore = shutil.ignore_patterns("__pycache__")
                shutil.copytree(REPO / "functions", Path(tree) / "functions", ignore=ignore)
                for package in ZIP_PACKAGES:
                    source = Path(importlib.util.find_spec(package).origin).parent
                    shutil.copytree(source, Path(tree) / package, ignore=ignore)
                path = tree
            env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 cwd=path, env=env).stdout
        times.append(float(out.split()[-1]))
    return statistics.median(times)


_TIMED = "import time; t = time.process_time(); {body}; print((time.process_time() - t) * 1000)"
_BOTS, _UA = "functions.enrichment.bots", "functions.enrichment.user_agent"
FIRST_USE = {
    f"import {_BOTS}": f"import {_BOTS}",
    "  + first is_bot (compiles the list)": f"import {_BOTS} as m; m.is_bot('Mozilla/5.0 x')",
    f"import {_UA}": f"import {_UA}",
    "  + first parse (builds the resolver)": f"import {_UA} as m; m.parse('Mozilla/5.0 x')",
    "import functions.enrichment.urls": "import functions.enrichment.urls",
}


def geo_rows(calls: int) -> list[tuple[str, float, float]]:
    from mmdb_writer import MMDBWriter  # noqa: PLC0415 - test-only dependency
    from netaddr import IPSet  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "country.mmdb"
        writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
        for k in range(256):
            record = {"country": {"iso_code": "DE" if k % 2 else "FR"}}
            writer.insert_network(IPSet([f"10.{k}.0.0/16"]), record)
        writer.to_db_file(str(path))
        lookup = geo.CountryLookup(path)
        addresses = [f"10.{k % 256}.{k // 256 % 256}.0" for k in range(calls)]
        uncached = per_call_us(lookup.country, addresses)
        cached = per_call_us(lookup.country, addresses)
        lookup.close()
    return [("geo.CountryLookup.country", uncached, cached)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=4000, help="distinct user agents per uncached row")
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per first-use row")
    args = parser.parse_args()

    user_agent.parse(TEMPLATES[0])  # build the resolver and compile the list outside the timings
    bots.is_bot(TEMPLATES[0])
    rows = []
    fresh = agents(args.calls, 10_000)
    rows.append(("user_agent.parse", per_call_us(user_agent.parse, fresh),
                 per_call_us(user_agent.parse, fresh)))
    fresh = agents(args.calls, 20_000)
    rows.append(("bots.is_bot", per_call_us(bots.is_bot, fresh), per_call_us(bots.is_bot, fresh)))
    browsers = [ua for ua in agents(args.calls, 30_000) if "Googlebot" not in ua and "python" not in ua]
    rows.append(("  bots.is_bot, browsers only", per_call_us(bots.is_bot, browsers),
                 per_call_us(bots.is_bot, browsers)))
    rows.extend(geo_rows(args.calls))
    print(f"Enrichment per call ({args.calls:,} distinct inputs; uncached = first sight, cached = again)")
    print(f"{'CPU us per call':<34}{'uncached':>13}{'cached':>11}")
    for label, uncached, cached in rows:
        print(f"{label:<34}{uncached:>13.2f}{cached:>11.2f}")

    print()
    print(f"{'':<34}{'CPU us/call':>13}")
    for label, fn, arg in (("urls.storage_url, no '?'", urls.storage_url, URL_PLAIN),
                           ("urls.storage_url, tagged", urls.storage_url, URL_TAGGED),
                           ("urls.acquisition, no '?'", lambda u: urls.acquisition(u, REFERRER), URL_PLAIN),
                           ("urls.acquisition, tagged", lambda u: urls.acquisition(u, REFERRER), URL_TAGGED)):
        print(f"{label:<34}{per_call_us(fn, [arg] * 20_000):>13.2f}")

    print()
    print(f"first use (median of {args.runs} fresh interpreters, CPU ms)")
    print(f"{'':<42}{'.pyc':>8}{'no .pyc (Lambda zip)':>22}")
    for label, body in FIRST_USE.items():
        code = _TIMED.format(body=body)
        with_pyc, without = fresh_ms(code, args.runs), fresh_ms(code, args.runs, bytecode=False)
        print(f"{label:<42}{with_pyc:>8.1f}{without:>22.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

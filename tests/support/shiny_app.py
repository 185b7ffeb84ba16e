"""The dashboard app served by R on this host, its read-only warehouse login and headless
Chromium: shared by the dashboard tests (tests/dashboard/conftest.py) and bench/dashboard.py.

Shiny Server itself does not install on this kind of host; the molecule scenario checks the
app behind Shiny Server on a Debian 12 container.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from psycopg2 import sql
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "roles" / "shiny_server" / "files" / "app"
APP_R_PACKAGES = ("shiny", "bslib", "DBI", "RPostgreSQL", "DT")

# True once the active page's charts are all drawn (ECharts: data-state rendered or empty, set
# by www/charts/charts.js when a render finishes) and its ggplot images are in (or failed).
PLOTS_DONE_EXPR = """(() => {
const pane = '.tab-pane.active ';
const plots = document.querySelectorAll(pane + '.shiny-plot-output');
const charts = document.querySelectorAll(pane + '.clickstream-chart');
return plots.length + charts.length > 0 && Array.from(plots).every(p =>
    !p.classList.contains('recalculating') &&
    (p.querySelector('img[src]') !== null || p.classList.contains('shiny-output-error'))) &&
    Array.from(charts).every(c => ['rendered', 'empty'].includes(c.dataset.state));
})()"""
PLOTS_DONE_JS = f"return {PLOTS_DONE_EXPR};"


def require_r(*packages: str) -> str:
    """Rscript's path; RuntimeError when it or one of `packages` is missing."""
    rscript = shutil.which("Rscript")
    if not rscript:
        raise RuntimeError(
            "Rscript not found: install r-base-core and the r-cran-* packages in requirements/apt.txt"
        )
    missing = subprocess.run(
        [
            rscript,
            "-e",
            f"p <- c({', '.join(repr(p) for p in packages)}); "
            "cat(p[!vapply(p, requireNamespace, logical(1), quietly = TRUE)])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if missing:
        raise RuntimeError(
            f"R packages missing: {', '.join(missing)} (Debian: r-cran-<name>, see requirements/apt.txt)"
        )
    return rscript


def create_reader(conn) -> tuple[str, str]:
    """A read-only login as the app has in production (a member of clickstream_reader):
    (name, password). Role names are the server's: drop it with drop_reader."""
    name = f"dashboard_reader_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE clickstream_reader").format(
                sql.Identifier(name)
            ),
            (password,),
        )
    return name, password


def drop_reader(conn, name: str) -> None:
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def write_db_config(directory: Path, *, host: str, port: int, dbname: str, user: str, password: str) -> Path:
    """The app's settings file, as the role writes it (readable by its owner only)."""
    path = directory / "clickstream-dw.dcf"
    path.write_text(
        f"host: {host}\nport: {port}\ndbname: {dbname}\n"
        f"user: {user}\npassword: {password}\nsslmode: disable\n"
    )
    path.chmod(0o600)
    return path


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the Shiny app exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (our own localhost URL)
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Shiny app did not answer on {url}:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


@contextlib.contextmanager
def serve_app(rscript: str, config: Path | None, workdir: Path,
              app_dir: Path = APP_DIR) -> Iterator[tuple[str, Path]]:
    """The app in `app_dir` (the dashboards' by default) served by R's own HTTP server
    (shiny::runApp) with the settings file `config` (None: no warehouse settings): yields (its
    URL, the R console's log in `workdir`); stops it on exit."""
    port = free_port()
    log = workdir / "app.log"
    env = {**os.environ, "TZ": "UTC"}
    if config is not None:
        env["CLICKSTREAM_DB_CONFIG"] = str(config)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                rscript,
                "-e",
                f"shiny::runApp({str(app_dir)!r}, port = {port}, host = '127.0.0.1', launch.browser = FALSE)",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_http(url, proc, log)
        yield url, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def chromium(*, window: tuple[int, int] = (1400, 1700), extra_flags: tuple[str, ...] = (),
             capabilities: dict | None = None) -> Iterator:
    """Headless Debian Chromium driven by Selenium through Debian's chromedriver (`extra_flags`
    and `capabilities` for a test that watches the network or the console)."""
    binary = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        raise RuntimeError(
            "chromium / chromedriver not found: install chromium and chromium-driver (requirements/apt.txt)"
        )
    profile = tempfile.mkdtemp(prefix="dashboard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        *extra_flags,
        f"--user-data-dir={profile}",
        f"--window-size={window[0]},{window[1]}",
    ):
        options.add_argument(flag)
    for name, value in (capabilities or {}).items():
        options.set_capability(name, value)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

"""Fixtures for the dashboard tests: a migrated warehouse holding known data, a read-only
login for the app, the Shiny app itself (served by R on the host) and headless Chromium."""

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
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
from psycopg2 import sql
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from functions.warehouse.migrate import apply_migrations
from tests.dashboard import known_data
from tests.support.net import free_port
from tests.support.pgcluster import PgCluster

REPO = Path(__file__).resolve().parents[2]
APP_DIR = REPO / "roles" / "shiny_server" / "files" / "app"
ARTIFACTS = REPO / "test-artifacts" / "dashboard"


@dataclass
class Warehouse:
    dsn: str  # superuser, for loading data and computing expected figures
    host: str
    port: int
    dbname: str
    reader: str
    reader_password: str
    data: known_data.KnownData | None

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with contextlib.closing(psycopg2.connect(self.dsn)) as conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()

    def write_db_config(self, directory: Path) -> Path:
        """The app's settings file, as the role writes it (readable by its owner only)."""
        path = directory / "clickstream-dw.dcf"
        path.write_text(
            f"host: {self.host}\nport: {self.port}\ndbname: {self.dbname}\n"
            f"user: {self.reader}\npassword: {self.reader_password}\nsslmode: disable\n"
        )
        path.chmod(0o600)
        return path


def _make_warehouse(cluster: PgCluster, data: known_data.KnownData | None) -> Iterator[Warehouse]:
    dsn = cluster.create_database()
    params = psycopg2.extensions.parse_dsn(dsn)
    reader = f"dashboard_reader_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    with contextlib.closing(psycopg2.connect(dsn)) as conn:
        apply_migrations(conn)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD %s IN ROLE clickstream_reader").format(
                    sql.Identifier(reader)
                ),
                (password,),
            )
        conn.autocommit = False
        if data is not None:
            known_data.load(conn, data)
    yield Warehouse(
        dsn=dsn,
        host=params["host"],
        port=int(params["port"]),
        dbname=params["dbname"],
        reader=reader,
        reader_password=password,
        data=data,
    )
    cluster.drop_database(params["dbname"])
    with contextlib.closing(psycopg2.connect(cluster.dsn)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(reader)))


@pytest.fixture(scope="session")
def known() -> known_data.KnownData:
    return known_data.build()


@pytest.fixture(scope="session")
def warehouse(pg_cluster: PgCluster, known: known_data.KnownData) -> Iterator[Warehouse]:
    """The migrated warehouse with the known data (read-only for the tests: do not modify)."""
    yield from _make_warehouse(pg_cluster, known)


@pytest.fixture
def empty_warehouse(pg_cluster: PgCluster) -> Iterator[Warehouse]:
    yield from _make_warehouse(pg_cluster, None)


def require_r(*packages: str) -> str:
    rscript = shutil.which("Rscript")
    if not rscript:
        pytest.fail(
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
        pytest.fail(
            f"R packages missing: {', '.join(missing)} (Debian: r-cran-<name>, see requirements/apt.txt)"
        )
    return rscript


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
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


@pytest.fixture(scope="session")
def dashboard_url(warehouse: Warehouse) -> Iterator[str]:
    """The app served by R's own HTTP server (shiny::runApp) against the known warehouse.

    Shiny Server itself does not install on this kind of host; the molecule scenario checks
    the app behind Shiny Server on a Debian 12 container.
    """
    rscript = require_r("shiny", "bslib", "DBI", "RPostgreSQL", "ggplot2", "DT")
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-app-"))
    config = warehouse.write_db_config(tmp)
    port = free_port()
    log = tmp / "app.log"
    env = {**os.environ, "CLICKSTREAM_DB_CONFIG": str(config), "TZ": "UTC"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                rscript,
                "-e",
                f"shiny::runApp({str(APP_DIR)!r}, port = {port}, host = '127.0.0.1', launch.browser = FALSE)",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_http(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, ARTIFACTS / "app.log")  # the R console, for a failing test to read
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    """Headless Debian Chromium driven by Selenium through Debian's chromedriver."""
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail(
            "chromium / chromedriver not found: install chromium and chromium-driver (requirements/apt.txt)"
        )
    profile = tempfile.mkdtemp(prefix="dashboard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1400,1700",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

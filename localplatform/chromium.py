"""Headless Debian Chromium driven by Selenium through Debian's chromedriver (packages chromium
and chromium-driver), for the shop walks and the tracker's browser tests."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

# Without these Chromium reaches for its update, sync and field-trial services at every start.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic", "--window-size=1280,900")


class ChromiumMissing(RuntimeError):
    """chromium or chromedriver is not installed."""


def desktop_user_agent(chromium: str) -> str:
    """The user agent this Chromium sends when it is not headless (Linux desktop, major version)."""
    shown = subprocess.run([chromium, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"(\d+)\.\d+\.\d+", shown)
    major = found.group(1) if found else "120"
    return (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36")


@contextlib.contextmanager
def headless_chromium(*, as_shopper: bool = False, console_log: bool = False) -> Iterator[webdriver.Chrome]:
    """A fresh profile in headless Chromium, removed again on exit.

    ``as_shopper``: the user agent without "HeadlessChrome", so ingest counts the pages as a
    person's rather than flagging them as a bot (the demo's shop walks; tests keep the real one).
    ``console_log``: keep the page's console for ``driver.get_log("browser")``.
    """
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        raise ChromiumMissing("chromium / chromedriver not found: install chromium and chromium-driver "
                              "(requirements/apt.txt; make bootstrap does)")
    profile = tempfile.mkdtemp(prefix="clickstream-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    if as_shopper:  # a flag, not a DevTools override: that one misses beacons and keepalive fetches
        options.add_argument(f"--user-agent={desktop_user_agent(chromium)}")
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)

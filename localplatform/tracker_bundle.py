"""The built browser tracker (tracker/dist/), for pages served locally: the demo shop, the tests.

``built()`` returns the directory with ``clickstream.min.js``, building it first when it is
missing or older than its sources (``make tracker`` does the same), so a page never loads a
stale tracker.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

TRACKER_DIR = Path(__file__).resolve().parent.parent / "tracker"
DIST = TRACKER_DIR / "dist"
SCRIPT = DIST / "clickstream.min.js"


class TrackerBuildError(RuntimeError):
    """The tracker could not be built; the message says what to run."""


def _sources() -> list[Path]:
    return [*sorted((TRACKER_DIR / "src").glob("*.ts")), TRACKER_DIR / "build.mjs",
            TRACKER_DIR / "tsconfig.json", TRACKER_DIR / "package-lock.json"]


def is_current() -> bool:
    """The built files exist and are newer than every source."""
    if not SCRIPT.is_file():
        return False
    built_at = SCRIPT.stat().st_mtime
    return all(source.stat().st_mtime <= built_at for source in _sources())


def built() -> Path:
    """tracker/dist/, built now if it is missing or stale."""
    if is_current():
        return DIST
    node = shutil.which("node")
    if node is None:
        raise TrackerBuildError("node not found: run `make bootstrap` (it installs Node.js)")
    if not (TRACKER_DIR / "node_modules" / "esbuild").is_dir():
        raise TrackerBuildError("tracker/node_modules is missing: run `make bootstrap` (npm ci in tracker/)")
    done = subprocess.run([node, "build.mjs"], cwd=TRACKER_DIR, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise TrackerBuildError(f"building the tracker failed:\n{done.stdout}{done.stderr}")
    return DIST

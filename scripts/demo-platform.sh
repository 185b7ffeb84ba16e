#!/usr/bin/env bash
# `make demo` / `make demo-down` (via scripts/demo.sh): the local platform, orchestrated by
# localplatform/demo.py. Usage: scripts/demo-platform.sh up|down|status|etl
# Options come from the environment (SHOPPERS, DAYS, SEED, KEEP_RUNNING, DWH_DSN, ...): docs/demo.md.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
export PATH="$top/.venv/bin:$PATH"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$top/ci/containers.conf}"
export PYTHONPATH="$top${PYTHONPATH:+:$PYTHONPATH}"
if [ ! -x .venv/bin/python ]; then
    echo "make demo: .venv/ is missing; run \`make bootstrap\` first" >&2
    exit 1
fi
exec .venv/bin/python -m localplatform.demo "${1:-up}"

#!/usr/bin/env bash
# Build the two Lambda zips, code plus dependencies for the Lambda platform, into build/:
#   build/lambda-ingest.zip  (requirements/lambda-ingest.txt)
#   build/lambda-etl.zip     (requirements/lambda-etl.txt)
# Usage: scripts/package-lambdas.sh [x86_64|arm64]      (or ARCH=arm64; default x86_64)
# OUT_DIR (default build/) is where the zips go.
# PYTHON_VERSION (default 3.11) must match the stacks' LambdaRuntime, ARCH their LambdaArchitecture.
# arm64 needs PYTHON_VERSION=3.12+: jsonschema-rs publishes aarch64 wheels for glibc 2.28+ only.
# Dependencies are manylinux wheels only (no local compilation), so the zips run on Amazon Linux
# whatever this machine is. The zips are reproducible: same inputs, same bytes, same S3 key.
set -euo pipefail

arch="${1:-${ARCH:-x86_64}}"
python_version="${PYTHON_VERSION:-3.11}"
case "$arch" in
    x86_64 | amd64) machine=x86_64 ;;
    arm64 | aarch64) machine=aarch64 ;;
    *) echo "error: architecture '$arch' is not x86_64 or arm64" >&2; exit 2 ;;
esac
# The python3.11 runtime runs on Amazon Linux 2 (glibc 2.26): manylinux2014 wheels only.
# python3.12 and later run on Amazon Linux 2023 (glibc 2.34), which also takes manylinux_2_28/2_34.
tags=("manylinux2014_$machine")
case "$python_version" in
    3.11) ;;
    3.1[2-9]) tags+=("manylinux_2_28_$machine" "manylinux_2_34_$machine") ;;
    *) echo "error: PYTHON_VERSION '$python_version' is not a Lambda Python runtime (3.11+)" >&2; exit 2 ;;
esac
platforms=()
for tag in "${tags[@]}"; do platforms+=(--platform "$tag"); done

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
out="${OUT_DIR:-$root/build}"
mkdir -p "$out"
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT

for fn in ingest etl; do
    dir="$staging/$fn"
    mkdir -p "$dir"
    if ! "$python" -m pip install --quiet --disable-pip-version-check --no-compile \
        "${platforms[@]}" --implementation cp --python-version "$python_version" \
        --only-binary=:all: --target "$dir" -r "$root/requirements/lambda-$fn.txt"; then
        echo "error: no complete set of wheels for lambda-$fn on ${tags[*]} (Python $python_version);" \
            "a newer runtime (PYTHON_VERSION=3.12 with LambdaRuntime python3.12) accepts newer manylinux tags" >&2
        exit 1
    fi
    # boto3/botocore come with the Lambda runtime; a pinned dependency must not drag in a second copy.
    rm -rf "$dir"/boto3 "$dir"/botocore "$dir"/s3transfer "$dir"/bin
    # The whole functions/ package: both functions import functions/raw_layout.py (the raw object
    # keys) and functions/schemas/ (the contract); the ETL also reads its batch SQL (etl/sql/*.sql)
    # and the warehouse migrations as package resources.
    (cd "$root" && find functions -name '__pycache__' -prune -o -type f \
        \( -name '*.py' -o -name '*.json' -o -name '*.sql' \) -print) |
        while read -r file; do
            mkdir -p "$dir/$(dirname "$file")"
            cp "$root/$file" "$dir/$file"
        done
    "$python" - "$dir" "$out/lambda-$fn.zip" <<'EOF'
import os, sys, zipfile
src, dest = sys.argv[1], sys.argv[2]
tmp = dest + ".tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
    for top, dirs, files in os.walk(src):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            info = zipfile.ZipInfo(os.path.relpath(path, src), date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as fh:
                zf.writestr(info, fh.read())
os.replace(tmp, dest)
EOF
    echo "built $out/lambda-$fn.zip ($machine, Python $python_version)"
done

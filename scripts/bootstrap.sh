#!/usr/bin/env bash
# Installs what `make test` / `make demo` need, and nothing that is already there:
#   Debian packages (requirements/apt.txt), the virtualenv .venv/ (requirements/dev.txt),
#   checkov's own virtualenv .venv/checkov/ (requirements/checkov.txt), Node.js and the
#   tracker's node_modules (tracker/package-lock.json) and the test-host image.
# Each step is skipped when its stamp matches, so a second run is quick.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

apt_install() {
    local want=() pkg
    while read -r pkg; do
        [ -n "$pkg" ] || continue
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || want+=("$pkg")
    done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' requirements/apt.txt)
    if [ "${#want[@]}" -eq 0 ]; then
        step "Debian packages: all present"
        return
    fi
    step "Debian packages: installing ${want[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
}

pip_quiet() { # venv_dir pip-args...: pip, minus the machine's notes about absent local indexes
    local dir="$1"; shift
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" 2> >(grep -v 'is ignored: it is neither' >&2)
}

venv_install() { # venv_dir requirements_file
    local dir="$1" req="$2" stamp want
    stamp="$dir/.requirements-stamp"
    want="$(hash_of "$req")"
    if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        step "virtualenv $dir: up to date"
        return
    fi
    step "virtualenv $dir: installing $req"
    [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
    pip_quiet "$dir" --upgrade pip
    pip_quiet "$dir" -r "$req"
    echo "$want" > "$stamp"
}

node_install() {
    # Node.js 18 or later with npm, for the tracker's build and unit tests. A Node.js that is
    # already there is used as it is: Debian's npm package conflicts with Node.js builds that
    # bundle their own npm, so nodejs/npm are not in requirements/apt.txt.
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        step "Node.js: installing Debian's nodejs and npm"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    if [ "$major" -lt 18 ]; then
        echo "Node.js $(node --version) is too old: the tracker needs 18 or later" >&2
        exit 1
    fi
}

npm_install() { # tracker/node_modules exactly as tracker/package-lock.json pins it
    local stamp=tracker/node_modules/.lock-stamp want
    want="$(hash_of tracker/package-lock.json)"
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        step "tracker/node_modules: up to date"
        return
    fi
    step "tracker/node_modules: npm ci"
    # No install scripts: esbuild and tsc run from their platform packages without them.
    (cd tracker && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
}

apt_install
venv_install .venv requirements/dev.txt
venv_install .venv/checkov requirements/checkov.txt
node_install
npm_install
if [ "${SKIP_TEST_IMAGE:-0}" != 1 ]; then
    step "test-host image"
    scripts/build-test-image.sh
fi

#!/usr/bin/env bash
# Installs what `make test` / `make demo` need, and nothing that is already there:
#   Debian packages (requirements/apt.txt), the virtualenv .venv/ (requirements/dev.txt),
#   checkov's own virtualenv .venv/checkov/ (requirements/checkov.txt) and the test-host image.
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

apt_install
venv_install .venv requirements/dev.txt
venv_install .venv/checkov requirements/checkov.txt
if [ "${SKIP_TEST_IMAGE:-0}" != 1 ]; then
    step "test-host image"
    scripts/build-test-image.sh
fi

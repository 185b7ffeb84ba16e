#!/usr/bin/env bash
# Runs every molecule scenario (roles/*/molecule/*) on the local Debian 12 systemd image.
# Usage: scripts/molecule-all.sh [role[:scenario] ...]   (default: all of them)
# Each run gets its own ephemeral and async dirs so that runs never read each other's state.
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
cd "$top"
export PATH="$top/.venv/bin:$PATH"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$top/ci/containers.conf}"
export ANSIBLE_ROLES_PATH="$top/roles"
export ANSIBLE_CONFIG="$top/ansible.cfg"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}"
export PY_COLORS="${PY_COLORS:-0}"
logs="$top/test-artifacts/molecule"
mkdir -p "$logs"

scenarios=()
if [ "$#" -gt 0 ]; then
    for want in "$@"; do
        role="${want%%:*}"; sc="${want#*:}"; [ "$sc" != "$want" ] || sc=default
        scenarios+=("roles/$role/molecule/$sc")
    done
else
    for f in roles/*/molecule/*/molecule.yml; do
        [ -e "$f" ] && scenarios+=("$(dirname "$f")")
    done
fi
[ "${#scenarios[@]}" -gt 0 ] || { echo "no molecule scenarios found" >&2; exit 1; }

failed=()
for dir in "${scenarios[@]}"; do
    role_dir="${dir%/molecule/*}"; role="${role_dir#roles/}"; sc="${dir##*/}"
    name="$role-$sc"
    run_dir="$(mktemp -d)"
    export MOLECULE_EPHEMERAL_DIRECTORY="$run_dir/ephemeral"
    export ANSIBLE_ASYNC_DIR="$run_dir/async"
    export ANSIBLE_LOCAL_TEMP="$run_dir/tmp"
    start=$(date +%s)
    printf '\033[1m==> molecule %s:%s\033[0m\n' "$role" "$sc"
    if (cd "$role_dir" && molecule test -s "$sc") >"$logs/$name.log" 2>&1; then
        printf '    passed in %ss (log: test-artifacts/molecule/%s.log)\n' "$(( $(date +%s) - start ))" "$name"
    else
        printf '    FAILED after %ss; last lines of test-artifacts/molecule/%s.log:\n' "$(( $(date +%s) - start ))" "$name"
        tail -n 60 "$logs/$name.log" | sed 's/^/    | /'
        failed+=("$role:$sc")
    fi
    rm -rf "$run_dir"
done
total=${#scenarios[@]}; nfail=${#failed[@]}
echo "molecule: $((total - nfail)) passed, $nfail failed"
[ "$nfail" -eq 0 ] || { echo "failed scenarios: ${failed[*]}" >&2; exit 1; }

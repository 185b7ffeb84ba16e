#!/usr/bin/env bash
# Build the Debian 12 + systemd test-host image locally (no container registry is reachable).
# The image is tagged with a hash of this recipe and rebuilt only when the recipe changes.
set -euo pipefail

IMAGE="${TEST_IMAGE:-localhost/debian-systemd:bookworm}"
SUITE=bookworm
PACKAGES="python3,systemd,systemd-sysv,sudo,dbus,acl,ca-certificates,locales,iproute2,procps"

here="$(cd "$(dirname "$0")/.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/ci/containers.conf}"
# debootstrap needs root; the image goes to the caller's own podman storage (rootless or not),
# where molecule and the demo look for it.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

recipe_hash="$(printf '%s\n%s\n' "$SUITE" "$PACKAGES" | cat - "$0" | sha256sum | cut -c1-16)"
current="$(podman image inspect --format '{{ index .Labels "recipe" }}' "$IMAGE" 2>/dev/null || true)"
if [ "$current" = "$recipe_hash" ]; then
    echo "test image $IMAGE is up to date (recipe $recipe_hash)"
    exit 0
fi

# The mirror comes from apt's own configuration on this machine, never from this repo.
mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)"
[ -n "$mirror" ] || mirror="$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)"
[ -n "$mirror" ] || { echo "error: no Debian mirror found in apt sources" >&2; exit 1; }

rootfs="$(mktemp -d)"
trap '$SUDO rm -rf "$rootfs"' EXIT
echo "building test image $IMAGE (recipe $recipe_hash), about a minute"
$SUDO debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" "$mirror" >/dev/null
# Same apt source inside the image as on this machine, so roles can install packages.
$SUDO cp /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/" 2>/dev/null || true
$SUDO rm -f "$rootfs/etc/apt/sources.list"
[ -s "$rootfs/etc/apt/sources.list.d/debian.sources" ] || \
    echo "deb $mirror $SUITE main" | $SUDO tee "$rootfs/etc/apt/sources.list" >/dev/null
# Like a cloud image: a machine-id is made at first boot; no getty noise in containers.
$SUDO truncate -s0 "$rootfs/etc/machine-id"
$SUDO tar -C "$rootfs" -c . | podman import -q \
    --change 'CMD ["/sbin/init"]' --change "LABEL recipe=$recipe_hash" - "$IMAGE" >/dev/null
echo "built $IMAGE"

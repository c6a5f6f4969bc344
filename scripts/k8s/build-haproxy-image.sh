#!/usr/bin/env bash
# Builds Kind's external load balancer image (used when a cluster has several control planes)
# from Debian packages, under the exact name kind v0.30 asks for. Kind reads the name and the
# config path from pkg/cluster/internal/loadbalancer/const.go, so both are read from there too:
#   Image      = docker.io/kindest/haproxy:v20230606-42a2262b
#   ConfigPath = /usr/local/etc/haproxy/haproxy.cfg
# What kind does with the container (pkg/cluster/internal/create/actions/loadbalancer):
# `docker run` with the image's entrypoint, then `mkdir -p` and `cp /dev/stdin CONFIGPATH` to
# write the real config, then `kill -s HUP 1` to make haproxy (PID 1, master-worker) reload it.
# So, like kind's images/haproxy/Dockerfile: haproxy, mkdir/cp (coreutils) and kill (procps);
# kind's own minimal haproxy.cfg at CONFIGPATH (haproxy exits without a config); entrypoint
# `haproxy -W -db -f CONFIGPATH`; STOPSIGNAL SIGUSR1. From Debian bullseye, as kind's image is
# (haproxy 2.2): bookworm's haproxy 2.6 refuses to start where the open-files limit is below what
# kind's `maxconn 100000` asks for (20000 on the test machines; 2.2 only warns).
# Skipped when the image's inputs label matches. Prints the image name.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HAPROXY_SUITE=bullseye
HAPROXY_PKGS=haproxy,procps,ca-certificates
KIND_DIR=$(gomod_dir "sigs.k8s.io/kind@$KIND_VERSION")
LB_CONST=$KIND_DIR/pkg/cluster/internal/loadbalancer/const.go
LB_CFG=$KIND_DIR/images/haproxy/haproxy.cfg
lb_const() { sed -n -E "s/^const $1 = \"(.*)\"$/\1/p" "$LB_CONST" | head -1; }
IMG_HAPROXY=$(lb_const Image)
CONFIG_PATH=$(lb_const ConfigPath)
[ -n "$IMG_HAPROXY" ] && [ -n "$CONFIG_PATH" ] || die "could not read Image and ConfigPath from $LB_CONST"
[ -f "$LB_CFG" ] || die "kind's minimal haproxy config is missing: $LB_CFG"
# Docker stores docker.io/kindest/haproxy:TAG as kindest/haproxy:TAG; `docker inspect` finds either
IMG_LOCAL=${IMG_HAPROXY#docker.io/}

build_haproxy() {
  local key rootfs old
  key=$(inputs_hash "$HAPROXY_SUITE" "$HAPROXY_PKGS" "$IMG_HAPROXY" "$CONFIG_PATH" "$LB_CFG" "$(declare -f build_haproxy)")
  if [ "$($DOCKER image inspect -f '{{index .Config.Labels "kinda.k8s.inputs"}}' "$IMG_LOCAL" 2>/dev/null || true)" = "$key" ]; then
    log "load balancer image $IMG_LOCAL: up to date"
    return 0
  fi
  command -v debootstrap >/dev/null || die "debootstrap missing (bash scripts/test-env/setup.sh installs it)"
  old=$($DOCKER image inspect -f '{{.Id}}' "$IMG_LOCAL" 2>/dev/null || true)
  rootfs=$CACHE/rootfs/haproxy
  rm -rf "$rootfs"; mkdir -p "$rootfs" "$CACHE/debs"
  log "load balancer image: debootstrap $HAPROXY_SUITE with $HAPROXY_PKGS (log $LOGS/debootstrap-haproxy.log)"
  debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$HAPROXY_PKGS" "$HAPROXY_SUITE" "$rootfs" "$(debian_mirror)" \
    >"$LOGS/debootstrap-haproxy.log" 2>&1 || { tail -20 "$LOGS/debootstrap-haproxy.log" >&2; die "debootstrap failed"; }
  [ -x "$rootfs/usr/sbin/haproxy" ] && [ -x "$rootfs/usr/bin/kill" ] || die "haproxy or kill missing from the root"
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  install -D -m 0644 "$LB_CFG" "$rootfs$CONFIG_PATH"
  tar -C "$rootfs" -c . | $DOCKER import - "$IMG_LOCAL-rootfs" >/dev/null || die "docker import failed"
  # STOPSIGNAL is not a `docker import --change`; a metadata-only build adds it (no new layer)
  $DOCKER build -q -t "$IMG_LOCAL" - >/dev/null <<DOCKERFILE || die "docker build of $IMG_LOCAL failed"
FROM $IMG_LOCAL-rootfs
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
STOPSIGNAL SIGUSR1
ENTRYPOINT ["haproxy", "-W", "-db", "-f", "$CONFIG_PATH"]
LABEL kinda.k8s.inputs="$key" kinda.k8s.kind-version="$KIND_VERSION"
DOCKERFILE
  $DOCKER rmi "$IMG_LOCAL-rootfs" >/dev/null 2>&1 || true # untags only: the layer stays in use
  rm -rf "$rootfs"
  [ -z "$old" ] || $DOCKER rmi "$old" >/dev/null 2>&1 || true
  log "load balancer image $IMG_LOCAL built"
}
timed "haproxy-image" build_haproxy
echo "$IMG_LOCAL"

#!/usr/bin/env bash
# Shared settings and helpers for scripts/k8s/* (test infrastructure for issue 5: a Kind cluster
# whose node image is built here, offline, from Go modules and Debian packages). Sourced, not run.
#
# Everything built is cached under $KINDA_K8S_CACHE (default /var/cache/kinda-k8s) and in Go's own
# build and module caches, so a second run only checks stamps. Nothing here names a registry or a
# mirror: Go uses its default module proxy, debootstrap the mirror apt's sources already name.
set -euo pipefail

# ---- versions (see docs/k8s-offline.md for why these) ----------------------------------------
KIND_VERSION=${KINDA_KIND_VERSION:-v0.30.0}
K8S_VERSION=${KINDA_K8S_VERSION:-v1.34.4}
# what kubeadm v1.34 asks for (cmd/kubeadm/app/constants: DefaultEtcdVersion, CoreDNSVersion, PauseVersion)
ETCD_VERSION=${KINDA_ETCD_VERSION:-v3.6.5}
ETCD_IMAGE_REV=0
COREDNS_VERSION=${KINDA_COREDNS_VERSION:-v1.12.1}
PAUSE_VERSION=3.10.1
CRICTL_VERSION=${KINDA_CRICTL_VERSION:-v1.34.0}
LOCAL_PATH_PROVISIONER_VERSION=${KINDA_LPP_VERSION:-v0.0.30}
DEBIAN_SUITE=bookworm

# ---- places ----------------------------------------------------------------------------------
CACHE=${KINDA_K8S_CACHE:-/var/cache/kinda-k8s}
BIN=$CACHE/bin                       # kind, plus a `docker` link to Debian's client (kind runs `docker`)
OUT=$CACHE/out                       # built binaries, per component and version
LOGS=$CACHE/logs
DOCKER=/usr/bin/docker               # Debian's client; another one may sit earlier on PATH
K8S_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

BASE_IMAGE=${KINDA_K8S_BASE_IMAGE:-kinda-k8s/base:$DEBIAN_SUITE}
NODE_IMAGE=${KINDA_K8S_NODE_IMAGE:-kinda-k8s/node:$K8S_VERSION}

# Go >= 1.21 fetches the newer toolchain a module's go.mod asks for (Kubernetes v1.34 wants 1.24)
command -v go >/dev/null || { printf '[k8s] error: %s\n' "Go is not installed: install Go 1.21 or newer and put it on PATH" >&2; exit 1; }
case "$(go env GOVERSION)" in go1.1[0-9]* | go1.20*) printf '[k8s] error: %s\n' "$(go env GOVERSION) is too old: Go 1.21 or newer is needed" >&2; exit 1 ;; esac

mkdir -p "$BIN" "$OUT" "$LOGS"
[ -x "$BIN/docker" ] || ln -sf "$DOCKER" "$BIN/docker"
export PATH="$BIN:$PATH"
export CGO_ENABLED=0
# Go's caches live with ours, so removing $CACHE gives a truly cold build (and nothing else's
# caches are touched); -modcacherw keeps the module cache removable with rm -rf.
export GOCACHE=${KINDA_K8S_GOCACHE:-$CACHE/go-build}
export GOMODCACHE=${KINDA_K8S_GOMODCACHE:-$CACHE/go-mod}
export GOFLAGS="-modcacherw $(go env GOFLAGS 2>/dev/null | sed 's/-modcacherw//')"

log() { printf '[k8s %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[k8s] error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it uses the Docker engine and debootstrap)"

# stamp FILE CONTENT: true when FILE holds CONTENT (a stage's inputs), i.e. the stage is up to date
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# a short digest of strings and files (the inputs of a stage)
inputs_hash() {
  { for a in "$@"; do if [ -f "$a" ]; then cat "$a"; else printf '%s\n' "$a"; fi; done; } | sha256sum | cut -c1-16
}

# shellcheck source=../lib/debian.sh
source "$K8S_HERE/../lib/debian.sh"

# the module directory of MODULE@VERSION in Go's module cache (downloads it through the proxy)
gomod_dir() { (cd "$CACHE" && go mod download -json "$1" | jq -r .Dir); }

# time a stage and append the figure to $LOGS/times.log
timed() { # label command...
  local label=$1 t0 rc=0; shift
  t0=$(date +%s.%N)
  "$@" || rc=$?
  printf '%s %-28s %7.1f s rc=%s\n' "$(date -u +%FT%TZ)" "$label" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$rc" >>"$LOGS/times.log"
  return $rc
}

# ---- images built here ---------------------------------------------------------------------------
# image_key IMAGE: the digest of the inputs an image built here was made from (its label), or nothing
image_key() { $DOCKER image inspect -f '{{index .Config.Labels "kinda.k8s.inputs"}}' "$1" 2>/dev/null || true; }
PATH_ENV='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# slim_image NAME DOCKERFILE-LINES FILE... : FROM $SLIM_IMAGE (a Debian root the calling script
# builds: build-images.sh's slim root, build-e2e.sh's test root), with FILEs in the build context
# (their key holds names and contents, not paths: a clone elsewhere reuses the images). Its text is
# part of its images' cache key (declare -f): it moved here from build-images.sh unchanged, so the
# node image's images kept their keys; edit it and they are rebuilt.
slim_image() {
  local name=$1 lines=$2 key ctx f; shift 2
  key=$(inputs_hash "$name" "$lines" "$($DOCKER image inspect -f '{{.Id}}' "$SLIM_IMAGE")" "$(for f in "$@"; do printf '%s ' "${f##*/}"; sha256sum <"$f"; done)" "$(declare -f slim_image)")
  [ "$(image_key "$name")" = "$key" ] && return 0
  ctx=$(mktemp -d "$CACHE/ctx.XXXXXX")
  for f in "$@"; do cp -p "$f" "$ctx/"; done
  printf 'FROM %s\n%s\nLABEL kinda.k8s.inputs=%s\n' "$SLIM_IMAGE" "$lines" "$key" | $DOCKER build -q -t "$name" -f - "$ctx" >/dev/null ||
    die "docker build of $name failed"
  rm -rf "$ctx"
  log "image $name"
}

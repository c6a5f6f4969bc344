#!/usr/bin/env bash
# Builds, from nothing and without any image registry, a Kind node image for Kubernetes
# $K8S_VERSION (default v1.34.4) and the kind CLI that uses it:
#   1. kind            build-kind.sh       (Go module proxy)
#   2. binaries        build-binaries.sh   (Go module proxy; Kubernetes, etcd, CoreDNS, crictl, ...)
#   3. base image      build-base-image.sh (Debian packages via debootstrap + Kind's own files)
#   4. images/archive  build-images.sh     (component images under kubeadm's names; release archive)
#   5. node image      `kind build node-image --type file --base-image BASE ARCHIVE`
#   6. load balancer   build-haproxy-image.sh (Kind's kindest/haproxy, for several control planes)
# Every stage is cached ($KINDA_K8S_CACHE, Go's caches, Docker images): a second run takes seconds.
# Result: the Docker image $NODE_IMAGE (default kinda-k8s/node:v1.34.4). Stage times are appended
# to $KINDA_K8S_CACHE/logs/times.log. Then: bash scripts/k8s/create-cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
t0=$(date +%s)

bash "$K8S_HERE/build-kind.sh"
bash "$K8S_HERE/build-binaries.sh"
bash "$K8S_HERE/build-base-image.sh"
tarball=$(bash "$K8S_HERE/build-images.sh" | tail -1)
[ -f "$tarball" ] || die "build-images.sh gave no archive"

build_node() {
  local key stamp=$CACHE/node-image.stamp base_id id
  base_id=$($DOCKER image inspect -f '{{.Id}}' "$BASE_IMAGE")
  key=$(inputs_hash "$NODE_IMAGE" "$KIND_VERSION" "$base_id" "$tarball.stamp" "$(declare -f build_node)")
  id=$($DOCKER image inspect -f '{{.Id}}' "$NODE_IMAGE" 2>/dev/null || true)
  if [ -n "$id" ] && stamp_ok "$stamp" "$key $id"; then log "node image $NODE_IMAGE: up to date"; return 0; fi
  log "node image: kind build node-image --type file --base-image $BASE_IMAGE --image $NODE_IMAGE (log $LOGS/kind-build-node-image.log)"
  # Kind extracts the archive under TMPDIR and leaves it there: give it a directory we clean
  local tmp; tmp=$(mktemp -d "$CACHE/kind-build.XXXXXX")
  TMPDIR=$tmp "$BIN/kind" build node-image -v 1 --type file --base-image "$BASE_IMAGE" --image "$NODE_IMAGE" "$tarball" \
    >"$LOGS/kind-build-node-image.log" 2>&1 || { rm -rf "$tmp"; tail -30 "$LOGS/kind-build-node-image.log" >&2; die "kind build node-image failed"; }
  rm -rf "$tmp"
  # Kind fetches from a registry whatever the archives do not provide: none may be left
  if grep -q 'Failed to pull' "$LOGS/kind-build-node-image.log"; then die "kind tried to pull images (see $LOGS/kind-build-node-image.log)"; fi
  echo "$key $($DOCKER image inspect -f '{{.Id}}' "$NODE_IMAGE")" >"$stamp"
  # drop the image this one replaces (fails harmlessly while a cluster still uses it)
  [ -z "$id" ] || [ "$id" = "$($DOCKER image inspect -f '{{.Id}}' "$NODE_IMAGE")" ] || $DOCKER rmi "$id" >/dev/null 2>&1 || true
  log "node image $NODE_IMAGE built"
}
timed "node-image" build_node
bash "$K8S_HERE/build-haproxy-image.sh" >/dev/null
printf "%s %-28s %7.1f s rc=0\n" "$(date -u +%FT%TZ)" "build-node-image (total)" "$(( $(date +%s) - t0 ))" >>"$LOGS/times.log"
log "done in $(( $(date +%s) - t0 )) s: node image $NODE_IMAGE, kind $BIN/kind"
echo "$NODE_IMAGE"

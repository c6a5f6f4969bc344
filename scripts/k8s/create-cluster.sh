#!/usr/bin/env bash
# Creates a Kind cluster (one control plane, two workers by default) from the offline node image
# and waits until every node is Ready. Builds what is missing first (build-node-image.sh; seconds
# when cached). Usage: create-cluster.sh [NAME] [WORKERS]   (default: offline-check 2)
# Env: KINDA_KIND_CONFIG=FILE uses that Kind config instead (its nodes replace the default ones).
# Prints the kubeconfig path; use it with $KINDA_K8S_CACHE/out/kubernetes-<version>/kubectl.
# Delete with: bash scripts/k8s/kind.sh delete cluster --name NAME
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAME=${1:-offline-check}
WORKERS=${2:-2}
KUBECTL=$OUT/kubernetes-$K8S_VERSION/kubectl
KUBECONFIG_OUT=$CACHE/kubeconfig-$NAME

$DOCKER image inspect "$NODE_IMAGE" >/dev/null 2>&1 && [ -x "$KUBECTL" ] && [ -x "$BIN/kind" ] ||
  bash "$K8S_HERE/build-node-image.sh" >/dev/null
"$BIN/kind" get clusters 2>/dev/null | grep -qx "$NAME" && die "cluster $NAME exists (delete: bash $K8S_HERE/kind.sh delete cluster --name $NAME)"

config=${KINDA_KIND_CONFIG:-}
if [ -z "$config" ]; then
  config=$CACHE/kind-config-$NAME.yaml
  {
    echo "kind: Cluster"
    echo "apiVersion: kind.x-k8s.io/v1alpha4"
    echo "nodes:"
    echo "- role: control-plane"
    for _ in $(seq 1 "$WORKERS"); do echo "- role: worker"; done
  } >"$config"
fi

create() {
  log "kind create cluster --name $NAME --image $NODE_IMAGE (log $LOGS/create-$NAME.log)"
  "$BIN/kind" create cluster --name "$NAME" --image "$NODE_IMAGE" --config "$config" --kubeconfig "$KUBECONFIG_OUT" --retain \
    >"$LOGS/create-$NAME.log" 2>&1 || { cat "$LOGS/create-$NAME.log" >&2; die "kind create cluster failed (nodes kept for inspection: --retain)"; }
}
wait_ready() {
  log "waiting for every node to be Ready"
  "$KUBECTL" --kubeconfig "$KUBECONFIG_OUT" wait --for=condition=Ready nodes --all --timeout=300s >&2 ||
    { "$KUBECTL" --kubeconfig "$KUBECONFIG_OUT" get nodes -o wide >&2; die "nodes not Ready within 300 s"; }
}
timed "create-cluster" create
timed "nodes-ready" wait_ready
"$KUBECTL" --kubeconfig "$KUBECONFIG_OUT" get nodes -o wide >&2
echo "$KUBECONFIG_OUT"

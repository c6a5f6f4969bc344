#!/usr/bin/env bash
# Checks a cluster made by create-cluster.sh beyond "nodes Ready": every kube-system pod runs,
# `kind load docker-image` works, and a pod on one worker reaches a pod on the other worker by
# ping and TCP (iperf3), directly and through a Service looked up by name (CoreDNS, kube-proxy).
# The test image is the Debian stand-in kinda-test/kathara-base (scripts/test-env/setup.sh builds it).
# Usage: smoke-test.sh [NAME]   (default offline-check). Leaves the cluster as it was.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NAME=${1:-offline-check}
IMAGE=${KINDA_K8S_TEST_IMAGE:-kinda-test/kathara-base:latest}
K=("$OUT/kubernetes-$K8S_VERSION/kubectl" --kubeconfig "$CACHE/kubeconfig-$NAME")
NS=kinda-smoke
ok() { log "ok: $*"; }

$DOCKER image inspect "$IMAGE" >/dev/null 2>&1 || bash "$K8S_HERE/../test-env/setup.sh"
mapfile -t workers < <("${K[@]}" get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}')
[ ${#workers[@]} -ge 2 ] || die "need two workers, have: ${workers[*]}"

"${K[@]}" -n kube-system wait --for=condition=Ready pods --all --timeout=120s >/dev/null || die "kube-system pods not Ready"
ok "all kube-system pods Ready"
timed "kind-load" "$BIN/kind" load docker-image --name "$NAME" "$IMAGE" >/dev/null 2>&1 || die "kind load docker-image $IMAGE failed"
ok "kind load docker-image $IMAGE"

"${K[@]}" create namespace "$NS" >/dev/null
trap '"${K[@]}" delete namespace "$NS" --wait=false >/dev/null 2>&1 || true' EXIT
pod() { # name node command...
  local name=$1 node=$2; shift 2
  local cmd; cmd=$(printf '"%s",' "$@"); cmd="[${cmd%,}]"
  "${K[@]}" -n "$NS" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $name, labels: {app: $name}}
spec:
  nodeName: $node
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: $IMAGE, imagePullPolicy: Never, command: $cmd}
YAML
}
pod srv "${workers[1]}" iperf3 -s
pod cli "${workers[0]}" sleep infinity
"${K[@]}" -n "$NS" expose pod srv --port 5201 >/dev/null
"${K[@]}" -n "$NS" wait --for=condition=Ready pod/srv pod/cli --timeout=120s >/dev/null || die "test pods not Ready"
srv_ip=$("${K[@]}" -n "$NS" get pod srv -o jsonpath='{.status.podIP}')
cli_ip=$("${K[@]}" -n "$NS" get pod cli -o jsonpath='{.status.podIP}')
ok "pods cli $cli_ip on ${workers[0]}, srv $srv_ip on ${workers[1]}"
x() { "${K[@]}" -n "$NS" exec cli -- "$@"; }
x ping -c 3 -W 2 "$srv_ip" >/dev/null || die "ping $srv_ip from cli failed"
ok "ping pod to pod across workers"
x iperf3 -c "$srv_ip" -t 2 >/dev/null || die "iperf3 to $srv_ip failed"
ok "TCP (iperf3) pod to pod across workers"
x getent hosts "srv.$NS.svc.cluster.local" >/dev/null || die "DNS lookup of the Service failed"
x iperf3 -c "srv.$NS.svc.cluster.local" -t 2 >/dev/null || die "iperf3 to the Service failed"
ok "TCP (iperf3) to a Service by name from the other worker"
log "smoke test passed on cluster $NAME"

#!/usr/bin/env bash
# The lean node profile against the default: one real cluster (1 control plane + 3 workers,
# test/k8s/conformance/tree.yaml) up with the given profile, the settings read back from the
# nodes, idle CPU per node over 90 s (bench/node-cpu.ts) after 60 s of settling, then down.
# usage: bench/lean-compare.sh lean|plain [PREFIX]   (a heavy run: wrap it in the machine's semaphore)
set -u
mode=$1
cd "$(dirname "$0")/.."
export KINDA_STATE_DIR=${KINDA_STATE_DIR:-$(mktemp -d /tmp/kinda-lean-XXXXXX)}
export PATH=/var/cache/kinda-k8s/bin:$PATH KINDA_KIND=/var/cache/kinda-k8s/bin/kind
name=${2:-lean-compare}-$mode
lean=0; [ "$mode" = lean ] && lean=1
echo "== $mode $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
t=$(date +%s)
KINDA_KIND_LEAN=$lean node dist/bin/kinda.js up test/k8s/conformance/tree.yaml --name $name --node-image kinda-k8s/node:v1.34.4 \
  --image-map kathara/frr=kinda-test/kathara-frr:latest --image-map kathara/base=kinda-test/kathara-base:latest 2>&1 | tail -5
echo "up rc=${PIPESTATUS[0]} in $(( $(date +%s) - t )) s"
kc=$(mktemp); kind get kubeconfig --name $name > $kc
kubectl --kubeconfig $kc wait --for=condition=Ready nodes --all --timeout=300s
echo "all Ready at $(( $(date +%s) - t )) s"
kubectl --kubeconfig $kc get nodes -o wide
cp=$name-control-plane
echo "-- settings in effect:"
docker exec $cp sh -c 'grep -E "nodeStatusUpdateFrequency|nodeLeaseDurationSeconds" /var/lib/kubelet/config.yaml; ps -eo args | grep -E "^(/usr/bin/)?kubelet" | grep -o -- "--housekeeping-interval=[^ ]*"; grep -E "node-monitor-grace|leader-elect" /etc/kubernetes/manifests/kube-controller-manager.yaml /etc/kubernetes/manifests/kube-scheduler.yaml'
docker exec $name-worker sh -c 'grep -E "nodeStatusUpdateFrequency|nodeLeaseDurationSeconds" /var/lib/kubelet/config.yaml; ps -eo args | grep -E "^(/usr/bin/)?kubelet" | grep -o -- "--housekeeping-interval=[^ ]*"'
kubectl --kubeconfig $kc -n kube-node-lease get lease -o custom-columns=NAME:.metadata.name,DUR:.spec.leaseDurationSeconds
echo "-- settle 60 s, then 90 s window $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
sleep 60
node --import tsx bench/node-cpu.ts $name 90
echo "-- after window load $(cut -d' ' -f1-3 /proc/loadavg)"
kubectl --kubeconfig $kc get nodes
t=$(date +%s); node dist/bin/kinda.js down $name 2>&1 | tail -2; echo "down in $(( $(date +%s) - t )) s"
rm -f $kc

#!/usr/bin/env bash
# The main job on a fresh Debian/Ubuntu machine, as root: the seed's tree (examples/tree.yaml: a
# gateway, two switches, three workers and a control plane) deployed with a real Kind cluster
# whose pod traffic crosses the emulated routers (static routing, no encapsulation, so the
# routers show up in a traceroute). Ends with the nodes, a pod-to-pod traceroute, and how to
# remove everything.
#
#   bash scripts/demo.sh              the tree with Kubernetes. Node image: Kind's published one
#                                     when it can be pulled, else built here offline by
#                                     scripts/k8s/build-node-image.sh (needs Go 1.21+; about 25 min
#                                     on 2 cores the first time, cached in /var/cache/kinda-k8s)
#   bash scripts/demo.sh --lab [DIR]  a Kathara lab only, no Kubernetes (default examples/labs/two-routers)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf '\ndemo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (kinda creates namespaces, links and containers)"
MODE=tree LAB=examples/labs/two-routers
case "${1:-}" in
  "") ;;
  --lab) MODE=lab; LAB=${2:-$LAB} ;;
  -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
  *) die "unknown argument $1 (see --help)" ;;
esac
T0=$(date +%s)
since() { echo $(($(date +%s) - $1)); }
[ -d node_modules ] && [ -f dist/bin/kinda.js ] || npm ci --no-audit --no-fund --loglevel=error
bash scripts/test-env/setup.sh # Docker engine, host programs, stand-in images for kathara/base and kathara/frr
kinda() { node dist/bin/kinda.js "$@"; }
IMAGE_MAP=(--image-map kathara/base=kinda-test/kathara-base:latest --image-map kathara/frr=kinda-test/kathara-frr:latest)

if [ "$MODE" = lab ]; then
  kinda down demo >/dev/null 2>&1 || true
  kinda up "$LAB" --name demo "${IMAGE_MAP[@]}"
  kinda status demo
  cat <<'TXT'

The lab "demo" is up. From this folder (or anywhere after `npm link`):
  npx kinda status demo                              devices, interfaces, start-up results
  npx kinda h1 ping -c3 10.2.0.10                    a command in a device: h1 reaches h2 via r1, r2
  npx kinda h1 traceroute -n 10.2.0.10               the path it takes
  npx kinda --lab demo r1                            an interactive shell on r1
  npx kinda down demo                                remove everything the lab created
TXT
  exit 0
fi

# ---- the node image: Kind's published one, or one built here -----------------------------------
CACHE=${KINDA_K8S_CACHE:-/var/cache/kinda-k8s}
K8S_VERSION=${KINDA_K8S_VERSION:-v1.34.4}
PUBLISHED=${KINDA_DEMO_PUBLISHED_IMAGE:-kindest/node:v1.34.0} # Kind v0.30.0's own
export PATH="$CACHE/bin:$PATH" # kind, and the `docker` client Kind runs
t=$(date +%s)
if /usr/bin/docker image inspect "$PUBLISHED" >/dev/null 2>&1 || timeout 300 /usr/bin/docker pull -q "$PUBLISHED" >/dev/null 2>&1; then
  NODE_IMAGE=$PUBLISHED
  command -v kind >/dev/null || bash scripts/k8s/build-kind.sh
else
  NODE_IMAGE=${KINDA_K8S_NODE_IMAGE:-kinda-k8s/node:$K8S_VERSION}
  if /usr/bin/docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
    say "Kind's published node image $PUBLISHED cannot be pulled here; checking the one built offline ($NODE_IMAGE)"
  else
    say "Kind's published node image $PUBLISHED cannot be pulled here: building $NODE_IMAGE offline with scripts/k8s/build-node-image.sh (first time about 25 minutes on 2 cores, then cached in $CACHE)"
  fi
  (while sleep 60; do printf 'demo: node image: %s min so far (stage logs: %s/logs)\n' $(($(since "$t") / 60)) "$CACHE"; done) &
  ticker=$!
  trap 'kill $ticker 2>/dev/null || true' EXIT
  bash scripts/k8s/build-node-image.sh
  kill $ticker 2>/dev/null || true
fi
KIND=$(command -v kind) || die "no kind CLI"
say "node image $NODE_IMAGE ready ($(since "$t") s); kind: $KIND"
export KINDA_KIND=$KIND

# ---- the tree with its cluster -----------------------------------------------------------------
kinda doctor || die "kinda doctor found something kinda cannot do without (FAIL above)"
kinda down demo >/dev/null 2>&1 || true
t=$(date +%s)
say "kinda up examples/tree.yaml --name demo --node-image $NODE_IMAGE --encapsulation none"
kinda up examples/tree.yaml --name demo --node-image "$NODE_IMAGE" --encapsulation none "${IMAGE_MAP[@]}"
UP_S=$(since "$t")
KUBECTL=$CACHE/out/kubernetes-$K8S_VERSION/kubectl
[ -x "$KUBECTL" ] || KUBECTL=$(command -v kubectl) || die "no kubectl (Debian package kubernetes-client, or scripts/k8s builds one)"
KCFG=$(mktemp /tmp/kinda-demo-kubeconfig.XXXXXX)
"$KIND" get kubeconfig --name demo >"$KCFG"
k() { "$KUBECTL" --kubeconfig "$KCFG" "$@"; }
k wait --for=condition=Ready nodes --all --timeout=300s >/dev/null
say "kubectl get nodes -o wide"
k get nodes -o wide

# ---- pod to pod, through the routers -----------------------------------------------------------
t=$(date +%s)
POD_IMAGE=kinda-test/kathara-base:latest # has traceroute; no registry needed
"$KIND" load docker-image "$POD_IMAGE" --name demo >/dev/null
W1=$(kinda reverse --lab demo w1)
W3=$(kinda reverse --lab demo w3)
pod_on() { # name node
  k run "$1" --image="$POD_IMAGE" --image-pull-policy=Never --restart=Never \
    --overrides="{\"apiVersion\":\"v1\",\"spec\":{\"nodeName\":\"$2\"}}" --command -- sleep infinity >/dev/null
}
pod_on a "$W1"
pod_on b "$W3"
k wait --for=condition=Ready pod/a pod/b --timeout=180s >/dev/null
B_IP=$(k get pod b -o jsonpath='{.status.podIP}')
say "traceroute from pod a (on w1 = $W1) to pod b ($B_IP, on w3 = $W3): w1 -> r1 -> gateway -> r2 -> w3"
k exec a -- traceroute -n -q 1 -w 2 "$B_IP"
say "routers' addresses on that path: r1 10.0.4.1, gateway 10.0.2.1, r2 10.0.3.2 (examples/tree.yaml); pods ready in $(since "$t") s"

cat <<TXT

demo: done in $(since "$T0") s (kinda up with the cluster: $UP_S s). The cluster "demo" runs inside the
emulated network of examples/tree.yaml; pod traffic between nodes crosses its routers.
  KUBECONFIG=$KCFG $KUBECTL get pods -o wide
  npx kinda status demo                                 devices, nodes, links
  npx kinda exec --lab demo r1 -- ip route              the pod routes kinda installed on r1
  npx kinda graph demo -o demo.svg                      a picture of it
Remove everything (the cluster and its pods, devices, links, rules; then the kubeconfig file):
  npx kinda down demo && rm -f $KCFG
(The node image stays for the next run: docker rmi $NODE_IMAGE removes it.)
TXT

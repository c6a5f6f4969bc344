#!/usr/bin/env bash
# Runs Kubernetes' own e2e tests (default: every [sig-network] [Conformance] test) against a
# cluster that kinda builds inside an emulated network, or against a plain Kind cluster of the same
# node image (the baseline), then takes it down (issue 23; docs/kubernetes-conformance.md).
#
# Usage: conformance.sh TOPOLOGY [FOCUS]
#   TOPOLOGY  tree        the seed's tree (test/k8s/conformance/tree.yaml): 1 control plane, 3 workers,
#                         apiThroughNetwork, pods routed natively (encapsulation none)
#             tree-vxlan  the same with encapsulation vxlan
#             small       the tree cut to one worker per rack (test/k8s/conformance/tree-small.yaml):
#                         1 control plane, 2 workers (the CI subset runs here)
#             small-vxlan the same with encapsulation vxlan
#             fat-tree    a k=4 fat tree, 1 control plane and 6 workers (test/k8s/conformance/fat-tree.ts)
#             kind[:N]    plain Kind, 1 control plane and N workers (default 3), no emulated network
#   FOCUS     a ginkgo focus regexp (default '\[sig-network\].*\[Conformance\]')
# Env: KINDA_E2E_SKIP (ginkgo skip regexp, default none), KINDA_E2E_NODES (parallel ginkgo
#      processes, default 3), KINDA_E2E_NAME (lab/cluster name, default e2e-TOPOLOGY),
#      KINDA_E2E_RESULTS (directory for the log and JUnit report; default a new one under
#      $KINDA_K8S_CACHE/e2e-results), KINDA_E2E_KEEP=1 (leave the cluster up), KINDA_SKIP_SETUP=1,
#      KINDA_E2E_IMAGES (the test images to load, by name without registry or tag, e.g.
#      "agnhost jessie-dnsutils busybox"; default all that build-e2e.sh built).
# The images go into the nodes pods can be scheduled on (not a control plane tainted NoSchedule).
# Prints: the counts ("passed N failed M skipped K"; skipped: selected, but skipped by the test itself
# for want of something in the cluster), the failed and skipped tests' names, the report's path.
# Exit: 0 when every selected test passed, 1 otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPO=$(cd "$K8S_HERE/../.." && pwd)
TOPOLOGY=${1:-}
FOCUS=${2:-'\[sig-network\].*\[Conformance\]'}
SKIP=${KINDA_E2E_SKIP:-}
NODES=${KINDA_E2E_NODES:-3}
[[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "KINDA_E2E_NODES must be a whole number >= 1, not '$NODES'"
case "$TOPOLOGY" in
  tree | tree-vxlan | small | small-vxlan | fat-tree) ;;
  kind | kind:[1-9] | kind:[1-9][0-9]) ;;
  *) die "usage: conformance.sh tree|tree-vxlan|small|small-vxlan|fat-tree|kind[:WORKERS] [FOCUS] (got '${TOPOLOGY}')" ;;
esac
NAME=${KINDA_E2E_NAME:-e2e-${TOPOLOGY/:/-}}
[[ "$NAME" =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "KINDA_E2E_NAME '$NAME': lower-case letters, digits and dashes, at most 31"
RESULTS=${KINDA_E2E_RESULTS:-$CACHE/e2e-results/$NAME-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
E2E_DIR=$OUT/e2e-$K8S_VERSION
KDIR=$OUT/kubernetes-$K8S_VERSION
KCFG=$RESULTS/kubeconfig
T0=$(date +%s)
since() { echo $(($(date +%s) - $1)); }
kinda() { node "$REPO/dist/src/cli/main.js" "$@"; }
k() { "$KDIR/kubectl" --kubeconfig "$KCFG" "$@"; }

# ---- what it needs: node image, suite, images (each a stamp check when built) ----------------
if [ "${KINDA_SKIP_SETUP:-}" != 1 ]; then
  [ -f "$REPO/dist/src/cli/main.js" ] || (cd "$REPO" && npm ci --no-audit --no-fund --loglevel=error)
  bash "$REPO/scripts/test-env/setup.sh" >&2
fi
bash "$K8S_HERE/build-node-image.sh" >/dev/null
bash "$K8S_HERE/build-e2e.sh"
# the inotify limits several Kind nodes need (kinda doctor --fix says what it raises)
kinda doctor --fix >"$RESULTS/doctor.txt" 2>&1 || { cat "$RESULTS/doctor.txt" >&2; die "kinda doctor found something missing"; }
mapfile -t IMAGES <"$E2E_DIR/images"
[ ${#IMAGES[@]} -gt 0 ] || die "no e2e images listed in $E2E_DIR/images"
if [ -n "${KINDA_E2E_IMAGES:-}" ]; then
  wanted=()
  for w in $KINDA_E2E_IMAGES; do
    n=0
    for i in "${IMAGES[@]}"; do
      b=${i##*/}
      [ "${b%%:*}" = "$w" ] && { wanted+=("$i"); n=$((n + 1)); }
    done
    [ $n -gt 0 ] || die "KINDA_E2E_IMAGES: no test image named '$w' (built: $(tr '\n' ' ' <"$E2E_DIR/images"))"
  done
  IMAGES=("${wanted[@]}")
fi

# ---- the cluster -------------------------------------------------------------------------------
down() {
  [ "${KINDA_E2E_KEEP:-}" = 1 ] && { log "leaving $NAME up (KINDA_E2E_KEEP=1)"; return 0; }
  log "taking $NAME down"
  if [[ "$TOPOLOGY" == kind* ]]; then "$BIN/kind" delete cluster --name "$NAME" >/dev/null 2>&1 || true
  else kinda down "$NAME" >/dev/null || log "kinda down $NAME failed: run it again"; fi
}
trap down EXIT
t=$(date +%s)
IMAGE_MAP=(--image-map kathara/frr=kinda-test/kathara-frr:latest --image-map kathara/base=kinda-test/kathara-base:latest)
case "$TOPOLOGY" in
  tree) kinda up "$REPO/test/k8s/conformance/tree.yaml" --name "$NAME" --node-image "$NODE_IMAGE" "${IMAGE_MAP[@]}" >&2 ;;
  tree-vxlan) kinda up "$REPO/test/k8s/conformance/tree.yaml" --name "$NAME" --node-image "$NODE_IMAGE" --encapsulation vxlan "${IMAGE_MAP[@]}" >&2 ;;
  small) kinda up "$REPO/test/k8s/conformance/tree-small.yaml" --name "$NAME" --node-image "$NODE_IMAGE" "${IMAGE_MAP[@]}" >&2 ;;
  small-vxlan) kinda up "$REPO/test/k8s/conformance/tree-small.yaml" --name "$NAME" --node-image "$NODE_IMAGE" --encapsulation vxlan "${IMAGE_MAP[@]}" >&2 ;;
  fat-tree)
    [ "$NAME" = e2e-fat-tree ] || die "the fat tree's cluster is named e2e-fat-tree (test/k8s/conformance/fat-tree.ts): unset KINDA_E2E_NAME"
    kinda up "$REPO/test/k8s/conformance/fat-tree.ts" --name "$NAME" --node-image "$NODE_IMAGE" "${IMAGE_MAP[@]}" >&2 ;;
  kind*)
    workers=3; [ "$TOPOLOGY" = kind ] || workers=${TOPOLOGY#kind:}
    bash "$K8S_HERE/create-cluster.sh" "$NAME" "$workers" >/dev/null ;;
esac
"$BIN/kind" get kubeconfig --name "$NAME" >"$KCFG"
k wait --for=condition=Ready nodes --all --timeout=300s >/dev/null || { k get nodes -o wide >&2; die "nodes of $NAME not Ready"; }
UP_S=$(since "$t")
log "$NAME up in $UP_S s: $(k get nodes --no-headers | wc -l) nodes"
k get nodes -o wide >"$RESULTS/nodes.txt"

# no registry: the test images go into the containerd of every node the tests' pods can run on
# (not a control plane tainted NoSchedule: loading is most of the set-up time), under their names
t=$(date +%s)
mapfile -t TARGETS < <(k get nodes -o json | jq -r '.items[] | select([.spec.taints // [] | .[] | select(.effect == "NoSchedule")] | length == 0) | .metadata.name')
[ ${#TARGETS[@]} -gt 0 ] || die "no node of $NAME takes pods (all tainted NoSchedule)"
"$BIN/kind" load docker-image --name "$NAME" --nodes "$(IFS=,; echo "${TARGETS[*]}")" "${IMAGES[@]}" >"$RESULTS/kind-load.log" 2>&1 ||
  { cat "$RESULTS/kind-load.log" >&2; die "kind load docker-image failed"; }
log "loaded ${#IMAGES[@]} test images into ${#TARGETS[@]} nodes (${TARGETS[*]}) in $(since "$t") s"
k -n kube-system wait --for=condition=Ready pods --all --timeout=300s >/dev/null || { k -n kube-system get pods -o wide >&2; die "kube-system pods not Ready"; }

# ---- the suite -----------------------------------------------------------------------------------
# e2e.test runs kubectl itself (exec into test pods): the one built with the node image.
# --num-nodes: e2e.test counts the schedulable nodes only in ginkgo process 1 (its
# SynchronizedBeforeSuite); processes 2.. keep -1 and skip every test that asks for at least 2
# nodes ("Requires at least 2 nodes (not -1)": the granular Services checks), so it is given here.
export PATH="$KDIR:$PATH"
t=$(date +%s)
log "running e2e.test: focus '$FOCUS'${SKIP:+ skip '$SKIP'}, $NODES ginkgo processes (log $RESULTS/e2e.log)"
rc=0
"$E2E_DIR/ginkgo" --nodes="$NODES" --timeout=4h --no-color --silence-skips --focus="$FOCUS" ${SKIP:+--skip="$SKIP"} \
  "$E2E_DIR/e2e.test" -- --provider=skeleton --kubeconfig="$KCFG" --report-dir="$RESULTS" \
  --allowed-not-ready-nodes=0 --num-nodes="${#TARGETS[@]}" >"$RESULTS/e2e.log" 2>&1 || rc=$?
RUN_S=$(since "$t")

# ---- the numbers, from the JUnit report (each testcase has status="passed|failed|skipped|...") ---
junit=$RESULTS/junit_01.xml
[ -f "$junit" ] || { tail -40 "$RESULTS/e2e.log" >&2; die "no JUnit report in $RESULTS (ginkgo exit $rc)"; }
# only the specs ([It] ...), not the suite's set-up nodes that ginkgo reports as testcases too
count() { grep -c "<testcase name=\"\[It\] [^>]*status=\"$1\"" "$junit" || true; }
passed=$(count passed)
failed=$(($(count failed) + $(count panicked) + $(count timedout) + $(count interrupted) + $(count aborted)))
# specs the focus selected that skipped themselves (e2eskipper: the cluster lacks what they need,
# e.g. zones or a second node of some kind); ginkgo writes "skipped - REASON" for those and a bare
# "skipped" for the ones the focus and skip left out
self_skipped() {
  awk '/<testcase name="\[It\] /{ match($0, /name="[^"]*"/); n = substr($0, RSTART + 11, RLENGTH - 12) }
       /<skipped message="skipped - /{ match($0, /message="skipped - [^"]*"/); print "  skipped: " n " (" substr(substr($0, RSTART + 19, RLENGTH - 20), 1, 160) ")" }' "$junit"
}
unescape() { sed 's/&#39;/'"'"'/g; s/&quot;/"/g; s/&#xA;/ /g; s/&amp;/\&/g; s/&lt;/</g; s/&gt;/>/g'; }
skipped=$(self_skipped | wc -l)
{
  echo "topology $TOPOLOGY ($NAME): passed $passed failed $failed skipped $skipped (ginkgo exit $rc); e2e run ${RUN_S} s, cluster up ${UP_S} s, total $(since "$T0") s"
  { grep -E "<testcase [^>]*status=\"(failed|panicked|timedout|interrupted|aborted)\"" "$junit" || true; } |
    sed -E 's/.*<testcase name="([^"]*)".*status="([a-z]+)".*/  \2: \1/' | unescape |
    sed -E 's/^  ([a-z]+): \[It\] /  \1: /'
  self_skipped | unescape
  echo "report: $junit   log: $RESULTS/e2e.log"
} | tee "$RESULTS/summary.txt"
[ "$rc" = 0 ] && [ "$failed" = 0 ] && [ "$passed" -gt 0 ]

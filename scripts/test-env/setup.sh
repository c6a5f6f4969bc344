#!/usr/bin/env bash
# Test-environment set-up for kinda (test infrastructure, not product code).
#
# Makes a fresh Debian/Ubuntu machine ready for kinda's integration tests, bench and demo:
#   1. host tools: every program kinda runs (iproute2, procps, util-linux, ethtool, iptables, conntrack:
#      what `kinda doctor` checks), the Docker engine from Debian's docker.io, debootstrap, ping, iperf3, ...
#   2. a running Docker engine (started in the background when none answers; there is no systemd here)
#   3. the stand-in images for kathara/base and kathara/frr, built from Debian packages, and a tiny
#      pod image (a static busybox) that the real-Kind tests load into every Kind node
#   4. the privileged-container work-around, applied only when a privileged container really fails
# Idempotent; prints nothing but a final "ready" line when all is in place. Run as root.
set -euo pipefail

DOCKER=/usr/bin/docker                      # Debian's client; another may sit earlier on PATH
SOCK=/var/run/docker.sock
CACHE=${KINDA_TEST_CACHE:-/var/cache/kinda-test}
BASE_IMAGE=${KINDA_TEST_BASE_IMAGE:-kinda-test/kathara-base:latest}
FRR_IMAGE=${KINDA_TEST_FRR_IMAGE:-kinda-test/kathara-frr:latest}
OVS_IMAGE=${KINDA_TEST_OVS_IMAGE:-kinda-test/kathara-sdn:latest}
P4_IMAGE=${KINDA_TEST_P4_IMAGE:-kinda-test/p4-standin:latest}
POD_IMAGE=${KINDA_TEST_POD_IMAGE:-kinda-test/pod:latest}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
log() { printf 'test-env: %s\n' "$*" >&2; }
die() { printf 'test-env: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts the Docker engine)"

# ---- 1. host packages -----------------------------------------------------------------------
need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x "$DOCKER" ] || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
# every host program kinda runs (src/core/host.ts, `kinda doctor`), by its Debian package
for pair in ip:iproute2 bridge:iproute2 tc:iproute2 ss:iproute2 sysctl:procps nsenter:util-linux ethtool:ethtool \
  iptables:iptables iptables-restore:iptables iptables-save:iptables conntrack:conntrack \
  nft:nftables unshare:util-linux tcpdump:tcpdump; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
command -v ping >/dev/null || need+=(iputils-ping)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
# the browser test of `kinda ui` (test/integration/ui.test.ts) drives Debian's Chromium with puppeteer-core
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  log "installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq "${need[@]}" >/dev/null || die "apt-get install ${need[*]} failed"
fi

# ---- 2. Docker engine -----------------------------------------------------------------------
# one set-up at a time: test files call this script on their own, and two at once raced here
# (one stopping the engine to remake docker0 while another started it: "pid file found", no engine)
mkdir -p /run/lock
exec 9>/run/lock/kinda-test-env.lock
flock 9
engine_up() { curl -fsS --max-time 3 --unix-socket "$SOCK" http://localhost/_ping >/dev/null 2>&1; }
start_engine() {
  log "starting dockerd (log: /var/log/kinda-test-dockerd.log)"
  # a pid file left by an engine that died without cleaning up makes dockerd refuse to start
  local old
  old=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [ -n "$old" ] && ! grep -qs '^dockerd$' "/proc/$old/comm"; then rm -f /var/run/docker.pid; fi
  # 9>&-: the engine must not inherit (and hold for ever) the set-up lock
  nohup dockerd >>/var/log/kinda-test-dockerd.log 2>&1 </dev/null 9>&- &
  for _ in $(seq 1 60); do engine_up && return 0; sleep 0.5; done
  tail -20 /var/log/kinda-test-dockerd.log >&2 || true
  die "dockerd did not answer on $SOCK within 30 s"
}
stop_engine() {
  local pid
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  [ -n "$pid" ] || pid=$(pgrep -x dockerd || true)
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  die "dockerd (pid $pid) did not stop"
}
engine_up || start_engine
# the default bridge: when docker0 is deleted while dockerd runs (seen on this machine mid-session),
# every container create fails with "could not find bridge docker0"; dockerd makes it again at start
bridge_name=$($DOCKER network inspect bridge -f '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || true)
[ -n "$bridge_name" ] || { $DOCKER network inspect bridge >/dev/null 2>&1 && bridge_name=docker0; }
if [ -n "$bridge_name" ] && [ ! -e "/sys/class/net/$bridge_name" ]; then
  log "the engine's default bridge $bridge_name is gone: restarting dockerd to make it again"
  stop_engine
  start_engine
  [ -e "/sys/class/net/$bridge_name" ] || die "dockerd restarted but $bridge_name is still missing (see /var/log/kinda-test-dockerd.log)"
fi

# ---- 3. stand-in images ---------------------------------------------------------------------
# shellcheck source=../lib/debian.sh
source "$HERE/../lib/debian.sh"
BASE_PKGS=iproute2,iptables,iputils-ping,net-tools,bridge-utils,tcpdump,ethtool,procps,iperf3,curl,netcat-openbsd,traceroute,ca-certificates,less,nano
build_image() { # name extra-packages [file-to-install:guest-path ...]
  local image=$1 extra=$2 dir f
  shift 2
  # images with files of ours carry a hash of them: a changed stand-in script rebuilds the image
  local recipe=none
  if [ $# -gt 0 ]; then
    recipe=$( { echo "$extra $*"; for f in "$@"; do cat "$HERE/${f%%:*}"; done; } | sha256sum | cut -c1-16)
    [ "$($DOCKER image inspect -f '{{index .Config.Labels "kinda.test.recipe"}}' "$image" 2>/dev/null)" = "$recipe" ] && return 0
  else
    $DOCKER image inspect "$image" >/dev/null 2>&1 && return 0
  fi
  dir=$CACHE/rootfs-$(echo "$image" | tr '/:' '__')
  rm -rf "$dir"; mkdir -p "$dir"
  log "building $image from Debian packages (debootstrap, about a minute)"
  debootstrap --variant=minbase --include="$BASE_PKGS${extra:+,$extra}" bookworm "$dir" "$(debian_mirror)" \
    >"$dir.log" 2>&1 || { tail -20 "$dir.log" >&2; die "debootstrap for $image failed (log: $dir.log)"; }
  install -m 0755 "$HERE/systemctl" "$dir/usr/local/bin/systemctl"
  install -m 0755 "$HERE/systemctl" "$dir/bin/systemctl"
  # FRR: keep the per-daemon files a lab ships authoritative (no integrated config)
  rm -f "$dir/etc/frr/frr.conf" "$dir/etc/frr/vtysh.conf"
  for f in "$@"; do install -D -m 0755 "$HERE/${f%%:*}" "$dir/${f#*:}"; done
  rm -rf "$dir/var/lib/apt/lists/"* "$dir/var/cache/apt/"*.bin
  tar -C "$dir" -c . | $DOCKER import -c 'CMD ["/bin/bash"]' -c "LABEL kinda.test.recipe=$recipe" - "$image" >/dev/null \
    || die "docker import of $image failed"
  rm -rf "$dir" "$dir.log"
}
# The real-Kind tests' pod image: only Debian's static busybox and the applets their pods run
# (ping, traceroute, nc, ...). `kind load` copies a pod image into every node; kathara-base
# (~190 MB) took 18 minutes for 41 nodes on 2 cores, this one is ~2 MB.
POD_APPLETS="sh ping traceroute sleep nc ip timeout wc dd cat"
build_pod_image() { # name
  local image=$1 dir recipe
  recipe=$(echo "busybox-static $POD_APPLETS" | sha256sum | cut -c1-16)
  [ "$($DOCKER image inspect -f '{{index .Config.Labels "kinda.test.recipe"}}' "$image" 2>/dev/null)" = "$recipe" ] && return 0
  dir=$CACHE/rootfs-$(echo "$image" | tr '/:' '__')
  rm -rf "$dir"; mkdir -p "$dir/deb" "$dir/root/bin"
  log "building $image from Debian's busybox-static"
  # apt-get download writes into the current directory, from the sources apt already uses
  (cd "$dir/deb" && { apt-get download -qq busybox-static || { apt-get update -qq && apt-get download -qq busybox-static; }; }) \
    >"$dir.log" 2>&1 || { tail -20 "$dir.log" >&2; die "could not download busybox-static (log: $dir.log)"; }
  dpkg-deb -x "$dir"/deb/busybox-static_*.deb "$dir/deb/x" || die "could not unpack busybox-static"
  install -m 0755 "$dir/deb/x/bin/busybox" "$dir/root/bin/busybox"
  for a in $POD_APPLETS; do ln -s busybox "$dir/root/bin/$a"; done
  tar -C "$dir/root" -c . | $DOCKER import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' -c "LABEL kinda.test.recipe=$recipe" - "$image" >/dev/null \
    || die "docker import of $image failed"
  rm -rf "$dir" "$dir.log"
}
mkdir -p "$CACHE"
build_pod_image "$POD_IMAGE"
build_image "$BASE_IMAGE" "" &
p1=$!
build_image "$FRR_IMAGE" "frr" &
p2=$!
wait $p1 || die "could not build $BASE_IMAGE"
wait $p2 || die "could not build $FRR_IMAGE"
# Open vSwitch (the seed's kathara/sdn): Debian's openvswitch-switch, userspace datapath only here
build_image "$OVS_IMAGE" "openvswitch-switch" &
p3=$!
# NOT BMv2: a stand-in for kathara/p4 (no registry here carries BMv2 or p4c). Its simple_switch*,
# simple_switch_CLI and p4c are honest fakes (p4-standin/): they record what kinda passes and
# join the switch's ports with tc mirred so traffic flows; they run no P4 program. Given IPv4 LPM
# entries, the CLI stand-in starts lpm_forward, the example program's forwarding by hand.
build_image "$P4_IMAGE" "python3" \
  p4-standin/simple_switch_grpc:usr/local/bin/simple_switch_grpc \
  p4-standin/simple_switch_grpc:usr/local/bin/simple_switch \
  p4-standin/simple_switch_CLI:usr/local/bin/simple_switch_CLI \
  p4-standin/lpm_forward:usr/local/bin/lpm_forward \
  p4-standin/p4c:usr/local/bin/p4c &
p4=$!
wait $p3 || die "could not build $OVS_IMAGE"
wait $p4 || die "could not build $P4_IMAGE"

# ---- 4. privileged containers: detect, then work around only when needed ---------------------
priv_ok() {
  local name=kinda-test-privcheck-$$
  $DOCKER rm -f "$name" >/dev/null 2>&1 || true
  $DOCKER run -d --name "$name" --privileged --network none "$BASE_IMAGE" sleep 30 >/dev/null 2>"$CACHE/privcheck.err" \
    && $DOCKER exec "$name" true 2>>"$CACHE/privcheck.err"
  local rc=$?
  $DOCKER rm -f "$name" >/dev/null 2>&1 || true
  return $rc
}
# keep an installed wrapper current (a newer checkout may carry a fixed one)
if [ -f /usr/local/lib/kinda-test/runc-drop-sys-resource ] && ! cmp -s "$HERE/runc-drop-sys-resource" /usr/local/lib/kinda-test/runc-drop-sys-resource; then
  install -m 0755 "$HERE/runc-drop-sys-resource" /usr/local/lib/kinda-test/runc-drop-sys-resource
fi
if ! priv_ok; then
  if grep -q 'unable to apply caps' "$CACHE/privcheck.err"; then
    log "privileged containers fail here (capability missing from the bounding set): installing the runc wrapper"
    install -D -m 0755 "$HERE/runc-drop-sys-resource" /usr/local/lib/kinda-test/runc-drop-sys-resource
    mkdir -p /etc/docker
    cur='{}'; [ -s /etc/docker/daemon.json ] && cur=$(cat /etc/docker/daemon.json)
    echo "$cur" | jq '.runtimes["kinda-test-runc"] = {"path": "/usr/local/lib/kinda-test/runc-drop-sys-resource"} | .["default-runtime"] = "kinda-test-runc"' \
      >/etc/docker/daemon.json.new && mv /etc/docker/daemon.json.new /etc/docker/daemon.json
    stop_engine; start_engine
    priv_ok || { cat "$CACHE/privcheck.err" >&2; die "privileged containers still fail after the work-around"; }
  else
    cat "$CACHE/privcheck.err" >&2
    die "privileged container check failed for another reason (above)"
  fi
fi
log "ready (engine on $SOCK; images $BASE_IMAGE, $FRR_IMAGE, $OVS_IMAGE, $P4_IMAGE, $POD_IMAGE)"

#!/usr/bin/env bash
# The main job on a fresh Debian/Ubuntu machine, as root: set up, deploy an example lab
# (examples/labs/two-routers, or the lab directory given as $1), show its status and how to use it, and how to remove it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/demo.sh: run as root (kinda creates namespaces, links and containers)" >&2; exit 1; }
[ -d node_modules ] && [ -f dist/src/cli/main.js ] || npm ci --no-audit --no-fund --loglevel=error
bash scripts/test-env/setup.sh
LAB=${1:-examples/labs/two-routers}
kinda() { node dist/src/cli/main.js "$@"; }
kinda down demo >/dev/null 2>&1 || true
kinda up "$LAB" --name demo \
  --image-map kathara/base=kinda-test/kathara-base:latest \
  --image-map kathara/frr=kinda-test/kathara-frr:latest
kinda status demo
cat <<'TXT'

The lab "demo" is up. From this folder (or anywhere after `npm link`):
  npx kinda status demo                              devices, interfaces, start-up results
  npx kinda h1 ping -c3 10.2.0.10                    a command in a device: h1 reaches h2 via r1, r2
  npx kinda h1 traceroute -n 10.2.0.10               the path it takes
  npx kinda --lab demo r1                            an interactive shell on r1
  npx kinda down demo                                remove everything the lab created
TXT

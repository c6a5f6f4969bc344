#!/usr/bin/env bash
# Runs every test of kinda on a fresh Debian/Ubuntu machine, as root:
#   npm ci (which builds), lint + typecheck, unit tests (no root needed), a minute of fuzzing,
#   test-env set-up (Docker engine, stand-in images), integration tests (real Docker, real kernel;
#   the project's own labs), the k=4 fat tree cut cable by cable, the Kathara-Labs conformance
#   suite when its labs are there (one line saying it did not run otherwise; a failure under
#   CI=true),
#   then real Kubernetes: Kind with a node image built here offline (scripts/k8s/, cached under
#   /var/cache/kinda-k8s: about 20 minutes the first time, seconds after) and kinda attaching it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" = 0 ] || { echo "scripts/test.sh: run as root (the integration tests create namespaces, links and containers)" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }
step "dependencies (npm ci; builds dist/)"
npm ci --no-audit --no-fund --loglevel=error
step "lint, format, types"
npm run -s lint
npm run -s typecheck
step "unit tests"
npm run -s test:unit
step "fuzzing the lab.conf, lab.dep and YAML parsers (KINDA_FUZZ_SECONDS, default 60)"
npm run -s test:fuzz
step "test environment (Docker engine, stand-in images)"
bash scripts/test-env/setup.sh
step "integration tests (real Docker engine, real kernel)"
KINDA_SKIP_SETUP=1 npm run -s test:integration
# The k=4 fat tree (36 devices), one cable cut at a time, every host pair checked after each cut
# (issue 22). The full form, every one of its 32 cables under static, OSPF and BGP, is
# `KINDA_ROUTING_MODES=static,ospf,bgp npm run test:routing:fat-tree`: too long for CI. Measured
# on the shared 2-core machine at load 40-125 (2026-12-07 14:53-15:23): OSPF 8 cuts 221 s, BGP
# 8 cuts 401 s, static 32 cuts 1129 s; the full form there would be about 58 min (OSPF ~14, BGP
# ~26, static ~19: per-cut times x 32, not run whole). This CI form (every cable under static,
# pod 1's 8 cables, its 4 edge and 4 core cables, under OSPF and BGP) took 29 min there; on an
# idle machine expect roughly a third to a half of that.
step "the k=4 fat tree, one cable cut at a time (static: all 32 cables; OSPF, BGP: pod 1's 8)"
KINDA_SKIP_SETUP=1 KINDA_ROUTING_MODES=static npm run -s test:routing:fat-tree
KINDA_SKIP_SETUP=1 KINDA_ROUTING_MODES=ospf,bgp KINDA_FATTREE_CABLES='agg1_|edge1_' npm run -s test:routing:fat-tree
step "soak, short form (3 cycles of up, exec, cut/shape/restore, capture, restart, down; 2 with a fixture cluster; about 40 s): nothing may grow"
KINDA_SKIP_SETUP=1 npm run -s soak -- --cycles 3 --cluster-every 3
step "the package outside the repository (npm pack, installed into an empty folder and globally; about a minute)"
KINDA_SKIP_SETUP=1 npm run -s test:pack
step "Kathara-Labs conformance suite (labs from KINDA_CONFORMANCE_DIR, default ../shared/conformance/kathara-labs)"
KINDA_SKIP_SETUP=1 npm run -s test:conformance
step "real Kubernetes: Kind with the offline node image, attached by kinda (first run builds the image: ~20 min)"
KINDA_SKIP_SETUP=1 npm run -s test:k8s

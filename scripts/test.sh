#!/usr/bin/env bash
# Runs every test of kinda on a fresh Debian/Ubuntu machine, as root:
#   npm ci (which builds), lint + typecheck, unit tests (no root needed), a minute of fuzzing,
#   test-env set-up (Docker engine, stand-in images), integration tests (real Docker, real kernel;
#   the project's own labs), the Kathara-Labs conformance suite when its labs are there (one line
#   saying it did not run otherwise; a failure under CI=true),
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
step "soak, short form (3 cycles of up, exec, cut/shape/restore, capture, restart, down; 2 with a fixture cluster; about 40 s): nothing may grow"
KINDA_SKIP_SETUP=1 npm run -s soak -- --cycles 3 --cluster-every 3
step "Kathara-Labs conformance suite (labs from KINDA_CONFORMANCE_DIR, default ../shared/conformance/kathara-labs)"
KINDA_SKIP_SETUP=1 npm run -s test:conformance
step "real Kubernetes: Kind with the offline node image, attached by kinda (first run builds the image: ~20 min)"
KINDA_SKIP_SETUP=1 npm run -s test:k8s

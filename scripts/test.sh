#!/usr/bin/env bash
# Runs every test of kinda on a fresh Debian/Ubuntu machine, as root:
#   npm ci (which builds), lint + typecheck, unit tests (no root needed),
#   test-env set-up (Docker engine, stand-in images), integration tests (real Docker, real kernel).
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
step "test environment (Docker engine, stand-in images)"
bash scripts/test-env/setup.sh
step "integration tests (real Docker engine, real kernel)"
KINDA_SKIP_SETUP=1 npm run -s test:integration

#!/usr/bin/env bash
# Makes the pictures the docs show, from the topologies they describe (no lab is deployed):
#   docs/img/tree.svg   the seed's tree, examples/tree.yaml, as `kinda graph` draws it
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -f dist/src/cli/main.js ] || npm run -s build
node dist/src/cli/main.js graph examples/tree.yaml -f svg -o docs/img/tree.svg

#!/bin/bash
# Test set-up only (the bench's containerlab peer, KINDA_BENCH_PEERS=containerlab): builds
# containerlab with Go from its module and puts it at /usr/local/bin/containerlab. kinda never
# runs it. Prebuilt downloads do not work on machines that reach package registries only; the Go
# module proxy serves the module's source. `go install ...@VERSION` fails there (it asks for the
# module's version list to check deprecation, which the proxy refuses), so the module is
# downloaded and built in place. Needs Go >= the module's go line (1.26 for v0.79.0).
set -euo pipefail
VERSION=${CONTAINERLAB_VERSION:-v0.79.0}
if command -v containerlab >/dev/null && containerlab version 2>/dev/null | grep -q "version: ${VERSION#v}"; then
  echo "containerlab ${VERSION} is installed"
  exit 0
fi
command -v go >/dev/null || { echo "install-containerlab: needs Go (apt-get install golang-go, or a newer Go)" >&2; exit 1; }
dir=$(go mod download -json "github.com/srl-labs/containerlab@${VERSION}" | jq -r .Dir)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "-X github.com/srl-labs/containerlab/cmd.Version=${VERSION#v}" -o "$out/containerlab" .)
install -m 0755 "$out/containerlab" /usr/local/bin/containerlab
echo "containerlab ${VERSION} installed at /usr/local/bin/containerlab"

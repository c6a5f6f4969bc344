#!/bin/bash
# Test set-up only (the bench's containerlab peer, KINDA_BENCH_PEERS=containerlab): builds
# containerlab with Go from its module and puts it at /usr/local/bin/containerlab. kinda never
# runs it. Prebuilt downloads do not work on machines that reach package registries only; the Go
# module proxy serves the module's source. `go install ...@VERSION` fails there (it asks for the
# module's version list to check deprecation, which the proxy refuses), so the module is
# downloaded and built from a copy. Needs Go >= the module's go line (1.26 for v0.79.0).
#
# One change to its source, for kernels without loadable module support (this machine's): there
# /proc/modules does not exist and containerlab v0.79 stops before creating anything ("Open
# /proc/modules: no such file or directory") while checking that ip_tables is available. The
# copy treats a missing /proc/modules as "built in", which is what containerlab's own module
# loader assumes on such kernels (core/config.go loadKernelModules). Nothing on its deploy path
# changes.
set -euo pipefail
VERSION=${CONTAINERLAB_VERSION:-v0.79.0}
if command -v containerlab >/dev/null && containerlab version 2>/dev/null | grep -q "version: ${VERSION#v}\$"; then
  echo "containerlab ${VERSION} is installed"
  exit 0
fi
command -v go >/dev/null || {
  echo "install-containerlab: needs Go (apt-get install golang-go, or a newer Go)" >&2
  exit 1
}
src=$(go mod download -json "github.com/srl-labs/containerlab@${VERSION}" | jq -r .Dir)
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
f="$work/utils/kernel_module.go"
grep -q 'f, err := os.Open("/proc/modules")' "$f" || {
  echo "install-containerlab: $VERSION's utils/kernel_module.go is not the one this script knows" >&2
  exit 1
}
# after the Open of /proc/modules: no such file -> no module support -> built in
sed -i '/f, err := os.Open("\/proc\/modules")/{n;s/if err != nil {/if os.IsNotExist(err) {\n\t\treturn true, nil\n\t}\n\tif err != nil {/}' "$f"
(cd "$work" && CGO_ENABLED=0 go build -trimpath -ldflags "-X github.com/srl-labs/containerlab/cmd.Version=${VERSION#v}" -o "$work/containerlab" .)
install -m 0755 "$work/containerlab" /usr/local/bin/containerlab
echo "containerlab ${VERSION} installed at /usr/local/bin/containerlab"

#!/usr/bin/env bash
# Builds Kubernetes' own end-to-end test suite for K8S_VERSION, and the test images its
# [sig-network] tests run, offline (Go module proxy and Debian packages only; issue 23):
#   suite   e2e.test (`go test -c k8s.io/kubernetes/test/e2e`), agnhost (test/images/agnhost)
#   ginkgo  the ginkgo CLI at the version k8s.io/kubernetes' go.mod requires (parallel runs)
#   images  agnhost, jessie-dnsutils, nginx, busybox, tagged with exactly the names e2e.test asks
#           for (`e2e.test --list-images`): one Debian root with the tools the tests exec
#           (dig, curl, wget, nc, ip, iperf, bash, nginx), a static busybox root for busybox
# Usage: build-e2e.sh [COMPONENT...]   (default: suite ginkgo images; each skipped when up to date)
# Output: $KINDA_K8S_CACHE/out/e2e-<version>/{e2e.test,agnhost,ginkgo}; the images in Docker.
# The suite shares Go's build cache with build-binaries.sh (same flags and tags), so build the
# Kubernetes binaries first: most of the packages e2e.test links are then compiled already.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

E2E_DIR=$OUT/e2e-$K8S_VERSION
E2E_BASE_IMAGE=kinda-k8s/e2e-base:$DEBIAN_SUITE
E2E_BASE_PKGS=bash,bind9-dnsutils,curl,wget,netcat-openbsd,iproute2,iputils-ping,iperf,procps,nginx-light,ca-certificates
# slim_image (lib.sh) builds the test images FROM this root
SLIM_IMAGE=$E2E_BASE_IMAGE

# ---- the suite: compiled in the Kubernetes binaries' wrapper module (build-binaries.sh writes it:
# k8s.io/kubernetes required, its staging modules replaced by their published twins), with the same
# tags, -trimpath and version stamp, so Go's build cache already holds most of what it links
build_suite() {
  local v=$K8S_VERSION src=$CACHE/src/kubernetes-$K8S_VERSION key
  key=$(inputs_hash "$v" "$(go version)" "$(declare -f build_suite)")
  if stamp_ok "$E2E_DIR/.stamp-suite" "$key"; then log "e2e suite $v: up to date ($E2E_DIR)"; return 0; fi
  [ -f "$src/go.mod" ] || die "no $src/go.mod (build-binaries.sh kubernetes writes it when it builds): remove $OUT/kubernetes-$v/.stamp and run build-binaries.sh kubernetes"
  local kmod major minor patch built ld="" kv pkg
  kmod=$(cd "$CACHE" && go mod download -json "k8s.io/kubernetes@$v")
  IFS=. read -r major minor patch <<<"${v#v}"
  built=$(jq -r .Time "$(echo "$kmod" | jq -r .Info)")
  for kv in "gitVersion=$v" "gitMajor=$major" "gitMinor=$minor" "buildDate=$built" "gitTreeState=clean"; do
    for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do ld+=" -X '$pkg.${kv%%=*}=${kv#*=}'"; done
  done
  log "e2e suite $v: building e2e.test and agnhost (log $LOGS/build-e2e.log; cold: tens of minutes on 2 cores)"
  mkdir -p "$E2E_DIR"
  (cd "$src" && go test -c -mod=mod -trimpath -tags selinux,notest,grpcnotrace -ldflags "all=$ld -s -w" \
    -o "$E2E_DIR/e2e.test.tmp" k8s.io/kubernetes/test/e2e &&
    go build -mod=mod -trimpath -tags selinux,notest,grpcnotrace -ldflags "-s -w" \
      -o "$E2E_DIR/agnhost.tmp" k8s.io/kubernetes/test/images/agnhost) >"$LOGS/build-e2e.log" 2>&1 ||
    { tail -30 "$LOGS/build-e2e.log" >&2; die "e2e build failed (log $LOGS/build-e2e.log)"; }
  mv "$E2E_DIR/e2e.test.tmp" "$E2E_DIR/e2e.test"; mv "$E2E_DIR/agnhost.tmp" "$E2E_DIR/agnhost"
  "$E2E_DIR/e2e.test" --list-images >/dev/null 2>&1 || die "$E2E_DIR/e2e.test --list-images failed"
  echo "$key" >"$E2E_DIR/.stamp-suite"
  log "e2e suite $v: done"
}

# ---- ginkgo: the CLI version must match the library e2e.test links ---------------------------
build_ginkgo() {
  local gomod gv key
  gomod=$(cd "$CACHE" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | jq -r .GoMod)
  gv=$(awk '$1 == "github.com/onsi/ginkgo/v2" {print $2; exit}' "$gomod")
  [ -n "$gv" ] || die "no github.com/onsi/ginkgo/v2 in $gomod"
  key=$(inputs_hash "$gv" "$(go version)" "$(declare -f build_ginkgo)")
  if stamp_ok "$E2E_DIR/.stamp-ginkgo" "$key"; then log "ginkgo $gv: up to date"; return 0; fi
  log "ginkgo $gv: go install"
  mkdir -p "$E2E_DIR"
  (cd "$CACHE" && GOBIN="$E2E_DIR" go install -trimpath -ldflags "-s -w" "github.com/onsi/ginkgo/v2/ginkgo@$gv") \
    >"$LOGS/build-ginkgo.log" 2>&1 || { tail -30 "$LOGS/build-ginkgo.log" >&2; die "ginkgo build failed"; }
  echo "$key" >"$E2E_DIR/.stamp-ginkgo"
}

# ---- images -----------------------------------------------------------------------------------
# one Debian root with the programs the sig-network tests exec in agnhost and jessie-dnsutils pods
# (wget: the Services tests' exec pods run `wget -q -O - -T 1`; upstream's agnhost has busybox's from
# its Alpine base, whose Debian twin busybox-static 1.35 segfaults on -T: GNU wget instead)
build_e2e_base() {
  local key rootfs
  key=$(inputs_hash "$DEBIAN_SUITE" "$E2E_BASE_PKGS" "$(declare -f build_e2e_base)")
  [ "$(image_key "$E2E_BASE_IMAGE")" = "$key" ] && return 0
  rootfs=$CACHE/rootfs/e2e-base
  rm -rf "$rootfs"; mkdir -p "$rootfs" "$CACHE/debs"
  log "Debian root for the e2e test images: debootstrap (log $LOGS/debootstrap-e2e-base.log)"
  debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$E2E_BASE_PKGS" "$DEBIAN_SUITE" "$rootfs" "$(debian_mirror)" \
    >"$LOGS/debootstrap-e2e-base.log" 2>&1 || { tail -20 "$LOGS/debootstrap-e2e-base.log" >&2; die "debootstrap failed"; }
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  rm -rf "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
  # nginx logs to the container's output, as the upstream image does
  ln -sf /dev/stdout "$rootfs/var/log/nginx/access.log"; ln -sf /dev/stderr "$rootfs/var/log/nginx/error.log"
  tar -C "$rootfs" -c . | $DOCKER import -c "$PATH_ENV" -c 'CMD ["/bin/bash"]' -c "LABEL kinda.k8s.inputs=$key" - "$E2E_BASE_IMAGE" >/dev/null ||
    die "docker import of $E2E_BASE_IMAGE failed"
  rm -rf "$rootfs"
  log "image $E2E_BASE_IMAGE"
}


# busybox: Debian's static busybox with every applet linked, nothing else (as the upstream image)
build_busybox() {
  local name=kinda-k8s/e2e-busybox:$DEBIAN_SUITE key dir
  key=$(inputs_hash busybox-static "$(declare -f build_busybox)")
  [ "$(image_key "$name")" = "$key" ] && return 0
  dir=$(mktemp -d "$CACHE/busybox.XXXXXX")
  (cd "$dir" && { apt-get download -qq busybox-static || { apt-get update -qq && apt-get download -qq busybox-static; }; }) >/dev/null 2>&1 ||
    die "could not download busybox-static"
  dpkg-deb -x "$dir"/busybox-static_*.deb "$dir/x" || die "could not unpack busybox-static"
  mkdir -p "$dir/root/bin" "$dir/root/etc" "$dir/root/tmp" "$dir/root/root"; chmod 1777 "$dir/root/tmp"
  install -m 0755 "$dir/x/bin/busybox" "$dir/root/bin/busybox"
  local a
  for a in $("$dir/root/bin/busybox" --list); do [ "$a" = busybox ] || ln -s busybox "$dir/root/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$dir/root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/root/etc/group"
  tar -C "$dir/root" --owner=0 --group=0 -c . | $DOCKER import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' -c "LABEL kinda.k8s.inputs=$key" - "$name" >/dev/null ||
    die "docker import of $name failed"
  rm -rf "$dir"
  log "image $name"
}

# the names e2e.test asks for (`--list-images`), one line each; E2E_IMAGES_NAMES after this
e2e_image_names() {
  [ -x "$E2E_DIR/e2e.test" ] || die "no $E2E_DIR/e2e.test: build the suite first (build-e2e.sh suite)"
  "$E2E_DIR/e2e.test" --list-images 2>/dev/null | sort -u
}

# e2e_image BASENAME: the full name(s) e2e.test uses for the promoted test image BASENAME, i.e. the
# entries of --list-images in the same repository as jessie-dnsutils (a name only e2e images have)
e2e_image() {
  local all repo
  all=$(e2e_image_names)
  repo=$(echo "$all" | grep -E '/jessie-dnsutils:' | head -1); repo=${repo%/*}
  [ -n "$repo" ] || die "e2e.test --list-images names no jessie-dnsutils image"
  echo "$all" | grep -E "^${repo//./\\.}/$1:" || die "e2e.test --list-images names no $1 image"
}

build_images() {
  build_e2e_base
  build_busybox
  local kdir c=$OUT/coredns-$COREDNS_VERSION
  kdir=$(gomod_dir "k8s.io/kubernetes@$K8S_VERSION")
  [ -x "$E2E_DIR/agnhost" ] || die "no $E2E_DIR/agnhost: build the suite first (build-e2e.sh suite)"
  [ -x "$c/coredns" ] || die "no $c/coredns: run build-binaries.sh coredns first"
  local tmp; tmp=$(mktemp -d "$CACHE/agn.XXXXXX")
  cp "$E2E_DIR/agnhost" "$c/coredns" "$kdir/test/images/agnhost/porter/localhost.crt" "$kdir/test/images/agnhost/porter/localhost.key" "$tmp/"
  chmod 0644 "$tmp/localhost.crt" "$tmp/localhost.key"
  # agnhost: the upstream image's layout (test/images/agnhost/Dockerfile): /agnhost, /agnhost-2,
  # /uploads, porter's certificate, CoreDNS, the user and group one test expects in the image
  slim_image kinda-k8s/e2e-agnhost:local 'COPY agnhost coredns localhost.crt localhost.key /
RUN ln -s agnhost /agnhost-2 && mkdir /uploads && groupadd -g 50000 group-defined-in-image && useradd -u 1000 -M -G group-defined-in-image user-defined-in-image
EXPOSE 80 8080 8081 9376 5000
ENTRYPOINT ["/agnhost"]
CMD ["pause"]' "$tmp/agnhost" "$tmp/coredns" "$tmp/localhost.crt" "$tmp/localhost.key"
  # jessie-dnsutils: dig and friends (and CoreDNS, as upstream's)
  slim_image kinda-k8s/e2e-dnsutils:local 'COPY coredns /coredns' "$tmp/coredns"
  # nginx: listens on 80 in the foreground
  slim_image kinda-k8s/e2e-nginx:local 'EXPOSE 80
CMD ["nginx", "-g", "daemon off;"]'
  rm -rf "$tmp"
  local n
  for n in $(e2e_image agnhost); do $DOCKER tag kinda-k8s/e2e-agnhost:local "$n"; done
  for n in $(e2e_image jessie-dnsutils); do $DOCKER tag kinda-k8s/e2e-dnsutils:local "$n"; done
  for n in $(e2e_image nginx); do $DOCKER tag kinda-k8s/e2e-nginx:local "$n"; done
  for n in $(e2e_image busybox); do $DOCKER tag "kinda-k8s/e2e-busybox:$DEBIAN_SUITE" "$n"; done
  e2e_loaded_images >"$E2E_DIR/images"
  log "e2e images: $(tr '\n' ' ' <"$E2E_DIR/images")"
}

# every name build_images tagged (what conformance.sh loads into the nodes)
e2e_loaded_images() { e2e_image agnhost; e2e_image jessie-dnsutils; e2e_image nginx; e2e_image busybox; }

# the base root needs no Go: `build-e2e.sh base` builds it alone (e.g. while Kubernetes builds)
build_base() { build_e2e_base; build_busybox; }

all=(suite ginkgo images)
[ $# -gt 0 ] || set -- "${all[@]}"
for c in "$@"; do
  declare -F "build_$c" >/dev/null || die "unknown component $c (known: ${all[*]} base)"
  timed "e2e:$c" "build_$c"
done

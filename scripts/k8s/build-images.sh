#!/usr/bin/env bash
# Builds every container image a Kind node needs inside its containerd, under the exact names that
# kubeadm (`kubeadm config images list`) and Kind's node-image build (its default CNI and storage
# manifests) ask for, from the binaries of build-binaries.sh:
#   registry.k8s.io/kube-{apiserver,controller-manager,scheduler}, etcd, coredns/coredns, pause
#       a single static binary each, on an otherwise empty root (as upstream's distroless images)
#   registry.k8s.io/kube-proxy, kindest/kindnetd, kindest/local-path-helper
#       on a slim Debian root (iptables, nftables, conntrack, ipset, iproute2, curl, jq)
#   kindest/local-path-provisioner   the static provisioner binary
# Then packs them, with kubeadm, kubelet and kubectl, into the release-style archive that
# `kind build node-image --type file` reads (kubernetes/version, kubernetes/server/bin/...).
# Prints the archive's path on stdout. Everything is skipped when up to date.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KDIR=$OUT/kubernetes-$K8S_VERSION
SLIM_IMAGE=kinda-k8s/slim:$DEBIAN_SUITE
SLIM_PKGS=iptables,nftables,conntrack,ipset,iproute2,kmod,curl,jq,ca-certificates
IMAGES_DIR=$K8S_HERE/images
[ -x "$KDIR/kubeadm" ] || die "no kubeadm in $KDIR: run build-binaries.sh first"

# ---- the names to build, from the tools that will ask for them --------------------------------
mapfile -t KUBEADM_IMAGES < <("$KDIR/kubeadm" config images list --kubernetes-version "$K8S_VERSION" 2>/dev/null)
[ ${#KUBEADM_IMAGES[@]} -ge 6 ] || die "kubeadm config images list gave: ${KUBEADM_IMAGES[*]}"
kubeadm_image() { printf '%s\n' "${KUBEADM_IMAGES[@]}" | grep -E "/$1:" | head -1; }
KIND_DIR=$(gomod_dir "sigs.k8s.io/kind@$KIND_VERSION")
kind_const() { sed -n -E "s/^const $1 = \"(.*)\"$/\1/p" "$KIND_DIR/pkg/build/nodeimage/$2" | head -1; }
IMG_APISERVER=$(kubeadm_image kube-apiserver)
IMG_CM=$(kubeadm_image kube-controller-manager)
IMG_SCHED=$(kubeadm_image kube-scheduler)
IMG_PROXY=$(kubeadm_image kube-proxy)
IMG_ETCD=$(kubeadm_image etcd)
IMG_COREDNS=$(kubeadm_image coredns)
IMG_PAUSE=$(kubeadm_image pause)
IMG_KINDNETD=$(kind_const kindnetdImage const_cni.go)
IMG_LPP=$(kind_const storageProvisionerImage const_storage.go)
IMG_LPH=$(kind_const storageHelperImage const_storage.go)
for v in IMG_APISERVER IMG_CM IMG_SCHED IMG_PROXY IMG_ETCD IMG_COREDNS IMG_PAUSE IMG_KINDNETD IMG_LPP IMG_LPH; do
  [ -n "${!v}" ] || die "could not determine the image name for $v"
done
# the versions we built must be the ones asked for
[ "${IMG_ETCD##*:}" = "${ETCD_VERSION#v}-$ETCD_IMAGE_REV" ] || die "kubeadm wants $IMG_ETCD, we build etcd $ETCD_VERSION"
[ "${IMG_COREDNS##*:}" = "$COREDNS_VERSION" ] || die "kubeadm wants $IMG_COREDNS, we build CoreDNS $COREDNS_VERSION"
[ "${IMG_PAUSE##*:}" = "$PAUSE_VERSION" ] || die "kubeadm wants $IMG_PAUSE, we build pause $PAUSE_VERSION"


# static_image NAME ENTRYPOINT-JSON SRC:DEST... : one binary (or a few) on an otherwise empty root
static_image() {
  local name=$1 entry=$2 key dir spec; shift 2
  key=$(inputs_hash "$name" "$entry" "$@" "$(for spec in "$@"; do sha256sum "${spec%%:*}"; done)" "$(declare -f static_image)")
  [ "$(image_key "$name")" = "$key" ] && return 0
  dir=$(mktemp -d "$CACHE/static.XXXXXX")
  mkdir -p "$dir/etc" "$dir/tmp" "$dir/var/run" "$dir/root"
  chmod 1777 "$dir/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  echo 'hosts: files dns' >"$dir/etc/nsswitch.conf"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"; fi
  for spec in "$@"; do install -D -m 0755 "${spec%%:*}" "$dir${spec#*:}"; done
  tar -C "$dir" --owner=0 --group=0 -c . | $DOCKER import -c "$PATH_ENV" -c "ENTRYPOINT $entry" \
    -c "LABEL kinda.k8s.inputs=$key" - "$name" >/dev/null || die "docker import of $name failed"
  rm -rf "$dir"
  log "image $name"
}


build_slim() {
  local key rootfs
  key=$(inputs_hash "$DEBIAN_SUITE" "$SLIM_PKGS" "$(declare -f build_slim)")
  [ "$(image_key "$SLIM_IMAGE")" = "$key" ] && return 0
  rootfs=$CACHE/rootfs/slim
  rm -rf "$rootfs"; mkdir -p "$rootfs" "$CACHE/debs"
  log "slim Debian root for kube-proxy, kindnetd, local-path-helper: debootstrap (log $LOGS/debootstrap-slim.log)"
  debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$SLIM_PKGS" "$DEBIAN_SUITE" "$rootfs" "$(debian_mirror)" \
    >"$LOGS/debootstrap-slim.log" 2>&1 || { tail -20 "$LOGS/debootstrap-slim.log" >&2; die "debootstrap failed"; }
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | $DOCKER import -c "$PATH_ENV" -c 'CMD ["/bin/bash"]' -c "LABEL kinda.k8s.inputs=$key" - "$SLIM_IMAGE" >/dev/null ||
    die "docker import of $SLIM_IMAGE failed"
  rm -rf "$rootfs"
  log "image $SLIM_IMAGE"
}

build_all_images() {
  build_slim
  local e=$OUT/etcd-$ETCD_VERSION c=$OUT/coredns-$COREDNS_VERSION p=$OUT/pause-$PAUSE_VERSION l=$OUT/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION
  static_image "$IMG_APISERVER" '["/usr/local/bin/kube-apiserver"]' "$KDIR/kube-apiserver:/usr/local/bin/kube-apiserver"
  static_image "$IMG_CM" '["/usr/local/bin/kube-controller-manager"]' "$KDIR/kube-controller-manager:/usr/local/bin/kube-controller-manager"
  static_image "$IMG_SCHED" '["/usr/local/bin/kube-scheduler"]' "$KDIR/kube-scheduler:/usr/local/bin/kube-scheduler"
  static_image "$IMG_ETCD" '["/usr/local/bin/etcd"]' "$e/etcd:/usr/local/bin/etcd" "$e/etcdctl:/usr/local/bin/etcdctl"
  static_image "$IMG_COREDNS" '["/coredns"]' "$c/coredns:/coredns"
  static_image "$IMG_PAUSE" '["/pause"]' "$p/pause:/pause"
  static_image "$IMG_LPP" '["/usr/local/bin/local-path-provisioner"]' "$l/local-path-provisioner:/usr/local/bin/local-path-provisioner"
  # kube-proxy runs iptables (or nft); the wrapper picks the node's iptables backend like upstream's image
  slim_image "$IMG_PROXY" 'COPY kube-proxy iptables-wrapper /usr/local/bin/
RUN for n in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do ln -sf /usr/local/bin/iptables-wrapper /usr/sbin/$n; done
ENTRYPOINT ["/usr/local/bin/kube-proxy"]' "$KDIR/kube-proxy" "$IMAGES_DIR/iptables-wrapper"
  slim_image "$IMG_KINDNETD" 'COPY kindnetd /bin/kindnetd
CMD ["/bin/kindnetd"]' "$IMAGES_DIR/kindnetd"
  slim_image "$IMG_LPH" 'CMD ["/bin/sh"]'
}

# save_archive OUT IMAGE... : `docker save`, repacked so that a `repositories` entry naming every
# image in full comes first. Kind's node-image build reads the first of `repositories` and
# `manifest.json` to learn which images an archive provides (and fetches the rest from a
# registry); from `manifest.json` it only takes the first image, so repositories it is.
save_archive() {
  local out=$1 tmp img; shift
  tmp=$(mktemp -d "$CACHE/save.XXXXXX")
  $DOCKER save "$@" | tar -C "$tmp" -x || die "docker save $* failed"
  for img in "$@"; do
    jq -n --arg r "${img%:*}" --arg t "${img##*:}" --arg id "$($DOCKER image inspect -f '{{.Id}}' "$img" | cut -d: -f2)" '{($r): {($t): $id}}'
  done | jq -s 'reduce .[] as $x ({}; . * $x)' >"$tmp/repositories"
  (cd "$tmp" && tar --owner=0 --group=0 -cf "$out.tmp" repositories manifest.json $(ls | grep -v -x -e repositories -e manifest.json)) &&
    mv "$out.tmp" "$out"
  rm -rf "$tmp"
}

build_release() {
  local rel=$CACHE/release/$K8S_VERSION tarball key ids
  tarball=$CACHE/release/kubernetes-server-$K8S_VERSION-kinda.tar.gz
  ids=$(for i in "$IMG_APISERVER" "$IMG_CM" "$IMG_SCHED" "$IMG_PROXY" "$IMG_ETCD" "$IMG_COREDNS" "$IMG_PAUSE" "$IMG_KINDNETD" "$IMG_LPP" "$IMG_LPH"; do
    echo "$i $($DOCKER image inspect -f '{{.Id}}' "$i")"; done)
  key=$(inputs_hash "$ids" "$(sha256sum "$KDIR/kubeadm" "$KDIR/kubelet" "$KDIR/kubectl")" "$(declare -f build_release save_archive)")
  if stamp_ok "$tarball.stamp" "$key" && [ -f "$tarball" ]; then log "release archive: up to date"; echo "$tarball"; return 0; fi
  log "release archive: packing binaries and image archives"
  rm -rf "$rel"; mkdir -p "$rel/kubernetes/server/bin"
  echo "$K8S_VERSION" >"$rel/kubernetes/version"
  cp "$KDIR/kubeadm" "$KDIR/kubelet" "$KDIR/kubectl" "$rel/kubernetes/server/bin/"
  local b=$rel/kubernetes/server/bin
  # Kind reads exactly these four archives; the apiserver's also carries every other image
  save_archive "$b/kube-apiserver.tar" "$IMG_APISERVER" "$IMG_ETCD" "$IMG_COREDNS" "$IMG_PAUSE" "$IMG_KINDNETD" "$IMG_LPP" "$IMG_LPH"
  save_archive "$b/kube-controller-manager.tar" "$IMG_CM"
  save_archive "$b/kube-scheduler.tar" "$IMG_SCHED"
  save_archive "$b/kube-proxy.tar" "$IMG_PROXY"
  local gz=gzip; command -v pigz >/dev/null && gz=pigz
  tar -C "$rel" --owner=0 --group=0 -c kubernetes | $gz -1 >"$tarball.tmp" && mv "$tarball.tmp" "$tarball"
  rm -rf "$rel"
  echo "$key" >"$tarball.stamp"
  echo "$tarball"
}

timed "images" build_all_images
timed "release-archive" build_release

#!/usr/bin/env bash
# Builds Kind's node *base* image from Debian packages, offline from any image registry:
# debootstrap (bookworm) with the packages Kind's images/base/Dockerfile installs, Debian's own
# containerd, runc and CNI plugins in place of Kind's source builds, crictl built from its Go
# module, and Kind's own files (entrypoint, containerd config, kubelet/containerd units, sysctls)
# taken from the sigs.k8s.io/kind module of the Kind version in use.
# Output: the Docker image $BASE_IMAGE (default kinda-k8s/base:bookworm); skipped when up to date.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PKGS=(
  systemd                                                          # runs the node
  conntrack iptables nftables iproute2 ethtool util-linux mount kmod # Kubernetes components
  libseccomp2 pigz fuse-overlayfs                                  # container runtime
  containerd runc containernetworking-plugins                      # Kind builds these from source
  bash ca-certificates curl jq procps                              # what Kind itself uses
)

build_base() {
  local kind_dir files crictl key have rootfs
  kind_dir=$(gomod_dir "sigs.k8s.io/kind@$KIND_VERSION")
  files=$kind_dir/images/base/files
  crictl=$OUT/crictl-$CRICTL_VERSION/crictl
  [ -x "$crictl" ] || bash "$K8S_HERE/build-binaries.sh" crictl
  key=$(inputs_hash "$DEBIAN_SUITE" "${PKGS[*]}" "$PAUSE_VERSION" "$KIND_VERSION" "$crictl" "$K8S_HERE/images/ctr-compat" \
    "$(cd "$files" && find . -type f | sort | xargs cat)" "$(declare -f build_base)")
  have=$($DOCKER image inspect -f '{{index .Config.Labels "kinda.k8s.inputs"}}' "$BASE_IMAGE" 2>/dev/null || true)
  if [ "$have" = "$key" ]; then log "base image $BASE_IMAGE: up to date"; return 0; fi

  local old; old=$($DOCKER image inspect -f '{{.Id}}' "$BASE_IMAGE" 2>/dev/null || true)
  command -v debootstrap >/dev/null || die "debootstrap missing (bash scripts/test-env/setup.sh installs it)"
  rootfs=$CACHE/rootfs/base
  rm -rf "$rootfs"; mkdir -p "$rootfs" "$CACHE/debs"
  log "base image: debootstrap $DEBIAN_SUITE with ${#PKGS[@]} packages (log $LOGS/debootstrap-base.log)"
  local pk; pk=$(IFS=,; echo "${PKGS[*]}")
  debootstrap --variant=minbase --cache-dir="$CACHE/debs" --include="$pk" "$DEBIAN_SUITE" "$rootfs" "$(debian_mirror)" \
    >"$LOGS/debootstrap-base.log" 2>&1 || { tail -20 "$LOGS/debootstrap-base.log" >&2; die "debootstrap failed"; }

  log "base image: Kind's files from sigs.k8s.io/kind@$KIND_VERSION/images/base/files"
  # the same modes as Kind's Dockerfile: scripts and directories 0755, everything else 0644
  install -m 0755 "$files"/usr/local/bin/* "$rootfs/usr/local/bin/"
  mkdir -p "$rootfs/kind/bin" "$rootfs/LICENSES" "$rootfs/etc/containerd" "$rootfs/etc/default" \
    "$rootfs/etc/sysctl.d" "$rootfs/etc/systemd/system/kubelet.service.d"
  install -m 0644 "$files"/kind/README.txt "$rootfs/kind/" 2>/dev/null || true
  install -m 0755 "$files"/kind/bin/* "$rootfs/kind/bin/"
  install -m 0644 "$files"/LICENSES/* "$rootfs/LICENSES/"
  install -m 0644 "$files"/etc/crictl.yaml "$rootfs/etc/"
  install -m 0644 "$files"/etc/containerd/* "$rootfs/etc/containerd/"
  install -m 0644 "$files"/etc/default/* "$rootfs/etc/default/"
  install -m 0644 "$files"/etc/sysctl.d/* "$rootfs/etc/sysctl.d/"
  find "$files/etc/systemd/system" -maxdepth 1 -type f -exec install -m 0644 {} "$rootfs/etc/systemd/system/" \;
  install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/* "$rootfs/etc/systemd/system/kubelet.service.d/"

  # Debian's packages in the places Kind's units and containerd's defaults expect
  install -m 0755 "$crictl" "$rootfs/usr/local/bin/crictl"
  ln -sf /usr/bin/containerd "$rootfs/usr/local/bin/containerd"
  install -m 0755 "$K8S_HERE/images/ctr-compat" "$rootfs/usr/local/bin/ctr"
  mkdir -p "$rootfs/opt/cni/bin"
  for p in "$rootfs"/usr/lib/cni/*; do ln -sf "/usr/lib/cni/$(basename "$p")" "$rootfs/opt/cni/bin/"; done
  # the pause image kubeadm v1.34 names, which our image set provides (Kind's file says 3.10)
  sed -i -E "s|^(\s*sandbox_image = ).*|\1\"registry.k8s.io/pause:$PAUSE_VERSION\"|" "$rootfs/etc/containerd/config.toml"
  grep -q "pause:$PAUSE_VERSION" "$rootfs/etc/containerd/config.toml" || die "could not set sandbox_image"
  # Test-machine work-around (docs/k8s-offline.md): the node container lacks CAP_SYS_RESOURCE here
  # (see ENVIRONMENT.md), and without it runc cannot lower a pod's oom_score_adj below the node's
  # ("failed to update /proc/self/oom_score_adj: Permission denied" for every pod). containerd's
  # own switch for that case (made for rootless) clamps the value to containerd's own instead.
  sed -i -E 's|^(\s*restrict_oom_score_adj = ).*|\1true|' "$rootfs/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$rootfs/etc/containerd/config.toml" || die "could not set restrict_oom_score_adj"

  # the steps of Kind's Dockerfile RUN lines
  chroot "$rootfs" /bin/bash -euc '
    ctr oci spec \
      | jq ".hooks.createContainer[.hooks.createContainer| length] |= . + {\"path\": \"/kind/bin/mount-product-files.sh\"}" \
      | jq "del(.process.rlimits)" > /etc/containerd/cri-base.json
    find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete
    rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*
    echo "ReadKMsg=no" >> /etc/systemd/journald.conf
    ln -sf "$(command -v systemd || echo /lib/systemd/systemd)" /sbin/init
    systemctl enable kubelet.service containerd.service undo-mount-hacks.service
    systemctl mask systemd-binfmt.service
    mkdir -p /etc/kubernetes/manifests
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb
  ' >>"$LOGS/debootstrap-base.log" 2>&1 || { tail -20 "$LOGS/debootstrap-base.log" >&2; die "base image set-up in chroot failed"; }
  [ -s "$rootfs/etc/containerd/cri-base.json" ] || die "cri-base.json is empty"
  : >"$rootfs/etc/machine-id"   # Kind's entrypoint creates one per node

  log "base image: importing $BASE_IMAGE"
  tar -C "$rootfs" -c . | $DOCKER import - "$BASE_IMAGE-rootfs" >/dev/null || die "docker import failed"
  # STOPSIGNAL is not a `docker import --change`; a metadata-only build adds it (no new layer)
  $DOCKER build -q -t "$BASE_IMAGE" - >/dev/null <<DOCKERFILE || die "docker build of $BASE_IMAGE failed"
FROM $BASE_IMAGE-rootfs
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]
LABEL kinda.k8s.inputs="$key" kinda.k8s.kind-version="$KIND_VERSION"
DOCKERFILE
  $DOCKER rmi "$BASE_IMAGE-rootfs" >/dev/null 2>&1 || true   # untags only: the layer stays in use
  rm -rf "$rootfs"
  # drop the image this one replaces (fails harmlessly while something still uses it)
  [ -z "$old" ] || $DOCKER rmi "$old" >/dev/null 2>&1 || true
  log "base image: $BASE_IMAGE built"
}
timed "base-image" build_base

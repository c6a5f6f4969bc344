#!/usr/bin/env bash
# Builds the `kind` CLI from its Go module (sigs.k8s.io/kind@$KIND_VERSION) through the Go module
# proxy into $KINDA_K8S_CACHE/bin/kind. Skipped when that binary already reports the version.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_kind() {
  if [ -x "$BIN/kind" ] && "$BIN/kind" version 2>/dev/null | grep -q "kind $KIND_VERSION "; then
    log "kind $KIND_VERSION: up to date ($BIN/kind)"; return 0
  fi
  log "kind $KIND_VERSION: go install sigs.k8s.io/kind@$KIND_VERSION"
  (cd "$CACHE" && GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION") >"$LOGS/build-kind.log" 2>&1 ||
    { tail -20 "$LOGS/build-kind.log" >&2; die "building kind failed"; }
  "$BIN/kind" version
}
timed "kind" build_kind

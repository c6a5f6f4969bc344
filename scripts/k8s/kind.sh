#!/usr/bin/env bash
# Runs the kind built by build-kind.sh with Debian's Docker client first on PATH (kind runs
# `docker`; another client may sit earlier on PATH here). Usage: kind.sh ARGS... (as `kind`).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ -x "$BIN/kind" ] || bash "$K8S_HERE/build-kind.sh"
exec "$BIN/kind" "$@"

#!/usr/bin/env bash
# Builds a Go command from the module proxy into
# $CREDENCE_CACHE/NAME-VERSION/NAME (outside the repository) once, and reuses
# it: a lock serialises processes building the same thing, and a .done
# marker says the binary is whole.
#   scripts/go-install-cached.sh NAME VERSION PACKAGE "COLD TIME" [go install flags...]
#   e.g. scripts/go-install-cached.sh osv-scanner v2.2.4 github.com/google/osv-scanner/v2/cmd/osv-scanner "~8 min" -ldflags "-s -w"
# The caller's environment (GOFLAGS, GOEXPERIMENT, CGO_ENABLED) reaches go
# install; GOTOOLCHAIN=local and GOWORK=off always.
set -euo pipefail
if [[ $# -lt 4 ]]; then
  echo "usage: $0 NAME VERSION PACKAGE COLD_TIME [go install flags...]" >&2
  exit 2
fi
name=$1 version=$2 pkg=$3 cold=$4
shift 4
export GOTOOLCHAIN=local GOWORK=off
CREDENCE_CACHE=${CREDENCE_CACHE:-$HOME/.cache/credence}
out=$CREDENCE_CACHE/$name-$version

done_marker() { [[ -x $out/$name && -f $out/.done ]]; }
if done_marker; then echo "$name $version cached in $out"; exit 0; fi

mkdir -p "$out"
# Serialise with other processes (another worktree's setup) building the same thing.
exec 9>"$out.lock"
flock 9
if done_marker; then echo "$name $version cached in $out (built by another process)"; exit 0; fi

start=$(date +%s)
echo "go install $pkg@$version with $(go version | cut -d' ' -f3) ($cold cold)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOBIN=$tmp go install -trimpath "$@" "$pkg@$version"
mv "$tmp/$name" "$out/$name"
"$out/$name" --version 2>&1 | head -1 || true
date -u +%FT%TZ > "$out/.done"
echo "built $name $version into $out ($(du -h "$out/$name" | cut -f1)) in $(( $(date +%s) - start )) s"

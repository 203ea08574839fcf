#!/usr/bin/env bash
# Builds osv-scanner v2.2.4 from the Go module proxy into
# $CREDENCE_CACHE/osv-scanner-v2.2.4/osv-scanner (outside the repository,
# reused when present): the second opinion match/secondopinion_test.go runs
# offline on the fixture images. Cold: ~8 min on 2 cores (most of it
# downloading modules); warm: nothing.
set -euo pipefail
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod
VERSION=v2.2.4
CREDENCE_CACHE=${CREDENCE_CACHE:-$HOME/.cache/credence}
out=$CREDENCE_CACHE/osv-scanner-$VERSION

done_marker() { [[ -x $out/osv-scanner && -f $out/.done ]]; }
if done_marker; then echo "osv-scanner $VERSION cached in $out"; exit 0; fi

mkdir -p "$out"
# Serialise with other processes (another worktree's setup) building the same thing.
exec 9>"$out.lock"
flock 9
if done_marker; then echo "osv-scanner $VERSION cached in $out (built by another process)"; exit 0; fi

start=$(date +%s)
echo "go install github.com/google/osv-scanner/v2/cmd/osv-scanner@$VERSION (~8 min cold)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
GOBIN=$tmp go install -trimpath -ldflags "-s -w" "github.com/google/osv-scanner/v2/cmd/osv-scanner@$VERSION"
mv "$tmp/osv-scanner" "$out/osv-scanner"
"$out/osv-scanner" --version | head -1
date -u +%FT%TZ > "$out/.done"
echo "built osv-scanner $VERSION into $out in $(( $(date +%s) - start )) s"

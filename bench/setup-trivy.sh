#!/usr/bin/env bash
# Builds trivy v0.74.0 from the Go module proxy into
# $CREDENCE_CACHE/trivy-v0.74.0/trivy (outside the repository, reused when
# present): the peer that bench/inventory.sh compares `credence sbom` with.
# For benchmarks only, not a CI step (hence not under scripts/setup.d).
# Cold: ~21 min measured on 2 cores with GOFLAGS=-p=1 under nice -n 19 while
# another job kept the machine busy (15 min of CPU, 3.2 GiB peak RSS, most of
# it compiling: the binary is 160 MiB even stripped); warm: nothing.
#   bench/setup-trivy.sh
# On a shared machine: GOFLAGS=-p=1 nice -n 19 bench/setup-trivy.sh
set -euo pipefail
export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
# trivy imports encoding/json/v2, still an experiment in Go 1.26 (its
# releases are built with the same setting).
export GOEXPERIMENT=jsonv2
VERSION=v0.74.0
CREDENCE_CACHE=${CREDENCE_CACHE:-$HOME/.cache/credence}
out=$CREDENCE_CACHE/trivy-$VERSION

done_marker() { [[ -x $out/trivy && -f $out/.done ]]; }
if done_marker; then echo "trivy $VERSION cached in $out"; exit 0; fi

mkdir -p "$out"
# Serialise with other processes (another worktree's setup) building the same thing.
exec 9>"$out.lock"
flock 9
if done_marker; then echo "trivy $VERSION cached in $out (built by another process)"; exit 0; fi

start=$(date +%s)
echo "go install github.com/aquasecurity/trivy/cmd/trivy@$VERSION with $(go version | cut -d' ' -f3) (~20 min cold)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# trivy's go.mod (go 1.26.3) has no replace directive, so `go install
# pkg@version` accepts it; a Go older than its go line stops here with
# "requires go >= ..." (GOTOOLCHAIN=local: no other toolchain is fetched).
GOBIN=$tmp go install -trimpath \
  -ldflags "-s -w -X github.com/aquasecurity/trivy/pkg/version/app.ver=${VERSION#v}" \
  "github.com/aquasecurity/trivy/cmd/trivy@$VERSION"
mv "$tmp/trivy" "$out/trivy"
"$out/trivy" --version | head -1
date -u +%FT%TZ > "$out/.done"
echo "built trivy $VERSION into $out ($(du -h "$out/trivy" | cut -f1)) in $(( $(date +%s) - start )) s"

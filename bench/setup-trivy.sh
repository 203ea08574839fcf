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
# trivy imports encoding/json/v2, still an experiment in Go 1.26 (its
# releases are built with the same setting). Its go.mod (go 1.26.3) has no
# replace directive, so `go install pkg@version` accepts it; a Go older than
# its go line stops with "requires go >= ..." (no other toolchain is fetched).
export GOEXPERIMENT=jsonv2 CGO_ENABLED=0
VERSION=v0.74.0
exec bash "$(dirname "$0")/../scripts/go-install-cached.sh" trivy "$VERSION" github.com/aquasecurity/trivy/cmd/trivy "~20 min" \
  -ldflags "-s -w -X github.com/aquasecurity/trivy/pkg/version/app.ver=${VERSION#v}"

#!/usr/bin/env bash
# Builds osv-scanner v2.2.4 from the Go module proxy into
# $CREDENCE_CACHE/osv-scanner-v2.2.4/osv-scanner (outside the repository,
# reused when present): the second opinion match/secondopinion_test.go runs
# offline on the fixture images. Cold: ~8 min on 2 cores (most of it
# downloading modules); warm: nothing.
set -euo pipefail
export GOFLAGS=-mod=mod
exec bash "$(dirname "$0")/../go-install-cached.sh" osv-scanner v2.2.4 github.com/google/osv-scanner/v2/cmd/osv-scanner "~8 min" -ldflags "-s -w"

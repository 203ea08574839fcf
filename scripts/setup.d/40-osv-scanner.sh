#!/usr/bin/env bash
# osv-scanner, the second opinion of match/secondopinion_test.go, built once
# from the Go module proxy into $CREDENCE_CACHE/osv-scanner-v2.2.4/ (v2.6.0
# needs Go 1.27). Later runs reuse it; a flock keeps parallel setups apart.
set -euo pipefail
version=v2.2.4
out=$CREDENCE_CACHE/osv-scanner-$version
if [[ -x "$out/osv-scanner" ]]; then echo "osv-scanner $version cached in $out"; exit 0; fi
if ! command -v go >/dev/null; then
  echo "WARNING: no go: cannot build osv-scanner; match's second-opinion test will fail under CI=true"; exit 0
fi
exec 9>"$out.lock"
flock 9
if [[ -x "$out/osv-scanner" ]]; then echo "osv-scanner $version cached in $out"; exit 0; fi
echo "building osv-scanner $version into $out (a few minutes)"
GOBIN="$out" go install "github.com/google/osv-scanner/v2/cmd/osv-scanner@$version"
"$out/osv-scanner" --version | head -1

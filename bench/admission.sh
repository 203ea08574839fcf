#!/usr/bin/env bash
# The admission webhook under load, as the API server calls it: credence
# admission serve as its own process (TLS, kept-alive connections), a real
# in-process registry with images signed by bench/admission-load, and a
# policy of Pod Security baseline (enforced) and restricted (warned),
# signatures and image source. Prints the warm-cache latency at a constant
# rate (goal: p99 < 10 ms at 500 requests/s on 2 cores), the Kyverno-shaped
# closed loop (100 virtual users, a Deployment create = 3 reviews; Kyverno
# publishes 37.7 ms average at 100 users with 17 Pod Security policies),
# cold misses, the webhook's CPU per request and peak RSS; then the Go
# benchmarks of one review in process and of the graph delta.
#   bench/admission.sh [RATE] [DURATION] [VUS]
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
RATE=${1:-500}
DUR=${2:-30s}
VUS=${3:-100}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/credence" ./cmd/credence
go build -o "$tmp/load" ./bench/admission-load
echo "$(nproc) CPUs; $(go version)"
"$tmp/load" -credence "$tmp/credence" -rate "$RATE" -duration "$DUR" -vus "$VUS" -dir "$tmp/run"
echo
go test -run '^$' -bench 'Review|GraphDelta' -benchmem -count 3 ./admission/ | grep -E '^(Benchmark|goos|cpu)'

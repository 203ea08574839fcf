#!/usr/bin/env bash
# Blast-radius engine at the issue-5 size: a synthetic cluster of 200
# namespaces, 10,000 pods (11,000 containers), 2,000 NetworkPolicies and
# 5,000 bindings (graph/synth). Prints build time, one-container query
# time, --all time, and the peak resident memory of the process doing it.
# Goals (issue 5): build < 5 s, query < 1 s, memory < 1 GB on 2 cores.
#   bench/blast-radius.sh            # the scale run
#   BENCH=1 bench/blast-radius.sh    # also the Go benchmarks (-benchmem)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
bin=$(mktemp -d)/graph.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
go test -c -o "$bin" ./graph
echo "== scale run ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
if [[ -x /usr/bin/time ]]; then
  CREDENCE_BENCH=1 /usr/bin/time -f 'peak RSS %M KiB, wall %e s, user %U s, sys %S s' "$bin" -test.run '^TestSyntheticScale$' -test.v 2>&1 |
    grep -E 'scale_test|peak RSS'
else
  CREDENCE_BENCH=1 "$bin" -test.run '^TestSyntheticScale$' -test.v | grep scale_test
  echo "(install GNU time for the peak RSS)"
fi
if [[ -n "${BENCH:-}" ]]; then
  echo "== go benchmarks"
  "$bin" -test.run '^$' -test.bench 'Build|Query|RankAll' -test.benchmem -test.benchtime 3x
fi

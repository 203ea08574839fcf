#!/usr/bin/env bash
# Blast-radius engine at the issue-5 size: a synthetic cluster of 200
# namespaces, 10,000 pods (11,000 containers), 2,000 NetworkPolicies and
# 5,000 bindings (graph/synth). Prints build time, one-container query
# time (with its cuts, each scored by rebuilding the graph, and without),
# --all time and the peak resident memory of the process doing it,
# then the same end to end through the command line (--manifests, YAML
# parsing included). Goals (issue 5): build < 5 s, query < 1 s, memory
# < 1 GB on 2 cores.
#   bench/blast-radius.sh            # scale run + command line
#   BENCH=1 bench/blast-radius.sh    # also the Go benchmarks (-benchmem)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/graph.test" ./graph
go build -o "$tmp/credence" ./cmd/credence
timef=(/usr/bin/time -f 'peak RSS %M KiB, wall %e s, user %U s, sys %S s')
[[ -x /usr/bin/time ]] || timef=()
echo "== library ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
CREDENCE_BENCH=1 CREDENCE_BENCH_MANIFESTS="$tmp/cluster.yaml" "${timef[@]}" "$tmp/graph.test" \
  -test.run '^TestSyntheticScale$' -test.v 2>&1 | grep -E 'scale_test|peak RSS'
echo "== command line on $(du -h "$tmp/cluster.yaml" | cut -f1) of manifests"
echo "-- credence blast-radius --from ns-100/app-00-0 -o json"
"${timef[@]}" "$tmp/credence" blast-radius --manifests "$tmp/cluster.yaml" --from ns-100/app-00-0 -o json 2>&1 >"$tmp/q.json" | tail -1
echo "-- credence blast-radius --from ns-100/app-00-0 -o json --cut-candidates 0 (the search alone, no cuts)"
"${timef[@]}" "$tmp/credence" blast-radius --manifests "$tmp/cluster.yaml" --from ns-100/app-00-0 -o json --cut-candidates 0 2>&1 >"$tmp/q0.json" | tail -1
echo "-- credence blast-radius --all -o json"
"${timef[@]}" "$tmp/credence" blast-radius --manifests "$tmp/cluster.yaml" --all -o json 2>&1 >"$tmp/all.json" | tail -1
if [[ -n "${BENCH:-}" ]]; then
  echo "== go benchmarks"
  "$tmp/graph.test" -test.run '^$' -test.bench 'Build|Query|RankAll' -test.benchmem -test.benchtime 3x
fi

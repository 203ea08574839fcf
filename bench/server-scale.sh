#!/usr/bin/env bash
# credence serve at scale (issue 11): kwok fakes 1,000 nodes on the real
# kube-apiserver the repository builds, and runs 10,000 pods on them (1,000
# Deployments, 200 Alpine images of 50 packages from an in-process registry,
# pinned by digest). `credence serve` runs as its own process (SQLite store),
# so the resident set it reports is the server's alone.
#
# Prints (server/scale_test.go's TestScale): time until every workload is
# assessed and every pod labelled, the server's RSS and peak, trust-graph
# rebuilds; the time from an advisory import that affects 100 of the 200
# images (5,000 pods) to the KEV label on every affected pod; the p50/p99 of
# GET /api/v1/subjects/… while a pod goes and its replacement comes every 50 ms;
# the CPU each process used while relabelling, and the limit: as many pod
# patches sent by the test's own client, 32 in flight;
# and each against its goal on 2 cores: peak RSS < 500 MB, import to labels
# < 30 s, Subject p99 < 50 ms (StackRox re-processes every image every 4 hours).
# The server runs with --memory-limit 381Mi (MEMLIMIT=…): what its default,
# 80 % of the container's limit, gives it in a container limited to the goal,
# 500 MB (the rest: the executable's mapped pages, 60-75 MiB); the garbage
# collector works harder near it.
#   bench/server-scale.sh                   # 10,000 pods, 1,000 nodes
#   IMAGES=1000 bench/server-scale.sh       # 100 of 1,000 images: 1,000 pods to relabel
#   PODS=2000 NODES=200 IMAGES=40 AFFECTED=20 bench/server-scale.sh
#   CREDENCE_SERVER_SCALE_PROFILES=/tmp/p bench/server-scale.sh   # keep the server's heap
#       profile every 3 s, its log and kwok's in /tmp/p; CREDENCE_SERVER_SCALE_CPUPROFILE=FILE
#       keeps its CPU profile of the 40 s after the import
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
CACHE=${CREDENCE_CACHE:-$HOME/.cache/credence}
KWOK_VERSION=v0.8.0
bash scripts/setup.d/30-kube-apiserver.sh
GOFLAGS=-mod=mod bash scripts/go-install-cached.sh kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok "~3 min"
kwok=$CACHE/kwok-$KWOK_VERSION/kwok
# kwok's own "fast" stages: nodes become Ready and keep a Lease, pods run at
# once and go when deleted.
stages=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage
if [[ ! -d $stages ]]; then go mod download "sigs.k8s.io/kwok@$KWOK_VERSION" >/dev/null; fi
files=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml pod/fast/pod-ready.yaml pod/fast/pod-delete.yaml)
list=
for f in "${files[@]}"; do list+=${list:+,}$stages/$f; done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/credence" ./cmd/credence
echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
CREDENCE_SERVER_SCALE=${PODS:-10000} CREDENCE_SERVER_SCALE_NODES=${NODES:-1000} CREDENCE_SERVER_SCALE_IMAGES=${IMAGES:-200} \
  CREDENCE_SERVER_SCALE_AFFECTED=${AFFECTED:-100} CREDENCE_SERVER_SCALE_WORKERS=${WORKERS:-2} \
  CREDENCE_SERVER_SCALE_QPS=${QPS:-400} CREDENCE_SERVER_SCALE_MEMLIMIT=${MEMLIMIT:-381Mi} CREDENCE_SERVER_BIN=$tmp/credence CREDENCE_KWOK=$kwok CREDENCE_KWOK_STAGES=$list \
  go test ./server -run '^TestScale$' -count=1 -v -timeout 3h 2>&1 | grep --line-buffered -E 'scale_test.go|^(---|ok|FAIL|PASS)'

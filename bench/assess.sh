#!/usr/bin/env bash
# credence assess at scale: a synthetic cluster of 1,000 pods (graph/synth's
# shape: 200 workloads, 200 NetworkPolicies, 500 bindings) whose containers run
# 100 distinct images made from a real layer (the debian-bookworm fixture's
# base, 88 dpkg packages) plus an app layer each (internal/cmd/mkassessbench),
# matched against all of ../shared/data.
#
# Prints, for a cold run (empty inventory cache) and a warm run after a
# database import (what happens when advisories change): wall, CPU, peak RSS,
# the phases, how many images were read (each distinct digest exactly once
# cold, none warm), and the cold scan against its limit: reading and
# decompressing every image's layers once (bench/decompress-limit on one
# image, times the number of images).
# Goals (issue 9): cold bounded by image reading, not by the graph; warm
# re-match of 100 stored inventories under 2 s on 2 cores; peak RSS < 500 MB.
#   bench/assess.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
CACHE=${CREDENCE_CACHE:-$HOME/.cache/credence}
FX=$CACHE/fixtures/debian-bookworm-v1
B=$CACHE/bench
[[ -f $FX/.done ]] || { echo "fixture images missing in $FX: run scripts/setup as root" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/credence" ./cmd/credence
go build -o "$tmp/limit" ./bench/decompress-limit
mkdir -p "$B"
if [[ ! -f $B/assess-v2/.done ]]; then
  go run ./internal/cmd/mkassessbench -fixtures "$FX" -out "$B/assess-v2"
  touch "$B/assess-v2/.done"
fi
if [[ ! -f $B/vuln.db ]] || ! "$tmp/credence" db status --db "$B/vuln.db" >/dev/null 2>&1; then
  # (again when written by a credence with another database schema)
  echo "== importing ../shared/data into $B/vuln.db (once)"
  "$tmp/credence" db import --replace --db "$B/vuln.db" ../shared/data >/dev/null 2>&1
fi
cp "$B/vuln.db" "$tmp/vuln.db"
echo "== $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
args=(assess --manifests "$B/assess-v2/cluster.yaml" --images "$B/assess-v2/images" --cache "$tmp/inv.db" --offline --no-progress -o json)
stats() {
  python3 - "$1" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); s = a["stats"]
ms = lambda k: s[k] / 1e6
print(f"  {s['workloads']} workloads, {s['containers']} containers, {s['images']} distinct images: {s['imagesRead']} read, {s['cacheHits']} from the cache, {s['unknown']} unknown")
print(f"  phases: resolve {ms('resolveNs'):.0f} ms, scan {ms('scanNs'):.0f} ms, match {ms('matchNs'):.0f} ms, graph {ms('graphNs'):.0f} ms")
PY
}
run() {
  /usr/bin/time -o "$tmp/time" -f '%e %U %S %M' "$tmp/credence" "${args[@]}" --db "$tmp/vuln.db" >"$tmp/$1.json"
  read -r wall user sys kb <"$tmp/time"
  echo "== $1: wall $wall s, CPU $(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}') s, peak RSS $((kb / 1024)) MiB"
  stats "$tmp/$1.json"
}
run cold
# An advisory update: the database is rebuilt; inventories are not re-read.
/usr/bin/time -o "$tmp/time" -f '%e' "$tmp/credence" db import --db "$tmp/vuln.db" ../shared/data >/dev/null 2>&1
echo "== db import (the update itself): $(cat "$tmp/time") s"
run warm
# The limit: every image's layers read and decompressed once.
mkdir -p "$tmp/one/blobs/sha256"
python3 - "$B/assess-v2/images" "$tmp/one" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
idx = json.load(open(f"{src}/index.json"))
d = idx["manifests"][0]
json.dump({"schemaVersion": 2, "manifests": [d]}, open(f"{dst}/index.json", "w"))
open(f"{dst}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
def link(dg):
    h = dg.split(":")[1]
    os.symlink(f"{src}/blobs/sha256/{h}", f"{dst}/blobs/sha256/{h}")
m = json.load(open(f"{src}/blobs/sha256/{d['digest'].split(':')[1]}"))
link(d["digest"]); link(m["config"]["digest"])
for l in m["layers"]: link(l["digest"])
PY
n=$(python3 -c "import json;print(len(json.load(open('$B/assess-v2/images/index.json'))['manifests']))")
/usr/bin/time -o "$tmp/time" -f '%e %U %S' "$tmp/limit" "$tmp/one" >/dev/null
read -r lw lu ls <"$tmp/time"
cold_cpu=$(python3 -c "import json;print(json.load(open('$tmp/cold.json'))['stats']['scanNs']/1e9)")
echo "== limit: one image's layers read and decompressed: $lw s wall, $(awk -v u="$lu" -v s="$ls" 'BEGIN{print u+s}') s CPU; × $n images = $(awk -v u="$lu" -v s="$ls" -v n="$n" 'BEGIN{print (u+s)*n}') s CPU"
echo "   cold scan phase $cold_cpu s wall on $(nproc) cores"

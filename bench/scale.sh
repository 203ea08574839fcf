#!/usr/bin/env bash
# How credence's cost grows with image size (issue 13, item 2). Generates
# (once, cached: the generator is deterministic) synthetic but realistic OCI
# images with bench/scalegen, then scans each with `credence inventory`:
#
#   bytes-256m, bytes-512m, bytes-1g   20 layers of text, binary data and ELF
#                                      executables, 256 MiB to 1 GiB uncompressed
#   files-75k, files-150k, files-300k  one layer of small files laid out as node_modules
#   lock                               100 lockfiles + 50 copies of a real Go binary
#
# For each: median wall and CPU time (user+sys) and the highest peak RSS of
# RUNS runs, against bench/decompress-limit (reading and decompressing the
# same layers, nothing else); CPU per GiB and per 100,000 files to show the
# cost is linear; and, with strace, whether any temporary file was created.
# Memory is bounded by documented limits, not by what the image holds: the
# file index (--max-file-index, 256 MiB: about 40 bytes plus the path per
# entry), per layer being read 2 MiB of read-ahead, 1 MiB of hash buffers
# and the decompressor's window (32 KiB gzip, at most 128 MiB zstd), and
# what extractors keep (64 MiB per file by default).
#   bench/scale.sh [RUNS]      (default 3; images in $CREDENCE_CACHE/bench-scale-v1)
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
CACHE=${CREDENCE_CACHE:-$HOME/.cache/credence}
IMAGES=$CACHE/bench-scale-v1
RUNS=${1:-3}
[[ -x /usr/bin/time ]] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
go build -o "$work/credence" ./cmd/credence
go build -o "$work/limit" ./bench/decompress-limit
go build -o "$work/scalegen" ./bench/scalegen

mkdir -p "$IMAGES"
gen() { # name scalegen-args...
  local name=$1; shift
  [[ -f $IMAGES/$name/index.json ]] && return
  rm -rf "$IMAGES/$name.tmp"
  "$work/scalegen" "$@" -o "$IMAGES/$name.tmp"
  mv "$IMAGES/$name.tmp" "$IMAGES/$name"
}
gen bytes-256m -kind bytes -layers 20 -size $((256 << 20))
gen bytes-512m -kind bytes -layers 20 -size $((512 << 20))
gen bytes-1g -kind bytes -layers 20 -size $((1 << 30))
gen files-75k -kind files -files 75000
gen files-150k -kind files -files 150000
gen files-300k -kind files -files 300000
gen lock -kind lock

run() { # out cmd...
  local out=$1; shift
  /usr/bin/time -o "$work/t" -f "%e %U %S %M" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  awk '{printf "%s %.3f %s\n", $1, $2+$3, $4}' "$work/t" | tail -1 >>"$out"
}

echo "machine: $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg); $RUNS runs each"
names=(bytes-256m bytes-512m bytes-1g files-75k files-150k files-300k lock)
for name in "${names[@]}"; do
  img=$IMAGES/$name
  for _ in $(seq "$RUNS"); do
    run "$work/$name.limit" "$work/limit" "$img"
    run "$work/$name.credence" "$work/credence" inventory -o json --no-progress "oci:$img"
  done
  # Facts about the scan, from one more run: layer bytes, entries, packages, temporary files.
  "$work/limit" "$img" | awk '{print $2}' >"$work/$name.bytes"
  python3 - "$img" >"$work/$name.facts" <<'PY'
import json, os, sys
d = sys.argv[1]
idx = json.load(open(os.path.join(d, "index.json")))
def blob(dg): return os.path.join(d, "blobs", *dg.split(":"))
m = json.load(open(blob(idx["manifests"][0]["digest"])))
print(len(m["layers"]), sum(l["size"] for l in m["layers"]))
PY
  tmp=$work/tmp-$name; mkdir -p "$tmp"
  if command -v strace >/dev/null; then
    TMPDIR=$tmp strace -f -qq -e trace=openat,creat -o "$work/$name.strace" "$work/credence" inventory -o json --no-progress "oci:$img" >"$work/$name.json" 2>/dev/null
    grep -c "O_CREAT" <(grep -F "$tmp/" "$work/$name.strace") >"$work/$name.tmpfiles" || true
  else
    TMPDIR=$tmp "$work/credence" inventory -o json --no-progress "oci:$img" >"$work/$name.json"
    echo "?" >"$work/$name.tmpfiles"
  fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work" "${names[@]}" <<'PY'
import json, statistics as st, sys, os
work, names = sys.argv[1], sys.argv[2:]
def rows(n): return [tuple(map(float, l.split())) for l in open(os.path.join(work, n))]
print(f"{'image':11s} {'layers':>6s} {'stored':>9s} {'layer bytes':>11s} {'files':>7s} {'packages':>8s} | "
      f"{'limit wall':>10s} {'cpu':>6s} | {'credence wall':>13s} {'cpu':>6s} {'wall/limit':>10s} {'cpu/limit':>9s} {'peak RSS':>9s} {'tmp files':>9s}")
per = {}
for n in names:
    lim, cr = rows(n + ".limit"), rows(n + ".credence")
    layers, stored = map(int, open(os.path.join(work, n + ".facts")).read().split())
    ub = int(open(os.path.join(work, n + ".bytes")).read().split()[0])
    inv = json.load(open(os.path.join(work, n + ".json")))
    files = n.startswith("files-") and int(n[6:-1]) * 1000 or 0
    wall, cpu = st.median(r[0] for r in cr), st.median(r[1] for r in cr)
    lwall, lcpu = st.median(r[0] for r in lim), st.median(r[1] for r in lim)
    rss = max(r[2] for r in cr) / 1024
    tmpf = open(os.path.join(work, n + ".tmpfiles")).read().strip() or "0"
    per[n] = (ub, files, cpu, rss)
    print(f"{n:11s} {layers:6d} {stored/2**20:7.0f} Mi {ub/2**20:9.0f} Mi {files or '-':>7} {len(inv['packages']):8d} | "
          f"{lwall:9.2f}s {lcpu:5.2f}s | {wall:12.2f}s {cpu:5.2f}s {wall/lwall:9.2f}x {cpu/lcpu:8.2f}x {rss:6.0f} MiB {tmpf:>9s}")
print("linearity (CPU per unit should stay flat; RSS should not grow with size):")
for series, unit, key in (("bytes-", "GiB of layers", 0), ("files-", "100,000 files", 1)):
    for n in [x for x in names if x.startswith(series)]:
        ub, files, cpu, rss = per[n]
        amount = ub / 2**30 if key == 0 else files / 1e5
        print(f"  {n:11s} {cpu/amount:6.2f} s CPU per {unit}, peak RSS {rss:5.0f} MiB")
PY

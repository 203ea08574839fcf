#!/usr/bin/env bash
# Vulnerability database and matching benchmark (issue 4). Prints:
#   1. import of all of ../shared/data (75,702 OSV records + KEV): wall, CPU, peak RSS; DB size; and the
#      same import again into the existing database (replacing every source, as db update does)
#   2. scan+match of the fixture-app image: wall time and the share spent matching
#   3. osv-scanner v2 --offline on the same image and data, when built into $CREDENCE_CACHE
# Usage: bash bench/vuln.sh [RUNS]   (needs ../shared and the fixture images; GNU time)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shared=${CREDENCE_SHARED:-$(cd .. && pwd)/shared}
cache=${CREDENCE_CACHE:-$HOME/.cache/credence}
fx=$cache/fixtures/debian-bookworm-v1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOTOOLCHAIN=local
go build -o "$work/credence" ./cmd/credence
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== import of $shared/data"
for i in $(seq "$runs"); do
  rm -f "$work/vuln.db"
  /usr/bin/time -f "import: wall %e s, user %U s, sys %S s, max RSS %M KB" \
    "$work/credence" db import --db "$work/vuln.db" "$shared/data" >/dev/null
done
echo "database size: $(stat -c %s "$work/vuln.db") bytes"
echo "== the same import again, into the existing database (what db update does)"
for i in $(seq "$runs"); do
  /usr/bin/time -f "re-import: wall %e s, user %U s, sys %S s, max RSS %M KB" \
    "$work/credence" db import --db "$work/vuln.db" "$shared/data" >/dev/null
done

for img in "docker-archive:$fx/fixture-app.docker.tar" "oci:$fx/oci/fixture-app"; do
echo "== scan + match of $img"
for i in $(seq "$runs"); do
  start=$(date +%s.%N)
  /usr/bin/time -o "$work/scan.time" -f "cpu: user %U s, sys %S s, max RSS %M KB" "$work/credence" scan --db "$work/vuln.db" --max-db-age 0 -o json "$img" >"$work/scan.json"
  end=$(date +%s.%N)
  python3 - "$work/scan.json" "$start" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
inv, m = r["timing"]["inventoryNs"] / 1e9, r["timing"]["matchNs"] / 1e9
print(f"scan: wall {wall:.3f} s (inventory {inv:.3f} s, match {m:.3f} s = {100*m/wall:.1f}% of wall), "
      f"{len(r['findings'])} findings, {r['summary']['packages']} vulnerable packages")
PY
  cat "$work/scan.time"
done
done

osvs=$(ls -d "$cache"/osv-scanner-*/osv-scanner 2>/dev/null | tail -1 || true)
if [ -n "$osvs" ]; then
  echo "== $osvs --offline on the same image and the same OSV archives"
  mkdir -p "$work/osvdb/osv-scanner"
  for d in "$shared"/data/osv/*/; do
    e=$(basename "$d"); mkdir -p "$work/osvdb/osv-scanner/$e"; cp "$d/all.zip" "$work/osvdb/osv-scanner/$e/"
  done
  for i in $(seq "$runs"); do
    OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY=$work/osvdb /usr/bin/time -o "$work/osvs.time" -f "osv-scanner: wall %e s, user %U s, sys %S s, max RSS %M KB" \
      "$osvs" scan image --format json --offline --archive "$fx/fixture-app.docker.tar" >"$work/osvs.json" 2>"$work/osvs.err" || true
    cat "$work/osvs.time"
  done
else
  echo "== osv-scanner not built (optional): see the Vulnerabilities section of README.md"
fi

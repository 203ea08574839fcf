#!/usr/bin/env bash
# Benchmarks `credence sbom` on the real fixture-app image against the floor
# of reading it, and against peer tools found on PATH (trivy, syft,
# osv-scanner), or else in $CREDENCE_CACHE: osv-scanner-*/ (built by
# scripts/setup.d/40-osv-scanner.sh) and trivy-*/ (built by
# bench/setup-trivy.sh, benchmarks only; trivy runs offline, no DB):
#
#   OCI layout (gzip layers)  vs  bench/decompress-limit: every layer read and
#                                 decompressed, layers in parallel, nothing else
#   docker-archive            vs  `cat` of the archive, and bench/decompress-limit
#                                 on it: every layer read and sha256-hashed, in parallel
#
# Runs are paired (limit, credence, peers, one after the other, RUNS times)
# and reported as medians of wall time, CPU time (user+sys) and peak RSS,
# with the median of the per-run ratios. On a shared machine wall times
# measure the neighbours too: CPU time and RSS are the steadier figures, and
# the load average is printed before and after. Targets (issue 13): OCI
# <= 1.1x the limit's wall time, <= 0.5x trivy, <= 60 MiB; docker-archive
# <= 1.5x (cat + layer hashes). Both builds run: the full one and the scan
# build (go build -tags scan: the image commands alone, what a CI job needs).
#   bench/inventory.sh [RUNS]      (default 9)
# Needs the fixture images (scripts/setup.d/10-fixture-images.sh), GNU time
# (/usr/bin/time) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
CACHE=${CREDENCE_CACHE:-$HOME/.cache/credence}
FX=$CACHE/fixtures/debian-bookworm-v1
RUNS=${1:-9}
[[ -f $FX/.done ]] || { echo "fixture images missing in $FX: run scripts/setup.d/10-fixture-images.sh" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir "$work/osvdb" "$work/trivy"
go build -o "$work/credence" ./cmd/credence
go build -tags scan -o "$work/credence-scan" ./cmd/credence
go build -o "$work/limit" ./bench/decompress-limit
oci=$FX/oci/fixture-app
tarf=$FX/fixture-app.docker.tar

# run NAME CMD...: one timed run, appended to $work/NAME as "wall cpu kb"
# A run that fails stops the bench (a failed run is fast and would be timed
# as if it had worked), except osv-scanner's: offline without a database it
# fails at matching by design, after the part compared here.
run() {
  local name=$1 rc=0; shift
  /usr/bin/time -o "$work/t" -f "%e %U %S %M" "$@" >/dev/null 2>"$work/err" || rc=$?
  if [[ $rc -ne 0 && $name != osv-scanner ]]; then
    echo "$name failed (exit $rc): $*" >&2; grep -v '^Command exited' "$work/err" | tail -5 >&2; exit 1
  fi
  awk '{printf "%s %.3f %s\n", $1, $2+$3, $4}' "$work/t" | tail -1 >>"$work/r-$name"
}

peers=()
have() { command -v "$1" >/dev/null 2>&1; }
osvs=$(command -v osv-scanner || ls -d "$CACHE"/osv-scanner-*/osv-scanner 2>/dev/null | tail -1 || true)
trivys=$(command -v trivy || ls -d "$CACHE"/trivy-*/trivy 2>/dev/null | tail -1 || true)
[[ -n $trivys ]] && peers+=(trivy)
have syft && peers+=(syft)
[[ -n $osvs ]] && peers+=(osv-scanner)

echo "fixture-app: $(du -sb "$oci/blobs" | cut -f1) bytes stored in the OCI layout, $(stat -c %s "$tarf") in the docker-archive"
echo "machine: $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg); $RUNS paired runs"
for _ in $(seq "$RUNS"); do
  run limit-oci "$work/limit" "$oci"
  run credence-oci "$work/credence" sbom -o cyclonedx-json --no-progress "oci:$oci"
  run scan-oci "$work/credence-scan" sbom -o cyclonedx-json --no-progress "oci:$oci"
  run cat-archive cat "$tarf"
  run limit-archive "$work/limit" "$tarf"
  run credence-archive "$work/credence" sbom -o cyclonedx-json --no-progress "docker-archive:$tarf"
  run scan-archive "$work/credence-scan" sbom -o cyclonedx-json --no-progress "docker-archive:$tarf"
  for p in "${peers[@]}"; do
    case $p in
    # Offline and cold: --offline-scan and the DB flags alone still let it
    # phone home (version check, telemetry), hence the two --skip/--disable
    # (and --skip-java-db-update: an image with JARs fails, never downloads);
    # its default fs cache would keep layer results from run to run (then it
    # reads only the config), hence a memory cache and an empty cache dir.
    # No vulnerability DB: the SBOM is the part compared here.
    trivy) run trivy "$trivys" -q image --input "$tarf" --format cyclonedx --scanners license \
      --offline-scan --skip-db-update --skip-java-db-update --skip-version-check --disable-telemetry \
      --cache-backend memory --cache-dir "$work/trivy" ;;
    syft) run syft syft -q "oci-dir:$oci" -o cyclonedx-json ;;
    # No inventory-only mode: offline without a database it reads the image,
    # lists its packages and fails at matching, the part compared here.
    osv-scanner) OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY=$work/osvdb run osv-scanner "$osvs" scan image --archive "$tarf" --offline --format json ;;
    esac
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work" "${peers[@]}" <<'PY'
import statistics as st, sys, os
work, peers = sys.argv[1], sys.argv[2:]
def load(n):
    rows = [tuple(map(float, l.split())) for l in open(os.path.join(work, "r-" + n))]
    return rows
def med(rows, i): return st.median(r[i] for r in rows)
def ratio(a, b, i): return st.median(x[i] / y[i] for x, y in zip(a, b) if y[i] > 0)
def show(name, rows):
    print(f"  {name:30s} wall {med(rows,0):6.3f} s   cpu {med(rows,1):6.3f} s   peak RSS {max(r[2] for r in rows)/1024:6.1f} MiB")
lo, co, so = load("limit-oci"), load("credence-oci"), load("scan-oci")
ca, la, cr, sr = load("cat-archive"), load("limit-archive"), load("credence-archive"), load("scan-archive")
print("OCI layout (gzip):")
show("decompression limit", lo); show("credence sbom", co); show("credence sbom, scan build", so)
for name, rows in (("credence", co), ("scan build", so)):
    print(f"  {name} / limit: wall {ratio(rows, lo, 0):.2f}x (target <= 1.1x), cpu {ratio(rows, lo, 1):.2f}x;"
          f" peak RSS {max(r[2] for r in rows)/1024:.1f} MiB (target <= 60 MiB)")
print("docker-archive (uncompressed layers):")
show("cat of the archive", ca); show("read + sha256 of the layers", la); show("credence sbom", cr); show("credence sbom, scan build", sr)
catsum = [(c[0] + l[0], c[1] + l[1], 0) for c, l in zip(ca, la)]
for name, rows in (("credence", cr), ("scan build", sr)):
    print(f"  {name} / (cat + layer hashes): wall {ratio(rows, catsum, 0):.2f}x (target <= 1.5x), cpu {ratio(rows, catsum, 1):.2f}x;"
          f" peak RSS {max(r[2] for r in rows)/1024:.1f} MiB")
    print(f"  {name} / layer hashes alone:   wall {ratio(rows, la, 0):.2f}x, cpu {ratio(rows, la, 1):.2f}x")
if not peers:
    print("peers: none on PATH (trivy, syft, osv-scanner)")
for p in peers:
    pr = load(p)
    show(p, pr)
    base = cr if p in ("trivy", "osv-scanner") else co  # same input: the archive, or the OCI layout
    print(f"  credence / {p}: wall {ratio(base, pr, 0):.2f}x, cpu {ratio(base, pr, 1):.2f}x" + (" (target <= 0.5x)" if p == "trivy" else ""))
PY

#!/usr/bin/env bash
# Benchmarks `credence inventory` on the real fixture-app image (OCI layout
# and docker-archive) and prints wall time and peak RSS as ratios against the
# limit (reading and decompressing every layer, layers in parallel, nothing
# else: bench/decompress-limit) and against osv-scanner, trivy and syft when
# they are on PATH. Best of RUNS runs (default 7): other load only slows runs.
#   bench/inventory.sh [RUNS]
# Needs the fixture images (scripts/setup as root) and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
CACHE=${CREDENCE_CACHE:-$HOME/.cache/credence}
FX=$CACHE/fixtures/debian-bookworm-v1
RUNS=${1:-7}
[[ -f $FX/.done ]] || { echo "fixture images missing in $FX: run scripts/setup as root" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
bin=$(mktemp -d); trap 'rm -rf "$bin"' EXIT
go build -o "$bin/credence" ./cmd/credence
go build -o "$bin/limit" ./bench/decompress-limit

# best "wall_seconds peak_kb" of RUNS runs of a command
measure() {
  local best="" rss=0 line wall kb
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -o "$bin/time" -f "%e %M" "$@" >/dev/null 2>&1 || true  # peers exit 1 on findings
    line=$(tail -1 "$bin/time")
    wall=${line% *}; kb=${line#* }
    if [[ -z $best ]] || awk -v a="$wall" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$wall; fi
    (( kb > rss )) && rss=$kb
  done
  echo "$best $rss"
}

row() { # name wall kb limit_wall limit_kb
  awk -v n="$1" -v w="$2" -v k="$3" -v lw="$4" -v lk="$5" 'BEGIN{
    printf "  %-26s %6.2f s %6.0f MB   %5.2fx limit time  %5.2fx limit RSS\n", n, w, k/1024, w/lw, k/lk }'
}

oci=$FX/oci/fixture-app
tarf=$FX/fixture-app.docker.tar
gz=$(du -b "$oci"/blobs/sha256/* | sort -n | awk '{s+=$1} END {printf "%.1f", s/1e6}')
echo "fixture-app: 4 layers, ${gz} MB stored in the OCI layout; best of $RUNS runs; $(nproc) CPUs"
read -r lw lk < <(measure "$bin/limit" "$oci")
printf "  %-26s %6.2f s %6.0f MB   (read + decompress every layer, in parallel)\n" "decompression limit" "$lw" "$(awk -v k="$lk" 'BEGIN{print k/1024}')"
read -r w k < <(measure "$bin/credence" inventory "oci:$oci")
row "credence inventory (OCI)" "$w" "$k" "$lw" "$lk"
read -r w k < <(measure "$bin/credence" inventory "docker-archive:$tarf")
row "credence (docker-archive)" "$w" "$k" "$lw" "$lk"
echo "  (docker-archive layers are stored uncompressed, so it can beat the OCI limit)"

peer() { # name command...
  local name=$1; shift
  if ! command -v "$1" >/dev/null; then printf "  %-26s not on PATH\n" "$name"; return; fi
  read -r w k < <(measure "$@")
  row "$name" "$w" "$k" "$lw" "$lk"
}
peer "syft" syft -q "oci-dir:$oci" -o json
peer "trivy (packages only)" trivy -q image --input "$tarf" --scanners license --list-all-pkgs --format json --offline-scan --skip-db-update
# osv-scanner has no inventory-only mode: offline and without a local database it
# reads the image, lists its packages and then fails at matching, which is the
# part compared here (bench/vuln.sh compares full scans).
peer "osv-scanner (image read)" env OSV_SCANNER_LOCAL_DB_CACHE_DIRECTORY="$bin" osv-scanner scan image --archive "$tarf" --offline --format json

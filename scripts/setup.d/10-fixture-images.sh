#!/usr/bin/env bash
# Builds the real Debian fixture images (debian-bookworm, fixture-app) with
# ../shared/fixtures/build-debian-image.sh into $CREDENCE_CACHE/fixtures,
# once; later runs reuse them. Needs root and ../shared.
set -euo pipefail
shared=$(cd "$(dirname "$0")/../../.." && pwd)/shared
out=$CREDENCE_CACHE/fixtures/debian-bookworm-v1
if [[ -f "$out/.done" ]]; then echo "fixture images cached in $out"; exit 0; fi
if [[ ! -f "$shared/fixtures/build-debian-image.sh" ]]; then
  echo "WARNING: $shared/fixtures absent: fixture-image tests will skip"; exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "WARNING: building fixture images needs root: fixture-image tests will skip"; exit 0
fi
mkdir -p "$out"
echo "building fixture images into $out (1-7 min, once)"
bash "$shared/fixtures/build-debian-image.sh" "$out" > "$out.log" 2>&1 || { tail -30 "$out.log"; exit 1; }
tail -20 "$out.log"

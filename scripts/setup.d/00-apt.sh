#!/usr/bin/env bash
# Debian packages the tests use. Each subsystem lists its own in
# scripts/setup.d/apt-packages.txt (one per line, "# comments" allowed).
set -euo pipefail
want=$(grep -v '^\s*#' "$(dirname "$0")/apt-packages.txt" | awk 'NF {print $1}' | sort -u)
[[ -n "$want" ]] || exit 0
missing=()
for p in $want; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]} == 0)); then echo "apt packages present"; exit 0; fi
if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "WARNING: not root or no apt-get: cannot install ${missing[*]}; tests that need them will skip (and fail under CI=true)"
  exit 0
fi
echo "apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Real Java archives for the inventory/java tests: Debian bookworm's
# liblog4j2-java and libjackson2-databind-java, fetched with apt-get download
# and unpacked (dpkg-deb -x, no install, no root needed once apt has its
# lists) into $CREDENCE_CACHE/debian-jars-v1/ once; later runs reuse them.
# versions.tsv records each package's version: the ground truth, with
# /usr/share/maven-repo, of what the jars are.
set -euo pipefail
out=$CREDENCE_CACHE/debian-jars-v1
if [[ -f "$out/.done" ]]; then echo "Debian jars cached in $out"; exit 0; fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "WARNING: no apt-get or dpkg-deb: inventory/java tests on real Debian jars will skip"; exit 0
fi
pkgs=(liblog4j2-java libjackson2-databind-java)
rm -rf "$out"
mkdir -p "$out/debs" "$out/root"
cd "$out/debs"
if ! apt-get download "${pkgs[@]}" >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]]; then apt-get update -qq; fi
  if ! apt-get download "${pkgs[@]}" >/dev/null 2>&1; then
    echo "WARNING: apt-get download ${pkgs[*]} failed: inventory/java tests on real Debian jars will skip"; exit 0
  fi
fi
for d in *.deb; do
  dpkg-deb -x "$d" "$out/root"
  printf '%s\t%s\n' "$(dpkg-deb -f "$d" Package)" "$(dpkg-deb -f "$d" Version)"
done > "$out/versions.tsv"
rm -rf "$out/debs"
touch "$out/.done"
echo "Debian jars unpacked into $out:"; sed 's/^/  /' "$out/versions.tsv"

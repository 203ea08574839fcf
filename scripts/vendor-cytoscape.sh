#!/usr/bin/env bash
# Re-fetches the cytoscape.js build the HTML report embeds
# (report/htmlkit/vendor/cytoscape.min.js and its LICENSE) from the npm registry
# and verifies it: the package tarball against npm's pinned sha512 integrity,
# the file against the pinned sha256 below (also in report/htmlkit/vendor/README.md).
#
#   scripts/vendor-cytoscape.sh          fetch, verify, write into the repo
#   scripts/vendor-cytoscape.sh --check  fetch, verify, compare with the repo's copy
#
# To move to another version: change VERSION, INTEGRITY (npm view
# cytoscape@VERSION dist.integrity) and SHA256, run it, update the README.
set -euo pipefail
VERSION=3.35.0
INTEGRITY='sha512-sMvBIXiGMnhkCaWz2R06FwF/27MNlS+Tqvi17foO9UhnUg3XGZccKjxsvEqQFAQYMSSZmN5SxYzUYlQ0DOJJ3g=='
SHA256=71fa9ebec21a7ca2c40cff6aacc30d1f6464e363662ad4b2c197e1adc770cd94

repo=$(cd "$(dirname "$0")/.." && pwd)
dest=$repo/report/htmlkit/vendor
check=false
[[ ${1:-} == --check ]] && check=true

command -v npm >/dev/null || { echo "vendor-cytoscape: npm is needed" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "cytoscape@$VERSION" >/dev/null)
tgz=$tmp/cytoscape-$VERSION.tgz
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
[[ $got == "$INTEGRITY" ]] || { echo "vendor-cytoscape: tarball integrity $got, want $INTEGRITY" >&2; exit 1; }
tar -xzf "$tgz" -C "$tmp" package/dist/cytoscape.min.js package/LICENSE
got=$(sha256sum "$tmp/package/dist/cytoscape.min.js" | cut -d' ' -f1)
[[ $got == "$SHA256" ]] || { echo "vendor-cytoscape: cytoscape.min.js sha256 $got, want $SHA256" >&2; exit 1; }
# The file is inlined into a <script> element: it must not close it.
if grep -qiE '</script|<!--' "$tmp/package/dist/cytoscape.min.js"; then
  echo "vendor-cytoscape: cytoscape.min.js contains </script or <!--: cannot be inlined" >&2; exit 1
fi

if $check; then
  cmp "$tmp/package/dist/cytoscape.min.js" "$dest/cytoscape.min.js"
  cmp "$tmp/package/LICENSE" "$dest/LICENSE"
  echo "vendor-cytoscape: report/htmlkit/vendor matches cytoscape@$VERSION from npm (sha256 $SHA256)"
  exit 0
fi
mkdir -p "$dest"
cp "$tmp/package/dist/cytoscape.min.js" "$tmp/package/LICENSE" "$dest/"
echo "vendor-cytoscape: wrote cytoscape@$VERSION into $dest (sha256 $SHA256)"

#!/usr/bin/env bash
# Builds a real kube-apiserver v1.37.2 and etcd v3.7.0 from the Go module proxy
# into $CREDENCE_CACHE/kube-v1.37.2/bin (outside the repository, reused when
# present), for the tests that use the real API server as their oracle
# (internal/testutil/kubeapiserver). Recipe: ../shared/recipes/kube-apiserver.md
# steps 2-4: a throwaway module that requires k8s.io/kubernetes, with every
# staging module replaced by its published v0.37.2; k8s.io/kubernetes never
# enters credence's own go.mod. Cold: ~6 min and ~2.5 GB RAM on 2 cores.
set -euo pipefail
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod
K8S=v1.37.2
STAGING=v0.37.2
ETCD=v3.7.0
CREDENCE_CACHE=${CREDENCE_CACHE:-$HOME/.cache/credence}
out=$CREDENCE_CACHE/kube-$K8S
bin=$out/bin

done_marker() { [[ -x $bin/kube-apiserver && -x $bin/etcd && -f $out/.done ]]; }
if done_marker; then echo "kube-apiserver $K8S and etcd $ETCD cached in $bin"; exit 0; fi

mkdir -p "$out"
# Serialise with other processes (another worktree's setup, a test) building the same thing.
exec 9>"$out.lock"
flock 9
if done_marker; then echo "kube-apiserver $K8S and etcd $ETCD cached in $bin (built by another process)"; exit 0; fi

start=$(date +%s)
src=$out/src
rm -rf "$src"
mkdir -p "$src" "$bin"
cd "$src"

# Every module k8s.io/kubernetes's go.mod points at ./staging gets its published
# version; the two sample modules are unused and refused by the proxy.
modfile=$(go mod download -json "k8s.io/kubernetes@$K8S" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[[ -f $modfile ]] || { echo "cannot download k8s.io/kubernetes@$K8S's go.mod from the module proxy" >&2; exit 1; }
{
  echo "module example.com/kbuild"
  echo
  echo "go 1.26.0"
  echo
  echo "require k8s.io/kubernetes $K8S"
  echo
  grep '=> ./staging' "$modfile" | awk '{print $1}' | grep -v -e '^k8s.io/sample-cli-plugin$' -e '^k8s.io/sample-controller$' |
    while read -r m; do echo "replace $m => $m $STAGING"; done
} > go.mod
cat > tools.go <<'EOF'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
EOF
echo "replaces: $(grep -c '^replace' go.mod); go mod tidy"
go mod tidy
go get "go.etcd.io/etcd/server/v3@$ETCD"
go mod tidy
ver=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
[[ $ver == "$ETCD" ]] || { echo "etcd resolved to $ver, want $ETCD" >&2; exit 1; }

echo "go build kube-apiserver $K8S (~5 min cold)"
go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" \
  -o "$bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
echo "go build etcd $ETCD"
go build -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3
mv "$bin/etcd.tmp" "$bin/etcd"

"$bin/kube-apiserver" --version
"$bin/etcd" --version | head -1
date -u +%FT%TZ > "$out/.done"
echo "built kube-apiserver $K8S and etcd $ETCD into $bin in $(( $(date +%s) - start )) s"

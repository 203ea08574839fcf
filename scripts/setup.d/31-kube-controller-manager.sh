#!/usr/bin/env bash
# Builds kube-controller-manager v1.37.2 next to the kube-apiserver of
# 30-kube-apiserver.sh (same throwaway module, same cache directory
# $CREDENCE_CACHE/kube-v1.37.2/bin). The admission tests run only its
# validatingadmissionpolicy-status-controller: the controller that
# type-checks ValidatingAdmissionPolicies against the API server's schemas
# and writes status.typeChecking. Cold: ~2-3 min on 2 cores once the
# apiserver's build cache is warm.
set -euo pipefail
export GOTOOLCHAIN=local GOWORK=off GOFLAGS=-mod=mod
K8S=v1.37.2
CREDENCE_CACHE=${CREDENCE_CACHE:-$HOME/.cache/credence}
out=$CREDENCE_CACHE/kube-$K8S
bin=$out/bin
here=$(cd "$(dirname "$0")" && pwd)

[[ -x $bin/kube-controller-manager ]] && { echo "kube-controller-manager $K8S cached in $bin"; exit 0; }
"$here/30-kube-apiserver.sh"
exec 9>"$out.lock"
flock 9
[[ -x $bin/kube-controller-manager ]] && { echo "kube-controller-manager $K8S cached in $bin (built by another process)"; exit 0; }
[[ -f $out/src/go.mod ]] || { echo "the kube-apiserver build module is missing in $out/src: remove $out/.done and run 30-kube-apiserver.sh" >&2; exit 1; }
start=$(date +%s)
cd "$out/src"
cat > tools_kcm.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-controller-manager"
GO
go mod tidy
echo "go build kube-controller-manager $K8S"
go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37" \
  -o "$bin/kube-controller-manager.tmp" k8s.io/kubernetes/cmd/kube-controller-manager
mv "$bin/kube-controller-manager.tmp" "$bin/kube-controller-manager"
"$bin/kube-controller-manager" --version
echo "built kube-controller-manager $K8S into $bin in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# Refreshes cluster/defaultrbac/data/kube-<version>.json, the default RBAC
# (bootstrap policy) of the Kubernetes release the repository builds for its
# tests: starts the real kube-apiserver from $CREDENCE_CACHE (built by
# scripts/setup.d/30-kube-apiserver.sh, which this runs first), lists every
# object labelled kubernetes.io/bootstrapping=rbac-defaults and rewrites the
# file. Without UPDATE_GOLDEN the same test only compares (go test ./cluster/defaultrbac).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
bash scripts/setup.d/30-kube-apiserver.sh
UPDATE_GOLDEN=1 go test ./cluster/defaultrbac -run '^TestMatchesServer$' -count=1 -v | grep -E '^(---|ok|FAIL)|defaultrbac_test'
git --no-pager diff --stat -- cluster/defaultrbac/data || true

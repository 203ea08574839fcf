#!/usr/bin/env bash
# Benchmarks measured containers on swtpm (and runc when root): TPM command
# latency, one log append, the latency a measurement adds to a container start
# through the createRuntime hook (runc run with and without it, and the hook
# process alone) and through NRI (CreateContainer through an in-process runtime
# adaptation, with and without credence's plugin), verification of a
# 10,000-record log, and the log bytes per container start. Go benchmarks
# report wall time (ns/op) and CPU time (cpu-ms/op for this process,
# child-cpu-ms/op for runc and hook processes): on a shared machine wall time
# also measures the neighbours, so the load average is printed too.
#   bench/attest.sh [COUNT]     # each benchmark COUNT times (default 3)
# Needs swtpm (scripts/setup.d/00-apt.sh); the runc rows need root and runc.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
COUNT=${1:-3}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
go test -run '^$' -bench . -benchtime 2000x -count "$COUNT" ./attest/tpm/ | grep '^Benchmark'
go test -run '^$' -bench Append -benchtime 500x -count "$COUNT" ./attest/ | grep '^Benchmark'
go test -run '^$' -bench 'RuncStart|HookProcess' -benchtime 50x -count "$COUNT" ./agent/ | grep '^Benchmark' || true
go test -run '^$' -bench 'NRICreateContainer' -benchtime 500x -count "$COUNT" ./agent/ | grep '^Benchmark'
go test -run '^$' -bench 'Verify10k' -benchtime 10x -count "$COUNT" ./agent/ | grep '^Benchmark'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

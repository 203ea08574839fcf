package graph_test

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/graph/synth"
)

// TestSyntheticScale measures the issue-5 size (10,000 pods, 2,000
// NetworkPolicies, 5,000 bindings): build, one query, --all. It prints,
// never asserts wall time. bench/blast-radius.sh runs it under
// /usr/bin/time for peak memory. Set CREDENCE_BENCH=1 to run it.
func TestSyntheticScale(t *testing.T) {
	if os.Getenv("CREDENCE_BENCH") == "" {
		t.Skip("set CREDENCE_BENCH=1 (or run bench/blast-radius.sh)")
	}
	t0 := time.Now()
	s := synth.Generate(synth.Issue5)
	gen := time.Since(t0)
	if path := os.Getenv("CREDENCE_BENCH_MANIFESTS"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := synth.WriteManifests(f, s); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t0, c0 := time.Now(), cpu()
	g, err := graph.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	build, buildCPU := time.Since(t0), cpu()-c0
	from := g.Nodes[g.Containers[len(g.Containers)/2]].Key
	t0, c0 = time.Now(), cpu()
	res, err := g.Query(from)
	if err != nil {
		t.Fatal(err)
	}
	query, queryCPU := time.Since(t0), cpu()-c0
	t0, c0 = time.Now(), cpu()
	if _, err := g.Query(from, graph.WithMaxCuts(0)); err != nil {
		t.Fatal(err)
	}
	search, searchCPU := time.Since(t0), cpu()-c0
	t0, c0 = time.Now(), cpu()
	ranked := g.RankAll()
	all, allCPU := time.Since(t0), cpu()-c0
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("snapshot: %d pods, %d NetworkPolicies, %d RoleBindings + %d ClusterRoleBindings, %d namespaces, %d nodes",
		len(s.Pods), len(s.NetworkPolicies), len(s.RoleBindings), len(s.ClusterRoleBindings), len(s.Namespaces), len(s.Nodes))
	t.Logf("graph: %d nodes, %d edges", len(g.Nodes), len(g.Edges))
	t.Logf("generate %v", gen.Round(time.Millisecond))
	t.Logf("build %v (CPU %v)", build.Round(time.Millisecond), buildCPU.Round(time.Millisecond))
	t.Logf("query from %s %v (CPU %v): %d critical assets, closure %+v, %d cuts", from, query.Round(time.Millisecond), queryCPU.Round(time.Millisecond), len(res.Assets), res.Closure, len(res.Cuts))
	t.Logf("  of which the search alone (no cuts) %v (CPU %v); the rest scores up to 8 changes, each applied to the snapshot and the graph rebuilt", search.Round(time.Millisecond), searchCPU.Round(time.Millisecond))
	t.Logf("all (%d containers ranked) %v (CPU %v); top: %s cluster-admin=%.3f node=%.3f", len(ranked), all.Round(time.Millisecond), allCPU.Round(time.Millisecond), ranked[0].Container, ranked[0].ClusterAdmin, ranked[0].Node)
	t.Logf("Go heap: peak sys %d MiB, total alloc %d MiB", ms.Sys>>20, ms.TotalAlloc>>20)
}

// cpu returns the process's user+system CPU time: with other work on the
// machine, wall time alone says little.
func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkBuild(b *testing.B) {
	s := synth.Generate(synth.Issue5)
	b.ResetTimer()
	for b.Loop() {
		if _, err := graph.Build(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQuery(b *testing.B) {
	g, _ := graph.Build(synth.Generate(synth.Issue5))
	from := g.Nodes[g.Containers[len(g.Containers)/2]].Key
	b.ResetTimer()
	for b.Loop() {
		if _, err := g.Query(from); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQueryEach is the server's pattern: one query without cuts from
// each of 100 containers spread over the graph (a batch of workloads).
func BenchmarkQueryEach(b *testing.B) {
	g, _ := graph.Build(synth.Generate(synth.Issue5))
	step := max(1, len(g.Containers)/100)
	b.ResetTimer()
	for b.Loop() {
		for i := 0; i < len(g.Containers); i += step {
			if _, err := g.Query(g.Nodes[g.Containers[i]].Key, graph.WithMaxCuts(0)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkRankAll(b *testing.B) {
	g, _ := graph.Build(synth.Generate(synth.Issue5))
	b.ResetTimer()
	for b.Loop() {
		g.RankAll()
	}
}

package posture_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/posture"
)

// BenchmarkSnapshot evaluates 10,000 pods (the isolation fixtures repeated),
// the scale of the synthetic cluster in the blast-radius benchmark.
func BenchmarkSnapshot(b *testing.B) {
	base, err := cluster.FromManifests(context.Background(), "testdata/manifests/isolation.yaml")
	if err != nil {
		b.Fatal(err)
	}
	snap := *base
	snap.Pods = nil
	for i := 0; len(snap.Pods) < 10000; i++ {
		for _, p := range base.Pods {
			p := p
			p.Name = fmt.Sprintf("%s-%d", p.Name, i)
			snap.Pods = append(snap.Pods, p)
		}
	}
	snap.Pods = snap.Pods[:10000]
	ev, err := posture.NewEvaluator()
	if err != nil {
		b.Fatal(err)
	}
	containers := 0
	for _, p := range snap.Pods {
		containers += len(p.Spec.Containers) + len(p.Spec.InitContainers) + len(p.Spec.EphemeralContainers)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ev.Snapshot(&snap)
	}
	b.ReportMetric(float64(containers), "containers")
}

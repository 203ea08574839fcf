package posture_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/posture"
)

// FuzzPosture: any manifest evaluates without panicking, serialises, and
// no escape is weakened or blocked without a mitigation in effect (unknown
// is never safe).
func FuzzPosture(f *testing.F) {
	if b, err := os.ReadFile("testdata/manifests/isolation.yaml"); err == nil {
		for _, doc := range bytes.Split(b, []byte("\n---\n")) {
			f.Add(doc)
		}
	}
	ev, err := posture.NewEvaluator()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := cluster.FromReader(context.Background(), bytes.NewReader(data), "fuzz",
			cluster.WithMaxBytes(256<<10), cluster.WithMaxObjects(200))
		if err != nil {
			return
		}
		rep := ev.Snapshot(snap)
		if _, err := json.Marshal(rep); err != nil {
			t.Fatal(err)
		}
		for _, p := range rep.Pods {
			for _, c := range p.Containers {
				for _, e := range c.Escapes {
					var blocks, any bool
					for _, m := range e.Mitigations {
						if m.State == posture.Yes {
							any = true
							blocks = blocks || m.Effect == posture.Blocks
						}
					}
					if (e.Verdict == posture.Blocked) != blocks || (e.Verdict == posture.Open) == any {
						t.Fatalf("%s/%s %s: verdict %s with mitigations %+v", p.Key(), c.Container, e.ID, e.Verdict, e.Mitigations)
					}
				}
			}
		}
	})
}

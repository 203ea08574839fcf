package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/credence-dev/credence/cluster"
)

// FuzzFromReader: any input gives a snapshot or a bounded-input error, never
// a panic, and the snapshot always serialises. Seeds are the test manifests.
func FuzzFromReader(f *testing.F) {
	files, _ := filepath.Glob("testdata/manifests/*/*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("---\n---\n"))
	f.Add([]byte(`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"List","items":[[]]}]}`))
	f.Add([]byte("apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: p}\n  spec: {containers: [{name: c}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		snap, err := cluster.FromReader(context.Background(), bytes.NewReader(data), "fuzz",
			cluster.WithMaxBytes(1<<20), cluster.WithMaxDocumentBytes(64<<10), cluster.WithMaxObjects(1000))
		if err != nil {
			return
		}
		if _, err := json.Marshal(snap); err != nil {
			t.Fatalf("snapshot does not serialise: %v", err)
		}
		for _, s := range snap.Secrets {
			if s.Data != nil || s.StringData != nil {
				t.Fatal("secret data kept")
			}
		}
	})
}

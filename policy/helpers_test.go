package policy_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/policy"
	sampledb "github.com/credence-dev/credence/vulndb/sample"
)

// now is the fixed time decisions are taken at in tests.
var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

var (
	sampleOnce sync.Once
	sampleA    *assess.Assessment
	sampleErr  error
)

// sample assesses the README's sample cluster (testdata/cluster) once:
// real manifests, real images (OCI layouts) and the embedded OSV/KEV
// sample. Its facts: shop/web runs log4j-core 2.14.1 (two KEV findings,
// critical and fixable) and reaches Secret payments/ledger-db in three
// steps; shop/api is privileged on a clean image; shop/worker's image
// cannot be found (not scanned) and mounts the containerd socket;
// payments/ledger is restricted, pinned by digest to the api image.
func sample(t testing.TB) *assess.Assessment {
	t.Helper()
	sampleOnce.Do(func() {
		root := testutil.RepoRoot(t)
		ctx := context.Background()
		snap, err := cluster.FromManifests(ctx, filepath.Join(root, "testdata", "cluster", "manifests"))
		if err != nil {
			sampleErr = err
			return
		}
		dirs, _, err := assess.NewImageDirs(ctx, []string{filepath.Join(root, "testdata", "cluster", "images")}, nil)
		if err != nil {
			sampleErr = err
			return
		}
		db, err := sampledb.Open(ctx)
		if err != nil {
			sampleErr = err
			return
		}
		sampleA, sampleErr = assess.Assess(ctx, snap, db, assess.WithImageDirs(dirs), assess.WithClock(func() time.Time { return now }))
	})
	if sampleErr != nil {
		t.Fatal(sampleErr)
	}
	return sampleA
}

func subject(t testing.TB, a *assess.Assessment, ref string) *assess.Subject {
	t.Helper()
	for i := range a.Subjects {
		if a.Subjects[i].Workload.Ref() == ref {
			return &a.Subjects[i]
		}
	}
	t.Fatalf("no workload %s", ref)
	return nil
}

func compile(t testing.TB, src string, opts ...policy.Option) *policy.Engine {
	t.Helper()
	docs, err := policy.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policy.Compile(docs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func compileErr(src string) error {
	docs, err := policy.Parse("test.yaml", []byte(src))
	if err != nil {
		return err
	}
	_, err = policy.Compile(docs)
	return err
}

// decide evaluates the workload ref of the sample (or of a) against e.
func decide(t testing.TB, e *policy.Engine, a *assess.Assessment, ref string, base policy.Baseline) policy.Decision {
	t.Helper()
	return e.Evaluate(policy.Input{Subject: subject(t, a, ref), Images: policy.NewImageIndex(a.Images...), Baseline: base, Now: now})
}

// packPolicy is a policy of one pack with parameters (YAML flow map).
func packPolicy(pack, params string) string {
	if params == "" {
		params = "{}"
	}
	return `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: test}
spec:
  packs:
    - name: ` + pack + `
      parameters: ` + params + "\n"
}

package policy_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/credence-dev/credence/policy"
)

// FuzzCompile: any bytes as a policy file either load or fail with an
// error; nothing panics, and what loads evaluates.
func FuzzCompile(f *testing.F) {
	for _, id := range policy.PackNames() {
		b, _ := policy.PackSource(id)
		f.Add(b)
	}
	f.Add([]byte(policy.DefaultPolicyYAML))
	f.Add([]byte(allPacks))
	if b, err := os.ReadFile(filepath.Join("testdata", "example.yaml")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(head + "  rules: [{id: r, scope: container, expression: 'container.findings.all(f, f.kev)'}]\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := policy.Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		e, err := policy.Compile(docs)
		if err != nil {
			return
		}
		a := sample(t)
		for i := range a.Subjects {
			e.Evaluate(policy.Input{Subject: &a.Subjects[i], Images: policy.NewImageIndex(a.Images...), Now: now})
		}
	})
}

package assess_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/internal/testutil/schematest"
	"github.com/credence-dev/credence/internal/testutil/signtest"
	"github.com/credence-dev/credence/provenance"
)

// Provenance joined into the Subject against a real registry: a signed and
// attested image, the same image in a second workload (verified once), an
// unsigned image, an image that does not resolve (never verified), and a
// digest-pinned image on a registry that is down (error, not unsigned).
func TestProvenanceJoin(t *testing.T) {
	backend := signtest.Registry(t)
	// Count the referrers look-ups that reach the registry: one per
	// verified repository@digest.
	var referrers atomic.Int64
	u, _ := url.Parse("http://" + backend)
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/referrers/") {
			referrers.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	web := signtest.PushLayout(t, filepath.Join(root(t), "testdata", "cluster", "images", "web"), host+"/shop/web:1.4")
	signtest.PushLayout(t, filepath.Join(root(t), "testdata", "cluster", "images", "api"), host+"/shop/api:2.0")
	k := signtest.NewKey(t)
	signtest.Sign(t, k, web)
	signtest.Attest(t, k, web, provenance.PredicateSLSAv1, signtest.SLSAv1("https://github.com/actions/runner/github-hosted", "https://github.com/example/shop"))
	down := httptest.NewServer(http.NotFoundHandler())
	downHost := strings.TrimPrefix(down.URL, "http://")
	down.Close() // connection refused from now on

	deploy := func(name, image string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: shop}
spec:
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      containers:
        - {name: main, image: %s}
---
`, name, name, name, image)
	}
	y := deploy("web", host+"/shop/web:1.4") + deploy("web-copy", host+"/shop/web:1.4") + deploy("api", host+"/shop/api:2.0") +
		deploy("ghost", host+"/shop/ghost:1") + deploy("down", downHost+"/shop/web@"+web.DigestStr())
	f := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := cluster.FromManifests(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := provenance.ParsePublicKey(k.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	auth, err := provenance.NewKeyAuthority("release", []provenance.PublicKey{pub}, provenance.WithoutTransparencyLogUnsafe())
	if err != nil {
		t.Fatal(err)
	}
	trust, _ := provenance.LoadTrustedRoots()
	v, err := provenance.NewVerifier(trust)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := provenance.NewPolicy(provenance.WithAuthority(auth))
	if err != nil {
		t.Fatal(err)
	}

	pushed := referrers.Load() // pushing a referrer probes the referrers API
	a := run(t, snap, sampleSource(t), assess.WithRegistry(authn.NewMultiKeychain()), assess.WithProvenance(v, pol))
	want := map[string]assess.EvidenceStatus{"shop/web": assess.Verified, "shop/web-copy": assess.Verified, "shop/api": assess.Unsigned,
		"shop/ghost": assess.NotChecked, "shop/down": assess.CheckError}
	for ref, st := range want {
		c := subject(t, a, ref).Containers[0]
		if c.Provenance.Status != st || c.Provenance.Verdict == nil {
			t.Errorf("%s: provenance %s (%s), want %s", ref, c.Provenance.Status, c.Provenance.Reason, st)
		}
	}
	w := subject(t, a, "shop/web").Containers[0].Provenance.Verdict
	if w.Signer == nil || w.Signer.KeyID != k.ID() || len(w.Attestations) != 1 || w.Attestations[0].SLSA == nil ||
		w.Attestations[0].SLSA.BuilderID != "https://github.com/actions/runner/github-hosted" {
		t.Errorf("web verdict: signer %+v attestations %+v", w.Signer, w.Attestations)
	}
	if g := subject(t, a, "shop/ghost").Containers[0].Provenance; !strings.Contains(g.Reason, "not resolved") {
		t.Errorf("ghost: %+v", g)
	}
	if d := subject(t, a, "shop/down").Containers[0].Provenance; d.Verdict.Step != provenance.StepRegistry || d.Status.Definitive() {
		t.Errorf("down: a registry that is down must be a transient error, got %+v", d)
	}
	// web and web-copy share one verification; ghost is never verified.
	if a.Stats.Verified != 3 || referrers.Load()-pushed != 2 {
		t.Errorf("verified %d distinct images with %d referrers calls, want 3 and 2 (web once, api once; down never answers)", a.Stats.Verified, referrers.Load()-pushed)
	}

	// The JSON form holds to the schema, verdicts included.
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	schematest.Validate(t, schematest.Compile(t, filepath.Join(root(t), "assess", "schema.json")), b)

	// Trusted registries are decided before any registry call.
	before := referrers.Load()
	pol2, err := provenance.NewPolicy(provenance.WithAuthority(auth), provenance.WithTrustedRegistries(host+"/shop/web"))
	if err != nil {
		t.Fatal(err)
	}
	a = run(t, snap, sampleSource(t), assess.WithRegistry(authn.NewMultiKeychain()), assess.WithProvenance(v, pol2))
	if p := subject(t, a, "shop/api").Containers[0].Provenance; p.Status != assess.Failed || p.Verdict.Step != provenance.StepUntrustedRegistry {
		t.Errorf("api under an untrusted registry: %+v", p)
	}
	if p := subject(t, a, "shop/down").Containers[0].Provenance; p.Status != assess.Failed || p.Verdict.Step != provenance.StepUntrustedRegistry {
		t.Errorf("down under an untrusted registry: %+v", p)
	}
	if n := referrers.Load() - before; n != 1 {
		t.Errorf("%d referrers calls, want 1 (web only)", n)
	}
}

// Without a verifier, provenance is not-checked with the reason: never
// absent, never fine.
func TestProvenanceNotChecked(t *testing.T) {
	a := run(t, sampleCluster(t), sampleSource(t), assess.WithImageDirs(sampleDirs(t)))
	for _, s := range a.Subjects {
		for _, c := range s.Containers {
			if c.Provenance.Status != assess.NotChecked || c.Provenance.Verdict != nil || !strings.Contains(c.Provenance.Reason, "no provenance verifier") {
				t.Errorf("%s/%s: %+v", s.Workload.Ref(), c.Name, c.Provenance)
			}
		}
	}
	if a.Stats.Verified != 0 {
		t.Errorf("verified %d", a.Stats.Verified)
	}
}

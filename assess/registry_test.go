package assess_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
)

// pushSample copies the sample cluster's images into a registry at host.
func pushSample(t *testing.T, host string) {
	t.Helper()
	for repo, dir := range map[string]string{"shop/web:1.4": "web", "shop/api:2.0": "api"} {
		p, err := layout.FromPath(filepath.Join(root(t), "testdata", "cluster", "images", dir))
		if err != nil {
			t.Fatal(err)
		}
		idx, err := p.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		im, _ := idx.IndexManifest()
		img, err := idx.Image(im.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(host + "/" + repo)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "ci", Password: "secret"})); err != nil {
			t.Fatal(err)
		}
	}
}

// manifests writes a cluster whose pods use images of host.
func manifests(t *testing.T, host string, secret bool) *cluster.Snapshot {
	t.Helper()
	pull := ""
	if secret {
		pull = "      imagePullSecrets: [{name: regcred}]\n"
	}
	y := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
%s      containers:
        - {name: web, image: %s/shop/web:1.4}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
%s      containers:
        - {name: api, image: %s/shop/api@%s}
`, pull, host, pull, host, apiDigest)
	f := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(f, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := cluster.FromManifests(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// basicAuth guards a registry with one user, as private registries do.
func basicAuth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// A real registry protocol (go-containerregistry's registry), private, with
// references by tag and by digest, credentials from a pull secret.
func TestRegistry(t *testing.T) {
	var blobGets atomic.Int64
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(basicAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			blobGets.Add(1)
		}
		reg.ServeHTTP(w, r)
	})))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	pushSample(t, host)
	secret := fmt.Sprintf(`{"auths":{"%s":{"auth":"%s"}}}`, host, base64.StdEncoding.EncodeToString([]byte("ci:secret")))
	reads := 0
	pullSecrets := func(_ context.Context, ns, n string) ([]byte, error) {
		reads++
		if ns != "shop" || n != "regcred" {
			return nil, fmt.Errorf("secrets %q is forbidden", n)
		}
		return []byte(secret), nil
	}
	ctx := context.Background()

	// Without credentials, the private images are unknown with the
	// registry's answer as the reason.
	denied := run(t, manifests(t, host, false), sampleSource(t), assess.WithRegistry(authn.NewMultiKeychain()))
	for _, s := range denied.Subjects {
		if c := s.Containers[0]; c.Image.Status != assess.NotScanned || len(s.Unknowns) == 0 || !strings.Contains(s.Unknowns[0], "401") && !strings.Contains(s.Unknowns[0], "UNAUTHORIZED") {
			t.Errorf("%s without credentials: %+v %v", s.Workload.Ref(), c.Image, s.Unknowns)
		}
	}

	a, err := assess.Assess(ctx, manifests(t, host, true), sampleSource(t), assess.WithRegistry(authn.NewMultiKeychain()),
		assess.WithPullSecrets(pullSecrets))
	if err != nil {
		t.Fatal(err)
	}
	if reads != 1 {
		t.Errorf("pull secret read %d times, want once", reads)
	}
	web, api := subject(t, a, "shop/web").Containers[0], subject(t, a, "shop/api").Containers[0]
	if web.Image.Digest != webDigest || web.Image.ResolvedBy != "registry" || web.Image.Status != assess.Scanned {
		t.Errorf("web by tag: %+v", web.Image)
	}
	if api.Image.Digest != apiDigest || api.Image.ResolvedBy != "pinned" || api.Image.Status != assess.Scanned {
		t.Errorf("api by digest: %+v", api.Image)
	}
	if !web.Exploit.Known || web.Exploit.Likelihood < 0.9 {
		t.Errorf("web exploit %+v", web.Exploit)
	}
	if a.Stats.ImagesRead != 2 || blobGets.Load() == 0 {
		t.Errorf("stats %+v, blob GETs %d", a.Stats, blobGets.Load())
	}
}

// A registry that never answers costs one per-image deadline, then the
// image is unknown and the rest goes on.
func TestRegistryTimeout(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	host := strings.TrimPrefix(srv.URL, "http://")
	start := time.Now()
	a := run(t, manifests(t, host, false), sampleSource(t), assess.WithRegistry(authn.NewMultiKeychain()),
		assess.WithImageTimeout(500*time.Millisecond), assess.WithJobs(2))
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v: the per-image deadline did not bound it", d)
	}
	for _, s := range a.Subjects {
		c := s.Containers[0]
		if c.Image.Status != assess.NotScanned || c.Exploit.Known || len(s.Unknowns) == 0 {
			t.Errorf("%s: %+v %+v", s.Workload.Ref(), c.Image, s.Unknowns)
		}
		if !strings.Contains(strings.Join(s.Unknowns, " "), "deadline") && !strings.Contains(strings.Join(s.Unknowns, " "), "timeout") {
			t.Errorf("%s: reason does not say it timed out: %v", s.Workload.Ref(), s.Unknowns)
		}
	}
}

// Images over --max-image-size are not read: unknown, with the reason.
func TestMaxImageSize(t *testing.T) {
	a := run(t, sampleCluster(t), sampleSource(t), assess.WithImageDirs(sampleDirs(t)), assess.WithMaxImageSize(1000))
	if a.Stats.ImagesRead != 0 || a.Stats.Unknown != 3 {
		t.Errorf("stats %+v", a.Stats)
	}
	web := subject(t, a, "shop/web")
	if !strings.Contains(strings.Join(web.Unknowns, " "), "max-image-size") || web.Containers[0].Exploit.Known {
		t.Errorf("web: %v %+v", web.Unknowns, web.Containers[0].Exploit)
	}
}

//go:build !node && !scan

package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
)

// TestAssessLive reads pods from a real kube-apiserver and resolves their
// images through a real registry protocol: a running pod by the digest its
// status reports (status.containerStatuses[].imageID), a pending one by its
// tag, and a private image with the pod's imagePullSecret read from the
// cluster.
func TestAssessLive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	// A private registry holding the sample cluster's images.
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	regSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/private/") {
			if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "s3cret" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
		}
		reg.ServeHTTP(w, r)
	}))
	defer regSrv.Close()
	host := strings.TrimPrefix(regSrv.URL, "http://")
	for repo, dir := range map[string]string{"shop/web:1.4": "web", "shop/api:2.0": "api", "private/api:2.0": "api"} {
		p, err := layout.FromPath(filepath.Join("..", "..", "testdata", "cluster", "images", dir))
		if err != nil {
			t.Fatal(err)
		}
		idx, _ := p.ImageIndex()
		im, _ := idx.IndexManifest()
		img, err := idx.Image(im.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		ref, _ := name.ParseReference(host + "/" + repo)
		if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: "ci", Password: "s3cret"})); err != nil {
			t.Fatal(err)
		}
	}
	webDigest := "sha256:5872df9159cccd95624b4f624969d9abbbc5cb0b5123c06bfcb01e4cf5a9bb6a"

	srv := kubeapiserver.Start(t)
	ctx := context.Background()
	cs := srv.Client
	srv.Namespace(t, "shop", nil)
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// web runs: its status says which digest the node pulled. The spec's tag
	// names another image; the status wins.
	web, err := cs.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f9c7b6-abcde", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: host + "/shop/api:2.0", Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	web.Status.Phase = corev1.PodRunning
	web.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "web", Image: host + "/shop/web:1.4", ImageID: host + "/shop/web@" + webDigest,
		ContainerID: "containerd://3f2a9b1c0d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8", Ready: true}}
	must(cs.CoreV1().Pods("shop").UpdateStatus(ctx, web, metav1.UpdateOptions{}))
	// api is pending: resolved by its tag through the registry.
	must(cs.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: host + "/shop/api:2.0"}}}}, metav1.CreateOptions{}))
	// private needs its pull secret.
	cfg := fmt.Sprintf(`{"auths":{"%s":{"auth":"%s"}}}`, host, base64.StdEncoding.EncodeToString([]byte("ci:s3cret")))
	must(cs.CoreV1().Secrets("shop").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(cfg)}}, metav1.CreateOptions{}))
	must(cs.CoreV1().Pods("shop").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "private"},
		Spec: corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
			Containers: []corev1.Container{{Name: "private", Image: host + "/private/api:2.0"}}}}, metav1.CreateOptions{}))
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := srv.WriteKubeconfig(kc, srv.Token("admin")); err != nil {
		t.Fatal(err)
	}

	alerts := filepath.Join(t.TempDir(), "alerts.json")
	writeTestFile(t, alerts, `{"rule":"Terminal shell in container","output_fields":{"container.id":"3f2a9b1c0d4e","container.name":"web","k8s.ns.name":"shop","k8s.pod.name":"web-5d8f9c7b6-abcde"}}`+"\n")
	code, out, errs := runCLI("assess", "--kubeconfig", kc, "--db", "sample", "--no-cache", "--no-progress", "-o", "json", "--alert", alerts)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var a struct {
		Subjects []struct {
			Workload   struct{ Name string } `json:"workload"`
			Containers []struct {
				Image struct {
					Digest, ResolvedBy, Status, Reason string
				} `json:"image"`
				Exploit struct {
					Known      bool    `json:"known"`
					Likelihood float64 `json:"likelihood"`
				} `json:"exploit"`
			} `json:"containers"`
		} `json:"subjects"`
		Alerts []struct {
			Status, MatchedBy, Container string
		} `json:"alerts"`
		Stats struct {
			Images, ImagesRead int
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range a.Subjects {
		c := s.Containers[0]
		got[s.Workload.Name] = c.Image.ResolvedBy + " " + c.Image.Status + " " + c.Image.Reason
		if s.Workload.Name == "web-5d8f9c7b6-abcde" && (c.Image.Digest != webDigest || !c.Exploit.Known || c.Exploit.Likelihood < 0.9) {
			t.Errorf("web: %+v", c)
		}
	}
	want := map[string]string{"web-5d8f9c7b6-abcde": "status.imageID scanned ", "api": "registry scanned ", "private": "registry scanned "}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	// api and private are one digest in two repositories: read once.
	if a.Stats.Images != 2 || a.Stats.ImagesRead != 2 {
		t.Errorf("stats %+v", a.Stats)
	}
	if len(a.Alerts) != 1 || a.Alerts[0].Status != "matched" || a.Alerts[0].MatchedBy != "container id" {
		t.Errorf("alerts %+v", a.Alerts)
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

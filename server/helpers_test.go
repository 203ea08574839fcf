package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/imagetest"
	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
	"github.com/credence-dev/credence/server"
	"github.com/credence-dev/credence/store"
	"github.com/credence-dev/credence/vulndb"
)

// Facts of the sample images (testdata/cluster): web carries log4j-core
// 2.14.1 (Log4Shell, in the sample KEV catalog); api has no sample
// advisory.
const (
	webDigest = "sha256:5872df9159cccd95624b4f624969d9abbbc5cb0b5123c06bfcb01e4cf5a9bb6a"
	apiDigest = "sha256:eb2c254075ad8f27163656392777487689db51bd8f2bdafbe8a808e8f41dd4a7"
	log4shell = "CVE-2021-44228"
	// bigFindings is the number of findings of the synthetic "big" image.
	bigFindings = 1000
)

// registryCounter is go-containerregistry's registry, counting the blob
// reads (an image's layers read) and the requests.
type registryCounter struct {
	host     string
	blobGets atomic.Int64
	requests atomic.Int64
}

func startRegistry(t testing.TB) *registryCounter {
	t.Helper()
	rc := &registryCounter{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.requests.Add(1)
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
			rc.blobGets.Add(1)
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rc.host = strings.TrimPrefix(srv.URL, "http://")
	return rc
}

func (rc *registryCounter) push(t testing.TB, repo string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(rc.host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// sampleImage reads one of testdata/cluster/images.
func sampleImage(t testing.TB, dir string) v1.Image {
	t.Helper()
	p, err := layout.FromPath(filepath.Join(testutil.RepoRoot(t), "testdata", "cluster", "images", dir))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// bigImage is an Alpine 3.18 image with bigFindings apk packages, each
// affected by one (critical) advisory of bigAdvisories.
func bigImage(t testing.TB) v1.Image {
	var db strings.Builder
	for i := range bigFindings {
		fmt.Fprintf(&db, "P:pkg%04d\nV:1.0-r0\nA:x86_64\no:pkg%04d\n\n", i, i)
	}
	return imagetest.Image(t, []imagetest.File{
		{Name: "etc/os-release", Body: "ID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME=\"Alpine Linux v3.18\"\n"},
		{Name: "lib/apk/db/installed", Body: db.String()},
	})
}

// bigAdvisories writes the OSV records that affect bigImage's packages.
func bigAdvisories(t testing.TB, dir string) {
	t.Helper()
	for i := range bigFindings {
		rec := fmt.Sprintf(`{"schema_version":"1.6.0","id":"ALPINE-TEST-%04d","modified":"2026-01-01T00:00:00Z","published":"2025-06-01T00:00:00Z",
"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
"affected":[{"package":{"ecosystem":"Alpine:v3.18","name":"pkg%04d"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0-r1"}]}]}]}`, i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("ALPINE-TEST-%04d.json", i)), []byte(rec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sampleData is the embedded sample's OSV and KEV data directory.
func sampleData(t testing.TB) string {
	return filepath.Join(testutil.RepoRoot(t), "vulndb", "sample", "data")
}

// oldDB builds "yesterday's" database at path: the sample data without the
// log4j advisories (and, with big, the big image's advisories). It returns
// the log4j records' file names, the update to give later.
func oldDB(t testing.TB, path string, big bool) []string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(sampleData(t), "osv")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "log4j") {
			held = append(held, e.Name())
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kev, err := os.ReadFile(filepath.Join(sampleData(t), "known_exploited_vulnerabilities.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "known_exploited_vulnerabilities.json"), kev, 0o644); err != nil {
		t.Fatal(err)
	}
	if big {
		bigAdvisories(t, dir)
	}
	ins, err := vulndb.Inputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vulndb.Import(context.Background(), path, ins); err != nil {
		t.Fatal(err)
	}
	if len(held) == 0 {
		t.Fatal("no log4j record in the sample data")
	}
	return held
}

// giveUpdate copies the held-back records into the import directory.
func giveUpdate(t testing.TB, importDir string, held []string) {
	t.Helper()
	for _, n := range held {
		b, err := os.ReadFile(filepath.Join(sampleData(t), "osv", n))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(importDir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runningPod creates a pod and writes its status as a kubelet would:
// running, the image digest it pulled, a container id.
func runningPod(t testing.TB, cs kubernetes.Interface, ns, podName, image, imageID string, owner *metav1.OwnerReference) *corev1.Pod {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: podName, Labels: map[string]string{"app": strings.SplitN(podName, "-", 2)[0]}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	p, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = fmt.Sprintf("10.244.0.%d", 2+len(podName)%200)
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", Image: image, ImageID: imageID,
		ContainerID: "containerd://" + hex.EncodeToString(id), Ready: true}}
	p, err = cs.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func controller(kind, name string, uid string) *metav1.OwnerReference {
	yes := true
	api := "apps/v1"
	if kind == "Job" || kind == "CronJob" {
		api = "batch/v1"
	}
	return &metav1.OwnerReference{APIVersion: api, Kind: kind, Name: name, UID: types.UID(uid), Controller: &yes}
}

// eventually retries f until it returns nil or the time is up.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not after %s: %v", what, timeout, err)
}

// testLogger logs to the test (when verbose) and keeps the lines.
type testLogger struct {
	mu    sync.Mutex
	lines []string
	t     testing.TB
}

func (l *testLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(string(b)))
	if testing.Verbose() {
		l.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}

func (l *testLogger) find(s string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.lines {
		if strings.Contains(x, s) {
			return x
		}
	}
	return ""
}

func newLogger(t testing.TB) (*slog.Logger, *testLogger) {
	tl := &testLogger{t: t}
	return slog.New(slog.NewTextHandler(tl, &slog.HandlerOptions{Level: slog.LevelDebug})), tl
}

// startAPI starts a kube-apiserver with the namespaces the tests use.
func startAPI(t *testing.T, opts ...kubeapiserver.Option) *kubeapiserver.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real kube-apiserver")
	}
	srv := kubeapiserver.Start(t, opts...)
	srv.Namespace(t, "shop", nil)
	srv.Namespace(t, "credence", nil)
	return srv
}

func openStore(t testing.TB, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// run starts the server in the background and stops it at cleanup.
func run(t testing.TB, srv *server.Server) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("server: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("server did not stop within 30s")
		}
	})
	return cancel
}

var _ = assess.SchemaVersion

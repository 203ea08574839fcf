package server_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/internal/testutil/imagetest"
	"github.com/credence-dev/credence/server"
	"github.com/credence-dev/credence/store"
)

// scaleImage is an Alpine image with 50 packages starting at package first.
func scaleImage(t testing.TB, first int) v1.Image {
	var db strings.Builder
	for i := first; i < first+50; i++ {
		fmt.Fprintf(&db, "P:pkg%04d\nV:1.0-r0\nA:x86_64\no:pkg%04d\n\n", i, i)
	}
	return imagetest.Image(t, []imagetest.File{
		{Name: "etc/os-release", Body: "ID=alpine\nVERSION_ID=3.18.4\n"},
		{Name: "lib/apk/db/installed", Body: db.String()},
	})
}

// TestScale measures the server on the real kube-apiserver with many
// running pods (CREDENCE_SERVER_SCALE=PODS, e.g. 2000; skipped otherwise):
// time to assess and label every pod, memory, trust-graph rebuilds, the
// time from an advisory import that affects part of the images to the KEV
// label on every affected pod, and the API's latency for one Subject while
// pods churn. It reports; it asserts only that everything got done.
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CREDENCE_SERVER_SCALE"))
	if n == 0 {
		t.Skip("a measurement: set CREDENCE_SERVER_SCALE=PODS (e.g. 2000)")
	}
	const perDeployment, images = 10, 20
	api := startAPI(t)
	cs := api.Client
	reg := startRegistry(t)
	digests := make([]string, images)
	for i := range images {
		digests[i] = reg.push(t, fmt.Sprintf("scale/img%02d:1", i), scaleImage(t, i*3))
	}
	dir := t.TempDir()
	dbPath, importDir := filepath.Join(dir, "vuln.db"), filepath.Join(dir, "import")
	_ = os.Mkdir(importDir, 0o755)
	oldDB(t, dbPath, false)
	ctx := context.Background()
	deployments := n / perDeployment
	t0 := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	var created atomic.Int64
	for d := range deployments {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			img := d % images
			name := fmt.Sprintf("app%04d", d)
			ref := fmt.Sprintf("%s/scale/img%02d:1", reg.host, img)
			labels := map[string]string{"app": name}
			tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: ref, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
			dep, err := cs.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			rs, err := cs.AppsV1().ReplicaSets("shop").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name + "-5d8f9c7b6",
				OwnerReferences: []metav1.OwnerReference{*controller("Deployment", name, string(dep.UID))}},
				Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
			if err != nil {
				t.Error(err)
				return
			}
			for p := range perDeployment {
				runningPod(t, cs, "shop", fmt.Sprintf("%s-5d8f9c7b6-%05d", name, p), ref, fmt.Sprintf("%s/scale/img%02d@%s", reg.host, img, digests[img]),
					controller("ReplicaSet", rs.Name, string(rs.UID)))
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("cluster: %d pods in %d deployments on %d images, created in %s", created.Load(), deployments, images, time.Since(t0).Round(time.Second))

	st := openStore(t, filepath.Join(dir, "credence.db"))
	logger, _ := newLogger(t)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	srv, err := server.New(st, cs, "scale", server.WithDB(dbPath), server.WithDBImportDir(importDir, time.Second), server.WithoutLeaderElection(),
		server.WithTimings(2*time.Second, 5*time.Second, 0, time.Minute, 200*time.Millisecond),
		server.WithImageOptions(assess.WithRegistry(nil)), server.WithLogger(logger), server.WithAnonymousRead())
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	run(t, srv)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	c := &client{t: t, base: hs.URL, hc: hs.Client()}
	eventually(t, 20*time.Minute, "every workload assessed", func() error {
		ws, err := st.ListWorkloads(ctx, store.ListOptions{Limit: 10000})
		if err != nil || len(ws) < deployments {
			return fmt.Errorf("%d of %d: %v", len(ws), deployments, err)
		}
		return nil
	})
	assessed := time.Since(t1)
	eventually(t, 20*time.Minute, "every pod labelled", func() error {
		pods, err := cs.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "!" + server.LabelRisk})
		if err != nil || len(pods.Items) > 0 {
			return fmt.Errorf("%d pods without the label: %v", len(pods.Items), err)
		}
		return nil
	})
	labelled := time.Since(t1)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if p := os.Getenv("CREDENCE_SERVER_SCALE_HEAP"); p != "" {
		if f, err := os.Create(p); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	mf := scrape(t, c, "")
	graphs, _ := value(mf, "credence_graph_build_seconds", nil)
	t.Logf("assessed %d workloads in %s, every pod labelled in %s; graph rebuilds %v; Go heap in use %.0f MiB (%.0f before the server), RSS %s",
		deployments, assessed.Round(time.Millisecond), labelled.Round(time.Millisecond), graphs, float64(ms.HeapInuse)/(1<<20), float64(before.HeapInuse)/(1<<20), rss())

	// An advisory for pkg0030, in the images that carry it.
	var affected []int
	for i := range images {
		if 30 >= i*3 && 30 < i*3+50 {
			affected = append(affected, i)
		}
	}
	rec := `{"schema_version":"1.6.0","id":"ALPINE-SCALE-0030","modified":"2026-01-01T00:00:00Z","published":"2026-01-01T00:00:00Z","aliases":["CVE-2021-44228"],
"affected":[{"package":{"ecosystem":"Alpine:v3.18","name":"pkg0030"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0-r1"}]}]}]}`
	t2 := time.Now()
	if err := os.WriteFile(filepath.Join(importDir, "ALPINE-SCALE-0030.json"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	want := 0
	for d := range deployments {
		if slices.Contains(affected, d%images) {
			want += perDeployment
		}
	}
	eventually(t, 10*time.Minute, "every affected pod labelled with KEV", func() error {
		pods, err := cs.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: server.LabelKEV + "=true"})
		if err != nil || len(pods.Items) < want {
			return fmt.Errorf("%d of %d: %v", len(pods.Items), want, err)
		}
		return nil
	})
	t.Logf("advisory import affecting %d of %d images (%d pods) -> KEV label on every affected pod: %s", len(affected), images, want, time.Since(t2).Round(time.Millisecond))

	// API latency for one Subject while pods churn.
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Add(1)
	go func() {
		defer churn.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("app%04d-5d8f9c7b6-%05d", i%deployments, i%perDeployment)
			_ = cs.CoreV1().Pods("shop").Delete(ctx, name, metav1.DeleteOptions{})
			time.Sleep(50 * time.Millisecond)
		}
	}()
	var lat []time.Duration
	for i := range 300 {
		k := fmt.Sprintf("/api/v1/subjects/shop/Deployment/app%04d", i%deployments)
		t3 := time.Now()
		if code, _ := c.do("GET", k, "", nil); code != 200 && code != 404 {
			t.Errorf("GET %s: %d", k, code)
		}
		lat = append(lat, time.Since(t3))
	}
	close(stop)
	churn.Wait()
	slices.Sort(lat)
	t.Logf("GET a Subject during churn: p50 %s, p99 %s, max %s (%d requests)", lat[len(lat)/2].Round(time.Microsecond),
		lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond), len(lat))
}

// rss is this process's resident set (the test binary: server, informers,
// registry; the API server and etcd are other processes).
func rss() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	var cur, peak string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			cur = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			peak = strings.TrimSpace(v)
		}
	}
	if cur != "" {
		return cur + " (peak " + peak + ")"
	}
	return "?"
}

package server_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/imagetest"
	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
	"github.com/credence-dev/credence/server"
	"github.com/credence-dev/credence/store"
)

// scaleImage is an Alpine image with 50 packages starting at package first,
// and libshared when shared: the package the measured advisory names.
func scaleImage(t testing.TB, first int, shared bool) v1.Image {
	var db strings.Builder
	for i := first; i < first+50; i++ {
		fmt.Fprintf(&db, "P:pkg%04d\nV:1.0-r0\nA:x86_64\no:pkg%04d\n\n", i, i)
	}
	if shared {
		db.WriteString("P:libshared\nV:1.0-r0\nA:x86_64\no:libshared\n\n")
	}
	return imagetest.Image(t, []imagetest.File{
		{Name: "etc/os-release", Body: "ID=alpine\nVERSION_ID=3.18.4\n"},
		{Name: "lib/apk/db/installed", Body: db.String()},
	})
}

// scaleSetup is what TestScale measures, from the environment.
type scaleSetup struct {
	pods, images, nodes int
	// affected images carry libshared, which the measured advisory names.
	affected int
	// bin runs the server as `credence serve` in a process of its own, so
	// its resident set is the server's alone (else the server runs in the
	// test process, beside the registry and the test's client).
	bin string
	// kwok fakes the nodes and runs the pods on them (kwok's stages, one
	// file each in stages); else the test writes each pod's status itself.
	kwok   string
	stages []string
	qps    int
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// TestScale measures the server on the real kube-apiserver with many
// running pods (CREDENCE_SERVER_SCALE=PODS, e.g. 2000; skipped otherwise):
// time to assess and label every pod, memory, trust-graph rebuilds, the
// time from an advisory import that affects half of the images to the KEV
// label on every affected pod, and the API's latency for one Subject while
// pods churn. It reports; it asserts only that everything got done.
//
// CREDENCE_SERVER_SCALE_MEMLIMIT (the server's --memory-limit),
// CREDENCE_SERVER_SCALE_WORKERS (its --workers, default 2 as the server's),
// CREDENCE_SERVER_SCALE_IMAGES (default 20), CREDENCE_SERVER_SCALE_NODES
// (with kwok, default 1000), CREDENCE_SERVER_SCALE_AFFECTED (images the
// advisory affects, default half), CREDENCE_SERVER_SCALE_QPS (the server's --qps,
// default 200), CREDENCE_SERVER_BIN (a credence binary: the server runs as
// its own process) and CREDENCE_KWOK with CREDENCE_KWOK_STAGES (kwok and
// its stage files, comma-separated) shape the run; bench/server-scale.sh
// sets them for 10,000 pods on 1,000 kwok nodes.
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CREDENCE_SERVER_SCALE"))
	if n == 0 {
		t.Skip("a measurement: set CREDENCE_SERVER_SCALE=PODS (e.g. 2000), or run bench/server-scale.sh")
	}
	cfg := scaleSetup{pods: n, images: envInt("CREDENCE_SERVER_SCALE_IMAGES", 20), affected: envInt("CREDENCE_SERVER_SCALE_AFFECTED", 0), qps: envInt("CREDENCE_SERVER_SCALE_QPS", 200),
		bin: os.Getenv("CREDENCE_SERVER_BIN"), kwok: os.Getenv("CREDENCE_KWOK")}
	if cfg.affected == 0 || cfg.affected > cfg.images {
		cfg.affected = (cfg.images + 1) / 2
	}
	if cfg.kwok != "" {
		cfg.nodes = envInt("CREDENCE_SERVER_SCALE_NODES", 1000)
		cfg.stages = strings.Split(os.Getenv("CREDENCE_KWOK_STAGES"), ",")
	}
	const perDeployment = 10
	api := startAPI(t, kubeapiserverFlags()...)
	cfgAdmin := rest.CopyConfig(api.Config)
	cfgAdmin.QPS, cfgAdmin.Burst = 2000, 4000
	cs, err := kubernetes.NewForConfig(cfgAdmin)
	if err != nil {
		t.Fatal(err)
	}
	reg := startRegistry(t)
	digests := make([]string, cfg.images)
	for i := range cfg.images {
		digests[i] = reg.push(t, fmt.Sprintf("scale/img%03d:1", i), scaleImage(t, i*3, i < cfg.affected))
	}
	dir := t.TempDir()
	ctx := context.Background()
	if cfg.kwok != "" {
		startKwok(t, api, cfg, dir)
		createNodes(t, cs, cfg.nodes)
	}
	dbPath, importDir := filepath.Join(dir, "vuln.db"), filepath.Join(dir, "import")
	_ = os.Mkdir(importDir, 0o755)
	oldDB(t, dbPath, false)
	deployments := n / perDeployment
	t0 := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var created atomic.Int64
	for d := range deployments {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			img := d % cfg.images
			name := fmt.Sprintf("app%04d", d)
			ref := fmt.Sprintf("%s/scale/img%03d:1", reg.host, img)
			pinned := fmt.Sprintf("%s/scale/img%03d@%s", reg.host, img, digests[img])
			if cfg.kwok != "" {
				ref = pinned // kwok's pod status names no image digest
			}
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
			owner := controller("ReplicaSet", rs.Name, string(rs.UID))
			for p := range perDeployment {
				podName := fmt.Sprintf("%s-5d8f9c7b6-%05d", name, p)
				if cfg.kwok != "" {
					kwokPod(t, cs, "shop", podName, ref, fmt.Sprintf("kwok-node-%04d", (d*perDeployment+p)%cfg.nodes), owner)
				} else {
					runningPod(t, cs, "shop", podName, ref, pinned, owner)
				}
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	if cfg.kwok != "" {
		eventually(t, 20*time.Minute, "kwok runs every pod", func() error {
			running := 0
			err := listPods(ctx, cs, "", func(p *corev1.Pod) {
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			})
			if err != nil || running < int(created.Load()) {
				return fmt.Errorf("%d of %d running: %v", running, created.Load(), err)
			}
			return nil
		})
	}
	t.Logf("cluster: %d pods in %d deployments on %d images, %d kwok nodes, created and running in %s", created.Load(), deployments, cfg.images, cfg.nodes, time.Since(t0).Round(time.Second))

	t1 := time.Now()
	var srv scaleServer
	if cfg.bin != "" {
		srv = startServeProcess(t, api, cfg, dir, dbPath, importDir)
	} else {
		srv = startInProcess(t, cs, cfg, dir, dbPath, importDir)
	}
	c := &client{t: t, base: srv.base, hc: &http.Client{Timeout: 30 * time.Second}}
	if d := os.Getenv("CREDENCE_SERVER_SCALE_PROFILES"); d != "" && cfg.bin != "" {
		profileEvery(t, srv, d, 3*time.Second)
	}
	st := openStore(t, filepath.Join(dir, "credence.db"))
	eventually(t, 30*time.Minute, "every workload assessed", func() error {
		ws, err := st.ListWorkloads(ctx, store.ListOptions{Limit: 100000})
		if err != nil || len(ws) < deployments {
			return fmt.Errorf("%d of %d: %v", len(ws), deployments, err)
		}
		return nil
	})
	assessed := time.Since(t1)
	rssAssessed := srv.rss()
	unlabelled := watchPods(ctx, t, cs, "!"+server.LabelRisk)
	unlabelled.wait(t, 30*time.Minute, "every pod labelled", func(n int) bool { return n == 0 })
	unlabelled.stop()
	labelled := time.Since(t1)
	if p := os.Getenv("CREDENCE_SERVER_SCALE_HEAP"); p != "" && cfg.bin == "" {
		if f, err := os.Create(p); err == nil {
			runtime.GC()
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	mf := scrape(t, c, "")
	graphs, _ := value(mf, "credence_graph_build_seconds", nil)
	heap, _ := value(mf, "go_memstats_heap_inuse_bytes", nil)
	t.Logf("assessed %d workloads in %s (server RSS then %s), every pod labelled in %s; graph rebuilds %v; server Go heap in use %.0f MiB, RSS %s",
		deployments, assessed.Round(time.Millisecond), rssAssessed, labelled.Round(time.Millisecond), graphs, heap/(1<<20), srv.rss())

	// An advisory for libshared, in the first cfg.affected images.
	affected := cfg.affected
	cpu0 := cpuByCommand()
	rec := `{"schema_version":"1.6.0","id":"ALPINE-SCALE-SHARED","modified":"2026-01-01T00:00:00Z","published":"2026-01-01T00:00:00Z","aliases":["CVE-2021-44228"],
"affected":[{"package":{"ecosystem":"Alpine:v3.18","name":"libshared"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0-r1"}]}]}]}`
	kev := watchPods(ctx, t, cs, server.LabelKEV+"=true")
	t2 := time.Now()
	if err := os.WriteFile(filepath.Join(importDir, "ALPINE-SCALE-SHARED.json"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	if p := os.Getenv("CREDENCE_SERVER_SCALE_CPUPROFILE"); p != "" && cfg.bin != "" {
		// The server's CPU profile while it re-evaluates and relabels.
		go func() {
			resp, err := http.Get(srv.base + "/debug/pprof/profile?seconds=40")
			if err != nil {
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			_ = os.WriteFile(p, b, 0o644)
		}()
	}
	want := 0
	for d := range deployments {
		if d%cfg.images < affected {
			want += perDeployment
		}
	}
	kev.wait(t, 20*time.Minute, "every affected pod labelled with KEV", func(n int) bool { return n >= want })
	relabelled := kev.stop().Sub(t2)
	mf = scrape(t, c, "")
	t.Logf("advisory import affecting %d of %d images (%d pods) -> KEV label on every affected pod: %s (update to verdict: %s; update to label: %s); server RSS %s",
		affected, cfg.images, want, relabelled.Round(time.Millisecond), histogramOf(mf, "credence_db_update_to_verdict_seconds"),
		histogramOf(mf, "credence_db_update_to_label_seconds"), srv.rss())
	t.Logf("jobs so far, by kind: %s; CPU seconds in that time: %s", jobsByKind(mf), cpuSince(cpu0))
	// The API server's own limit for that many pod patches: the test's
	// client patches as many pods (an annotation of its own), 32 at a time.
	patchLimit := timePatches(t, cs, want)
	t.Logf("the API server's limit: %d pod patches from the test's client (32 in flight) take %s, %.0f/s; credence took %.2f× that",
		want, patchLimit.Round(time.Millisecond), float64(want)/patchLimit.Seconds(), relabelled.Seconds()/patchLimit.Seconds())

	// API latency for one Subject while pods churn: every 50 ms a pod goes
	// and its replacement comes (a ReplicaSet's work, done by the test).
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
			d, p := i%deployments, i/deployments%perDeployment
			name := fmt.Sprintf("app%04d-5d8f9c7b6-%05d", d, p)
			_ = cs.CoreV1().Pods("shop").Delete(ctx, name, metav1.DeleteOptions{})
			img := d % cfg.images
			ref := fmt.Sprintf("%s/scale/img%03d@%s", reg.host, img, digests[img])
			repl := fmt.Sprintf("app%04d-5d8f9c7b6-r%04d", d, i)
			if cfg.kwok != "" {
				kwokPod(t, cs, "shop", repl, ref, fmt.Sprintf("kwok-node-%04d", i%cfg.nodes), nil)
			} else {
				runningPod(t, cs, "shop", repl, ref, ref, nil)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	var lat []time.Duration
	for i := range 1000 {
		k := fmt.Sprintf("/api/v1/subjects/shop/Deployment/app%04d", (i*7)%deployments)
		t3 := time.Now()
		if code, _ := c.do("GET", k, "", nil); code != 200 && code != 404 {
			t.Errorf("GET %s: %d", k, code)
		}
		lat = append(lat, time.Since(t3))
	}
	close(stop)
	churn.Wait()
	slices.Sort(lat)
	t.Logf("GET a Subject during churn: p50 %s, p99 %s, max %s (%d requests); server RSS %s", lat[len(lat)/2].Round(time.Microsecond),
		lat[len(lat)*99/100].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond), len(lat), srv.rss())
	p99 := lat[len(lat)*99/100]
	peak := peakRSS(srv.pid)
	t.Logf("against the goals: server peak RSS %.0f MB / 500 MB = %.2f; import to every affected pod's label %s / 30 s = %.2f; Subject p99 %s / 50 ms = %.2f",
		peak, peak/500, relabelled.Round(time.Millisecond), relabelled.Seconds()/30, p99.Round(time.Microsecond), p99.Seconds()/0.05)
}

// kubeapiserverFlags raises the API server's in-flight limits for a
// thousand-node cluster on one machine.
func kubeapiserverFlags() []kubeapiserver.Option {
	return []kubeapiserver.Option{kubeapiserver.WithFlags("--max-requests-inflight=800", "--max-mutating-requests-inflight=400")}
}

// scaleServer is the server under measurement.
type scaleServer struct {
	base string
	pid  string // "self" in process
}

func (s scaleServer) rss() string { return rssOf(s.pid) }

func startInProcess(t *testing.T, cs kubernetes.Interface, cfg scaleSetup, dir, dbPath, importDir string) scaleServer {
	st := openStore(t, filepath.Join(dir, "credence.db"))
	logger, _ := newLogger(t)
	srv, err := server.New(st, cs, "scale", server.WithDB(dbPath), server.WithDBImportDir(importDir, time.Second), server.WithoutLeaderElection(),
		server.WithTimings(2*time.Second, 5*time.Second, 0, time.Minute, 200*time.Millisecond),
		server.WithImageOptions(assess.WithRegistry(nil)), server.WithLogger(logger), server.WithAnonymousRead())
	if err != nil {
		t.Fatal(err)
	}
	run(t, srv)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return scaleServer{base: hs.URL, pid: "self"}
}

// startServeProcess runs `credence serve` as a child process on loopback.
func startServeProcess(t *testing.T, api *kubeapiserver.Server, cfg scaleSetup, dir, dbPath, importDir string) scaleServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cfg.bin, "serve", "--kubeconfig", api.Kubeconfig, "--store", filepath.Join(dir, "credence.db"),
		"--db", dbPath, "--db-import-dir", importDir, "--db-poll", "1s", "--listen", addr, "--plain-http", "--anonymous-read",
		"--leader-elect=false", "--debounce", "2s", "--graph-interval", "5s", "--resync-interval", "0",
		"--qps", strconv.Itoa(cfg.qps), "--burst", strconv.Itoa(2*cfg.qps), "--workers", strconv.Itoa(envInt("CREDENCE_SERVER_SCALE_WORKERS", 2)), "--profiling")
	if l := os.Getenv("CREDENCE_SERVER_SCALE_MEMLIMIT"); l != "" {
		cmd.Args = append(cmd.Args, "--memory-limit", l)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "HOME="+dir)
	release := startChild(t, cmd)
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); release(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		keepLog(logf.Name())
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("credence serve's log (tail):\n%s", tailOf(string(b), 40))
		}
	})
	base := "http://" + addr
	eventually(t, time.Minute, "credence serve answers", func() error {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return scaleServer{base: base, pid: strconv.Itoa(cmd.Process.Pid)}
}

// startChild starts cmd so that it dies with the test binary (a panic, a
// -timeout) instead of loading the machine after it; release once it has
// exited.
func startChild(t *testing.T, cmd *exec.Cmd) (release func()) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	release, err := testutil.StartOnOwnThread(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return release
}

// startKwok runs kwok on the API server: it manages the nodes annotated
// kwok.x-k8s.io/node=fake and the pods bound to them.
func startKwok(t *testing.T, api *kubeapiserver.Server, cfg scaleSetup, dir string) {
	args := []string{"--kubeconfig", api.Kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake", "--cidr=10.64.0.0/16", "--node-ip=10.0.0.1",
		"--node-lease-duration-seconds=40"}
	for _, s := range cfg.stages {
		if s != "" {
			args = append(args, "--config", s)
		}
	}
	logf, err := os.Create(filepath.Join(dir, "kwok.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cfg.kwok, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	release := startChild(t, cmd)
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		release()
		logf.Close()
		keepLog(logf.Name())
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("kwok's log (tail):\n%s", tailOf(string(b), 20))
		}
	})
}

// createNodes creates n nodes for kwok to manage.
func createNodes(t *testing.T, cs kubernetes.Interface, n int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			name := fmt.Sprintf("kwok-node-%04d", i)
			_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
				Labels:      map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"}}},
				metav1.CreateOptions{})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// profileEvery saves the server's heap profile into dir every period,
// named by the seconds since the start and the RSS at that time.
func profileEvery(t *testing.T, srv scaleServer, dir string, period time.Duration) {
	_ = os.MkdirAll(dir, 0o755)
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	t0 := time.Now()
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(period):
			}
			resp, err := http.Get(srv.base + "/debug/pprof/heap")
			if err != nil {
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			name := fmt.Sprintf("heap-%04.0fs-%.0fMB.pb.gz", time.Since(t0).Seconds(), currentRSS(srv.pid))
			_ = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
	}()
}

// keepLog copies a child's log into CREDENCE_SERVER_SCALE_PROFILES, when
// set, beside the profiles.
func keepLog(path string) {
	if d := os.Getenv("CREDENCE_SERVER_SCALE_PROFILES"); d != "" {
		if b, err := os.ReadFile(path); err == nil {
			_ = os.WriteFile(filepath.Join(d, filepath.Base(path)), b, 0o644)
		}
	}
}

// currentRSS is a process's resident set in MB (VmRSS).
func currentRSS(pid string) float64 { return statusMB(pid, "VmRSS:") }

// kwokPod creates a pod bound to node; kwok runs it.
func kwokPod(t testing.TB, cs kubernetes.Interface, ns, podName, image, node string, owner *metav1.OwnerReference) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: podName, Labels: map[string]string{"app": strings.SplitN(podName, "-", 2)[0]}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: image, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Error(err)
	}
}

// listPods pages through the pods matching selector.
func listPods(ctx context.Context, cs kubernetes.Interface, selector string, f func(*corev1.Pod)) error {
	opts := metav1.ListOptions{LabelSelector: selector, Limit: 2000}
	for {
		l, err := cs.CoreV1().Pods("shop").List(ctx, opts)
		if err != nil {
			return err
		}
		for i := range l.Items {
			f(&l.Items[i])
		}
		if l.Continue == "" {
			return nil
		}
		opts.Continue = l.Continue
	}
}

// podWatch follows the pods of namespace shop that match a label selector,
// by one list and a watch. The observer must not load the API server it
// measures: listing thousands of pods ten times a second would spend its
// cores on the observer and slow the patches being timed.
type podWatch struct {
	cancel  context.CancelFunc
	mu      sync.Mutex
	names   map[string]bool
	last    time.Time // when the set last changed
	changed chan struct{}
}

func watchPods(ctx context.Context, t *testing.T, cs kubernetes.Interface, selector string) *podWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	w := &podWatch{cancel: cancel, names: map[string]bool{}, changed: make(chan struct{}, 1)}
	rv, err := w.list(ctx, cs, selector)
	if err != nil {
		t.Fatalf("list pods %q: %v", selector, err)
	}
	go func() {
		for ctx.Err() == nil {
			wi, err := cs.CoreV1().Pods("shop").Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				if rv, err = w.list(ctx, cs, selector); err != nil {
					time.Sleep(time.Second)
				}
				continue
			}
			for ev := range wi.ResultChan() {
				p, ok := ev.Object.(*corev1.Pod)
				if ev.Type == watch.Error || !ok {
					// Too old a version (compacted): start over from a list.
					wi.Stop()
					if rv, err = w.list(ctx, cs, selector); err != nil {
						time.Sleep(time.Second)
					}
					break
				}
				rv = p.ResourceVersion
				switch ev.Type {
				case watch.Added, watch.Modified:
					w.set(p.Name, true)
				case watch.Deleted:
					w.set(p.Name, false)
				}
			}
			wi.Stop()
		}
	}()
	return w
}

// list replaces the set with the pods that match now; it returns the
// list's resource version to watch from.
func (w *podWatch) list(ctx context.Context, cs kubernetes.Interface, selector string) (string, error) {
	l, err := cs.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "", err
	}
	w.mu.Lock()
	w.names = map[string]bool{}
	for _, p := range l.Items {
		w.names[p.Name] = true
	}
	w.last = time.Now()
	w.mu.Unlock()
	w.notify()
	return l.ResourceVersion, nil
}

func (w *podWatch) set(name string, in bool) {
	w.mu.Lock()
	if w.names[name] != in {
		if in {
			w.names[name] = true
		} else {
			delete(w.names, name)
		}
		w.last = time.Now()
	}
	w.mu.Unlock()
	w.notify()
}

// stop ends the watch and returns when the set last changed.
func (w *podWatch) stop() time.Time {
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func (w *podWatch) notify() {
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

// wait returns when done(number of matching pods) holds.
func (w *podWatch) wait(t *testing.T, timeout time.Duration, what string, done func(int) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		n := len(w.names)
		w.mu.Unlock()
		if done(n) {
			return
		}
		select {
		case <-w.changed:
		case <-time.After(time.Second): // the watch may have been re-listed
		case <-deadline:
			t.Fatalf("%s: not after %s: %d pods match", what, timeout, n)
		}
	}
}

// histogramOf summarises a histogram from /metrics: count and mean.
func histogramOf(mf map[string]*dto.MetricFamily, name string) string {
	f := mf[name]
	if f == nil {
		return "absent"
	}
	var n uint64
	var sum float64
	for _, m := range f.Metric {
		if h := m.GetHistogram(); h != nil {
			n += h.GetSampleCount()
			sum += h.GetSampleSum()
		}
	}
	if n == 0 {
		return "empty"
	}
	return fmt.Sprintf("%d observations, mean %.1f s", n, sum/float64(n))
}

// timePatches times n pod patches (an annotation of the test's) by the
// test's client, 32 in flight.
func timePatches(t *testing.T, cs kubernetes.Interface, n int) time.Duration {
	var names []string
	_ = listPods(context.Background(), cs, "", func(p *corev1.Pod) {
		if len(names) < n {
			names = append(names, p.Name)
		}
	})
	t0 := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	patch := []byte(`{"metadata":{"annotations":{"example.com/touched":"` + strconv.FormatInt(time.Now().UnixNano(), 10) + `"}}}`)
	for _, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, _ = cs.CoreV1().Pods("shop").Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{})
		}()
	}
	wg.Wait()
	return time.Since(t0)
}

// cpuByCommand reads each process's user+system CPU seconds, summed by
// command name.
func cpuByCommand() map[string]float64 {
	out := map[string]float64{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		st := string(b)
		open, end := strings.IndexByte(st, '('), strings.LastIndexByte(st, ')')
		if open < 0 || end < open {
			continue
		}
		f := strings.Fields(st[end+1:])
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		out[st[open+1:end]] += (utime + stime) / 100 // USER_HZ
	}
	return out
}

// cpuSince prints the CPU each command used since before, largest first.
func cpuSince(before map[string]float64) string {
	type use struct {
		cmd string
		s   float64
	}
	var us []use
	for cmd, s := range cpuByCommand() {
		if d := s - before[cmd]; d >= 0.5 {
			us = append(us, use{cmd, d})
		}
	}
	slices.SortFunc(us, func(a, b use) int { return int(b.s*100 - a.s*100) })
	var out []string
	for _, u := range us {
		out = append(out, fmt.Sprintf("%s %.1f", u.cmd, u.s))
	}
	return strings.Join(out, ", ")
}

// jobsByKind summarises credence_job_duration_seconds by job kind.
func jobsByKind(mf map[string]*dto.MetricFamily) string {
	f := mf["credence_job_duration_seconds"]
	if f == nil {
		return "absent"
	}
	var out []string
	for _, m := range f.Metric {
		kind := ""
		for _, l := range m.Label {
			if l.GetName() == "kind" {
				kind = l.GetValue()
			}
		}
		if h := m.GetHistogram(); h != nil && h.GetSampleCount() > 0 {
			out = append(out, fmt.Sprintf("%s %d in %.1f s", kind, h.GetSampleCount(), h.GetSampleSum()))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func tailOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// peakRSS is a process's peak resident set in MB (VmHWM).
func peakRSS(pid string) float64 { return statusMB(pid, "VmHWM:") }

// statusMB reads one kB field of /proc/PID/status in MB.
func statusMB(pid, field string) float64 {
	b, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024 / 1e6
		}
	}
	return 0
}

// rssOf is a process's resident set and its peak ("self": this one).
func rssOf(pid string) string {
	b, err := os.ReadFile("/proc/" + pid + "/status")
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

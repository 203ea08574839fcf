package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/internal/testutil/imagetest"
	"github.com/credence-dev/credence/internal/testutil/postgrestest"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/server"
	"github.com/credence-dev/credence/store"
)

// fastServer is a server tuned for tests (short debounce, lease, poll).
func fastServer(t *testing.T, st *store.Store, cs kubernetes.Interface, dbPath string, opts ...server.Option) (*server.Server, *testLogger) {
	t.Helper()
	logger, logs := newLogger(t)
	base := []server.Option{server.WithDB(dbPath), server.WithoutLeaderElection(),
		server.WithTimings(200*time.Millisecond, 100*time.Millisecond, 0, 5*time.Second, 50*time.Millisecond),
		server.WithImageOptions(assess.WithRegistry(nil)), server.WithLogger(logger), server.WithAnonymousRead()}
	srv, err := server.New(st, cs, "fault test", append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, logs
}

func labelled(t *testing.T, cs kubernetes.Interface, pods ...string) func() error {
	return func() error {
		for _, p := range pods {
			if l, _ := podLabels(t, cs, p); l[server.LabelRisk] == "" {
				return fmt.Errorf("pod %s not labelled", p)
			}
		}
		return nil
	}
}

// TestStoreDown: PostgreSQL stops under a running server. /readyz says so
// (503, with the reason) and so does the API (503, retry); a workload that
// appears meanwhile is not lost: once PostgreSQL is back, it is assessed
// and labelled, and readiness returns.
func TestStoreDown(t *testing.T) {
	api := startAPI(t)
	cs := api.Client
	pg := postgrestest.StartPrivate(t)
	reg := startRegistry(t)
	reg.push(t, "shop/api:2.0", sampleImage(t, "api"))
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	oldDB(t, dbPath, false)
	st := openStore(t, pg.URL("postgres"))
	runningPod(t, cs, "shop", "api", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	srv, logs := fastServer(t, st, cs, dbPath)
	run(t, srv)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	c := &client{t: t, base: hs.URL, hc: hs.Client()}
	eventually(t, 60*time.Second, "api assessed", labelled(t, cs, "api"))

	pg.Halt(t)
	eventually(t, 20*time.Second, "readyz reports the store", func() error {
		code, b := c.do(http.MethodGet, "/readyz", "", nil)
		if code != http.StatusServiceUnavailable || !strings.Contains(string(b), "store") {
			return fmt.Errorf("%d %s", code, b)
		}
		return nil
	})
	if code, b := c.do(http.MethodGet, "/api/v1/subjects", "", nil); code != http.StatusServiceUnavailable || !strings.Contains(string(b), "retry") {
		t.Errorf("API with the store down: %d %s", code, b)
	}
	runningPod(t, cs, "shop", "api-2", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	time.Sleep(2 * time.Second) // the scheduler tries, and keeps the change
	pg.Resume(t)
	eventually(t, 60*time.Second, "the workload that came while the store was down assessed", labelled(t, cs, "api-2"))
	if _, err := st.GetSubject(context.Background(), "shop/Pod/api-2"); err != nil {
		t.Error(err)
	}
	eventually(t, 20*time.Second, "ready again", func() error {
		if code, b := c.do(http.MethodGet, "/readyz", "", nil); code != 200 {
			return fmt.Errorf("%d %s", code, b)
		}
		return nil
	})
	if logs.find("store unavailable") == "" && logs.find("cannot queue assessments") == "" && logs.find("cannot claim a job; retrying") == "" {
		t.Error("the outage was not logged")
	}
}

// proxy is a TCP proxy that can drop every connection and refuse new ones
// (an API server that drops the watch), then come back on the same port.
type proxy struct {
	t       *testing.T
	target  string
	addr    string
	mu      sync.Mutex
	ln      net.Listener
	conns   []net.Conn
	stopped bool
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln, p.stopped = ln, false
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			go func() { _, _ = io.Copy(c, b); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address.
func (p *proxy) restore() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

// TestWatchDropped: the connection to the API server drops (every watch and
// request cut, new connections refused) while a pod is created and another
// deleted. When the API server is reachable again the informers list and
// watch anew: the new pod is assessed and labelled, the deleted one's
// workload is removed.
func TestWatchDropped(t *testing.T) {
	api := startAPI(t)
	admin := api.Client
	reg := startRegistry(t)
	reg.push(t, "shop/api:2.0", sampleImage(t, "api"))
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	oldDB(t, dbPath, false)
	runningPod(t, admin, "shop", "api", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	runningPod(t, admin, "shop", "gone", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	px := newProxy(t, strings.TrimPrefix(api.URL, "https://"))
	cfg := api.ConfigWithToken(api.AdminToken)
	cfg.Host = "https://" + px.addr
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, filepath.Join(t.TempDir(), "credence.db"))
	srv, _ := fastServer(t, st, cs, dbPath)
	run(t, srv)
	eventually(t, 60*time.Second, "assessed", labelled(t, admin, "api", "gone"))

	px.cut()
	runningPod(t, admin, "shop", "newcomer", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	if err := admin.CoreV1().Pods("shop").Delete(context.Background(), "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	px.restore()
	eventually(t, 90*time.Second, "the pod created while the watch was down assessed", labelled(t, admin, "newcomer"))
	eventually(t, 30*time.Second, "the pod deleted while the watch was down removed", func() error {
		if _, err := st.GetSubject(context.Background(), "shop/Pod/gone"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("still current: %v", err)
		}
		return nil
	})
}

// TestDBImportFailsHalfway: a truncated archive in the import directory
// fails the import and changes nothing (the database file and the store's
// version stay); then an update whose re-match fails part-way (after one
// image) leaves the store's view as it was, pending and invisible, and the
// job's next attempt resumes and commits it.
func TestDBImportFailsHalfway(t *testing.T) {
	api := startAPI(t)
	cs := api.Client
	reg := startRegistry(t)
	reg.push(t, "shop/web:1.4", sampleImage(t, "web"))
	reg.push(t, "shop/api:2.0", sampleImage(t, "api"))
	dir := t.TempDir()
	dbPath, importDir := filepath.Join(dir, "vuln.db"), filepath.Join(dir, "import")
	if err := os.Mkdir(importDir, 0o755); err != nil {
		t.Fatal(err)
	}
	held := oldDB(t, dbPath, false)
	runningPod(t, cs, "shop", "web", reg.host+"/shop/web:1.4", reg.host+"/shop/web@"+webDigest, nil)
	runningPod(t, cs, "shop", "api", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	st := openStore(t, filepath.Join(dir, "credence.db"))
	var fail sync.Map // "once": the first re-match fails after one image
	fail.Store("once", true)
	srv, logs := fastServer(t, st, cs, dbPath, server.WithDBImportDir(importDir, 200*time.Millisecond),
		server.WithRematchHook(func(n int) error {
			if _, first := fail.LoadAndDelete("once"); first && n == 1 {
				return errors.New("the update fails halfway (test)")
			}
			return nil
		}))
	run(t, srv)
	ctx := context.Background()
	eventually(t, 60*time.Second, "assessed", labelled(t, cs, "web", "api"))
	v0, err := st.CurrentDBVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stat0, _ := os.Stat(dbPath)

	// 1. A truncated OSV archive.
	zip := imagetest.Zip(t, map[string]string{"GHSA-x.json": strings.Repeat(`{"id":"GHSA-x"}`, 500)})
	if err := os.WriteFile(filepath.Join(importDir, "all.zip"), zip[:len(zip)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the failed import logged", func() error {
		if logs.find("database import failed; the database is unchanged") == "" {
			return errors.New("not yet")
		}
		return nil
	})
	if stat1, _ := os.Stat(dbPath); !os.SameFile(stat0, stat1) || stat1.ModTime() != stat0.ModTime() {
		t.Error("the database file changed after a failed import")
	}
	if v, err := st.CurrentDBVersion(ctx); err != nil || v.Seq != v0.Seq {
		t.Errorf("store version %+v after a failed import, want %d", v, v0.Seq)
	}

	// 2. A good update whose re-match fails after the first image.
	if err := os.Remove(filepath.Join(importDir, "all.zip")); err != nil {
		t.Fatal(err)
	}
	giveUpdate(t, importDir, held)
	eventually(t, 20*time.Second, "the re-match failed once", func() error {
		if logs.find("the update fails halfway") == "" {
			return errors.New("not yet")
		}
		return nil
	})
	// Until the retry commits, nobody sees half an update: the current
	// version is the old one, with the old findings.
	if v, err := st.CurrentDBVersion(ctx); err == nil && v.Seq == v0.Seq {
		if f, err := st.Findings(ctx, webDigest); err != nil || slices.ContainsFunc(f.Findings, isLog4Shell) {
			t.Errorf("half an update visible: %v", err)
		}
	}
	eventually(t, 30*time.Second, "the update resumed and committed", func() error {
		f, err := st.Findings(ctx, webDigest)
		if err != nil || f.DBVersion == v0.Seq || !slices.ContainsFunc(f.Findings, isLog4Shell) {
			return fmt.Errorf("version %v: %v", f, err)
		}
		return nil
	})
	vs, err := st.DBVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.State == store.DBPending {
			t.Errorf("a version left pending: %+v", v)
		}
	}
	eventually(t, 30*time.Second, "web labelled with the KEV finding", func() error {
		if l, _ := podLabels(t, cs, "web"); l[server.LabelKEV] != "true" {
			return fmt.Errorf("labels %v", l)
		}
		return nil
	})
}

func isLog4Shell(f match.Finding) bool {
	return f.ID == log4shell || slices.Contains(f.Aliases, log4shell)
}

// TestOnce: WithOnce (credence serve --once) returns once every running
// workload is assessed, labelled, and no job is left: a one-shot fill of
// the store, and the signal a benchmark waits for.
func TestOnce(t *testing.T) {
	api := startAPI(t)
	cs := api.Client
	reg := startRegistry(t)
	reg.push(t, "shop/api:2.0", sampleImage(t, "api"))
	reg.push(t, "shop/web:1.4", sampleImage(t, "web"))
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	oldDB(t, dbPath, false)
	runningPod(t, cs, "shop", "api", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	runningPod(t, cs, "shop", "web", reg.host+"/shop/web:1.4", reg.host+"/shop/web@"+webDigest, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "credence.db"))
	srv, _ := fastServer(t, st, cs, dbPath, server.WithOnce())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := srv.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, k := range []string{"shop/Pod/api", "shop/Pod/web"} {
		if _, err := st.GetSubject(ctx, k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	if err := labelled(t, cs, "api", "web")(); err != nil {
		t.Error(err)
	}
	jc, err := st.JobCounts(ctx)
	if err != nil || jc[store.JobQueued]+jc[store.JobRunning] != 0 {
		t.Errorf("jobs left: %v %v", jc, err)
	}
}

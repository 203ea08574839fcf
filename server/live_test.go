package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/server"
	"github.com/credence-dev/credence/store"
	"github.com/credence-dev/credence/vulndb"
)

// Tokens of the static token file the live test serves the API with.
const (
	viewerToken = "viewer-token-0123456789abcdef"
	alertToken  = "alerts-token-0123456789abcdef"
	tokenFile   = viewerToken + ",ann,1,\"credence:viewers\"\n" + alertToken + ",falco,2,\"credence:alerts\"\n"
)

// cluster is the live test's cluster: Deployment web (a ReplicaSet, two
// pods), bare pods api and api-2 (one image, read once), big (an image
// with 1,000 findings), and a finished pod that must never be assessed.
type testCluster struct {
	cs       kubernetes.Interface
	reg      *registryCounter
	dep      *appsv1.Deployment
	rs       *appsv1.ReplicaSet
	bigD     string
	webPods  []string
	allPods  []string
	runningN int
}

func makeCluster(t *testing.T, cs kubernetes.Interface, reg *registryCounter) *testCluster {
	t.Helper()
	ctx := context.Background()
	c := &testCluster{cs: cs, reg: reg}
	if d := reg.push(t, "shop/web:1.4", sampleImage(t, "web")); d != webDigest {
		t.Fatalf("web digest %s", d)
	}
	if d := reg.push(t, "shop/api:2.0", sampleImage(t, "api")); d != apiDigest {
		t.Fatalf("api digest %s", d)
	}
	c.bigD = reg.push(t, "big/alpine:1", bigImage(t))
	web := reg.host + "/shop/web:1.4"
	labels := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: web, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}}}}
	var err error
	c.dep, err = cs.AppsV1().Deployments("shop").Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.rs, err = cs.AppsV1().ReplicaSets("shop").Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f9c7b6",
		OwnerReferences: []metav1.OwnerReference{*controller("Deployment", "web", string(c.dep.UID))}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rsRef := controller("ReplicaSet", c.rs.Name, string(c.rs.UID))
	for _, n := range []string{"web-5d8f9c7b6-abcde", "web-5d8f9c7b6-fghij"} {
		runningPod(t, cs, "shop", n, web, reg.host+"/shop/web@"+webDigest, rsRef)
		c.webPods = append(c.webPods, n)
	}
	runningPod(t, cs, "shop", "api", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	runningPod(t, cs, "shop", "api-2", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	runningPod(t, cs, "shop", "big", reg.host+"/big/alpine:1", reg.host+"/big/alpine@"+c.bigD, nil)
	c.allPods = append(slices.Clone(c.webPods), "api", "api-2", "big")
	c.runningN = len(c.allPods)
	// A finished pod: the field selector keeps it out of every cache.
	done := runningPod(t, cs, "shop", "done", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	done.Status.Phase = corev1.PodSucceeded
	if _, err := cs.CoreV1().Pods("shop").UpdateStatus(ctx, done, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

// client calls the API with a token.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func (c *client) do(method, path, token string, body []byte) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c *client) get(path, token string, v any) int {
	c.t.Helper()
	code, b := c.do(http.MethodGet, path, token, nil)
	if v != nil && code == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			c.t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return code
}

func podLabels(t *testing.T, cs kubernetes.Interface, name string) (map[string]string, map[string]string) {
	t.Helper()
	p, err := cs.CoreV1().Pods("shop").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Labels, p.Annotations
}

// scrape reads /metrics.
func scrape(t *testing.T, c *client, token string) map[string]*dto.MetricFamily {
	t.Helper()
	code, b := c.do(http.MethodGet, "/metrics", token, nil)
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mf
}

func value(mf map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f := mf[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.Metric {
		ok := true
		for k, v := range labels {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestServeLive runs the server against a real kube-apiserver, a real
// registry protocol and a SQLite store: every running workload is assessed
// once its image is read (each digest once), pods get bounded labels, a
// database update raises the risk of the workload running the newly
// affected image without reading any image again, and the API answers with
// authentication.
func TestServeLive(t *testing.T) {
	api := startAPI(t)
	cs := api.Client
	reg := startRegistry(t)
	cl := makeCluster(t, cs, reg)
	dir := t.TempDir()
	dbPath, importDir := filepath.Join(dir, "vuln.db"), filepath.Join(dir, "import")
	if err := os.Mkdir(importDir, 0o755); err != nil {
		t.Fatal(err)
	}
	held := oldDB(t, dbPath, true)
	st := openStore(t, filepath.Join(dir, "credence.db"))
	toks, err := server.ParseStaticTokens(strings.NewReader(tokenFile), "tokens")
	if err != nil {
		t.Fatal(err)
	}
	logger, logs := newLogger(t)
	srv, err := server.New(st, cs, "test cluster",
		server.WithDB(dbPath), server.WithDBImportDir(importDir, 200*time.Millisecond),
		server.WithLeaderElection("credence", "replica-1"), server.WithLeaseTimes(4*time.Second, 3*time.Second, 500*time.Millisecond),
		server.WithTimings(200*time.Millisecond, 100*time.Millisecond, 0, 10*time.Second, 50*time.Millisecond),
		server.WithImageOptions(assess.WithRegistry(nil)), server.WithAuth(toks, toks), server.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	run(t, srv)
	hs := httptest.NewTLSServer(srv.Handler())
	defer hs.Close()
	c := &client{t: t, base: hs.URL, hc: hs.Client()}
	ctx := context.Background()

	keys := []string{"shop/Deployment/web", "shop/Pod/api", "shop/Pod/api-2", "shop/Pod/big"}
	eventually(t, 60*time.Second, "every running workload assessed and labelled", func() error {
		for _, k := range keys {
			if _, err := st.GetSubject(ctx, k); err != nil {
				return err
			}
		}
		for _, p := range cl.allPods {
			if l, _ := podLabels(t, cs, p); l[server.LabelRisk] == "" {
				return fmt.Errorf("pod %s not labelled yet", p)
			}
		}
		return nil
	})

	t.Run("assessed", func(t *testing.T) {
		ws, err := st.ListWorkloads(ctx, store.ListOptions{Namespace: "shop"})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range ws {
			got = append(got, w.Key)
		}
		slices.Sort(got)
		want := slices.Clone(keys)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("workloads %v, want %v (the finished pod never assessed)", got, want)
		}
		s, err := st.GetSubject(ctx, "shop/Deployment/web")
		if err != nil {
			t.Fatal(err)
		}
		img := s.Subject.Containers[0].Image
		if img.Digest != webDigest || img.Status != assess.Scanned || img.ResolvedBy != "status.imageID" {
			t.Errorf("web image %+v", img)
		}
		if s.Subject.Workload.Owners[0] != "Deployment/web" {
			t.Errorf("web owners %v", s.Subject.Workload.Owners)
		}
		invs, err := st.Inventories(ctx)
		if err != nil || len(invs) != 3 {
			t.Errorf("%d inventories stored, want 3 (web, api, big): %v", len(invs), err)
		}
		mf := scrape(t, c, viewerToken)
		if v, _ := value(mf, "credence_images_read_total", nil); v != 3 {
			t.Errorf("images read %v, want 3: each digest once (api and api-2 share one)", v)
		}
		if v, _ := value(mf, "credence_informer_objects", map[string]string{"kind": "Pod"}); v != float64(cl.runningN) {
			t.Errorf("pods cached %v, want %d running (the finished one not listed)", v, cl.runningN)
		}
	})

	var webAnn string
	t.Run("labels-bounded", func(t *testing.T) {
		type ann struct {
			Risk     *int    `json:"risk"`
			Critical *int    `json:"critical"`
			KEV      *int    `json:"kev"`
			Unknown  *bool   `json:"unknown"`
			Decision *string `json:"decision"`
		}
		sizes := map[string]int{}
		for _, p := range cl.allPods {
			l, a := podLabels(t, cs, p)
			s := a[server.AnnotationSummary]
			var x ann
			if err := json.Unmarshal([]byte(s), &x); err != nil || x.Risk == nil || x.Critical == nil || x.KEV == nil || x.Unknown == nil {
				t.Errorf("%s: summary %q: %v", p, s, err)
				continue
			}
			var keysOf map[string]any
			_ = json.Unmarshal([]byte(s), &keysOf)
			if len(keysOf) != 5 {
				t.Errorf("%s: summary has fields %v", p, keysOf)
			}
			sizes[p] = len(s)
			if strings.Contains(s, "CVE") || strings.Contains(s, "ALPINE") || strings.Contains(s, "sha256") {
				t.Errorf("%s: summary names findings or images: %s", p, s)
			}
			if p == "big" && *x.Critical != bigFindings {
				t.Errorf("big: critical %d, want %d", *x.Critical, bigFindings)
			}
			if p == cl.webPods[0] {
				webAnn = s
				if l[server.LabelKEV] != "" {
					t.Errorf("web has the KEV label before Log4Shell is known: %v", l)
				}
			}
		}
		// 1,000 findings make the summary longer only by the digits of the
		// counts: its size is bounded whatever the image holds.
		for p, n := range sizes {
			if n > server.MaxSummaryBytes {
				t.Errorf("%s: summary of %d bytes, over %d", p, n, server.MaxSummaryBytes)
			}
		}
		if d := sizes["big"] - sizes["api"]; d < 0 || d > 6 {
			t.Errorf("summary of the 1,000-finding image is %d bytes longer than the clean one's", d)
		}
		var f store.ImageFindings
		if code := c.get("/api/v1/images/"+cl.bigD+"/findings", viewerToken, &f); code != 200 || len(f.Findings) != bigFindings {
			t.Errorf("the big image's findings through the API: %d, %d", code, len(f.Findings))
		}
	})

	t.Run("risk-rises-before-an-attack", func(t *testing.T) {
		before, err := st.CurrentDBVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		blobs, reads := reg.blobGets.Load(), reg.requests.Load()
		t0 := time.Now()
		giveUpdate(t, importDir, held)
		eventually(t, 60*time.Second, "web pods labelled with the KEV finding", func() error {
			for _, p := range cl.webPods {
				if l, _ := podLabels(t, cs, p); l[server.LabelKEV] != "true" {
					return fmt.Errorf("%s labels %v", p, l)
				}
			}
			return nil
		})
		elapsed := time.Since(t0)
		t.Logf("import dir written -> KEV label on every web pod: %s", elapsed.Round(time.Millisecond))
		if n, r := reg.blobGets.Load()-blobs, reg.requests.Load()-reads; n != 0 || r != 0 {
			t.Errorf("the update read %d blobs (%d registry requests): stored inventories must be re-matched, not read", n, r)
		}
		after, err := st.CurrentDBVersion(ctx)
		if err != nil || after.Seq <= before.Seq {
			t.Fatalf("database version %+v after %+v: %v", after, before, err)
		}
		f, err := st.Findings(ctx, webDigest)
		if err != nil {
			t.Fatal(err)
		}
		var l4s *store.Event
		_ = l4s
		found := false
		for _, x := range f.Findings {
			if x.ID == log4shell || slices.Contains(x.Aliases, log4shell) {
				found = x.KEV != nil
			}
		}
		if !found {
			t.Errorf("web findings under version %d lack Log4Shell in KEV", f.DBVersion)
		}
		ev, err := st.ImageTimeline(ctx, webDigest)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[store.EventKind]time.Time{}
		for _, e := range ev {
			if strings.Contains(e.Finding, "GHSA-jfh8-c2jp-5v3q") || strings.Contains(e.Detail, log4shell) {
				kinds[e.Kind] = e.At
			}
		}
		if at := kinds[store.Matched]; at.Before(t0) || at.After(time.Now()) {
			t.Errorf("Log4Shell matched at %s, want during the update (after %s)", at, t0)
		}
		if at := kinds[store.Published]; at.Format("2006-01-02") != "2021-12-10" {
			t.Errorf("Log4Shell published %s, want the record's 2021-12-10", at)
		}
		if at := kinds[store.KEVAdded]; at.Format("2006-01-02") != "2021-12-10" {
			t.Errorf("Log4Shell entered KEV %s, want the catalog's 2021-12-10", at)
		}
		evs, err := cs.CoreV1().Events("shop").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var reasons []string
		for _, e := range evs.Items {
			if e.Source.Component == "credence" && e.InvolvedObject.Kind == "Deployment" && e.InvolvedObject.Name == "web" {
				reasons = append(reasons, e.Reason)
			}
		}
		if !slices.Contains(reasons, "KnownExploitedVulnerability") && !slices.Contains(reasons, "RiskRaised") {
			t.Errorf("no Event on Deployment web for the new KEV finding: %v", reasons)
		}
		if logs.find("database update reached verdicts") == "" || logs.find("workloads_to_reassess=1") == "" {
			t.Errorf("no latency log line, or more than web re-assessed directly")
		}
		mf := scrape(t, c, viewerToken)
		if n, _ := value(mf, "credence_db_update_to_verdict_seconds", nil); n < 1 {
			t.Errorf("update-to-verdict latency not observed")
		}
		if n, _ := value(mf, "credence_db_update_to_label_seconds", nil); n < 1 {
			t.Errorf("update-to-label latency not observed")
		}
		if v, _ := value(mf, "credence_images_read_total", nil); v != 3 {
			t.Errorf("images read %v after the update, want still 3", v)
		}
		_, a := podLabels(t, cs, cl.webPods[0])
		if a[server.AnnotationSummary] == webAnn {
			t.Errorf("web's summary did not change: %s", webAnn)
		}
		t.Logf("web summary before %s, after %s", webAnn, a[server.AnnotationSummary])
	})

	t.Run("same-as-assess", func(t *testing.T) {
		// credence assess on the same live cluster, the same database and
		// the store's inventories makes the Subjects the server keeps.
		snap, err := cluster.FromConfig(ctx, api.Config, "test cluster")
		if err != nil {
			t.Fatal(err)
		}
		// The server never lists finished pods; assess groups them out of
		// the Subjects but its graph still holds them (their containers
		// count as reachable): leave them out here too.
		snap.Pods = slices.DeleteFunc(snap.Pods, func(p cluster.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		for i := range snap.Pods {
			p := &snap.Pods[i]
			for _, m := range []map[string]string{p.Labels, p.Annotations} {
				for k := range m {
					if strings.HasPrefix(k, "credence.dev/") {
						delete(m, k)
					}
				}
			}
		}
		db, err := vulndb.Open(dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		a, err := assess.Assess(ctx, snap, db, assess.WithRegistry(nil), assess.WithCache(st))
		if err != nil {
			t.Fatal(err)
		}
		if a.Stats.ImagesRead != 0 {
			t.Errorf("assess read %d images: the server's inventories should serve it", a.Stats.ImagesRead)
		}
		for _, want := range a.Subjects {
			key := store.WorkloadKey(want.Workload)
			got, err := st.GetSubject(ctx, key)
			if err != nil {
				t.Errorf("%s: %v", key, err)
				continue
			}
			for i := range got.Subject.Containers {
				got.Subject.Containers[i].Provenance = want.Containers[i].Provenance // who says "not checked" differs
			}
			// Compared in their stored form (JSON): graph node ids and fix
			// functions are not part of a Subject.
			var w, g assess.Subject
			roundTrip(t, want, &w)
			roundTrip(t, got.Subject, &g)
			if d := cmp.Diff(w, g, cmpopts.IgnoreUnexported(assess.Container{})); d != "" {
				t.Errorf("%s (-assess +server):\n%s", key, d)
			}
		}
	})

	t.Run("api", func(t *testing.T) {
		if code := c.get("/api/v1/subjects", "", nil); code != http.StatusUnauthorized {
			t.Errorf("no token: %d", code)
		}
		if code := c.get("/api/v1/subjects", "not-a-token-at-all", nil); code != http.StatusUnauthorized {
			t.Errorf("bad token: %d", code)
		}
		var list struct {
			Items []store.WorkloadSummary `json:"items"`
			Next  string                  `json:"next"`
		}
		if code := c.get("/api/v1/subjects?namespace=shop&limit=2", viewerToken, &list); code != 200 || len(list.Items) != 2 || list.Next == "" {
			t.Fatalf("list: %d %+v", code, list)
		}
		if list.Items[0].Score < list.Items[1].Score {
			t.Errorf("not ranked: %+v", list.Items)
		}
		first := slices.Clone(list.Items)
		if code := c.get("/api/v1/subjects?namespace=shop&limit=2&after="+list.Next, viewerToken, &list); code != 200 || len(list.Items) != 2 {
			t.Fatalf("page 2: %d %+v", code, list)
		}
		if list.Items[0].Key == first[0].Key || list.Items[0].Key == first[1].Key {
			t.Errorf("page 2 repeats page 1: %v %v", first, list.Items)
		}
		var one struct {
			Subject  assess.Subject        `json:"subject"`
			Decision *store.StoredDecision `json:"decision"`
		}
		if code := c.get("/api/v1/subjects/shop/Deployment/web", viewerToken, &one); code != 200 || one.Subject.Workload.Name != "web" || one.Decision == nil {
			t.Errorf("get: %d %+v", code, one.Decision)
		}
		if code := c.get("/api/v1/subjects/shop/Deployment/nope", viewerToken, nil); code != 404 {
			t.Errorf("missing workload: %d", code)
		}
		var tl struct{ Events []store.Event }
		if code := c.get("/api/v1/subjects/shop/Deployment/web/timeline", viewerToken, &tl); code != 200 ||
			!slices.ContainsFunc(tl.Events, func(e store.Event) bool { return e.Kind == store.FirstSeen }) {
			t.Errorf("timeline: %d, %d events, no first-seen", code, len(tl.Events))
		}
		if code := c.get("/api/v1/images/"+webDigest+"/timeline", viewerToken, &tl); code != 200 || len(tl.Events) == 0 {
			t.Errorf("image timeline: %d", code)
		}
		if code := c.get("/api/v1/images/latest/findings", viewerToken, nil); code != 400 {
			t.Errorf("a tag instead of a digest: %d", code)
		}
		var br struct {
			Workload    string
			BlastRadius struct {
				From  string
				Paths []json.RawMessage
			}
		}
		if code := c.get("/api/v1/blast-radius/shop/"+cl.webPods[0]+"/app", viewerToken, &br); code != 200 || br.Workload != "shop/Deployment/web" || br.BlastRadius.From == "" {
			t.Errorf("blast radius: %d %+v", code, br)
		}
		if code := c.get("/api/v1/blast-radius/shop/ghost", viewerToken, nil); code != 404 {
			t.Errorf("blast radius of a pod not there: %d", code)
		}
		if code := c.get("/healthz", "", nil); code != 200 {
			t.Errorf("healthz %d", code)
		}
		if code := c.get("/readyz", "", nil); code != 200 {
			t.Errorf("readyz %d", code)
		}
	})

	t.Run("alerts", func(t *testing.T) {
		p, err := cs.CoreV1().Pods("shop").Get(ctx, cl.webPods[0], metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, id, _ := strings.Cut(p.Status.ContainerStatuses[0].ContainerID, "://")
		alert := fmt.Sprintf(`{"rule":"Terminal shell in container","priority":"Warning","time":"2026-03-01T10:00:00Z","output":"shell","output_fields":{"container.id":%q,"k8s.ns.name":"shop","k8s.pod.name":%q}}`, id[:12], p.Name)
		if code, _ := c.do(http.MethodPost, "/api/v1/alerts", "", []byte(alert)); code != 401 {
			t.Errorf("alert without a token: %d", code)
		}
		if code, _ := c.do(http.MethodPost, "/api/v1/alerts", viewerToken, []byte(alert)); code != 403 {
			t.Errorf("alert with a reader's token: %d", code)
		}
		var res struct {
			Results []struct {
				Status, MatchedBy, Workload, Reason string
				Recorded                            bool
				BlastRadius                         struct {
					Paths []struct {
						Steps []struct{ Kind string }
					}
				}
			}
			Problems []string
		}
		for i, want := range []bool{true, false} {
			code, b := c.do(http.MethodPost, "/api/v1/alerts", alertToken, []byte(alert+"\n"))
			if code != 200 || json.Unmarshal(b, &res) != nil || len(res.Results) != 1 {
				t.Fatalf("alert #%d: %d %s", i+1, code, b)
			}
			r := res.Results[0]
			if r.Status != "matched" || r.MatchedBy != "container id" || r.Workload != "shop/Deployment/web" || r.Recorded != want {
				t.Errorf("alert #%d: %+v", i+1, r)
			}
			if len(r.BlastRadius.Paths) > 0 && r.BlastRadius.Paths[0].Steps[0].Kind != "ALERT" {
				t.Errorf("the alert is not the first step: %+v", r.BlastRadius.Paths[0])
			}
		}
		tl, err := st.Timeline(ctx, "shop/Deployment/web")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range tl {
			if e.Kind == store.AlertReceived {
				n++
				if !e.At.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) {
					t.Errorf("alert at %s", e.At)
				}
			}
		}
		if n != 1 {
			t.Errorf("%d alerts on web's timeline, want 1 (the retry is not recorded twice)", n)
		}
		code, b := c.do(http.MethodPost, "/api/v1/alerts", alertToken, []byte("not json\n{\"output_fields\":{}}\n"))
		if code != 400 || !strings.Contains(string(b), "request:1") {
			t.Errorf("malformed alerts: %d %s", code, b)
		}
		code, b = c.do(http.MethodPost, "/api/v1/alerts", alertToken, []byte("garbage\n"+`{"rule":"x","output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"ghost"}}`))
		if code != 200 || json.Unmarshal(b, &res) != nil || len(res.Problems) != 1 || res.Results[0].Status != "unknown" || !strings.Contains(res.Results[0].Reason, "not running") {
			t.Errorf("a malformed line and an unknown pod: %d %s", code, b)
		}
		if code, _ := c.do(http.MethodPost, "/api/v1/alerts", alertToken, bytes.Repeat([]byte("x"), 2<<20)); code != 413 {
			t.Errorf("a 2 MiB body: %d", code)
		}
	})

	t.Run("workload-changes", func(t *testing.T) {
		if err := cs.CoreV1().Pods("shop").Delete(ctx, "api-2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "api-2 removed from the store", func() error {
			if _, err := st.GetSubject(ctx, "shop/Pod/api-2"); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("still current: %v", err)
			}
			return nil
		})
		tl, err := st.Timeline(ctx, "shop/Pod/api-2")
		if err != nil || tl[len(tl)-1].Kind != store.Removed {
			t.Errorf("api-2 timeline ends %+v, %v", tl[len(tl)-1], err)
		}
		// A new replica of web: labelled though web's Subject does not change.
		p := runningPod(t, cs, "shop", "web-5d8f9c7b6-klmno", reg.host+"/shop/web:1.4", reg.host+"/shop/web@"+webDigest,
			controller("ReplicaSet", cl.rs.Name, string(cl.rs.UID)))
		eventually(t, 30*time.Second, "the new web pod labelled", func() error {
			if l, _ := podLabels(t, cs, p.Name); l[server.LabelKEV] != "true" {
				return fmt.Errorf("labels %v", l)
			}
			return nil
		})
	})

	t.Run("metrics", func(t *testing.T) {
		if code, _ := c.do(http.MethodGet, "/metrics", "", nil); code != 401 {
			t.Errorf("/metrics without a token: %d", code)
		}
		mf := scrape(t, c, viewerToken)
		for _, name := range []string{"credence_workloads", "credence_decisions", "credence_findings", "credence_findings_kev", "credence_jobs",
			"credence_jobs_total", "credence_http_requests_total", "credence_informer_objects", "credence_leader", "credence_label_patches_total"} {
			if mf[name] == nil {
				t.Errorf("no series %s", name)
			}
		}
		if v, ok := value(mf, "credence_workloads", map[string]string{"namespace": "shop"}); !ok || v == 0 {
			t.Errorf("credence_workloads{namespace=shop} = %v, %v", v, ok)
		}
		if v, _ := value(mf, "credence_findings", map[string]string{"severity": "critical"}); v < bigFindings {
			t.Errorf("critical findings %v, want at least %d", v, bigFindings)
		}
		if v, _ := value(mf, "credence_leader", nil); v != 1 {
			t.Errorf("leader %v", v)
		}
		checkBounded(t, mf)
	})
}

// checkBounded: no label value names an image, a finding or a pod.
func checkBounded(t *testing.T, mf map[string]*dto.MetricFamily) {
	t.Helper()
	for name, f := range mf {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				v := l.GetValue()
				if strings.Contains(v, "sha256") || strings.Contains(v, "CVE-") || strings.Contains(v, "GHSA-") || strings.Contains(v, "ALPINE-") ||
					strings.Contains(v, "web-5d8f") || strings.Contains(v, "/") && !strings.HasPrefix(v, "/") {
					t.Errorf("%s{%s=%q}: an unbounded label value", name, l.GetName(), v)
				}
			}
		}
	}
}

var _ = tls.VersionTLS12

func roundTrip(t *testing.T, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err == nil {
		err = json.Unmarshal(b, out)
	}
	if err != nil {
		t.Fatal(err)
	}
}

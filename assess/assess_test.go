package assess_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/assess/invcache"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/vulndb"
	sampledb "github.com/credence-dev/credence/vulndb/sample"
)

// Facts of the sample cluster (testdata/cluster/README.md) and of the
// embedded sample data: the web image carries log4j-core 2.14.1, whose
// Log4Shell (CVE-2021-44228) and CVE-2021-45046 are in CISA KEV; the api
// image is the Alpine 3.14.10 layer alone, which no sample advisory covers;
// ledger pins the api image by digest.
const (
	apiDigest = "sha256:eb2c254075ad8f27163656392777487689db51bd8f2bdafbe8a808e8f41dd4a7"
	webDigest = "sha256:5872df9159cccd95624b4f624969d9abbbc5cb0b5123c06bfcb01e4cf5a9bb6a"
)

func sampleCluster(t testing.TB) *cluster.Snapshot {
	t.Helper()
	snap, err := cluster.FromManifests(context.Background(), filepath.Join(root(t), "testdata", "cluster", "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func root(t testing.TB) string { return testutil.RepoRoot(t) }

func sampleDirs(t testing.TB, pairs ...string) *assess.ImageDirs {
	t.Helper()
	d, warn, err := assess.NewImageDirs(context.Background(), []string{filepath.Join(root(t), "testdata", "cluster", "images")}, pairs)
	if err != nil || len(warn) > 0 {
		t.Fatalf("image dirs: %v %v", err, warn)
	}
	return d
}

func sampleSource(t testing.TB) match.Source {
	t.Helper()
	db, err := sampledb.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func run(t testing.TB, snap *cluster.Snapshot, src match.Source, opts ...assess.Option) *assess.Assessment {
	t.Helper()
	a, err := assess.Assess(context.Background(), snap, src, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func subject(t testing.TB, a *assess.Assessment, ref string) *assess.Subject {
	t.Helper()
	for i := range a.Subjects {
		if a.Subjects[i].Workload.Ref() == ref {
			return &a.Subjects[i]
		}
	}
	t.Fatalf("no subject %s", ref)
	return nil
}

func image(a *assess.Assessment, digest string) *assess.Image {
	for _, img := range a.Images {
		if img.Digest == digest {
			return img
		}
	}
	return nil
}

func findingIDs(img *assess.Image) []string {
	var out []string
	for _, f := range img.Findings {
		out = append(out, f.ID)
		out = append(out, f.Aliases...)
	}
	return out
}

func TestSampleCluster(t *testing.T) {
	a := run(t, sampleCluster(t), sampleSource(t), assess.WithImageDirs(sampleDirs(t)))
	if a.Version != assess.SchemaVersion {
		t.Errorf("version %q", a.Version)
	}
	// Three distinct references resolve to two digests (api and ledger share
	// one) plus one that cannot be resolved offline.
	if st := a.Stats; st.Images != 3 || st.ImagesRead != 2 || st.Unknown != 1 || st.Workloads != 4 {
		t.Errorf("stats = %+v, want 3 images, 2 read, 1 unknown, 4 workloads", st)
	}
	web := subject(t, a, "shop/web")
	if a.Subjects[0].Workload.Ref() != "shop/web" {
		t.Errorf("riskiest is %s, want shop/web (internet-exposed, KEV)", a.Subjects[0].Workload.Ref())
	}
	c := web.Containers[0]
	if c.Image.Digest != webDigest || c.Image.ResolvedBy == "" || c.Image.Status != assess.Scanned {
		t.Errorf("web image = %+v", c.Image)
	}
	ids := findingIDs(image(a, webDigest))
	for _, cve := range []string{"CVE-2021-44228", "CVE-2021-45046"} {
		if !slices.Contains(ids, cve) {
			t.Errorf("web image lacks %s: %v", cve, ids)
		}
	}
	// KEV with ransomware use on a network vector: 0.95 (the cap).
	if !c.Exploit.Known || c.Exploit.Likelihood < 0.9 || !strings.Contains(c.Exploit.Reason, "KEV") {
		t.Errorf("web exploit = %+v", c.Exploit)
	}
	if c.Exposure.Level != graph.ExposureInternet || web.Risk.Likelihood < 0.9 {
		t.Errorf("web exposure %+v risk %+v", c.Exposure, web.Risk)
	}
	if c.Provenance.Status != assess.NotChecked || c.MeasuredRun.Status != assess.NotChecked {
		t.Errorf("evidence slots must say not-checked: %+v %+v", c.Provenance, c.MeasuredRun)
	}
	// The worst path goes through the web service account's token to the
	// payments secrets (RoleBinding payments/web-reads-secrets).
	p := c.BlastRadius.Path
	if p == nil || !strings.Contains(p.To, "payments") {
		t.Fatalf("web's worst path = %+v", p)
	}
	var kinds []graph.EdgeKind
	for _, s := range p.Steps {
		kinds = append(kinds, s.Kind)
	}
	if !slices.Contains(kinds, graph.EdgeTokenSteal) || !slices.Contains(kinds, graph.EdgeRBACSecrets) {
		t.Errorf("path kinds %v", kinds)
	}

	ledger := subject(t, a, "payments/ledger")
	if lc := ledger.Containers[0]; lc.Image.Digest != apiDigest || lc.Image.ResolvedBy != "pinned" {
		t.Errorf("ledger image = %+v", lc.Image)
	}
	if img := image(a, apiDigest); img == nil || img.Counts.Findings != 0 || len(img.References) != 2 {
		t.Errorf("api image = %+v", img)
	}

	worker := subject(t, a, "shop/worker")
	wc := worker.Containers[0]
	if wc.Image.Status != assess.NotScanned || wc.Exploit.Known || len(worker.Unknowns) == 0 || !worker.Risk.Unknown {
		t.Errorf("worker must be unknown, not clean: %+v %+v %v", wc.Image, wc.Exploit, worker.Unknowns)
	}

	var kevs []string
	for _, k := range a.ExposedKEV {
		kevs = append(kevs, k.Workload+" "+k.CVE)
	}
	slices.Sort(kevs)
	if want := []string{"shop/web CVE-2021-44228", "shop/web CVE-2021-45046"}; !slices.Equal(kevs, want) {
		t.Errorf("exposed KEV = %v, want %v", kevs, want)
	}
	if len(a.Cuts) == 0 {
		t.Fatal("no cuts")
	}
	var cutIDs []string
	for _, c := range a.Cuts {
		cutIDs = append(cutIDs, c.ID)
		if c.RiskCut <= 0 || c.Why == "" {
			t.Errorf("cut %+v", c)
		}
	}
	for _, want := range []string{"rebuild:" + webDigest, "automount:Deployment shop/web"} {
		if !slices.Contains(cutIDs, want) {
			t.Errorf("cuts %v lack %s", cutIDs, want)
		}
	}
}

// A KEV finding on an exposed container opens a path that a clean image
// closes: the same cluster, with shop/web's image swapped for the clean one.
func TestKEVOpensPath(t *testing.T) {
	// The API, unprivileged here so that its only way on is the network, and
	// no worker (whose unknown image is another way in).
	unprivileged := func() *cluster.Snapshot {
		snap := sampleCluster(t)
		pods := snap.Pods[:0]
		for _, p := range snap.Pods {
			switch p.Workload {
			case "Deployment/api":
				p.Spec.Containers[0].SecurityContext = nil
			case "Deployment/worker":
				continue
			}
			pods = append(pods, p)
		}
		snap.Pods = pods
		return snap
	}
	snap := unprivileged()
	src := sampleSource(t)
	// The API is compromised (a runtime alert); the payments secrets are
	// reached through the web front end, whose takeover depends on its image.
	alert := assess.Alert{Rule: "Terminal shell in container", Namespace: "shop", Pod: "api-6d4cf56db6-m2x7q", Container: "api", Source: "test"}
	paths := func(a *assess.Assessment) (float64, *assess.AlertResult) {
		if len(a.Alerts) != 1 || a.Alerts[0].Status != "matched" {
			t.Fatalf("alerts = %+v", a.Alerts)
		}
		for _, as := range a.Alerts[0].BlastRadius.Assets {
			if as.Key == "secret:payments/ledger-db" {
				return as.Likelihood, &a.Alerts[0]
			}
		}
		return 0, &a.Alerts[0]
	}
	vulnerable := run(t, snap, src, assess.WithImageDirs(sampleDirs(t)), assess.WithAlerts([]assess.Alert{alert}))
	clean := run(t, unprivileged(), src, assess.WithAlerts([]assess.Alert{alert}),
		assess.WithImageDirs(sampleDirs(t, "registry.example.com/shop/web:1.4=oci:"+filepath.Join(root(t), "testdata", "cluster", "images", "api"))))

	lv, av := paths(vulnerable)
	lc, _ := paths(clean)
	if lv < 0.9 {
		t.Errorf("with the KEV image, the payments secret is reached at %v, want ≥ 0.9", lv)
	}
	if lc > 0.05 {
		t.Errorf("with the clean image, the payments secret is reached at %v, want ≤ 0.05 (the takeover of web is unlikely)", lc)
	}
	// The alert is the first step's evidence; the takeover of web is the
	// exploitability the model gave, with the KEV finding in its reason.
	var exploitStep *graph.Step
	for _, p := range av.BlastRadius.Paths {
		if p.To != "Secret payments/ledger-db" {
			continue
		}
		if p.Steps[0].Kind != "ALERT" || !strings.Contains(p.Steps[0].Reason, "Terminal shell") {
			t.Errorf("first step %+v", p.Steps[0])
		}
		for i := range p.Steps {
			if p.Steps[i].Kind == graph.EdgeNetExploit {
				exploitStep = &p.Steps[i]
			}
		}
	}
	if exploitStep == nil || exploitStep.Likelihood < 0.9 || !strings.Contains(exploitStep.Reason, "KEV") {
		t.Errorf("takeover step = %+v", exploitStep)
	}
	if w := subject(t, vulnerable, "shop/api").Containers[0].Compromised; w == nil || w.Rule != alert.Rule {
		t.Errorf("api not marked compromised: %+v", w)
	}
	if sv, sc := subject(t, vulnerable, "shop/web").Risk.Score, subject(t, clean, "shop/web").Risk.Score; sc >= sv/10 {
		t.Errorf("web risk with KEV %v, clean %v: want a tenfold drop", sv, sc)
	}
}

// Risk rises before an attack: after a database update, cached inventories
// are re-matched without reading a layer, and the new advisory shows.
func TestCacheRematch(t *testing.T) {
	ctx := context.Background()
	cache, err := invcache.Open(ctx, filepath.Join(t.TempDir(), "inv.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	// Yesterday's database: the sample data without the log4j advisories.
	old := t.TempDir()
	data := filepath.Join(root(t), "vulndb", "sample", "data")
	ents, err := os.ReadDir(filepath.Join(data, "osv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(data, "osv", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "log4j") {
			continue
		}
		if err := os.WriteFile(filepath.Join(old, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ins, err := vulndb.Inputs(old)
	if err != nil {
		t.Fatal(err)
	}
	before, _, err := vulndb.LoadMemory(ctx, "yesterday", ins)
	if err != nil {
		t.Fatal(err)
	}
	first := run(t, sampleCluster(t), before, assess.WithImageDirs(sampleDirs(t)), assess.WithCache(cache))
	if first.Stats.ImagesRead != 2 || first.Stats.CacheHits != 0 {
		t.Fatalf("first run stats %+v", first.Stats)
	}
	if ids := findingIDs(image(first, webDigest)); slices.Contains(ids, "CVE-2021-44228") {
		t.Fatal("yesterday's database already knows Log4Shell")
	}
	second := run(t, sampleCluster(t), sampleSource(t), assess.WithImageDirs(sampleDirs(t)), assess.WithCache(cache))
	if second.Stats.ImagesRead != 0 || second.Stats.CacheHits != 2 {
		t.Errorf("re-assessment read images: %+v", second.Stats)
	}
	if !image(second, webDigest).Cached {
		t.Error("web image not marked cached")
	}
	if ids := findingIDs(image(second, webDigest)); !slices.Contains(ids, "CVE-2021-44228") {
		t.Errorf("the new advisory is not matched from the cache: %v", ids)
	}
	if len(second.ExposedKEV) <= len(first.ExposedKEV) {
		t.Errorf("exposed KEV before %d, after %d: want more after the update", len(first.ExposedKEV), len(second.ExposedKEV))
	}
}

func TestReadAlerts(t *testing.T) {
	in := `{"output":"10:54:01 Notice A shell was spawned","priority":"Notice","rule":"Terminal shell in container","time":"2026-11-30T10:54:01.229883546Z","output_fields":{"container.id":"3f2a9b1c0d4e","container.name":"web","k8s.ns.name":"shop","k8s.pod.name":"web-7d9f8c6b5-x2x4z"}}
not json at all
{"rule":"Contact K8S API Server From Container","output_fields":{"k8s.ns.name":"<NA>","k8s.pod.name":"<NA>"}}
[{"rule":"Read sensitive file untrusted","priority":"Warning","output_fields":{"k8s.ns.name":"payments","k8s.pod.name":"ledger-0","container.name":"ledger"}}]
{"rule":"x","time":"yesterday","output_fields":{"k8s.ns.name":"a","k8s.pod.name":"b"}}
{"rule":"Ghost","output_fields":{"k8s.ns.name":"shop","k8s.pod.name":"nope-123"}}
`
	alerts, problems, err := assess.ReadAlerts(strings.NewReader(in), "alerts.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 3 {
		t.Fatalf("alerts = %+v", alerts)
	}
	if len(problems) != 3 || !strings.Contains(problems[0], "alerts.json:2") || !strings.Contains(problems[1], "names no pod") || !strings.Contains(problems[2], "RFC 3339") {
		t.Errorf("problems = %q", problems)
	}
	a := run(t, sampleCluster(t), sampleSource(t), assess.WithImageDirs(sampleDirs(t)), assess.WithAlerts(alerts))
	got := map[string]string{}
	for _, r := range a.Alerts {
		got[r.Alert.Rule] = r.Status + " " + r.MatchedBy + " " + r.Container + r.Reason
	}
	want := map[string]string{
		"Terminal shell in container":   "matched workload name container:shop/web/web",
		"Read sensitive file untrusted": "matched workload name container:payments/ledger/ledger",
		"Ghost":                         "unknown  pod shop/nope-123 is not in the snapshot (manifests " + filepath.Join(root(t), "testdata", "cluster", "manifests") + ")",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("alert %q: got %q, want %q", k, got[k], v)
		}
	}
}

package assess_test

import (
	"archive/zip"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/vulndb"
)

func node(name, osImage, kernel string) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{OSImage: osImage, KernelVersion: kernel, Architecture: "amd64", OperatingSystem: "linux"}}}
}

// ubuntuFixed reads, straight from the raw OSV record, the version that
// fixes id in pkg on Ubuntu 22.04 ("" when no fix): the oracle does not use
// credence's matcher.
func ubuntuFixed(t *testing.T, zipPath, id, pkg string) string {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	f, err := zr.Open(id + ".json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	var rec struct {
		Affected []struct {
			Package struct{ Ecosystem, Name string } `json:"package"`
			Ranges  []struct {
				Events []map[string]string `json:"events"`
			} `json:"ranges"`
		} `json:"affected"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	for _, a := range rec.Affected {
		if a.Package.Ecosystem == "Ubuntu:22.04:LTS" && a.Package.Name == pkg {
			for _, r := range a.Ranges {
				for _, e := range r.Events {
					if e["fixed"] != "" {
						return e["fixed"]
					}
				}
			}
			return ""
		}
	}
	t.Fatalf("%s has no Ubuntu 22.04 %s entry", id, pkg)
	return ""
}

// abiOf is "5.15.0-92" of "5.15.0-92.102".
func abiOf(v string) string { return v[:strings.LastIndex(v, ".")] }

func TestKernels(t *testing.T) {
	data := filepath.Join(testutil.Shared(t), "data")
	ubuntu := filepath.Join(data, "osv", "Ubuntu", "all.zip")
	var ins []vulndb.Input
	for _, p := range []string{ubuntu, filepath.Join(data, "kev", "known_exploited_vulnerabilities.json")} {
		in, err := vulndb.Inputs(p)
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in...)
	}
	db, _, err := vulndb.LoadMemory(context.Background(), "ubuntu", ins)
	if err != nil {
		t.Fatal(err)
	}
	// Facts of the raw records: CVE-2023-6817 is fixed in linux 5.15.0-92.102,
	// CVE-2023-4622 in 5.15.0-87.97, and CVE-2024-1086 (nf_tables, in CISA
	// KEV) has no fix in this data.
	fix6817 := ubuntuFixed(t, ubuntu, "UBUNTU-CVE-2023-6817", "linux")
	fix4622 := ubuntuFixed(t, ubuntu, "UBUNTU-CVE-2023-4622", "linux")
	if fix1086 := ubuntuFixed(t, ubuntu, "UBUNTU-CVE-2024-1086", "linux"); fix1086 != "" {
		t.Fatalf("CVE-2024-1086 fixed in %s in the data", fix1086)
	}
	nodes := []corev1.Node{
		node("before", "Ubuntu 22.04.3 LTS", "5.15.0-91-generic"),
		node("same-abi", "Ubuntu 22.04.3 LTS", abiOf(fix6817)+"-generic"),
		node("debian", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64"),
		node("cos", "Container-Optimized OS from Google", "6.1.58+"),
		node("hwe", "Ubuntu 22.04.4 LTS", "6.5.0-14-generic"),
		node("aws", "Ubuntu 22.04.3 LTS", "5.15.0-1051-aws"),
	}
	ks, err := assess.Kernels(context.Background(), nodes, db, assess.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]assess.Kernel{}
	for _, k := range ks {
		by[k.Node] = k
	}
	ids := func(k assess.Kernel) []string {
		var out []string
		for _, f := range k.Findings {
			out = append(out, f.ID)
		}
		return out
	}
	before := by["before"]
	if !before.Known || before.Package != "linux" || before.Ecosystem != "Ubuntu:22.04:LTS" {
		t.Fatalf("before: %+v", before)
	}
	// 91 < 92: every upload of ABI 91 predates the fix of CVE-2023-6817.
	if !slices.Contains(ids(before), "UBUNTU-CVE-2023-6817") || slices.Contains(ids(before), "UBUNTU-CVE-2023-4622") {
		t.Errorf("before: want CVE-2023-6817 (fixed in %s) and not CVE-2023-4622 (fixed in %s)", fix6817, fix4622)
	}
	if !slices.Contains(ids(before), "UBUNTU-CVE-2024-1086") || before.Escape.Likelihood < 0.9 || !strings.Contains(strings.Join(before.Escape.Evidence, " "), "CVE-2024-1086") {
		t.Errorf("before: CVE-2024-1086 (KEV) must make the escape likely: %+v", before.Escape)
	}
	same := by["same-abi"]
	if slices.Contains(ids(same), "UBUNTU-CVE-2023-6817") || !slices.Contains(same.Undecided, "UBUNTU-CVE-2023-6817") {
		t.Errorf("same ABI as the fix: CVE-2023-6817 must be undecided: %v / %v", ids(same), same.Undecided)
	}
	for _, n := range []string{"debian", "cos"} {
		if k := by[n]; k.Known || k.Escape.Known || k.Reason == "" {
			t.Errorf("%s must stay unknown with a reason: %+v", n, k)
		}
	}
	if k := by["hwe"]; k.Package != "linux-hwe-6.5" {
		t.Errorf("hwe: package %q", k.Package)
	}
	if k := by["aws"]; k.Package != "linux-aws" || !k.Known {
		t.Errorf("aws: %+v", k)
	}
}

// The node's kernel sets the likelihood of the shared-kernel escape of the
// containers on it, with the advisory ids as evidence; a node whose kernel
// cannot be matched keeps the low, unknown default.
func TestKernelEscapeInGraph(t *testing.T) {
	data := filepath.Join(testutil.Shared(t), "data")
	var ins []vulndb.Input
	for _, p := range []string{filepath.Join(data, "osv", "Ubuntu", "all.zip"), filepath.Join(data, "kev", "known_exploited_vulnerabilities.json")} {
		in, err := vulndb.Inputs(p)
		if err != nil {
			t.Fatal(err)
		}
		ins = append(ins, in...)
	}
	db, _, err := vulndb.LoadMemory(context.Background(), "ubuntu", ins)
	if err != nil {
		t.Fatal(err)
	}
	snap := &cluster.Snapshot{Source: "test", Live: true, Nodes: []corev1.Node{
		node("ubuntu", "Ubuntu 22.04.3 LTS", "5.15.0-91-generic"),
		node("debian", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64"),
	}}
	for _, n := range []string{"ubuntu", "debian"} {
		snap.Pods = append(snap.Pods, cluster.Pod{Pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app-" + n, Namespace: "shop"},
			Spec:   corev1.PodSpec{NodeName: n, AutomountServiceAccountToken: new(bool), Containers: []corev1.Container{{Name: "app", Image: "example.com/app:1"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}})
	}
	a := run(t, snap, db)
	escape := func(pod string) *graph.Step {
		s := subject(t, a, "shop/"+pod)
		for _, p := range s.Containers[0].BlastRadius.Paths {
			for i := range p.Steps {
				if p.Steps[i].Kind == graph.EdgeEscape && p.Steps[i].From == "shop/"+pod+"/app" {
					return &p.Steps[i]
				}
			}
		}
		return nil
	}
	u := escape("app-ubuntu")
	if u == nil || u.Unknown || !strings.Contains(u.Reason, "CVE-2024-1086") {
		t.Fatalf("Ubuntu node escape: %+v", u)
	}
	var ids []string
	for _, e := range u.Evidence {
		ids = append(ids, e.Field)
	}
	if !slices.ContainsFunc(ids, func(s string) bool { return strings.Contains(s, "CVE-2024-1086") }) {
		t.Errorf("evidence %v lacks CVE-2024-1086", ids)
	}
	d := escape("app-debian")
	if d == nil || !d.Unknown || d.Likelihood >= u.Likelihood {
		t.Errorf("Debian node escape must stay unknown and less likely: %+v (Ubuntu %v)", d, u.Likelihood)
	}
}

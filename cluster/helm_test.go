package cluster_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/cluster"
)

// An unrendered chart inside a directory of manifests is one gap that says
// how to render it, not a gap per template; the rendered files beside it
// are read.
func TestUnrenderedHelmChartInADirectory(t *testing.T) {
	snap, err := cluster.FromManifests(context.Background(), "testdata/helm/repo")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.ServiceAccounts) != 1 || snap.ServiceAccounts[0].Name != "web" {
		t.Errorf("service accounts %v, want deploy/web.yaml's", snap.ServiceAccounts)
	}
	if len(snap.Gaps) != 1 {
		t.Fatalf("gaps %v, want the chart alone", snap.Gaps)
	}
	g := snap.Gaps[0]
	if g.Kind != "HelmChart" || g.Name != "shop" || g.Source != "charts/shop/Chart.yaml" ||
		!strings.Contains(g.Reason, "helm template RELEASE "+filepath.Join("testdata/helm/repo", "charts/shop")) {
		t.Errorf("gap %+v", g)
	}
}

// The chart itself given to --manifests is an error that says what to do:
// nothing in it can be read.
func TestUnrenderedHelmChartGiven(t *testing.T) {
	_, err := cluster.FromManifests(context.Background(), "testdata/helm/repo/charts/shop")
	if err == nil || !strings.Contains(err.Error(), "unrendered Helm chart") || !strings.Contains(err.Error(), "helm template RELEASE testdata/helm/repo/charts/shop") {
		t.Fatalf("err = %v", err)
	}
}

// One template given on its own: the decode gap says it looks like one.
func TestUnrenderedHelmTemplate(t *testing.T) {
	snap, err := cluster.FromManifests(context.Background(), "testdata/helm/deployment-template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Gaps) != 1 || !strings.Contains(snap.Gaps[0].Reason, "unrendered Helm template") {
		t.Errorf("gaps %v", snap.Gaps)
	}
}

// {{ }} in a valid object (Prometheus alert text in a ConfigMap) outside a
// chart, and a Chart.yaml whose templates hold no template action, are read
// as usual.
func TestTemplateActionsThatAreData(t *testing.T) {
	objects := []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: rules, namespace: mon}
data:
  alert: "{{ $labels.instance }} is down"
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: prom, namespace: mon}
`)
	plain := t.TempDir()
	os.WriteFile(filepath.Join(plain, "rules.yaml"), objects, 0o644)
	chart := t.TempDir()
	os.MkdirAll(filepath.Join(chart, "templates"), 0o755)
	os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte("apiVersion: v2\nname: x\nversion: 0.1.0\n"), 0o644)
	os.WriteFile(filepath.Join(chart, "templates", "sa.yaml"), objects[bytes.Index(objects, []byte("---")):], 0o644)
	for _, dir := range []string{plain, chart} {
		snap, err := cluster.FromManifests(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.ServiceAccounts) != 1 {
			t.Errorf("%s: service accounts %v", dir, snap.ServiceAccounts)
		}
		for _, g := range snap.Gaps {
			if strings.Contains(g.Reason, "Helm") {
				t.Errorf("%s: gap %v", dir, g)
			}
		}
	}
}

func TestGapNamesTheObject(t *testing.T) {
	for _, tc := range []struct {
		gap  cluster.Gap
		want string
	}{
		{cluster.Gap{Kind: "NetworkPolicy", Namespace: "shop", Name: "deny-all", Source: "deploy/net.yaml#3", Reason: "invalid"}, "NetworkPolicy shop/deny-all (deploy/net.yaml#3): invalid"},
		{cluster.Gap{Kind: "ClusterRole", Name: "edit", Reason: "forbidden"}, "ClusterRole edit: forbidden"},
		{cluster.Gap{Kind: "Secret", Namespace: "shop", Reason: "forbidden"}, "Secret in namespace shop: forbidden"},
		{cluster.Gap{Kind: "document", Source: "a.yaml#4", Reason: "invalid YAML"}, "document (a.yaml#4): invalid YAML"},
	} {
		if got := tc.gap.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.gap, got, tc.want)
		}
	}
}

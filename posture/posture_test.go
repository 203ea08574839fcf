package posture_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/posture"
)

func load(t *testing.T, path string) (*cluster.Snapshot, *posture.Report) {
	t.Helper()
	snap, err := cluster.FromManifests(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := posture.NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	return snap, ev.Snapshot(snap)
}

func TestGolden(t *testing.T) {
	_, rep := load(t, "testdata/manifests/isolation.yaml")
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/golden/isolation.json", append(b, '\n'))
}

func find(t *testing.T, rep *posture.Report, pod, container string) *posture.Profile {
	t.Helper()
	for i := range rep.Pods {
		for j := range rep.Pods[i].Containers {
			c := &rep.Pods[i].Containers[j]
			if c.Pod == pod && c.Container == container {
				return c
			}
		}
	}
	t.Fatalf("no profile for %s/%s", pod, container)
	return nil
}

func verdicts(p *posture.Profile) map[string]posture.Verdict {
	m := map[string]posture.Verdict{}
	for _, e := range p.Escapes {
		m[e.ID] = e.Verdict
	}
	return m
}

// TestFacts pins what the golden file says about each facet, so a careless
// -update cannot hide a regression.
func TestFacts(t *testing.T) {
	_, rep := load(t, "testdata/manifests/isolation.yaml")

	levels := map[string]string{}
	admitted := map[string]posture.Tri{}
	for _, p := range rep.Pods {
		levels[p.Name] = p.PodSecurity.Level
		admitted[p.Name] = p.Admitted
	}
	wantLevels := map[string]string{
		"restricted": "restricted", "defaults": "baseline", "privileged": "privileged", "caps": "privileged",
		"hostpaths": "privileged", "claims": "baseline", "gvisor": "privileged", "kata": "baseline", "runc": "baseline",
		"exotic": "baseline", "missing-class": "baseline", "userns": "privileged", "lsm": "privileged", "kinds": "privileged",
		"spelling": "privileged",
		"web":      "baseline",
	}
	if d := cmp.Diff(wantLevels, levels); d != "" {
		t.Errorf("levels (-want +got):\n%s", d)
	}
	if admitted["privileged"] != posture.No || admitted["defaults"] != posture.Yes || admitted["web"] != posture.Unknown {
		t.Errorf("admitted: %v", admitted)
	}

	r := find(t, rep, "restricted", "app")
	if d := cmp.Diff(map[string]posture.Verdict{"kernelExploit": posture.Weakened}, verdicts(r)); d != "" {
		t.Errorf("restricted escapes (-want +got):\n%s", d)
	}
	if r.Capabilities.Usable != posture.No || strings.Join(r.Capabilities.Effective, ",") != "NET_BIND_SERVICE" {
		t.Errorf("restricted capabilities: %+v", r.Capabilities)
	}

	d := find(t, rep, "defaults", "app")
	if d.RunsAsRoot != posture.Unknown || d.Seccomp.Confined != posture.Unknown || d.AppArmor.Confined != posture.Unknown ||
		!d.AllowPrivilegeEscalation || len(d.Capabilities.Effective) != 14 {
		t.Errorf("defaults: %+v", d)
	}
	if d := cmp.Diff(map[string]posture.Verdict{"kernelExploit": posture.Open}, verdicts(d)); d != "" {
		t.Errorf("defaults escapes (-want +got):\n%s", d)
	}

	p := find(t, rep, "privileged", "shell")
	wantP := map[string]posture.Verdict{"privileged": posture.Open, "hostPIDAccess": posture.Open, "sensitiveHostPath": posture.Open,
		"runtimeSocket": posture.Open, "kernelExploit": posture.Open}
	if d := cmp.Diff(wantP, verdicts(p)); d != "" {
		t.Errorf("privileged escapes (-want +got):\n%s", d)
	}
	if len(p.Capabilities.Effective) != len(posture.AllCapabilities) || p.Seccomp.Confined != posture.No || len(p.RuntimeSockets) != 12 {
		t.Errorf("privileged: caps %d seccomp %v sockets %v", len(p.Capabilities.Effective), p.Seccomp.Confined, p.RuntimeSockets)
	}

	sa := find(t, rep, "caps", "sysadmin")
	if d := cmp.Diff(map[string]posture.Verdict{"capSysAdmin": posture.Open, "hostPIDAccess": posture.Open, "kernelExploit": posture.Open}, verdicts(sa)); d != "" {
		t.Errorf("sysadmin escapes (-want +got):\n%s", d)
	}
	if !sa.Capabilities.Has("SYS_PTRACE") || !sa.AllowPrivilegeEscalation {
		t.Errorf("CAP_ prefix or APE: %+v", sa.Capabilities)
	}
	mod := find(t, rep, "caps", "module-nonroot-nnp")
	if d := cmp.Diff(map[string]posture.Verdict{"capSysModule": posture.Blocked, "capDacReadSearch": posture.Blocked, "kernelExploit": posture.Weakened}, verdicts(mod)); d != "" {
		t.Errorf("non-root nnp escapes (-want +got):\n%s", d)
	}
	if mod.Capabilities.Has("NET_RAW") {
		t.Error("NET_RAW was dropped")
	}
	all := find(t, rep, "caps", "all-but-chown")
	if all.Capabilities.Has("CHOWN") || len(all.Capabilities.Effective) != len(posture.AllCapabilities)-1 {
		t.Errorf("add ALL drop CHOWN: %v", all.Capabilities.Effective)
	}
	one := find(t, rep, "caps", "drop-all-add-one")
	if strings.Join(one.Capabilities.Effective, ",") != "NET_ADMIN,NET_BIND_SERVICE" || strings.Join(one.Capabilities.BeyondDefault, ",") != "NET_ADMIN" {
		t.Errorf("drop ALL add two: %+v", one.Capabilities)
	}

	hp := find(t, rep, "hostpaths", "agent")
	risks := map[string]string{}
	for _, h := range hp.HostPaths {
		risks[h.Path] = string(h.Risk)
	}
	wantRisks := map[string]string{
		"/etc": "critical" /* read-only, but /etc/kubernetes below it */, "/var/lib/kubelet": "critical", "/proc": "high",
		"/sys/fs/cgroup": "high", "/run/containerd": "critical", "/var/run/docker.sock": "critical", "/var/log": "medium",
		"/srv/data": "medium", "/etc/ssl/certs": "low", "/usr/share/zoneinfo/UTC": "low",
	}
	if d := cmp.Diff(wantRisks, risks); d != "" {
		t.Errorf("host path risks (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"/run/containerd/containerd.sock", "/var/run/docker.sock"}, hp.RuntimeSockets); d != "" {
		t.Errorf("sockets (-want +got):\n%s", d)
	}

	cl := find(t, rep, "claims", "app")
	if len(cl.HostPaths) != 1 || cl.HostPaths[0].Path != "/var/lib" || cl.HostPaths[0].Risk != posture.RiskCritical || len(cl.Unknowns) != 2 {
		t.Errorf("claims: hostPaths %+v unknowns %v", cl.HostPaths, cl.Unknowns)
	}

	rc := map[string]posture.Tri{}
	for _, name := range []string{"gvisor", "kata", "runc", "exotic", "missing-class"} {
		rc[name] = find(t, rep, name, "app").RuntimeClass.Sandboxed
	}
	if d := cmp.Diff(map[string]posture.Tri{"gvisor": posture.Yes, "kata": posture.Yes, "runc": posture.No, "exotic": posture.Unknown, "missing-class": posture.Unknown}, rc); d != "" {
		t.Errorf("sandboxed (-want +got):\n%s", d)
	}
	if v := verdicts(find(t, rep, "gvisor", "app")); v["privileged"] != posture.Blocked || v["kernelExploit"] != posture.Blocked {
		t.Errorf("gvisor privileged: %v", v)
	}
	if v := verdicts(find(t, rep, "missing-class", "app")); v["kernelExploit"] != posture.Open {
		t.Errorf("missing runtime class counted as protection: %v", v)
	}

	u := find(t, rep, "userns", "app")
	if u.HostUsers || u.ProcMount != "Unmasked" || verdicts(u)["capSysAdmin"] != posture.Blocked {
		t.Errorf("userns: hostUsers %v procMount %s escapes %v", u.HostUsers, u.ProcMount, verdicts(u))
	}

	lsm := map[string][3]string{}
	for _, c := range []string{"annotated", "unconfined", "podlevel"} {
		p := find(t, rep, "lsm", c)
		lsm[c] = [3]string{p.AppArmor.Profile + "@" + p.AppArmor.Source, p.Seccomp.Profile + "@" + p.Seccomp.Source, p.SELinux.Profile + "@" + p.SELinux.Source}
	}
	wantLSM := map[string][3]string{
		"annotated":  {"Localhost/k8s-nginx@annotation", "unset@none", "spc_t@pod"},
		"unconfined": {"Unconfined@annotation", "Unconfined@container", "spc_t@pod"},
		"podlevel":   {"RuntimeDefault@pod", "Localhost/profiles/audit.json@container", "container_t@container"},
	}
	if d := cmp.Diff(wantLSM, lsm); d != "" {
		t.Errorf("LSM sources (-want +got):\n%s", d)
	}
	if s := find(t, rep, "lsm", "annotated").Seccomp.Reason; !strings.Contains(s, "ignored since Kubernetes 1.27") {
		t.Errorf("seccomp annotation: %s", s)
	}

	kinds := map[string]posture.ContainerKind{}
	for _, n := range []string{"setup", "app", "debugger"} {
		p := find(t, rep, "kinds", n)
		kinds[p.Path] = p.Kind
	}
	if d := cmp.Diff(map[string]posture.ContainerKind{"spec.initContainers[0]": "initContainer", "spec.containers[0]": "container", "spec.ephemeralContainers[0]": "ephemeralContainer"}, kinds); d != "" {
		t.Errorf("container kinds (-want +got):\n%s", d)
	}
	// The pod is privileged-level (NET_ADMIN, SYS_PTRACE) but its plain
	// container alone is baseline.
	if lv := find(t, rep, "kinds", "app").PodSecurity.Level; lv != "baseline" {
		t.Errorf("container level of kinds/app = %s", lv)
	}
}

// TestUnknownNeverSafe: every mitigation left to the node is Unknown, and
// an escape with only Unknown mitigations stays open.
func TestUnknownNeverSafe(t *testing.T) {
	ev, err := posture.NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	rc := "unread"
	snap := &cluster.Snapshot{
		Gaps: []cluster.Gap{{Kind: "RuntimeClass", Reason: "forbidden: runtimeclasses is forbidden"}},
		Pods: []cluster.Pod{{Pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "n"}, Spec: corev1.PodSpec{
			RuntimeClassName: &rc,
			Containers: []corev1.Container{{Name: "c", SecurityContext: &corev1.SecurityContext{
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}}}},
		}}}},
	}
	r := ev.Pod(snap, &snap.Pods[0])
	p := r.Containers[0]
	if p.RuntimeClass.Sandboxed != posture.Unknown || !strings.Contains(p.RuntimeClass.Reason, "could not be read (forbidden") {
		t.Errorf("runtime class behind a gap: %+v", p.RuntimeClass)
	}
	e, ok := p.Escape("capSysAdmin")
	if !ok || e.Verdict != posture.Open {
		t.Errorf("capSysAdmin = %+v", e)
	}
	for _, m := range e.Mitigations {
		if m.State == posture.Yes {
			t.Errorf("mitigation %s counted as in effect", m.ID)
		}
	}
	if r.Admitted != posture.Unknown {
		t.Errorf("admitted without a namespace: %v", r.Admitted)
	}
}

func TestCheckRegistry(t *testing.T) {
	ids := map[string]bool{}
	for _, c := range posture.Checks() {
		if ids[c.ID] {
			t.Errorf("duplicate check %s", c.ID)
		}
		ids[c.ID] = true
	}
	eval := func(*posture.Profile) posture.Result { return posture.Result{} }
	tests := []struct {
		name   string
		checks []posture.Check
		want   string
	}{
		{"duplicate", []posture.Check{
			{ID: "a", Title: "a", Technique: "T1611", Versions: []posture.VersionedCheck{{Version: 1, Eval: eval}}},
			{ID: "a", Title: "a", Technique: "T1611", Versions: []posture.VersionedCheck{{Version: 1, Eval: eval}}},
		}, "check a: registered twice"},
		{"no versions", []posture.Check{{ID: "b", Title: "b", Technique: "T1611"}}, "check b: no versions"},
		{"versions not increasing", []posture.Check{{ID: "c", Title: "c", Technique: "T1611",
			Versions: []posture.VersionedCheck{{Version: 2, Eval: eval}, {Version: 2, Eval: eval}}}}, "versions must increase strictly"},
		{"no eval", []posture.Check{{ID: "d", Title: "d", Technique: "T1611", Versions: []posture.VersionedCheck{{Version: 1}}}}, "no Eval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := posture.NewEvaluator(posture.WithChecks(tt.checks))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := posture.NewEvaluator(posture.WithPodSecurityVersion("v1.x")); err == nil {
		t.Error("bad pod security version accepted")
	}
}

// TestEveryCheckHasAFixture: each escape check applies to some container
// of the fixture set (lesson 12: completeness).
func TestEveryCheckHasAFixture(t *testing.T) {
	_, rep := load(t, "testdata/manifests/isolation.yaml")
	seen := map[string]bool{}
	for _, p := range rep.Pods {
		for _, c := range p.Containers {
			for _, e := range c.Escapes {
				seen[e.ID] = true
			}
		}
	}
	for _, c := range posture.Checks() {
		if !seen[c.ID] {
			t.Errorf("check %s applies to no fixture container", c.ID)
		}
	}
}

func TestTriJSON(t *testing.T) {
	for _, v := range []posture.Tri{posture.Yes, posture.No, posture.Unknown} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back posture.Tri
		if err := json.Unmarshal(b, &back); err != nil || back != v {
			t.Errorf("%s: round trip %s -> %v (%v)", v, b, back, err)
		}
	}
	var x posture.Tri
	if err := json.Unmarshal([]byte(`"maybe"`), &x); err == nil {
		t.Error("maybe accepted")
	}
	if fmt.Sprint(posture.Tri(0)) != "unknown" {
		t.Error("zero value is not unknown")
	}
}

// TestCapabilitySpelling: capabilities as containerd's CRI applies them
// (internal/cri/opts/spec_linux_opts.go prefixes CAP_ to every name but
// ALL): a prefixed drop removes nothing and is reported, CAP_ALL is not
// ALL, a prefixed add counts as added (CRI-O adds it), lower case works.
func TestCapabilitySpelling(t *testing.T) {
	_, rep := load(t, "testdata/manifests/isolation.yaml")
	tests := []struct {
		container      string
		has, hasNot    []string
		effective      int // -1: do not check
		misspelled     []string
		evidenceInKern string
	}{
		{"drop-prefixed", []string{"NET_RAW"}, []string{"CHOWN"}, 13, []string{"spec.containers[0].securityContext.capabilities.drop[0]=CAP_NET_RAW"},
			"spec.containers[0].securityContext.capabilities.drop[0]: CAP_NET_RAW drops nothing under containerd"},
		{"drop-cap-all", []string{"NET_RAW", "CHOWN"}, nil, 14, []string{"spec.containers[1].securityContext.capabilities.drop[0]=CAP_ALL"},
			"spec.containers[1].securityContext.capabilities.drop[0]: CAP_ALL drops nothing under containerd"},
		{"add-prefixed", []string{"SYS_ADMIN"}, nil, 15, []string{"spec.containers[2].securityContext.capabilities.add[0]=CAP_SYS_ADMIN", "spec.containers[2].securityContext.capabilities.add[1]=NET_RAWW"}, ""},
		{"lower-case", []string{"NET_ADMIN"}, []string{"NET_RAW"}, 1, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.container, func(t *testing.T) {
			p := find(t, rep, "spelling", tc.container)
			for _, c := range tc.has {
				if !p.Capabilities.Has(c) {
					t.Errorf("%s not effective: %v", c, p.Capabilities.Effective)
				}
			}
			for _, c := range tc.hasNot {
				if p.Capabilities.Has(c) {
					t.Errorf("%s effective: %v", c, p.Capabilities.Effective)
				}
			}
			if len(p.Capabilities.Effective) != tc.effective {
				t.Errorf("%d effective capabilities, want %d: %v", len(p.Capabilities.Effective), tc.effective, p.Capabilities.Effective)
			}
			var got []string
			for _, m := range p.Capabilities.Misspelled {
				got = append(got, m.Field+"="+m.Value)
			}
			if d := cmp.Diff(tc.misspelled, got); d != "" {
				t.Errorf("misspelled (-want +got):\n%s", d)
			}
			if tc.evidenceInKern == "" {
				return
			}
			e, ok := p.Escape("kernelExploit")
			if !ok || !slices.ContainsFunc(e.Evidence, func(s string) bool { return strings.HasPrefix(s, tc.evidenceInKern) }) {
				t.Errorf("kernelExploit evidence %q lacks %q", e.Evidence, tc.evidenceInKern)
			}
		})
	}
	if sa := find(t, rep, "spelling", "add-prefixed"); verdicts(sa)["capSysAdmin"] != posture.Open {
		t.Errorf("add CAP_SYS_ADMIN: escapes %v (CRI-O adds it: it must count)", verdicts(sa))
	}
}

package attest_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/attest"
)

func TestReconcile(t *testing.T) {
	f, tr := false, true
	digest := "sha256:" + strings.Repeat("1", 64)
	start := func(uid, name string, edit func(*attest.ContainerStart)) *attest.ContainerStart {
		cs := &attest.ContainerStart{Trigger: "oci-hook", ContainerID: uid + "-" + name, ContainerName: name,
			Image:          attest.ImageIdentity{Ref: "registry.example/web@" + digest},
			Process:        attest.Process{Args: []string{"web"}, ArgsDigest: attest.ArgsDigest([]string{"web"}), Capabilities: &attest.Capabilities{Effective: []string{"CAP_CHOWN"}}},
			HostNamespaces: []string{"cgroup", "user"}, Privileged: &f}
		if uid != "" {
			cs.Pod = &attest.PodIdentity{UID: uid, Namespace: "shop", Name: "pod-" + uid}
		}
		if edit != nil {
			edit(cs)
		}
		return cs
	}
	res := &attest.Result{Containers: []attest.ContainerVerdict{
		{RecNum: 2, Verdict: attest.Verified, Start: start("a", "web", nil)},
		{RecNum: 3, Verdict: attest.Verified, Start: start("b", "web", func(cs *attest.ContainerStart) {
			cs.Image.Ref = "registry.example/web@sha256:" + strings.Repeat("2", 64)
			cs.Process.Args, cs.Process.ArgsDigest = []string{"sh"}, attest.ArgsDigest([]string{"sh"})
			cs.HostNamespaces = append(cs.HostNamespaces, "network")
			cs.Process.Capabilities.Effective = []string{"CAP_SYS_ADMIN"}
		})},
		{RecNum: 4, Verdict: attest.Verified, Start: start("c", "web", func(cs *attest.ContainerStart) {
			cs.Trigger, cs.Privileged, cs.Process.Capabilities = "nri", nil, nil
			cs.Unobserved = []string{"capabilities", "privileged"}
		})},
		{RecNum: 5, Verdict: attest.Verified, Start: start("", "", nil)},
		{RecNum: 6, Verdict: attest.Verified, Start: start("zzz", "web", nil)},
		{RecNum: 7, Verdict: attest.Verified, Start: start("a", "", func(cs *attest.ContainerStart) { cs.ContainerType = "sandbox" })},
		{RecNum: 8, Verdict: attest.Unverified, Start: start("a", "web", nil)},
	}}
	adm := &attest.Admitted{Workloads: []attest.AdmittedWorkload{
		{PodUID: "a", Container: "web", ImageDigest: digest, ArgsDigest: attest.ArgsDigest([]string{"web"}), Privileged: &f, HostNetwork: &f, Capabilities: []string{"chown"}},
		{PodUID: "b", Container: "web", ImageDigest: digest, ArgsDigest: attest.ArgsDigest([]string{"web"}), HostNetwork: &f, Capabilities: []string{"CAP_CHOWN"}},
		{PodUID: "c", Container: "web", Privileged: &tr, Capabilities: []string{}},
		{PodUID: "d", Container: "web", Pod: "pod-d", Namespace: "shop"},
	}}
	got := attest.Reconcile(res, adm)
	type row struct {
		Class   string
		Pod     string
		Reasons int
	}
	var rows []row
	for _, e := range got.Entries {
		rows = append(rows, row{e.Class, e.PodUID, len(e.Reasons)})
	}
	want := []row{
		{attest.Matched, "a", 0},
		{attest.Drift, "b", 4}, // image, args, hostNetwork, capabilities
		{attest.Drift, "c", 2}, // privileged and capabilities not observed over NRI
		{attest.RanNotAdmitted, "", 1},
		{attest.RanNotAdmitted, "zzz", 1},
		{attest.Matched, "a", 1}, // a's sandbox
		{attest.ClassNotReconciled, "a", 1},
		{attest.AdmittedNotRun, "d", 1},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
		for _, e := range got.Entries {
			t.Logf("%s %s %q", e.Class, e.PodUID, e.Reasons)
		}
	}
	if got.Alerts() != 4 {
		t.Errorf("alerts %d, want 4", got.Alerts())
	}
}

func TestParseAdmitted(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"good", `{"apiVersion":"credence.dev/v1alpha1","kind":"AdmittedWorkloads","workloads":[{"podUID":"a","container":"web","privileged":false}]}`, true},
		{"empty", `{"apiVersion":"credence.dev/v1alpha1","kind":"AdmittedWorkloads","workloads":[]}`, true},
		{"wrong kind", `{"apiVersion":"credence.dev/v1alpha1","kind":"Pod","workloads":[]}`, false},
		{"unknown field", `{"apiVersion":"credence.dev/v1alpha1","kind":"AdmittedWorkloads","workloads":[{"podUID":"a","container":"web","privileged":false,"typo":1}]}`, false},
		{"no container", `{"apiVersion":"credence.dev/v1alpha1","kind":"AdmittedWorkloads","workloads":[{"podUID":"a"}]}`, false},
		{"twice", `{"apiVersion":"credence.dev/v1alpha1","kind":"AdmittedWorkloads","workloads":[{"podUID":"a","container":"w"},{"podUID":"a","container":"w"}]}`, false},
		{"not json", `{`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := attest.ParseAdmitted([]byte(tc.doc))
			if (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

package agent_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/agent"
	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/internal/testutil"
)

var fixedClock = agent.EventOptions{Clock: func() time.Time { return time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC) }}

func pretty(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// TestBuildOCI turns config.json fixtures (runc spec's own default, a pod
// container as containerd writes it, a privileged one) into events, compared
// with golden files.
func TestBuildOCI(t *testing.T) {
	for _, name := range []string{"runc-default", "containerd-pod", "privileged"} {
		t.Run(name, func(t *testing.T) {
			cfg, err := os.ReadFile("testdata/oci/" + name + ".json")
			if err != nil {
				t.Fatal(err)
			}
			state := []byte(`{"ociVersion":"1.0.2","id":"` + name + `","status":"creating","pid":4242,"bundle":"/run/bundles/` + name + `"}`)
			ev, err := agent.BuildOCI(&agent.OCIRequest{State: state, Config: cfg}, fixedClock)
			if err != nil {
				t.Fatal(err)
			}
			testutil.Golden(t, "testdata/oci/"+name+".event.json", pretty(t, ev))
			if ev.ConfigJSONDigest != attest.SHA256Digest(cfg) {
				t.Errorf("configJSONDigest %s is not the file's", ev.ConfigJSONDigest)
			}
		})
	}
}

func TestBuildOCIFacts(t *testing.T) {
	build := func(name string, opts agent.EventOptions) *attest.ContainerStart {
		cfg, _ := os.ReadFile("testdata/oci/" + name + ".json")
		ev, err := agent.BuildOCI(&agent.OCIRequest{State: []byte(`{"id":"x","bundle":"/b"}`), Config: cfg}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	pod := build("containerd-pod", fixedClock)
	if pod.Pod == nil || pod.Pod.UID != "6f1c2a4e-1111-4222-8333-944455556666" || pod.ContainerName != "web" {
		t.Errorf("pod identity: %+v %q", pod.Pod, pod.ContainerName)
	}
	if *pod.Privileged || !*pod.ReadOnlyRootfs || pod.Seccomp == nil || pod.Seccomp.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Errorf("isolation: privileged %v readonly %v seccomp %+v", *pod.Privileged, *pod.ReadOnlyRootfs, pod.Seccomp)
	}
	if slices.Contains(pod.HostNamespaces, "network") || slices.Contains(pod.HostNamespaces, "pid") {
		t.Errorf("a pod container shares %v with the host", pod.HostNamespaces)
	}
	for _, e := range pod.Process.Env {
		if strings.Contains(e, "s3cr3t") {
			t.Errorf("an env value in clear: %s", e)
		}
	}
	clear := build("containerd-pod", agent.EventOptions{EnvInClear: true})
	if !slices.Contains(clear.Process.Env, "API_TOKEN=s3cr3t") || clear.Process.EnvDigest != pod.Process.EnvDigest {
		t.Errorf("env in clear: %v (digest %s vs %s)", clear.Process.Env, clear.Process.EnvDigest, pod.Process.EnvDigest)
	}
	if want := attest.ArgsDigest([]string{"nginx", "-g", "daemon off;"}); pod.Process.ArgsDigest != want {
		t.Errorf("argsDigest %s, want %s", pod.Process.ArgsDigest, want)
	}
	priv := build("privileged", fixedClock)
	if !*priv.Privileged || !slices.Contains(priv.HostNamespaces, "network") || !slices.Contains(priv.HostNamespaces, "pid") {
		t.Errorf("privileged %v host namespaces %v", *priv.Privileged, priv.HostNamespaces)
	}
}

func TestBuildOCIRejects(t *testing.T) {
	cfg, _ := os.ReadFile("testdata/oci/runc-default.json")
	for _, tc := range []struct {
		name          string
		state, config []byte
	}{
		{"no id", []byte(`{"bundle":"/b"}`), cfg},
		{"state not json", []byte(`{`), cfg},
		{"config not json", []byte(`{"id":"x"}`), []byte(`[`)},
		{"no process", []byte(`{"id":"x"}`), []byte(`{"ociVersion":"1.0.2"}`)},
		{"config too large", []byte(`{"id":"x"}`), bytes.Repeat([]byte(" "), 9<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := agent.BuildOCI(&agent.OCIRequest{State: tc.state, Config: tc.config}, fixedClock); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestBuildNRI(t *testing.T) {
	req := &agent.NRIRequest{
		Runtime: "containerd v2.1.0",
		Pod:     &api.PodSandbox{Id: "sb", Uid: "uid-1", Name: "web-0", Namespace: "shop"},
		Container: &api.Container{
			Id: "c1", Name: "web", Args: []string{"nginx"}, Env: []string{"A=1"},
			Image: &api.Image{Name: "registry.example/web:1", Digest: "sha256:" + strings.Repeat("2", 64)},
			Linux: &api.LinuxContainer{
				Namespaces:     []*api.LinuxNamespace{{Type: "pid"}, {Type: "network", Path: "/var/run/netns/cni-1"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}},
				SeccompProfile: &api.SecurityProfile{ProfileType: api.SecurityProfile_RUNTIME_DEFAULT},
			},
		},
	}
	ev, err := agent.BuildNRI(req, fixedClock)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/nri-event.json", pretty(t, ev))
	if ev.Privileged != nil || ev.Process.Capabilities != nil || !slices.Contains(ev.Unobserved, "privileged") {
		t.Errorf("NRI cannot see privilege; got privileged %v caps %v unobserved %v", ev.Privileged, ev.Process.Capabilities, ev.Unobserved)
	}
	if _, err := agent.BuildNRI(&agent.NRIRequest{}, fixedClock); err == nil {
		t.Error("a request without a container was accepted")
	}
}

func TestInstallHook(t *testing.T) {
	dir := t.TempDir()
	h, err := agent.NewHook("/usr/local/bin/credence", "/run/credence/agent.sock")
	if err != nil {
		t.Fatal(err)
	}
	path, err := agent.InstallHooksDir(filepath.Join(dir, "hooks.d"), h)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	testutil.Golden(t, "testdata/hooks.d-credence.json", b)

	spec := filepath.Join(dir, "config.json")
	orig, _ := os.ReadFile("testdata/oci/containerd-pod.json")
	var m map[string]any
	json.Unmarshal(orig, &m)
	m["hooks"] = map[string]any{"createRuntime": []any{map[string]any{"path": "/usr/bin/other", "args": []any{"other"}}}}
	m["x-vendor"] = map[string]any{"big": json.Number("18446744073709551615")}
	withOther, _ := json.Marshal(m)
	os.WriteFile(spec, withOther, 0o600)
	for range 2 { // installing twice leaves one credence hook
		if err := agent.InstallInSpec(spec, h); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(spec)
	if !bytes.Contains(got, []byte("18446744073709551615")) {
		t.Error("a large number in an unknown field was not kept exactly")
	}
	var after struct {
		Hooks struct {
			CreateRuntime []agent.Hook `json:"createRuntime"`
		} `json:"hooks"`
		Process struct{ Args []string } `json:"process"`
	}
	if err := json.Unmarshal(got, &after); err != nil {
		t.Fatal(err)
	}
	want := []agent.Hook{{Path: "/usr/bin/other", Args: []string{"other"}}, h}
	if diff := cmp.Diff(want, after.Hooks.CreateRuntime); diff != "" {
		t.Errorf("createRuntime hooks (-want +got):\n%s", diff)
	}
	if fi, _ := os.Stat(spec); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the file's 0600", fi.Mode().Perm())
	}
	if _, err := agent.NewHook("credence", ""); err == nil {
		t.Error("a relative hook path was accepted")
	}
	moved, _ := agent.NewHook("/opt/credence/bin/credence", "/s.sock")
	if diff := cmp.Diff([]string{"credence", "agent", "hook", "--socket", "/s.sock"}, moved.Args); diff != "" {
		t.Errorf("hook args (-want +got):\n%s", diff)
	}
	if err := agent.InstallInSpec(spec, moved); err != nil { // replaces the credence hook, keeps the other
		t.Fatal(err)
	}
	got, _ = os.ReadFile(spec)
	json.Unmarshal(got, &after)
	if n := len(after.Hooks.CreateRuntime); n != 2 || after.Hooks.CreateRuntime[1].Path != moved.Path {
		t.Errorf("after installing the hook again: %+v", after.Hooks.CreateRuntime)
	}
}

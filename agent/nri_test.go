package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"

	"github.com/credence-dev/credence/agent"
	"github.com/credence-dev/credence/attest"
)

// pluginCount tells when the runtime has registered a plugin.
type pluginCount struct {
	ready chan struct{}
	once  sync.Once
}

func (p *pluginCount) RecordPluginInvocation(string, string, error)      {}
func (p *pluginCount) RecordPluginLatency(string, string, time.Duration) {}
func (p *pluginCount) RecordPluginAdjustments(string, string, *adaptation.ContainerAdjustment, int, int) {
}
func (p *pluginCount) UpdatePluginCount(n int) {
	if n > 0 {
		p.once.Do(func() { close(p.ready) })
	}
}

// runtime is the runtime side of NRI in process, as containerd and CRI-O
// embed it, listening on its own socket for external plugins.
type runtime struct {
	*adaptation.Adaptation
	sock    string
	plugins *pluginCount
}

func startRuntime(t testing.TB, dir string) *runtime {
	t.Helper()
	sock := filepath.Join(dir, "nri.sock")
	empty := filepath.Join(dir, "nri-plugins")
	os.MkdirAll(empty, 0o755)
	syncFn := func(ctx context.Context, cb adaptation.SyncCB) error {
		_, err := cb(ctx, nil, nil)
		return err
	}
	updateFn := func(context.Context, []*adaptation.ContainerUpdate) ([]*adaptation.ContainerUpdate, error) {
		return nil, nil
	}
	pc := &pluginCount{ready: make(chan struct{})}
	r, err := adaptation.New("containerd-test", "v2.1.0", syncFn, updateFn,
		adaptation.WithSocketPath(sock), adaptation.WithPluginPath(empty), adaptation.WithPluginConfigPath(empty),
		adaptation.WithMetrics(pc))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return &runtime{Adaptation: r, sock: sock, plugins: pc}
}

// connectPlugin starts credence's plugin against the runtime, measuring
// through m, and waits until the runtime has registered it.
func connectPlugin(t testing.TB, r *runtime, m agent.Measurer) {
	t.Helper()
	p := agent.NewPlugin(m)
	s, err := agent.NewNRIStub(p, r.sock, stub.WithOnClose(func() {}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); s.Stop() })
	select {
	case <-r.plugins.ready:
	case <-time.After(10 * time.Second):
		t.Fatal("the runtime did not register the plugin")
	}
}

func createRequest(i int) *adaptation.CreateContainerRequest {
	return &adaptation.CreateContainerRequest{
		Pod: &api.PodSandbox{Id: fmt.Sprintf("sandbox-%d", i), Uid: fmt.Sprintf("pod-uid-%d", i), Name: fmt.Sprintf("web-%d", i), Namespace: "shop"},
		Container: &api.Container{
			Id: fmt.Sprintf("ctr-%d", i), PodSandboxId: fmt.Sprintf("sandbox-%d", i), Name: "web",
			Args: []string{"nginx", "-g", "daemon off;"}, Env: []string{"PATH=/usr/bin", "TOKEN=secret"},
			Image: &api.Image{Name: "registry.example/shop/web:1", Digest: imageDigest},
			Linux: &api.LinuxContainer{
				Namespaces:     []*api.LinuxNamespace{{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}, {Type: "network", Path: "/var/run/netns/cni-1"}},
				SeccompProfile: &api.SecurityProfile{ProfileType: api.SecurityProfile_RUNTIME_DEFAULT},
			},
		},
	}
}

// TestNRIPluginMeasures drives the plugin through a real NRI runtime
// adaptation, both as an external process talking to the agent's socket
// and inside the agent.
func TestNRIPluginMeasures(t *testing.T) {
	for _, mode := range []string{"external", "in-agent"} {
		t.Run(mode, func(t *testing.T) {
			n := startNode(t)
			r := startRuntime(t, n.dir)
			var m agent.Measurer = n.svc
			if mode == "external" {
				m = agent.NewClient(n.socket, 5*time.Second)
			}
			connectPlugin(t, r, m)
			for i := range 2 {
				if _, err := r.CreateContainer(context.Background(), createRequest(i)); err != nil {
					t.Fatalf("CreateContainer %d: %v", i, err)
				}
			}
			res := n.verify(t)
			if res.Verdict != attest.Verified || len(res.Containers) != 2 {
				t.Fatalf("verdict %s, %d containers: %v", res.Verdict, len(res.Containers), res.Reasons)
			}
			s := res.Containers[1].Start
			if s.Trigger != "nri" || s.Runtime != "containerd-test v2.1.0" || s.Pod.UID != "pod-uid-1" ||
				s.Image.Digest != imageDigest || s.ContainerName != "web" {
				t.Errorf("recorded %+v", s)
			}
			if slices.Contains(s.HostNamespaces, "network") || s.Seccomp == nil || s.Seccomp.Profile != "runtime-default" {
				t.Errorf("isolation: host ns %v seccomp %+v", s.HostNamespaces, s.Seccomp)
			}
			for _, e := range s.Process.Env {
				if strings.Contains(e, "secret") {
					t.Errorf("env value in clear: %s", e)
				}
			}
		})
	}
}

// TestNRIFailsClosed: when the measurement cannot be recorded the plugin
// fails CreateContainer, and the log stays replayable.
func TestNRIFailsClosed(t *testing.T) {
	n := startNode(t)
	r := startRuntime(t, n.dir)
	connectPlugin(t, r, agent.NewClient(n.socket, 5*time.Second))
	if _, err := r.CreateContainer(context.Background(), createRequest(0)); err != nil {
		t.Fatal(err)
	}
	n.proxy.cut()
	_, err := r.CreateContainer(context.Background(), createRequest(1))
	if err == nil || !strings.Contains(err.Error(), "not measured") {
		t.Fatalf("CreateContainer with the TPM unreachable: %v", err)
	}
	t.Logf("refused: %v", err)
	if err := n.proxy.restore(); err != nil {
		t.Fatal(err)
	}
	n.replays(t)
	if _, err := r.CreateContainer(context.Background(), createRequest(2)); err != nil {
		t.Fatal(err)
	}
	res := n.verify(t)
	var ids []string
	for _, c := range res.Containers {
		ids = append(ids, c.Start.ContainerID)
	}
	if res.Verdict != attest.Verified || !slices.Equal(ids, []string{"ctr-0", "ctr-2"}) {
		t.Fatalf("verdict %s containers %v: %v", res.Verdict, ids, res.Reasons)
	}
}

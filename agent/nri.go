package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/containerd/nri/pkg/api"
	nrilog "github.com/containerd/nri/pkg/log"
	"github.com/containerd/nri/pkg/stub"

	"github.com/credence-dev/credence/attest"
)

// NRIRequest is one NRI CreateContainer as the plugin saw it.
type NRIRequest struct {
	// Runtime is the runtime's name and version from the NRI Configure call.
	Runtime   string          `json:"runtime,omitempty"`
	Pod       *api.PodSandbox `json:"pod"`
	Container *api.Container  `json:"container"`
}

// nriUnobserved are the fields NRI v0.12 does not hand a plugin.
var nriUnobserved = []string{"apparmorProfile", "capabilities", "configJSONDigest", "entrypoint", "noNewPrivileges", "privileged", "readOnlyRootfs"}

// BuildNRI turns an NRI CreateContainer into a container.start event.
func BuildNRI(req *NRIRequest, o EventOptions) (*attest.ContainerStart, error) {
	c, pod := req.Container, req.Pod
	if c == nil || c.Id == "" {
		return nil, fmt.Errorf("build event: the NRI request names no container")
	}
	ev := &attest.ContainerStart{
		Type: attest.TypeContainerStart, Time: o.now(), Trigger: "nri", Runtime: req.Runtime,
		ContainerID: c.Id, ContainerName: c.Name, ContainerType: "container",
		Unobserved: slices.Clone(nriUnobserved),
	}
	if pod != nil && pod.Uid != "" {
		ev.Pod = &attest.PodIdentity{UID: pod.Uid, Namespace: pod.Namespace, Name: pod.Name}
	}
	if img := c.Image; img != nil {
		ev.Image = attest.ImageIdentity{Ref: img.Name, Digest: img.Digest, ConfigDigest: img.ConfigDigest, Source: "nri"}
	}
	ev.Process = processEvent(c.Args, c.Env, o)
	if u := c.User; u != nil {
		ev.Process.User = &attest.User{UID: u.Uid, GID: u.Gid, AdditionalGIDs: u.AdditionalGids}
	} else {
		ev.Unobserved = append(ev.Unobserved, "user")
	}
	for _, m := range c.Mounts {
		ev.Mounts = append(ev.Mounts, attest.Mount{Destination: m.Destination, Type: m.Type, Source: m.Source, Options: m.Options})
	}
	if l := c.Linux; l != nil {
		for _, n := range l.Namespaces {
			ev.Namespaces = append(ev.Namespaces, attest.Namespace{Type: n.Type, Path: n.Path})
		}
		var host []string
		have := map[string]bool{}
		for _, n := range l.Namespaces {
			have[n.Type] = true
			if n.Path != "" && o.hostNS != nil && o.hostNS(n.Type, n.Path) {
				host = append(host, n.Type)
			}
		}
		for _, t := range allNamespaces {
			if !have[t] {
				host = append(host, t)
			}
		}
		slices.Sort(host)
		ev.HostNamespaces = slices.Compact(host)
		if sp := l.SeccompProfile; sp != nil {
			s := &attest.Seccomp{Profile: strings.ToLower(strings.ReplaceAll(sp.ProfileType.String(), "_", "-"))}
			if sp.LocalhostRef != "" {
				s.Profile += "/" + sp.LocalhostRef
			}
			ev.Seccomp = s
		}
		if pol := l.SeccompPolicy; pol != nil {
			b, err := json.Marshal(pol)
			if err != nil {
				return nil, fmt.Errorf("build event: %w", err)
			}
			if ev.Seccomp == nil {
				ev.Seccomp = &attest.Seccomp{}
			}
			ev.Seccomp.DefaultAction, ev.Seccomp.ProfileDigest, ev.Seccomp.Syscalls = pol.DefaultAction, attest.SHA256Digest(b), len(pol.Syscalls)
		}
		if ev.Seccomp == nil {
			ev.Unobserved = append(ev.Unobserved, "seccomp")
		}
	} else {
		ev.Unobserved = append(ev.Unobserved, "namespaces", "seccomp")
	}
	slices.Sort(ev.Unobserved)
	return ev, nil
}

// Measurer records container starts: the agent's Service in process, or a
// Client of its socket.
type Measurer interface {
	MeasureNRI(ctx context.Context, req *NRIRequest) (Receipt, error)
}

// Plugin is credence's NRI plugin: it measures every CreateContainer and
// fails it when the measurement cannot be recorded.
type Plugin struct {
	m       Measurer
	runtime string
}

// NewPlugin returns an NRI plugin measuring through m.
func NewPlugin(m Measurer) *Plugin { return &Plugin{m: m} }

// Configure implements stub.ConfigureInterface.
func (p *Plugin) Configure(_ context.Context, _, runtime, version string) (api.EventMask, error) {
	p.runtime = strings.TrimSpace(runtime + " " + version)
	return api.MustParseEventMask("CreateContainer"), nil
}

// CreateContainer implements stub.CreateContainerInterface: measure, or fail.
func (p *Plugin) CreateContainer(ctx context.Context, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	if _, err := p.m.MeasureNRI(ctx, &NRIRequest{Runtime: p.runtime, Pod: pod, Container: c}); err != nil {
		return nil, nil, fmt.Errorf("credence: container %s not measured, refusing it: %w", c.GetName(), err)
	}
	return nil, nil, nil
}

// NewNRIStub connects the plugin to the runtime's NRI socket. The failure
// policy fails a CreateContainer when the plugin times out or is gone.
func NewNRIStub(p *Plugin, socket string, opts ...stub.Option) (stub.Stub, error) {
	base := []stub.Option{
		stub.WithPluginName("credence"), stub.WithPluginIdx("00"),
		stub.WithFailurePolicy(&api.FailurePolicy{FailRequest: true, KeepConnected: true}),
	}
	if socket != "" {
		base = append(base, stub.WithSocketPath(socket))
	}
	s, err := stub.New(p, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("new nri plugin: %w", err)
	}
	return s, nil
}

// nriLogger passes the NRI library's warnings and errors to w and drops
// its informational chatter.
type nriLogger struct{ w io.Writer }

func (l nriLogger) Debugf(context.Context, string, ...any) {}
func (l nriLogger) Infof(context.Context, string, ...any)  {}
func (l nriLogger) Warnf(_ context.Context, format string, args ...any) {
	fmt.Fprintf(l.w, "nri: warning: "+format+"\n", args...)
}
func (l nriLogger) Errorf(_ context.Context, format string, args ...any) {
	fmt.Fprintf(l.w, "nri: error: "+format+"\n", args...)
}

// SetNRILog sends the NRI library's warnings and errors (process-wide) to w.
func SetNRILog(w io.Writer) { nrilog.Set(nriLogger{w}) }

package agent

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/credence-dev/credence/agent/ocihook"
	"github.com/credence-dev/credence/attest"
)

// Bounds on what a trigger sends.
const (
	maxStateBytes  = ocihook.MaxStateBytes
	maxConfigBytes = ocihook.MaxConfigBytes
)

// OCIRequest is what the createRuntime hook sends (see ocihook.Request).
type OCIRequest = ocihook.Request

// Annotations runtimes set on a container's config.json that say which pod,
// container and image it is. containerd's CRI plugin and CRI-O differ.
var (
	annPodUID        = []string{"io.kubernetes.cri.sandbox-uid", "io.kubernetes.pod.uid"}
	annPodName       = []string{"io.kubernetes.cri.sandbox-name", "io.kubernetes.pod.name"}
	annPodNamespace  = []string{"io.kubernetes.cri.sandbox-namespace", "io.kubernetes.pod.namespace"}
	annContainerName = []string{"io.kubernetes.cri.container-name", "io.kubernetes.container.name"}
	annContainerType = []string{"io.kubernetes.cri.container-type", "io.kubernetes.cri-o.ContainerType"}
	annImageRef      = []string{"io.kubernetes.cri.image-name", "io.kubernetes.cri-o.ImageName", "org.opencontainers.image.ref.name"}
	// No runtime annotates the manifest digest today; a wrapper (or a test)
	// may set credence's own.
	annImageDigest       = []string{"dev.credence.image.digest"}
	annImageConfigDigest = []string{"dev.credence.image.config-digest", "io.kubernetes.cri-o.ImageRef"}
)

func annotation(ann map[string]string, keys []string) (string, string) {
	for _, k := range keys {
		if v := ann[k]; v != "" {
			return v, k
		}
	}
	return "", ""
}

// BuildOCI turns a hook's request into a container.start event.
func BuildOCI(req *OCIRequest, o EventOptions) (*attest.ContainerStart, error) {
	if len(req.State) > maxStateBytes || len(req.Config) > maxConfigBytes {
		return nil, fmt.Errorf("build event: state of %d or config.json of %d bytes is too large", len(req.State), len(req.Config))
	}
	var st specs.State
	if err := json.Unmarshal(req.State, &st); err != nil {
		return nil, fmt.Errorf("build event: parse state: %w", err)
	}
	if st.ID == "" {
		return nil, fmt.Errorf("build event: the state names no container id")
	}
	var spec specs.Spec
	if err := json.Unmarshal(req.Config, &spec); err != nil {
		return nil, fmt.Errorf("build event: parse config.json: %w", err)
	}
	if spec.Process == nil {
		return nil, fmt.Errorf("build event: config.json has no process")
	}
	ann := map[string]string{}
	for k, v := range spec.Annotations {
		ann[k] = v
	}
	for k, v := range st.Annotations { // the runtime's view wins
		ann[k] = v
	}
	ev := &attest.ContainerStart{
		Type:             attest.TypeContainerStart,
		Time:             o.now(),
		Trigger:          "oci-hook",
		Runtime:          strings.TrimSpace("oci " + st.Version),
		ContainerID:      st.ID,
		ConfigJSONDigest: attest.SHA256Digest(req.Config),
	}
	ev.ContainerName, _ = annotation(ann, annContainerName)
	ev.ContainerType, _ = annotation(ann, annContainerType)
	if uid, _ := annotation(ann, annPodUID); uid != "" {
		ev.Pod = &attest.PodIdentity{UID: uid}
		ev.Pod.Name, _ = annotation(ann, annPodName)
		ev.Pod.Namespace, _ = annotation(ann, annPodNamespace)
	}
	var sources []string
	for _, f := range []struct {
		dst  *string
		keys []string
	}{
		{&ev.Image.Ref, annImageRef}, {&ev.Image.Digest, annImageDigest}, {&ev.Image.ConfigDigest, annImageConfigDigest},
	} {
		if v, k := annotation(ann, f.keys); v != "" {
			*f.dst = v
			sources = append(sources, "annotation "+k)
		}
	}
	ev.Image.Source = strings.Join(sources, ", ")

	p := spec.Process
	ev.Process = processEvent(p.Args, p.Env, o)
	ev.Process.User = &attest.User{UID: p.User.UID, GID: p.User.GID, AdditionalGIDs: p.User.AdditionalGids}
	ev.Process.Cwd = p.Cwd
	nnp := p.NoNewPrivileges
	ev.Process.NoNewPrivileges = &nnp
	ev.Process.Entrypoint = req.Entrypoint
	if c := p.Capabilities; c != nil {
		ev.Process.Capabilities = &attest.Capabilities{Effective: nonNil(c.Effective), Ambient: c.Ambient}
		if !slices.Equal(c.Bounding, c.Effective) {
			ev.Process.Capabilities.Bounding = nonNil(c.Bounding)
		}
	} else {
		ev.Process.Capabilities = &attest.Capabilities{Effective: []string{}}
	}
	ev.AppArmorProfile = p.ApparmorProfile
	ev.SELinuxLabel = p.SelinuxLabel
	if spec.Root != nil {
		ro := spec.Root.Readonly
		ev.ReadOnlyRootfs = &ro
	}
	for _, m := range spec.Mounts {
		ev.Mounts = append(ev.Mounts, attest.Mount{Destination: m.Destination, Type: m.Type, Source: m.Source, Options: m.Options})
	}
	var masked int
	if l := spec.Linux; l != nil {
		ev.Namespaces, ev.HostNamespaces = namespaces(l.Namespaces, o.hostNS)
		if l.Seccomp != nil {
			prof, err := json.Marshal(l.Seccomp)
			if err != nil {
				return nil, fmt.Errorf("build event: %w", err)
			}
			ev.Seccomp = &attest.Seccomp{DefaultAction: string(l.Seccomp.DefaultAction),
				ProfileDigest: attest.SHA256Digest(prof), Syscalls: len(l.Seccomp.Syscalls)}
		}
		if ev.SELinuxLabel == "" {
			ev.SELinuxLabel = l.MountLabel
		}
		masked = len(l.MaskedPaths)
	} else {
		ev.HostNamespaces = slices.Clone(allNamespaces)
	}
	priv := privileged(ev.Process.Capabilities.Effective, ev.Seccomp == nil, masked == 0)
	ev.Privileged = &priv
	return ev, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// processEvent records args in clear and env as hashes unless o.EnvInClear.
func processEvent(args, env []string, o EventOptions) attest.Process {
	p := attest.Process{Args: nonNil(args), ArgsDigest: attest.ArgsDigest(args), EnvDigest: attest.ArgsDigest(env), EnvInClear: o.EnvInClear}
	for _, e := range env {
		if o.EnvInClear {
			p.Env = append(p.Env, e)
			continue
		}
		name, value, _ := strings.Cut(e, "=")
		p.Env = append(p.Env, name+"="+attest.SHA256Digest([]byte(value)))
	}
	return p
}

// allNamespaces are the namespace types OCI knows, in a stable order.
var allNamespaces = []string{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}

// namespaces lists the container's namespaces and which types it shares
// with the host: a type absent from the spec, or joined at the host's own
// namespace (same device and inode as /proc/1/ns/<type>).
func namespaces(ns []specs.LinuxNamespace, hostNS func(typ, path string) bool) ([]attest.Namespace, []string) {
	var out []attest.Namespace
	have := map[string]bool{}
	var host []string
	for _, n := range ns {
		t := string(n.Type)
		out = append(out, attest.Namespace{Type: t, Path: n.Path})
		have[t] = true
		if n.Path != "" && hostNS != nil && hostNS(t, n.Path) {
			host = append(host, t)
		}
	}
	for _, t := range allNamespaces {
		if !have[t] {
			host = append(host, t)
		}
	}
	slices.Sort(host)
	return out, slices.Compact(host)
}

// procNSName maps OCI namespace types to /proc/<pid>/ns names.
var procNSName = map[string]string{"network": "net", "mount": "mnt", "pid": "pid", "ipc": "ipc", "uts": "uts", "user": "user", "cgroup": "cgroup", "time": "time"}

// sameAsHost reports whether the namespace at path is the host's (PID 1's).
func sameAsHost(typ, path string) bool {
	name, ok := procNSName[typ]
	if !ok {
		return false
	}
	var a, b syscall.Stat_t
	if syscall.Stat(path, &a) != nil || syscall.Stat(filepath.Join("/proc/1/ns", name), &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// privilegedCaps are capabilities Kubernetes' default set never grants; a
// process holding all of them, without seccomp and masked paths, is what
// privileged: true (docker --privileged) produces.
var privilegedCaps = []string{"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_NET_ADMIN", "CAP_DAC_READ_SEARCH", "CAP_SYS_BOOT", "CAP_SYSLOG"}

func privileged(effective []string, noSeccomp, noMasked bool) bool {
	for _, c := range privilegedCaps {
		if !slices.Contains(effective, c) {
			return false
		}
	}
	return noSeccomp && noMasked
}

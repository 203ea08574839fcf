package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Event types, the "type" member of every credence event.
const (
	TypeAgentStart     = "agent.start"
	TypeSeparator      = "separator"
	TypeContainerStart = "container.start"
)

// AgentStart is the first event an agent writes each time it starts. It binds
// the log to one boot of one TPM: a verifier compares ResetCount and
// RestartCount with the quote's clock info and BootID between agent starts.
type AgentStart struct {
	Type         string `json:"type"`
	Time         string `json:"time"` // RFC 3339, the node's clock
	AgentVersion string `json:"agentVersion"`
	// BinaryDigest is "sha256:<hex>" of the agent's executable.
	BinaryDigest string `json:"binaryDigest"`
	// BootID is the kernel's boot id (/proc/sys/kernel/random/boot_id).
	BootID   string `json:"bootID"`
	Hostname string `json:"hostname,omitempty"`
	PCR      int    `json:"pcr"`
	// AKName is the hex TPM name of the attestation key the agent quotes with.
	AKName string `json:"akName"`
	// ResetCount and RestartCount are the TPM's clock info, read from a
	// quote by the same AK when the agent started.
	ResetCount   uint32 `json:"resetCount"`
	RestartCount uint32 `json:"restartCount"`
	// Epoch counts agent starts in this log, from 1.
	Epoch uint64 `json:"epoch"`
}

// Separator ends an agent's start-up measurements; container starts follow it.
type Separator struct {
	Type  string `json:"type"`
	Epoch uint64 `json:"epoch"`
}

// ContainerStart is one container start as its trigger saw it. A field the
// trigger could not observe is absent and named in Unobserved: unknown is
// never reported as false.
type ContainerStart struct {
	Type string `json:"type"`
	Time string `json:"time"`
	// Trigger is "oci-hook" (an OCI createRuntime hook) or "nri".
	Trigger string `json:"trigger"`
	// Runtime names the runtime that reported the start, as far as known
	// ("oci 1.0.2-dev" from a hook's state, "containerd v2.1.0" over NRI).
	Runtime       string `json:"runtime,omitempty"`
	ContainerID   string `json:"containerID"`
	ContainerName string `json:"containerName,omitempty"`
	// ContainerType is "container" or "sandbox" (a pod's pause container) when known.
	ContainerType string        `json:"containerType,omitempty"`
	Pod           *PodIdentity  `json:"pod,omitempty"`
	Image         ImageIdentity `json:"image"`
	// ConfigJSONDigest is "sha256:<hex>" of the bundle's config.json as read.
	ConfigJSONDigest string  `json:"configJSONDigest,omitempty"`
	Process          Process `json:"process"`
	ReadOnlyRootfs   *bool   `json:"readOnlyRootfs,omitempty"`
	// Namespaces are the namespaces the container gets: a new one (no
	// path) or an existing one joined by path.
	Namespaces []Namespace `json:"namespaces,omitempty"`
	// HostNamespaces lists the namespace types the container shares with
	// the host: absent from Namespaces, or joined at the host's own path.
	HostNamespaces []string `json:"hostNamespaces,omitempty"`
	// Privileged is true for the full capability set without seccomp and
	// without masked paths: what Kubernetes' privileged: true gives.
	Privileged      *bool    `json:"privileged,omitempty"`
	Seccomp         *Seccomp `json:"seccomp,omitempty"`
	AppArmorProfile string   `json:"apparmorProfile,omitempty"`
	SELinuxLabel    string   `json:"selinuxLabel,omitempty"`
	Mounts          []Mount  `json:"mounts,omitempty"`
	// Unobserved names the fields this trigger cannot see.
	Unobserved []string `json:"unobserved,omitempty"`
}

// PodIdentity names the Kubernetes pod a container belongs to.
type PodIdentity struct {
	UID       string `json:"uid"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// ImageIdentity is the image a container was created from, as its runtime claims it.
type ImageIdentity struct {
	Ref          string `json:"ref,omitempty"`
	Digest       string `json:"digest,omitempty"`
	ConfigDigest string `json:"configDigest,omitempty"`
	// Source says where the values came from ("nri", or the annotation keys).
	Source string `json:"source,omitempty"`
}

// Process is the container's init process.
type Process struct {
	Args []string `json:"args"`
	// ArgsDigest is "sha256:<hex>" of the compact JSON array of Args.
	ArgsDigest string `json:"argsDigest"`
	// Env holds "NAME=sha256:<hex of value>" unless EnvInClear, then "NAME=value".
	Env        []string `json:"env,omitempty"`
	EnvInClear bool     `json:"envInClear,omitempty"`
	// EnvDigest is "sha256:<hex>" of the compact JSON array of the clear env.
	EnvDigest       string        `json:"envDigest"`
	User            *User         `json:"user,omitempty"`
	Cwd             string        `json:"cwd,omitempty"`
	NoNewPrivileges *bool         `json:"noNewPrivileges,omitempty"`
	Capabilities    *Capabilities `json:"capabilities,omitempty"`
	// Entrypoint is the digest of the executable Args[0] names in the rootfs.
	Entrypoint *FileDigest `json:"entrypoint,omitempty"`
}

// User is the identity the process runs as.
type User struct {
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	AdditionalGIDs []uint32 `json:"additionalGids,omitempty"`
}

// Capabilities are the Linux capability sets of the process that decide
// what it and its children can do.
type Capabilities struct {
	Effective []string `json:"effective"`
	// Bounding is present only when it differs from Effective: the
	// capabilities the process could still gain (setuid, file caps).
	Bounding []string `json:"bounding,omitempty"`
	// Ambient are kept across execve.
	Ambient []string `json:"ambient,omitempty"`
}

// FileDigest is a file's digest, or why it could not be taken.
type FileDigest struct {
	Path   string `json:"path"`
	Digest string `json:"digest,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Namespace is one Linux namespace of the container.
type Namespace struct {
	Type string `json:"type"`
	Path string `json:"path,omitempty"`
}

// Seccomp summarises the seccomp filter. A nil *Seccomp with "seccomp"
// absent from Unobserved means no filter: unconfined.
type Seccomp struct {
	// Profile is the profile kind when the trigger reports it
	// ("runtime-default", "unconfined", "localhost/<ref>").
	Profile       string `json:"profile,omitempty"`
	DefaultAction string `json:"defaultAction,omitempty"`
	// ProfileDigest is "sha256:<hex>" of the filter as compact JSON.
	ProfileDigest string `json:"profileDigest,omitempty"`
	Syscalls      int    `json:"syscalls,omitempty"`
}

// Mount is one mount of the container. In JSON it is one string in the
// /proc/mounts layout, "SOURCE DESTINATION TYPE OPTIONS" (options joined by
// commas; space, tab, newline, backslash and comma escaped as \040 \011
// \012 \134 \054; an empty field is "-", a literal "-" is \055), which
// keeps a container.start small and fast to decode.
type Mount struct {
	Destination string
	Type        string
	Source      string
	Options     []string
}

var mountEscaper = strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`, ",", `\054`)

func mountField(s string) string {
	switch s {
	case "":
		return "-"
	case "-":
		return `\055`
	}
	return mountEscaper.Replace(s)
}

func unmountField(s string) (string, error) {
	if s == "-" {
		return "", nil
	}
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", fmt.Errorf("mount field %q: short escape", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", fmt.Errorf("mount field %q: bad escape", s)
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), nil
}

// String is the mount in its JSON (/proc/mounts) form.
func (m Mount) String() string {
	opts := make([]string, len(m.Options))
	for i, o := range m.Options {
		opts[i] = mountEscaper.Replace(o)
	}
	o := strings.Join(opts, ",")
	switch o {
	case "":
		o = "-" // no options (a lone empty option reads back as none)
	case "-":
		o = `\055`
	}
	return mountField(m.Source) + " " + mountField(m.Destination) + " " + mountField(m.Type) + " " + o
}

// MarshalJSON implements json.Marshaler.
func (m Mount) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (m *Mount) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b[1:len(b)-1], '\\') < 0 && bytes.IndexByte(b[1:len(b)-1], '"') < 0 {
		s = string(b[1 : len(b)-1]) // no JSON escapes: the common case, already validated by the caller's decoder
	} else if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	f := strings.Split(s, " ")
	if len(f) != 4 {
		return fmt.Errorf("mount %q: want 4 fields", s)
	}
	var err error
	out := Mount{}
	if out.Source, err = unmountField(f[0]); err != nil {
		return err
	}
	if out.Destination, err = unmountField(f[1]); err != nil {
		return err
	}
	if out.Type, err = unmountField(f[2]); err != nil {
		return err
	}
	if f[3] != "-" {
		for _, o := range strings.Split(f[3], ",") {
			v, err := unmountField(o)
			if err != nil {
				return err
			}
			out.Options = append(out.Options, v)
		}
	}
	*m = out
	return nil
}

// EncodeEvent returns the exact content bytes of an event: compact JSON on
// one line, without HTML escaping. It sets the event's type member.
func EncodeEvent(ev any) ([]byte, error) {
	switch e := ev.(type) {
	case *AgentStart:
		e.Type = TypeAgentStart
	case *Separator:
		e.Type = TypeSeparator
	case *ContainerStart:
		e.Type = TypeContainerStart
	default:
		return nil, fmt.Errorf("encode event: unknown event %T", ev)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Event is a decoded credence event: exactly one member is set.
type Event struct {
	Type           string
	AgentStart     *AgentStart
	Separator      *Separator
	ContainerStart *ContainerStart
}

// DecodeEvent decodes the content of a "credence" record. Events written
// by EncodeEvent start with their type member, which lets one pass decode
// them; anything else is decoded twice (type first).
func DecodeEvent(content []byte) (Event, error) {
	typ := peekType(content)
	if typ == "" {
		var head struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(content, &head); err != nil {
			return Event{}, fmt.Errorf("decode event: %w: %w", ErrMalformed, err)
		}
		typ = head.Type
	}
	ev := Event{Type: typ}
	var target any
	var got *string
	switch typ {
	case TypeAgentStart:
		ev.AgentStart = &AgentStart{}
		target, got = ev.AgentStart, &ev.AgentStart.Type
	case TypeSeparator:
		ev.Separator = &Separator{}
		target, got = ev.Separator, &ev.Separator.Type
	case TypeContainerStart:
		ev.ContainerStart = &ContainerStart{}
		target, got = ev.ContainerStart, &ev.ContainerStart.Type
	default:
		return Event{}, fmt.Errorf("decode event: unknown event type %q: %w", typ, ErrMalformed)
	}
	if err := json.Unmarshal(content, target); err != nil {
		return Event{}, fmt.Errorf("decode %s event: %w: %w", typ, ErrMalformed, err)
	}
	if *got != typ { // a second "type" member later in the object
		return Event{}, fmt.Errorf("decode event: type %q then %q: %w", typ, *got, ErrMalformed)
	}
	return ev, nil
}

// peekType returns the type of an event that begins {"type":"<known type>",
// or "".
func peekType(content []byte) string {
	rest, ok := bytes.CutPrefix(content, []byte(`{"type":"`))
	if !ok {
		return ""
	}
	for _, t := range []string{TypeContainerStart, TypeAgentStart, TypeSeparator} {
		if len(rest) > len(t) && string(rest[:len(t)]) == t && rest[len(t)] == '"' {
			return t
		}
	}
	return ""
}

// ArgsDigest is "sha256:<hex>" of the compact JSON array of args (no HTML
// escaping; no args is "[]"): how container.start and admitted workloads
// record a process's arguments and environment.
func ArgsDigest(args []string) string {
	if args == nil {
		args = []string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(args) // a []string always encodes
	return SHA256Digest(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

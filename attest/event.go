package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	User            User          `json:"user"`
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

// Capabilities are the Linux capability sets of the process.
type Capabilities struct {
	Effective   []string `json:"effective"`
	Bounding    []string `json:"bounding,omitempty"`
	Permitted   []string `json:"permitted,omitempty"`
	Inheritable []string `json:"inheritable,omitempty"`
	Ambient     []string `json:"ambient,omitempty"`
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

// Mount is one mount of the container.
type Mount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
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

// DecodeEvent decodes the content of a "credence" record.
func DecodeEvent(content []byte) (Event, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(content, &head); err != nil {
		return Event{}, fmt.Errorf("decode event: %w: %w", ErrMalformed, err)
	}
	ev := Event{Type: head.Type}
	var target any
	switch head.Type {
	case TypeAgentStart:
		ev.AgentStart = &AgentStart{}
		target = ev.AgentStart
	case TypeSeparator:
		ev.Separator = &Separator{}
		target = ev.Separator
	case TypeContainerStart:
		ev.ContainerStart = &ContainerStart{}
		target = ev.ContainerStart
	default:
		return Event{}, fmt.Errorf("decode event: unknown event type %q: %w", head.Type, ErrMalformed)
	}
	if err := json.Unmarshal(content, target); err != nil {
		return Event{}, fmt.Errorf("decode %s event: %w: %w", head.Type, ErrMalformed, err)
	}
	return ev, nil
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

package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
)

// Admitted is the file of workloads admission allowed (see the package doc
// for its format).
type Admitted struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Workloads  []AdmittedWorkload `json:"workloads"`
}

// AdmittedWorkload is one container admission allowed. PodUID and Container
// are required; every other field is compared only when present.
type AdmittedWorkload struct {
	PodUID      string `json:"podUID"`
	Namespace   string `json:"namespace,omitempty"`
	Pod         string `json:"pod,omitempty"`
	Container   string `json:"container"`
	ImageDigest string `json:"imageDigest,omitempty"`
	// ArgsDigest is "sha256:<hex>" of the compact JSON array of the
	// process arguments (see ArgsDigest).
	ArgsDigest     string   `json:"argsDigest,omitempty"`
	Privileged     *bool    `json:"privileged,omitempty"`
	HostNetwork    *bool    `json:"hostNetwork,omitempty"`
	HostPID        *bool    `json:"hostPID,omitempty"`
	HostIPC        *bool    `json:"hostIPC,omitempty"`
	Capabilities   []string `json:"capabilities,omitempty"`
	ReadOnlyRootfs *bool    `json:"readOnlyRootfs,omitempty"`
}

// AdmittedKind and AdmittedAPIVersion identify an admitted-workloads file.
const (
	AdmittedKind       = "AdmittedWorkloads"
	AdmittedAPIVersion = "credence.dev/v1alpha1"
)

// maxAdmittedBytes bounds an admitted-workloads file.
const maxAdmittedBytes = 64 << 20

// ParseAdmitted decodes and checks an admitted-workloads file: unknown
// fields, a missing pod UID or container name, and a workload listed twice
// are errors.
func ParseAdmitted(b []byte) (*Admitted, error) {
	if len(b) > maxAdmittedBytes {
		return nil, fmt.Errorf("parse admitted workloads: %d bytes is more than %d", len(b), maxAdmittedBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var a Admitted
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("parse admitted workloads: %w", err)
	}
	if a.Kind != AdmittedKind || a.APIVersion != AdmittedAPIVersion {
		return nil, fmt.Errorf("parse admitted workloads: kind %q apiVersion %q, want %s %s", a.Kind, a.APIVersion, AdmittedKind, AdmittedAPIVersion)
	}
	seen := map[[2]string]bool{}
	for i, w := range a.Workloads {
		if w.PodUID == "" || w.Container == "" {
			return nil, fmt.Errorf("parse admitted workloads: workload %d: podUID and container are required", i)
		}
		k := [2]string{w.PodUID, w.Container}
		if seen[k] {
			return nil, fmt.Errorf("parse admitted workloads: pod %s container %s is listed twice", w.PodUID, w.Container)
		}
		seen[k] = true
	}
	return &a, nil
}

// ReadAdmitted reads an admitted-workloads file.
func ReadAdmitted(path string) (*Admitted, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read admitted workloads: %w", err)
	}
	return ParseAdmitted(b)
}

// Reconcile classes.
const (
	Matched            = "matched"
	Drift              = "drift"
	RanNotAdmitted     = "ran-but-not-admitted"
	AdmittedNotRun     = "admitted-but-not-run"
	ClassNotReconciled = "not-reconciled" // a start the verifier did not verify
)

// ReconcileEntry is one classified container start or admitted workload.
type ReconcileEntry struct {
	Class       string   `json:"class"`
	RecNum      *uint64  `json:"recnum,omitempty"`
	ContainerID string   `json:"containerID,omitempty"`
	PodUID      string   `json:"podUID,omitempty"`
	Namespace   string   `json:"namespace,omitempty"`
	Pod         string   `json:"pod,omitempty"`
	Container   string   `json:"container,omitempty"`
	Image       string   `json:"image,omitempty"`
	Reasons     []string `json:"reasons,omitempty"`
}

// Reconciliation is the join of what ran with what was admitted.
type Reconciliation struct {
	Entries []ReconcileEntry `json:"entries"`
	Counts  map[string]int   `json:"counts"`
}

// Alerts is the number of entries an operator must look at: starts that
// were not admitted or drifted from their admission.
func (r *Reconciliation) Alerts() int { return r.Counts[RanNotAdmitted] + r.Counts[Drift] }

// Reconcile classifies every container start of a verification result
// against the admitted workloads (decoding them first, see
// Result.DecodeStarts). Only verified starts count as "ran"; others are
// listed as not-reconciled.
func Reconcile(res *Result, adm *Admitted) *Reconciliation {
	res.DecodeStarts()
	out := &Reconciliation{Entries: []ReconcileEntry{}, Counts: map[string]int{}}
	byKey := map[[2]string]*AdmittedWorkload{}
	pods := map[string]bool{}
	for i := range adm.Workloads {
		w := &adm.Workloads[i]
		byKey[[2]string{w.PodUID, w.Container}] = w
		pods[w.PodUID] = true
	}
	ran := map[[2]string]bool{}
	for _, cv := range res.Containers {
		e := ReconcileEntry{RecNum: recnumPtr(cv.RecNum)}
		cs := cv.Start
		if cs != nil {
			e.ContainerID, e.Container, e.Image = cs.ContainerID, cs.ContainerName, imageOf(cs)
			if cs.Pod != nil {
				e.PodUID, e.Namespace, e.Pod = cs.Pod.UID, cs.Pod.Namespace, cs.Pod.Name
			}
		}
		switch {
		case cv.Verdict != Verified || cs == nil:
			e.Class = ClassNotReconciled
			e.Reasons = []string{"the start is " + cv.Verdict + ", so it does not count as ran"}
		case cs.Pod == nil || cs.Pod.UID == "":
			e.Class = RanNotAdmitted
			e.Reasons = []string{"no pod identity: started outside Kubernetes (runc, ctr) or by a runtime that does not name the pod"}
		case cs.ContainerType == "sandbox":
			if pods[cs.Pod.UID] {
				e.Class, e.Reasons = Matched, []string{"the sandbox of an admitted pod"}
			} else {
				e.Class, e.Reasons = RanNotAdmitted, []string{"the sandbox of a pod admission never saw"}
			}
		default:
			k := [2]string{cs.Pod.UID, cs.ContainerName}
			w := byKey[k]
			if w == nil {
				e.Class = RanNotAdmitted
				e.Reasons = []string{"no admitted workload for this pod UID and container name"}
				break
			}
			ran[k] = true
			if diffs := compareAdmitted(w, cs); len(diffs) > 0 {
				e.Class, e.Reasons = Drift, diffs
			} else {
				e.Class = Matched
			}
		}
		out.Entries = append(out.Entries, e)
	}
	for _, w := range adm.Workloads {
		if !ran[[2]string{w.PodUID, w.Container}] {
			out.Entries = append(out.Entries, ReconcileEntry{Class: AdmittedNotRun, PodUID: w.PodUID, Namespace: w.Namespace,
				Pod: w.Pod, Container: w.Container, Image: w.ImageDigest, Reasons: []string{"no verified start on this node"}})
		}
	}
	for _, e := range out.Entries {
		out.Counts[e.Class]++
	}
	return out
}

// imageOf is the image digest a start ran, or its reference.
func imageOf(cs *ContainerStart) string {
	if d := observedDigest(cs); d != "" {
		return d
	}
	return cs.Image.Ref
}

// observedDigest is the manifest digest, from the trigger or from a
// reference pinned by digest (name@sha256:...).
func observedDigest(cs *ContainerStart) string {
	if cs.Image.Digest != "" {
		return cs.Image.Digest
	}
	if _, d, ok := strings.Cut(cs.Image.Ref, "@"); ok && strings.HasPrefix(d, "sha256:") {
		return d
	}
	return ""
}

func unobserved(cs *ContainerStart, field string) bool { return slices.Contains(cs.Unobserved, field) }

// compareAdmitted lists how a start differs from its admission. A field the
// trigger did not observe is a difference: unknown is never "as admitted".
func compareAdmitted(w *AdmittedWorkload, cs *ContainerStart) []string {
	var d []string
	notSeen := func(what, admitted string) {
		d = append(d, fmt.Sprintf("%s: admitted %s, not observed by the %s trigger", what, admitted, cs.Trigger))
	}
	if w.ImageDigest != "" {
		switch got := observedDigest(cs); {
		case got == "":
			notSeen("image digest", w.ImageDigest)
		case got != w.ImageDigest:
			d = append(d, fmt.Sprintf("image digest: admitted %s, ran %s", w.ImageDigest, got))
		}
	}
	if w.ArgsDigest != "" && w.ArgsDigest != cs.Process.ArgsDigest {
		d = append(d, fmt.Sprintf("args: admitted %s, ran %s %q", w.ArgsDigest, cs.Process.ArgsDigest, cs.Process.Args))
	}
	boolField := func(what string, admitted *bool, got *bool) {
		switch {
		case admitted == nil:
		case got == nil:
			notSeen(what, fmt.Sprint(*admitted))
		case *got != *admitted:
			d = append(d, fmt.Sprintf("%s: admitted %v, ran %v", what, *admitted, *got))
		}
	}
	boolField("privileged", w.Privileged, cs.Privileged)
	boolField("readOnlyRootfs", w.ReadOnlyRootfs, cs.ReadOnlyRootfs)
	for _, ns := range []struct {
		what, typ string
		admitted  *bool
	}{{"hostNetwork", "network", w.HostNetwork}, {"hostPID", "pid", w.HostPID}, {"hostIPC", "ipc", w.HostIPC}} {
		var got *bool
		if !unobserved(cs, "namespaces") {
			v := slices.Contains(cs.HostNamespaces, ns.typ)
			got = &v
		}
		boolField(ns.what, ns.admitted, got)
	}
	if w.Capabilities != nil {
		if cs.Process.Capabilities == nil {
			notSeen("capabilities", fmt.Sprint(w.Capabilities))
		} else if a, g := capSet(w.Capabilities), capSet(cs.Process.Capabilities.Effective); !slices.Equal(a, g) {
			d = append(d, fmt.Sprintf("capabilities: admitted %v, ran %v", a, g))
		}
	}
	return d
}

func capSet(caps []string) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		c = strings.ToUpper(strings.TrimSpace(c))
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		out = append(out, c)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

package assess

import (
	"time"

	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/posture"
	"github.com/credence-dev/credence/provenance"
)

// SchemaVersion is the version of the JSON form of Subject and Assessment.
// It changes when a field changes meaning or is removed; fields may be added
// within a version. The form is documented in docs/subject.md.
const SchemaVersion = "credence.dev/assess/v1"

// Subject is everything known about one workload (a pod template, or a live
// pod with its owners): its containers' images and their findings, posture,
// exposure and blast radius, and what could not be established. It is built
// once by Assess and read by every consumer.
type Subject struct {
	Version  string   `json:"version"`
	Workload Workload `json:"workload"`
	// Containers are the pod's containers, init and ephemeral ones included.
	Containers []Container `json:"containers"`
	// Risk is the workload's rank: how likely it is to be hit, times how much
	// a compromise of it hurts, through its riskiest container.
	Risk Risk `json:"risk"`
	// Unknowns say what could not be established about this workload
	// (an image not scanned, a gap in the snapshot). What they hide is not safe.
	Unknowns []string `json:"unknowns,omitempty"`
}

// Workload identifies the owner of a pod template or a live pod.
type Workload struct {
	Namespace string `json:"namespace"`
	// Kind and Name name the top-level owner ("Deployment", "web"), or the pod
	// itself ("Pod", "debug") when it has none.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Owners is the owner chain from the top: "Deployment/web",
	// "ReplicaSet/web-7d9f". Empty for a bare pod.
	Owners []string `json:"owners,omitempty"`
	// Pod is the pod the Subject was built from: a live pod, or the pod a
	// manifest's template makes (named after the workload).
	Pod string `json:"pod"`
	// Template is true when the pod was made from a manifest's template
	// rather than read from a live cluster.
	Template       bool              `json:"template"`
	Node           string            `json:"node,omitempty"`
	ServiceAccount string            `json:"serviceAccount,omitempty"`
	Labels         map[string]string `json:"labels,omitempty"`
	Annotations    map[string]string `json:"annotations,omitempty"`
	// PodSecurity is the pod's Pod Security level, and whether its
	// namespace's enforce label admits it.
	PodSecurity posture.PodSecurity `json:"podSecurity"`
	Admitted    posture.Tri         `json:"admitted"`
}

// Ref is "namespace/name" of the workload.
func (w Workload) Ref() string { return w.Namespace + "/" + w.Name }

// Container is one container of a Subject's pod.
type Container struct {
	Name string                `json:"name"`
	Kind posture.ContainerKind `json:"kind"`
	// Key is the container's node in the trust graph: "container:ns/pod/name".
	Key   string   `json:"key"`
	Image ImageRef `json:"image"`
	// Posture is the container's isolation profile (capabilities, seccomp,
	// host namespaces and paths, escapes to the node, Pod Security level).
	Posture *posture.Profile `json:"posture,omitempty"`
	// Exposure is how reachable the container is before any compromise.
	Exposure Exposure `json:"exposure"`
	// Exploit is how likely a network-reachable attacker is to take the
	// container over, from its image's findings (see ExploitModel).
	Exploit Exploit `json:"exploit"`
	// BlastRadius is what falls if the container is compromised.
	BlastRadius *BlastRadius `json:"blastRadius,omitempty"`
	// Provenance is where the image came from (signatures, attestations).
	// Status "not-checked" until a verifier fills it: never absent-means-fine.
	Provenance Evidence `json:"provenance"`
	// MeasuredRun is what a TPM-backed measurement log says ran.
	// Status "not-checked" until reconciled.
	MeasuredRun Evidence `json:"measuredRun"`
	// Compromised is set when a runtime alert named this container.
	Compromised *Alert `json:"compromised,omitempty"`

	imageKey string // the image's key in the run
}

// ImageRef is one container's image: the reference in its spec and what it
// resolved to.
type ImageRef struct {
	// Reference is the pod spec's image field.
	Reference string `json:"reference"`
	// Digest is the resolved image digest ("sha256:..."): the manifest (or
	// index) digest, or for an image read from a docker-archive the config
	// digest. Empty when the reference could not be resolved.
	Digest string `json:"digest,omitempty"`
	// ResolvedBy says how: "status.imageID", "pinned", "images oci:DIR",
	// "registry".
	ResolvedBy string `json:"resolvedBy,omitempty"`
	// Status is scanned or unknown; Reason says why an image is unknown.
	Status ImageStatus `json:"status"`
	Reason string      `json:"reason,omitempty"`
}

// ImageStatus says whether an image's contents are known.
type ImageStatus string

// Image statuses.
const (
	// Scanned: the image was read (or its cached inventory used) and matched.
	Scanned ImageStatus = "scanned"
	// NotScanned: the image could not be resolved or read. Its findings are
	// unknown, never clean.
	NotScanned ImageStatus = "unknown"
)

// Exposure is how reachable a container is before any compromise.
type Exposure struct {
	// Level is internet (LoadBalancer or Ingress), node (NodePort, hostPort),
	// cluster (a Service or a declared port) or none.
	Level string `json:"level"`
	Why   string `json:"why,omitempty"`
	// Reach is the chance an attacker can send it traffic at all, from the
	// level (see ExploitModel).
	Reach float64 `json:"reach"`
}

// Exploit is the exploitability model's answer for one container.
type Exploit struct {
	// Known is false when the image was not scanned or could not be fully
	// checked: the graph then assumes a takeover is possible and marks the
	// step unknown.
	Known bool `json:"known"`
	// Likelihood in [0, 1] that a network-reachable attacker takes the
	// container over (when Known).
	Likelihood float64 `json:"likelihood"`
	Reason     string  `json:"reason"`
	// Evidence lists the finding ids that contribute, most likely first.
	Evidence []string `json:"evidence,omitempty"`
}

// BlastRadius summarises a compromise of one container.
type BlastRadius struct {
	// Likelihoods of the most likely path to cluster-admin, to any node and
	// to any critical asset (0 when none within the query's bounds).
	ClusterAdmin float64 `json:"clusterAdmin"`
	Node         float64 `json:"node"`
	Critical     float64 `json:"critical"`
	// Counts within the bounds; Closure at any depth and likelihood.
	Counts  graph.Counts `json:"counts"`
	Closure graph.Counts `json:"closure"`
	// Assets are the first critical assets reached, most likely first.
	Assets []graph.Asset `json:"assets,omitempty"`
	// Path explains the most likely path to the most likely asset; Paths
	// the most likely path to each of the first assets (Path among them).
	Path  *graph.Path  `json:"path,omitempty"`
	Paths []graph.Path `json:"paths,omitempty"`
	// Unknowns: gaps the query met. What they hide is not counted.
	Unknowns []string `json:"unknowns,omitempty"`
}

// Evidence is a slot for evidence another part of credence fills
// (provenance verification, measured runs). Until it does, Status is
// NotChecked: absent evidence never reads as fine.
type Evidence struct {
	Status EvidenceStatus `json:"status"`
	Reason string         `json:"reason,omitempty"`
	// Verdict is the provenance verifier's full answer (provenance slot
	// only, when WithProvenance was given): signer, attestations with
	// their typed predicates, every candidate examined, and whether the
	// reference was pinned.
	Verdict *provenance.Verdict `json:"verdict,omitempty"`
}

// EvidenceStatus is the outcome of an evidence check.
type EvidenceStatus string

// Evidence statuses.
const (
	// NotChecked: nobody checked (no verifier configured, no digest to
	// check, docker-archive images). Unknown, never fine.
	NotChecked EvidenceStatus = "not-checked"
	// Verified: signed (and attested as the verifier's policy requires)
	// by a trusted authority.
	Verified EvidenceStatus = "verified"
	// Unsigned: the registry answered and holds no signature for the
	// digest. Definitive.
	Unsigned EvidenceStatus = "unsigned"
	// Failed: signatures exist but none satisfied the policy, or the
	// reference broke a rule (untrusted registry); the reason names the
	// step. Definitive.
	Failed EvidenceStatus = "failed"
	// CheckError: the check could not complete (registry unreachable,
	// timeout, credentials refused). Transient: retry; it is not
	// "unsigned".
	CheckError EvidenceStatus = "error"
)

// Definitive reports whether the evidence settles the question (verified,
// unsigned, failed); error and not-checked do not.
func (s EvidenceStatus) Definitive() bool { return s == Verified || s == Unsigned || s == Failed }

// Risk ranks a workload.
type Risk struct {
	// Score is Likelihood × Impact × 100, rounded.
	Score float64 `json:"score"`
	// Likelihood of being hit: exposure reach × exploitability of the entry
	// container.
	Likelihood float64 `json:"likelihood"`
	// Impact is how much a compromise hurts, from the blast radius: cluster
	// admin 1, a node 0.8, another critical asset 0.6, times the path's
	// likelihood; 0.05 when nothing critical is reached.
	Impact float64 `json:"impact"`
	// Unknown is true when the likelihood rests on unknown exploitability.
	Unknown bool `json:"unknown,omitempty"`
	// Entry is the container the score comes from.
	Entry string `json:"entry"`
	// Why explains the score in one line.
	Why string `json:"why"`
}

// Image is what is known about one distinct image digest. Subjects refer to
// it by ImageRef.Digest; its findings are stored once here.
type Image struct {
	Digest string `json:"digest"`
	// References are the spec references that resolved to it.
	References []string `json:"references"`
	// Source is the image reference credence read (or would have read).
	Source string      `json:"source,omitempty"`
	Status ImageStatus `json:"status"`
	Reason string      `json:"reason,omitempty"`
	// ManifestDigest and ConfigDigest identify what was read.
	ManifestDigest string `json:"manifestDigest,omitempty"`
	ConfigDigest   string `json:"configDigest,omitempty"`
	// Cached is true when the inventory came from the cache (no layer read).
	Cached     bool              `json:"cached"`
	ScannedAt  time.Time         `json:"scannedAt,omitzero"`
	Extractors string            `json:"extractors,omitempty"` // extractor-set version
	Inventory  *Summary          `json:"inventory,omitempty"`
	Findings   []match.Finding   `json:"findings,omitempty"`
	Undecided  []match.Undecided `json:"undecided,omitempty"`
	Counts     Counts            `json:"counts"`
	// Unchecked says which packages could not be checked and why (OS not
	// recognised, no data for an ecosystem, undecided versions): the image
	// is then not known to be clean.
	Unchecked []string `json:"unchecked,omitempty"`

	inv *inventory.Inventory
}

// Summary is an image's inventory in brief.
type Summary struct {
	Distro   *inventory.Distro `json:"distro,omitempty"`
	Packages int               `json:"packages"`
	ByType   map[string]int    `json:"byType"`
	Layers   int               `json:"layers"`
	State    inventory.State   `json:"state"`
	// FileErrors counts files an extractor could not read (state partial).
	FileErrors int `json:"fileErrors,omitempty"`
}

// Counts are an image's findings by kind (suppressed ones excluded).
type Counts struct {
	Findings   int            `json:"findings"`
	BySeverity map[string]int `json:"bySeverity"`
	KEV        int            `json:"kev"`
	Fixable    int            `json:"fixable"`
	Suppressed int            `json:"suppressed"`
	Undecided  int            `json:"undecided"`
}

// Assessment is the result of one run: every Subject, ranked, the images
// they run, and what cuts the most risk.
type Assessment struct {
	Version string `json:"version"`
	// Source is where the cluster snapshot came from.
	Source    string    `json:"source"`
	Generated time.Time `json:"generated"`
	Subjects  []Subject `json:"subjects"`
	// Images are the distinct images, by digest (or by reference for those
	// that could not be resolved), sorted.
	Images []*Image `json:"images"`
	// ExposedKEV are KEV-listed findings in containers an attacker on the
	// internet can reach.
	ExposedKEV []ExposedKEV `json:"exposedKEV,omitempty"`
	// Cuts are single changes that cut the most risk over every workload.
	Cuts []Cut `json:"cuts,omitempty"`
	// Kernels are the nodes' kernels matched against kernel advisories: the
	// shared-kernel escape of every container on a node.
	Kernels []Kernel `json:"kernels,omitempty"`
	// Alerts are runtime alerts read with the assessment, and what falls from
	// each alerted container.
	Alerts []AlertResult `json:"alerts,omitempty"`
	// Unknowns: what the run could not establish (snapshot gaps, images not
	// resolved). Never safe.
	Unknowns []string `json:"unknowns,omitempty"`
	Stats    Stats    `json:"stats"`
}

// ExposedKEV is one KEV-listed finding on an internet-exposed path.
type ExposedKEV struct {
	Workload  string `json:"workload"`
	Container string `json:"container"`
	Image     string `json:"image"`
	Finding   string `json:"finding"`
	CVE       string `json:"cve"`
	Package   string `json:"package"`
	Exposure  string `json:"exposure"`
	// Via is the internet-exposed container the path starts from (the
	// container itself when it is exposed).
	Via string `json:"via"`
}

// Cut is one change ranked by the risk it removes over every workload.
type Cut struct {
	ID      string `json:"id"`
	Summary string `json:"summary"`
	// Kind is "graph" (a change to the cluster that removes attack steps) or
	// "image" (an upgrade that removes exploitable findings).
	Kind string `json:"kind"`
	// RiskCut is the drop in the sum of risk scores it brings, and Workloads
	// the number of workloads whose score drops.
	RiskCut   float64 `json:"riskCut"`
	Workloads int     `json:"workloads"`
	Why       string  `json:"why"`
}

// Stats count what a run did.
type Stats struct {
	Workloads  int `json:"workloads"`
	Containers int `json:"containers"`
	// Images is the number of distinct image digests; ImagesRead those whose
	// layers were read, CacheHits those whose inventory came from the cache,
	// Unknown those that could not be scanned.
	Images     int `json:"images"`
	ImagesRead int `json:"imagesRead"`
	CacheHits  int `json:"cacheHits"`
	Unknown    int `json:"unknown"`
	// Durations of the phases, in nanoseconds.
	ResolveNs time.Duration `json:"resolveNs"`
	ScanNs    time.Duration `json:"scanNs"`
	MatchNs   time.Duration `json:"matchNs"`
	GraphNs   time.Duration `json:"graphNs"`
	// Verified is the number of distinct repository@digest verified for
	// provenance (WithProvenance), VerifyNs the time it took.
	Verified int           `json:"verified"`
	VerifyNs time.Duration `json:"verifyNs"`
}

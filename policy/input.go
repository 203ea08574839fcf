package policy

import (
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/posture"
	"github.com/credence-dev/credence/provenance"
)

// The types below are what rules see: `subject` is a Subject, `container`
// a Container. They are a stable, documented view of assess.Subject (field
// names are their json tags), typed so that a misspelt field fails when the
// policy is loaded, not when a pod arrives. Facts that may be unknown carry
// their state (image.scanned, provenance.status, posture.known,
// blastRadius.known); see "Unknown" in the package doc.

// Subject is one workload and everything known about it.
type Subject struct {
	Workload   Workload    `json:"workload"`
	Containers []Container `json:"containers"`
	Risk       Risk        `json:"risk"`
	// Unknowns say what could not be established about the workload.
	Unknowns []string `json:"unknowns"`
}

// Workload identifies the workload.
type Workload struct {
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Ref is "namespace/Kind/name".
	Ref            string            `json:"ref"`
	Pod            string            `json:"pod"`
	ServiceAccount string            `json:"serviceAccount"`
	Labels         map[string]string `json:"labels"`
	Annotations    map[string]string `json:"annotations"`
	// PodSecurity is the pod's Pod Security Standards level (privileged,
	// baseline, restricted), computed by the upstream evaluator.
	PodSecurity PodSecurity `json:"podSecurity"`
}

// PodSecurity is a Pod Security Standards level with every failing check.
type PodSecurity struct {
	Level    string         `json:"level"`
	Failures []CheckFailure `json:"failures"`
}

// CheckFailure is one failing Pod Security check ("privileged",
// "capabilities_restricted", ...); Level is baseline or restricted.
type CheckFailure struct {
	ID     string `json:"id"`
	Level  string `json:"level"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

// Risk is the workload's rank (see credence assess).
type Risk struct {
	Score      float64 `json:"score"`
	Likelihood float64 `json:"likelihood"`
	Impact     float64 `json:"impact"`
	Unknown    bool    `json:"unknown"`
}

// Container is one container of the workload.
type Container struct {
	Name string `json:"name"`
	// Kind is container, initContainer or ephemeralContainer.
	Kind  string `json:"kind"`
	Image Image  `json:"image"`
	// Findings are the image's unsuppressed vulnerability findings (fact
	// "scan": empty and unknown when the image was not scanned).
	Findings []Finding `json:"findings"`
	Counts   Counts    `json:"counts"`
	// Unchecked says which packages could not be checked (the image is then
	// not known to be clean).
	Unchecked   []string    `json:"unchecked"`
	Exploit     Exploit     `json:"exploit"`
	Exposure    Exposure    `json:"exposure"`
	Posture     Posture     `json:"posture"`
	Provenance  Provenance  `json:"provenance"`
	BlastRadius BlastRadius `json:"blastRadius"`
}

// Image is the container's image: the reference in the pod spec, its parts,
// and the digest it resolved to.
type Image struct {
	Reference string `json:"reference"`
	// Registry ("docker.io", "ghcr.io"), Repository ("library/nginx") and
	// Tag of the reference; empty when it does not parse.
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	// Digest is the resolved digest ("" when unresolved); Pinned says the
	// pod spec itself names a digest.
	Digest     string `json:"digest"`
	Pinned     bool   `json:"pinned"`
	ResolvedBy string `json:"resolvedBy"`
	// Scanned is true when the image was read and matched.
	Scanned bool   `json:"scanned"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
}

// Finding is one vulnerability in the image.
type Finding struct {
	ID        string   `json:"id"`
	Aliases   []string `json:"aliases"`
	Summary   string   `json:"summary"`
	Package   string   `json:"package"`
	Version   string   `json:"version"`
	Type      string   `json:"type"`
	Ecosystem string   `json:"ecosystem"`
	PURL      string   `json:"purl"`
	// Severity is critical, high, medium, low, none or unknown;
	// SeverityRank orders them (critical 5 … none 1, unknown 0).
	Severity     string  `json:"severity"`
	SeverityRank int     `json:"severityRank"`
	Score        float64 `json:"score"`
	// KEV: a CISA Known Exploited Vulnerability; Ransomware: known use in
	// ransomware campaigns.
	KEV          bool    `json:"kev"`
	KEVDateAdded string  `json:"kevDateAdded"`
	Ransomware   bool    `json:"ransomware"`
	EPSS         float64 `json:"epss"`
	// Fixable: a fixed version is known.
	Fixable       bool     `json:"fixable"`
	FixedVersions []string `json:"fixedVersions"`
	Layer         int      `json:"layer"`
}

// Counts are the image's findings by kind.
type Counts struct {
	Findings  int `json:"findings"`
	Critical  int `json:"critical"`
	High      int `json:"high"`
	Medium    int `json:"medium"`
	Low       int `json:"low"`
	Unknown   int `json:"unknown"`
	KEV       int `json:"kev"`
	Fixable   int `json:"fixable"`
	Undecided int `json:"undecided"`
}

// Exploit is how likely a network-reachable attacker takes the container
// over (fact "scan").
type Exploit struct {
	Known      bool    `json:"known"`
	Likelihood float64 `json:"likelihood"`
	Reason     string  `json:"reason"`
}

// Exposure is how reachable the container is: internet, node, cluster, none.
type Exposure struct {
	Level string  `json:"level"`
	Reach float64 `json:"reach"`
	Why   string  `json:"why"`
}

// Posture is the container's isolation (fact "posture").
type Posture struct {
	Known                    bool   `json:"known"`
	Privileged               bool   `json:"privileged"`
	AllowPrivilegeEscalation bool   `json:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   bool   `json:"readOnlyRootFilesystem"`
	RunsAsRoot               string `json:"runsAsRoot"` // yes, no, unknown
	HostNetwork              bool   `json:"hostNetwork"`
	HostPID                  bool   `json:"hostPID"`
	HostIPC                  bool   `json:"hostIPC"`
	HostUsers                bool   `json:"hostUsers"`
	// Capabilities are the effective ones; AddedCapabilities as written;
	// BeyondDefault those beyond the runtime's default set.
	Capabilities      []string   `json:"capabilities"`
	AddedCapabilities []string   `json:"addedCapabilities"`
	BeyondDefault     []string   `json:"beyondDefault"`
	Seccomp           string     `json:"seccomp"`
	AppArmor          string     `json:"appArmor"`
	SELinux           string     `json:"seLinux"`
	HostPaths         []HostPath `json:"hostPaths"`
	HostPorts         []int      `json:"hostPorts"`
	RuntimeSockets    []string   `json:"runtimeSockets"`
	// Sandboxed (gVisor, Kata): yes, no, unknown.
	Sandboxed   string      `json:"sandboxed"`
	PodSecurity PodSecurity `json:"podSecurity"`
	// Escapes to the node whose preconditions hold; Verdict open, weakened
	// or blocked.
	Escapes []Escape `json:"escapes"`
}

// HostPath is a node path the container mounts, with its risk.
type HostPath struct {
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly"`
	Risk     string `json:"risk"`
}

// Escape is one escape to the node.
type Escape struct {
	ID      string `json:"id"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason"`
	Fix     string `json:"fix"`
}

// Provenance is the image's signature verdict (fact "provenance").
type Provenance struct {
	// Status: verified, unsigned, failed (definitive); error (transient)
	// and not-checked (unknown).
	Status string `json:"status"`
	// Step names the failed check (no-signature, identity, ...).
	Step      string `json:"step"`
	Detail    string `json:"detail"`
	Authority string `json:"authority"`
	Signer    Signer `json:"signer"`
	// Attestations are the verified in-toto statements, each bound to the
	// authority that verified it; the typed predicates follow.
	Attestations []Attestation `json:"attestations"`
	SLSA         []SLSA        `json:"slsa"`
	VulnScans    []VulnScan    `json:"vulnScans"`
	TestResults  []TestResult  `json:"testResults"`
	SARIF        []SARIF       `json:"sarif"`
}

// Signer is a key (KeyID) or a keyless identity (Issuer, Subject).
type Signer struct {
	Kind                string `json:"kind"`
	KeyID               string `json:"keyID"`
	Issuer              string `json:"issuer"`
	Subject             string `json:"subject"`
	SourceRepositoryURI string `json:"sourceRepositoryURI"`
	SourceRepositoryRef string `json:"sourceRepositoryRef"`
	BuildSignerURI      string `json:"buildSignerURI"`
}

// Attestation is one verified in-toto statement.
type Attestation struct {
	PredicateType string `json:"predicateType"`
	Authority     string `json:"authority"`
	Signer        Signer `json:"signer"`
}

// SLSA is a verified SLSA provenance predicate (v0.2 or v1).
type SLSA struct {
	Authority        string `json:"authority"`
	Signer           Signer `json:"signer"`
	Version          string `json:"version"`
	BuilderID        string `json:"builderID"`
	BuildType        string `json:"buildType"`
	SourceRepository string `json:"sourceRepository"`
	SourceDigest     string `json:"sourceDigest"`
	EntryPoint       string `json:"entryPoint"`
}

// VulnScan is a verified vulnerability-scan predicate.
type VulnScan struct {
	Authority      string         `json:"authority"`
	Signer         Signer         `json:"signer"`
	ScannerURI     string         `json:"scannerURI"`
	ScannerVersion string         `json:"scannerVersion"`
	ScanFinishedOn string         `json:"scanFinishedOn"`
	Counted        bool           `json:"counted"`
	Severities     map[string]int `json:"severities"`
}

// TestResult is a verified in-toto test-result predicate.
type TestResult struct {
	Authority string `json:"authority"`
	Signer    Signer `json:"signer"`
	Result    string `json:"result"` // PASSED, WARNED, FAILED
	Passed    int    `json:"passed"`
	Warned    int    `json:"warned"`
	Failed    int    `json:"failed"`
}

// SARIF is a verified SARIF log predicate (static analysis, pen tests).
type SARIF struct {
	Authority string         `json:"authority"`
	Signer    Signer         `json:"signer"`
	Tools     []string       `json:"tools"`
	Results   int            `json:"results"`
	Levels    map[string]int `json:"levels"`
}

// BlastRadius is what falls if the container is compromised, compared with
// the baseline (fact "blastRadius").
type BlastRadius struct {
	Known        bool    `json:"known"`
	ClusterAdmin float64 `json:"clusterAdmin"`
	Node         float64 `json:"node"`
	Critical     float64 `json:"critical"`
	// CriticalAssets counts the critical assets reached within the bounds
	// (Assets lists the first, most likely first).
	CriticalAssets int     `json:"criticalAssets"`
	Assets         []Asset `json:"assets"`
	Paths          []Path  `json:"paths"`
	// Baseline describes what the assets were compared with; Incomplete
	// says it listed only some of what the container reached before, so an
	// asset it does not list counts as new.
	Baseline           string `json:"baseline"`
	BaselineIncomplete bool   `json:"baselineIncomplete"`
}

// Asset is a critical asset reached.
type Asset struct {
	Key        string  `json:"key"`
	Kind       string  `json:"kind"`
	Name       string  `json:"name"`
	Critical   string  `json:"critical"`
	Likelihood float64 `json:"likelihood"`
	Steps      int     `json:"steps"`
	Unknown    bool    `json:"unknown"`
	// New: not reached in the baseline; Before is the likelihood it was
	// reached with then (0 when new).
	New    bool    `json:"new"`
	Before float64 `json:"before"`
}

// Path is the most likely path to one asset, explained.
type Path struct {
	To         string  `json:"to"`
	Key        string  `json:"key"`
	Likelihood float64 `json:"likelihood"`
	Unknown    bool    `json:"unknown"`
	New        bool    `json:"new"`
	Before     float64 `json:"before"`
	Steps      []Step  `json:"steps"`
	// Text is the path in one line: "a → b (KIND) → c".
	Text string `json:"text"`
}

// Step is one step of a path.
type Step struct {
	From       string  `json:"from"`
	To         string  `json:"to"`
	Kind       string  `json:"kind"`
	Reason     string  `json:"reason"`
	Likelihood float64 `json:"likelihood"`
	Unknown    bool    `json:"unknown"`
}

// Input is what one evaluation reads: a Subject built by assess, the images
// it refers to (findings are kept per digest), the baseline of its blast
// radius, and the time exemptions expire against. Evaluate does no I/O.
type Input struct {
	Subject *assess.Subject
	Images  *ImageIndex
	// Baseline is the blast radius before the change; nil means no path at
	// all (every path to a critical asset is new).
	Baseline Baseline
	// Now is when exemptions are checked for expiry (zero: time.Now()).
	Now time.Time
	// Facts, when not empty, limits the evaluation to the rules that read
	// at least one of these facts (FactScan, FactProvenance, FactPosture,
	// FactBlastRadius): an admission webhook judging a RoleBinding
	// re-judges the workloads it affects on their paths (FactBlastRadius),
	// not on their images. A name that is not a fact is ignored with a
	// note in the decision and every rule is evaluated.
	Facts []string
}

// Fact names, for Input.Facts and Need.
const (
	FactScan        = "scan"
	FactProvenance  = "provenance"
	FactPosture     = "posture"
	FactBlastRadius = "blastRadius"
)

// ImageIndex holds the policy view of images by digest, built once (from an
// assessment, or per image in a webhook's cache) and shared, read-only, by
// every evaluation.
type ImageIndex struct {
	byDigest map[string]*imageView
}

type imageView struct {
	img      *assess.Image
	findings []Finding
	counts   Counts
}

// NewImageIndex converts images' findings once.
func NewImageIndex(images ...*assess.Image) *ImageIndex {
	ix := &ImageIndex{byDigest: make(map[string]*imageView, len(images))}
	for _, img := range images {
		ix.Add(img)
	}
	return ix
}

// Add converts one image's findings (not safe for concurrent use with
// Evaluate: build the index first).
func (ix *ImageIndex) Add(img *assess.Image) {
	if img == nil {
		return
	}
	v := &imageView{img: img, findings: []Finding{}}
	for i := range img.Findings {
		f := &img.Findings[i]
		if f.Suppressed != nil {
			continue
		}
		v.findings = append(v.findings, findingView(f))
	}
	c := img.Counts
	v.counts = Counts{Findings: c.Findings, Critical: c.BySeverity[string(match.Critical)], High: c.BySeverity[string(match.High)],
		Medium: c.BySeverity[string(match.Medium)], Low: c.BySeverity[string(match.Low)], Unknown: c.BySeverity[string(match.Unknown)],
		KEV: c.KEV, Fixable: c.Fixable, Undecided: c.Undecided}
	ix.byDigest[img.Digest] = v
}

func findingView(f *match.Finding) Finding {
	out := Finding{ID: f.ID, Aliases: nonNil(f.Aliases), Summary: f.Summary, Severity: string(f.Severity.Level),
		SeverityRank: f.Severity.Level.Rank(), Score: f.Severity.Score, Fixable: f.FixState == match.FixAvailable,
		FixedVersions: nonNil(f.Fixed), Version: f.Installed}
	if out.Severity == "" {
		out.Severity = string(match.Unknown)
	}
	if p := f.Package; p != nil {
		out.Package, out.Type, out.Ecosystem, out.PURL = p.Name, p.Type, p.Ecosystem, p.PURL
		if out.Version == "" {
			out.Version = p.Version
		}
		if p.Layer != nil {
			out.Layer = p.Layer.Index
		}
	}
	if f.KEV != nil {
		out.KEV, out.KEVDateAdded = true, f.KEV.DateAdded
		out.Ransomware = strings.EqualFold(f.KEV.KnownRansomwareCampaignUse, "Known")
	}
	if f.EPSS != nil {
		out.EPSS = f.EPSS.Score
	}
	return out
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// fact names a piece of evidence that may be unknown for a container.
type fact uint8

const (
	factScan        fact = 1 << iota // findings, counts, exploitability
	factProvenance                   // the signature verdict
	factPosture                      // the isolation profile
	factBlastRadius                  // the blast radius
)

var factNames = []struct {
	f    fact
	name string
}{{factScan, "scan"}, {factProvenance, "provenance"}, {factPosture, "posture"}, {factBlastRadius, "blastRadius"}}

func (f fact) String() string {
	var out []string
	for _, n := range factNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, ",")
}

// unknownFact is why one fact of a container is not known.
type unknownFact struct {
	fact fact
	// partial: some of it is known (an image scanned with packages that
	// could not be checked): a rule that fails on it still fails, one that
	// passes is unknown.
	partial bool
	// transient: a retry may settle it (provenance "error").
	transient bool
	reason    string
}

// view is one evaluation's Subject view with the unknown facts of each
// container.
type view struct {
	subject  Subject
	unknowns [][]unknownFact // per container
}

func buildView(in Input) *view {
	s := in.Subject
	w := s.Workload
	v := &view{subject: Subject{
		Workload: Workload{Namespace: w.Namespace, Kind: w.Kind, Name: w.Name, Ref: w.Namespace + "/" + w.Kind + "/" + w.Name, Pod: w.Pod,
			ServiceAccount: w.ServiceAccount, Labels: nonNilMap(w.Labels), Annotations: nonNilMap(w.Annotations),
			PodSecurity: podSecurityView(w.PodSecurity.Level, w.PodSecurity.Failures)},
		Risk:       Risk{Score: s.Risk.Score, Likelihood: s.Risk.Likelihood, Impact: s.Risk.Impact, Unknown: s.Risk.Unknown},
		Unknowns:   nonNil(s.Unknowns),
		Containers: make([]Container, len(s.Containers)),
	}, unknowns: make([][]unknownFact, len(s.Containers))}
	base := in.Baseline
	if base == nil {
		base = NoPaths()
	}
	for i := range s.Containers {
		c := &s.Containers[i]
		var iv *imageView
		if in.Images != nil && c.Image.Digest != "" {
			iv = in.Images.byDigest[c.Image.Digest]
		}
		v.subject.Containers[i], v.unknowns[i] = containerView(v.subject.Workload.Ref, c, iv, base)
	}
	return v
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func containerView(workload string, c *assess.Container, iv *imageView, base Baseline) (Container, []unknownFact) {
	var unk []unknownFact
	out := Container{Name: c.Name, Kind: string(c.Kind), Image: imageRefView(c.Image), Findings: []Finding{}, Unchecked: []string{},
		Exploit:  Exploit{Known: c.Exploit.Known, Likelihood: c.Exploit.Likelihood, Reason: c.Exploit.Reason},
		Exposure: Exposure{Level: c.Exposure.Level, Reach: c.Exposure.Reach, Why: c.Exposure.Why}}
	scanned := c.Image.Status == assess.Scanned && iv != nil && iv.img.Status == assess.Scanned
	out.Image.Scanned = scanned
	switch {
	case !scanned:
		why := c.Image.Reason
		if why == "" && iv != nil {
			why = iv.img.Reason
		}
		if why == "" {
			why = "no findings for digest " + c.Image.Digest
		}
		unk = append(unk, unknownFact{fact: factScan, reason: "image " + c.Image.Reference + " not scanned: " + why})
	default:
		out.Findings, out.Counts, out.Unchecked = iv.findings, iv.counts, nonNil(iv.img.Unchecked)
		if len(iv.img.Unchecked) > 0 {
			unk = append(unk, unknownFact{fact: factScan, partial: true, reason: "image " + c.Image.Reference + " not fully checked: " + strings.Join(iv.img.Unchecked, "; ")})
		}
	}
	if c.Posture != nil {
		out.Posture = postureView(c)
	} else {
		out.Posture = Posture{Capabilities: []string{}, AddedCapabilities: []string{}, BeyondDefault: []string{}, HostPaths: []HostPath{},
			HostPorts: []int{}, RuntimeSockets: []string{}, Escapes: []Escape{}, RunsAsRoot: "unknown", Sandboxed: "unknown",
			PodSecurity: PodSecurity{Failures: []CheckFailure{}}}
		unk = append(unk, unknownFact{fact: factPosture, reason: "no isolation profile for container " + c.Name})
	}
	out.Provenance = provenanceView(c.Provenance)
	switch c.Provenance.Status {
	case assess.Verified, assess.Unsigned, assess.Failed:
	case assess.CheckError:
		unk = append(unk, unknownFact{fact: factProvenance, transient: true, reason: "provenance of " + c.Image.Reference + " could not be verified (transient): " + c.Provenance.Reason})
	default:
		unk = append(unk, unknownFact{fact: factProvenance, reason: "provenance of " + c.Image.Reference + " not checked: " + firstNonEmpty(c.Provenance.Reason, "no verdict")})
	}
	if c.BlastRadius != nil {
		out.BlastRadius = blastView(workload, c, base)
	} else {
		out.BlastRadius = BlastRadius{Assets: []Asset{}, Paths: []Path{}, Baseline: base.Describe()}
		unk = append(unk, unknownFact{fact: factBlastRadius, reason: "container " + c.Name + " is not in the trust graph: blast radius unknown"})
	}
	return out, unk
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func imageRefView(r assess.ImageRef) Image {
	out := Image{Reference: r.Reference, Digest: r.Digest, ResolvedBy: r.ResolvedBy, Status: string(r.Status), Reason: r.Reason}
	ref, err := name.ParseReference(r.Reference)
	if err != nil {
		return out
	}
	out.Registry = ref.Context().RegistryStr()
	if out.Registry == name.DefaultRegistry {
		out.Registry = "docker.io"
	}
	out.Repository = ref.Context().RepositoryStr()
	switch x := ref.(type) {
	case name.Tag:
		out.Tag = x.TagStr()
		// A reference may name both: "repo:tag@sha256:..." parses as a digest.
	case name.Digest:
		out.Pinned = true
		if i := strings.LastIndex(r.Reference, "@"); i > 0 {
			if t, err := name.NewTag(r.Reference[:i]); err == nil && strings.Contains(r.Reference[:i][strings.LastIndex(r.Reference[:i], "/")+1:], ":") {
				out.Tag = t.TagStr()
			}
		}
	}
	return out
}

func podSecurityView(level string, fs []posture.CheckFailure) PodSecurity {
	out := PodSecurity{Level: level, Failures: make([]CheckFailure, len(fs))}
	for i, f := range fs {
		out.Failures[i] = CheckFailure{ID: f.ID, Level: f.Level, Reason: f.Reason, Detail: f.Detail}
	}
	return out
}

func postureView(c *assess.Container) Posture {
	p := c.Posture
	out := Posture{Known: true, Privileged: p.Privileged, AllowPrivilegeEscalation: p.AllowPrivilegeEscalation,
		ReadOnlyRootFilesystem: p.ReadOnlyRootFilesystem, RunsAsRoot: p.RunsAsRoot.String(), HostNetwork: p.HostNetwork, HostPID: p.HostPID,
		HostIPC: p.HostIPC, HostUsers: p.HostUsers, Capabilities: nonNil(p.Capabilities.Effective), AddedCapabilities: nonNil(p.Capabilities.Added),
		BeyondDefault: nonNil(p.Capabilities.BeyondDefault), Seccomp: p.Seccomp.Profile, AppArmor: p.AppArmor.Profile, SELinux: p.SELinux.Profile,
		HostPaths: make([]HostPath, len(p.HostPaths)), HostPorts: make([]int, len(p.HostPorts)), RuntimeSockets: nonNil(p.RuntimeSockets),
		Sandboxed: p.RuntimeClass.Sandboxed.String(), PodSecurity: podSecurityView(p.PodSecurity.Level, p.PodSecurity.Failures),
		Escapes: make([]Escape, len(p.Escapes))}
	for i, h := range p.HostPaths {
		out.HostPaths[i] = HostPath{Path: h.Path, ReadOnly: h.ReadOnly, Risk: string(h.Risk)}
	}
	for i, hp := range p.HostPorts {
		out.HostPorts[i] = int(hp)
	}
	for i, e := range p.Escapes {
		out.Escapes[i] = Escape{ID: e.ID, Verdict: string(e.Verdict), Reason: e.Reason, Fix: e.Fix}
	}
	return out
}

func signerView(s *provenance.Signer) Signer {
	if s == nil {
		return Signer{}
	}
	return Signer{Kind: s.Kind, KeyID: s.KeyID, Issuer: s.Issuer, Subject: s.Subject, SourceRepositoryURI: s.SourceRepositoryURI,
		SourceRepositoryRef: s.SourceRepositoryRef, BuildSignerURI: s.BuildSignerURI}
}

func provenanceView(e assess.Evidence) Provenance {
	out := Provenance{Status: string(e.Status), Detail: e.Reason, Attestations: []Attestation{}, SLSA: []SLSA{}, VulnScans: []VulnScan{},
		TestResults: []TestResult{}, SARIF: []SARIF{}}
	if out.Status == "" {
		out.Status = string(assess.NotChecked)
	}
	vd := e.Verdict
	if vd == nil {
		return out
	}
	out.Step, out.Authority, out.Signer = string(vd.Step), vd.Authority, signerView(vd.Signer)
	if vd.Detail != "" {
		out.Detail = vd.Detail
	}
	for i := range vd.Attestations {
		a := &vd.Attestations[i]
		sg := signerView(a.Signer)
		out.Attestations = append(out.Attestations, Attestation{PredicateType: a.PredicateType, Authority: a.Authority, Signer: sg})
		switch {
		case a.SLSA != nil:
			p := a.SLSA
			out.SLSA = append(out.SLSA, SLSA{Authority: a.Authority, Signer: sg, Version: p.Version, BuilderID: p.BuilderID, BuildType: p.BuildType,
				SourceRepository: p.SourceRepository, SourceDigest: p.SourceDigest, EntryPoint: p.EntryPoint})
		case a.Vuln != nil:
			p := a.Vuln
			out.VulnScans = append(out.VulnScans, VulnScan{Authority: a.Authority, Signer: sg, ScannerURI: p.ScannerURI, ScannerVersion: p.ScannerVersion,
				ScanFinishedOn: p.ScanFinishedOn, Counted: p.Counted, Severities: nonNilInts(p.Severities)})
		case a.Test != nil:
			p := a.Test
			out.TestResults = append(out.TestResults, TestResult{Authority: a.Authority, Signer: sg, Result: p.Result, Passed: p.Passed, Warned: p.Warned, Failed: p.Failed})
		case a.SARIF != nil:
			p := a.SARIF
			out.SARIF = append(out.SARIF, SARIF{Authority: a.Authority, Signer: sg, Tools: nonNil(p.Tools), Results: p.Results, Levels: nonNilInts(p.Levels)})
		}
	}
	return out
}

func nonNilInts(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}

func blastView(workload string, c *assess.Container, base Baseline) BlastRadius {
	b := c.BlastRadius
	out := BlastRadius{Known: true, ClusterAdmin: b.ClusterAdmin, Node: b.Node, Critical: b.Critical, CriticalAssets: b.Counts.CriticalAssets,
		Assets: make([]Asset, 0, len(b.Assets)), Paths: make([]Path, 0, len(b.Paths)), Baseline: base.Describe()}
	before, found, complete := base.Before(workload, c.Name)
	out.BaselineIncomplete = found && !complete
	keyOf := map[string]string{}
	for _, a := range b.Assets {
		as := Asset{Key: a.Key, Kind: string(a.Kind), Name: a.Name, Critical: a.Critical, Likelihood: a.Likelihood, Steps: a.Steps, Unknown: a.Unknown}
		p, was := before[a.Key]
		as.New, as.Before = !was, p
		out.Assets = append(out.Assets, as)
		keyOf[a.Name] = a.Key
	}
	for _, p := range b.Paths {
		pv := Path{To: p.To, Key: keyOf[p.To], Likelihood: p.Likelihood, Unknown: p.Unknown, Steps: make([]Step, len(p.Steps))}
		var text strings.Builder
		for i, s := range p.Steps {
			pv.Steps[i] = Step{From: s.From, To: s.To, Kind: string(s.Kind), Reason: s.Reason, Likelihood: s.Likelihood, Unknown: s.Unknown}
			if i == 0 {
				text.WriteString(s.From)
			}
			text.WriteString(" → " + s.To + " (" + string(s.Kind) + ")")
		}
		pv.Text = text.String()
		prev, was := before[pv.Key]
		if pv.Key == "" {
			prev, was = before["name:"+p.To]
		}
		pv.New, pv.Before = !was, prev
		out.Paths = append(out.Paths, pv)
	}
	return out
}

// Baseline is the blast radius before a change, to tell new paths to
// critical assets from old ones. Assets are keyed by their graph key
// ("secret:payments/ledger-db", "node:worker-1", "clusteradmin").
//
// credence check compares with a previous assessment (BaselineFromAssessment)
// or with no path at all (NoPaths). An admission webhook compares the graph
// without and with the incoming object: query the container in the graph
// as it was, and answer Before with the assets that query reached (a
// workload the old graph does not hold reached nothing: found true, an
// empty map).
type Baseline interface {
	// Before returns the critical assets a container of a workload
	// ("namespace/Kind/name") reached before, with the likelihood of its
	// most likely path to each. complete is false when the map may lack
	// some (then an asset it does not hold counts as new, conservatively);
	// found is false when the baseline does not know the workload, which
	// counts as having reached nothing.
	Before(workload, container string) (assets map[string]float64, found, complete bool)
	// Describe says what the baseline is, for messages.
	Describe() string
}

type noPaths struct{}

// NoPaths is the baseline in which nothing reached any critical asset: every
// path is new.
func NoPaths() Baseline { return noPaths{} }

func (noPaths) Before(string, string) (map[string]float64, bool, bool) { return nil, true, true }
func (noPaths) Describe() string                                       { return "no path at all" }

type assessmentBaseline struct {
	desc string
	m    map[string]map[string]baselineContainer // workload → container
}

type baselineContainer struct {
	assets   map[string]float64
	complete bool
}

// BaselineFromAssessment is the blast radius of a previous assessment
// (credence assess -o json), described as desc. Assessments list the first
// few assets of each container; when a container reached more, the
// baseline is incomplete for it.
func BaselineFromAssessment(a *assess.Assessment, desc string) Baseline {
	b := assessmentBaseline{desc: desc, m: map[string]map[string]baselineContainer{}}
	for i := range a.Subjects {
		s := &a.Subjects[i]
		w := s.Workload.Namespace + "/" + s.Workload.Kind + "/" + s.Workload.Name
		cs := map[string]baselineContainer{}
		for _, c := range s.Containers {
			bc := baselineContainer{assets: map[string]float64{}, complete: true}
			if br := c.BlastRadius; br != nil {
				for _, as := range br.Assets {
					bc.assets[as.Key] = as.Likelihood
					bc.assets["name:"+as.Name] = as.Likelihood
				}
				bc.complete = br.Counts.CriticalAssets <= len(br.Assets)
			} else {
				bc.complete = false
			}
			cs[c.Name] = bc
		}
		b.m[w] = cs
	}
	return b
}

func (b assessmentBaseline) Before(workload, container string) (map[string]float64, bool, bool) {
	cs, ok := b.m[workload]
	if !ok {
		return nil, false, true
	}
	c, ok := cs[container]
	if !ok {
		return nil, true, true
	}
	return c.assets, true, c.complete
}

func (b assessmentBaseline) Describe() string { return b.desc }

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package assess

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/match"
)

// Kernel is what the vulnerability data says about one node's kernel: the
// kernel every non-sandboxed container on the node shares.
//
// A node reports its OS (status.nodeInfo.osImage) and kernel release
// (kernelVersion, uname -r). Where the distribution publishes kernel
// advisories in OSV and the release names the package version closely
// enough, credence matches them:
//
//   - Ubuntu ("Ubuntu 22.04.3 LTS", "5.15.0-91-generic"): the source package is
//     linux for the release's own kernel series (18.04 4.15, 20.04 5.4, 22.04
//     5.15, 23.10 6.5, 24.04 6.8) and linux-hwe-<series> for a newer one; a
//     cloud flavor (-aws, -azure, -gcp, -gke, -kvm, -oracle, ...) is
//     linux-<flavor>, or linux-<flavor>-<series> off the release's series.
//     The release names the ABI (5.15.0-91) but not the upload (5.15.0-91.101),
//     so every advisory is matched twice, against the lowest and the highest
//     version of that ABI: affected under both is affected, under neither is
//     not, and a fix within the same ABI is undecided.
//   - Debian ("6.1.0-18-amd64"): the release names the ABI, which does not
//     tell the package version (6.1.76-1), so the kernel stays unknown.
//   - Anything else: unknown.
//
// Unknown is never safe: the graph then keeps its default low, unknown
// likelihood for the shared-kernel escape.
type Kernel struct {
	Node          string `json:"node"`
	OSImage       string `json:"osImage"`
	KernelVersion string `json:"kernelVersion"`
	// Ecosystem, Package and Version are what the kernel maps to
	// ("Ubuntu:22.04:LTS", "linux", "5.15.0-91.*").
	Ecosystem string `json:"ecosystem,omitempty"`
	Package   string `json:"package,omitempty"`
	Version   string `json:"version,omitempty"`
	// Known is false when the kernel could not be matched; Reason says why.
	Known  bool   `json:"known"`
	Reason string `json:"reason"`
	// Findings are the advisories that affect the kernel, most exploitable
	// first; Undecided those whose fix falls within the running ABI.
	Findings  []KernelFinding `json:"findings,omitempty"`
	Undecided []string        `json:"undecided,omitempty"`
	// Escape is the likelihood that a process in a container on the node
	// exploits the kernel (before the container's own mitigations).
	Escape Exploit `json:"escape"`
}

// KernelFinding is one kernel advisory that affects the node.
type KernelFinding struct {
	ID       string         `json:"id"`
	CVEs     []string       `json:"cves,omitempty"`
	Severity match.Severity `json:"severity"`
	KEV      *match.KEV     `json:"kev,omitempty"`
	EPSS     *match.EPSS    `json:"epss,omitempty"`
	Fixed    []string       `json:"fixedVersions,omitempty"`
	p        float64
}

// ubuntuSeries is the kernel series each Ubuntu release ships as "linux".
var ubuntuSeries = map[string]string{"14.04": "3.13", "16.04": "4.4", "18.04": "4.15", "20.04": "5.4", "22.04": "5.15", "23.04": "6.2", "23.10": "6.5", "24.04": "6.8"}

var (
	ubuntuImage   = regexp.MustCompile(`^Ubuntu (\d\d\.\d\d)(?:\.\d+)?( LTS)?`)
	ubuntuRelease = regexp.MustCompile(`^(\d+\.\d+)\.(\d+)-(\d+)-([a-z0-9-]+)$`)
	debianImage   = regexp.MustCompile(`^Debian GNU/Linux (\d+)`)
)

// ubuntuKernel maps a node to its Ubuntu kernel source package and ABI.
func ubuntuKernel(osImage, release string) (eco, pkg, abi string, err error) {
	m := ubuntuImage.FindStringSubmatch(osImage)
	if m == nil {
		return "", "", "", fmt.Errorf("not Ubuntu")
	}
	eco = "Ubuntu:" + m[1]
	if m[2] != "" {
		eco += ":LTS"
	}
	r := ubuntuRelease.FindStringSubmatch(release)
	if r == nil {
		return "", "", "", fmt.Errorf("kernel release %q is not an Ubuntu kernel release (SERIES.PATCH-ABI-FLAVOR)", release)
	}
	series, flavor := r[1], r[4]
	base, ok := ubuntuSeries[m[1]]
	if !ok {
		return "", "", "", fmt.Errorf("Ubuntu %s: its kernel series is not known to credence", m[1])
	}
	switch flavor {
	case "generic", "lowlatency", "generic-64k", "generic-lpae":
		pkg = "linux"
		if series != base {
			pkg = "linux-hwe-" + series
		}
	default:
		pkg = "linux-" + flavor
		if series != base {
			pkg += "-" + series
		}
	}
	return eco, pkg, series + "." + r[2] + "-" + r[3], nil
}

// Kernels matches every node's kernel against src.
func Kernels(ctx context.Context, nodes []corev1.Node, src match.Source, model ExploitModel) ([]Kernel, error) {
	var out []Kernel
	for _, n := range nodes {
		k, err := kernelOf(ctx, n, src, model)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func kernelOf(ctx context.Context, n corev1.Node, src match.Source, model ExploitModel) (Kernel, error) {
	info := n.Status.NodeInfo
	k := Kernel{Node: n.Name, OSImage: info.OSImage, KernelVersion: info.KernelVersion}
	unknown := func(why string) (Kernel, error) {
		k.Reason = why
		k.Escape = Exploit{Reason: "node kernel " + firstNonEmpty(info.KernelVersion, "(not reported)") + ": " + why + "; exploitability unknown"}
		return k, nil
	}
	switch {
	case info.KernelVersion == "" || info.OSImage == "":
		return unknown("the node reports no osImage or kernelVersion")
	case debianImage.MatchString(info.OSImage):
		return unknown("Debian kernel releases name the ABI (" + info.KernelVersion + "), not the linux package version (such as 6.1.76-1): its advisories cannot be matched")
	case !ubuntuImage.MatchString(info.OSImage):
		return unknown(fmt.Sprintf("no kernel advisories credence can match for %q", info.OSImage))
	}
	eco, pkg, abi, err := ubuntuKernel(info.OSImage, info.KernelVersion)
	if err != nil {
		return unknown(err.Error())
	}
	k.Ecosystem, k.Package, k.Version = eco, pkg, abi+".*"
	advs, err := src.Advisories(ctx, eco, pkg)
	if err != nil {
		return k, fmt.Errorf("kernel advisories %s %s: %w", eco, pkg, err)
	}
	if len(advs) == 0 {
		return unknown(fmt.Sprintf("the database has no advisories for %s %s", eco, pkg))
	}
	// The lowest and highest versions of the ABI: "5.15.0-91" sorts below
	// every "5.15.0-91.N", and "5.15.0-91.99999999" above them.
	bound := func(v string) (*match.Result, error) {
		p := &inventory.Package{Name: pkg, Version: v, Type: inventory.TypeDeb, SourceName: pkg, SourceVersion: v, Ecosystem: eco, Locations: []string{"(node kernel)"}}
		return match.Match(ctx, src, []*inventory.Package{p})
	}
	low, err := bound(abi)
	if err != nil {
		return k, err
	}
	high, err := bound(abi + ".99999999")
	if err != nil {
		return k, err
	}
	inHigh := map[string]bool{}
	for _, f := range high.Findings {
		inHigh[f.ID] = true
	}
	for _, f := range low.Findings {
		if !inHigh[f.ID] {
			k.Undecided = append(k.Undecided, f.ID)
			continue
		}
		kf := KernelFinding{ID: f.ID, CVEs: f.CVEs(), Severity: f.Severity, KEV: f.KEV, EPSS: f.EPSS, Fixed: f.Fixed}
		kf.p = kernelLikelihood(&f)
		k.Findings = append(k.Findings, kf)
	}
	if n := len(low.Undecided); n > 0 {
		k.Undecided = append(k.Undecided, fmt.Sprintf("%d advisories could not be evaluated", n))
	}
	slices.SortStableFunc(k.Findings, func(a, b KernelFinding) int {
		return cmp.Or(cmp.Compare(b.p, a.p), cmp.Compare(a.ID, b.ID))
	})
	k.Known = true
	k.Reason = fmt.Sprintf("%d advisories for %s %s affect ABI %s; %d undecided (fixed within the ABI)", len(k.Findings), eco, pkg, abi, len(k.Undecided))
	k.Escape = model.kernel(&k)
	return k, nil
}

// kernelLikelihood is one kernel advisory's chance of being used from a
// container: the attacker is already local, so the attack vector does not
// count; most kernel flaws are not reachable from a confined container, so
// severity counts a tenth of what it counts for a network service; KEV
// (exploited in the wild) 0.90, EPSS when loaded.
func kernelLikelihood(f *match.Finding) float64 {
	p := severityBase[f.Severity.Level] / 10
	if f.EPSS != nil && f.EPSS.Score > p {
		p = f.EPSS.Score
	}
	if f.KEV != nil {
		p = math.Max(p, 0.90)
	}
	return p
}

// kernel combines a node's kernel findings like a container's.
func (m ExploitModel) kernel(k *Kernel) Exploit {
	miss := 1.0
	for _, f := range k.Findings {
		miss *= 1 - f.p
	}
	l := math.Max(math.Min(1-miss, m.Cap), m.Floor)
	x := Exploit{Known: true, Likelihood: round3(l)}
	if len(k.Findings) == 0 {
		x.Reason = fmt.Sprintf("node kernel %s: no advisory affects it: low, not zero", k.KernelVersion)
	} else {
		top := k.Findings[0]
		why := string(top.Severity.Level)
		if top.KEV != nil {
			why = "in CISA KEV since " + top.KEV.DateAdded
		}
		x.Reason = fmt.Sprintf("node kernel %s (%s %s): %d advisories affect it; most likely %s (%.2f: %s)", k.KernelVersion, k.Package, k.Version, len(k.Findings), kernelID(top), top.p, why)
	}
	for i, f := range k.Findings {
		if i == 10 {
			x.Evidence = append(x.Evidence, fmt.Sprintf("+%d more", len(k.Findings)-10))
			break
		}
		x.Evidence = append(x.Evidence, kernelID(f))
	}
	if len(k.Undecided) > 0 && l < unknownLikelihood {
		x.Known = false
		x.Reason += fmt.Sprintf("; %d undecided: exploitability unknown", len(k.Undecided))
	}
	return x
}

func kernelID(f KernelFinding) string {
	if len(f.CVEs) > 0 && !strings.HasPrefix(f.ID, "CVE-") {
		return f.ID + " (" + f.CVEs[0] + ")"
	}
	return f.ID
}

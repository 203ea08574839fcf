// Package osrelease detects the distribution an image is built on from
// os-release(5) (or etc/alpine-release) and names its OSV ecosystem.
package osrelease

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/credence-dev/credence/inventory"
)

// Name of the extractor.
const Name = "osrelease"

// Extractor reads os-release files.
type Extractor struct{}

var _ inventory.Extractor = Extractor{}

// New returns the extractor.
func New() Extractor { return Extractor{} }

// Name implements inventory.Extractor.
func (Extractor) Name() string { return Name }

// Version implements inventory.Extractor.
func (Extractor) Version() int { return 2 }

// Requirements implements inventory.Extractor: os-release files are tiny.
func (Extractor) Requirements() inventory.Requirements {
	return inventory.Requirements{MaxFileSize: 64 << 10}
}

// FileRequired implements inventory.Extractor.
func (Extractor) FileRequired(f inventory.FileInfo) bool {
	switch f.Path {
	case "etc/os-release", "usr/lib/os-release", "etc/alpine-release":
		return true
	}
	return false
}

// Extract implements inventory.Extractor.
func (e Extractor) Extract(_ context.Context, in *inventory.Input) (inventory.Result, error) {
	b, err := in.ReadAll(e.Requirements().MaxFileSize)
	if err != nil {
		return inventory.Result{}, err
	}
	var d *inventory.Distro
	if in.Path == "etc/alpine-release" {
		v := strings.TrimSpace(string(b))
		if !alpineVersion.MatchString(v) {
			return inventory.Result{}, fmt.Errorf("alpine-release holds %q, not a version", v)
		}
		d = &inventory.Distro{ID: "alpine", VersionID: v, PrettyName: "Alpine Linux " + v}
	} else {
		fields := Parse(b)
		if fields["ID"] == "" {
			return inventory.Result{}, fmt.Errorf("%s has no ID field", in.Path)
		}
		d = &inventory.Distro{
			ID:              fields["ID"],
			VersionID:       fields["VERSION_ID"],
			VersionCodename: fields["VERSION_CODENAME"],
			PrettyName:      fields["PRETTY_NAME"],
		}
		d.Ecosystem = ecosystem(d, fields)
	}
	if d.Ecosystem == "" {
		d.Ecosystem = Ecosystem(d, "")
	}
	return inventory.Result{Distro: d}, nil
}

var alpineVersion = regexp.MustCompile(`^\d+\.\d+[0-9A-Za-z._]*$`)

// Parse reads os-release(5) assignments: KEY=value, with shell quoting and
// backslash escapes; comments and malformed lines are ignored.
func Parse(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t\"'") {
			continue
		}
		out[k] = unquote(v)
	}
	return out
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		q := v[0]
		v = v[1 : len(v)-1]
		if q == '\'' {
			return v
		}
		var sb strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
			}
			sb.WriteByte(v[i])
		}
		return sb.String()
	}
	return v
}

// debianCodenames numbers Debian releases whose os-release may lack VERSION_ID
// (testing images carry only the codename).
var debianCodenames = map[string]string{
	"buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14",
}

// Distribution is what credence knows of one distribution, by os-release ID.
type Distribution struct {
	// Name is the distribution's name for people.
	Name string
	// OSV is the base of its OSV ecosystem ("Debian", "Red Hat"), empty when
	// OSV publishes no advisories for it: then its packages cannot be
	// checked, and a scan says so instead of calling them clean.
	OSV string
}

// distributions are the os-release IDs credence recognises. The OSV
// ecosystem names and their release suffixes are those of the OSV schema's
// ecosystem list (ossf/osv-schema ecosystems.json and
// bindings/go/osvconstants): "Red Hat:<CPE without cpe:/o:redhat:>",
// "SUSE:<PRETTY_NAME>", "openSUSE:<PRETTY_NAME>", "Photon OS:<release>",
// "Azure Linux:<major>" (the Azure Linux OVAL→OSV converter files
// CBL-Mariner 2 under "Azure Linux:2"), "Wolfi", "Chainguard". OSV has no
// ecosystem for CentOS, Oracle Linux, Fedora or Amazon Linux.
var distributions = map[string]Distribution{
	"debian":              {"Debian", "Debian"},
	"ubuntu":              {"Ubuntu", "Ubuntu"},
	"alpine":              {"Alpine Linux", "Alpine"},
	"rhel":                {"Red Hat Enterprise Linux (or UBI)", "Red Hat"},
	"almalinux":           {"AlmaLinux", "AlmaLinux"},
	"rocky":               {"Rocky Linux", "Rocky Linux"},
	"sles":                {"SUSE Linux Enterprise", "SUSE"},
	"sles_sap":            {"SUSE Linux Enterprise for SAP", "SUSE"},
	"sled":                {"SUSE Linux Enterprise Desktop", "SUSE"},
	"sle-micro":           {"SUSE Linux Enterprise Micro", "SUSE"},
	"opensuse-leap":       {"openSUSE Leap", "openSUSE"},
	"opensuse-tumbleweed": {"openSUSE Tumbleweed", "openSUSE"},
	"photon":              {"Photon OS", "Photon OS"},
	"azurelinux":          {"Azure Linux", "Azure Linux"},
	"mariner":             {"CBL-Mariner", "Azure Linux"},
	"wolfi":               {"Wolfi", "Wolfi"},
	"chainguard":          {"Chainguard", "Chainguard"},
	"centos":              {"CentOS", ""},
	"ol":                  {"Oracle Linux", ""},
	"fedora":              {"Fedora", ""},
	"amzn":                {"Amazon Linux", ""},
}

// Lookup returns what credence knows of the distribution with os-release
// ID id; ok is false for a distribution it does not recognise.
func Lookup(id string) (d Distribution, ok bool) {
	d, ok = distributions[id]
	return d, ok
}

// Ecosystem names the OSV ecosystem of a distribution's packages, or "" when
// OSV has none credence knows (then their advisories cannot be matched).
// version is os-release's VERSION field, which says "LTS" for Ubuntu.
func Ecosystem(d *inventory.Distro, version string) string {
	return ecosystem(d, map[string]string{"VERSION": version})
}

// ecosystem names the OSV ecosystem from the os-release fields.
func ecosystem(d *inventory.Distro, fields map[string]string) string {
	major, minor := splitVersion(d.VersionID)
	switch d.ID {
	case "debian":
		v := major
		if v == "" {
			v = debianCodenames[d.VersionCodename]
		}
		if v != "" {
			return "Debian:" + v
		}
	case "ubuntu":
		if major == "" || minor == "" {
			return ""
		}
		eco := "Ubuntu:" + major + "." + minor
		if strings.Contains(fields["VERSION"], "LTS") || ubuntuLTS(major, minor) {
			eco += ":LTS"
		}
		return eco
	case "alpine":
		if major != "" && minor != "" {
			return "Alpine:v" + major + "." + minor
		}
	case "almalinux":
		if major != "" {
			return "AlmaLinux:" + major
		}
	case "rocky":
		if major != "" {
			return "Rocky Linux:" + major
		}
	case "rhel":
		// RHEL and UBI state their product stream: CPE_NAME
		// "cpe:/o:redhat:enterprise_linux:9::baseos".
		if rest, ok := strings.CutPrefix(fields["CPE_NAME"], "cpe:/o:redhat:"); ok && rest != "" {
			return "Red Hat:" + rest
		}
		switch {
		case major == "":
		case major == "7" || major == "6":
			return "Red Hat:enterprise_linux:" + major + "::server"
		default:
			return "Red Hat:enterprise_linux:" + major + "::baseos"
		}
	case "sles", "sles_sap", "sled", "sle-micro":
		if d.PrettyName != "" {
			return "SUSE:" + d.PrettyName
		}
	case "opensuse-leap", "opensuse-tumbleweed":
		if d.PrettyName != "" {
			return "openSUSE:" + d.PrettyName
		}
	case "photon":
		if major != "" {
			return "Photon OS:" + major + "." + cmp.Or(minor, "0")
		}
	case "azurelinux", "mariner":
		if major != "" {
			return "Azure Linux:" + major
		}
	case "wolfi":
		return "Wolfi"
	case "chainguard":
		return "Chainguard"
	}
	return ""
}

func splitVersion(v string) (major, minor string) {
	parts := strings.SplitN(v, ".", 3)
	major = digits(parts[0])
	if len(parts) > 1 {
		minor = digits(parts[1])
	}
	return major, minor
}

// digits keeps the leading digits of s ("21_alpha" → "21").
func digits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// ubuntuLTS: April releases of even years are long-term support.
func ubuntuLTS(major, minor string) bool {
	y, err := strconv.Atoi(major)
	return err == nil && y%2 == 0 && minor == "04"
}

package osrelease_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/osrelease"
)

func extract(t testing.TB, path, content string) (*inventory.Distro, error) {
	t.Helper()
	res, err := extractortest.Extract(t, osrelease.New(), path, []byte(content))
	return res.Distro, err
}

func TestEcosystem(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"debian 12", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n", "Debian:12"},
		{"debian testing", "ID=debian\nVERSION_CODENAME=trixie\n", "Debian:13"},
		{"debian sid", "ID=debian\nVERSION_CODENAME=sid\n", ""},
		{"ubuntu lts", "ID=ubuntu\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.3 LTS (Jammy Jellyfish)\"\n", "Ubuntu:22.04:LTS"},
		{"ubuntu interim", "ID=ubuntu\nVERSION_ID=\"23.10\"\nVERSION=\"23.10 (Mantic Minotaur)\"\n", "Ubuntu:23.10"},
		{"alpine", "ID=alpine\nVERSION_ID=3.18.9\n", "Alpine:v3.18"},
		{"alpine edge", "ID=alpine\nVERSION_ID=3.21.0_alpha20240923\n", "Alpine:v3.21"},
		{"almalinux", "ID=\"almalinux\"\nVERSION_ID=\"9.3\"\n", "AlmaLinux:9"},
		{"rocky", "ID=\"rocky\"\nVERSION_ID=\"8.9\"\n", "Rocky Linux:8"},
		{"centos has no OSV ecosystem", "ID=\"centos\"\nVERSION_ID=\"7\"\n", ""},
		{"rhel from CPE_NAME", "NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.3\"\nCPE_NAME=\"cpe:/o:redhat:enterprise_linux:9::baseos\"\n", "Red Hat:enterprise_linux:9::baseos"},
		{"ubi without CPE_NAME", "ID=\"rhel\"\nVERSION_ID=\"8.9\"\n", "Red Hat:enterprise_linux:8::baseos"},
		{"rhel 7", "ID=\"rhel\"\nVERSION_ID=\"7.9\"\n", "Red Hat:enterprise_linux:7::server"},
		{"sles", "NAME=\"SLES\"\nVERSION=\"15-SP5\"\nID=\"sles\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"SUSE Linux Enterprise Server 15 SP5\"\n", "SUSE:SUSE Linux Enterprise Server 15 SP5"},
		{"opensuse leap", "NAME=\"openSUSE Leap\"\nID=\"opensuse-leap\"\nVERSION_ID=\"15.5\"\nPRETTY_NAME=\"openSUSE Leap 15.5\"\n", "openSUSE:openSUSE Leap 15.5"},
		{"opensuse tumbleweed", "ID=\"opensuse-tumbleweed\"\nVERSION_ID=\"20240101\"\nPRETTY_NAME=\"openSUSE Tumbleweed\"\n", "openSUSE:openSUSE Tumbleweed"},
		{"photon", "NAME=\"VMware Photon OS\"\nVERSION=\"5.0\"\nID=photon\nVERSION_ID=5.0\nPRETTY_NAME=\"VMware Photon OS/Linux\"\n", "Photon OS:5.0"},
		{"azure linux", "NAME=\"Microsoft Azure Linux\"\nVERSION=\"3.0.20240727\"\nID=azurelinux\nVERSION_ID=\"3.0\"\n", "Azure Linux:3"},
		// The os-release of CBL-Mariner 2.0 as quoted in puppetlabs/facter#2514.
		{"cbl-mariner", "NAME=\"Common Base Linux Mariner\"\nVERSION=\"2.0.20220804\"\nID=mariner\nVERSION_ID=\"2.0\"\nPRETTY_NAME=\"CBL-Mariner/Linux\"\n", "Azure Linux:2"},
		{"wolfi", "ID=wolfi\nNAME=\"Wolfi\"\nPRETTY_NAME=\"Wolfi\"\nVERSION_ID=\"20230201\"\n", "Wolfi"},
		{"chainguard", "ID=chainguard\nNAME=\"Chainguard\"\nPRETTY_NAME=\"Chainguard\"\n", "Chainguard"},
		{"distroless (Debian underneath)", "PRETTY_NAME=\"Distroless\"\nNAME=\"Debian GNU/Linux\"\nID=\"debian\"\nVERSION_ID=\"12\"\nVERSION=\"Debian GNU/Linux 12 (bookworm)\"\nHOME_URL=\"https://github.com/GoogleContainerTools/distroless\"\n", "Debian:12"},
		{"oracle linux has no OSV ecosystem", "ID=\"ol\"\nVERSION_ID=\"9.3\"\n", ""},
		{"fedora has no OSV ecosystem", "ID=fedora\nVERSION_ID=39\n", ""},
		{"amazon linux has no OSV ecosystem", "ID=\"amzn\"\nVERSION_ID=\"2023\"\n", ""},
		{"escapes and comments", "# comment\nID='debian'\nPRETTY_NAME=\"a \\\"quoted\\\" name\"\nVERSION_ID=11\n", "Debian:11"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := extract(t, "etc/os-release", tc.content)
			if err != nil {
				t.Fatal(err)
			}
			if d.Ecosystem != tc.want {
				t.Errorf("ecosystem = %q, want %q", d.Ecosystem, tc.want)
			}
		})
	}
	if d, _ := extract(t, "etc/os-release", "PRETTY_NAME=\"a \\\"quoted\\\" name\"\nID=x\n"); d.PrettyName != `a "quoted" name` {
		t.Errorf("PrettyName = %q", d.PrettyName)
	}
	if _, err := extract(t, "etc/os-release", "NAME=nothing\n"); err == nil {
		t.Error("an os-release without ID must be an error")
	}
	if d, err := extract(t, "etc/alpine-release", "3.18.9\n"); err != nil || d.Ecosystem != "Alpine:v3.18" {
		t.Errorf("alpine-release: %+v, %v", d, err)
	}
	if _, err := extract(t, "etc/alpine-release", "<html>\n"); err == nil {
		t.Error("a garbage alpine-release must be an error")
	}
}

// Every distribution Lookup knows has an OSV ecosystem base from the OSV
// schema's list, or none (and then Ecosystem names none for it either).
func TestLookup(t *testing.T) {
	osvEcosystems := []string{"Debian", "Ubuntu", "Alpine", "Red Hat", "AlmaLinux", "Rocky Linux", "SUSE", "openSUSE", "Photon OS", "Azure Linux", "Wolfi", "Chainguard"}
	for _, id := range []string{"debian", "ubuntu", "alpine", "rhel", "almalinux", "rocky", "sles", "opensuse-leap", "opensuse-tumbleweed", "photon", "azurelinux", "mariner", "wolfi", "chainguard"} {
		d, ok := osrelease.Lookup(id)
		if !ok || !slices.Contains(osvEcosystems, d.OSV) {
			t.Errorf("Lookup(%q) = %+v, %v", id, d, ok)
		}
	}
	for _, id := range []string{"centos", "ol", "fedora", "amzn"} {
		if d, ok := osrelease.Lookup(id); !ok || d.OSV != "" {
			t.Errorf("Lookup(%q) = %+v, %v: recognised, with no OSV ecosystem", id, d, ok)
		}
	}
	if _, ok := osrelease.Lookup("plan9"); ok {
		t.Error("Lookup(plan9) recognised")
	}
}

// Every Alpine release fixture names its ecosystem.
func TestAlpineFixtures(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(testutil.Shared(t), "fixtures", "alpine", "3.*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "etc", "os-release"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := extract(t, "etc/os-release", string(b))
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(dir)
		major, minor := "", ""
		for i, part := range bytes.SplitN([]byte(base), []byte("."), 3) {
			if i == 0 {
				major = string(part)
			} else if i == 1 {
				minor = string(part)
			}
		}
		if diff := cmp.Diff("Alpine:v"+major+"."+minor, d.Ecosystem); diff != "" {
			t.Errorf("%s: (-want +got) %s", base, diff)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("ID=debian\nVERSION_ID=\"12\"\n"))
	f.Add([]byte("A='b\nC=\"\\\"\n=x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fields := osrelease.Parse(b)
		d := &inventory.Distro{ID: fields["ID"], VersionID: fields["VERSION_ID"], VersionCodename: fields["VERSION_CODENAME"]}
		osrelease.Ecosystem(d, fields["VERSION"])
	})
}

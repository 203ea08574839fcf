package java_test

import (
	"archive/zip"
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/extractortest"
	"github.com/credence-dev/credence/inventory/java"
)

// debianJars returns the root of Debian's liblog4j2-java and
// libjackson2-databind-java unpacked by scripts/setup.d/11-debian-jars.sh,
// and their ground truth: for every jar (a regular file, image path), the
// Maven coordinates "groupId:artifactId:version" that Debian's
// /usr/share/maven-repo links to it under the package's upstream version.
func debianJars(t *testing.T) (root string, truth map[string][]string) {
	t.Helper()
	dir := filepath.Join(testutil.CacheDir(t), "debian-jars-v1")
	if _, err := os.Stat(filepath.Join(dir, ".done")); err != nil {
		testutil.NeedComponent(t, "Debian's jars", dir+" is absent: run scripts/setup (scripts/setup.d/11-debian-jars.sh fetches them)")
	}
	root = filepath.Join(dir, "root")
	f, err := os.Open(filepath.Join(dir, "versions.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	upstream := map[string]bool{} // "2.19.0" of "2.19.0-2"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		_, v, _ := strings.Cut(sc.Text(), "\t")
		if i := strings.IndexByte(v, ':'); i >= 0 {
			v = v[i+1:]
		}
		if i := strings.LastIndexByte(v, '-'); i >= 0 {
			v = v[:i]
		}
		upstream[v] = true
	}
	repo := filepath.Join(root, "usr", "share", "maven-repo")
	truth = map[string][]string{}
	err = filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 || !strings.HasSuffix(p, ".jar") {
			return err
		}
		rel, _ := filepath.Rel(repo, p) // org/apache/logging/log4j/log4j-core/2.19.0/log4j-core-2.19.0.jar
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) < 4 {
			return nil
		}
		v, a := parts[len(parts)-2], parts[len(parts)-3]
		if !upstream[v] {
			return nil // the "debian" and "2.x" aliases
		}
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return err
		}
		jar, _ := filepath.Rel(root, target)
		truth[jar] = append(truth[jar], strings.Join(parts[:len(parts)-3], ".")+":"+a+":"+v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(truth) < 10 {
		t.Fatalf("ground truth holds %d jars, want the 11 of liblog4j2-java and libjackson2-databind-java", len(truth))
	}
	return root, truth
}

// TestDebianJars scans the unpacked Debian packages as a directory image
// through the runner: each real jar gives exactly its coordinates, from its
// pom.properties.
func TestDebianJars(t *testing.T) {
	root, truth := debianJars(t)
	inv := extractortest.ScanFixture(t, "dir:"+root, java.New())
	got := map[string][]string{}
	for _, p := range inv.Packages {
		got[p.Locations[0]] = append(got[p.Locations[0]], p.Namespace+":"+p.Name+":"+p.Version)
		if md := p.Metadata.(*java.Metadata); md.Confidence != java.High || p.Ecosystem != "Maven" {
			t.Errorf("%s: %+v, ecosystem %q", p, md, p.Ecosystem)
		}
	}
	for _, m := range []map[string][]string{got, truth} {
		for _, v := range m {
			slices.Sort(v)
		}
	}
	if diff := cmp.Diff(truth, got); diff != "" {
		t.Errorf("packages by jar (-want +got):\n%s", diff)
	}
	if inv.Status.State != inventory.Succeeded || len(inv.Status.Warnings) > 0 {
		t.Errorf("status %+v", inv.Status)
	}
}

// TestDebianJarsNested puts the real jars into a Spring Boot style fat jar
// (stored, BOOT-INF/lib/) inside a war (deflated, WEB-INF/lib/): each is
// found at its nested location with the same coordinates.
func TestDebianJarsNested(t *testing.T) {
	root, truth := debianJars(t)
	var fat, war []entry
	want := map[string][]string{"app.war": {":app:1.0"}}
	for jar, coords := range truth {
		b, err := os.ReadFile(filepath.Join(root, jar))
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(jar)
		fat = append(fat, entry{name: "BOOT-INF/lib/" + name, data: b, method: zip.Store})
		war = append(war, entry{name: "WEB-INF/lib/" + name, data: b})
		want["app.war!/WEB-INF/lib/"+name] = coords
		want["app.war!/WEB-INF/lib/boot-2.7.jar!/BOOT-INF/lib/"+name] = coords
	}
	want["app.war!/WEB-INF/lib/boot-2.7.jar"] = []string{":boot:2.7"}
	war = append(war, entry{name: "WEB-INF/lib/boot-2.7.jar", data: archive(t, fat...)})
	data := archive(t, append(war, manifest("Implementation-Title: app", "Implementation-Version: 1.0"))...)

	res, err := extractortest.Extract(t, java.New(), "app.war", data)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, p := range res.Packages {
		got[p.Locations[0]] = append(got[p.Locations[0]], p.Namespace+":"+p.Name+":"+p.Version)
	}
	for _, m := range []map[string][]string{got, want} {
		for _, v := range m {
			slices.Sort(v)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages by location (-want +got):\n%s", diff)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
}

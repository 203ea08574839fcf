package vulndb_test

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/vulndb"
	"github.com/credence-dev/credence/vulndb/kev"
)

// sampleDir is the embedded sample data, used as a small real input.
func sampleDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(testutil.RepoRoot(t), "vulndb", "sample", "data")
}

func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func importPath(t *testing.T, db string, paths ...string) (*vulndb.ImportReport, error) {
	t.Helper()
	var ins []vulndb.Input
	for _, p := range paths {
		in, err := vulndb.Inputs(p)
		if err != nil {
			return nil, err
		}
		ins = append(ins, in...)
	}
	return vulndb.Import(context.Background(), db, ins)
}

func status(t *testing.T, db string) *vulndb.Status {
	t.Helper()
	d, err := vulndb.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st, err := d.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// sampleRecords counts the OSV record files of the sample data (one record
// each).
func sampleRecords(t *testing.T) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(sampleDir(t), "osv", "*.json"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no sample records: %v", err)
	}
	return len(m)
}

func TestImportAndQuery(t *testing.T) {
	db := filepath.Join(t.TempDir(), "vuln.db")
	rep, err := importPath(t, db, sampleDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if n := sampleRecords(t); rep.Records != n || rep.Skipped != 0 {
		t.Errorf("records %d skipped %d, want %d and 0", rep.Records, rep.Skipped, n)
	}
	d, err := vulndb.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	advs, err := d.Advisories(ctx, "PyPI", "requests")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range advs {
		got = append(got, a.ID)
	}
	if !strings.Contains(strings.Join(got, " "), "PYSEC-2023-74") {
		t.Errorf("requests advisories %v lack PYSEC-2023-74", got)
	}
	// The full record is kept as imported; queries return digests.
	raw, err := d.Raw(ctx, "PYSEC-2023-74")
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(filepath.Join(sampleDir(t), "osv", "PyPI-PYSEC-2023-74.json"))
	if !bytes.Equal(raw, orig) {
		t.Errorf("Raw differs from the imported file")
	}
	for _, a := range advs {
		if a.Details != "" {
			t.Errorf("%s: digest has details", a.ID)
		}
		if a.Summary == "" {
			t.Errorf("%s: digest has no summary", a.ID)
		}
	}
	k, err := d.KEV(ctx, []string{"CVE-2021-44228", "CVE-2024-3094"})
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := k["CVE-2021-44228"]; !ok || e.DateAdded != "2021-12-10" || e.KnownRansomwareCampaignUse != "Known" {
		t.Errorf("KEV Log4Shell = %+v", e)
	}
	if _, ok := k["CVE-2024-3094"]; ok {
		t.Errorf("xz backdoor is not in KEV")
	}
	st, _ := d.Status(ctx)
	if st.Advisories != sampleRecords(t) || st.KEV != 4 || len(st.Sources) != 2 {
		t.Errorf("status %+v", st)
	}
	// The same source again replaces its records: counts stay.
	if _, err := importPath(t, db, sampleDir(t)); err != nil {
		t.Fatal(err)
	}
	if st := status(t, db); st.Advisories != sampleRecords(t) || st.KEV != 4 {
		t.Errorf("after re-import: %d advisories, %d KEV", st.Advisories, st.KEV)
	}
}

func TestEPSS(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "epss_scores-2025-08-25.csv")
	os.WriteFile(csv, []byte("#model_version:v2025.03.14,score_date:2025-08-25T00:00:00+0000\ncve,epss,percentile\nCVE-2021-44228,0.94358,0.99957\nCVE-2014-0160,0.94,0.9991\n"), 0o644)
	db := filepath.Join(dir, "vuln.db")
	if _, err := importPath(t, db, csv); err != nil {
		t.Fatal(err)
	}
	d, _ := vulndb.Open(db)
	defer d.Close()
	s, err := d.EPSS(context.Background(), []string{"CVE-2021-44228"})
	if err != nil || s["CVE-2021-44228"].EPSS != 0.94358 {
		t.Errorf("EPSS = %v, %v", s, err)
	}
	st, _ := d.Status(context.Background())
	if st.EPSS != 2 || st.Sources[0].DataAsOf.Format(time.DateOnly) != "2025-08-25" {
		t.Errorf("status %+v", st)
	}
}

// TestBadInput: malformed data gives clear errors or counted warnings, and
// a failed import leaves the previous database exactly as it was.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "vuln.db")
	if _, err := importPath(t, db, sampleDir(t)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(db)

	good := `{"id":"OK-1","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"ok"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`
	// Records that break the schema are skipped and counted; records with
	// unknown ecosystems or unparsable versions are kept with a warning.
	mixed := filepath.Join(dir, "mixed.zip")
	writeZip(t, mixed, map[string]string{
		"OK-1.json":    good,
		"BAD-1.json":   `{"id":"BAD-1","affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}`,
		"BAD-2.json":   `{"id":"BAD-2","affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"WEIRD","events":[{"introduced":"0"}]}]}]}`,
		"BAD-3.json":   `{"id":`,
		"BAD-4.json":   `[1,2,3]`,
		"BAD-5.json":   `{"affected":[]}`,
		"BAD-6.json":   `{"id":"BAD-6","affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"SEMVER","events":[]}]}]}`,
		"WARN-1.json":  `{"id":"WARN-1","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Hurd:1","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1"}]}]}]}`,
		"WARN-2.json":  `{"id":"WARN-2","modified":"2023-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"x"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"no version"}]}]}]}`,
		"README.txt":   "not a record",
		"nested/.json": "{}",
	})
	rep, err := importPath(t, filepath.Join(dir, "mixed.db"), mixed)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 3 || rep.Skipped != 7 || rep.Sources[0].Warnings != 9 {
		t.Errorf("records %d skipped %d warnings %d, want 3, 7, 9; %q", rep.Records, rep.Skipped, rep.Sources[0].Warnings, rep.Warnings)
	}

	truncated := filepath.Join(dir, "truncated.zip")
	writeZip(t, truncated, map[string]string{"OK-1.json": good})
	b, _ := os.ReadFile(truncated)
	os.WriteFile(truncated, b[:len(b)/2], 0o644)

	wrongKEV := filepath.Join(dir, "known_exploited_vulnerabilities.json")
	os.WriteFile(wrongKEV, []byte(`{"catalogVersion":"1","vulnerabilities":[{"cveID":"nope","dateAdded":"2021-01-01"}]}`), 0o644)
	kevNotObject := filepath.Join(dir, "kev-array", "known_exploited_vulnerabilities.json")
	os.MkdirAll(filepath.Dir(kevNotObject), 0o755)
	os.WriteFile(kevNotObject, []byte(`["catalogVersion"]`), 0o644)
	badEPSS := filepath.Join(dir, "bad.csv")
	os.WriteFile(badEPSS, []byte("cve,epss,percentile\nCVE-1,2.5,0.1\n"), 0o644)
	notZip := filepath.Join(dir, "not.zip")
	os.WriteFile(notZip, []byte("hello"), 0o644)

	for _, tt := range []struct {
		name, path string
		wantErr    error
		wantMsg    string
	}{
		{"truncated zip", truncated, nil, "truncated or not a zip"},
		{"not a zip", notZip, nil, "truncated or not a zip"},
		{"KEV with a bad CVE id", wrongKEV, kev.ErrShape, "cveID"},
		{"KEV of the wrong shape", kevNotObject, kev.ErrShape, "not a KEV catalog"},
		{"EPSS out of range", badEPSS, nil, "not an EPSS CSV"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Import a good source with the bad one: all or nothing.
			_, err := importPath(t, db, filepath.Join(dir, "mixed.zip"), tt.path)
			if err == nil {
				t.Fatal("import succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			after, _ := os.ReadFile(db)
			if !bytes.Equal(before, after) {
				t.Errorf("the database changed after a failed import")
			}
			if left, _ := filepath.Glob(db + ".tmp-*"); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
	if _, err := vulndb.Open(filepath.Join(dir, "nothing.db")); !errors.Is(err, vulndb.ErrNoDatabase) {
		t.Errorf("Open of a missing database: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "garbage.db"), []byte("garbage"), 0o644)
	if _, err := vulndb.Open(filepath.Join(dir, "garbage.db")); err == nil {
		t.Errorf("Open of a garbage file succeeded")
	}
}

// TestKilledImportKeepsPreviousDatabase runs an import in a child process,
// kills it with SIGKILL while it writes, and checks the previous database
// still opens and answers, and that the next import cleans up.
func TestKilledImportKeepsPreviousDatabase(t *testing.T) {
	if os.Getenv("CREDENCE_TEST_IMPORT_CHILD") != "" {
		return // see TestImportChild
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "vuln.db")
	if _, err := importPath(t, db, sampleDir(t)); err != nil {
		t.Fatal(err)
	}
	// A big input so the child is still writing when killed.
	big := filepath.Join(dir, "big.zip")
	files := map[string]string{}
	for i := range 20000 {
		id := fmt.Sprintf("BIG-%d", i)
		files[id+".json"] = fmt.Sprintf(`{"id":%q,"modified":"2023-01-01T00:00:00Z","details":%q,"affected":[{"package":{"ecosystem":"npm","name":"p%d"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.%d"}]}]}]}`, id, strings.Repeat("x", 2000), i, i)
	}
	writeZip(t, big, files)

	for attempt := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestImportChild$")
		cmd.Env = append(os.Environ(), "CREDENCE_TEST_IMPORT_CHILD="+db, "CREDENCE_TEST_IMPORT_INPUT="+big)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the child's temporary database exists and grows.
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			if m, _ := filepath.Glob(db + ".tmp-*"); len(m) > 0 {
				if fi, err := os.Stat(m[0]); err == nil && fi.Size() > 2<<20 {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		st := status(t, db)
		if n := sampleRecords(t); st.Advisories != n {
			t.Fatalf("after the kill the database has %d advisories, want the previous %d", st.Advisories, n)
		}
		if ws, ok := err.(*exec.ExitError); ok && !ws.Success() {
			t.Logf("attempt %d: child killed (%v) mid-import; previous database intact", attempt, err)
			break
		}
		t.Logf("attempt %d: child finished before the kill; retrying", attempt)
	}
	// The next import removes the dead import's leftovers and works.
	if _, err := importPath(t, db, sampleDir(t)); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(db + ".tmp-*"); len(left) > 0 {
		t.Errorf("leftovers after the next import: %v", left)
	}
}

// TestImportChild is the child of TestKilledImportKeepsPreviousDatabase.
func TestImportChild(t *testing.T) {
	db := os.Getenv("CREDENCE_TEST_IMPORT_CHILD")
	if db == "" {
		t.Skip("only run as a child process")
	}
	if _, err := importPath(t, db, os.Getenv("CREDENCE_TEST_IMPORT_INPUT")); err != nil {
		t.Fatal(err)
	}
	// Slow the child down at the end so the parent can always kill it.
	time.Sleep(time.Minute)
}

// TestUpdate serves a directory laid out like osv.dev's bucket and KEV
// from httptest and checks downloads, conditional requests and failures.
func TestUpdate(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "osv", "npm"), 0o755)
	os.MkdirAll(filepath.Join(root, "kev"), 0o755)
	files := map[string]string{}
	entries, _ := os.ReadDir(filepath.Join(sampleDir(t), "osv"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "npm-") {
			b, _ := os.ReadFile(filepath.Join(sampleDir(t), "osv", e.Name()))
			files[strings.TrimPrefix(e.Name(), "npm-")] = string(b)
		}
	}
	writeZip(t, filepath.Join(root, "osv", "npm", "all.zip"), files)
	b, _ := os.ReadFile(filepath.Join(sampleDir(t), "known_exploited_vulnerabilities.json"))
	os.WriteFile(filepath.Join(root, "kev", "known_exploited_vulnerabilities.json"), b, 0o644)
	srv, hits := serve(t, root)

	db := filepath.Join(t.TempDir(), "vuln.db")
	cfg := vulndb.UpdateConfig{OSVBaseURL: srv.URL + "/osv", Ecosystems: []string{"npm"}, KEVURL: srv.URL + "/kev/known_exploited_vulnerabilities.json"}
	var progress atomic.Int64
	cfg.Progress = func(string, int64, int64) { progress.Add(1) }
	rep, err := vulndb.Update(context.Background(), db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Fetched) != 2 || rep.Import == nil || rep.Import.Records != 3 || progress.Load() == 0 {
		t.Errorf("first update: %+v, progress %d", rep, progress.Load())
	}
	st := status(t, db)
	if st.KEV != 4 || st.Advisories != 3 || st.Sources[0].ETag == "" {
		t.Errorf("status %+v", st)
	}
	// Nothing changed: both answer 304, nothing is imported.
	rep, err = vulndb.Update(context.Background(), db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cfg.URLs(), rep.Unchanged); diff != "" || rep.Import != nil {
		t.Errorf("second update (-want +got unchanged):\n%s, import %+v", diff, rep.Import)
	}
	if n := hits.notModified.Load(); n != 2 {
		t.Errorf("%d 304 answers, want 2", n)
	}
	// KEV changes: only KEV is fetched again.
	os.WriteFile(filepath.Join(root, "kev", "known_exploited_vulnerabilities.json"), bytes.Replace(b, []byte(`"catalogVersion": "`), []byte(`"catalogVersion": "9`), 1), 0o644)
	rep, err = vulndb.Update(context.Background(), db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{cfg.KEVURL}, rep.Fetched); diff != "" {
		t.Errorf("third update fetched (-want +got):\n%s", diff)
	}
	// A database of another schema is rebuilt by update.
	raw, _ := sql.Open("sqlite", "file:"+db)
	raw.Exec(`UPDATE meta SET value = '0' WHERE key = 'schema'`)
	raw.Close()
	if _, err := vulndb.Open(db); !errors.Is(err, vulndb.ErrSchema) {
		t.Fatalf("Open of an old schema: %v", err)
	}
	rep, err = vulndb.Update(context.Background(), db, cfg)
	if err != nil || len(rep.Fetched) != 2 {
		t.Fatalf("update of an old schema: %+v %v", rep, err)
	}
	if st := status(t, db); st.Advisories != 3 || st.KEV != 4 {
		t.Errorf("rebuilt database %+v", st)
	}
	// A missing ecosystem fails the update and changes nothing.
	before, _ := os.ReadFile(db)
	cfg.Ecosystems = []string{"npm", "Nope"}
	if _, err := vulndb.Update(context.Background(), db, cfg); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("update with a missing archive: %v", err)
	}
	after, _ := os.ReadFile(db)
	if !bytes.Equal(before, after) {
		t.Errorf("database changed after a failed update")
	}
}

type hitCounter struct{ notModified atomic.Int64 }

// serve is a file server with ETags (the SHA-256 of the file's size and
// mtime), so conditional requests are exercised like on a real bucket.
func serve(t *testing.T, root string) (*httptest.Server, *hitCounter) {
	h := &hitCounter{}
	fs := http.FileServer(http.Dir(root))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(r.URL.Path))); err == nil {
			w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, fi.Size(), fi.ModTime().UnixNano()))
		}
		rec := &statusRecorder{ResponseWriter: w}
		fs.ServeHTTP(rec, r)
		if rec.code == http.StatusNotModified {
			h.notModified.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, h
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(c int) { s.code = c; s.ResponseWriter.WriteHeader(c) }

// TestUpdateShared runs db update against ../shared/data served locally:
// every default ecosystem archive and KEV.
func TestUpdateShared(t *testing.T) {
	if testing.Short() {
		t.Skip("imports all of ../shared/data")
	}
	data := filepath.Join(testutil.Shared(t), "data")
	srv, hits := serve(t, data)
	db := filepath.Join(t.TempDir(), "vuln.db")
	cfg := vulndb.UpdateConfig{OSVBaseURL: srv.URL + "/osv", KEVURL: srv.URL + "/kev/known_exploited_vulnerabilities.json"}
	rep, err := vulndb.Update(context.Background(), db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Import == nil || rep.Import.Records != 75702 || len(rep.Fetched) != len(vulndb.DefaultEcosystems)+1 {
		t.Fatalf("update fetched %d, imported %+v", len(rep.Fetched), rep.Import)
	}
	rep, err = vulndb.Update(context.Background(), db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Import != nil || int(hits.notModified.Load()) != len(vulndb.DefaultEcosystems)+1 {
		t.Errorf("second update imported %+v; %d answered 304", rep.Import, hits.notModified.Load())
	}
}

// EcosystemRecords tells "no advisories for this ecosystem" (unchecked)
// from "no advisories for this package" (checked, clean), in both stores.
func TestEcosystemRecords(t *testing.T) {
	db := filepath.Join(t.TempDir(), "vuln.db")
	if _, err := importPath(t, db, sampleDir(t)); err != nil {
		t.Fatal(err)
	}
	d, err := vulndb.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ins, err := vulndb.Inputs(sampleDir(t))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := vulndb.LoadMemory(context.Background(), "sample", ins)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []interface {
		EcosystemRecords(context.Context, string) (int, error)
	}{d, m} {
		for eco, want := range map[string]int{"Alpine:v3.14": 51, "npm": 3, "Debian:13": 0, "PyPI:x": 0} {
			if n, err := src.EcosystemRecords(context.Background(), eco); err != nil || n != want {
				t.Errorf("%T EcosystemRecords(%s) = %d, %v; want %d", src, eco, n, err, want)
			}
		}
	}
}

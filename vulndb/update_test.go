package vulndb_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credence-dev/credence/vulndb"
)

// Update downloads several archives at once, yet imports them in the order
// of its configuration: when two archives hold the same advisory, the later
// one keeps it even if it finished downloading first.
func TestUpdateDownloadsConcurrently(t *testing.T) {
	root := t.TempDir()
	record := func(summary string) string {
		return `{"id":"GHSA-test-0001","modified":"2024-01-01T00:00:00Z","summary":"` + summary + `",
		"affected":[{"package":{"ecosystem":"npm","name":"left-pad"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.3.0"}]}]}]}`
	}
	ecosystems := []string{"Slow", "Fast", "Other"}
	for _, e := range ecosystems {
		if err := os.MkdirAll(filepath.Join(root, e), 0o755); err != nil {
			t.Fatal(err)
		}
		writeZip(t, filepath.Join(root, e, "all.zip"), map[string]string{"GHSA-test-0001.json": record("from " + e)})
	}
	var mu sync.Mutex
	inFlight, maxInFlight := 0, 0
	files := http.FileServer(http.Dir(root))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		mu.Unlock()
		defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		if strings.HasPrefix(r.URL.Path, "/Slow/") {
			time.Sleep(300 * time.Millisecond)
		} else {
			time.Sleep(100 * time.Millisecond)
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()

	db := filepath.Join(t.TempDir(), "vuln.db")
	cfg := vulndb.UpdateConfig{OSVBaseURL: srv.URL, Ecosystems: ecosystems, KEVURL: "-"}
	rep, err := vulndb.Update(context.Background(), db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Fetched) != 3 || rep.Import == nil {
		t.Fatalf("report %+v", rep)
	}
	if maxInFlight < 2 {
		t.Errorf("at most %d download at a time, want several", maxInFlight)
	}
	d, err := vulndb.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	raw, err := d.Raw(context.Background(), "GHSA-test-0001")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "from Other") {
		t.Errorf("the advisory is %s; want the copy of the last archive configured (Other)", raw)
	}
}

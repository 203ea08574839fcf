package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credence-dev/credence/internal/testutil/imagetest"
	"github.com/credence-dev/credence/server"
	"github.com/credence-dev/credence/store"
	"github.com/credence-dev/credence/vulndb"
)

// TestScheduledDBUpdate: the scheduling replica runs `db update` every
// interval against an OSV mirror (here an HTTP server holding a Maven
// all.zip with the log4j advisories and the KEV catalog), with conditional
// requests; the new version is re-matched and web's pods get the KEV label.
// The next updates find nothing new (304) and change nothing.
func TestScheduledDBUpdate(t *testing.T) {
	api := startAPI(t)
	cs := api.Client
	reg := startRegistry(t)
	reg.push(t, "shop/web:1.4", sampleImage(t, "web"))
	dbPath := filepath.Join(t.TempDir(), "vuln.db")
	held := oldDB(t, dbPath, false)
	files := map[string]string{}
	for _, n := range held {
		b, err := os.ReadFile(filepath.Join(sampleData(t), "osv", n))
		if err != nil {
			t.Fatal(err)
		}
		files[n] = string(b)
	}
	zip := imagetest.Zip(t, files)
	kev, err := os.ReadFile(filepath.Join(sampleData(t), "known_exploited_vulnerabilities.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gets, notModified atomic.Int64
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			notModified.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		switch r.URL.Path {
		case "/Maven/all.zip":
			_, _ = w.Write(zip)
		case "/kev.json":
			_, _ = w.Write(kev)
		default:
			http.NotFound(w, r)
		}
	}))
	defer mirror.Close()
	runningPod(t, cs, "shop", "web", reg.host+"/shop/web:1.4", reg.host+"/shop/web@"+webDigest, nil)
	st := openStore(t, filepath.Join(t.TempDir(), "credence.db"))
	srv, logs := fastServer(t, st, cs, dbPath, server.WithDBUpdate(4*time.Second, vulndb.UpdateConfig{OSVBaseURL: mirror.URL, Ecosystems: []string{"Maven"}, KEVURL: mirror.URL + "/kev.json"}))
	run(t, srv)
	ctx := context.Background()
	eventually(t, 30*time.Second, "web assessed before the first update", labelled(t, cs, "web"))
	if l, _ := podLabels(t, cs, "web"); l[server.LabelKEV] != "" || gets.Load() != 0 {
		t.Fatalf("the update came before web was assessed (labels %v, %d requests): the test cannot see the re-match", l, gets.Load())
	}
	// The first version, committed before any image was read, changed no
	// findings: no background sweep of the cluster follows it.
	if j, err := st.GetJob(ctx, "resync:db"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a database version that changed no image's findings queued a sweep: %+v (%v)", j, err)
	}
	eventually(t, 60*time.Second, "web labelled with Log4Shell in KEV after the scheduled update", func() error {
		if l, _ := podLabels(t, cs, "web"); l[server.LabelKEV] != "true" {
			return fmt.Errorf("labels %v", l)
		}
		return nil
	})
	v, err := st.CurrentDBVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The update changed web's findings: the blast radii through it are
	// swept again, in the background, under a key of their own.
	if _, err := st.GetJob(ctx, "resync:db"); err != nil {
		t.Errorf("no background sweep after an update that changed findings: %v", err)
	}
	eventually(t, 20*time.Second, "a later update finds nothing new", func() error {
		if notModified.Load() < 2 {
			return fmt.Errorf("%d conditional answers", notModified.Load())
		}
		return nil
	})
	if v2, err := st.CurrentDBVersion(ctx); err != nil || v2.Seq != v.Seq {
		t.Errorf("an unchanged download moved the version: %+v -> %+v (%v)", v, v2, err)
	}
	if logs.find("database updated") == "" || logs.find("database update reached labels") == "" {
		t.Error("the update or its latency was not logged")
	}
}

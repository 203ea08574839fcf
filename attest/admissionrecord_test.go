package attest_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/attest"
)

func recordKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeRecord(t *testing.T, path string, k ed25519.PrivateKey, pods ...string) {
	t.Helper()
	w, err := attest.OpenRecord(path, k)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		var adm []attest.AdmittedWorkload
		if p != "" {
			adm = []attest.AdmittedWorkload{{PodUID: p, Namespace: "shop", Pod: "web-" + p, Container: "app", ImageDigest: "sha256:" + strings.Repeat("a", 64)}}
		}
		if _, err := w.Append(map[string]string{"decision": "allow", "pod": p}, adm); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAdmissionRecordRoundTrip(t *testing.T) {
	k := recordKey(t)
	pub := k.Public().(ed25519.PublicKey)
	path := filepath.Join(t.TempDir(), "record.jsonl")
	writeRecord(t, path, k, "uid-1", "", "uid-2")
	// A restart continues the chain.
	writeRecord(t, path, k, "uid-3", "uid-1")
	fh, _ := os.Open(path)
	defer fh.Close()
	sum, err := attest.VerifyRecord(fh, pub)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Entries != 5 || sum.Last != 5 || len(sum.Admitted.Workloads) != 3 {
		t.Fatalf("entries %d last %d admitted %d, want 5 5 3 (a repeated identical admission kept once)", sum.Entries, sum.Last, len(sum.Admitted.Workloads))
	}
	adm, err := attest.ReadAdmittedFile(path, pub)
	if err != nil || len(adm.Workloads) != 3 || adm.Workloads[2].PodUID != "uid-3" {
		t.Fatalf("ReadAdmittedFile: %v %+v", err, adm)
	}
}

// TestAdmissionRecordTampering: every edit to a signed record is found.
func TestAdmissionRecordTampering(t *testing.T) {
	k := recordKey(t)
	pub := k.Public().(ed25519.PublicKey)
	path := filepath.Join(t.TempDir(), "record.jsonl")
	writeRecord(t, path, k, "uid-1", "uid-2", "uid-3")
	orig, _ := os.ReadFile(path)
	lines := strings.SplitAfter(strings.TrimSuffix(string(orig), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, c := range []struct {
		name, data, want string
	}{
		{"edited", strings.Replace(string(orig), "web-uid-2", "web-uid-9", 1), "line 2: the signature does not verify"},
		{"line removed", lines[0] + lines[2], "line 2: seq 3 after 1"},
		{"reordered", lines[1] + lines[0] + lines[2], "line 1: seq 2 after 0"},
		{"head removed", lines[1] + lines[2], "line 1: seq 2 after 0"},
		{"not json", string(orig) + "garbage\n", "line 4: not a signed entry"},
		{"empty line", lines[0] + "\n" + lines[1], "line 2 is empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := attest.VerifyRecord(strings.NewReader(c.data), pub)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
	other := recordKey(t)
	if _, err := attest.VerifyRecord(bytes.NewReader(orig), other.Public().(ed25519.PublicKey)); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("another key: %v", err)
	}
	if _, err := attest.OpenRecord(path, other); err == nil || !strings.Contains(err.Error(), "does not continue under this key") {
		t.Fatalf("appending with another key: %v", err)
	}
	// A line signed by this key but chained elsewhere (copied from another record).
	path2 := filepath.Join(t.TempDir(), "other.jsonl")
	writeRecord(t, path2, k, "uid-7", "uid-8")
	o2, _ := os.ReadFile(path2)
	spliced := string(orig) + strings.SplitAfter(string(o2), "\n")[1]
	if _, err := attest.VerifyRecord(strings.NewReader(spliced), pub); err == nil || !strings.Contains(err.Error(), "seq 2 after 3") {
		t.Fatalf("spliced line: %v", err)
	}
}

func TestAdmissionRecordTornLine(t *testing.T) {
	k := recordKey(t)
	path := filepath.Join(t.TempDir(), "record.jsonl")
	writeRecord(t, path, k, "uid-1", "uid-2")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(b, []byte(`{"entry":{"seq":3,"ti`)...), 0o600); err != nil {
		t.Fatal(err)
	}
	writeRecord(t, path, k, "uid-3")
	sum, err := attest.VerifyRecord(mustOpen(t, path), k.Public().(ed25519.PublicKey))
	if err != nil || sum.Last != 3 {
		t.Fatalf("after a torn line: %v, last %v", err, sum)
	}
}

func mustOpen(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestReadAdmittedFileForms(t *testing.T) {
	k := recordKey(t)
	pub := k.Public().(ed25519.PublicKey)
	dir := t.TempDir()
	rec := filepath.Join(dir, "record.jsonl")
	writeRecord(t, rec, k, "uid-1")
	legacy := filepath.Join(dir, "admitted.json")
	os.WriteFile(legacy, []byte(`{"apiVersion":"credence.dev/v1alpha1","kind":"AdmittedWorkloads","workloads":[{"podUID":"u","container":"c"}]}`), 0o600)
	if _, err := attest.ReadAdmittedFile(rec, nil); err == nil || !strings.Contains(err.Error(), "give the webhook's public key") {
		t.Fatalf("record without key: %v", err)
	}
	if _, err := attest.ReadAdmittedFile(legacy, pub); err == nil || !strings.Contains(err.Error(), "refusing an unsigned file") {
		t.Fatalf("unsigned file with key: %v", err)
	}
	if a, err := attest.ReadAdmittedFile(legacy, nil); err != nil || len(a.Workloads) != 1 {
		t.Fatalf("unsigned file without key: %v", err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	got, err := attest.ParseEd25519PublicKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil || !got.Equal(pub) {
		t.Fatalf("parse public key: %v", err)
	}
	pk, _ := x509.MarshalPKCS8PrivateKey(k)
	gk, err := attest.ParseEd25519PrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}))
	if err != nil || !gk.Equal(k) {
		t.Fatalf("parse private key: %v", err)
	}
	if _, err := attest.ParseEd25519PrivateKey([]byte("nope")); err == nil {
		t.Fatal("garbage key accepted")
	}
}

// FuzzVerifyRecord: any bytes are refused or verified, never a panic, and
// what verifies under a key was signed by it (the seeds are real records;
// a mutation that still verifies must leave the signed bytes intact).
func FuzzVerifyRecord(f *testing.F) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	pub := k.Public().(ed25519.PublicKey)
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.jsonl")
	w, err := attest.OpenRecord(path, k)
	if err != nil {
		f.Fatal(err)
	}
	for _, u := range []string{"a", "b"} {
		w.Append(map[string]string{"pod": u}, []attest.AdmittedWorkload{{PodUID: u, Container: "c"}})
	}
	w.Close()
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add([]byte(`{"entry":{"seq":1},"signature":"AAAA"}` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sum, err := attest.VerifyRecord(bytes.NewReader(b), pub)
		if err != nil {
			return
		}
		_ = sum
		// Verified: every entry must be one the key signed (in the seed).
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 && !bytes.Contains(seed, bytes.TrimSpace(l)) {
				var x struct{ Entry json.RawMessage }
				if json.Unmarshal(l, &x) == nil && !bytes.Contains(seed, x.Entry) {
					t.Fatalf("a line not signed by the key verified: %s", l)
				}
			}
		}
	})
}

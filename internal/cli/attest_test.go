//go:build !node && !scan

package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/internal/testutil"
)

// recordedEvidence writes the evidence a real swtpm produced
// (attest/testdata/swtpm-evidence.json) and its node's enrolled AK to a
// temp dir, for offline CLI runs.
func recordedEvidence(t *testing.T) (evFile, akFile, nonce string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "attest", "testdata", "swtpm-evidence.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Nonce    attest.HexBytes  `json:"nonce"`
		Evidence *attest.Evidence `json:"evidence"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	evFile, akFile = filepath.Join(dir, "ev.json"), filepath.Join(dir, "ak.json")
	evJSON, _ := json.Marshal(rec.Evidence)
	ak, err := attest.NewEnrolledAK(rec.Evidence.AKPublic, "node-1")
	if err != nil {
		t.Fatal(err)
	}
	akJSON, _ := json.Marshal(ak)
	os.WriteFile(evFile, evJSON, 0o644)
	os.WriteFile(akFile, akJSON, 0o644)
	return evFile, akFile, hex.EncodeToString(rec.Nonce)
}

func TestAttestVerifyEvidence(t *testing.T) {
	ev, ak, nonce := recordedEvidence(t)
	// Each run that must verify gets a state directory of its own: a nonce
	// is answered once per state directory.
	args := func() []string {
		return []string{"attest", "verify", "--evidence", ev, "--nonce", nonce, "--ak", ak, "--pcr", "23", "--allow-resettable-pcr", "--state-dir", t.TempDir()}
	}
	out, errOut, code := run(t, append(args(), "-o", "json")...)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res attest.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Verdict != attest.Verified || len(res.Containers) != 3 || res.Containers[0].Start == nil {
		t.Fatalf("%s %d containers", res.Verdict, len(res.Containers))
	}
	table, _, code := run(t, args()...)
	if code != ExitOK || !strings.Contains(table, "verdict   verified") || !strings.Contains(table, "shop/web-2") {
		t.Errorf("table (exit %d):\n%s", code, table)
	}
	// The same evidence for another nonce: a policy failure, exit 1.
	other := strings.Repeat("00", 32)
	out, errOut, code = run(t, "attest", "verify", "--evidence", ev, "--nonce", other, "--ak", ak, "--pcr", "23", "--allow-resettable-pcr", "--state-dir", t.TempDir())
	if code != ExitPolicy || !strings.Contains(out, "nonce-mismatch") || !strings.Contains(errOut, "failed verification") {
		t.Errorf("wrong nonce: exit %d\n%s\n%s", code, out, errOut)
	}
	// Production policy: PCR 23 is refused.
	if _, _, code := run(t, "attest", "verify", "--evidence", ev, "--nonce", nonce, "--ak", ak, "--pcr", "23", "--state-dir", t.TempDir()); code != ExitPolicy {
		t.Errorf("pcr 23 without --allow-resettable-pcr: exit %d", code)
	}
}

func TestAttestReconcileEvidence(t *testing.T) {
	ev, ak, nonce := recordedEvidence(t)
	adm := filepath.Join(t.TempDir(), "admitted.json")
	os.WriteFile(adm, []byte(`{"apiVersion":"credence.dev/v1alpha1","kind":"AdmittedWorkloads","workloads":[
		{"podUID":"uid-0","container":"app","privileged":false},
		{"podUID":"uid-1","container":"app","privileged":true},
		{"podUID":"uid-9","container":"app"}]}`), 0o644)
	out, _, code := run(t, "attest", "reconcile", "--evidence", ev, "--nonce", nonce, "--ak", ak, "--pcr", "23", "--allow-resettable-pcr", "--admitted", adm, "--state-dir", t.TempDir())
	if code != ExitPolicy {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"matched", "drift", "ran-but-not-admitted", "admitted-but-not-run", "privileged: admitted true, ran false"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
}

func TestAttestExportCEL(t *testing.T) {
	root := testutil.RepoRoot(t)
	out, errOut, code := run(t, "attest", "export-cel", "--log", filepath.Join(root, "attest", "testdata", "log.jsonl"))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want, _ := os.ReadFile(filepath.Join(root, "attest", "testdata", "log.cel"))
	if !bytes.Equal([]byte(out), want) {
		t.Error("export-cel differs from attest/testdata/log.cel")
	}
}

func TestAgentAttestUsage(t *testing.T) {
	ev, ak, nonce := recordedEvidence(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"attest", "verify", "--evidence", ev, "--nonce", nonce}, "--ak is required"},
		{[]string{"attest", "verify", "--ak", ak}, "give exactly one of --agent and --evidence"},
		{[]string{"attest", "verify", "--evidence", ev, "--ak", ak}, "--evidence needs --nonce"},
		{[]string{"attest", "verify", "--agent", "/nonexistent.sock", "--nonce", nonce, "--ak", ak}, "--nonce goes with --evidence"},
		{[]string{"attest", "reconcile", "--evidence", ev, "--nonce", nonce, "--ak", ak}, "--admitted is required"},
		{[]string{"attest", "verify", "extra"}, "unknown command"},
		{[]string{"agent", "install-hook"}, "give exactly one of --hooks-dir and --spec"},
		{[]string{"agent", "install-hook", "--hooks-dir", t.TempDir(), "--binary", "credence"}, "must be an absolute path"},
		{[]string{"agent", "quote", "--nonce", "zz"}, "--nonce must be"},
		{[]string{"agent", "run", "--ak-handle", "nope"}, "--ak-handle"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errOut, code := run(t, tc.args...)
			if code != ExitError || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q, want 2 and %q", code, errOut, tc.want)
			}
		})
	}
	// A verifier against an agent that is not there: one line, exit 2.
	_, errOut, code := run(t, "attest", "verify", "--agent", filepath.Join(t.TempDir(), "none.sock"), "--ak", ak)
	if code != ExitError || strings.Count(errOut, "\n") > 2 {
		t.Errorf("no agent: exit %d %q", code, errOut)
	}
}

// TestAttestReconcileSignedRecord: the same admissions as above, as the
// webhook's signed record; verified with its public key, refused when
// tampered with, without the key, or unsigned with the key.
func TestAttestReconcileSignedRecord(t *testing.T) {
	ev, ak, nonce := recordedEvidence(t)
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	rec := filepath.Join(dir, "record.jsonl")
	w, err := attest.OpenRecord(rec, key)
	if err != nil {
		t.Fatal(err)
	}
	f := false
	tr := true
	for _, a := range []attest.AdmittedWorkload{{PodUID: "uid-0", Container: "app", Privileged: &f}, {PodUID: "uid-1", Container: "app", Privileged: &tr}, {PodUID: "uid-9", Container: "app"}} {
		if _, err := w.Append(map[string]string{"outcome": "allow"}, []attest.AdmittedWorkload{a}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	der, _ := x509.MarshalPKIXPublicKey(key.Public())
	pub := filepath.Join(dir, "webhook.pub")
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	args := func(extra ...string) []string {
		return append([]string{"attest", "reconcile", "--evidence", ev, "--nonce", nonce, "--ak", ak, "--pcr", "23", "--allow-resettable-pcr", "--state-dir", t.TempDir()}, extra...)
	}
	out, errOut, code := run(t, args("--admitted", rec, "--admitted-key", pub)...)
	if code != ExitPolicy {
		t.Fatalf("exit %d, want 1: %s", code, errOut)
	}
	for _, want := range []string{"matched", "drift", "ran-but-not-admitted", "admitted-but-not-run", "privileged: admitted true, ran false"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	b, _ := os.ReadFile(rec)
	bad := filepath.Join(dir, "tampered.jsonl")
	os.WriteFile(bad, bytes.Replace(b, []byte(`"privileged":true`), []byte(`"privileged":false`), 1), 0o644)
	legacy := filepath.Join(dir, "admitted.json")
	os.WriteFile(legacy, []byte(`{"apiVersion":"credence.dev/v1alpha1","kind":"AdmittedWorkloads","workloads":[{"podUID":"uid-0","container":"app"}]}`), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{args("--admitted", bad, "--admitted-key", pub), "line 2: the signature does not verify"},
		{args("--admitted", rec), "give the webhook's public key (--admitted-key)"},
		{args("--admitted", legacy, "--admitted-key", pub), "refusing an unsigned file"},
		{args("--admitted", rec, "--admitted-key", legacy), "--admitted-key"},
	} {
		_, errOut, code := run(t, c.args...)
		if code != ExitError || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args[len(c.args)-3:], code, errOut, c.want)
		}
	}
}

package admission_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/admission"
	"github.com/credence-dev/credence/provenance"
)

// TestDecisions: a signed image is allowed, an unsigned one denied with the
// failed step, a privileged pod denied by Pod Security, a warn-mode rule
// warns, and an exempted image costs no registry call at all.
func TestDecisions(t *testing.T) {
	f := newRegistry(t)
	h, _ := newHandler(t, compile(t, signedPolicy), admission.WithVerdicts(f.verdicts(t)),
		admission.WithResolver(admission.NewRegistryResolver(0, remote.WithAuthFromKeychain(authn.NewMultiKeychain()))))

	if r := admit(t, h, pod("web", f.signed.String())); !r.Allowed || len(r.Warnings) != 0 {
		t.Errorf("signed image: allowed %v, warnings %v, %s", r.Allowed, r.Warnings, message(r))
	}
	// By tag: resolved in the registry, then verified.
	if r := admit(t, h, pod("web-tag", f.signed.Context().Tag("1").String())); !r.Allowed {
		t.Errorf("signed image by tag: %s", message(r))
	}
	r := admit(t, h, pod("api", f.unsigned.String()))
	if r.Allowed || r.Result.Code != 403 || !strings.Contains(message(r), "credence-signed@v1/signed") || !strings.Contains(message(r), "unsigned (no-signature)") {
		t.Errorf("unsigned image: allowed %v, %v", r.Allowed, r.Result)
	}
	priv := pod("priv", f.signed.String())
	yes := true
	priv.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
	if r := admit(t, h, priv); r.Allowed || !strings.Contains(message(r), "pod-security-baseline") || !strings.Contains(message(r), "privileged") {
		t.Errorf("privileged pod: allowed %v, %s", r.Allowed, message(r))
	}
	before := f.calls.Load()
	if r := admit(t, h, pod("vendor", "vendor.example/agent:7")); !r.Allowed {
		t.Errorf("exempted image: %s", message(r))
	}
	if n := f.calls.Load() - before; n != 0 {
		t.Errorf("an exempted image cost %d registry calls, want 0", n)
	}

	warn := strings.Replace(signedPolicy, "    - name: credence-signed@v1\n", "    - name: credence-signed@v1\n      mode: warn\n", 1)
	hw, _ := newHandler(t, compile(t, warn), admission.WithVerdicts(f.verdicts(t)))
	r = admit(t, hw, pod("api", f.unsigned.String()))
	if !r.Allowed || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "credence: credence-signed@v1/signed: image") {
		t.Errorf("warn mode: allowed %v, warnings %q", r.Allowed, r.Warnings)
	}
}

// TestPolicyChangeSeenAtOnce is the kyverno #17173 regression: the verdict
// is cached, the policy is not; a new policy decides the next request
// while the verdict still comes from the cache.
func TestPolicyChangeSeenAtOnce(t *testing.T) {
	f := newRegistry(t)
	vc := f.verdicts(t)
	h, p := newHandler(t, compile(t, signedPolicy), admission.WithVerdicts(vc))
	if r := admit(t, h, pod("web", f.signed.String())); !r.Allowed {
		t.Fatalf("first: %s", message(r))
	}
	// Only authority "security" may sign now: the cached verdict (signed
	// by "release") no longer passes.
	p.Set(compile(t, strings.Replace(signedPolicy, "    - name: credence-signed@v1\n", "    - name: credence-signed@v1\n      parameters: {authorities: [security]}\n", 1)))
	calls := f.calls.Load()
	r := admit(t, h, pod("web", f.signed.String()))
	if r.Allowed || !strings.Contains(message(r), "signed by authority release, not by one of security") {
		t.Errorf("after the policy change: allowed %v, %s", r.Allowed, message(r))
	}
	if st := vc.Stats(); st.Verifications != 1 || st.Hits != 1 || f.calls.Load() != calls {
		t.Errorf("the second request must be a cache hit with no registry call: %+v, %d calls", st, f.calls.Load()-calls)
	}
}

// TestTransientRetried is the kyverno #9503 rule: a registry failure is an
// error (the policy's failure mode decides), never cached as unverified;
// the next request verifies again and succeeds.
func TestTransientRetried(t *testing.T) {
	f := newRegistry(t)
	vc := f.verdicts(t)
	h, _ := newHandler(t, compile(t, signedPolicy), admission.WithVerdicts(vc))
	f.failing.Store(true)
	r := admit(t, h, pod("web", f.signed.String()))
	if r.Allowed || !strings.Contains(message(r), "cannot tell yet (a check could not complete)") {
		t.Errorf("registry down, fail-closed: allowed %v, %s", r.Allowed, message(r))
	}
	f.failing.Store(false)
	if r := admit(t, h, pod("web", f.signed.String())); !r.Allowed {
		t.Errorf("registry back: %s", message(r))
	}
	if st := vc.Stats(); st.Verifications != 2 || st.Hits != 0 || st.Cached != 1 {
		t.Errorf("stats %+v: want 2 verifications, no hit, 1 cached (the success only)", st)
	}
	// fail-open: the same outage warns instead of denying, never a silent allow.
	open := strings.Replace(signedPolicy, "spec:\n", "spec:\n  failureMode: fail-open\n", 1)
	ho, _ := newHandler(t, compile(t, open), admission.WithVerdicts(f.verdicts(t)))
	f.failing.Store(true)
	r = admit(t, ho, pod("web", f.signed.String()))
	if !r.Allowed || len(r.Warnings) == 0 || !strings.Contains(r.Warnings[0], "cannot tell yet") {
		t.Errorf("registry down, fail-open: allowed %v, warnings %v", r.Allowed, r.Warnings)
	}
}

// TestCoalesced is kyverno #16657: eight containers with one image, and
// twenty pods arriving together, cost one verification.
func TestCoalesced(t *testing.T) {
	f := newRegistry(t)
	vc := f.verdicts(t)
	h, _ := newHandler(t, compile(t, signedPolicy), admission.WithVerdicts(vc))
	f.stall.Store(20) // every registry request takes 20 ms: the requests overlap
	imgs := make([]string, 8)
	for i := range imgs {
		imgs[i] = f.signed.String()
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := admit(t, h, pod("web", imgs...)); !r.Allowed {
				t.Errorf("pod %d: %s", i, message(r))
			}
		}()
	}
	wg.Wait()
	st := vc.Stats()
	if st.Verifications != 1 {
		t.Errorf("20 pods × 8 containers of one image: %d verifications, want 1 (%+v)", st.Verifications, st)
	}
}

// TestColdMissDeadline: a registry that stalls longer than the API
// server's timeout makes the answer come back within the timeout (a
// transient error under the failure mode), and the verification goes on so
// that the retry is a cache hit.
func TestColdMissDeadline(t *testing.T) {
	f := newRegistry(t)
	vc := f.verdicts(t)
	h, _ := newHandler(t, compile(t, signedPolicy), admission.WithVerdicts(vc))
	f.stall.Store(400)
	// (No wall-time assertion: the answer carries the deadline verdict,
	// which only the handler's own cut below ?timeout= produces.)
	code, r, body := post(t, h, reviewOf(t, admissionv1.Create, pod("web", f.signed.String()), nil), "?timeout=1s")
	if code != 200 {
		t.Fatalf("HTTP %d %s", code, body)
	}
	if r.Allowed || !strings.Contains(message(r), "did not finish before the admission deadline") {
		t.Errorf("cold miss past the deadline: allowed %v, %s", r.Allowed, message(r))
	}
	f.stall.Store(0)
	deadline := time.Now().Add(10 * time.Second)
	for vc.Stats().Cached == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if r := admit(t, h, pod("web", f.signed.String())); !r.Allowed {
		t.Errorf("retry: %s", message(r))
	}
	if st := vc.Stats(); st.Verifications != 1 || st.Hits != 1 {
		t.Errorf("the background verification must serve the retry: %+v", st)
	}
}

// TestNegativeTTL: an unsigned verdict is kept briefly, then verified
// again (the image may have been signed since).
func TestNegativeTTL(t *testing.T) {
	f := newRegistry(t)
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	vc := f.verdicts(t, admission.WithNegativeTTL(30*time.Second), admission.WithVerdictClock(clock))
	h, _ := newHandler(t, compile(t, signedPolicy), admission.WithVerdicts(vc))
	for i := 0; i < 2; i++ {
		if r := admit(t, h, pod("api", f.unsigned.String())); r.Allowed {
			t.Fatal("unsigned admitted")
		}
	}
	if st := vc.Stats(); st.Verifications != 1 || st.Hits != 1 {
		t.Fatalf("within the TTL: %+v", st)
	}
	mu.Lock()
	now = now.Add(31 * time.Second)
	mu.Unlock()
	admit(t, h, pod("api", f.unsigned.String()))
	if st := vc.Stats(); st.Verifications != 2 {
		t.Fatalf("after the TTL the verdict must be made again: %+v", st)
	}
}

// TestVerdictKey: the key names the image, the trust root and the
// authorities; a verdict made under other authorities is never served.
func TestVerdictKey(t *testing.T) {
	f := newRegistry(t)
	a := f.verdicts(t)
	other, _ := provenance.NewKeyAuthority("other", f.prov2Keys(t), provenance.WithoutTransparencyLogUnsafe())
	p2, _ := provenance.NewPolicy(provenance.WithAuthority(other))
	b, err := admission.NewVerdictCache(f.verifier, f.trust, p2)
	if err != nil {
		t.Fatal(err)
	}
	ka, kb := a.Key(f.signed.String()), b.Key(f.signed.String())
	if ka.Image != kb.Image || ka.Trust != kb.Trust || ka.Authorities == kb.Authorities {
		t.Fatalf("keys %+v %+v: same image and trust, other authorities", ka, kb)
	}
}

func (f *registryFixture) prov2Keys(t *testing.T) []provenance.PublicKey {
	pub, err := provenance.ParsePublicKey(f.key.PublicPEM())
	if err != nil {
		t.Fatal(err)
	}
	return []provenance.PublicKey{pub}
}

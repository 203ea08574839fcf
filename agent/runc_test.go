package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/internal/swtpmtest"
	"github.com/credence-dev/credence/internal/testutil"
)

// requireRunc skips loudly unless this test can start real containers.
func requireRunc(t testing.TB) (runc, busybox string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testutil.NeedComponent(t, "root", "runc tests start real containers: run them as root")
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		testutil.NeedComponent(t, "runc", "run scripts/setup.d/00-apt.sh as root (apt package runc)")
	}
	for _, p := range []string{"/usr/bin/busybox", "/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			busybox = p
		}
	}
	if busybox == "" {
		testutil.NeedComponent(t, "busybox", "run scripts/setup.d/00-apt.sh as root (apt package busybox-static)")
	}
	probeOnce.Do(func() { probeErr = probeRunc(busybox) })
	if probeErr != nil {
		testutil.NeedComponent(t, "a machine where runc starts containers", fmt.Sprintf("runc cannot start a container here, even without credence's hook: %v", probeErr))
	}
	return runc, busybox
}

var (
	probeOnce sync.Once
	probeErr  error
)

// probeRunc starts one busybox container without any hook: if that fails,
// the machine (not credence) keeps runc from working.
func probeRunc(busybox string) error {
	dir, err := os.MkdirTemp("", "runc-probe")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bundle := filepath.Join(dir, "bundle")
	if err := os.MkdirAll(filepath.Join(bundle, "rootfs", "bin"), 0o755); err != nil {
		return err
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "bin", "true"), b, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		return fmt.Errorf("runc spec: %v: %s", err, out)
	}
	cfg := filepath.Join(bundle, "config.json")
	raw, _ := os.ReadFile(cfg)
	raw = bytes.Replace(raw, []byte(`"terminal": true`), []byte(`"terminal": false`), 1)
	raw = bytes.Replace(raw, []byte(`"sh"`), []byte(`"true"`), 1)
	if err := os.WriteFile(cfg, raw, 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "runc", "--root", filepath.Join(dir, "state"), "run", "--bundle", bundle, "probe").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

type container struct {
	id          string
	args        []string
	annotations map[string]string
	// edit changes the spec runc made before the hook is installed.
	edit func(spec map[string]any)
}

// Hooks a bundle can get.
const (
	noHook       = ""
	credenceHook = "credence agent hook" // the credence binary
)

// bundle builds a busybox bundle from runc's own default spec, then adds
// the hook with the real 'credence agent install-hook --spec'.
func (n *node) bundle(t testing.TB, c container, hook string) string {
	t.Helper()
	_, busybox := requireRunc(t)
	dir := filepath.Join(n.dir, "bundles", c.id)
	bin := filepath.Join(dir, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"sh", "echo", "cat", "true", "id"} {
		if err := os.Symlink("busybox", filepath.Join(bin, l)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("runc", "spec", "--bundle", dir).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v\n%s", err, out)
	}
	cfgPath := filepath.Join(dir, "config.json")
	raw, _ := os.ReadFile(cfgPath)
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = c.args
	if c.annotations != nil {
		spec["annotations"] = c.annotations
	}
	if c.edit != nil {
		c.edit(spec)
	}
	raw, _ = json.MarshalIndent(spec, "", "\t")
	if err := os.WriteFile(cfgPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if hook != noHook {
		bin := nodeBinary(t)
		if out, code := runCLI(t, "agent", "install-hook", "--spec", cfgPath, "--binary", bin, "--socket", n.socket); code != 0 {
			t.Fatalf("install-hook: exit %d: %s", code, out)
		}
	}
	return dir
}

// run starts the container with runc run and returns its output.
func (n *node) run(t testing.TB, bundle, id string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runc", "--root", filepath.Join(n.dir, "runc"), "run", "--bundle", bundle, id)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// capBits numbers the capabilities allCaps grants (linux/capability.h).
var capBits = map[string]uint{"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
	"CAP_FSETID": 4, "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_BIND_SERVICE": 10,
	"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_IPC_LOCK": 14, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17,
	"CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
	"CAP_SYS_RESOURCE": 24, "CAP_MKNOD": 27, "CAP_AUDIT_WRITE": 29, "CAP_SETFCAP": 31, "CAP_SYSLOG": 34}

// boundingCaps are the capabilities of capBits this process may grant.
func boundingCaps() []string {
	status, _ := os.ReadFile("/proc/self/status")
	var bnd uint64
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			fmt.Sscanf(strings.TrimSpace(v), "%x", &bnd)
		}
	}
	var caps []string
	for c, bit := range capBits {
		if bnd&(1<<bit) != 0 {
			caps = append(caps, c)
		}
	}
	slices.Sort(caps)
	return caps
}

func allCaps(spec map[string]any) {
	caps := boundingCaps()
	proc := spec["process"].(map[string]any)
	proc["capabilities"] = map[string]any{"bounding": caps, "effective": caps, "permitted": caps}
	linux := spec["linux"].(map[string]any)
	delete(linux, "maskedPaths")
	delete(linux, "readonlyPaths")
	// Share the host's network namespace.
	var ns []any
	for _, n := range linux["namespaces"].([]any) {
		if n.(map[string]any)["type"] != "network" {
			ns = append(ns, n)
		}
	}
	linux["namespaces"] = ns
}

const (
	podUID   = "6f1c2a4e-1111-4222-8333-944455556666"
	toolsUID = "0d7e4c1b-aaaa-4bbb-8ccc-dddd00001111"
)

var imageDigest = "sha256:" + strings.Repeat("ab", 32)

// TestRuncHookMeasuresAndVerifies runs real containers with runc and the
// hook, then verifies the node with the real CLI and checks each record
// against ground truth: the containers' output, config.json and busybox on disk.
func TestRuncHookMeasuresAndVerifies(t *testing.T) {
	_, busybox := requireRunc(t)
	n := startNode(t)
	cs := []container{
		{id: "plain", args: []string{"echo", "hello from plain"}},
		{id: "web", args: []string{"sh", "-c", "echo hello from web"}, annotations: map[string]string{
			"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.container-name": "web",
			"io.kubernetes.cri.sandbox-uid": podUID, "io.kubernetes.cri.sandbox-name": "web-0",
			"io.kubernetes.cri.sandbox-namespace": "shop", "io.kubernetes.cri.image-name": "registry.example/shop/web@" + imageDigest,
		}},
		{id: "tools", args: []string{"id", "-u"}, annotations: map[string]string{
			"io.kubernetes.cri.container-name": "tools", "io.kubernetes.cri.sandbox-uid": toolsUID,
			"io.kubernetes.cri.sandbox-name": "tools-0", "io.kubernetes.cri.sandbox-namespace": "ops",
		}, edit: allCaps},
	}
	configs := map[string][]byte{}
	for _, c := range cs {
		b := n.bundle(t, c, credenceHook)
		configs[c.id], _ = os.ReadFile(filepath.Join(b, "config.json"))
		out, err := n.run(t, b, c.id)
		if err != nil {
			t.Fatalf("runc run %s: %v\n%s", c.id, err, out)
		}
		t.Logf("%s: %s", c.id, strings.TrimSpace(out))
	}

	// Enroll the AK and verify with the CLI, as an operator would.
	akJSON, code := runCLI(t, "agent", "ak", "--socket", n.socket, "-o", "json")
	if code != 0 {
		t.Fatal("agent ak failed")
	}
	akFile := filepath.Join(n.dir, "node.ak.json")
	os.WriteFile(akFile, akJSON, 0o644)
	out, code := runCLI(t, "attest", "verify", "--agent", n.socket, "--ak", akFile, "--pcr", "23", "--allow-resettable-pcr", "-o", "json")
	res := decodeJSON[attest.Result](t, out)
	if code != 0 || res.Verdict != attest.Verified {
		t.Fatalf("verify: exit %d verdict %s: %v", code, res.Verdict, res.Reasons)
	}
	if len(res.Containers) != len(cs) {
		t.Fatalf("%d container starts, want %d", len(res.Containers), len(cs))
	}
	bb, _ := os.ReadFile(busybox)
	for i, c := range cs {
		got := res.Containers[i]
		if got.Verdict != attest.Verified || got.Start.ContainerID != c.id {
			t.Errorf("container %d: %s %s, want verified %s", i, got.Verdict, got.Start.ContainerID, c.id)
			continue
		}
		s := got.Start
		if !slices.Equal(s.Process.Args, c.args) || s.ConfigJSONDigest != attest.SHA256Digest(configs[c.id]) {
			t.Errorf("%s: args %q config %s", c.id, s.Process.Args, s.ConfigJSONDigest)
		}
		if s.Process.Entrypoint == nil || s.Process.Entrypoint.Digest != attest.SHA256Digest(bb) {
			t.Errorf("%s: entrypoint %+v, want busybox %s", c.id, s.Process.Entrypoint, attest.SHA256Digest(bb))
		}
	}
	if p := res.Containers[1].Start.Pod; p == nil || p.UID != podUID || p.Namespace != "shop" {
		t.Errorf("web's pod: %+v", p)
	}
	tools := res.Containers[2].Start
	wantPriv := true // unless this sandbox lacks a capability the heuristic needs
	for _, c := range []string{"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_PTRACE", "CAP_NET_ADMIN", "CAP_DAC_READ_SEARCH", "CAP_SYS_BOOT", "CAP_SYSLOG"} {
		wantPriv = wantPriv && slices.Contains(boundingCaps(), c)
	}
	if *tools.Privileged != wantPriv || !slices.Contains(tools.HostNamespaces, "network") {
		t.Errorf("tools: privileged %v (want %v) host namespaces %v", *tools.Privileged, wantPriv, tools.HostNamespaces)
	}
	if tbl, code := runCLI(t, "attest", "verify", "--agent", n.socket, "--ak", akFile, "--pcr", "23", "--allow-resettable-pcr"); code != 0 || !bytes.Contains(tbl, []byte("hello from plain")) {
		t.Errorf("table output (exit %d):\n%s", code, tbl)
	}

	t.Run("production PCR policy refuses 23", func(t *testing.T) {
		_, code := runCLI(t, "attest", "verify", "--agent", n.socket, "--ak", akFile, "--pcr", "23")
		if code != 1 {
			t.Errorf("exit %d, want 1 (pcr-resettable)", code)
		}
	})

	t.Run("an edited log on disk", func(t *testing.T) {
		nonce := strings.Repeat("ab", 32)
		ev, code := runCLI(t, "agent", "quote", "--socket", n.socket, "--nonce", nonce)
		if code != 0 {
			t.Fatal("agent quote failed")
		}
		evFile := filepath.Join(n.dir, "ev.json")
		os.WriteFile(evFile, ev, 0o644)
		log, _ := os.ReadFile(n.svc.LogPath())
		edited := bytes.Replace(log, []byte(`hello from web`), []byte(`hello from evil`), 1)
		if bytes.Equal(edited, log) {
			t.Fatal("the edit did not apply")
		}
		logFile := filepath.Join(n.dir, "edited.jsonl")
		os.WriteFile(logFile, edited, 0o644)
		out, code := runCLI(t, "attest", "verify", "--evidence", evFile, "--nonce", nonce, "--log", logFile,
			"--ak", akFile, "--pcr", "23", "--allow-resettable-pcr", "-o", "json")
		res := decodeJSON[attest.Result](t, out)
		if code != 1 || !slices.ContainsFunc(res.Reasons, func(r attest.Reason) bool { return r.Code == attest.ReasonContentDigest }) {
			t.Fatalf("exit %d reasons %v", code, res.Reasons)
		}
		if res.Containers[1].Verdict != attest.Invalid {
			t.Errorf("the edited start is %s", res.Containers[1].Verdict)
		}
	})

	t.Run("reconcile", func(t *testing.T) {
		f := false
		adm := attest.Admitted{APIVersion: attest.AdmittedAPIVersion, Kind: attest.AdmittedKind, Workloads: []attest.AdmittedWorkload{
			{PodUID: podUID, Namespace: "shop", Pod: "web-0", Container: "web", ImageDigest: imageDigest,
				ArgsDigest: attest.ArgsDigest(cs[1].args), Privileged: &f, HostNetwork: &f},
			{PodUID: toolsUID, Namespace: "ops", Pod: "tools-0", Container: "tools", Privileged: &f},
			{PodUID: "never-ran", Namespace: "shop", Pod: "web-1", Container: "web"},
		}}
		b, _ := json.Marshal(adm)
		admFile := filepath.Join(n.dir, "admitted.json")
		os.WriteFile(admFile, b, 0o644)
		out, code := runCLI(t, "attest", "reconcile", "--agent", n.socket, "--ak", akFile, "--pcr", "23",
			"--allow-resettable-pcr", "--admitted", admFile, "-o", "json")
		if code != 1 {
			t.Errorf("exit %d, want 1 (drift and a start without admission)", code)
		}
		got := decodeJSON[struct {
			Reconciliation attest.Reconciliation `json:"reconciliation"`
		}](t, out).Reconciliation
		var classes []string
		for _, e := range got.Entries {
			classes = append(classes, fmt.Sprintf("%s %s/%s", e.Class, e.Pod, e.Container))
		}
		want := []string{"ran-but-not-admitted /", "matched web-0/web", "drift tools-0/tools", "admitted-but-not-run web-1/web"}
		if !slices.Equal(classes, want) {
			t.Errorf("classes\n got %q\nwant %q", classes, want)
		}
	})
}

// TestRuncRefusedWhenTPMUnreachable: with the TPM cut off, runc refuses
// the container (the hook fails), nothing is logged, and once the TPM is
// back the log still replays and verifies.
func TestRuncRefusedWhenTPMUnreachable(t *testing.T) {
	requireRunc(t)
	n := startNode(t)
	ok1 := n.bundle(t, container{id: "before", args: []string{"echo", "before"}}, credenceHook)
	if out, err := n.run(t, ok1, "before"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	before := n.replays(t)

	n.proxy.cut()
	refused := n.bundle(t, container{id: "refused", args: []string{"echo", "SHOULD NOT RUN"}}, credenceHook)
	out, err := n.run(t, refused, "refused")
	if err == nil || strings.Contains(out, "SHOULD NOT RUN") {
		t.Fatalf("the container ran with the TPM unreachable (err %v):\n%s", err, out)
	}
	if !strings.Contains(out, "hook") {
		t.Errorf("runc's error does not name the hook:\n%s", out)
	}
	t.Logf("runc refused: %s", strings.TrimSpace(out))

	if err := n.proxy.restore(); err != nil {
		t.Fatal(err)
	}
	if got := n.replays(t); got != before {
		t.Errorf("the log has %d records after the refusal, had %d", got, before)
	}
	ok2 := n.bundle(t, container{id: "after", args: []string{"echo", "after"}}, credenceHook)
	if out, err := n.run(t, ok2, "after"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	res := n.verify(t)
	var ids []string
	for _, c := range res.Containers {
		if c.Verdict != attest.Verified {
			t.Errorf("%s: %s %v", c.Start.ContainerID, c.Verdict, c.Reasons)
		}
		ids = append(ids, c.Start.ContainerID)
	}
	if res.Verdict != attest.Verified || !slices.Equal(ids, []string{"before", "after"}) {
		t.Fatalf("verdict %s, containers %v: %v", res.Verdict, ids, res.Reasons)
	}
}

// TestRuncRefusedWhenAgentDown: no agent, no container.
func TestRuncRefusedWhenAgentDown(t *testing.T) {
	requireRunc(t)
	n := startNode(t)
	b := n.bundle(t, container{id: "orphan", args: []string{"echo", "SHOULD NOT RUN"}}, credenceHook)
	n.stop()
	out, err := n.run(t, b, "orphan")
	if err == nil || strings.Contains(out, "SHOULD NOT RUN") {
		t.Fatalf("the container ran without an agent (err %v):\n%s", err, out)
	}
}

// TestAgentBinary runs the real `credence agent run --nri` as its own
// process (stopped by PID) on swtpm, starts a container through runc and
// the hook and another through an NRI runtime, and verifies both with the CLI.
func TestAgentBinary(t *testing.T) {
	requireRunc(t)
	sim := swtpmtest.Start(t)
	dir, err := os.MkdirTemp("", "agentbin")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	n := &node{dir: dir, socket: filepath.Join(dir, "agent.sock")}
	r := startRuntime(t, dir)
	cmd := exec.Command(nodeBinary(t), "agent", "run", "--tpm", sim.Addr(), "--log", filepath.Join(dir, "m.jsonl"),
		"--socket", n.socket, "--pcr", "23", "--nri", "--nri-socket", r.sock)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		t.Logf("agent stderr:\n%s", stderr.String())
	}()
	select {
	case <-r.plugins.ready:
	case <-time.After(15 * time.Second):
		t.Fatalf("the agent's NRI plugin did not register:\n%s", stderr.String())
	}
	if _, err := r.CreateContainer(context.Background(), createRequest(7)); err != nil {
		t.Fatal(err)
	}
	b := n.bundle(t, container{id: "via-hook", args: []string{"echo", "hi"}}, credenceHook)
	if out, err := n.run(t, b, "via-hook"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	akJSON, code := runCLI(t, "agent", "ak", "--socket", n.socket, "-o", "json")
	if code != 0 {
		t.Fatal("agent ak")
	}
	akFile := filepath.Join(dir, "ak.json")
	os.WriteFile(akFile, akJSON, 0o644)
	out, code := runCLI(t, "attest", "verify", "--agent", n.socket, "--ak", akFile, "--pcr", "23", "--allow-resettable-pcr", "-o", "json")
	res := decodeJSON[attest.Result](t, out)
	var got []string
	for _, c := range res.Containers {
		got = append(got, c.Verdict+" "+c.Start.Trigger+" "+c.Start.ContainerID)
	}
	want := []string{"verified nri ctr-7", "verified oci-hook via-hook"}
	if code != 0 || !slices.Equal(got, want) {
		t.Fatalf("exit %d: %q, want %q: %v", code, got, want, res.Reasons)
	}
}

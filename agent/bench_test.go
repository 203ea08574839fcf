package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/credence-dev/credence/agent"
	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/internal/swtpmtest"
)

// logSize is the measurement log's size now.
func (n *node) logSize(b *testing.B) int64 {
	fi, err := os.Stat(n.svc.LogPath())
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

// BenchmarkRuncStart is a whole `runc run` of busybox true, without a hook,
// and with `credence agent hook`: the difference is the latency the hook
// adds to a start.
//
//	go test -run '^$' -bench RuncStart -benchtime 100x ./agent/
func BenchmarkRuncStart(b *testing.B) {
	requireRunc(b)
	n := startNode(b)
	for _, hook := range []string{noHook, credenceHook} {
		name := map[string]string{noHook: "without-hook", credenceHook: "credence-agent-hook"}[hook]
		bundle := n.bundle(b, container{id: "bench-" + name, args: []string{"true"}}, hook)
		b.Run(name, func(b *testing.B) {
			before := n.logSize(b)
			cpu := swtpmtest.StartCPU()
			defer cpu.Report(b)
			for i := 0; b.Loop(); i++ {
				if out, err := n.run(b, bundle, fmt.Sprintf("%s-%d", name, i)); err != nil {
					b.Fatalf("%v\n%s", err, out)
				}
			}
			b.ReportMetric(float64(n.logSize(b)-before)/float64(b.N), "log-bytes/start")
		})
	}
}

// BenchmarkHookProcess runs the hook as runc does (state on stdin)
// for a real bundle, without runc: process start, config.json, the
// entrypoint hash, the agent round trip and the measurement.
//
//	go test -run '^$' -bench HookProcess -benchtime 200x ./agent/
func BenchmarkHookProcess(b *testing.B) {
	requireRunc(b) // for busybox and runc spec
	n := startNode(b)
	bundle := n.bundle(b, container{id: "hookbench", args: []string{"true"}}, noHook)
	for _, build := range []struct{ name, bin string }{{"node-build", nodeBinary(b)}, {"full-build", credenceBinary(b)}} {
		b.Run("credence-agent-hook/"+build.name, func(b *testing.B) {
			args := []string{build.bin, "agent", "hook", "--socket", n.socket}
			before := n.logSize(b)
			cpu := swtpmtest.StartCPU()
			defer cpu.Report(b)
			for i := 0; b.Loop(); i++ {
				state := fmt.Sprintf(`{"ociVersion":"1.0.2","id":"hook-%s-%d","status":"creating","pid":1,"bundle":%q}`, build.name, i, bundle)
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Stdin = bytes.NewReader([]byte(state))
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("%v\n%s", err, out)
				}
			}
			b.ReportMetric(float64(n.logSize(b)-before)/float64(b.N), "log-bytes/start")
		})
	}
}

// BenchmarkNRICreateContainer is one CreateContainer through an in-process
// NRI runtime adaptation: without a plugin, with credence's plugin as a
// separate client of the agent's socket, and with the plugin in the agent.
//
//	go test -run '^$' -bench NRICreateContainer -benchtime 500x ./agent/
func BenchmarkNRICreateContainer(b *testing.B) {
	for _, mode := range []string{"no-plugin", "external", "in-agent"} {
		b.Run(mode, func(b *testing.B) {
			n := startNode(b)
			r := startRuntime(b, n.dir)
			switch mode {
			case "external":
				connectPlugin(b, r, agent.NewClient(n.socket, 5*time.Second))
			case "in-agent":
				connectPlugin(b, r, n.svc)
			}
			before := n.logSize(b)
			cpu := swtpmtest.StartCPU()
			defer cpu.Report(b)
			for i := 0; b.Loop(); i++ {
				if _, err := r.CreateContainer(context.Background(), createRequest(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n.logSize(b)-before)/float64(b.N), "log-bytes/start")
		})
	}
}

// BenchmarkVerify10k verifies a node whose log holds 10,000 container
// starts built from a pod container's config.json (as containerd writes
// it), extended into a real swtpm and quoted once: "verify" is Verify
// (quote, replay, every content digest, per-start verdicts); "verify+decode"
// also decodes every container.start for the report (DecodeStarts).
//
//	go test -run '^$' -bench Verify10k -benchtime 20x ./agent/
func BenchmarkVerify10k(b *testing.B) {
	n := startNode(b)
	cfg, err := os.ReadFile("testdata/oci/containerd-pod.json")
	if err != nil {
		b.Fatal(err)
	}
	ev0, err := n.svc.Attest(context.Background(), make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	log := bytes.Clone(ev0.Log) // agent.start and separator
	recs, _ := attest.ReadLog(bytes.NewReader(log), 0)
	next := uint64(len(recs))
	const starts = 10_000
	for i := range starts {
		state := fmt.Sprintf(`{"ociVersion":"1.0.2","id":"c%05d","status":"creating","pid":1,"bundle":"/run/b/c%05d"}`, i, i)
		cs, err := agent.BuildOCI(&agent.OCIRequest{State: []byte(state), Config: cfg}, agent.EventOptions{})
		if err != nil {
			b.Fatal(err)
		}
		content, _ := attest.EncodeEvent(cs)
		rec, err := attest.NewRecord(next, testPCR, content)
		if err != nil {
			b.Fatal(err)
		}
		next++
		line, _ := rec.MarshalLine()
		log = append(log, line...)
		if err := n.tpm.Extend(testPCR, rec.Digests); err != nil {
			b.Fatal(err)
		}
	}
	nonce := bytes.Repeat([]byte{3}, 32)
	q, err := n.tpm.Quote(nonce, testPCR, attest.SHA256)
	if err != nil {
		b.Fatal(err)
	}
	ev := &attest.Evidence{AKPublic: n.tpm.AKPublic(), Quote: q, PCR: testPCR, Bank: attest.SHA256, Log: log}
	v, err := attest.NewVerifier(n.tpm.AKPublic(), attest.WithPCR(testPCR), attest.WithResettablePCRUnsafe())
	if err != nil {
		b.Fatal(err)
	}
	for _, decode := range []bool{false, true} {
		b.Run(map[bool]string{false: "verify", true: "verify+decode"}[decode], func(b *testing.B) {
			b.SetBytes(int64(len(log)))
			cpu := swtpmtest.StartCPU()
			defer cpu.Report(b)
			for b.Loop() {
				res, err := v.Verify(ev, nonce)
				if err != nil {
					b.Fatal(err)
				}
				if decode {
					res.DecodeStarts()
				}
				if res.Verdict != attest.Verified || len(res.Containers) != starts {
					b.Fatalf("verdict %s, %d containers: %v", res.Verdict, len(res.Containers), res.Reasons)
				}
			}
			b.ReportMetric(float64(len(log))/float64(starts), "log-bytes/start")
		})
	}
}

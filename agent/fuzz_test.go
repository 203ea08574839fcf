package agent_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/credence-dev/credence/agent"
	"github.com/credence-dev/credence/attest"
)

// FuzzBuildOCI feeds hostile states and config.json files to the event
// builder: it must refuse or produce an event that encodes and decodes.
func FuzzBuildOCI(f *testing.F) {
	for _, name := range []string{"runc-default", "containerd-pod", "privileged"} {
		cfg, err := os.ReadFile("testdata/oci/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(`{"ociVersion":"1.0.2","id":"x","status":"creating","bundle":"/b","annotations":{"io.kubernetes.cri.sandbox-uid":"u"}}`), cfg)
	}
	f.Fuzz(func(t *testing.T, state, cfg []byte) {
		ev, err := agent.BuildOCI(&agent.OCIRequest{State: json.RawMessage(state), Config: cfg}, fixedClock)
		if err != nil {
			return
		}
		b, err := attest.EncodeEvent(ev)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		if _, err := attest.NewRecord(0, 13, b); err != nil {
			t.Fatalf("a built event is not a record: %v", err)
		}
		if _, err := attest.DecodeEvent(b); err != nil {
			t.Fatalf("decode: %v\n%s", err, b)
		}
	})
}

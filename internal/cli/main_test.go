package cli

import (
	"os"
	"testing"
)

// TestMain keeps the tests' verifier state (attest's nonces) out of the
// user's state directory.
func TestMain(m *testing.M) {
	state, err := os.MkdirTemp("", "credence-state")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", state)
	code := m.Run()
	os.RemoveAll(state)
	os.Exit(code)
}

//go:build !node && !scan

package cli

import (
	"os"
	"testing"
)

// asCredence makes the test binary run as the credence command: the shell
// completion test puts it on PATH as "credence".
const asCredence = "CREDENCE_TEST_AS_CLI"

// TestMain keeps the tests' verifier state (attest's nonces) out of the
// user's state directory, and runs the test binary as credence itself when
// a test asks for it.
func TestMain(m *testing.M) {
	if os.Getenv(asCredence) != "" {
		os.Exit(Execute(os.Args[1:], os.Stdout, os.Stderr))
	}
	state, err := os.MkdirTemp("", "credence-state")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_STATE_HOME", state)
	code := m.Run()
	os.RemoveAll(state)
	os.Exit(code)
}

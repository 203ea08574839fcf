package attest

import (
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// UnrestrictedForTest returns ak's public area with the restricted bit cleared.
func UnrestrictedForTest(t testing.TB, ak *AK) []byte {
	t.Helper()
	p := *ak.pub
	p.ObjectAttributes.Restricted = false
	return tpm2.Marshal(p)
}

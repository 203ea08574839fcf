package attest

import (
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
)

// UnrestrictedForTest returns ak's public area with the restricted bit cleared.
func UnrestrictedForTest(t testing.TB, ak *AK) []byte {
	t.Helper()
	p := *ak.pub
	p.ObjectAttributes.Restricted = false
	return tpm2.Marshal(p)
}

// NonceClockForTest makes a nonce store read time from now.
func NonceClockForTest(now func() time.Time) NonceOption {
	return func(o *nonceOptions) { o.now = now }
}

// MaxNoncesForTest lowers the store's bound on entries.
func MaxNoncesForTest(n int) NonceOption {
	return func(o *nonceOptions) { o.max = n }
}

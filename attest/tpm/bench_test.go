package tpm_test

import (
	"crypto/sha256"
	"testing"

	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/internal/swtpmtest"
)

// Latency of the TPM commands a measurement and a verification use, over
// credence's raw transport to a swtpm unix socket.
//
//	go test -run '^$' -bench . -benchtime 2000x ./attest/tpm/
func BenchmarkExtend(b *testing.B) {
	tp := open(b, swtpmtest.Start(b))
	d := sha256.Sum256([]byte("x"))
	digests := []attest.Digest{{HashAlg: attest.SHA256, Digest: d[:]}}
	b.ResetTimer()
	for b.Loop() {
		if err := tp.Extend(testPCR, digests); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadPCR(b *testing.B) {
	tp := open(b, swtpmtest.Start(b))
	for b.Loop() {
		if _, err := tp.ReadPCR(testPCR, attest.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQuote(b *testing.B) {
	tp := open(b, swtpmtest.Start(b))
	nonce := make([]byte, 32)
	for b.Loop() {
		if _, err := tp.Quote(nonce, testPCR, attest.SHA256); err != nil {
			b.Fatal(err)
		}
	}
}

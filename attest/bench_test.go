package attest_test

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/credence-dev/credence/attest"
)

// BenchmarkAppend is one measurement by the log writer: read the PCR,
// append and fsync the record, extend (swtpm, the test's temp dir).
//
//	go test -run '^$' -bench Append -benchtime 500x ./attest/
func BenchmarkAppend(b *testing.B) {
	n := newNode(b)
	n.start(b, "boot")
	for i := 0; b.Loop(); i++ {
		n.append(b, containerStart(i))
	}
}

// BenchmarkNonceDir is what the state directory costs one verifier run in
// --evidence mode (read, check, rewrite and fsync nonces.json under the
// lock), with the store already holding entries from earlier runs.
//
//	go test -run '^$' -bench NonceDir ./attest/
func BenchmarkNonceDir(b *testing.B) {
	for _, held := range []int{0, 1_000, 10_000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			nonce := func(i int) []byte {
				n := make([]byte, attest.NonceSize)
				binary.BigEndian.PutUint64(n, uint64(i)+1)
				return n
			}
			// Earlier runs' answers, written as the store writes them.
			used := map[string]time.Time{}
			for i := range held {
				used[hex.EncodeToString(nonce(i))] = time.Now().Add(time.Hour)
			}
			state, _ := json.Marshal(map[string]any{"version": 1, "issued": map[string]time.Time{}, "used": used})
			dir := b.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "nonces.json"), state, 0o600); err != nil {
				b.Fatal(err)
			}
			d, err := attest.OpenNonceDir(dir, attest.WithCallerNonces())
			if err != nil {
				b.Fatal(err)
			}
			if used, err := d.Used(nonce(0)); held > 0 && !used {
				b.Fatalf("the held answers are not in the store: %v", err)
			}
			for i := held; b.Loop(); i++ {
				if err := d.Consume(nonce(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package attest_test

import (
	"testing"
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

package image

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// A readahead hands over what its source holds, in order, then io.EOF on
// every later Read: bufio.Reader reads again after an end it has reported,
// and the blob read-ahead sits under one.
func TestReadaheadAfterEnd(t *testing.T) {
	src := bytes.Repeat([]byte("0123456789abcdef"), readaheadSize/16*3+7) // three buffers and a bit
	r := newReadahead(bytes.NewReader(src), readaheadStages{})
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, src) {
		t.Fatalf("read %d bytes (err %v), want the %d of the source", len(got), err, len(src))
	}
	for range 3 {
		if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("Read after the end = %d, %v; want 0, io.EOF", n, err)
		}
		if n, err := r.skip(10); n != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("skip after the end = %d, %v; want 0, io.EOF", n, err)
		}
	}
}

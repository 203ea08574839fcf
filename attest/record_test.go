package attest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/internal/testutil"
)

func TestLineKeepsExactContentBytes(t *testing.T) {
	for _, content := range []string{
		`{"type":"separator","epoch":1}`,
		`{"type":"container.start","a":"<script>&amp;","b":"\u2028 é 💥"}`,
		`{ "spaced" : [1, 2,3] }`, // not ours, but kept as written
	} {
		rec, err := attest.NewRecord(7, 13, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		line, err := rec.MarshalLine()
		if err != nil {
			t.Fatal(err)
		}
		got, err := attest.UnmarshalLine(line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if diff := cmp.Diff(rec, got); diff != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", content, diff)
		}
	}
}

func TestUnmarshalLineRejects(t *testing.T) {
	good := `{"recnum":1,"pcr":13,"digests":[{"hashAlg":"sha256","digest":"` + strings.Repeat("ab", 32) + `"}],"content_type":"credence","content":{"type":"separator"}}`
	tests := []struct{ name, line string }{
		{"empty", ``},
		{"not json", `{"recnum":`},
		{"unknown field", strings.Replace(good, `"recnum":1`, `"recnum":1,"extra":2`, 1)},
		{"no recnum", strings.Replace(good, `"recnum":1,`, ``, 1)},
		{"negative pcr", strings.Replace(good, `"pcr":13`, `"pcr":-1`, 1)},
		{"pcr 24", strings.Replace(good, `"pcr":13`, `"pcr":24`, 1)},
		{"short digest", strings.Replace(good, strings.Repeat("ab", 32), "abab", 1)},
		{"unknown bank", strings.Replace(good, `sha256`, `md5`, 1)},
		{"no content", strings.Replace(good, `{"type":"separator"}`, `null`, 1)},
		{"trailing data", good + `}`},
		{"two records", good + good},
	}
	if _, err := attest.UnmarshalLine([]byte(good)); err != nil {
		t.Fatalf("the good line: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := attest.UnmarshalLine([]byte(tc.line)); !errors.Is(err, attest.ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecoderBoundsLines(t *testing.T) {
	long := append(bytes.Repeat([]byte("x"), attest.MaxLineBytes+10), '\n')
	if _, err := attest.ReadLog(bytes.NewReader(long), 0); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("overlong line: %v", err)
	}
	d := attest.NewDecoder(strings.NewReader(`{"recnum":0`))
	if _, err := d.Next(); !errors.Is(err, attest.ErrTornLine) {
		t.Errorf("torn line: %v", err)
	}
}

// TestCELExport compares the CEL-TLV export of a small log with a golden
// file, and decodes it back.
func TestCELExport(t *testing.T) {
	log, err := os.ReadFile("testdata/log.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := attest.ReadLog(bytes.NewReader(log), 0)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := attest.ExportCEL(&buf, recs); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/log.cel", buf.Bytes())
	back, err := attest.DecodeCEL(bytes.NewReader(buf.Bytes()), 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recs, back); diff != "" {
		t.Errorf("CEL round trip (-want +got):\n%s", diff)
	}
	// The first record's TLVs, spelled out (CEL section 5).
	want := []byte{0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 23, 3, 0, 0, 0, 37, 0x0b, 0, 0, 0, 32}
	if !bytes.HasPrefix(buf.Bytes(), want) {
		t.Errorf("first record starts % x, want % x", buf.Bytes()[:len(want)], want)
	}
}

func TestEventRoundTrip(t *testing.T) {
	cs := containerStart(1)
	b, err := attest.EncodeEvent(cs)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsAny(b, "\n") || !json.Valid(b) {
		t.Fatalf("not one line of JSON: %s", b)
	}
	ev, err := attest.DecodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cs, ev.ContainerStart); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := attest.DecodeEvent([]byte(`{"type":"container.exit"}`)); !errors.Is(err, attest.ErrMalformed) {
		t.Errorf("unknown type: %v", err)
	}
	if got, want := attest.ArgsDigest(nil), attest.SHA256Digest([]byte("[]")); got != want {
		t.Errorf("ArgsDigest(nil) = %s, want %s", got, want)
	}
	if got, want := attest.ArgsDigest([]string{"a&b"}), attest.SHA256Digest([]byte(`["a&b"]`)); got != want {
		t.Errorf("ArgsDigest escapes HTML: %s, want %s", got, want)
	}
}

func FuzzUnmarshalLine(f *testing.F) {
	log, err := os.ReadFile("testdata/log.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range lines(log) {
		f.Add(l)
	}
	f.Add([]byte(`{"recnum":0,"pcr":0,"digests":[],"content_type":"x","content":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := attest.UnmarshalLine(line)
		if err != nil {
			return
		}
		out, err := rec.MarshalLine()
		if err != nil {
			return // content the writer would not produce (a newline inside, say)
		}
		again, err := attest.UnmarshalLine(out)
		if err != nil {
			t.Fatalf("re-decode %q: %v", out, err)
		}
		if diff := cmp.Diff(rec, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func FuzzReadLog(f *testing.F) {
	log, err := os.ReadFile("testdata/log.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(log)
	f.Add(log[:len(log)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, _ := attest.ReadLog(bytes.NewReader(b), 1000)
		for _, r := range recs {
			_, _ = attest.DecodeEvent(r.Content)
		}
	})
}

func FuzzDecodeCEL(f *testing.F) {
	cel, err := os.ReadFile("testdata/log.cel")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cel)
	f.Add(cel[:40])
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := attest.DecodeCEL(bytes.NewReader(b), 1000)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := attest.ExportCEL(&buf, recs); err != nil {
			t.Fatalf("re-export: %v", err)
		}
		if !bytes.Equal(buf.Bytes(), b) {
			t.Fatalf("re-export differs")
		}
	})
}

func TestMountJSON(t *testing.T) {
	for _, m := range []attest.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc"},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "mode=1777", "size=65536k"}},
		{Destination: "/data dir", Type: "bind", Source: `/host\path,with comma`, Options: []string{"rbind", "ro"}},
		{Destination: "-", Type: "", Source: "-", Options: []string{"-"}},
		{Destination: "/x", Options: []string{"a", "", "b\tc\nd"}},
	} {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var got attest.Mount
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", b, diff)
		}
	}
	if got, _ := json.Marshal(attest.Mount{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "ro"}}); string(got) != `"proc /proc proc nosuid,ro"` {
		t.Errorf("mount JSON %s", got)
	}
	for _, bad := range []string{`"a b c"`, `"a b c d e"`, `"a\\1 b c d"`, `"a\\99x b c d"`, `1`} {
		var m attest.Mount
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s decoded to %+v", bad, m)
		}
	}
}

func FuzzMountJSON(f *testing.F) {
	f.Add("/proc", "proc", "proc", "nosuid,ro")
	f.Add("-", "", `\055`, "")
	f.Fuzz(func(t *testing.T, dst, typ, src, opts string) {
		m := attest.Mount{Destination: dst, Type: typ, Source: src}
		if opts != "" {
			m.Options = strings.Split(opts, ",")
		}
		b, err := json.Marshal(m)
		if err != nil {
			return // invalid UTF-8 is replaced on the way out
		}
		var got attest.Mount
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if slices.Equal(m.Options, []string{""}) {
			m.Options = nil
		}
		if !utf8.ValidString(dst) || !utf8.ValidString(typ) || !utf8.ValidString(src) || !utf8.ValidString(opts) {
			return
		}
		if diff := cmp.Diff(m, got); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", b, diff)
		}
	})
}

package tomlsafe_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/credence-dev/credence/inventory/internal/tomlsafe"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr error // nil: no error; errAny: any error
	}{
		{name: "lockfile", doc: "version = 1\n[[package]]\nname = \"a\"\nsource = { registry = \"x\" }\nwheels = [{ url = \"u\" }]\n"},
		{name: "brackets in strings and comments", doc: "a = \"" + strings.Repeat("[", 100) + "\" # " + strings.Repeat("{", 100) +
			"\nb = '" + strings.Repeat("[", 100) + "'\nc = \"\"\"\n" + strings.Repeat("[", 100) + "\\\"\"\"\"\nd = '''" + strings.Repeat("{", 100) + "'''\n"},
		{name: "escaped quote", doc: `a = "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["` + "\n"},
		{name: "deep array", doc: "a = " + strings.Repeat("[", 65) + strings.Repeat("]", 65), wantErr: tomlsafe.ErrTooDeep},
		{name: "deep inline tables", doc: "a = " + strings.Repeat("{b=", 100_000) + "1" + strings.Repeat("}", 100_000), wantErr: tomlsafe.ErrTooDeep},
		{name: "not TOML", doc: "a = = 1", wantErr: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v map[string]any
			err := tomlsafe.Decode([]byte(tt.doc), &v)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("Decode: %v", err)
			case tt.wantErr == errAny && err == nil, tt.wantErr != nil && tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Errorf("Decode error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestSplitArrayTables(t *testing.T) {
	tests := []struct {
		name       string
		doc        string
		wantHead   string
		wantTables []string
		wantErr    error
	}{
		{name: "none", doc: "version = 1\n", wantHead: "version = 1\n"},
		{name: "empty", doc: ""},
		{
			name:       "tables",
			doc:        "# gen\nversion = 1\n\n[[package]]\nname = \"a\"\n[package.source]\ntype = \"git\"\n  [[package]]  # b\nname = \"b\"\n[metadata]\nx = 1\n",
			wantHead:   "# gen\nversion = 1\n\n",
			wantTables: []string{"[[package]]\nname = \"a\"\n[package.source]\ntype = \"git\"\n", "  [[package]]  # b\nname = \"b\"\n[metadata]\nx = 1\n"},
		},
		{
			name:       "headers inside strings and other tables do not split",
			doc:        "[[package]]\nd = \"\"\"\n[[package]]\n\"\"\"\ne = '''\n[[package]]'''\n[[package.wheels]]\n[[packages]]\n",
			wantTables: []string{"[[package]]\nd = \"\"\"\n[[package]]\n\"\"\"\ne = '''\n[[package]]'''\n[[package.wheels]]\n[[packages]]\n"},
		},
		{
			name:       "unterminated string ends at the line",
			doc:        "[[package]]\nd = \"abc\n[[package]]\n",
			wantTables: []string{"[[package]]\nd = \"abc\n", "[[package]]\n"},
		},
		{name: "too deep", doc: "[[package]]\na = " + strings.Repeat("[", 100), wantErr: tomlsafe.ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head, tables, err := tomlsafe.SplitArrayTables([]byte(tt.doc), "package")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SplitArrayTables error = %v, want %v", err, tt.wantErr)
			}
			if string(head) != tt.wantHead {
				t.Errorf("head = %q, want %q", head, tt.wantHead)
			}
			var got []string
			for _, tb := range tables {
				got = append(got, string(tb))
			}
			if diff := cmp.Diff(tt.wantTables, got); diff != "" {
				t.Errorf("tables (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzSplitArrayTables(f *testing.F) {
	f.Add([]byte("# x\n[[package]]\nname = \"a\"\nd = \"\"\"\n[[package]]\"\"\"\n[[package]]\nb = 'c'\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		head, tables, err := tomlsafe.SplitArrayTables(doc, "package")
		if err != nil {
			return
		}
		n := len(head)
		for _, tb := range tables {
			n += len(tb)
		}
		if n != len(doc) {
			t.Errorf("pieces hold %d bytes, the document %d", n, len(doc))
		}
	})
}

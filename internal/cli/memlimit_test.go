//go:build !node && !scan

package cli

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestSetMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	t.Setenv("GOMEMLIMIT", "")
	dir := t.TempDir()
	old := cgroupMemoryMax
	t.Cleanup(func() { cgroupMemoryMax = old })
	cgroupMemoryMax = filepath.Join(dir, "memory.max")

	if got, err := setMemoryLimit("450Mi"); err != nil || got != "450Mi" || debug.SetMemoryLimit(-1) != 450<<20 {
		t.Errorf("450Mi: %q, %v, limit %d", got, err, debug.SetMemoryLimit(-1))
	}
	if _, err := setMemoryLimit("lots"); err == nil || !strings.Contains(err.Error(), "450Mi") {
		t.Errorf("a bad size: %v, want an error with an example", err)
	}
	// No flag: 80 % of the container's limit, none without one.
	if err := os.WriteFile(cgroupMemoryMax, []byte("1073741824\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := setMemoryLimit(""); !strings.Contains(got, "819Mi") || debug.SetMemoryLimit(-1) != 1073741824/10*8 {
		t.Errorf("cgroup 1Gi: %q, limit %d", got, debug.SetMemoryLimit(-1))
	}
	if err := os.WriteFile(cgroupMemoryMax, []byte("max\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	debug.SetMemoryLimit(prev)
	if got, _ := setMemoryLimit(""); got != "" || debug.SetMemoryLimit(-1) != prev {
		t.Errorf("no container limit: %q, limit %d", got, debug.SetMemoryLimit(-1))
	}
	t.Setenv("GOMEMLIMIT", "300MiB")
	if got, _ := setMemoryLimit(""); got != "$GOMEMLIMIT=300MiB" {
		t.Errorf("GOMEMLIMIT: %q", got)
	}
}

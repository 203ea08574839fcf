package ocihook_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credence-dev/credence/agent/ocihook"
	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/internal/testutil"
)

func TestEntrypointDigest(t *testing.T) {
	root := t.TempDir()
	mk := func(p, content string) {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mk("bin/busybox", "busybox bytes")
	mk("usr/bin/app", "app bytes")
	os.Symlink("busybox", filepath.Join(root, "bin/sh"))
	os.Symlink("/bin/busybox", filepath.Join(root, "bin/abs"))
	os.Symlink("../../../../../../etc/passwd", filepath.Join(root, "bin/escape"))
	os.Symlink("/etc/shadow", filepath.Join(root, "bin/absescape"))
	want := attest.SHA256Digest([]byte("busybox bytes"))
	for _, tc := range []struct {
		name       string
		args, env  []string
		wantDigest string
		wantPath   string
	}{
		{"absolute", []string{"/bin/busybox"}, nil, want, "/bin/busybox"},
		{"relative symlink", []string{"/bin/sh"}, nil, want, "/bin/sh"},
		{"absolute symlink stays in the rootfs", []string{"/bin/abs"}, nil, want, "/bin/abs"},
		{"PATH lookup", []string{"app"}, []string{"PATH=/nope:/usr/bin"}, attest.SHA256Digest([]byte("app bytes")), "/usr/bin/app"},
		{"escape by ..", []string{"/bin/escape"}, nil, "", "/bin/escape"},
		{"escape to host file", []string{"/bin/absescape"}, nil, "", "/bin/absescape"},
		{"missing", []string{"/bin/nothing"}, nil, "", "/bin/nothing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ocihook.EntrypointDigest(root, tc.args, tc.env, "/")
			if got.Digest != tc.wantDigest || got.Path != tc.wantPath {
				t.Errorf("got %+v, want digest %q path %q", got, tc.wantDigest, tc.wantPath)
			}
			if tc.wantDigest == "" && got.Error == "" {
				t.Error("no error for a file that was not hashed")
			}
		})
	}
}

func TestRead(t *testing.T) {
	bundle := t.TempDir()
	os.MkdirAll(filepath.Join(bundle, "rootfs", "bin"), 0o755)
	os.WriteFile(filepath.Join(bundle, "rootfs", "bin", "app"), []byte("app"), 0o755)
	cfg := []byte(`{"ociVersion":"1.0.2","process":{"args":["/bin/app"],"cwd":"/"},"root":{"path":"rootfs"}}`)
	os.WriteFile(filepath.Join(bundle, "config.json"), cfg, 0o644)
	state := `{"ociVersion":"1.0.2","id":"c1","status":"creating","pid":1,"bundle":"` + bundle + `"}`
	req, err := ocihook.Read(strings.NewReader(state))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(req.Config, cfg) || string(req.State) != state || req.Entrypoint.Digest != attest.SHA256Digest([]byte("app")) {
		t.Errorf("request %+v", req)
	}
	for _, bad := range []string{`{`, `{"id":"c1"}`, `{"id":"c1","bundle":"relative"}`, `{"id":"c1","bundle":"/nonexistent"}`} {
		if _, err := ocihook.Read(strings.NewReader(bad)); err == nil {
			t.Errorf("state %s accepted", bad)
		}
	}
	if _, err := ocihook.Read(bytes.NewReader(bytes.Repeat([]byte(" "), ocihook.MaxStateBytes+1))); err == nil {
		t.Error("an oversized state was accepted")
	}
}

// TestStaysSmall keeps the hook's own code light: it links neither NRI,
// the image libraries nor Kubernetes.
func TestStaysSmall(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./agent/ocihook")
	cmd.Dir = testutil.RepoRoot(t)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/containerd/", "github.com/google/go-containerregistry", "k8s.io/", "github.com/spf13/cobra", "github.com/credence-dev/credence/agent"} {
			if strings.HasPrefix(dep, banned) && !strings.HasPrefix(dep, "github.com/credence-dev/credence/agent/ocihook") {
				t.Errorf("agent/ocihook links %s", dep)
			}
		}
	}
}

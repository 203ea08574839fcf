package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/credence-dev/credence/agent/ocihook"
)

// HookTimeout is the runtime's limit on the hook, in seconds: a TPM extend
// over a busy bus plus the agent round trip stay far below it.
const HookTimeout = 10

// Hook is the createRuntime hook entry credence installs.
type Hook struct {
	Path    string   `json:"path"`
	Args    []string `json:"args"`
	Timeout int      `json:"timeout,omitempty"`
}

// NewHook is the hook that runs the credence binary ("credence agent hook")
// against the agent at socket.
func NewHook(binary, socket string) (Hook, error) {
	if !filepath.IsAbs(binary) {
		return Hook{}, fmt.Errorf("hook binary %q must be an absolute path", binary)
	}
	args := []string{filepath.Base(binary), "agent", "hook"}
	if socket != "" {
		args = append(args, "--socket", socket)
	}
	return Hook{Path: binary, Args: args, Timeout: HookTimeout}, nil
}

// HooksDirFile is the file credence writes in an OCI hooks directory.
const HooksDirFile = "credence.json"

// InstallHooksDir writes the hook in the OCI hooks.d format (schema 1.0.0)
// that CRI-O and Podman read from /etc/containers/oci/hooks.d, for every
// container, at createRuntime. It returns the file written.
func InstallHooksDir(dir string, h Hook) (string, error) {
	doc := map[string]any{
		"version": "1.0.0",
		"hook":    h,
		"when":    map[string]any{"always": true},
		"stages":  []string{"createRuntime"},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("install hook: %w", err)
	}
	path := filepath.Join(dir, HooksDirFile)
	if err := writeAtomic(path, append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("install hook: %w", err)
	}
	return path, nil
}

// InstallInSpec adds the hook to an OCI runtime spec file: a bundle's
// config.json (for runc run) or the base spec containerd's CRI plugin
// starts every container from (base_runtime_spec). A credence hook already
// there is replaced; every other field is kept as it was.
func InstallInSpec(path string, h Hook) error {
	b, err := ocihook.ReadBounded(path, maxConfigBytes)
	if err != nil {
		return fmt.Errorf("install hook: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var spec map[string]any
	if err := dec.Decode(&spec); err != nil {
		return fmt.Errorf("install hook: parse %s: %w", path, err)
	}
	hooks, _ := spec["hooks"].(map[string]any)
	if hooks == nil {
		hooks = map[string]any{}
	}
	var list []any
	if cur, ok := hooks["createRuntime"].([]any); ok {
		list = slices.DeleteFunc(cur, func(e any) bool {
			m, _ := e.(map[string]any)
			args, _ := m["args"].([]any)
			return len(args) >= 3 && args[1] == "agent" && args[2] == "hook"
		})
	}
	hooks["createRuntime"] = append(list, h)
	spec["hooks"] = hooks
	out, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fmt.Errorf("install hook: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("install hook: %w", err)
	}
	if err := writeAtomic(path, append(out, '\n'), fi.Mode().Perm()); err != nil {
		return fmt.Errorf("install hook: %w", err)
	}
	return nil
}

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credence-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

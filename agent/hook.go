package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// RunHook is the createRuntime hook: it reads the runtime's state from
// stdin, the bundle's config.json, hashes the entrypoint in the rootfs and
// has the agent measure the start. Any error means the container must not
// start: the caller exits non-zero and the runtime refuses it.
func RunHook(ctx context.Context, stdin io.Reader, m interface {
	MeasureOCI(context.Context, *OCIRequest) (Receipt, error)
}) (Receipt, error) {
	state, err := io.ReadAll(io.LimitReader(stdin, maxStateBytes+1))
	if err != nil {
		return Receipt{}, fmt.Errorf("hook: read state: %w", err)
	}
	if len(state) > maxStateBytes {
		return Receipt{}, fmt.Errorf("hook: state larger than %d bytes", maxStateBytes)
	}
	var st specs.State
	if err := json.Unmarshal(state, &st); err != nil {
		return Receipt{}, fmt.Errorf("hook: parse state: %w", err)
	}
	if st.Bundle == "" || !filepath.IsAbs(st.Bundle) {
		return Receipt{}, fmt.Errorf("hook: the state names no absolute bundle path (%q)", st.Bundle)
	}
	config, err := readBounded(filepath.Join(st.Bundle, "config.json"), maxConfigBytes)
	if err != nil {
		return Receipt{}, fmt.Errorf("hook: %w", err)
	}
	req := &OCIRequest{State: state, Config: config}
	var spec specs.Spec
	if err := json.Unmarshal(config, &spec); err != nil {
		return Receipt{}, fmt.Errorf("hook: parse config.json: %w", err)
	}
	if spec.Root != nil && spec.Process != nil {
		rootfs := spec.Root.Path
		if !filepath.IsAbs(rootfs) {
			rootfs = filepath.Join(st.Bundle, rootfs)
		}
		req.Entrypoint = EntrypointDigest(rootfs, spec.Process.Args, spec.Process.Env, spec.Process.Cwd)
	}
	return m.MeasureOCI(ctx, req)
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

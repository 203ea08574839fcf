// Package ocihook is the OCI createRuntime hook's side of credence's agent:
// read the runtime's state and the bundle, and have the agent measure the start.
//
// It imports little on purpose: the runtime waits for the hook, which runs
// as `credence agent hook`.
package ocihook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/credence-dev/credence/attest"
)

// Bounds on what the hook reads and sends. A config.json is a few KiB; a
// seccomp profile can make it a few hundred.
const (
	MaxStateBytes  = 1 << 20
	MaxConfigBytes = 8 << 20
)

// Path is the agent's endpoint for hook measurements.
const Path = "/v1/measure/oci"

// Request is what the hook sends: the runtime's state (from the hook's
// stdin) and the bundle's config.json, both exact bytes.
type Request struct {
	State  json.RawMessage `json:"state"`
	Config []byte          `json:"config"`
	// Entrypoint is the digest of the init process's executable, which the
	// hook takes from the bundle's rootfs (the agent may not see it).
	Entrypoint *attest.FileDigest `json:"entrypoint,omitempty"`
}

// Read builds the request from the runtime's state on stdin and the bundle.
func Read(stdin io.Reader) (*Request, error) {
	state, err := io.ReadAll(io.LimitReader(stdin, MaxStateBytes+1))
	if err != nil {
		return nil, fmt.Errorf("hook: read state: %w", err)
	}
	if len(state) > MaxStateBytes {
		return nil, fmt.Errorf("hook: state larger than %d bytes", MaxStateBytes)
	}
	var st specs.State
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, fmt.Errorf("hook: parse state: %w", err)
	}
	if st.Bundle == "" || !filepath.IsAbs(st.Bundle) {
		return nil, fmt.Errorf("hook: the state names no absolute bundle path (%q)", st.Bundle)
	}
	config, err := ReadBounded(filepath.Join(st.Bundle, "config.json"), MaxConfigBytes)
	if err != nil {
		return nil, fmt.Errorf("hook: %w", err)
	}
	req := &Request{State: state, Config: config}
	var spec specs.Spec
	if err := json.Unmarshal(config, &spec); err != nil {
		return nil, fmt.Errorf("hook: parse config.json: %w", err)
	}
	if spec.Root != nil && spec.Process != nil {
		rootfs := spec.Root.Path
		if !filepath.IsAbs(rootfs) {
			rootfs = filepath.Join(st.Bundle, rootfs)
		}
		req.Entrypoint = EntrypointDigest(rootfs, spec.Process.Args, spec.Process.Env, spec.Process.Cwd)
	}
	return req, nil
}

// Run is the createRuntime hook: it reads the runtime's state from stdin,
// the bundle's config.json, hashes the entrypoint in the rootfs and has the
// agent at socket measure the start. Any error means the container must not
// start: the caller exits non-zero and the runtime refuses it.
func Run(ctx context.Context, stdin io.Reader, socket string, timeout time.Duration) error {
	req, err := Read(stdin)
	if err != nil {
		return err
	}
	return Send(ctx, socket, timeout, req)
}

// Send posts the request to the agent at socket and waits for its answer.
func Send(ctx context.Context, socket string, timeout time.Duration, req *Request) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("hook: %w", err)
	}
	hc := &http.Client{Timeout: timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+Path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("hook: %w", err)
	}
	rsp, err := hc.Do(hreq)
	if err != nil {
		return fmt.Errorf("hook: agent at %s: %w", socket, err)
	}
	defer rsp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(rsp.Body, 4096))
	if rsp.StatusCode != http.StatusOK {
		return fmt.Errorf("hook: agent: %s", strings.TrimSpace(string(msg)))
	}
	return nil
}

// ReadBounded reads a file of at most limit bytes.
func ReadBounded(path string, limit int64) ([]byte, error) {
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

// maxEntrypointBytes bounds the executable the hook hashes.
const maxEntrypointBytes = 256 << 20

// EntrypointDigest hashes the executable args[0] names inside rootfs,
// resolving a bare name through PATH from env and symlinks inside the
// rootfs (never outside it).
func EntrypointDigest(rootfs string, args, env []string, cwd string) *attest.FileDigest {
	if len(args) == 0 {
		return nil
	}
	fd := &attest.FileDigest{Path: args[0]}
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		fd.Error = err.Error()
		return fd
	}
	defer root.Close()
	var candidates []string
	switch {
	case strings.HasPrefix(args[0], "/"):
		candidates = []string{args[0]}
	case strings.Contains(args[0], "/"):
		candidates = []string{filepath.Join("/", cwd, args[0])}
	default:
		path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		for _, e := range env {
			if v, ok := strings.CutPrefix(e, "PATH="); ok {
				path = v
			}
		}
		for _, dir := range filepath.SplitList(path) {
			if strings.HasPrefix(dir, "/") {
				candidates = append(candidates, filepath.Join(dir, args[0]))
			}
		}
	}
	for _, c := range candidates {
		p, err := resolveIn(root, c)
		if err != nil {
			fd.Error = err.Error()
			continue
		}
		d, err := hashIn(root, p)
		if err != nil {
			fd.Error = err.Error()
			continue
		}
		fd.Path, fd.Digest, fd.Error = c, d, ""
		return fd
	}
	if fd.Error == "" {
		fd.Error = "not found in the rootfs"
	}
	return fd
}

// resolveIn follows symlinks of the last path element inside root,
// treating absolute targets as relative to root.
func resolveIn(root *os.Root, p string) (string, error) {
	for range 40 {
		rel := strings.TrimPrefix(filepath.Clean(p), "/")
		fi, err := root.Lstat(rel)
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			if !fi.Mode().IsRegular() {
				return "", fmt.Errorf("%s is not a regular file", p)
			}
			return rel, nil
		}
		target, err := root.Readlink(rel)
		if err != nil {
			return "", err
		}
		if !strings.HasPrefix(target, "/") {
			target = filepath.Join("/", filepath.Dir(rel), target)
		}
		p = target
	}
	return "", fmt.Errorf("%s: too many symlinks", p)
}

func hashIn(root *os.Root, rel string) (string, error) {
	f, err := root.Open(rel)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if fi.Size() > maxEntrypointBytes {
		return "", fmt.Errorf("%s is %d bytes, more than the %d hashed", rel, fi.Size(), maxEntrypointBytes)
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxEntrypointBytes)); err != nil {
		return "", err
	}
	return attest.HexDigest(h.Sum(nil)), nil
}

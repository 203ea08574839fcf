package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/credence-dev/credence/agent/ocihook"
	"github.com/credence-dev/credence/attest"
)

// DefaultSocket is where the agent listens.
const DefaultSocket = "/run/credence/agent.sock"

// The agent's HTTP API on its unix socket.
const (
	pathMeasureOCI = ocihook.Path
	pathMeasureNRI = "/v1/measure/nri"
	pathAttest     = "/v1/attest"
	pathAK         = "/v1/ak"
)

// maxRequestBytes bounds a request body: a config.json and its state.
const maxRequestBytes = 3 * maxConfigBytes

// evidenceMediaType is the agent's answer to a challenge: one JSON line of
// attest.Evidence without its log, then the log's bytes.
const evidenceMediaType = "application/vnd.credence.evidence"

// maxLogBytes bounds a log a client reads from an agent.
const maxLogBytes = 4 << 30

// AttestRequest is a verifier's challenge.
type AttestRequest struct {
	Nonce attest.HexBytes `json:"nonce"`
}

// Listen opens the agent's unix socket, root-only (0600), replacing a stale one.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("listen: an agent already serves %s", path)
	}
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	return l, nil
}

// Handler is the agent's HTTP API.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathMeasureOCI, func(w http.ResponseWriter, r *http.Request) {
		var req OCIRequest
		if !decode(w, r, &req) {
			return
		}
		reply(w, func() (any, error) { return s.MeasureOCI(r.Context(), &req) })
	})
	mux.HandleFunc("POST "+pathMeasureNRI, func(w http.ResponseWriter, r *http.Request) {
		var req NRIRequest
		if !decode(w, r, &req) {
			return
		}
		reply(w, func() (any, error) { return s.MeasureNRI(r.Context(), &req) })
	})
	mux.HandleFunc("POST "+pathAttest, func(w http.ResponseWriter, r *http.Request) {
		var req AttestRequest
		if !decode(w, r, &req) {
			return
		}
		ev, err := s.Attest(r.Context(), req.Nonce)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		// The evidence without its log as one JSON line, then the log's
		// exact bytes: no base64 for a log of tens of MB.
		log := ev.Log
		ev.Log = nil
		head, err := json.Marshal(ev)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", evidenceMediaType)
		w.Write(append(head, '\n')) //nolint:errcheck // the client sees a short answer
		w.Write(log)                //nolint:errcheck // the client sees a short answer
	})
	mux.HandleFunc("GET "+pathAK, func(w http.ResponseWriter, _ *http.Request) {
		reply(w, func() (any, error) { return s.AK() })
	})
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, maxRequestBytes)
	if err := json.NewDecoder(body).Decode(v); err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func reply(w http.ResponseWriter, f func() (any, error)) {
	v, err := f()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Serve answers on l until ctx ends.
func (s *Service) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Client talks to an agent over its unix socket.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client of the agent at socket; each call is bounded by timeout.
func NewClient(socket string, timeout time.Duration) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 1,
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr, Timeout: timeout}}
}

func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, body)
	if err != nil {
		return err
	}
	rsp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("agent at %s: %w", c.socket, err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(rsp.Body, 4096))
		return fmt.Errorf("agent: %s", strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(io.LimitReader(rsp.Body, 1<<30)).Decode(out); err != nil {
		return fmt.Errorf("agent: read answer: %w", err)
	}
	return nil
}

// MeasureOCI sends a hook's start to the agent.
func (c *Client) MeasureOCI(ctx context.Context, req *OCIRequest) (Receipt, error) {
	var r Receipt
	err := c.call(ctx, http.MethodPost, pathMeasureOCI, req, &r)
	return r, err
}

// MeasureNRI sends an NRI start to the agent.
func (c *Client) MeasureNRI(ctx context.Context, req *NRIRequest) (Receipt, error) {
	var r Receipt
	err := c.call(ctx, http.MethodPost, pathMeasureNRI, req, &r)
	return r, err
}

// Attest asks the agent for a quote over nonce and the log.
func (c *Client) Attest(ctx context.Context, nonce []byte) (*attest.Evidence, error) {
	b, err := json.Marshal(&AttestRequest{Nonce: nonce})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent"+pathAttest, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	rsp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent at %s: %w", c.socket, err)
	}
	defer rsp.Body.Close()
	if rsp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(rsp.Body, 4096))
		return nil, fmt.Errorf("agent: %s", strings.TrimSpace(string(msg)))
	}
	br := bufio.NewReaderSize(io.LimitReader(rsp.Body, maxLogBytes), 64<<10)
	head, err := br.ReadSlice('\n')
	if err != nil {
		return nil, fmt.Errorf("agent: read evidence: %w", err)
	}
	var ev attest.Evidence
	if err := json.Unmarshal(head, &ev); err != nil {
		return nil, fmt.Errorf("agent: read evidence: %w", err)
	}
	if ev.Log, err = io.ReadAll(br); err != nil {
		return nil, fmt.Errorf("agent: read log: %w", err)
	}
	return &ev, nil
}

// AK asks the agent for its attestation key.
func (c *Client) AK(ctx context.Context) (*attest.EnrolledAK, error) {
	var ak attest.EnrolledAK
	if err := c.call(ctx, http.MethodGet, pathAK, nil, &ak); err != nil {
		return nil, err
	}
	return &ak, nil
}

var _ Measurer = (*Client)(nil)

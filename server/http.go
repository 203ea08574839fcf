package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// ListenAndServe runs the server (Run) and serves its HTTP interface on
// addr until ctx ends, then shuts both down. With certFile and keyFile it
// serves TLS 1.2 or later, re-reading the key pair when the files change
// (cert-manager rotates them in place); with both empty it serves plain
// HTTP (behind a TLS-terminating proxy, or on loopback).
func (s *Server) ListenAndServe(ctx context.Context, addr, certFile, keyFile string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hs := &http.Server{Addr: addr, Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(s.o.log.Handler(), slog.LevelWarn)}
	plain := certFile == "" && keyFile == ""
	if !plain {
		kp := &keyPair{cert: certFile, key: keyFile}
		if _, err := kp.get(nil); err != nil {
			return err
		}
		hs.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.get}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.o.log.Info("serving", "address", ln.Addr().String(), "tls", !plain)
	errc := make(chan error, 1)
	go func() {
		var err error
		if plain {
			err = hs.Serve(ln)
		} else {
			err = hs.ServeTLS(ln, "", "")
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			cancel()
		}
	}()
	runErr := s.Run(ctx)
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer scancel()
	_ = hs.Shutdown(sctx)
	select {
	case err := <-errc:
		return err
	default:
	}
	return runErr
}

// keyPair serves a certificate from files, re-read when they change, at
// most every 30 s; a pair that does not load keeps the previous one.
type keyPair struct {
	cert, key string
	mu        sync.Mutex
	cur       *tls.Certificate
	mod       time.Time
	checked   time.Time
}

func (k *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur != nil && time.Since(k.checked) < 30*time.Second {
		return k.cur, nil
	}
	k.checked = time.Now()
	fi, err := os.Stat(k.cert)
	if err == nil && k.cur != nil && !fi.ModTime().After(k.mod) {
		return k.cur, nil
	}
	c, err := tls.LoadX509KeyPair(k.cert, k.key)
	if err != nil {
		if k.cur != nil {
			return k.cur, nil
		}
		return nil, fmt.Errorf("TLS key pair: %w", err)
	}
	k.cur = &c
	if fi != nil {
		k.mod = fi.ModTime()
	}
	return k.cur, nil
}

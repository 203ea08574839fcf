package server

import (
	"context"

	"github.com/credence-dev/credence/store"
)

// Test hooks, for the tests of this package only.

// WithClaimHook runs h after each job is claimed, before it is worked.
func WithClaimHook(h func(ctx context.Context, j *store.Job)) Option {
	return func(o *options) error { o.hooks.claimed = h; return nil }
}

// WithRematchHook runs h after each image re-matched under a new database
// version; an error fails the update there.
func WithRematchHook(h func(n int) error) Option {
	return func(o *options) error { o.hooks.rematched = h; return nil }
}

// WithCompleteHook runs h inside each job's completing transaction.
func WithCompleteHook(h func(ctx context.Context, tx *store.Tx, j *store.Job) error) Option {
	return func(o *options) error { o.hooks.completed = h; return nil }
}

// WithHandler adds a job kind.
func WithHandler(kind string, h func(ctx context.Context, s *Server, j *store.Job) error) Option {
	return func(o *options) error {
		if o.hooks.handlers == nil {
			o.hooks.handlers = map[string]func(context.Context, *Server, *store.Job) error{}
		}
		o.hooks.handlers[kind] = h
		return nil
	}
}

// Store is the server's store.
func (s *Server) Store() *store.Store { return s.st }

// DBSeq is the store's current database version.
func (s *Server) DBSeq(ctx context.Context) (int64, error) { return s.dbSeq(ctx) }

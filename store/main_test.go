package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/credence-dev/credence/internal/testutil/postgrestest"
	"github.com/credence-dev/credence/store"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain())
	}
	postgrestest.Main(m)
}

// backend is one store engine the suite runs on.
type backend struct {
	name string
	dsn  func(t testing.TB) string // a new, empty store
}

// dsns remembers the DSN each test store was opened with.
var dsns sync.Map

// dsnOf is the DSN s was opened with (by open).
func dsnOf(s *store.Store, _ backend, t testing.TB) string {
	v, ok := dsns.Load(s)
	if !ok {
		t.Fatal("store not opened by open()")
	}
	return v.(string)
}

var backends = []backend{
	{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "credence.db") }},
	{"postgres", postgrestest.DSN},
}

// each runs the test once per backend.
func each(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// clock is a settable clock for the store (WithClock).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func open(t testing.TB, dsn string, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	dsns.Store(s, dsn)
	t.Cleanup(func() { s.Close() })
	return s
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

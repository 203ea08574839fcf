package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/internal/testutil/postgrestest"
	"github.com/credence-dev/credence/server"
	"github.com/credence-dev/credence/store"
)

// The replica tests re-run this test binary as server processes: with
// childEnv set, TestMain runs childMain instead of the tests.
const (
	childEnv      = "CREDENCE_SERVER_TEST_CHILD" // the replica's identity
	childDSN      = "CREDENCE_SERVER_TEST_DSN"
	childKube     = "CREDENCE_SERVER_TEST_KUBECONFIG"
	childDB       = "CREDENCE_SERVER_TEST_DB"
	childSlow     = "CREDENCE_SERVER_TEST_SLOW"   // how long a "probe" job takes
	childProbes   = "CREDENCE_SERVER_TEST_PROBES" // the probe jobs' side-effect log
	childJobLease = "CREDENCE_SERVER_TEST_LEASE"
)

func TestMain(m *testing.M) {
	if id := os.Getenv(childEnv); id != "" {
		os.Exit(childMain(id))
	}
	postgrestest.Main(m)
}

// childMain is one replica of credence serve: the server package with a
// "probe" job kind whose side effect (a line appended to a file, outside
// any transaction) shows each attempt, and whose completion writes one
// key per attempt that committed (probe-done:KEY:REPLICA:ATTEMPT) in the
// completing transaction.
func childMain(id string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(ctx, os.Getenv(childDSN))
	if err != nil {
		log.Error("store", "error", err)
		return 1
	}
	defer st.Close()
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv(childKube))
	if err != nil {
		log.Error("kubeconfig", "error", err)
		return 1
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 1
	}
	slow, _ := time.ParseDuration(os.Getenv(childSlow))
	lease, _ := time.ParseDuration(os.Getenv(childJobLease))
	if lease == 0 {
		lease = 3 * time.Second
	}
	probes := os.Getenv(childProbes)
	note := func(line string) {
		f, err := os.OpenFile(probes, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return
		}
		defer f.Close()
		fmt.Fprintln(f, line)
	}
	srv, err := server.New(st, cs, "replica test",
		server.WithDB(os.Getenv(childDB)),
		server.WithLeaderElection("credence", id), server.WithLeaseTimes(3*time.Second, 2*time.Second, 500*time.Millisecond),
		server.WithTimings(200*time.Millisecond, 100*time.Millisecond, 0, lease, 50*time.Millisecond),
		server.WithImageOptions(assess.WithRegistry(nil)), server.WithLogger(log),
		server.WithHandler("probe", func(ctx context.Context, _ *server.Server, j *store.Job) error {
			note(fmt.Sprintf("start %s %s %d", j.Key, id, j.Attempt))
			select {
			case <-time.After(slow):
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		}),
		server.WithCompleteHook(func(ctx context.Context, tx *store.Tx, j *store.Job) error {
			if j.Kind != "probe" {
				return nil
			}
			return tx.SetValue(ctx, fmt.Sprintf("probe-done:%s:%s:%d", j.Key, id, j.Attempt), []byte("1"))
		}))
	if err != nil {
		log.Error("server", "error", err)
		return 1
	}
	go func() {
		for ctx.Err() == nil {
			if srv.Ready() {
				fmt.Println("READY")
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if err := srv.Run(ctx); err != nil && ctx.Err() == nil {
		log.Error("run", "error", err)
		return 1
	}
	return 0
}

var _ = strings.TrimSpace

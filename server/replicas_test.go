package server_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/internal/testutil/postgrestest"
	"github.com/credence-dev/credence/server"
	"github.com/credence-dev/credence/store"
)

// replica is one server process of the test.
type replica struct {
	id   string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startReplica runs this test binary as a server replica (childMain).
func startReplica(t *testing.T, id string, env []string) *replica {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), id+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, childEnv+"="+id)...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	release, err := testutil.StartOnOwnThread(cmd)
	if err != nil {
		t.Fatal(err)
	}
	logf.Close()
	r := &replica{id: id, cmd: cmd, log: logPath, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			if sc.Text() == "READY" {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { _ = cmd.Wait(); release(); close(r.done) }()
	t.Cleanup(func() { r.stop(); r.dumpOnFailure(t) })
	select {
	case <-ready:
	case <-r.done:
		t.Fatalf("replica %s exited before it was ready:\n%s", id, tailFile(logPath, 30))
	case <-time.After(60 * time.Second):
		t.Fatalf("replica %s not ready after 60s:\n%s", id, tailFile(logPath, 30))
	}
	return r
}

// stop ends the replica by its PID: SIGTERM, then SIGKILL after 10 s.
func (r *replica) stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

func (r *replica) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

func (r *replica) dumpOnFailure(t *testing.T) {
	if t.Failed() {
		t.Logf("replica %s log tail:\n%s", r.id, tailFile(r.log, 400))
	}
}

func tailFile(p string, n int) string {
	b, _ := os.ReadFile(p)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestReplicasSurviveAKill runs three server processes on one PostgreSQL
// and the real kube-apiserver, SIGKILLs the scheduling replica while it is
// in the middle of a job, and shows that no job is lost and none is done
// twice in effect: every probe job's attempts (a side effect outside any
// transaction) may run twice, but exactly one completion committed per job;
// every workload is assessed with one Subject version; another replica
// takes the Lease and schedules the workloads created after the kill.
func TestReplicasSurviveAKill(t *testing.T) {
	api := startAPI(t)
	cs := api.Client
	dsn := postgrestest.DSN(t)
	reg := startRegistry(t)
	cl := makeCluster(t, cs, reg)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "vuln.db")
	oldDB(t, dbPath, true)
	probes := filepath.Join(dir, "probes.log")
	st := openStore(t, dsn)
	ctx := context.Background()
	env := []string{childDSN + "=" + dsn, childKube + "=" + api.Kubeconfig, childDB + "=" + dbPath,
		childSlow + "=1500ms", childProbes + "=" + probes, childJobLease + "=3s"}
	reps := map[string]*replica{}
	for _, id := range []string{"replica-a", "replica-b", "replica-c"} {
		reps[id] = startReplica(t, id, env)
	}
	// Probe jobs, queued once all three work: each takes 1.5 s.
	const nProbes = 30
	for i := range nProbes {
		if _, err := st.Enqueue(ctx, store.NewJob{Key: fmt.Sprintf("probe:%02d", i), Kind: "probe"}); err != nil {
			t.Fatal(err)
		}
	}

	// The victim: the Lease holder, once it is in the middle of a probe job.
	var victim *replica
	var victimJob string
	eventually(t, 60*time.Second, "the scheduling replica in the middle of a job", func() error {
		l, err := cs.CoordinationV1().Leases("credence").Get(ctx, server.LeaseName, metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return fmt.Errorf("no leader yet: %v", err)
		}
		holder := *l.Spec.HolderIdentity
		started, finished := probeLines(t, probes, st)
		for key, who := range started {
			if who[len(who)-1] == holder && !finished[key] {
				victim, victimJob = reps[holder], key
				return nil
			}
		}
		return fmt.Errorf("leader %s not in a probe job", holder)
	})
	victim.kill()
	t.Logf("SIGKILLed %s in the middle of %s", victim.id, victimJob)

	// A workload created after the kill: only a new leader schedules it.
	p := runningPod(t, cs, "shop", "late", reg.host+"/shop/api:2.0", reg.host+"/shop/api@"+apiDigest, nil)
	keys := []string{"shop/Deployment/web", "shop/Pod/api", "shop/Pod/api-2", "shop/Pod/big", "shop/Pod/late"}
	eventually(t, 120*time.Second, "every probe done and every workload assessed and labelled", func() error {
		for i := range nProbes {
			j, err := st.GetJob(ctx, fmt.Sprintf("probe:%02d", i))
			if err != nil || j.State != store.JobDone {
				return fmt.Errorf("probe %d: %+v %v", i, j, err)
			}
		}
		for _, k := range keys {
			if _, err := st.GetSubject(ctx, k); err != nil {
				return err
			}
		}
		for _, name := range append(cl.allPods, p.Name) {
			if l, _ := podLabels(t, cs, name); l[server.LabelRisk] == "" {
				return fmt.Errorf("pod %s not labelled", name)
			}
		}
		return nil
	})

	// Done once in effect: one committed completion per probe job.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT k FROM kv WHERE k LIKE 'probe-done:%'`)
	if err != nil {
		t.Fatal(err)
	}
	commits := map[string][]string{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(strings.TrimPrefix(k, "probe-done:"), ":")
		key := parts[0] + ":" + parts[1]
		commits[key] = append(commits[key], strings.Join(parts[2:], ":"))
	}
	rows.Close()
	for i := range nProbes {
		key := fmt.Sprintf("probe:%02d", i)
		if len(commits[key]) != 1 {
			t.Errorf("%s completed %d times: %v", key, len(commits[key]), commits[key])
		}
	}
	started, _ := probeLines(t, probes, st)
	if who := started[victimJob]; len(who) < 2 || who[0] != victim.id || commits[victimJob][0] == victim.id+":1" {
		t.Errorf("%s: attempts by %v, committed by %v: want the victim's attempt lost and redone by another", victimJob, who, commits[victimJob])
	} else {
		t.Logf("%s: attempted by %v, committed once by %v", victimJob, who, commits[victimJob])
	}
	// Re-done work writes nothing: each workload has one Subject version
	// per state of the cluster it saw (before and after "late" joined the
	// pod network), never the same content twice.
	for _, k := range keys {
		h, err := st.SubjectHistory(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, v := range h {
			if seen[v.Hash] {
				t.Errorf("%s: the same Subject written twice (%d versions)", k, len(h))
			}
			seen[v.Hash] = true
		}
		if max := 2 - b2i(k == "shop/Pod/late"); len(h) > max {
			t.Errorf("%s: %d Subject versions, want at most %d", k, len(h), max)
		}
	}
	jc, err := st.JobCounts(ctx)
	if err != nil || jc[store.JobDead] != 0 {
		t.Errorf("dead jobs: %v %v", jc, err)
	}
	l, err := cs.CoordinationV1().Leases("credence").Get(ctx, server.LeaseName, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == victim.id {
		t.Errorf("the Lease did not move from the killed replica: %+v %v", l.Spec.HolderIdentity, err)
	}
}

// probeLines reads which replicas started each probe job (in order), and
// which jobs are done.
func probeLines(t *testing.T, path string, st *store.Store) (map[string][]string, map[string]bool) {
	t.Helper()
	b, _ := os.ReadFile(path)
	started := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && f[0] == "start" {
			started[f[1]] = append(started[f[1]], f[2])
		}
	}
	finished := map[string]bool{}
	for k := range started {
		if j, err := st.GetJob(context.Background(), k); err == nil && j.State == store.JobDone {
			finished[k] = true
		}
	}
	return started, finished
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

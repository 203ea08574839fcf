// Package postgrestest starts one real PostgreSQL server (Debian's package) per
// test binary, in a temp dir on loopback, and hands each test a fresh database.
//
// The server is initialised with initdb in a new temp dir, listens on
// 127.0.0.1 on a free port with its unix socket in that dir, and is stopped by
// its PID when the test binary ends (Main). PostgreSQL refuses to run as root,
// so under root it runs as the user "nobody". Durability across a machine
// crash is not what the tests check (process kills are), so fsync is off.
package postgrestest

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/credence-dev/credence/internal/testutil"
)

// Server is one running PostgreSQL.
type Server struct {
	Dir  string // the temp dir: data/, sock/, postgres.log
	Port int
	Bin  string // the directory holding initdb, postgres
	// Version is the server's version line (postgres --version).
	Version string

	cmd  *exec.Cmd
	done chan struct{}
	dbs  atomic.Int64
}

var (
	once     sync.Once
	shared   *Server
	startErr error
	missing  string
)

// FindBin returns the directory of the newest installed PostgreSQL's
// initdb, pg_ctl and postgres (/usr/lib/postgresql/N/bin, or
// $CREDENCE_POSTGRES_BIN), or "" when none.
func FindBin() string {
	if d := os.Getenv("CREDENCE_POSTGRES_BIN"); d != "" {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
		return ""
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d
		}
	}
	return ""
}

func majorOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Main runs the tests of a package and stops the shared server, if a test
// started one, when they end. Call it from TestMain:
//
//	func TestMain(m *testing.M) { postgrestest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}

// Start returns the test binary's PostgreSQL, starting it on first use.
// Without PostgreSQL the test fails under CI=true and skips loudly elsewhere.
func Start(t testing.TB) *Server {
	t.Helper()
	once.Do(func() {
		bin := FindBin()
		if bin == "" {
			missing = "PostgreSQL (initdb, postgres under /usr/lib/postgresql/*/bin): run scripts/setup.d/00-apt.sh as root (apt package postgresql)"
			return
		}
		shared, startErr = start(bin)
	})
	if missing != "" {
		need(t, missing)
	}
	if startErr != nil {
		t.Fatalf("postgresql: %v", startErr)
	}
	return shared
}

func need(t testing.TB, what string) {
	t.Helper()
	testutil.NeedComponent(t, "PostgreSQL", what)
}

// DSN creates a new empty database on the test binary's server and returns
// its postgres:// URL; it is dropped when the test ends.
func DSN(t testing.TB) string {
	t.Helper()
	s := Start(t)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.dbs.Add(1))
	admin, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", s.URL("postgres"))
		if err != nil {
			return
		}
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return s.URL(name)
}

// StartPrivate starts a PostgreSQL of the test's own (a second process, for
// tests that stop and restart it), stopped and removed when the test ends.
func StartPrivate(t testing.TB) *Server {
	t.Helper()
	shared := Start(t) // fails or skips as Start does when PostgreSQL is missing
	s, err := start(shared.Bin)
	if err != nil {
		t.Fatalf("postgresql: %v", err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Halt stops the server by its PID (fast shutdown) and keeps its data: the
// store is down until Resume.
func (s *Server) Halt(t testing.TB) {
	t.Helper()
	s.halt()
}

func (s *Server) halt() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown: roll back, close, exit
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// Resume starts a halted server again on the same data and port.
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	cred, err := credential(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.run(filepath.Join(s.Dir, "data"), filepath.Join(s.Dir, "sock"), cred); err != nil {
		t.Fatalf("postgresql: restart: %v", err)
	}
}

// URL is the postgres:// URL of database db on the server (TCP, loopback).
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Stop stops the server by its PID (fast shutdown, then kill) and removes
// its directory.
func (s *Server) Stop() {
	s.halt()
	os.RemoveAll(s.Dir)
}

// Log returns the server's log (for failure messages).
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "postgres.log"))
	return string(b)
}

func start(bin string) (*Server, error) {
	dir, err := os.MkdirTemp("", "credence-pg")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Bin: bin}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
		}
	}()
	cred, err := credential(dir)
	if err != nil {
		return nil, err
	}
	if v, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output(); err == nil {
		s.Version = strings.TrimSpace(string(v))
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	if err := os.Mkdir(sock, 0o700); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(sock, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.Port = port
		err = s.run(data, sock, cred)
		if err == nil {
			ok = true
			return s, nil
		}
		if !strings.Contains(err.Error(), "in use") {
			return nil, err
		}
	}
	return nil, errors.New("no free port after 5 attempts")
}

// credential is nil when not root; under root it is the user nobody, who
// gets the temp dir (PostgreSQL refuses to run as root).
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root and no user nobody to run PostgreSQL as: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) run(data, sock string, cred *syscall.Credential) error {
	logPath := filepath.Join(s.Dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(s.Bin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(s.Port),
		"-c", "unix_socket_directories="+sock,
		"-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB")
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so a Ctrl-C of go test reaches it only through
	// Stop; the PID is the postmaster, which takes its children down.
	// Pdeathsig: a test binary that dies (a panic, a -timeout) takes the
	// server with it. The signal follows the OS thread that started the
	// child, so that thread is locked and lives as long as the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	s.done = make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: see Pdeathsig above
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			s.cmd = nil
			return fmt.Errorf("postgres exited at start-up: %s", tail(logPath))
		default:
		}
		if s.ready() {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Stop()
	return fmt.Errorf("postgres not ready within 60s: %s", tail(logPath))
}

func (s *Server) ready() bool {
	db, err := sql.Open("pgx", s.URL("postgres")+"&connect_timeout=2")
	if err != nil {
		return false
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return db.PingContext(ctx) == nil
}

func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 20 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

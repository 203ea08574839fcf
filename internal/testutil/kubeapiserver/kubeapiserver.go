// Package kubeapiserver starts a real etcd and kube-apiserver (built by
// scripts/setup.d/30-kube-apiserver.sh) on loopback for tests that need the real API server as their oracle.
//
// Each server gets free loopback ports, its own certificates, a token-auth
// admin in system:masters, RBAC and Node authorization and the default
// admission plugins (PodSecurity, ServiceAccount, RuntimeClass, ...). There is
// no controller manager: create ServiceAccounts yourself (Namespace does it
// for "default") and expect aggregated ClusterRoles to be empty. Both
// processes are stopped by PID at cleanup.
//
//	srv := kubeapiserver.Start(t)
//	srv.Namespace(t, "blast", map[string]string{"pod-security.kubernetes.io/enforce": "baseline"})
//	_, err := srv.Client.CoreV1().Pods("blast").Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
package kubeapiserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/credence-dev/credence/internal/testutil"
)

// Version is the Kubernetes release the setup script builds; the client
// libraries in go.mod are the matching v0.37.2.
const (
	Version     = "v1.37.2"
	EtcdVersion = "v3.7.0"
	// SetupScript builds the binaries into $CREDENCE_CACHE/kube-v1.37.2/bin.
	SetupScript = "scripts/setup.d/30-kube-apiserver.sh"
)

// ErrNotBuilt says the binaries are not in the cache.
var ErrNotBuilt = errors.New("kube-apiserver and etcd are not built")

// Server is a running etcd + kube-apiserver pair.
type Server struct {
	// URL is the API server's https://127.0.0.1:PORT.
	URL string
	// Dir holds certificates, keys, logs and etcd's data.
	Dir string
	// AdminToken authenticates user "admin" in group system:masters.
	AdminToken string
	// Config is an admin client config (QPS raised for tests).
	Config *rest.Config
	// Client is an admin clientset.
	Client kubernetes.Interface
	// Kubeconfig is an admin kubeconfig file whose current context is
	// "credence-test".
	Kubeconfig string
	// CAFile is the PEM CA that signed the serving certificate.
	CAFile string

	procs    []*exec.Cmd
	releases []func() // each proc's thread (testutil.StartOnOwnThread)
	stopOnce sync.Once
	users    map[string]string // name -> token
}

// User is an extra token-authenticated user.
type User struct {
	Name   string
	Groups []string
}

// Option configures a server.
type Option func(*options)

type options struct {
	flags []string
	users []User
}

// WithFlags adds kube-apiserver flags (later flags win).
func WithFlags(flags ...string) Option {
	return func(o *options) { o.flags = append(o.flags, flags...) }
}

// WithUsers adds token-authenticated users; Token(name) returns each token.
func WithUsers(users ...User) Option { return func(o *options) { o.users = append(o.users, users...) } }

// Binaries returns the cached kube-apiserver and etcd, or ErrNotBuilt.
func Binaries(cacheDir string) (apiserver, etcd string, err error) {
	dir := filepath.Join(cacheDir, "kube-"+Version, "bin")
	apiserver, etcd = filepath.Join(dir, "kube-apiserver"), filepath.Join(dir, "etcd")
	for _, p := range []string{apiserver, etcd} {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("%w: %s missing: run %s (or scripts/setup)", ErrNotBuilt, p, SetupScript)
		}
	}
	return apiserver, etcd, nil
}

// Start starts a server for the test and stops it at cleanup. It skips the
// test loudly when the binaries are missing and fails it when they do not
// start.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	apiserver, etcd, err := Binaries(testutil.CacheDir(t))
	if err != nil {
		testutil.NeedComponent(t, "kube-apiserver "+Version, err.Error())
	}
	dir := t.TempDir()
	s, err := New(apiserver, etcd, dir, opts...)
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-apiserver log tail (%s):\n%s", s.Dir, tail(filepath.Join(s.Dir, "kube-apiserver.log"), 30))
		}
		s.Stop()
	})
	return s
}

// New starts etcd and kube-apiserver with their state in dir and waits until
// the server is ready. Call Stop when done. Tests use Start; New is for
// TestMain.
func New(apiserverBin, etcdBin, dir string, opts ...Option) (*Server, error) {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(apiserverBin, etcdBin, filepath.Join(dir, fmt.Sprintf("run%d", attempt)), o)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

func start(apiserverBin, etcdBin, dir string, o *options) (_ *Server, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, users: map[string]string{}}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	s.URL = fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	if err := s.writeCredentials(o); err != nil {
		return nil, err
	}

	etcd, err := s.spawn(etcdBin, "etcd.log",
		"--name=default",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return nil, err
	}
	if err := waitTCP(ports[0], etcd, 30*time.Second); err != nil {
		return nil, fmt.Errorf("etcd: %w\n%s", err, tail(filepath.Join(dir, "etcd.log"), 20))
	}

	args := []string{
		"--etcd-servers=" + clientURL,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", ports[2]),
		// Only published, never bound; 127.0.0.1 would make the kubernetes
		// Endpoints invalid (see the recipe).
		"--advertise-address=192.0.2.10",
		"--tls-cert-file=" + filepath.Join(dir, "serving.crt"),
		"--tls-private-key-file=" + filepath.Join(dir, "serving.key"),
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--allow-privileged=true",
		"--profiling=false",
	}
	args = append(args, o.flags...)
	api, err := s.spawn(apiserverBin, "kube-apiserver.log", args...)
	if err != nil {
		return nil, err
	}
	if err := s.waitReady(api, 90*time.Second); err != nil {
		log := tail(filepath.Join(dir, "kube-apiserver.log"), 30)
		if strings.Contains(log, "address already in use") {
			return nil, fmt.Errorf("%w: %v", errPortTaken, err)
		}
		return nil, fmt.Errorf("kube-apiserver: %w\n%s", err, log)
	}

	s.Config = s.configWithToken(s.AdminToken)
	s.Client, err = kubernetes.NewForConfig(s.Config)
	if err != nil {
		return nil, err
	}
	s.Kubeconfig = filepath.Join(dir, "admin.kubeconfig")
	if err := s.WriteKubeconfig(s.Kubeconfig, s.AdminToken); err != nil {
		return nil, err
	}
	return s, nil
}

// Stop stops kube-apiserver, then etcd, by PID: SIGTERM, then SIGKILL after
// 10 s. It is safe to call more than once.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		for i := len(s.procs) - 1; i >= 0; i-- {
			stop(s.procs[i])
			s.releases[i]()
		}
	})
}

func stop(c *exec.Cmd) {
	if c.Process == nil {
		return
	}
	_ = c.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.Process.Kill()
		<-done
	}
}

func (s *Server) spawn(bin, logName string, args ...string) (*exec.Cmd, error) {
	logf, err := os.Create(filepath.Join(s.Dir, logName))
	if err != nil {
		return nil, err
	}
	c := exec.Command(bin, args...)
	c.Stdout, c.Stderr = logf, logf
	c.Dir = s.Dir
	// Own process group, so a Ctrl-C to go test does not race our cleanup;
	// the process is still stopped by its PID only.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	release, err := testutil.StartOnOwnThread(c)
	if err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	logf.Close() // the child holds its own descriptor
	s.procs = append(s.procs, c)
	s.releases = append(s.releases, release)
	return c, nil
}

// Token returns the token of a user given with WithUsers ("admin" too).
func (s *Server) Token(user string) string { return s.users[user] }

// ConfigWithToken returns a client config that authenticates with token.
func (s *Server) ConfigWithToken(token string) *rest.Config { return s.configWithToken(token) }

func (s *Server) configWithToken(token string) *rest.Config {
	return &rest.Config{
		Host:            s.URL,
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{CAFile: s.CAFile},
		QPS:             200,
		Burst:           400,
		Timeout:         30 * time.Second,
		// Deprecation warnings (AppArmor annotations, ...) are expected in
		// tests; they would only clutter the output.
		WarningHandler: rest.NoWarnings{},
	}
}

// ConfigAs returns an admin config that impersonates user with groups: the
// server authorizes every request as that user (RBAC applies).
func (s *Server) ConfigAs(user string, groups ...string) *rest.Config {
	c := rest.CopyConfig(s.Config)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return c
}

// ClientAs is a clientset for ConfigAs.
func (s *Server) ClientAs(t testing.TB, user string, groups ...string) kubernetes.Interface {
	t.Helper()
	c, err := kubernetes.NewForConfig(s.ConfigAs(user, groups...))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ServiceAccountToken returns a real bound token for ns/name (TokenRequest),
// so a client authenticates as system:serviceaccount:ns:name.
func (s *Server) ServiceAccountToken(t testing.TB, ns, name string) string {
	t.Helper()
	tr, err := s.Client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// WriteKubeconfig writes a kubeconfig for this server that authenticates
// with token; its context is "credence-test".
func (s *Server) WriteKubeconfig(path, token string) error {
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["credence-test"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthorityData: ca}
	cfg.AuthInfos["credence-test"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["credence-test"] = &clientcmdapi.Context{Cluster: "credence-test", AuthInfo: "credence-test"}
	cfg.CurrentContext = "credence-test"
	return clientcmd.WriteToFile(*cfg, path)
}

// WaitRBAC returns once the API server's RBAC authorizer has seen every
// Role, RoleBinding, ClusterRole and ClusterRoleBinding created before the
// call. The authorizer reads them from its own informers, one per kind, so
// a binding created a moment ago may not be in force yet: WaitRBAC creates
// one sentinel of each kind after them, waits until a SubjectAccessReview
// shows both sentinel grants in force, and deletes the sentinels.
func (s *Server) WaitRBAC(t testing.TB, namespace string) {
	t.Helper()
	ctx := context.Background()
	rb := s.Client.RbacV1()
	const name = "credence-test-rbac-sentinel"
	// Two users, so each review passes through one binding only.
	clusterUser, namespacedUser := name+"-cluster", name+"-namespaced"
	rule := []rbacv1.PolicyRule{{APIGroups: []string{"credence.test"}, Resources: []string{"sentinels"}, Verbs: []string{"get"}}}
	user := func(n string) []rbacv1.Subject {
		return []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: n}}
	}
	meta := metav1.ObjectMeta{Name: name}
	nsMeta := metav1.ObjectMeta{Name: name, Namespace: namespace}
	must := func(what string, err error) {
		if err != nil {
			t.Fatalf("RBAC sentinel %s: %v", what, err)
		}
	}
	_, err := rb.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: meta, Rules: rule}, metav1.CreateOptions{})
	must("ClusterRole", err)
	_, err = rb.Roles(namespace).Create(ctx, &rbacv1.Role{ObjectMeta: nsMeta, Rules: rule}, metav1.CreateOptions{})
	must("Role", err)
	_, err = rb.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta, Subjects: user(clusterUser),
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}, metav1.CreateOptions{})
	must("ClusterRoleBinding", err)
	_, err = rb.RoleBindings(namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: nsMeta, Subjects: user(namespacedUser),
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}, metav1.CreateOptions{})
	must("RoleBinding", err)
	allowed := func(user, ns string) bool {
		r, err := s.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{User: user, ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: "get", Group: "credence.test", Resource: "sentinels"}}}, metav1.CreateOptions{})
		return err == nil && r.Status.Allowed
	}
	deadline := time.Now().Add(30 * time.Second)
	for !allowed(clusterUser, "") || !allowed(namespacedUser, namespace) {
		if time.Now().After(deadline) {
			t.Fatal("the API server's RBAC authorizer did not see new bindings within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	must("delete ClusterRoleBinding", rb.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{}))
	must("delete RoleBinding", rb.RoleBindings(namespace).Delete(ctx, name, metav1.DeleteOptions{}))
	must("delete Role", rb.Roles(namespace).Delete(ctx, name, metav1.DeleteOptions{}))
	must("delete ClusterRole", rb.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{}))
}

// Namespace creates namespace name with labels and its "default"
// ServiceAccount (no controller manager runs to create it), and returns it.
func (s *Server) Namespace(t testing.TB, name string, labels map[string]string) *corev1.Namespace {
	t.Helper()
	ctx := context.Background()
	ns, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	_, err = s.Client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create default service account in %s: %v", name, err)
	}
	return ns
}

// writeCredentials writes a CA and serving certificate for 127.0.0.1, the
// service-account signing key, and tokens.csv.
func (s *Server) writeCredentials(o *options) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "credence-test-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	s.CAFile = filepath.Join(s.Dir, "ca.crt")
	files := map[string][]byte{
		"ca.crt":      pemBlock("CERTIFICATE", caDER),
		"serving.crt": pemBlock("CERTIFICATE", srvDER),
	}
	if files["serving.key"], err = ecKeyPEM(srvKey); err != nil {
		return err
	}
	if files["sa.key"], err = ecKeyPEM(saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	files["sa.pub"] = pemBlock("PUBLIC KEY", pub)

	var tokens bytes.Buffer
	s.AdminToken = randomToken()
	s.users["admin"] = s.AdminToken
	fmt.Fprintf(&tokens, "%s,admin,admin-uid,\"system:masters\"\n", s.AdminToken)
	for i, u := range o.users {
		tok := randomToken()
		s.users[u.Name] = tok
		fmt.Fprintf(&tokens, "%s,%s,uid-%d,\"%s\"\n", tok, u.Name, i, strings.Join(u.Groups, ","))
	}
	files["tokens.csv"] = tokens.Bytes()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func ecKeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pemBlock("EC PRIVATE KEY", der), nil
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePorts asks the kernel for n free loopback ports. Another process may
// take one before the server binds it; New retries then.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func waitTCP(port int, c *exec.Cmd, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if exited(c) {
			return errors.New("exited during start-up")
		}
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not listening after %s", timeout)
}

// waitReady polls /readyz until it answers "ok".
func (s *Server) waitReady(c *exec.Cmd, timeout time.Duration) error {
	ca, err := os.ReadFile(s.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if exited(c) {
			return errors.New("exited during start-up")
		}
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+s.AdminToken)
		resp, err := client.Do(req)
		if err == nil {
			var body bytes.Buffer
			_, _ = body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.TrimSpace(body.String()) == "ok" {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("/readyz not ok after %s", timeout)
}

// exited reports whether c has exited, without reaping it.
func exited(c *exec.Cmd) bool {
	if c.Process == nil {
		return true
	}
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(c.Process.Pid, &ws, syscall.WNOHANG, nil)
	if err != nil {
		return true
	}
	if pid == c.Process.Pid {
		// Reaped here: mark the Cmd so Stop does not wait on it forever.
		c.Process.Release()
		c.Process = nil
		return true
	}
	return false
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ControllerManagerScript builds kube-controller-manager into the same cache.
const ControllerManagerScript = "scripts/setup.d/31-kube-controller-manager.sh"

// StartControllerManager runs kube-controller-manager against s with only
// the given controllers (e.g. "validatingadmissionpolicy-status-controller",
// which type-checks ValidatingAdmissionPolicies), stopped by PID at
// cleanup. It skips the test loudly (fails under CI) when the binary is not
// built.
func (s *Server) StartControllerManager(t testing.TB, controllers ...string) {
	t.Helper()
	bin := filepath.Join(testutil.CacheDir(t), "kube-"+Version, "bin", "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		testutil.NeedComponent(t, "kube-controller-manager "+Version, fmt.Sprintf("%s missing: run %s (or scripts/setup)", bin, ControllerManagerScript))
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.spawn(bin, "kube-controller-manager.log",
		"--kubeconfig="+s.Kubeconfig, "--authentication-kubeconfig="+s.Kubeconfig, "--authorization-kubeconfig="+s.Kubeconfig,
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", ports[0]), "--leader-elect=false",
		"--controllers="+strings.Join(controllers, ","))
	if err != nil {
		t.Fatalf("start kube-controller-manager: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("kube-controller-manager log tail:\n%s", tail(filepath.Join(s.Dir, "kube-controller-manager.log"), 20))
		}
		stop(c)
	})
}

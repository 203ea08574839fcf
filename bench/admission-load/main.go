// Command admission-load measures 'credence admission serve' as the API
// server would call it: AdmissionReview v1 bodies over TLS with kept-alive
// connections, against a real (in-process) registry holding images signed
// here. It starts the webhook as a child process, so the RSS it reports is
// the webhook's alone, and prints:
//
//   - warm cache, open loop: a constant request rate (default 500/s) of pod
//     reviews, with latency percentiles (the goal: p99 < 10 ms);
//   - the Kyverno shape: N virtual users in a closed loop, each iteration a
//     Deployment create (3 reviews: Deployment, ReplicaSet, Pod), average,
//     p99 and max (Kyverno publishes 37.7 ms average at 100 users);
//   - cold misses: a pod whose image was never seen, verified inline;
//   - the webhook's CPU time and peak RSS.
//
// bench/admission.sh builds credence and runs this.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	credence := flag.String("credence", "credence", "the credence binary")
	rate := flag.Int("rate", 500, "requests per second in the open-loop phase")
	dur := flag.Duration("duration", 30*time.Second, "length of each phase")
	vus := flag.Int("vus", 100, "virtual users in the Kyverno-shaped phase")
	cold := flag.Int("cold", 20, "cold misses to measure")
	work := flag.String("dir", "", "working directory (default a temporary one)")
	flag.Parse()
	log.SetFlags(0)
	dir := *work
	if dir != "" {
		check(os.MkdirAll(dir, 0o755))
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "admission-load")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(d)
		dir = d
	}

	// A registry with a signed image (warm phases) and images to sign for
	// the cold misses.
	reg := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	key := newKey()
	signed := push(host + "/shop/web:1")
	signImage(key, signed)
	side := push(host + "/shop/sidecar:1")
	signImage(key, side)
	var colds []name.Digest
	for i := 0; i < *cold; i++ {
		d := push(fmt.Sprintf("%s/shop/cold-%d:1", host, i))
		signImage(key, d)
		colds = append(colds, d)
	}
	check(os.WriteFile(filepath.Join(dir, "key.pub"), key.pem, 0o644))
	check(os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(fmt.Sprintf(policyYAML, host)), 0o644))

	port := freePort()
	certs := filepath.Join(dir, "certs")
	cmd := exec.Command(*credence, "admission", "serve", "--listen", "127.0.0.1:"+port, "--self-signed", certs, "--host", "127.0.0.1",
		"--policy", filepath.Join(dir, "policy.yaml"), "--key", filepath.Join(dir, "key.pub"), "--insecure-ignore-tlog", "--no-cluster-view")
	logf, err := os.Create(filepath.Join(dir, "webhook.log"))
	check(err)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	check(cmd.Start())
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	client := waitReady(certs, port)
	url := "https://127.0.0.1:" + port + "/validate?timeout=10s"

	podBody := review("Pod", podJSON("web-7d9f-x", signed.String(), side.String()))
	deployBody := review("Deployment", deploymentJSON("Deployment", "apps/v1", signed.String(), side.String()))
	rsBody := review("ReplicaSet", deploymentJSON("ReplicaSet", "apps/v1", signed.String(), side.String()))
	if r := send(client, url, podBody); !r.allowed {
		log.Fatalf("warm-up pod denied: %s", r.msg)
	}
	fmt.Printf("webhook: pid %d, review bodies: pod %d B, deployment %d B\n", cmd.Process.Pid, len(podBody), len(deployBody))
	fmt.Printf("load average before: %s\n", loadavg())

	logPath := filepath.Join(dir, "webhook.log")
	_, mark := serverLatencies(logPath, 0)
	cpu0 := cpuTime(cmd.Process.Pid)
	lat, errs := openLoop(client, url, podBody, *rate, *dur)
	cpu1 := cpuTime(cmd.Process.Pid)
	fmt.Printf("\nwarm cache, open loop at %d req/s for %s: %d requests, %d errors\n", *rate, *dur, len(lat), errs)
	fmt.Printf("  client-side (TLS, HTTP, from the scheduled start):\n  ")
	printLat(lat)
	srvLat, mark := serverLatencies(logPath, mark)
	fmt.Printf("  webhook-side (its logged latency_ms per review):\n  ")
	printLat(srvLat)
	fmt.Printf("  webhook CPU %.2f s for %d requests: %.0f µs/request; %.2f cores\n", (cpu1 - cpu0).Seconds(), len(lat),
		float64((cpu1-cpu0).Microseconds())/float64(max(1, len(lat))), (cpu1-cpu0).Seconds()/dur.Seconds())

	cpu0 = cpuTime(cmd.Process.Pid)
	iters, reviews, errs := closedLoop(client, url, [][]byte{deployBody, rsBody, podBody}, *vus, *dur)
	cpu1 = cpuTime(cmd.Process.Pid)
	fmt.Printf("\nKyverno shape: %d virtual users, each iteration a Deployment create (3 reviews), %s: %d iterations, %d reviews (%.0f/s), %d errors\n",
		*vus, *dur, len(iters), len(reviews), float64(len(reviews))/dur.Seconds(), errs)
	fmt.Printf("  per review:    ")
	printLat(reviews)
	fmt.Printf("  per iteration: ")
	printLat(iters)
	srvLat, _ = serverLatencies(logPath, mark)
	fmt.Printf("  webhook-side:  ")
	printLat(srvLat)
	fmt.Printf("  webhook CPU %.2f s: %.0f µs/review\n", (cpu1 - cpu0).Seconds(), float64((cpu1-cpu0).Microseconds())/float64(max(1, len(reviews))))

	var cl []time.Duration
	for i, d := range colds {
		t0 := time.Now()
		r := send(client, url, review("Pod", podJSON(fmt.Sprintf("cold-%d", i), d.String())))
		cl = append(cl, time.Since(t0))
		if !r.allowed {
			log.Printf("cold miss %d denied: %s", i, r.msg)
		}
	}
	fmt.Printf("\ncold misses (a signed image never seen, verified inline against the in-process registry): %d\n", len(cl))
	printLat(cl)
	hwm, rss := memory(cmd.Process.Pid)
	fmt.Printf("\nwebhook memory: peak RSS %d MiB, RSS now %d MiB\n", hwm>>10, rss>>10)
	fmt.Printf("load average after: %s\n", loadavg())
}

const policyYAML = `apiVersion: policy.credence.dev/v1
kind: Policy
metadata: {name: bench}
spec:
  packs:
    - name: credence-pss-baseline@v1
    - name: credence-pss-restricted@v1
      mode: warn
    - name: credence-signed@v1
    - name: credence-image-source@v1
      parameters: {registries: ["%s"], requireDigest: false}
`

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func waitReady(certs, port string) *http.Client {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ca, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
		if err == nil {
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(ca)
			c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
				MaxIdleConns: 1000, MaxIdleConnsPerHost: 1000, MaxConnsPerHost: 200, IdleConnTimeout: time.Minute}}
			if resp, err := c.Get("https://127.0.0.1:" + port + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return c
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatal("the webhook did not become ready")
	return nil
}

type result struct {
	allowed bool
	msg     string
	err     error
}

func send(c *http.Client, url string, body []byte) result {
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return result{err: err}
	}
	if resp.StatusCode != 200 {
		return result{err: fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)}
	}
	var rv struct {
		Response struct {
			Allowed bool `json:"allowed"`
			Status  struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.Unmarshal(b, &rv); err != nil {
		return result{err: err}
	}
	return result{allowed: rv.Response.Allowed, msg: rv.Response.Status.Message}
}

// openLoop sends at a fixed rate whatever the latency (as an API server
// under load does), from a pool of workers with kept-alive connections,
// and records each request's latency from its scheduled start, so that
// queueing (and a late load generator) counts against the webhook, never
// for it.
func openLoop(c *http.Client, url string, body []byte, rate int, d time.Duration) ([]time.Duration, int) {
	n := int(float64(rate) * d.Seconds())
	lat := make([]time.Duration, n)
	var errs atomic.Int64
	var wg sync.WaitGroup
	jobs := make(chan int, n)
	start := time.Now().Add(100 * time.Millisecond)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
				time.Sleep(time.Until(at))
				r := send(c, url, body)
				lat[i] = time.Since(at)
				if r.err != nil || !r.allowed {
					errs.Add(1)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return lat, int(errs.Load())
}

// serverLatencies reads the latency_ms the webhook logged for each decision
// after line skip: its own time per review, without TLS and the network.
func serverLatencies(logFile string, skip int) ([]time.Duration, int) {
	b, err := os.ReadFile(logFile)
	if err != nil {
		return nil, skip
	}
	lines := strings.Split(string(b), "\n")
	var out []time.Duration
	for _, l := range lines[min(skip, len(lines)):] {
		i := strings.Index(l, " latency_ms=")
		if i < 0 || !strings.Contains(l, "msg=admission") {
			continue
		}
		f := strings.Fields(l[i+len(" latency_ms="):])
		if len(f) == 0 {
			continue
		}
		if ms, err := strconv.ParseFloat(f[0], 64); err == nil {
			out = append(out, time.Duration(ms*float64(time.Millisecond)))
		}
	}
	return out, len(lines)
}

// closedLoop runs users that each send the bodies in turn, as fast as
// answers come.
func closedLoop(c *http.Client, url string, bodies [][]byte, users int, d time.Duration) (iters, reviews []time.Duration, errs int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var nerr atomic.Int64
	stop := time.Now().Add(d)
	for u := 0; u < users; u++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				t0 := time.Now()
				var rs []time.Duration
				for _, b := range bodies {
					t1 := time.Now()
					r := send(c, url, b)
					rs = append(rs, time.Since(t1))
					if r.err != nil || !r.allowed {
						nerr.Add(1)
					}
				}
				it := time.Since(t0)
				mu.Lock()
				iters = append(iters, it)
				reviews = append(reviews, rs...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	_ = context.Background
	return iters, reviews, int(nerr.Load())
}

func printLat(l []time.Duration) {
	if len(l) == 0 {
		fmt.Println("  (none)")
		return
	}
	s := append([]time.Duration(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, x := range s {
		sum += x
	}
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
	fmt.Printf("  avg %s, p50 %s, p90 %s, p99 %s, p99.9 %s, max %s\n", ms(sum/time.Duration(len(s))), ms(q(0.5)), ms(q(0.9)), ms(q(0.99)), ms(q(0.999)), ms(s[len(s)-1]))
}

func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

func memory(pid int) (hwm, rss int64) {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			hwm = v
		case "VmRSS:":
			rss = v
		}
	}
	return hwm, rss
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// review wraps an object in an AdmissionReview request as the API server
// sends it.
func review(kind string, obj []byte) []byte {
	group := ""
	if kind == "Deployment" || kind == "ReplicaSet" {
		group = "apps"
	}
	b, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid":      "705ab4f5-6393-11e8-b7cc-42010a800002",
			"kind":     map[string]string{"group": group, "version": "v1", "kind": kind},
			"resource": map[string]string{"group": group, "version": "v1", "resource": strings.ToLower(kind) + "s"},
			"name":     "web-7d9f-x", "namespace": "shop", "operation": "CREATE",
			"userInfo":  map[string]any{"username": "system:serviceaccount:kube-system:replicaset-controller", "uid": "u", "groups": []string{"system:serviceaccounts", "system:authenticated"}},
			"object":    json.RawMessage(obj),
			"oldObject": nil, "dryRun": false,
			"options": map[string]any{"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
		},
	})
	check(err)
	return b
}

// podSpec is a realistic web pod: two containers, probes, resources, env,
// a projected token and config volumes, a restricted-ish security context.
func podSpec(images ...string) map[string]any {
	var cs []any
	for i, img := range images {
		cs = append(cs, map[string]any{
			"name": []string{"web", "sidecar", "c2", "c3"}[i%4], "image": img, "imagePullPolicy": "IfNotPresent",
			"ports":          []any{map[string]any{"containerPort": 8080 + i, "protocol": "TCP", "name": "http"}},
			"env":            []any{map[string]any{"name": "LOG_LEVEL", "value": "info"}, map[string]any{"name": "POD_NAME", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.name"}}}},
			"resources":      map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}, "limits": map[string]any{"memory": "256Mi"}},
			"readinessProbe": map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": 8080 + i, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
			"livenessProbe":  map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": 8080 + i, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
			"volumeMounts":   []any{map[string]any{"name": "config", "mountPath": "/etc/web"}, map[string]any{"name": "kube-api-access-abcde", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}},
			"securityContext": map[string]any{"allowPrivilegeEscalation": false, "runAsNonRoot": true, "runAsUser": 10001, "capabilities": map[string]any{"drop": []string{"ALL"}},
				"seccompProfile": map[string]any{"type": "RuntimeDefault"}},
			"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
		})
	}
	return map[string]any{
		"containers": cs, "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
		"serviceAccountName": "web", "serviceAccount": "web", "schedulerName": "default-scheduler", "enableServiceLinks": true,
		"securityContext": map[string]any{"fsGroup": 2000}, "priority": 0, "preemptionPolicy": "PreemptLowerPriority",
		"tolerations": []any{map[string]any{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}},
		"volumes": []any{map[string]any{"name": "config", "configMap": map[string]any{"name": "web", "defaultMode": 420}},
			map[string]any{"name": "kube-api-access-abcde", "projected": map[string]any{"defaultMode": 420, "sources": []any{
				map[string]any{"serviceAccountToken": map[string]any{"expirationSeconds": 3607, "path": "token"}},
				map[string]any{"configMap": map[string]any{"name": "kube-root-ca.crt", "items": []any{map[string]any{"key": "ca.crt", "path": "ca.crt"}}}}}}}},
	}
}

var labels = map[string]string{"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop", "pod-template-hash": "7d9f"}

func podJSON(podName string, images ...string) []byte {
	b, err := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": podName, "generateName": "web-7d9f-", "namespace": "shop", "uid": "5f3a2c1e-0000-4000-8000-" + fmt.Sprintf("%012d", len(podName)),
			"labels": labels, "annotations": map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-11-30T10:00:00Z"},
			"ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9f", "uid": "rs-uid", "controller": true, "blockOwnerDeletion": true}}},
		"spec": podSpec(images...), "status": map[string]any{"phase": "Pending", "qosClass": "Burstable"}})
	check(err)
	return b
}

func deploymentJSON(kind, apiVersion string, images ...string) []byte {
	b, err := json.Marshal(map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": "web", "namespace": "shop", "uid": "d-uid", "labels": map[string]string{"app.kubernetes.io/name": "web"}},
		"spec": map[string]any{"replicas": 3, "selector": map[string]any{"matchLabels": map[string]string{"app.kubernetes.io/name": "web"}},
			"template": map[string]any{"metadata": map[string]any{"labels": labels}, "spec": podSpec(images...)}}})
	check(err)
	return b
}

// The signing below does what internal/testutil/signtest does in tests: an
// ECDSA key made here, a sigstore bundle over the image manifest stored as
// an OCI 1.1 referrer.
type key struct {
	priv *ecdsa.PrivateKey
	pem  []byte
	id   string
}

func newKey() *key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	check(err)
	sum := sha256.Sum256(der)
	return &key{priv: k, pem: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), id: "sha256:" + hex.EncodeToString(sum[:])}
}

func (k *key) GetHashAlgorithm() protocommon.HashAlgorithm { return protocommon.HashAlgorithm_SHA2_256 }
func (k *key) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
}
func (k *key) GetHint() []byte                  { return []byte(k.id) }
func (k *key) GetKeyAlgorithm() string          { return "ecdsa-p256" }
func (k *key) GetPublicKey() crypto.PublicKey   { return k.priv.Public() }
func (k *key) GetPublicKeyPem() (string, error) { return string(k.pem), nil }
func (k *key) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	h := sha256.Sum256(data)
	sig, err := k.priv.Sign(rand.Reader, h[:], crypto.SHA256)
	return sig, h[:], err
}

func push(ref string) name.Digest {
	img, err := random.Image(1024, 2)
	check(err)
	r, err := name.ParseReference(ref)
	check(err)
	check(remote.Write(r, img))
	d, _ := img.Digest()
	return r.Context().Digest(d.String())
}

type rawManifest struct{ b []byte }

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func signImage(k *key, d name.Digest) {
	desc, err := remote.Get(d)
	check(err)
	pb, err := sign.Bundle(&sign.PlainData{Data: desc.Manifest}, k, sign.BundleOptions{})
	check(err)
	bj, err := protojson.Marshal(pb)
	check(err)
	const bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	cfg := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	layer := static.NewLayer(bj, bundleType)
	for _, l := range []v1.Layer{cfg, layer} {
		check(remote.WriteLayer(d.Context(), l))
	}
	descOf := func(l v1.Layer, mt string) map[string]any {
		dg, _ := l.Digest()
		s, _ := l.Size()
		return map[string]any{"mediaType": mt, "digest": dg.String(), "size": s}
	}
	sub, err := remote.Head(d)
	check(err)
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": string(types.OCIManifestSchema1), "artifactType": bundleType,
		"config": descOf(cfg, "application/vnd.oci.empty.v1+json"), "layers": []any{descOf(layer, bundleType)},
		"subject": map[string]any{"mediaType": string(sub.MediaType), "digest": sub.Digest.String(), "size": sub.Size},
	})
	sum := sha256.Sum256(m)
	check(remote.Put(d.Context().Digest("sha256:"+hex.EncodeToString(sum[:])), rawManifest{m}))
}

package posture_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/pod-security-admission/policy"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/internal/testutil/kubeapiserver"
	"github.com/credence-dev/credence/posture"
)

// psaFixture is a pod made by tweaking a minimal restricted pod, as the
// upstream PSA fixtures are. fails names the upstream check it is meant to
// fail (empty: it should pass every check it touches).
type psaFixture struct {
	name  string
	fails string
	pod   func() *corev1.Pod
}

func ptr[T any](v T) *T { return &v }

// restrictedPod passes every restricted check.
func restrictedPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name: "c", Image: "registry.k8s.io/pause:3.10",
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

// windowsPod passes every restricted check for a Windows pod (the
// Linux-only checks do not apply, and the API server refuses their fields).
func windowsPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{
			OS:              &corev1.PodOS{Name: corev1.Windows},
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true)},
			Containers:      []corev1.Container{{Name: "c", Image: "mcr.microsoft.com/windows/nanoserver:ltsc2022"}},
		},
	}
}

func tweak(base func() *corev1.Pod, f func(p *corev1.Pod)) func() *corev1.Pod {
	return func() *corev1.Pod { p := base(); f(p); return p }
}

func sc(p *corev1.Pod) *corev1.SecurityContext { return p.Spec.Containers[0].SecurityContext }

// psaFixtures covers every upstream Pod Security check with at least one
// failing pod, plus passing edge cases.
func psaFixtures() []psaFixture {
	r := restrictedPod
	return []psaFixture{
		{"restricted base", "", r},
		{"windows base", "", windowsPod},

		{"allowPrivilegeEscalation unset", "allowPrivilegeEscalation", tweak(r, func(p *corev1.Pod) { sc(p).AllowPrivilegeEscalation = nil })},
		{"allowPrivilegeEscalation true", "allowPrivilegeEscalation", tweak(r, func(p *corev1.Pod) { sc(p).AllowPrivilegeEscalation = ptr(true) })},

		{"appArmor field unconfined", "appArmorProfile", tweak(r, func(p *corev1.Pod) {
			sc(p).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		})},
		{"appArmor pod field unconfined", "appArmorProfile", tweak(r, func(p *corev1.Pod) {
			p.Spec.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
		})},
		{"appArmor annotation unconfined", "appArmorProfile", tweak(r, func(p *corev1.Pod) {
			p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/c": "unconfined"}
		})},
		{"appArmor annotation localhost", "", tweak(r, func(p *corev1.Pod) {
			p.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/c": "localhost/k8s-nginx"}
		})},
		{"appArmor field localhost", "", tweak(r, func(p *corev1.Pod) {
			sc(p).AppArmorProfile = &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr("k8s-nginx")}
		})},

		{"capabilities add SYS_ADMIN", "capabilities_baseline", tweak(r, func(p *corev1.Pod) {
			sc(p).AllowPrivilegeEscalation = nil
			sc(p).Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
		})},
		{"capabilities add ALL", "capabilities_baseline", tweak(r, func(p *corev1.Pod) { sc(p).Capabilities.Add = []corev1.Capability{"ALL"} })},
		{"capabilities add default NET_RAW", "capabilities_restricted", tweak(r, func(p *corev1.Pod) { sc(p).Capabilities.Add = []corev1.Capability{"NET_RAW"} })},
		{"capabilities add NET_BIND_SERVICE", "", tweak(r, func(p *corev1.Pod) { sc(p).Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"} })},
		{"capabilities no drop", "capabilities_restricted", tweak(r, func(p *corev1.Pod) { sc(p).Capabilities = nil })},
		{"capabilities CAP_ prefix", "capabilities_baseline", tweak(r, func(p *corev1.Pod) { sc(p).Capabilities.Add = []corev1.Capability{"CAP_NET_ADMIN"} })},

		{"hostNetwork", "hostNamespaces", tweak(r, func(p *corev1.Pod) { p.Spec.HostNetwork = true })},
		{"hostPID", "hostNamespaces", tweak(r, func(p *corev1.Pod) { p.Spec.HostPID = true })},
		{"hostIPC", "hostNamespaces", tweak(r, func(p *corev1.Pod) { p.Spec.HostIPC = true })},

		{"hostPath volume", "hostPathVolumes", tweak(r, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
		})},
		{"hostPort", "hostPorts", tweak(r, func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
		})},
		{"probe host", "hostProbesAndHostLifecycle", tweak(r, func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Host: "10.0.0.1", Port: intOrString(80)}}}
		})},
		{"lifecycle host", "hostProbesAndHostLifecycle", tweak(r, func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
				HTTPGet: &corev1.HTTPGetAction{Host: "metadata.google.internal", Port: intOrString(80)}}}
		})},

		{"privileged", "privileged", tweak(r, func(p *corev1.Pod) {
			sc(p).AllowPrivilegeEscalation = nil
			sc(p).Privileged = ptr(true)
		})},
		{"privileged init container", "privileged", tweak(r, func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name = "init"
			c.SecurityContext = &corev1.SecurityContext{Privileged: ptr(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
			p.Spec.InitContainers = []corev1.Container{c}
		})},
		{"privileged false", "", tweak(r, func(p *corev1.Pod) { sc(p).Privileged = ptr(false) })},

		// procMount (baseline) fails only before policy v1.35: validation
		// allows Unmasked only with hostUsers: false, which 1.35 relaxes.
		{"procMount unmasked in a user namespace", "procMount_restricted", tweak(r, func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr(false)
			sc(p).ProcMount = ptr(corev1.UnmaskedProcMount)
		})},

		{"nfs volume", "restrictedVolumes", tweak(r, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "n", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.example", Path: "/x"}}}}
		})},
		{"emptyDir and projected volumes", "", tweak(r, func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		})},

		{"runAsNonRoot unset", "runAsNonRoot", tweak(r, func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsNonRoot = nil })},
		{"runAsNonRoot false in container", "runAsNonRoot", tweak(r, func(p *corev1.Pod) { sc(p).RunAsNonRoot = ptr(false) })},
		{"runAsNonRoot unset in a user namespace", "", tweak(r, func(p *corev1.Pod) {
			p.Spec.SecurityContext.RunAsNonRoot = nil
			p.Spec.HostUsers = ptr(false)
		})},
		{"runAsUser 0", "runAsUser", tweak(r, func(p *corev1.Pod) { sc(p).RunAsUser = ptr(int64(0)) })},
		{"runAsUser 0 in a user namespace", "", tweak(r, func(p *corev1.Pod) {
			p.Spec.HostUsers = ptr(false)
			p.Spec.SecurityContext.RunAsNonRoot = nil
			sc(p).RunAsUser = ptr(int64(0))
		})},

		{"seLinux type spc_t", "seLinuxOptions", tweak(r, func(p *corev1.Pod) { sc(p).SELinuxOptions = &corev1.SELinuxOptions{Type: "spc_t"} })},
		{"seLinux user", "seLinuxOptions", tweak(r, func(p *corev1.Pod) { p.Spec.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{User: "system_u"} })},
		{"seLinux container_t and level", "", tweak(r, func(p *corev1.Pod) {
			sc(p).SELinuxOptions = &corev1.SELinuxOptions{Type: "container_t", Level: "s0:c1,c2"}
		})},

		{"seccomp unconfined", "seccompProfile_baseline", tweak(r, func(p *corev1.Pod) {
			sc(p).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
		})},
		{"seccomp unset", "seccompProfile_restricted", tweak(r, func(p *corev1.Pod) { p.Spec.SecurityContext.SeccompProfile = nil })},
		{"seccomp localhost", "", tweak(r, func(p *corev1.Pod) {
			p.Spec.SecurityContext.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("profiles/x.json")}
		})},

		{"unsafe sysctl", "sysctls", tweak(r, func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.msgmax", Value: "65536"}}
		})},
		{"safe sysctl", "", tweak(r, func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65535"}}
		})},

		{"windows hostProcess", "windowsHostProcess", tweak(windowsPod, func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.SecurityContext.WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true), RunAsUserName: ptr(`NT AUTHORITY\SYSTEM`)}
			p.Spec.SecurityContext.RunAsNonRoot = nil
		})},
	}
}

// policyVersions are the Pod Security policy versions the parity test
// runs at: latest (no version label), the last version before the 1.35
// user-namespace relaxations, and the first.
var policyVersions = []string{"latest", "v1.34", "v1.0"}

// psaNamespaces creates one namespace per level and policy version,
// "psa-<level>-<version>", labelled for PSA enforce, and returns them.
func psaNamespaces(t *testing.T, srv *kubeapiserver.Server) []corev1.Namespace {
	var out []corev1.Namespace
	for _, v := range policyVersions {
		for _, l := range []string{"privileged", "baseline", "restricted"} {
			labels := map[string]string{"pod-security.kubernetes.io/enforce": l}
			if v != "latest" {
				labels["pod-security.kubernetes.io/enforce-version"] = v
			}
			out = append(out, *srv.Namespace(t, nsName(l, v), labels))
		}
	}
	return out
}

func nsName(level, version string) string {
	return "psa-" + level + "-" + strings.ReplaceAll(version, ".", "-")
}

// TestPodSecurityParity: for every fixture and policy version, our level
// must be what PSA enforce on the real kube-apiserver admits: admitted by a
// "restricted" namespace iff our level is restricted, by a "baseline"
// namespace iff it is not privileged; the refusal message must be ours
// word for word; and every upstream check is failed by some fixture.
// Ground truth is the server, not the library we call.
func TestPodSecurityParity(t *testing.T) {
	srv := kubeapiserver.Start(t)
	snap := &cluster.Snapshot{Namespaces: psaNamespaces(t, srv)}
	evs := map[string]*posture.Evaluator{}
	for _, v := range policyVersions {
		ev, err := posture.NewEvaluator(posture.WithPodSecurityVersion(v))
		if err != nil {
			t.Fatal(err)
		}
		evs[v] = ev
	}

	// exceptions lists fixtures where a disagreement is understood and
	// accepted, with the reason. It is empty: none is known.
	exceptions := map[string]string{}

	failedChecks := map[string]bool{}
	for _, fx := range psaFixtures() {
		t.Run(fx.name, func(t *testing.T) {
			for _, v := range policyVersions {
				pod := fx.pod()
				ours := evs[v].Pod(snap, &cluster.Pod{Pod: *pod.DeepCopy()})
				var ids []string
				for _, f := range ours.PodSecurity.Failures {
					ids = append(ids, f.ID)
					failedChecks[f.ID] = true
				}
				if v == "latest" {
					if fx.fails != "" && !slices.Contains(ids, fx.fails) {
						t.Errorf("fixture meant to fail %s fails %v", fx.fails, ids)
					}
					if fx.fails == "" && ours.PodSecurity.Level != "restricted" {
						t.Errorf("passing fixture is %s: %v", ours.PodSecurity.Level, ids)
					}
				}
				compareWithServer(t, srv, evs[v], snap, pod, ours.PodSecurity.Level, v, exceptions[fx.name])
			}
		})
	}
	for _, c := range policy.DefaultChecks() {
		if !failedChecks[string(c.ID)] {
			t.Errorf("upstream check %s has no failing fixture at any policy version", c.ID)
		}
	}
}

// TestPodSecurityParityIsolationFixtures runs the golden file's pods past
// the real server the same way.
func TestPodSecurityParityIsolationFixtures(t *testing.T) {
	srv := kubeapiserver.Start(t)
	ctx := context.Background()
	snap, rep := load(t, "testdata/manifests/isolation.yaml")
	ev, err := posture.NewEvaluator()
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range snap.RuntimeClasses {
		rc := rc.DeepCopy()
		rc.ResourceVersion = ""
		if _, err := srv.Client.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	psnap := &cluster.Snapshot{Namespaces: psaNamespaces(t, srv), RuntimeClasses: snap.RuntimeClasses}
	for i, p := range snap.Pods {
		if p.Spec.RuntimeClassName != nil && *p.Spec.RuntimeClassName == "firecracker" {
			t.Run(p.Name, func(t *testing.T) { missingRuntimeClassRejected(t, srv) })
			continue
		}
		pod := p.Pod.DeepCopy()
		// Ephemeral containers cannot be given at creation (the API server
		// refuses them); PSA checks them on the ephemeralcontainers
		// subresource, which this test does not drive.
		pod.Spec.EphemeralContainers = nil
		want := rep.Pods[i].PodSecurity.Level
		if len(p.Spec.EphemeralContainers) > 0 {
			want = ev.Pod(psnap, &cluster.Pod{Pod: *pod}).PodSecurity.Level
		}
		t.Run(p.Name, func(t *testing.T) { compareWithServer(t, srv, ev, psnap, pod, want, "latest", "") })
	}
}

// compareWithServer dry-run creates pod in the namespaces of policy version
// and checks that admission agrees with level and with our refusal message.
func compareWithServer(t *testing.T, srv *kubeapiserver.Server, ev *posture.Evaluator, snap *cluster.Snapshot, pod *corev1.Pod, level, version, exception string) {
	t.Helper()
	ctx := context.Background()
	rank := map[string]int{"privileged": 0, "baseline": 1, "restricted": 2}
	for _, nsLevel := range []string{"privileged", "baseline", "restricted"} {
		p := pod.DeepCopy()
		p.Namespace = nsName(nsLevel, version)
		_, err := srv.Client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		var status apierrors.APIStatus
		switch {
		case err == nil:
		case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity"):
		case errors.As(err, &status):
			t.Fatalf("fixture refused for another reason than PodSecurity (fix the fixture): %v", err)
		default:
			t.Fatal(err)
		}
		serverAdmits := err == nil
		weAdmit := rank[level] >= rank[nsLevel]
		ours := ev.Pod(snap, &cluster.Pod{Pod: *p})
		if serverAdmits != weAdmit || TriOf(serverAdmits) != ours.Admitted {
			msg := fmt.Sprintf("namespace %s: server admits=%v, our level %s (admitted %v): server said %v", p.Namespace, serverAdmits, level, ours.Admitted, err)
			if exception != "" {
				t.Logf("known exception (%s): %s", exception, msg)
				continue
			}
			t.Error(msg)
		}
		if !serverAdmits && !strings.HasSuffix(err.Error(), ours.AdmittedReason) {
			t.Errorf("refusal message differs:\nserver: %s\nours:   %s", err, ours.AdmittedReason)
		}
	}
}

// TriOf mirrors posture.TriOf for readability in this file.
func TriOf(b bool) posture.Tri { return posture.TriOf(b) }

// missingRuntimeClassRejected: the API server refuses a pod whose
// RuntimeClass does not exist, which is why posture calls a class missing
// from the snapshot Unknown rather than plain runc.
func missingRuntimeClassRejected(t *testing.T, srv *kubeapiserver.Server) {
	p := restrictedPod()
	p.Spec.RuntimeClassName = ptr("firecracker")
	_, err := srv.Client.CoreV1().Pods(nsName("privileged", "latest")).Create(context.Background(), p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil || !strings.Contains(err.Error(), `RuntimeClass "firecracker" not found`) {
		t.Errorf("err = %v, want RuntimeClass not found", err)
	}
}

func intOrString(i int) intstr.IntOrString { return intstr.FromInt32(int32(i)) }

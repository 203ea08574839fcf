// Package synth generates synthetic cluster snapshots of a chosen size
// (namespaces, pods, NetworkPolicies, bindings) for benchmarks of the graph.
package synth

import (
	"fmt"
	"math/rand/v2"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/credence-dev/credence/cluster"
)

// Config sizes the cluster.
type Config struct {
	Namespaces      int
	Pods            int
	NetworkPolicies int
	Bindings        int
	Nodes           int
	Replicas        int // pods per deployment
	Seed            uint64
}

// Issue5 is the size issue 5 asks for: 10,000 pods, 2,000 NetworkPolicies,
// 5,000 bindings.
var Issue5 = Config{Namespaces: 200, Pods: 10_000, NetworkPolicies: 2_000, Bindings: 5_000, Nodes: 100, Replicas: 5, Seed: 1}

var (
	tiers = []string{"frontend", "backend", "db", "cache", "worker"}
	teams = []string{"red", "blue", "green", "gold"}
	tcp   = corev1.ProtocolTCP
	tru   = true
)

// Generate builds a deterministic snapshot of size c.
func Generate(c Config) *cluster.Snapshot {
	r := rand.New(rand.NewPCG(c.Seed, 42))
	s := &cluster.Snapshot{Source: fmt.Sprintf("synthetic %+v", c)}
	for i := range c.Nodes {
		n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%03d", i), Labels: map[string]string{}}}
		if i < 3 {
			n.Labels["node-role.kubernetes.io/control-plane"] = ""
		}
		s.Nodes = append(s.Nodes, n)
	}
	nsName := func(i int) string { return fmt.Sprintf("ns-%03d", i) }
	for i := range c.Namespaces {
		l := map[string]string{"team": teams[i%len(teams)], "kubernetes.io/metadata.name": nsName(i)}
		if i%10 == 0 {
			l["credence.dev/critical"] = "true"
		}
		if i%3 == 0 {
			l["pod-security.kubernetes.io/enforce"] = "baseline"
		}
		s.Namespaces = append(s.Namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i), Labels: l}})
	}
	podsPerNS := c.Pods / c.Namespaces
	depsPerNS := max(1, podsPerNS/c.Replicas)
	podIP := 0
	for ni := range c.Namespaces {
		ns := nsName(ni)
		s.ServiceAccounts = append(s.ServiceAccounts, corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}})
		for d := range depsPerNS {
			app := fmt.Sprintf("app-%02d", d)
			tier := tiers[d%len(tiers)]
			sa := app
			s.ServiceAccounts = append(s.ServiceAccounts, corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}})
			secret := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: app + "-creds", Namespace: ns}, Type: corev1.SecretTypeOpaque}
			s.Secrets = append(s.Secrets, secret)
			for rep := range c.Replicas {
				podIP++
				p := corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", app, rep), Namespace: ns,
						Labels: map[string]string{"app": app, "tier": tier, "pod-template-hash": "h" + app}},
					Spec: corev1.PodSpec{
						NodeName:           fmt.Sprintf("node-%03d", r.IntN(c.Nodes)),
						ServiceAccountName: sa,
						Containers: []corev1.Container{{Name: "main", Image: "registry.example/" + app + ":1",
							Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "metrics", ContainerPort: 9090}},
							Env:   []corev1.EnvVar{{Name: "CREDS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret.Name}, Key: "k"}}}}}},
					},
					Status: corev1.PodStatus{PodIP: fmt.Sprintf("10.%d.%d.%d", 64+podIP>>16, (podIP>>8)&255, podIP&255)},
				}
				if d%7 == 3 {
					p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Image: "registry.example/proxy:1"})
				}
				switch r.IntN(50) {
				case 0:
					p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &tru}
				case 1:
					p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/kubelet"}}}}
					p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "host", MountPath: "/host"}}
				case 2:
					p.Spec.HostNetwork = true
				}
				owner := true
				p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: app + "-h", Controller: &owner}}
				s.Pods = append(s.Pods, cluster.Pod{Pod: p})
			}
		}
	}
	// NetworkPolicies: default-deny ingress, same-tier allows on the named
	// port, cross-namespace allows by team label, monitoring by namespace,
	// an occasional ipBlock, and egress restrictions.
	for i := range c.NetworkPolicies {
		ns := nsName(i % c.Namespaces)
		k := i / c.Namespaces
		np := networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("np-%d", k), Namespace: ns}}
		app := fmt.Sprintf("app-%02d", k%depsPerNS)
		http := intstr.FromString("http")
		switch k % 6 {
		case 0:
			np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
		case 1:
			np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"tier": "db"}}
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "backend"}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &http}}}}
		case 2:
			np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": teams[r.IntN(len(teams))]}},
				PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "frontend"}}}}}}
		case 3:
			np.Spec.PodSelector = metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"frontend", "backend"}}}}
			port := intstr.FromInt32(9090)
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": nsName(0)}}}},
				Ports: []networkingv1.NetworkPolicyPort{{Port: &port}}}}
		case 4:
			np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"tier": "frontend"}}
			np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0", Except: []string{"10.0.0.0/8"}}}}}}
		case 5:
			np.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"tier": "worker"}}
			np.Spec.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}
			np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "db"}}}}}}
		}
		s.NetworkPolicies = append(s.NetworkPolicies, np)
	}
	// RBAC: the usual ClusterRoles, per-namespace Roles, and bindings.
	rule := func(groups, res, verbs []string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: groups, Resources: res, Verbs: verbs}
	}
	s.ClusterRoles = []rbacv1.ClusterRole{
		{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"}, Rules: []rbacv1.PolicyRule{rule([]string{"*"}, []string{"*"}, []string{"*"})}},
		{ObjectMeta: metav1.ObjectMeta{Name: "view"}, Rules: []rbacv1.PolicyRule{rule([]string{"", "apps"}, []string{"pods", "services", "deployments"}, []string{"get", "list", "watch"})}},
		{ObjectMeta: metav1.ObjectMeta{Name: "edit"}, Rules: []rbacv1.PolicyRule{
			rule([]string{""}, []string{"pods", "pods/exec", "secrets", "serviceaccounts/token"}, []string{"*"}),
			rule([]string{"apps"}, []string{"deployments"}, []string{"*"}),
			rule([]string{""}, []string{"serviceaccounts"}, []string{"impersonate"})}},
		{ObjectMeta: metav1.ObjectMeta{Name: "secret-reader"}, Rules: []rbacv1.PolicyRule{rule([]string{""}, []string{"secrets"}, []string{"get", "list"})}},
		{ObjectMeta: metav1.ObjectMeta{Name: "node-proxy"}, Rules: []rbacv1.PolicyRule{rule([]string{""}, []string{"nodes/proxy"}, []string{"get"})}},
	}
	roles := []string{"view", "view", "view", "secret-reader", "edit"}
	for i := range c.Bindings {
		ns := nsName(r.IntN(c.Namespaces))
		sa := fmt.Sprintf("app-%02d", r.IntN(depsPerNS))
		if i%100 == 0 {
			cr := "view"
			if i%1000 == 0 {
				cr = "node-proxy"
			}
			if i == 2500 {
				cr = "cluster-admin"
			}
			s.ClusterRoleBindings = append(s.ClusterRoleBindings, rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("crb-%d", i)},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: cr},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}})
			continue
		}
		target := nsName(r.IntN(c.Namespaces))
		if r.IntN(4) > 0 {
			target = ns
		}
		s.RoleBindings = append(s.RoleBindings, rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("rb-%d", i), Namespace: target},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roles[r.IntN(len(roles))]},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}}})
	}
	return s
}

package cluster

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	nodev1 "k8s.io/api/node/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/credence-dev/credence/cluster/defaultrbac"
)

// store keeps objects of one kind in arrival order; a second object with the
// same key replaces the first (as a later kubectl apply would).
type store[T any] struct {
	items []T
	index map[string]int
}

func (s *store[T]) put(key string, v T) (replaced bool) {
	if s.index == nil {
		s.index = map[string]int{}
	}
	if i, ok := s.index[key]; ok {
		s.items[i] = v
		return true
	}
	s.index[key] = len(s.items)
	s.items = append(s.items, v)
	return false
}

// builder collects objects from either source, then finish turns them into
// a Snapshot: secrets stripped, workloads expanded, ClusterRoles aggregated,
// selectors checked, everything sorted.
type builder struct {
	mu      sync.Mutex
	opts    *options
	objects int
	snap    Snapshot
	// manifests: the source describes part of a cluster, so the default
	// RBAC it lacks is added (unless WithoutDefaultRBAC).
	manifests bool

	// sharedPods: pods given WithSharedPods, by reference (never changed).
	sharedPods      []*corev1.Pod
	sharedPodIndex  map[string]int
	namespaces      store[corev1.Namespace]
	nodes           store[corev1.Node]
	pods            store[corev1.Pod]
	serviceAccounts store[corev1.ServiceAccount]
	secrets         store[corev1.Secret]
	services        store[corev1.Service]
	ingresses       store[networkingv1.Ingress]
	netpols         store[networkingv1.NetworkPolicy]
	roles           store[rbacv1.Role]
	clusterRoles    store[rbacv1.ClusterRole]
	roleBindings    store[rbacv1.RoleBinding]
	crBindings      store[rbacv1.ClusterRoleBinding]
	pvs             store[corev1.PersistentVolume]
	pvcs            store[corev1.PersistentVolumeClaim]
	runtimeClasses  store[nodev1.RuntimeClass]
	mutating        store[admissionregistrationv1.MutatingWebhookConfiguration]
	validating      store[admissionregistrationv1.ValidatingWebhookConfiguration]
	vaps            store[admissionregistrationv1.ValidatingAdmissionPolicy]
	vapBindings     store[admissionregistrationv1.ValidatingAdmissionPolicyBinding]

	deployments  store[appsv1.Deployment]
	statefulSets store[appsv1.StatefulSet]
	daemonSets   store[appsv1.DaemonSet]
	replicaSets  store[appsv1.ReplicaSet]
	jobs         store[batchv1.Job]
	cronJobs     store[batchv1.CronJob]
	// replicationControllers: the core/v1 ancestor of ReplicaSets.
	replicationControllers store[corev1.ReplicationController]
}

func newBuilder(o *options, source string) *builder {
	return &builder{opts: o, snap: Snapshot{Source: source}}
}

func (b *builder) gap(g Gap) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.snap.Gaps = append(b.snap.Gaps, g)
}

func (b *builder) ignore(kind string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.snap.Ignored == nil {
		b.snap.Ignored = map[string]int{}
	}
	b.snap.Ignored[kind]++
}

// errTooManyObjects is returned once the snapshot holds opts.maxObjects.
type errTooManyObjects struct{ max int }

func (e errTooManyObjects) Error() string {
	return fmt.Sprintf("more than %d objects: raise the limit or narrow the input", e.max)
}

// add keeps obj, scrubbed of what credence must never hold (secret data,
// last-applied configuration) and of what it does not need (managed fields).
// A duplicate from manifests (src set) is reported as a gap; from a live
// cluster it is a re-read page and silently replaces the first.
func add[T any, PT interface {
	*T
	metav1.Object
}](b *builder, s *store[T], kind string, obj PT, src string) error {
	scrub(obj)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objects++
	if b.objects > b.opts.maxObjects {
		return errTooManyObjects{b.opts.maxObjects}
	}
	key := obj.GetNamespace() + "/" + obj.GetName()
	if s.put(key, *obj) && src != "" {
		b.snap.Gaps = append(b.snap.Gaps, Gap{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), Source: src,
			Reason: "defined more than once: the later definition is kept"})
	}
	return nil
}

// addSharedPod keeps a pod given WithSharedPods by reference; a later one
// of the same namespace and name replaces it, as add does.
func (b *builder) addSharedPod(p *corev1.Pod) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objects++
	if b.objects > b.opts.maxObjects {
		return errTooManyObjects{b.opts.maxObjects}
	}
	key := p.Namespace + "/" + p.Name
	if i, ok := b.sharedPodIndex[key]; ok {
		b.sharedPods[i] = p
		return nil
	}
	if b.sharedPodIndex == nil {
		b.sharedPodIndex = map[string]int{}
	}
	b.sharedPodIndex[key] = len(b.sharedPods)
	b.sharedPods = append(b.sharedPods, p)
	return nil
}

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

func scrub(obj metav1.Object) {
	obj.SetManagedFields(nil)
	switch o := obj.(type) {
	case *corev1.Secret:
		o.Data = nil
		o.StringData = nil
		// The annotation holds the whole manifest, data included.
		if _, ok := o.Annotations[lastApplied]; ok {
			delete(o.Annotations, lastApplied)
		}
	}
}

// finish builds the Snapshot. It is called once, after every object was added.
func (b *builder) finish() *Snapshot {
	s := &b.snap
	s.Namespaces = sorted(b.namespaces.items)
	s.Nodes = sorted(b.nodes.items)
	s.ServiceAccounts = sorted(b.serviceAccounts.items)
	s.Secrets = sorted(b.secrets.items)
	s.Services = sorted(b.services.items)
	s.Ingresses = sorted(b.ingresses.items)
	s.NetworkPolicies = sorted(b.netpols.items)
	s.PersistentVolumes = sorted(b.pvs.items)
	s.PersistentVolumeClaims = sorted(b.pvcs.items)
	s.RuntimeClasses = sorted(b.runtimeClasses.items)
	s.MutatingWebhooks = sorted(b.mutating.items)
	s.ValidatingWebhooks = sorted(b.validating.items)
	s.ValidatingAdmissionPolicies = sorted(b.vaps.items)
	s.ValidatingAdmissionPolicyBindings = sorted(b.vapBindings.items)

	if b.manifests && !b.opts.noDefaultRBAC {
		b.addDefaultRBAC()
	}
	s.Roles = sorted(b.roles.items)
	s.ClusterRoles = sorted(b.clusterRoles.items)
	s.RoleBindings = sorted(b.roleBindings.items)
	s.ClusterRoleBindings = sorted(b.crBindings.items)
	s.Pods = b.expandWorkloads()
	sortStable(s.Pods, func(x, y *Pod) int {
		return cmp.Or(cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
	})
	if b.opts.aggregate {
		s.Gaps = append(s.Gaps, aggregateClusterRoles(s.ClusterRoles)...)
	}
	s.Gaps = append(s.Gaps, checkSelectors(s)...)
	slices.SortStableFunc(s.Gaps, func(x, y Gap) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Namespace, y.Namespace),
			cmp.Compare(x.Name, y.Name), cmp.Compare(x.Source, y.Source), cmp.Compare(x.Reason, y.Reason))
	})
	s.Gaps = slices.Compact(s.Gaps)
	return s
}

func sorted[T any, PT interface {
	*T
	metav1.Object
}](items []T) []T {
	sortStable(items, func(x, y *T) int {
		px, py := PT(x), PT(y)
		return cmp.Or(cmp.Compare(px.GetNamespace(), py.GetNamespace()), cmp.Compare(px.GetName(), py.GetName()))
	})
	return items
}

// sortStable sorts items in place, keeping equal ones in order, and moves
// each item once: a sort that compares or swaps the items themselves copies
// them over and over (a Pod is over 1 KB; at 10,000 pods that was half a
// second of CPU per snapshot). It sorts their indices, then follows the
// permutation's cycles.
func sortStable[T any](items []T, compare func(x, y *T) int) {
	order := make([]int32, len(items))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return compare(&items[a], &items[b]) })
	// items[i] must become the old items[order[i]].
	for start := range order {
		if order[start] < 0 || int(order[start]) == start {
			continue
		}
		held := items[start]
		at := start
		for {
			from := int(order[at])
			order[at] = -1
			if from == start {
				items[at] = held
				break
			}
			items[at] = items[from]
			at = from
		}
	}
}

// addDefaultRBAC adds the default RBAC objects of Kubernetes
// defaultrbac.Version that the manifests lack (by namespace and name), each
// marked with DefaultAnnotation, and says so in Defaults. A manifest's own
// object of the same name wins (it may be a modified cluster-admin).
func (b *builder) addDefaultRBAC() {
	set, err := defaultrbac.Load()
	if err != nil {
		b.snap.Gaps = append(b.snap.Gaps, Gap{Kind: "ClusterRole", Reason: "the default RBAC of Kubernetes could not be loaded (" + err.Error() + "): roles the manifests bind but lack are unknown"})
		return
	}
	mark := "Kubernetes " + set.KubernetesVersion + " default RBAC"
	n := [4]int{}
	addAll := func(i int, m *metav1.ObjectMeta, put func(key string) bool) {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[DefaultAnnotation] = mark
		if put(m.Namespace + "/" + m.Name) {
			n[i]++
		}
	}
	for i := range set.ClusterRoles {
		o := &set.ClusterRoles[i]
		addAll(0, &o.ObjectMeta, func(k string) bool { return putIfAbsent(&b.clusterRoles, k, *o) })
	}
	for i := range set.ClusterRoleBindings {
		o := &set.ClusterRoleBindings[i]
		addAll(1, &o.ObjectMeta, func(k string) bool { return putIfAbsent(&b.crBindings, k, *o) })
	}
	for i := range set.Roles {
		o := &set.Roles[i]
		addAll(2, &o.ObjectMeta, func(k string) bool { return putIfAbsent(&b.roles, k, *o) })
	}
	for i := range set.RoleBindings {
		o := &set.RoleBindings[i]
		addAll(3, &o.ObjectMeta, func(k string) bool { return putIfAbsent(&b.roleBindings, k, *o) })
	}
	b.snap.Defaults = append(b.snap.Defaults, fmt.Sprintf("%s: %d ClusterRoles, %d ClusterRoleBindings, %d Roles and %d RoleBindings the manifests lack were added (objects annotated %s)",
		mark, n[0], n[1], n[2], n[3], DefaultAnnotation))
}

func putIfAbsent[T any](s *store[T], key string, v T) bool {
	if _, ok := s.index[key]; ok {
		return false
	}
	s.put(key, v)
	return true
}

package server

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/credence-dev/credence/cluster"
)

// Finished pods are never listed or watched: they run nothing, and a
// cluster may hold thousands of them.
const runningPods = "status.phase!=Succeeded,status.phase!=Failed"

// Index names.
const (
	byController = "controller" // ns/Kind/name of the controller, ns/Pod/name for a bare pod
)

// kindSpec is one kind the server watches: what the trust graph reads, as
// cluster's live reader lists it (cluster/livekinds.go).
type kindSpec struct {
	name, group, resource string
	workload              bool
	informer              func(informers.SharedInformerFactory) cache.SharedIndexInformer
}

// watchedKinds is the explicit list of watched kinds, Namespace first.
var watchedKinds = []kindSpec{
	{"Namespace", "", "namespaces", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().Namespaces().Informer()
	}},
	{"Node", "", "nodes", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().Nodes().Informer()
	}},
	{"Pod", "", "pods", false, nil}, // made apart: running pods only
	{"ServiceAccount", "", "serviceaccounts", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().ServiceAccounts().Informer()
	}},
	{"Secret", "", "secrets", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().Secrets().Informer()
	}},
	{"Service", "", "services", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().Services().Informer()
	}},
	{"PersistentVolume", "", "persistentvolumes", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().PersistentVolumes().Informer()
	}},
	{"PersistentVolumeClaim", "", "persistentvolumeclaims", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().PersistentVolumeClaims().Informer()
	}},
	{"Ingress", "networking.k8s.io", "ingresses", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Networking().V1().Ingresses().Informer()
	}},
	{"NetworkPolicy", "networking.k8s.io", "networkpolicies", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Networking().V1().NetworkPolicies().Informer()
	}},
	{"Role", "rbac.authorization.k8s.io", "roles", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Rbac().V1().Roles().Informer()
	}},
	{"ClusterRole", "rbac.authorization.k8s.io", "clusterroles", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Rbac().V1().ClusterRoles().Informer()
	}},
	{"RoleBinding", "rbac.authorization.k8s.io", "rolebindings", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Rbac().V1().RoleBindings().Informer()
	}},
	{"ClusterRoleBinding", "rbac.authorization.k8s.io", "clusterrolebindings", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Rbac().V1().ClusterRoleBindings().Informer()
	}},
	{"RuntimeClass", "node.k8s.io", "runtimeclasses", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Node().V1().RuntimeClasses().Informer()
	}},
	{"MutatingWebhookConfiguration", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Admissionregistration().V1().MutatingWebhookConfigurations().Informer()
	}},
	{"ValidatingWebhookConfiguration", "admissionregistration.k8s.io", "validatingwebhookconfigurations", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Admissionregistration().V1().ValidatingWebhookConfigurations().Informer()
	}},
	{"ValidatingAdmissionPolicy", "admissionregistration.k8s.io", "validatingadmissionpolicies", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Admissionregistration().V1().ValidatingAdmissionPolicies().Informer()
	}},
	{"ValidatingAdmissionPolicyBinding", "admissionregistration.k8s.io", "validatingadmissionpolicybindings", false, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Admissionregistration().V1().ValidatingAdmissionPolicyBindings().Informer()
	}},
	{"Deployment", "apps", "deployments", true, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Apps().V1().Deployments().Informer()
	}},
	{"StatefulSet", "apps", "statefulsets", true, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Apps().V1().StatefulSets().Informer()
	}},
	{"DaemonSet", "apps", "daemonsets", true, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Apps().V1().DaemonSets().Informer()
	}},
	{"ReplicaSet", "apps", "replicasets", true, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Apps().V1().ReplicaSets().Informer()
	}},
	{"Job", "batch", "jobs", true, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Batch().V1().Jobs().Informer()
	}},
	{"CronJob", "batch", "cronjobs", true, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Batch().V1().CronJobs().Informer()
	}},
	{"ReplicationController", "", "replicationcontrollers", true, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().ReplicationControllers().Informer()
	}},
}

// WatchedResources lists the API group and resource of every kind the
// server lists and watches (what its RBAC must allow).
func WatchedResources() [][2]string {
	out := make([][2]string, len(watchedKinds))
	for i, k := range watchedKinds {
		out[i] = [2]string{k.group, k.resource}
	}
	return out
}

// watchedKind is one informer.
type watchedKind struct {
	name     string // "Pod", "Deployment"
	group    string // API group for the access check
	resource string
	inf      cache.SharedIndexInformer
	// workload kinds own pods; a change to one re-assesses it.
	workload bool
}

// change is what an informer event means for the assessments: the
// workloads to re-assess (keys), or everything (all: a change to RBAC,
// NetworkPolicy, a Service, ... can change any workload's blast radius).
type change struct {
	keys []string
	all  bool
	kind string
}

// watcher keeps slim informer caches of every kind the trust graph reads and
// turns their events into changes.
type watcher struct {
	cs     kubernetes.Interface
	f      informers.SharedInformerFactory
	kinds  []*watchedKind
	byName map[string]*watchedKind
	gaps   []cluster.Gap
	gen    atomic.Int64 // bumped by every relevant event
	synced atomic.Bool
	notify func(change)

	mu sync.Mutex
	// ownless: each pod's labels and annotations without the server's
	// own, by UID and resourceVersion, from the last snapshot: consecutive
	// models share them instead of a copy each.
	ownless map[string]ownlessMeta
}

type ownlessMeta struct{ labels, annotations map[string]string }

func newWatcher(cs kubernetes.Interface, notify func(change)) *watcher {
	w := &watcher{cs: cs, notify: notify, byName: map[string]*watchedKind{}}
	w.f = informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTransform(slim))
	pods := w.f.InformerFor(&corev1.Pod{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return coreinformers.NewFilteredPodInformer(c, metav1.NamespaceAll, resync, cache.Indexers{byController: indexController},
			func(lo *metav1.ListOptions) { lo.FieldSelector = runningPods })
	})
	for _, k := range watchedKinds {
		inf := pods
		if k.name != "Pod" {
			inf = k.informer(w.f)
		}
		wk := &watchedKind{name: k.name, group: k.group, resource: k.resource, inf: inf, workload: k.workload}
		w.kinds = append(w.kinds, wk)
		w.byName[k.name] = wk
	}
	for _, k := range []string{"ReplicaSet", "Job"} {
		_ = w.byName[k].inf.AddIndexers(cache.Indexers{byController: indexController})
	}
	return w
}

// indexController indexes an object by the controller that owns it.
func indexController(obj any) ([]string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		return []string{m.GetNamespace() + "/" + ref.Kind + "/" + ref.Name}, nil
	}
	if _, ok := obj.(*corev1.Pod); ok {
		return []string{m.GetNamespace() + "/Pod/" + m.GetName()}, nil
	}
	return nil, nil
}

// start checks which kinds this identity may list and watch (a kind it may
// not becomes a gap of every snapshot, as credence assess reports it), starts
// the informers of the others and returns once they synced or ctx ends.
func (w *watcher) start(ctx context.Context) error {
	var keep []*watchedKind
	for _, k := range w.kinds {
		if why := w.denied(ctx, k); why != "" {
			w.gaps = append(w.gaps, cluster.Gap{Kind: k.name, Reason: why})
			continue
		}
		keep = append(keep, k)
	}
	for _, k := range keep {
		kind := k
		_, err := kind.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { w.event(kind, nil, obj) },
			UpdateFunc: func(old, obj any) { w.event(kind, old, obj) },
			DeleteFunc: func(obj any) { w.event(kind, obj, nil) },
		})
		if err != nil {
			return err
		}
		// Each informer is started by itself: the factory would start every
		// kind it made, the refused ones too.
		go kind.inf.Run(ctx.Done())
	}
	w.mu.Lock()
	w.kinds = keep
	w.mu.Unlock()
	var syncs []cache.InformerSynced
	for _, k := range keep {
		syncs = append(syncs, k.inf.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return ctx.Err()
	}
	w.synced.Store(true)
	w.gen.Add(1)
	return nil
}

// denied says why this identity may not list and watch kind k ("" when it
// may): SelfSubjectAccessReview, the cluster's own answer.
func (w *watcher) denied(ctx context.Context, k *watchedKind) string {
	for _, verb := range []string{"list", "watch"} {
		r, err := w.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: verb, Group: k.group, Resource: k.resource}}}, metav1.CreateOptions{})
		if err != nil {
			return "" // cannot ask: try, and let the informer say
		}
		if !r.Status.Allowed {
			why := r.Status.Reason
			if why == "" {
				why = "no RBAC rule allows it"
			}
			return fmt.Sprintf("forbidden: may not %s %s cluster-wide (%s)", verb, k.resource, why)
		}
	}
	return ""
}

// event turns one informer event into a change, ignoring pod updates that
// change nothing credence reads (the server's own labels, a resync).
func (w *watcher) event(k *watchedKind, old, obj any) {
	if old != nil && obj != nil && !relevantChange(old, obj) {
		return
	}
	w.gen.Add(1)
	if w.notify == nil {
		return
	}
	cur := obj
	if cur == nil {
		cur = old
	}
	if t, ok := cur.(cache.DeletedFinalStateUnknown); ok {
		cur = t.Obj
	}
	m, ok := cur.(metav1.Object)
	if !ok {
		w.notify(change{all: true, kind: k.name})
		return
	}
	switch {
	case k.name == "Pod":
		w.notify(change{keys: []string{w.workloadOf(m)}, kind: k.name})
	case k.workload:
		// A workload object: its own key, and the top of its owner chain
		// (a ReplicaSet of a Deployment stands for the Deployment).
		keys := []string{m.GetNamespace() + "/" + k.name + "/" + m.GetName()}
		if top := w.topOwner(m.GetNamespace(), k.name, m.GetName()); top != keys[0] {
			keys = append(keys, top)
		}
		w.notify(change{keys: keys, kind: k.name})
	default:
		w.notify(change{all: true, kind: k.name})
	}
}

// relevantChange reports whether an update changes what credence reads.
func relevantChange(old, obj any) bool {
	a, ok1 := old.(metav1.Object)
	b, ok2 := obj.(metav1.Object)
	if !ok1 || !ok2 {
		return true
	}
	if a.GetResourceVersion() == b.GetResourceVersion() {
		return false // a resync
	}
	pa, ok1 := old.(*corev1.Pod)
	pb, ok2 := obj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return !sameBesidesVersion(old, obj)
	}
	return !equality.Semantic.DeepEqual(withoutOwn(pa.Labels), withoutOwn(pb.Labels)) ||
		!equality.Semantic.DeepEqual(withoutOwn(pa.Annotations), withoutOwn(pb.Annotations)) ||
		!equality.Semantic.DeepEqual(pa.OwnerReferences, pb.OwnerReferences) ||
		!equality.Semantic.DeepEqual(pa.Spec, pb.Spec) ||
		!equality.Semantic.DeepEqual(pa.Status, pb.Status)
}

// sameBesidesVersion reports whether two versions of a cached object, as
// the informers' transform left them, differ only in resourceVersion: a
// node's heartbeat, a Deployment's status, whose fields slim dropped. At
// 1,000 nodes a kubelet's status report comes every few hundred
// milliseconds; each would otherwise rebuild the model and resync every
// workload.
func sameBesidesVersion(old, obj any) bool {
	a, ok1 := old.(runtime.Object)
	b, ok2 := obj.(runtime.Object)
	if !ok1 || !ok2 {
		return false
	}
	a, b = a.DeepCopyObject(), b.DeepCopyObject()
	ma, ok1 := a.(metav1.Object)
	mb, ok2 := b.(metav1.Object)
	if !ok1 || !ok2 {
		return false
	}
	ma.SetResourceVersion("")
	mb.SetResourceVersion("")
	return equality.Semantic.DeepEqual(a, b)
}

// get returns the cached object of a kind by namespace and name.
func (w *watcher) get(kind, ns, name string) metav1.Object {
	k := w.byName[kind]
	if k == nil {
		return nil
	}
	key := name
	if ns != "" {
		key = ns + "/" + name
	}
	obj, ok, err := k.inf.GetStore().GetByKey(key)
	if err != nil || !ok {
		return nil
	}
	m, _ := obj.(metav1.Object)
	return m
}

// topOwner follows controller references from a workload object up through
// the cache, as the snapshot does (cluster's expandWorkloads): the owner
// moves up only to objects the cache holds. It returns ns/Kind/name.
func (w *watcher) topOwner(ns, kind, name string) string {
	for depth := 0; depth < 8; depth++ {
		obj := w.get(kind, ns, name)
		if obj == nil {
			break
		}
		ref := metav1.GetControllerOfNoCopy(obj)
		if ref == nil || w.get(ref.Kind, ns, ref.Name) == nil {
			break
		}
		kind, name = ref.Kind, ref.Name
	}
	return ns + "/" + kind + "/" + name
}

// workloadOf is the key of the workload a live pod belongs to
// (store.WorkloadKey of its Subject).
func (w *watcher) workloadOf(p metav1.Object) string {
	ref := metav1.GetControllerOfNoCopy(p)
	if ref == nil {
		return p.GetNamespace() + "/Pod/" + p.GetName()
	}
	return w.topOwner(p.GetNamespace(), ref.Kind, ref.Name)
}

// podsOf returns the cached live pods of a workload.
func (w *watcher) podsOf(key string) []*corev1.Pod {
	ns, kind, name, ok := splitKey(key)
	if !ok {
		return nil
	}
	pods := w.byName["Pod"]
	if pods == nil {
		return nil
	}
	if kind == "Pod" {
		if p, ok := w.get("Pod", ns, name).(*corev1.Pod); ok && metav1.GetControllerOfNoCopy(p) == nil {
			return []*corev1.Pod{p}
		}
		return nil
	}
	controllers := []string{key}
	for _, child := range []string{"ReplicaSet", "Job"} {
		if k := w.byName[child]; k != nil {
			objs, _ := k.inf.GetIndexer().ByIndex(byController, key)
			for _, o := range objs {
				if m, ok := o.(metav1.Object); ok {
					controllers = append(controllers, ns+"/"+child+"/"+m.GetName())
				}
			}
		}
	}
	var out []*corev1.Pod
	for _, c := range controllers {
		objs, _ := pods.inf.GetIndexer().ByIndex(byController, c)
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok && w.workloadOf(p) == key {
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func splitKey(key string) (ns, kind, name string, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// objects lists every cached object, for a snapshot.
func (w *watcher) objects() []runtime.Object {
	w.mu.Lock()
	kinds := w.kinds
	w.mu.Unlock()
	var out []runtime.Object
	for _, k := range kinds {
		for _, o := range k.inf.GetStore().List() {
			if ro, ok := o.(runtime.Object); ok {
				out = append(out, ro)
			}
		}
	}
	return out
}

// counts is the number of cached objects per kind (a metric).
func (w *watcher) counts() map[string]int {
	w.mu.Lock()
	kinds := w.kinds
	w.mu.Unlock()
	out := map[string]int{}
	for _, k := range kinds {
		out[k.name] = len(k.inf.GetStore().ListKeys())
	}
	return out
}

// allPods lists the cached live pods.
func (w *watcher) allPods() []*corev1.Pod {
	k := w.byName["Pod"]
	if k == nil {
		return nil
	}
	var out []*corev1.Pod
	for _, o := range k.inf.GetStore().List() {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}

// snapshot builds a cluster snapshot from the caches (pods shared, the
// rest copied; the caches are never changed), without the server's own
// labels and annotation.
func (w *watcher) snapshot(source string) (*cluster.Snapshot, error) {
	// The informers' objects never change (a new version is a new object).
	snap, err := cluster.FromObjects(source, w.objects(), cluster.WithSharedPods())
	if err != nil {
		return nil, err
	}
	snap.Live = true
	snap.Gaps = append(snap.Gaps, w.gaps...)
	// Snapshots are taken one at a time (under the server's model lock).
	next := make(map[string]ownlessMeta, len(snap.Pods))
	for i := range snap.Pods {
		p := &snap.Pods[i]
		if p.UID == "" || p.ResourceVersion == "" { // a workload's template
			p.Labels, p.Annotations = withoutOwn(p.Labels), withoutOwn(p.Annotations)
			continue
		}
		key := string(p.UID) + "/" + p.ResourceVersion
		m, ok := w.ownless[key]
		if !ok {
			m = ownlessMeta{withoutOwn(p.Labels), withoutOwn(p.Annotations)}
		}
		p.Labels, p.Annotations = m.labels, m.annotations
		next[key] = m
	}
	w.ownless = next
	return snap, nil
}

// exists reports whether a workload is in this replica's view of the
// cluster: a live pod of it, or the workload object itself.
func (w *watcher) exists(key string) bool {
	ns, kind, name, ok := splitKey(key)
	if !ok {
		return false
	}
	if kind != "Pod" && w.get(kind, ns, name) != nil {
		return true
	}
	return len(w.podsOf(key)) > 0
}

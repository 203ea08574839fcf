package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"

	"github.com/credence-dev/credence/cluster"
)

// InformerView keeps the cluster objects the trust graph reads in memory,
// watched with client-go informers: managed fields and the
// last-applied-configuration annotation are dropped, and secrets keep only
// their metadata and type (their data is dropped before it is stored). A
// kind the webhook may not list becomes a gap.
type InformerView struct {
	cs      kubernetes.Interface
	factory informers.SharedInformerFactory
	kinds   []viewKind
	gen     atomic.Uint64
	// policyGen is gen at the last change to a policy kind (policyKinds).
	policyGen atomic.Uint64
	ready     atomic.Bool

	mu   sync.Mutex
	gaps []cluster.Gap
}

type viewKind struct {
	name     string
	informer cache.SharedIndexInformer
	probe    func(ctx context.Context) error
	usable   bool
}

// NewInformerView watches the cluster cs talks to. resync 0 never relists.
func NewInformerView(cs kubernetes.Interface, resync time.Duration) *InformerView {
	f := informers.NewSharedInformerFactory(cs, resync)
	v := &InformerView{cs: cs, factory: f}
	lo := metav1.ListOptions{Limit: 1}
	add := func(name string, inf cache.SharedIndexInformer, probe func(ctx context.Context) error) {
		v.kinds = append(v.kinds, viewKind{name: name, informer: inf, probe: probe})
	}
	core, apps, batch := f.Core().V1(), f.Apps().V1(), f.Batch().V1()
	add("Namespace", core.Namespaces().Informer(), func(c context.Context) error { _, err := cs.CoreV1().Namespaces().List(c, lo); return err })
	add("Node", core.Nodes().Informer(), func(c context.Context) error { _, err := cs.CoreV1().Nodes().List(c, lo); return err })
	add("Pod", core.Pods().Informer(), func(c context.Context) error { _, err := cs.CoreV1().Pods("").List(c, lo); return err })
	add("ServiceAccount", core.ServiceAccounts().Informer(), func(c context.Context) error {
		_, err := cs.CoreV1().ServiceAccounts("").List(c, lo)
		return err
	})
	add("Secret", core.Secrets().Informer(), func(c context.Context) error { _, err := cs.CoreV1().Secrets("").List(c, lo); return err })
	add("Service", core.Services().Informer(), func(c context.Context) error { _, err := cs.CoreV1().Services("").List(c, lo); return err })
	add("PersistentVolume", core.PersistentVolumes().Informer(), func(c context.Context) error {
		_, err := cs.CoreV1().PersistentVolumes().List(c, lo)
		return err
	})
	add("PersistentVolumeClaim", core.PersistentVolumeClaims().Informer(), func(c context.Context) error {
		_, err := cs.CoreV1().PersistentVolumeClaims("").List(c, lo)
		return err
	})
	add("Ingress", f.Networking().V1().Ingresses().Informer(), func(c context.Context) error {
		_, err := cs.NetworkingV1().Ingresses("").List(c, lo)
		return err
	})
	add("NetworkPolicy", f.Networking().V1().NetworkPolicies().Informer(), func(c context.Context) error {
		_, err := cs.NetworkingV1().NetworkPolicies("").List(c, lo)
		return err
	})
	rbac := f.Rbac().V1()
	add("Role", rbac.Roles().Informer(), func(c context.Context) error { _, err := cs.RbacV1().Roles("").List(c, lo); return err })
	add("ClusterRole", rbac.ClusterRoles().Informer(), func(c context.Context) error { _, err := cs.RbacV1().ClusterRoles().List(c, lo); return err })
	add("RoleBinding", rbac.RoleBindings().Informer(), func(c context.Context) error {
		_, err := cs.RbacV1().RoleBindings("").List(c, lo)
		return err
	})
	add("ClusterRoleBinding", rbac.ClusterRoleBindings().Informer(), func(c context.Context) error {
		_, err := cs.RbacV1().ClusterRoleBindings().List(c, lo)
		return err
	})
	add("RuntimeClass", f.Node().V1().RuntimeClasses().Informer(), func(c context.Context) error {
		_, err := cs.NodeV1().RuntimeClasses().List(c, lo)
		return err
	})
	add("Deployment", apps.Deployments().Informer(), func(c context.Context) error { _, err := cs.AppsV1().Deployments("").List(c, lo); return err })
	add("StatefulSet", apps.StatefulSets().Informer(), func(c context.Context) error { _, err := cs.AppsV1().StatefulSets("").List(c, lo); return err })
	add("DaemonSet", apps.DaemonSets().Informer(), func(c context.Context) error { _, err := cs.AppsV1().DaemonSets("").List(c, lo); return err })
	add("ReplicaSet", apps.ReplicaSets().Informer(), func(c context.Context) error { _, err := cs.AppsV1().ReplicaSets("").List(c, lo); return err })
	add("Job", batch.Jobs().Informer(), func(c context.Context) error { _, err := cs.BatchV1().Jobs("").List(c, lo); return err })
	add("CronJob", batch.CronJobs().Informer(), func(c context.Context) error { _, err := cs.BatchV1().CronJobs("").List(c, lo); return err })
	return v
}

// strip drops what the view must never hold or does not need.
func strip(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			if _, ok := a["kubectl.kubernetes.io/last-applied-configuration"]; ok {
				delete(a, "kubectl.kubernetes.io/last-applied-configuration")
			}
		}
	}
	if s, ok := obj.(*corev1.Secret); ok {
		s.Data, s.StringData = nil, nil
	}
	return obj, nil
}

// Start probes each kind (a kind the webhook may not list becomes a gap
// instead of an informer that never syncs), starts the informers and
// returns; Ready turns true once every usable kind is synced. Stop with
// ctx.
func (v *InformerView) Start(ctx context.Context) error {
	bump := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { v.gen.Add(1) },
		UpdateFunc: func(any, any) { v.gen.Add(1) },
		DeleteFunc: func(any) { v.gen.Add(1) },
	}
	policy := func() { v.policyGen.Store(v.gen.Add(1)) }
	bumpPolicy := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { policy() },
		UpdateFunc: func(any, any) { policy() },
		DeleteFunc: func(any) { policy() },
	}
	var syncs []cache.InformerSynced
	for i := range v.kinds {
		k := &v.kinds[i]
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := k.probe(pctx)
		cancel()
		switch {
		case err == nil:
		case apierrors.IsForbidden(err):
			v.gap(cluster.Gap{Kind: k.name, Reason: "forbidden: the webhook's service account may not list it"})
			continue
		case apierrors.IsNotFound(err):
			v.gap(cluster.Gap{Kind: k.name, Reason: "not served by this API server"})
			continue
		default:
			return fmt.Errorf("cluster view: list %s: %w", k.name, err)
		}
		if err := k.informer.SetTransform(strip); err != nil {
			return fmt.Errorf("cluster view: %s: %w", k.name, err)
		}
		handler := bump
		if policyKinds[k.name] {
			handler = bumpPolicy
		}
		if _, err := k.informer.AddEventHandler(handler); err != nil {
			return fmt.Errorf("cluster view: %s: %w", k.name, err)
		}
		k.usable = true
		syncs = append(syncs, k.informer.HasSynced)
	}
	v.factory.Start(ctx.Done())
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), syncs...) {
			v.gen.Add(1)
			v.ready.Store(true)
		}
	}()
	return nil
}

func (v *InformerView) gap(g cluster.Gap) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.gaps = append(v.gaps, g)
}

// Ready reports whether every usable kind is synced.
func (v *InformerView) Ready() bool { return v.ready.Load() }

// PolicyGeneration is the generation of the last change to a Role,
// ClusterRole, binding or NetworkPolicy the view saw.
func (v *InformerView) PolicyGeneration() uint64 { return v.policyGen.Load() }

// policyKinds are the kinds whose changes open or close paths between
// workloads that exist already: a pod must not be judged against a base
// from before such a change (see Blast.current).
var policyKinds = map[string]bool{"Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true, "NetworkPolicy": true}

// isPolicy reports whether o is of a policy kind.
func isPolicy(o runtime.Object) bool {
	switch o.(type) {
	case *rbacv1.Role, *rbacv1.ClusterRole, *rbacv1.RoleBinding, *rbacv1.ClusterRoleBinding, *networkingv1.NetworkPolicy:
		return true
	}
	return false
}

// Gaps are the kinds the view could not read.
func (v *InformerView) Gaps() []cluster.Gap {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]cluster.Gap(nil), v.gaps...)
}

// Objects returns every object held, and the generation.
func (v *InformerView) Objects() ([]runtime.Object, uint64) {
	gen := v.gen.Load()
	var out []runtime.Object
	for _, k := range v.kinds {
		if !k.usable {
			continue
		}
		for _, o := range k.informer.GetStore().List() {
			if ro, ok := o.(runtime.Object); ok {
				out = append(out, ro)
			}
		}
	}
	return out, gen
}

// Owner follows controller references through ReplicaSets and Jobs held
// by the view.
func (v *InformerView) Owner(ns string, refs []metav1.OwnerReference) string {
	return ownerOf(ns, refs, func(kind, ns, name string) []metav1.OwnerReference {
		var st cache.Store
		switch kind {
		case "ReplicaSet":
			st = v.factory.Apps().V1().ReplicaSets().Informer().GetStore()
		case "Job":
			st = v.factory.Batch().V1().Jobs().Informer().GetStore()
		default:
			return nil
		}
		o, ok, err := st.GetByKey(ns + "/" + name)
		if err != nil || !ok {
			return nil
		}
		if m, err := meta.Accessor(o); err == nil {
			return m.GetOwnerReferences()
		}
		return nil
	})
}

// ownerOf walks controller references up (at most 8 levels) with parent
// giving an owner's own references.
func ownerOf(ns string, refs []metav1.OwnerReference, parent func(kind, ns, name string) []metav1.OwnerReference) string {
	ref := controllerRef(refs)
	if ref == nil {
		return ""
	}
	owner := ref.Kind + "/" + ref.Name
	for depth := 0; depth < 8; depth++ {
		up := controllerRef(parent(ref.Kind, ns, ref.Name))
		if up == nil {
			break
		}
		ref, owner = up, up.Kind+"/"+up.Name
	}
	return owner
}

// StaticView is a fixed set of objects (tests, and a webhook run against
// manifests).
type StaticView struct {
	mu        sync.Mutex
	objs      []runtime.Object
	gen       uint64
	policyGen uint64
}

// NewStaticView holds objs.
func NewStaticView(objs ...runtime.Object) *StaticView {
	return &StaticView{objs: objs, gen: 1, policyGen: 1}
}

// Set replaces the objects (a new generation; a new policy generation too
// when the Roles, bindings or NetworkPolicies differ).
func (v *StaticView) Set(objs ...runtime.Object) {
	v.mu.Lock()
	defer v.mu.Unlock()
	policies := func(objs []runtime.Object) []runtime.Object {
		var out []runtime.Object
		for _, o := range objs {
			if isPolicy(o) {
				out = append(out, o)
			}
		}
		return out
	}
	v.gen++
	if !equality.Semantic.DeepEqual(policies(v.objs), policies(objs)) {
		v.policyGen = v.gen
	}
	v.objs = objs
}

// PolicyGeneration is the generation of the last Set that changed a policy
// object.
func (v *StaticView) PolicyGeneration() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.policyGen
}

// Objects returns the objects and the generation.
func (v *StaticView) Objects() ([]runtime.Object, uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.objs, v.gen
}

// Gaps: none.
func (v *StaticView) Gaps() []cluster.Gap { return nil }

// Ready is always true.
func (v *StaticView) Ready() bool { return true }

// Owner follows controller references through the held ReplicaSets and
// Jobs.
func (v *StaticView) Owner(ns string, refs []metav1.OwnerReference) string {
	objs, _ := v.Objects()
	return ownerOf(ns, refs, func(kind, ns, name string) []metav1.OwnerReference {
		for _, o := range objs {
			switch x := o.(type) {
			case *appsv1.ReplicaSet:
				if kind == "ReplicaSet" && x.Namespace == ns && x.Name == name {
					return x.OwnerReferences
				}
			case *batchv1.Job:
				if kind == "Job" && x.Namespace == ns && x.Name == name {
					return x.OwnerReferences
				}
			}
		}
		return nil
	})
}

var (
	_ ClusterView = (*InformerView)(nil)
	_ ClusterView = (*StaticView)(nil)
)

// MaxManifestBytes bounds the manifests a static view reads.
const MaxManifestBytes = 256 << 20

// DecodeManifests reads multi-document YAML or JSON manifests into typed
// objects of the kinds client-go knows (Lists are expanded); documents of
// other kinds are skipped and counted.
func DecodeManifests(r io.Reader) (objs []runtime.Object, skipped int, err error) {
	rd := utilyaml.NewYAMLOrJSONDecoder(io.LimitReader(r, MaxManifestBytes), 64<<10)
	dec := scheme.Codecs.UniversalDeserializer()
	for i := 1; ; i++ {
		var raw runtime.RawExtension
		if err := rd.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, skipped, nil
			}
			return nil, skipped, fmt.Errorf("manifest document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(raw.Raw)) == 0 || string(bytes.TrimSpace(raw.Raw)) == "null" {
			continue
		}
		obj, _, err := dec.Decode(raw.Raw, nil, nil)
		if err != nil {
			skipped++
			continue
		}
		if l, ok := obj.(*corev1.List); ok {
			for _, it := range l.Items {
				o, _, err := dec.Decode(it.Raw, nil, nil)
				if err != nil {
					skipped++
					continue
				}
				objs = append(objs, o)
			}
			continue
		}
		objs = append(objs, obj)
	}
}

package graph

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Exposure levels, from the outside in (after StackRox's port exposure):
// what can hit a container before any compromise. Blast radius says how
// much a compromise hurts; exposure says how likely it is to start there.
const (
	ExposureInternet = "internet" // LoadBalancer Service or Ingress backend
	ExposureNode     = "node"     // NodePort Service or hostPort: any client of any node
	ExposureCluster  = "cluster"  // a Service (ClusterIP) or a declared container port
	ExposureNone     = ""
)

func exposureRank(e string) int {
	switch e {
	case ExposureInternet:
		return 3
	case ExposureNode:
		return 2
	case ExposureCluster:
		return 1
	}
	return 0
}

// exposures computes, for every container key, its highest exposure and why.
func (b *builder) exposures() {
	b.g.exposure = map[NodeID]string{}
	b.g.exposureWhy = map[NodeID]string{}
	set := func(id NodeID, level, why string) {
		if exposureRank(level) > exposureRank(b.g.exposure[id]) {
			b.g.exposure[id], b.g.exposureWhy[id] = level, why
		}
	}
	ingressed := map[string][]string{} // ns/service -> Ingress refs
	for _, in := range b.s.Ingresses {
		add := func(svc string) {
			if svc != "" {
				k := in.Namespace + "/" + svc
				ingressed[k] = append(ingressed[k], "Ingress "+in.Namespace+"/"+in.Name)
			}
		}
		if in.Spec.DefaultBackend != nil && in.Spec.DefaultBackend.Service != nil {
			add(in.Spec.DefaultBackend.Service.Name)
		}
		for _, r := range in.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				if p.Backend.Service != nil {
					add(p.Backend.Service.Name)
				}
			}
		}
	}
	for pi := range b.s.Pods {
		p := &b.s.Pods[pi]
		ids := b.podCs[p.Namespace+"/"+p.Name]
		for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for _, c := range cs {
				id, ok := b.g.keys[ContainerKey(p.Namespace, p.Name, c.Name)]
				if !ok {
					continue
				}
				for _, cp := range c.Ports {
					if cp.HostPort != 0 {
						set(id, ExposureNode, fmt.Sprintf("hostPort %d on its node", cp.HostPort))
					} else {
						set(id, ExposureCluster, fmt.Sprintf("container port %d", cp.ContainerPort))
					}
				}
			}
		}
		for _, svc := range b.s.Services {
			if svc.Namespace != p.Namespace || len(svc.Spec.Selector) == 0 ||
				!labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.Labels)) {
				continue
			}
			ref := "Service " + svc.Namespace + "/" + svc.Name
			level, why := ExposureCluster, ref
			switch svc.Spec.Type {
			case corev1.ServiceTypeLoadBalancer:
				level, why = ExposureInternet, ref+" (LoadBalancer)"
			case corev1.ServiceTypeNodePort:
				level, why = ExposureNode, ref+" (NodePort)"
			}
			if ins := ingressed[svc.Namespace+"/"+svc.Name]; len(ins) > 0 {
				sort.Strings(ins)
				level, why = ExposureInternet, ref+" behind "+strings.Join(ins, ", ")
			}
			for _, id := range ids {
				set(id, level, why)
			}
		}
	}
}

// Exposure returns how exposed a container is before any compromise, and why.
func (g *Graph) Exposure(key string) (string, string) {
	id, ok := g.keys[key]
	if !ok {
		return ExposureNone, ""
	}
	return g.exposure[id], g.exposureWhy[id]
}

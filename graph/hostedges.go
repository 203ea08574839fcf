package graph

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/posture"
)

// Steps that go through the node without escaping to it: the host PID and
// IPC namespaces, and the kubelet's own identity once the node falls.

// hostNamespaces adds the host PID and host IPC steps.
//
// Host PID: a container in the node's PID namespace sees every process of
// every container on the node and, with the same UID as the target process
// (or CAP_SYS_PTRACE) and a capability set that covers the target's
// (cap_ptrace_access_check; PTRACE_MODE_READ), reads /proc/<pid>/environ
// (its environment: secrets passed as variables) and /proc/<pid>/root (its
// files: the mounted service account token, secret volumes). The runtime's
// default AppArmor profile lets containers of that profile read each other
// (peer=cri-containerd.apparmor.d), so it does not stop this. A sandboxed
// runtime has no host PID namespace.
//
// Host IPC: SysV and POSIX shared memory and message queues of the node's
// IPC namespace are shared with every other host-IPC container on it: a
// process that keeps data or commands there can be read or steered.
func (b *builder) hostNamespaces() {
	for pi := range b.s.Pods {
		p := &b.s.Pods[pi]
		if !p.Spec.HostPID && !p.Spec.HostIPC {
			continue
		}
		podRef := "Pod " + p.Namespace + "/" + p.Name
		wl := workload(p)
		for _, name := range containerNames(p) {
			prof := b.profiles[p.Namespace+"/"+p.Name+"/"+name]
			id, ok := b.g.keys[ContainerKey(p.Namespace, p.Name, name)]
			if !ok || prof == nil || prof.RuntimeClass.Sandboxed == posture.Yes {
				continue
			}
			for _, pl := range b.placements(p) {
				if p.Spec.HostPID {
					l, unknown, why := 0.6, true, "needs the same UID as the target's processes (or CAP_SYS_PTRACE) and capabilities that cover theirs: unknown here"
					if prof.Privileged || prof.Capabilities.Has("SYS_PTRACE") {
						l, unknown, why = 0.9, false, "CAP_SYS_PTRACE passes the kernel's ptrace access check for every process"
					}
					b.g.addEdge(Edge{From: id, To: b.procs(pl.node), Kind: EdgeHostPID, Technique: "T1003.007", Likelihood: l * pl.factor, Unknown: unknown || pl.factor < 1,
						Reason:   "hostPID: reads /proc/<pid>/environ and /proc/<pid>/root of the other containers' processes on " + b.g.Nodes[pl.node].Name + " (their environment, tokens and files); " + why,
						Evidence: []Evidence{{Object: podRef, Field: "spec.hostPID"}},
						Fixes:    []Fix{hostPIDFix(wl)}})
				}
				if p.Spec.HostIPC {
					b.g.addEdge(Edge{From: id, To: b.ipc(pl.node), Kind: EdgeHostIPC, Technique: "T1559", Likelihood: pl.factor, Unknown: pl.factor < 1,
						Reason:   "hostIPC: joins the IPC namespace of " + b.g.Nodes[pl.node].Name + ": reads and writes its SysV and POSIX shared memory and message queues",
						Evidence: []Evidence{{Object: podRef, Field: "spec.hostIPC"}},
						Fixes:    []Fix{hostIPCFix(wl)}})
				}
			}
		}
	}
}

func containerNames(p *cluster.Pod) []string {
	var out []string
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range cs {
			out = append(out, c.Name)
		}
	}
	for _, c := range p.Spec.EphemeralContainers {
		out = append(out, c.Name)
	}
	return out
}

// procs is "the processes of every container on node n" (host PID).
func (b *builder) procs(n NodeID) NodeID {
	key := "procs:" + b.g.Nodes[n].Key
	if id, ok := b.g.keys[key]; ok {
		return id
	}
	id := b.g.node(KindScope, key, "processes of the containers on "+b.g.Nodes[n].Name, "")
	for _, on := range b.onNode[n] {
		b.g.addEdge(Edge{From: id, To: on.c, Kind: EdgeScopeMember, Likelihood: on.l, Unknown: on.l < 1,
			Reason: b.g.Nodes[on.c].Name + " runs on " + b.g.Nodes[n].Name})
	}
	return id
}

// ipc is "the IPC namespace of node n", shared by its host-IPC containers.
func (b *builder) ipc(n NodeID) NodeID {
	key := "ipc:" + b.g.Nodes[n].Key
	if id, ok := b.g.keys[key]; ok {
		return id
	}
	id := b.g.node(KindScope, key, "the IPC namespace of "+b.g.Nodes[n].Name, "")
	for _, on := range b.onNode[n] {
		if !on.pod.Spec.HostIPC {
			continue
		}
		b.g.addEdge(Edge{From: id, To: on.c, Kind: EdgeHostIPC, Technique: "T1559", Likelihood: 0.4 * on.l, Unknown: true,
			Reason:   "shares the node's IPC namespace: what it keeps in shared memory or message queues can be read or steered (whether it uses them is unknown)",
			Evidence: []Evidence{{Object: "Pod " + on.pod.Namespace + "/" + on.pod.Name, Field: "spec.hostIPC"}}})
	}
	return id
}

// kubeletUser is the user a node's kubelet authenticates as.
func kubeletUser(node string) User {
	return User{Name: "system:node:" + node, Groups: []string{"system:nodes", "system:authenticated"}}
}

// kubelets adds, for every node, the kubelet's identity and what the Node
// authorizer and NodeRestriction let it do (checked against a real
// kube-apiserver with --authorization-mode=Node,RBAC and the NodeRestriction
// admission plugin by TestNodeAuthorizerParity): get the secrets that pods
// bound to the node reference (volumes, environment, imagePullSecrets),
// mint tokens for those pods' service accounts, and nothing of other
// nodes' pods. It may not create pods other than mirror pods, change its
// taints or touch other Node objects; it may set labels outside the
// kubernetes.io and k8s.io namespaces on its own Node (see attraction).
func (b *builder) kubelets() {
	var nodes []NodeID
	for id := range b.onNode {
		nodes = append(nodes, id)
	}
	for i := range b.g.Nodes {
		if b.g.Nodes[i].Kind == KindNode && b.onNode[NodeID(i)] == nil {
			nodes = append(nodes, NodeID(i))
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i] < nodes[j] })
	for _, n := range nodes {
		node := b.g.Nodes[n]
		name := strings.TrimPrefix(node.Key, "node:")
		user := kubeletUser(name)
		id := b.g.node(KindIdentity, "user:"+user.Name, "kubelet identity of "+node.Name+" ("+user.Name+", group system:nodes)", "")
		b.g.addEdge(Edge{From: n, To: id, Kind: EdgeNodeCreds, Technique: "T1552.004", Likelihood: 0.95,
			Reason: "root on the node reads the kubelet's client credentials (/var/lib/kubelet/pki, /etc/kubernetes/kubelet.conf) and acts as " + user.Name + " in group system:nodes"})
		seenS, seenSA := map[string]bool{}, map[string]bool{}
		for _, on := range b.onNode[n] {
			p := on.pod
			if seenSA[p.Namespace+"/"+p.Name] {
				continue
			}
			seenSA[p.Namespace+"/"+p.Name] = true
			podRef := "Pod " + p.Namespace + "/" + p.Name
			bound := "bound to it"
			if p.Spec.NodeName == "" {
				bound = "once scheduled there"
			}
			for _, ref := range podSecrets(p) {
				if seenS[p.Namespace+"/"+ref.name] {
					continue
				}
				seenS[p.Namespace+"/"+ref.name] = true
				b.g.addEdge(Edge{From: id, To: b.secret(p.Namespace, ref.name), Kind: EdgeNodeAuthz, Technique: "T1552.007", Likelihood: on.l, Unknown: on.l < 1,
					Reason:   "the Node authorizer lets " + user.Name + " get Secret " + p.Namespace + "/" + ref.name + ": " + podRef + " references it (" + ref.how + ") and is " + bound,
					Evidence: []Evidence{{Object: podRef, Field: ref.field}}})
			}
			sa := p.Spec.ServiceAccountName
			if sa == "" {
				sa = "default"
			}
			if !seenS["sa:"+p.Namespace+"/"+sa] {
				seenS["sa:"+p.Namespace+"/"+sa] = true
				b.g.addEdge(Edge{From: id, To: b.sa(p.Namespace, sa), Kind: EdgeNodeAuthz, Technique: "T1528", Likelihood: on.l, Unknown: on.l < 1,
					Reason:   "the Node authorizer lets " + user.Name + " create a token for ServiceAccount " + p.Namespace + "/" + sa + " (TokenRequest bound to " + podRef + ", which is " + bound + ")",
					Evidence: []Evidence{{Object: podRef, Field: "spec.serviceAccountName"}}})
			}
		}
	}
}

type secretRef struct{ name, field, how string }

// podSecrets lists the secrets a pod references, as the Node authorizer's
// graph does (pkg/auth/nodeidentifier, plugin/pkg/auth/authorizer/node
// graph_populator: VisitPodSecretNames).
func podSecrets(p *cluster.Pod) []secretRef {
	var out []secretRef
	for i, s := range p.Spec.ImagePullSecrets {
		out = append(out, secretRef{s.Name, fmt.Sprintf("spec.imagePullSecrets[%d]", i), "image pull secret"})
	}
	for i, v := range p.Spec.Volumes {
		f := fmt.Sprintf("spec.volumes[%d]", i)
		switch {
		case v.Secret != nil:
			out = append(out, secretRef{v.Secret.SecretName, f, "secret volume"})
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					out = append(out, secretRef{src.Secret.Name, f, "projected volume"})
				}
			}
		case v.CSI != nil && v.CSI.NodePublishSecretRef != nil:
			out = append(out, secretRef{v.CSI.NodePublishSecretRef.Name, f, "CSI nodePublishSecretRef"})
		}
	}
	scan := func(list string, cs []corev1.Container) {
		for i, c := range cs {
			for j, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					out = append(out, secretRef{e.ValueFrom.SecretKeyRef.Name, fmt.Sprintf("%s[%d].env[%d]", list, i, j), "environment"})
				}
			}
			for j, e := range c.EnvFrom {
				if e.SecretRef != nil {
					out = append(out, secretRef{e.SecretRef.Name, fmt.Sprintf("%s[%d].envFrom[%d]", list, i, j), "environment"})
				}
			}
		}
	}
	scan("spec.initContainers", p.Spec.InitContainers)
	scan("spec.containers", p.Spec.Containers)
	var eph []corev1.Container
	for _, e := range p.Spec.EphemeralContainers {
		eph = append(eph, corev1.Container(e.EphemeralContainerCommon))
	}
	scan("spec.ephemeralContainers", eph)
	out2 := out[:0]
	for _, r := range out {
		if r.name != "" {
			out2 = append(out2, r)
		}
	}
	return out2
}

// NodeMaySetLabel says whether NodeRestriction lets a kubelet set label key
// on its own Node: anything outside the kubernetes.io and k8s.io
// namespaces, and the kubelet's own labels inside them
// (plugin/pkg/admission/noderestriction, kubeletapis.IsKubeletLabel).
func NodeMaySetLabel(key string) bool {
	prefix, _, ok := strings.Cut(key, "/")
	if !ok {
		return true
	}
	if strings.HasPrefix(prefix, "node-restriction.kubernetes.io") {
		return false
	}
	restricted := prefix == "kubernetes.io" || strings.HasSuffix(prefix, ".kubernetes.io") || prefix == "k8s.io" || strings.HasSuffix(prefix, ".k8s.io")
	if !restricted {
		return true
	}
	switch key {
	case "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/os",
		"beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region",
		"failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/region", "topology.kubernetes.io/zone":
		return true
	}
	return strings.HasPrefix(prefix, "kubelet.kubernetes.io") || strings.HasPrefix(prefix, "node.kubernetes.io")
}

// attraction: NodeRestriction lets a compromised node label itself (outside
// the restricted namespaces) but not remove its taints. A pod that is not
// pinned and whose nodeSelector only asks for labels the node may set, and
// that tolerates the node's taints, can be scheduled there the next time
// it is (re)created: the node attracts it.
func (b *builder) attraction() {
	if len(b.s.Nodes) == 0 {
		return
	}
	for pi := range b.s.Pods {
		p := &b.s.Pods[pi]
		if p.Spec.NodeName != "" || isDaemonSetPod(p) || len(p.Spec.NodeSelector) == 0 {
			continue
		}
		settable := true
		var asked []string
		for k, v := range p.Spec.NodeSelector {
			settable = settable && NodeMaySetLabel(k)
			asked = append(asked, k+"="+v)
		}
		if !settable || p.Spec.Affinity != nil && p.Spec.Affinity.NodeAffinity != nil && p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
			continue
		}
		sort.Strings(asked)
		placedOn := map[NodeID]bool{}
		for _, pl := range b.placements(p) {
			placedOn[pl.node] = true
		}
		for i := range b.s.Nodes {
			n := b.s.Nodes[i].DeepCopy()
			nid := b.nodeNode(n.Name)
			if placedOn[nid] || fits(p, n, false) {
				continue
			}
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			for k, v := range p.Spec.NodeSelector {
				n.Labels[k] = v
			}
			if !fits(p, n, false) {
				continue
			}
			for _, c := range containerNames(p) {
				cid := b.g.keys[ContainerKey(p.Namespace, p.Name, c)]
				b.g.addEdge(Edge{From: nid, To: cid, Kind: EdgeNodeAttract, Technique: "T1609", Likelihood: 0.2, Unknown: true,
					Reason: "a compromised node may label itself " + strings.Join(asked, ",") + " (NodeRestriction allows labels outside kubernetes.io and k8s.io) and attract " +
						workload(p) + " the next time its pods are scheduled",
					Evidence: []Evidence{{Object: "Pod " + p.Namespace + "/" + p.Name, Field: "spec.nodeSelector"}, {Object: "Node " + n.Name, Field: "spec.taints (tolerated)"}}})
			}
		}
	}
}

package graph

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
)

// Escalation primitives (design note §2.4), derived for every identity
// from the union of the rules bound to it, and for every role an identity
// may bind.

const rbacGroup = "rbac.authorization.k8s.io"

type gr struct{ group, resource string }

var podCreators = []gr{
	{"", "pods"}, {"", "replicationcontrollers"},
	{"apps", "deployments"}, {"apps", "daemonsets"}, {"apps", "statefulsets"}, {"apps", "replicasets"},
	{"batch", "jobs"}, {"batch", "cronjobs"},
}

// nameGrants: scope ("" = every namespace / the cluster) → resource name
// ("" = every name) → grants.
type nameGrants map[string]map[string][]Grant

// find collects the rules that allow verb on group/resource[/sub] for some
// name, by scope and name.
func find(rules []ScopedRule, verb, group, resource, sub string) nameGrants {
	out := nameGrants{}
	combined := resource
	if sub != "" {
		combined += "/" + sub
	}
	for _, r := range rules {
		if !verbMatches(r.Rule, verb) || !apiGroupMatches(r.Rule, group) || !resourceMatches(r.Rule, combined, sub) {
			continue
		}
		m := out[r.Grant.Scope]
		if m == nil {
			m = map[string][]Grant{}
			out[r.Grant.Scope] = m
		}
		if len(r.Rule.ResourceNames) == 0 {
			m[""] = append(m[""], r.Grant)
			continue
		}
		for _, n := range r.Rule.ResourceNames {
			m[n] = append(m[n], r.Grant)
		}
	}
	return out
}

func (ng nameGrants) merge(o nameGrants) nameGrants {
	for s, m := range o {
		if ng[s] == nil {
			ng[s] = map[string][]Grant{}
		}
		for n, g := range m {
			ng[s][n] = append(ng[s][n], g...)
		}
	}
	return ng
}

// inNS returns the grants allowing the request without a name in ns
// (cluster-wide grants included).
func (ng nameGrants) inNS(ns string) []Grant {
	g := slices.Clone(ng[ns][""])
	if ns != "" {
		g = append(g, ng[""][""]...)
	}
	return g
}

// namespaces lists the namespaces where a name-less request is allowed.
func (b *builder) namespacesOf(ng nameGrants) []string {
	if len(ng[""][""]) > 0 {
		return b.nsList
	}
	var out []string
	for s, m := range ng {
		if s != "" && len(m[""]) > 0 {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// named lists (namespace, name) pairs a name-restricted grant allows,
// skipping namespaces where every name is allowed.
func (ng nameGrants) named() [][2]string {
	var out [][2]string
	for s, m := range ng {
		for n := range m {
			if n != "" {
				out = append(out, [2]string{s, n})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0]+"/"+out[i][1] < out[j][0]+"/"+out[j][1] })
	return out
}

func grantEvidence(gs []Grant) []Evidence {
	var out []Evidence
	seen := map[string]bool{}
	for _, g := range gs {
		k := g.String()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, Evidence{Object: g.Binding, Field: fmt.Sprintf("roleRef %s rules[%d]", g.Role, g.Rule)})
	}
	return out
}

// grantFix is the change that removes every grant in gs.
func grantFix(gs []Grant, what string) Fix {
	var bs []string
	for _, g := range gs {
		if !slices.Contains(bs, g.Binding) {
			bs = append(bs, g.Binding)
		}
	}
	sort.Strings(bs)
	if len(bs) == 1 {
		role := gs[0].Role
		return Fix{ID: "rbac:" + bs[0], Summary: "delete " + bs[0] + " (or remove " + what + " from " + role + ")"}
	}
	return Fix{ID: "rbac:" + strings.Join(bs, "+"), Summary: "remove " + what + " from all of: " + strings.Join(bs, "; ")}
}

func (b *builder) rbacEdge(from, to NodeID, kind EdgeKind, tech string, l float64, reason, what string, parts ...[]Grant) {
	e := Edge{From: from, To: to, Kind: kind, Technique: tech, Likelihood: l, Reason: reason}
	for _, gs := range parts {
		e.Evidence = append(e.Evidence, grantEvidence(gs)...)
		e.Fixes = append(e.Fixes, grantFix(gs, what))
	}
	b.g.addEdge(e)
}

type rbacSubject struct {
	id    NodeID
	rules []ScopedRule
}

func (b *builder) identityNode(kind, name string) NodeID {
	switch kind {
	case rbacv1.UserKind:
		return b.g.node(KindIdentity, "user:"+name, "User "+name, "")
	case rbacv1.GroupKind:
		return b.g.node(KindIdentity, "group:"+name, "Group "+name, "")
	}
	return -1
}

func (b *builder) rbacEdges() {
	// Every subject named in a binding is an identity an attacker may
	// reach (impersonation) or start from.
	addSubjects := func(ns string, subs []rbacv1.Subject) {
		for _, s := range subs {
			switch s.Kind {
			case rbacv1.ServiceAccountKind:
				n := s.Namespace
				if n == "" {
					n = ns
				}
				if n != "" {
					b.sa(n, s.Name)
				}
			default:
				b.identityNode(s.Kind, s.Name)
			}
		}
	}
	for _, rb := range b.s.ClusterRoleBindings {
		addSubjects("", rb.Subjects)
	}
	for _, rb := range b.s.RoleBindings {
		addSubjects(rb.Namespace, rb.Subjects)
	}
	b.podContainersIndex()
	var queue []rbacSubject
	for i := range b.g.Nodes {
		n := &b.g.Nodes[i]
		if n.Kind != KindIdentity {
			continue
		}
		queue = append(queue, rbacSubject{n.ID, b.rbac.Rules(userOf(n.Key))})
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if b.derived[s.id] {
			continue
		}
		b.derived[s.id] = true
		queue = append(queue, b.derive(s)...)
	}
}

func userOf(key string) User {
	switch {
	case strings.HasPrefix(key, "sa:"):
		ns, name, _ := strings.Cut(strings.TrimPrefix(key, "sa:"), "/")
		return ServiceAccountUser(ns, name)
	case strings.HasPrefix(key, "user:"):
		return User{Name: strings.TrimPrefix(key, "user:"), Groups: []string{"system:authenticated"}}
	case strings.HasPrefix(key, "group:"):
		return User{Groups: []string{strings.TrimPrefix(key, "group:")}}
	}
	return User{}
}

func (b *builder) podContainersIndex() {
	b.podCs = map[string][]NodeID{}
	for _, id := range b.g.Containers {
		k := b.g.Nodes[id].Key
		rest := strings.TrimPrefix(k, "container:")
		i := strings.LastIndex(rest, "/")
		b.podCs[rest[:i]] = append(b.podCs[rest[:i]], id)
	}
}

func (b *builder) psaBlocksPrivileged(ns string) string {
	lvl := b.nsLabels[ns]["pod-security.kubernetes.io/enforce"]
	if lvl == "baseline" || lvl == "restricted" {
		return lvl
	}
	return ""
}

// derive adds the escalation edges of one subject and returns the
// permission sets it may bind (to derive in turn).
func (b *builder) derive(s rbacSubject) []rbacSubject {
	var more []rbacSubject
	rules := s.rules
	if len(rules) == 0 {
		return nil
	}
	from := s.id
	admin := b.g.keys["cluster-admin"]
	nodes := b.g.keys["scope:nodes"]

	// cluster-admin equivalent: every verb on every resource, cluster-wide.
	if all := find(rules, "*", "*", "*", ""); true {
		var gs []Grant
		for _, r := range rules {
			if r.Grant.Scope == "" && slices.Contains(r.Rule.Verbs, "*") && slices.Contains(r.Rule.APIGroups, "*") && slices.Contains(r.Rule.Resources, "*") && len(r.Rule.ResourceNames) == 0 {
				gs = append(gs, r.Grant)
			}
		}
		_ = all
		if len(gs) > 0 {
			b.rbacEdge(from, admin, EdgeRBACAdmin, "T1078.004", 1, "holds every verb on every resource in every namespace", "the wildcard rule", gs)
		}
	}

	// Create pods or workloads: run as any service account of the
	// namespace, mount any of its secrets, and (unless admission blocks
	// privileged pods) take a node.
	create := nameGrants{}
	for _, r := range podCreators {
		create.merge(find(rules, "create", r.group, r.resource, ""))
	}
	nodeDone := false
	for _, ns := range b.namespacesOf(create) {
		gs := create.inNS(ns)
		b.rbacEdge(from, b.scope("sas", ns), EdgeRBACCreatePod, "T1610", 0.9,
			"may create pods (or workloads) in "+ns+" with any serviceAccountName and read the mounted token", "create pods/workloads", gs)
		b.rbacEdge(from, b.scope("secrets", ns), EdgeRBACCreatePod, "T1610", 0.9,
			"may create pods in "+ns+" that mount any of its secrets", "create pods/workloads", gs)
		if nodeDone {
			continue
		}
		if lvl := b.psaBlocksPrivileged(ns); lvl != "" {
			b.g.Blocked = append(b.g.Blocked, Blocked{From: b.g.Nodes[from].Key, To: "scope:nodes", Kind: EdgeRBACCreatePod,
				Reason: "create a privileged or hostPath pod in " + ns, Weakened: []string{"Namespace " + ns + " enforces Pod Security " + lvl + ", which rejects privileged, hostPID and hostPath pods"}})
			continue
		}
		nodeDone = true
		l, reason := 0.9, "may create a privileged, hostPID or hostPath pod in "+ns+" (no Pod Security enforce label blocks it), pinned with nodeName to any node"
		e := Edge{From: from, To: nodes, Kind: EdgeRBACCreatePod, Technique: "T1610", Likelihood: l, Reason: reason,
			Evidence: append(grantEvidence(gs), Evidence{Object: "Namespace " + ns, Field: "metadata.labels[pod-security.kubernetes.io/enforce] (absent or privileged)"}),
			Fixes:    []Fix{grantFix(gs, "create pods/workloads"), {ID: "psa:" + ns, Summary: "label namespace " + ns + " pod-security.kubernetes.io/enforce=baseline (or restricted)"}}}
		if len(b.admissionHooks) > 0 {
			e.Likelihood, e.Unknown = 0.5, true
			e.Weakened = []string{"admission webhooks or policies may reject privileged pods (not modelled): " + strings.Join(b.admissionHooks, ", ")}
		}
		b.g.addEdge(e)
	}

	// Exec into, attach to, or rewrite running containers.
	execG := nameGrants{}
	for _, q := range [][3]string{{"create", "pods", "exec"}, {"create", "pods", "attach"}, {"patch", "pods", ""}, {"update", "pods", ""},
		{"patch", "pods", "ephemeralcontainers"}, {"update", "pods", "ephemeralcontainers"}} {
		execG.merge(find(rules, q[0], "", q[1], q[2]))
	}
	for _, ns := range b.namespacesOf(execG) {
		b.rbacEdge(from, b.scope("pods", ns), EdgeRBACExec, "T1609", 0.95,
			"may exec/attach into, patch, or add ephemeral containers to every pod in "+ns, "pods/exec, pods/attach, pods patch, pods/ephemeralcontainers", execG.inNS(ns))
	}
	for _, nn := range execG.named() {
		for _, ns := range b.scopeNamespaces(nn[0]) {
			for _, c := range b.podCs[ns+"/"+nn[1]] {
				b.rbacEdge(from, c, EdgeRBACExec, "T1609", 0.95, "may exec/attach into or patch pod "+ns+"/"+nn[1]+" (resourceNames)", "the pod's exec/attach/patch grant", execG[nn[0]][nn[1]])
			}
		}
	}
	getExec := find(rules, "get", "", "pods", "exec").merge(find(rules, "get", "", "pods", "attach"))
	for _, ns := range b.namespacesOf(getExec) {
		if len(execG.inNS(ns)) > 0 {
			continue
		}
		l, unknown := 0.3, true
		reason := "may get pods/exec in " + ns + ": exec over WebSocket is a GET, allowed with get on clusters before 1.35 or with AuthorizePodWebsocketUpgradeCreatePermission off (version unknown)"
		if b.o.websocketGet {
			l, unknown = 0.95, false
		}
		b.g.addEdge(Edge{From: from, To: b.scope("pods", ns), Kind: EdgeRBACExec, Technique: "T1609", Likelihood: l, Unknown: unknown, Reason: reason,
			Evidence: grantEvidence(getExec.inNS(ns)), Fixes: []Fix{grantFix(getExec.inNS(ns), "get pods/exec")}})
	}
	pf := find(rules, "create", "", "pods", "portforward")
	for _, ns := range b.namespacesOf(pf) {
		b.rbacEdge(from, b.scope("pods", ns), EdgeRBACPortFwd, "T1210", unknownExploitLikelihood,
			"may port-forward to every pod in "+ns+" through the kubelet, bypassing NetworkPolicy, then exploit what listens (exploitability unknown)", "pods/portforward", pf.inNS(ns))
	}

	// Secrets.
	listS := find(rules, "list", "", "secrets", "").merge(find(rules, "watch", "", "secrets", ""))
	for _, ns := range b.namespacesOf(listS) {
		b.rbacEdge(from, b.scope("secrets", ns), EdgeRBACSecrets, "T1552.007", 1, "may list/watch secrets in "+ns+": the list returns their contents", "list/watch secrets", listS.inNS(ns))
	}
	getS := find(rules, "get", "", "secrets", "")
	for _, ns := range b.namespacesOf(getS) {
		if len(listS.inNS(ns)) > 0 {
			continue
		}
		b.g.addEdge(Edge{From: from, To: b.scope("secrets", ns), Kind: EdgeRBACSecrets, Technique: "T1552.007", Likelihood: 0.5, Unknown: true,
			Reason:   "may get any secret in " + ns + " by name (names must be known or guessed)",
			Evidence: grantEvidence(getS.inNS(ns)), Fixes: []Fix{grantFix(getS.inNS(ns), "get secrets")}})
	}
	for _, nn := range getS.named() {
		for _, ns := range b.scopeNamespaces(nn[0]) {
			if _, ok := b.g.keys["secret:"+ns+"/"+nn[1]]; !ok && nn[0] == "" {
				continue
			}
			b.rbacEdge(from, b.secret(ns, nn[1]), EdgeRBACSecrets, "T1552.007", 1, "may get Secret "+ns+"/"+nn[1]+" (resourceNames)", "get secrets", getS[nn[0]][nn[1]])
		}
	}

	// TokenRequest.
	tok := find(rules, "create", "", "serviceaccounts", "token")
	for _, ns := range b.namespacesOf(tok) {
		b.rbacEdge(from, b.scope("sas", ns), EdgeRBACToken, "T1528", 1, "may mint a token for any service account in "+ns+" (TokenRequest)", "create serviceaccounts/token", tok.inNS(ns))
	}
	for _, nn := range tok.named() {
		for _, ns := range b.scopeNamespaces(nn[0]) {
			if _, ok := b.g.keys[saKey(ns, nn[1])]; !ok && nn[0] == "" {
				continue
			}
			b.rbacEdge(from, b.sa(ns, nn[1]), EdgeRBACToken, "T1528", 1, "may mint a token for ServiceAccount "+ns+"/"+nn[1]+" (TokenRequest, resourceNames)", "create serviceaccounts/token", tok[nn[0]][nn[1]])
		}
	}

	// Impersonation. users and groups are cluster-scoped: only
	// ClusterRoleBinding grants count.
	impU := find(rules, "impersonate", "", "users", "")
	impG := find(rules, "impersonate", "", "groups", "")
	impSA := find(rules, "impersonate", "", "serviceaccounts", "")
	if gs := impG[""][""]; len(gs) > 0 {
		b.rbacEdge(from, admin, EdgeRBACImperson, "T1078.004", 1, "may impersonate any group, including system:masters (cluster-admin)", "impersonate groups", gs)
	} else if gs := impG[""]["system:masters"]; len(gs) > 0 {
		b.rbacEdge(from, admin, EdgeRBACImperson, "T1078.004", 1, "may impersonate group system:masters (cluster-admin)", "impersonate groups", gs)
	}
	for n, gs := range impG[""] {
		if n == "" || n == "system:masters" {
			continue
		}
		b.rbacEdge(from, b.identityNode(rbacv1.GroupKind, n), EdgeRBACImperson, "T1078.004", 1, "may impersonate group "+n, "impersonate groups", gs)
	}
	if gs := impU[""][""]; len(gs) > 0 {
		for i := range b.g.Nodes {
			if n := b.g.Nodes[i]; strings.HasPrefix(n.Key, "user:") {
				b.rbacEdge(from, n.ID, EdgeRBACImperson, "T1078.004", 1, "may impersonate any user, here "+strings.TrimPrefix(n.Key, "user:"), "impersonate users", gs)
			}
		}
	}
	for n, gs := range impU[""] {
		if n != "" {
			b.rbacEdge(from, b.identityNode(rbacv1.UserKind, n), EdgeRBACImperson, "T1078.004", 1, "may impersonate user "+n, "impersonate users", gs)
		}
	}
	for _, ns := range b.namespacesOf(impSA) {
		b.rbacEdge(from, b.scope("sas", ns), EdgeRBACImperson, "T1078.004", 1, "may impersonate any service account in "+ns, "impersonate serviceaccounts", impSA.inNS(ns))
	}
	for _, nn := range impSA.named() {
		for _, ns := range b.scopeNamespaces(nn[0]) {
			if _, ok := b.g.keys[saKey(ns, nn[1])]; !ok && nn[0] == "" {
				continue
			}
			b.rbacEdge(from, b.sa(ns, nn[1]), EdgeRBACImperson, "T1078.004", 1, "may impersonate ServiceAccount "+ns+"/"+nn[1], "impersonate serviceaccounts", impSA[nn[0]][nn[1]])
		}
	}

	// bind: create a binding to a role one does not hold.
	crbCreate := find(rules, "create", rbacGroup, "clusterrolebindings", "")[""][""]
	bindCR := find(rules, "bind", rbacGroup, "clusterroles", "")
	if len(crbCreate) > 0 {
		for n, gs := range bindCR[""] {
			if n == "" {
				b.rbacEdge(from, admin, EdgeRBACBind, "T1098.006", 0.95, "may bind any ClusterRole (cluster-admin included) with a new ClusterRoleBinding", "bind/create clusterrolebindings", crbCreate, gs)
				continue
			}
			ps, sub := b.permissionSet(rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: n}, "")
			b.rbacEdge(from, ps, EdgeRBACBind, "T1098.006", 0.95, "may bind ClusterRole "+n+" cluster-wide with a new ClusterRoleBinding", "bind/create clusterrolebindings", crbCreate, gs)
			more = append(more, sub...)
		}
	}
	rbCreate := find(rules, "create", rbacGroup, "rolebindings", "")
	bindR := find(rules, "bind", rbacGroup, "roles", "")
	for _, ns := range b.namespacesOf(rbCreate) {
		cg := rbCreate.inNS(ns)
		for _, pair := range []struct {
			kind string
			ng   nameGrants
		}{{"ClusterRole", bindCR}, {"Role", bindR}} {
			names := map[string][]Grant{}
			for _, sc := range []string{ns, ""} {
				for n, gs := range pair.ng[sc] {
					names[n] = append(names[n], gs...)
				}
			}
			for n, gs := range names {
				if n == "" {
					ps, sub := b.permissionSet(rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: "*"}, ns)
					b.rbacEdge(from, ps, EdgeRBACBind, "T1098.006", 0.95, "may bind any "+pair.kind+" in "+ns+" (admin of the namespace) with a new RoleBinding", "bind/create rolebindings", cg, gs)
					more = append(more, sub...)
					continue
				}
				ps, sub := b.permissionSet(rbacv1.RoleRef{APIGroup: rbacGroup, Kind: pair.kind, Name: n}, ns)
				b.rbacEdge(from, ps, EdgeRBACBind, "T1098.006", 0.95, "may bind "+pair.kind+" "+n+" in "+ns+" with a new RoleBinding", "bind/create rolebindings", cg, gs)
				more = append(more, sub...)
			}
		}
	}

	// escalate: write rules one does not hold into a role.
	for _, res := range []string{"clusterroles", "roles"} {
		esc := find(rules, "escalate", rbacGroup, res, "")
		edit := find(rules, "update", rbacGroup, res, "").merge(find(rules, "patch", rbacGroup, res, "")).merge(find(rules, "create", rbacGroup, res, ""))
		if res == "clusterroles" && len(esc[""][""]) > 0 && len(edit[""][""]) > 0 {
			b.rbacEdge(from, admin, EdgeRBACEscalate, "T1098.006", 0.7,
				"may escalate and edit ClusterRoles: writes any rule into a ClusterRole, effective through a binding it holds or creates", "escalate/edit clusterroles", esc[""][""], edit[""][""])
			continue
		}
		for _, ns := range b.namespacesOf(esc) {
			if ns == "" || len(edit.inNS(ns)) == 0 {
				continue
			}
			ps, sub := b.permissionSet(rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: "*"}, ns)
			b.rbacEdge(from, ps, EdgeRBACEscalate, "T1098.006", 0.7,
				"may escalate and edit "+res+" in "+ns+": writes any rule into a role, effective through a binding it holds or creates", "escalate/edit "+res, esc.inNS(ns), edit.inNS(ns))
			more = append(more, sub...)
		}
	}

	// Node and control-plane primitives (cluster-scoped resources).
	np := find(rules, "get", "", "nodes", "proxy").merge(find(rules, "create", "", "nodes", "proxy"))
	if gs := np[""][""]; len(gs) > 0 {
		b.rbacEdge(from, nodes, EdgeRBACNodeProxy, "T1609", 0.95, "may use nodes/proxy: the kubelet API on every node (exec into any pod, read logs)", "nodes/proxy", gs)
	}
	if gs := find(rules, "create", "", "persistentvolumes", "")[""][""]; len(gs) > 0 {
		b.rbacEdge(from, nodes, EdgeRBACPV, "T1611", 0.6, "may create a hostPath PersistentVolume: the node filesystem, once a pod claims it", "create persistentvolumes", gs)
	}
	appr := find(rules, "update", "certificates.k8s.io", "certificatesigningrequests", "approval")[""][""]
	signers := find(rules, "approve", "certificates.k8s.io", "signers", "")[""]
	var sg []Grant
	for _, n := range []string{"", "kubernetes.io/kube-apiserver-client", "kubernetes.io/*"} {
		sg = append(sg, signers[n]...)
	}
	if len(appr) > 0 && len(sg) > 0 {
		l := 0.5
		if len(find(rules, "create", "certificates.k8s.io", "certificatesigningrequests", "")[""][""]) > 0 {
			l = 0.8
		}
		b.rbacEdge(from, admin, EdgeRBACCSR, "T1649", l, "may approve CSRs for the kube-apiserver-client signer: mints a client certificate for group system:masters", "CSR approval", appr, sg)
	}
	for _, res := range []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings", "mutatingadmissionpolicies"} {
		gs := find(rules, "update", "admissionregistration.k8s.io", res, "").merge(find(rules, "patch", "admissionregistration.k8s.io", res, "")).merge(find(rules, "create", "admissionregistration.k8s.io", res, ""))[""][""]
		if len(gs) == 0 {
			continue
		}
		l, why := 0.3, "may edit "+res+": unblocks every future admission (removes guardrails)"
		if strings.HasPrefix(res, "mutating") {
			l, why = 0.8, "may edit "+res+": rewrites every future pod (inject a privileged container, a token mount)"
		}
		b.rbacEdge(from, admin, EdgeRBACAdmission, "T1562.001", l, why, "edit "+res, gs)
	}
	return more
}

// scopeNamespaces expands a grant scope: "" means every namespace.
func (b *builder) scopeNamespaces(scope string) []string {
	if scope == "" {
		return b.nsList
	}
	return []string{scope}
}

// permissionSet returns the node for a role as bound in scope, and the
// subject to derive its edges from when it is new. Name "*" stands for any
// role (the rules of cluster-admin).
func (b *builder) permissionSet(ref rbacv1.RoleRef, scope string) (NodeID, []rbacSubject) {
	where := "cluster-wide"
	if scope != "" {
		where = "in " + scope
	}
	name := ref.Kind + " " + ref.Name
	if ref.Name == "*" {
		name = "any role"
	}
	key := "permset:" + ref.Kind + "/" + ref.Name + "@" + scope
	if id, ok := b.g.keys[key]; ok {
		return id, nil
	}
	id := b.g.node(KindPermissionSet, key, name+" bound "+where, scope)
	var rules []ScopedRule
	if ref.Name == "*" {
		rules = []ScopedRule{{Rule: &rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			Grant: Grant{Binding: "a new RoleBinding", Role: "any role", Scope: scope}}}
	} else {
		rules = b.rbac.RulesOfRole(ref, scope, "a new binding")
	}
	return id, []rbacSubject{{id, rules}}
}

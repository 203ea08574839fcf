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
// may bind. Each primitive is one function (or one row of a table where
// the shape repeats); derive runs them in order.

const rbacGroup = "rbac.authorization.k8s.io"

type gr struct{ group, resource string }

var podCreators = []gr{
	{"", "pods"}, {"", "replicationcontrollers"},
	{"apps", "deployments"}, {"apps", "daemonsets"}, {"apps", "statefulsets"}, {"apps", "replicasets"},
	{"batch", "jobs"}, {"batch", "cronjobs"},
}

// request is one (verb, group, resource, subresource) an RBAC rule may allow.
type request struct{ verb, group, resource, sub string }

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

// findAny unions find over several requests.
func findAny(rules []ScopedRule, reqs ...request) nameGrants {
	out := nameGrants{}
	for _, q := range reqs {
		out.merge(find(rules, q.verb, q.group, q.resource, q.sub))
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

// clusterWide returns the grants allowing the request on every name of a
// cluster-scoped resource (ClusterRoleBinding grants only).
func (ng nameGrants) clusterWide() []Grant { return ng[""][""] }

// namespacesOf lists the namespaces where a name-less request is allowed.
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
		obj := g.Binding
		if g.Default != "" {
			obj += " (" + g.Default + ")"
		}
		out = append(out, Evidence{Object: obj, Field: fmt.Sprintf("roleRef %s rules[%d]", g.Role, g.Rule)})
	}
	return out
}

// grantFix is the change that removes every grant in gs: deleting the
// bindings. A proposed binding (one an attacker would create) is no fix:
// when any grant is proposed there is none here, and the cut is on the
// step that lets the attacker create it.
func grantFix(gs []Grant, what string) (Fix, bool) {
	var bs []string
	for _, g := range gs {
		if g.Proposed {
			return Fix{}, false
		}
		if !slices.Contains(bs, g.Binding) {
			bs = append(bs, g.Binding)
		}
	}
	if len(bs) == 0 {
		return Fix{}, false
	}
	sort.Strings(bs)
	if len(bs) == 1 {
		return deleteBindingsFix(bs, "delete "+bs[0]+" (or remove "+what+" from "+gs[0].Role+")"), true
	}
	return deleteBindingsFix(bs, "remove "+what+" from all of: "+strings.Join(bs, "; ")), true
}

func (b *builder) rbacEdge(from, to NodeID, kind EdgeKind, tech string, l float64, reason, what string, parts ...[]Grant) {
	b.g.addEdge(b.grantEdge(Edge{From: from, To: to, Kind: kind, Technique: tech, Likelihood: l, Reason: reason}, what, parts...))
}

// grantEdge adds the evidence and fixes of the grants to e.
func (b *builder) grantEdge(e Edge, what string, parts ...[]Grant) Edge {
	for _, gs := range parts {
		e.Evidence = append(e.Evidence, grantEvidence(gs)...)
		if f, ok := grantFix(gs, what); ok {
			e.Fixes = append(e.Fixes, f)
		}
	}
	return e
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
	var queue []rbacSubject
	for i := range b.g.Nodes {
		n := &b.g.Nodes[i]
		if n.Kind != KindIdentity {
			continue
		}
		u := userOf(n.Key)
		queue = append(queue, rbacSubject{n.ID, b.rbac.Rules(u)})
		b.missingRoles(n.ID, b.rbac.Missing(u))
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
	b.missingNotes()
}

func userOf(key string) User {
	switch {
	case strings.HasPrefix(key, "sa:"):
		ns, name, _ := strings.Cut(strings.TrimPrefix(key, "sa:"), "/")
		return ServiceAccountUser(ns, name)
	case strings.HasPrefix(key, "user:system:node:"):
		return kubeletUser(strings.TrimPrefix(key, "user:system:node:"))
	case strings.HasPrefix(key, "user:"):
		return User{Name: strings.TrimPrefix(key, "user:"), Groups: []string{"system:authenticated"}}
	case strings.HasPrefix(key, "group:"):
		return User{Groups: []string{strings.TrimPrefix(key, "group:")}}
	}
	return User{}
}

// missingRoles: a binding to a role the snapshot lacks. From manifests its
// rules are unknown, never nothing: an edge to an Unknown node with the
// binding as evidence. In a live snapshot the role does not exist and the
// binding grants nothing now (missingNotes says so).
func (b *builder) missingRoles(from NodeID, ms []MissingRole) {
	if b.rbac.Live() {
		return
	}
	for _, m := range ms {
		where := "cluster-wide"
		if m.Scope != "" {
			where = "in namespace " + m.Scope
		}
		unk := b.g.node(KindUnknown, "unknown:role:"+m.Role+"@"+m.Scope, m.Role+" bound "+where+" (not in the snapshot: its rules are unknown)", m.Scope)
		e := Edge{From: from, To: unk, Kind: EdgeUnknown, Technique: "T1078.004", Likelihood: 0.5, Unknown: true,
			Reason:   m.Binding + " binds " + m.Role + ", which the snapshot lacks: what it grants is unknown, not nothing",
			Evidence: []Evidence{{Object: m.Binding, Field: "roleRef " + m.Role}}}
		if !strings.HasPrefix(m.Binding, "a new ") {
			e.Fixes = []Fix{deleteBindingsFix([]string{m.Binding}, "delete "+m.Binding+" (it binds "+m.Role+", which is not in the snapshot), or add the role to the snapshot")}
		}
		b.g.addEdge(e)
	}
}

func (b *builder) missingNotes() {
	for _, m := range b.rbac.MissingRoles() {
		if b.rbac.Live() {
			b.g.Unknowns = append(b.g.Unknowns, m+" is referenced by a binding but does not exist in the cluster: the binding grants nothing now, and whoever creates "+m+" grants its rules to the binding's subjects")
		} else {
			b.g.Unknowns = append(b.g.Unknowns, m+" is referenced by a binding but absent from the snapshot: what it grants is unknown (reached through an Unknown node)")
		}
	}
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

// primitive derives the edges of one escalation primitive for a subject
// and returns the permission sets it may bind (to derive in turn).
type primitive func(b *builder, s rbacSubject) []rbacSubject

// primitives is the explicit, ordered list.
var primitives = []primitive{
	(*builder).wildcardAdmin,
	(*builder).createPods,
	(*builder).scopedPrimitives,
	(*builder).impersonate,
	(*builder).bindClusterRoles,
	(*builder).bindRoles,
	(*builder).escalate,
	(*builder).clusterPrimitives,
	(*builder).approveCSRs,
}

// derive adds the escalation edges of one subject and returns the
// permission sets it may bind (to derive in turn).
func (b *builder) derive(s rbacSubject) []rbacSubject {
	if len(s.rules) == 0 {
		return nil
	}
	var more []rbacSubject
	for _, p := range primitives {
		more = append(more, p(b, s)...)
	}
	return more
}

// wildcardAdmin: every verb on every resource, cluster-wide, is
// cluster-admin.
func (b *builder) wildcardAdmin(s rbacSubject) []rbacSubject {
	var gs []Grant
	for _, r := range s.rules {
		if r.Grant.Scope == "" && slices.Contains(r.Rule.Verbs, "*") && slices.Contains(r.Rule.APIGroups, "*") && slices.Contains(r.Rule.Resources, "*") && len(r.Rule.ResourceNames) == 0 {
			gs = append(gs, r.Grant)
		}
	}
	if len(gs) > 0 {
		b.rbacEdge(s.id, b.g.keys["cluster-admin"], EdgeRBACAdmin, "T1078.004", 1, "holds every verb on every resource in every namespace", "the wildcard rule", gs)
	}
	return nil
}

// createPods: create pods or workloads: run as any service account of the
// namespace, mount any of its secrets, and (unless admission blocks
// privileged pods) take a node.
func (b *builder) createPods(s rbacSubject) []rbacSubject {
	var reqs []request
	for _, r := range podCreators {
		reqs = append(reqs, request{"create", r.group, r.resource, ""})
	}
	create := findAny(s.rules, reqs...)
	nodeDone := false
	for _, ns := range b.namespacesOf(create) {
		gs := create.inNS(ns)
		b.rbacEdge(s.id, b.scope("sas", ns), EdgeRBACCreatePod, "T1610", 0.9,
			"may create pods (or workloads) in "+ns+" with any serviceAccountName and read the mounted token", "create pods/workloads", gs)
		b.rbacEdge(s.id, b.scope("secrets", ns), EdgeRBACCreatePod, "T1610", 0.9,
			"may create pods in "+ns+" that mount any of its secrets", "create pods/workloads", gs)
		if nodeDone {
			continue
		}
		if lvl := b.psaBlocksPrivileged(ns); lvl != "" {
			b.g.Blocked = append(b.g.Blocked, Blocked{From: b.g.Nodes[s.id].Key, To: "scope:nodes", Kind: EdgeRBACCreatePod,
				Reason: "create a privileged or hostPath pod in " + ns, Weakened: []string{"Namespace " + ns + " enforces Pod Security " + lvl + ", which rejects privileged, hostPID and hostPath pods"}})
			continue
		}
		nodeDone = true
		e := b.grantEdge(Edge{From: s.id, To: b.g.keys["scope:nodes"], Kind: EdgeRBACCreatePod, Technique: "T1610", Likelihood: 0.9,
			Reason: "may create a privileged, hostPID or hostPath pod in " + ns + " (no Pod Security enforce label blocks it), pinned with nodeName to any node"},
			"create pods/workloads", gs)
		e.Evidence = append(e.Evidence, Evidence{Object: "Namespace " + ns, Field: "metadata.labels[pod-security.kubernetes.io/enforce] (absent or privileged)"})
		e.Fixes = append(e.Fixes, psaFix(ns))
		if len(b.admissionHooks) > 0 {
			e.Likelihood, e.Unknown = 0.5, true
			e.Weakened = []string{"admission webhooks or policies may reject privileged pods (not modelled): " + strings.Join(b.admissionHooks, ", ")}
		}
		b.g.addEdge(e)
	}
	return nil
}

// scopedPrimitive is a primitive whose shape repeats: requests allowed in a
// namespace reach a scope of that namespace; requests restricted by
// resourceNames reach the named objects.
type scopedPrimitive struct {
	kind    EdgeKind
	tech    string
	l       float64
	unknown bool
	reqs    []request
	scope   string // "pods", "secrets", "sas"
	reason  string // with %s: the namespace
	what    string // for fix summaries
	// skipIf: grants that make this primitive redundant in a namespace
	// (list secrets makes get-by-name moot).
	skipIf []request
	// named reaches the objects of a resourceNames grant; nil ignores them.
	named func(b *builder, ns, name string, scope string) []NodeID
	// namedReason: with %s: ns/name.
	namedReason string
	namedL      float64
}

var execRequests = []request{{"create", "", "pods", "exec"}, {"create", "", "pods", "attach"}, {"patch", "", "pods", ""}, {"update", "", "pods", ""},
	{"patch", "", "pods", "ephemeralcontainers"}, {"update", "", "pods", "ephemeralcontainers"}}

func namedContainers(b *builder, ns, name, _ string) []NodeID { return b.podCs[ns+"/"+name] }

func namedSecret(b *builder, ns, name, scope string) []NodeID {
	if _, ok := b.g.keys["secret:"+ns+"/"+name]; !ok && scope == "" {
		return nil
	}
	return []NodeID{b.secret(ns, name)}
}

func namedSA(b *builder, ns, name, scope string) []NodeID {
	if _, ok := b.g.keys[saKey(ns, name)]; !ok && scope == "" {
		return nil
	}
	return []NodeID{b.sa(ns, name)}
}

// scopedTable lists the namespace-scoped primitives in order.
func (b *builder) scopedTable() []scopedPrimitive {
	getExecL, getExecUnknown := 0.3, true
	getExecReason := "may get pods/exec in %s: exec over WebSocket is a GET, allowed with get on clusters before 1.35 or with AuthorizePodWebsocketUpgradeCreatePermission off (version unknown)"
	if b.o.websocketGet {
		getExecL, getExecUnknown = 0.95, false
	}
	return []scopedPrimitive{
		{kind: EdgeRBACExec, tech: "T1609", l: 0.95, reqs: execRequests, scope: "pods",
			reason: "may exec/attach into, patch, or add ephemeral containers to every pod in %s", what: "pods/exec, pods/attach, pods patch, pods/ephemeralcontainers",
			named: namedContainers, namedReason: "may exec/attach into or patch pod %s (resourceNames)", namedL: 0.95},
		{kind: EdgeRBACExec, tech: "T1609", l: getExecL, unknown: getExecUnknown, reqs: []request{{"get", "", "pods", "exec"}, {"get", "", "pods", "attach"}}, scope: "pods",
			reason: getExecReason, what: "get pods/exec", skipIf: execRequests},
		{kind: EdgeRBACPortFwd, tech: "T1210", l: unknownExploitLikelihood, reqs: []request{{"create", "", "pods", "portforward"}}, scope: "pods",
			reason: "may port-forward to every pod in %s through the kubelet, bypassing NetworkPolicy, then exploit what listens (exploitability unknown)", what: "pods/portforward"},
		{kind: EdgeRBACSecrets, tech: "T1552.007", l: 1, reqs: []request{{"list", "", "secrets", ""}, {"watch", "", "secrets", ""}}, scope: "secrets",
			reason: "may list/watch secrets in %s: the list returns their contents", what: "list/watch secrets"},
		{kind: EdgeRBACSecrets, tech: "T1552.007", l: 0.5, unknown: true, reqs: []request{{"get", "", "secrets", ""}}, scope: "secrets",
			reason: "may get any secret in %s by name (names must be known or guessed)", what: "get secrets",
			skipIf: []request{{"list", "", "secrets", ""}, {"watch", "", "secrets", ""}},
			named:  namedSecret, namedReason: "may get Secret %s (resourceNames)", namedL: 1},
		{kind: EdgeRBACToken, tech: "T1528", l: 1, reqs: []request{{"create", "", "serviceaccounts", "token"}}, scope: "sas",
			reason: "may mint a token for any service account in %s (TokenRequest)", what: "create serviceaccounts/token",
			named: namedSA, namedReason: "may mint a token for ServiceAccount %s (TokenRequest, resourceNames)", namedL: 1},
		{kind: EdgeRBACImperson, tech: "T1078.004", l: 1, reqs: []request{{"impersonate", "", "serviceaccounts", ""}}, scope: "sas",
			reason: "may impersonate any service account in %s", what: "impersonate serviceaccounts",
			named: namedSA, namedReason: "may impersonate ServiceAccount %s", namedL: 1},
	}
}

// scopedPrimitives runs the namespace-scoped table.
func (b *builder) scopedPrimitives(s rbacSubject) []rbacSubject {
	for _, p := range b.scopedTable() {
		ng := findAny(s.rules, p.reqs...)
		var skip nameGrants
		if p.skipIf != nil {
			skip = findAny(s.rules, p.skipIf...)
		}
		for _, ns := range b.namespacesOf(ng) {
			if skip != nil && len(skip.inNS(ns)) > 0 {
				continue
			}
			gs := ng.inNS(ns)
			b.g.addEdge(b.grantEdge(Edge{From: s.id, To: b.scope(p.scope, ns), Kind: p.kind, Technique: p.tech, Likelihood: p.l, Unknown: p.unknown,
				Reason: fmt.Sprintf(p.reason, ns)}, p.what, gs))
		}
		if p.named == nil {
			continue
		}
		for _, nn := range ng.named() {
			for _, ns := range b.scopeNamespaces(nn[0]) {
				for _, to := range p.named(b, ns, nn[1], nn[0]) {
					b.rbacEdge(s.id, to, p.kind, p.tech, p.namedL, fmt.Sprintf(p.namedReason, ns+"/"+nn[1]), p.what, ng[nn[0]][nn[1]])
				}
			}
		}
	}
	return nil
}

// impersonate: users and groups are cluster-scoped, so only
// ClusterRoleBinding grants count; group system:masters is cluster-admin.
// (Service accounts are in the scoped table.)
func (b *builder) impersonate(s rbacSubject) []rbacSubject {
	admin := b.g.keys["cluster-admin"]
	impU := find(s.rules, "impersonate", "", "users", "")
	impG := find(s.rules, "impersonate", "", "groups", "")
	if gs := impG[""][""]; len(gs) > 0 {
		b.rbacEdge(s.id, admin, EdgeRBACImperson, "T1078.004", 1, "may impersonate any group, including system:masters (cluster-admin)", "impersonate groups", gs)
	} else if gs := impG[""]["system:masters"]; len(gs) > 0 {
		b.rbacEdge(s.id, admin, EdgeRBACImperson, "T1078.004", 1, "may impersonate group system:masters (cluster-admin)", "impersonate groups", gs)
	}
	for _, n := range sortedKeys(impG[""]) {
		if n == "" || n == "system:masters" {
			continue
		}
		b.rbacEdge(s.id, b.identityNode(rbacv1.GroupKind, n), EdgeRBACImperson, "T1078.004", 1, "may impersonate group "+n, "impersonate groups", impG[""][n])
	}
	if gs := impU[""][""]; len(gs) > 0 {
		for i := range b.g.Nodes {
			if n := b.g.Nodes[i]; strings.HasPrefix(n.Key, "user:") {
				b.rbacEdge(s.id, n.ID, EdgeRBACImperson, "T1078.004", 1, "may impersonate any user, here "+strings.TrimPrefix(n.Key, "user:"), "impersonate users", gs)
			}
		}
	}
	for _, n := range sortedKeys(impU[""]) {
		if n != "" {
			b.rbacEdge(s.id, b.identityNode(rbacv1.UserKind, n), EdgeRBACImperson, "T1078.004", 1, "may impersonate user "+n, "impersonate users", impU[""][n])
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// bindClusterRoles: create ClusterRoleBindings plus bind on ClusterRoles
// grants the rules of any ClusterRole it may bind, cluster-wide.
func (b *builder) bindClusterRoles(s rbacSubject) []rbacSubject {
	crbCreate := find(s.rules, "create", rbacGroup, "clusterrolebindings", "").clusterWide()
	if len(crbCreate) == 0 {
		return nil
	}
	var more []rbacSubject
	bindCR := find(s.rules, "bind", rbacGroup, "clusterroles", "")
	for _, n := range sortedKeys(bindCR[""]) {
		gs := bindCR[""][n]
		if n == "" {
			b.rbacEdge(s.id, b.g.keys["cluster-admin"], EdgeRBACBind, "T1098.006", 0.95, "may bind any ClusterRole (cluster-admin included) with a new ClusterRoleBinding", "bind/create clusterrolebindings", crbCreate, gs)
			continue
		}
		ps, sub := b.permissionSet(rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: n}, "")
		b.rbacEdge(s.id, ps, EdgeRBACBind, "T1098.006", 0.95, "may bind ClusterRole "+n+" cluster-wide with a new ClusterRoleBinding", "bind/create clusterrolebindings", crbCreate, gs)
		more = append(more, sub...)
	}
	return more
}

// bindRoles: create RoleBindings in a namespace plus bind on a Role or
// ClusterRole grants its rules there.
func (b *builder) bindRoles(s rbacSubject) []rbacSubject {
	var more []rbacSubject
	rbCreate := find(s.rules, "create", rbacGroup, "rolebindings", "")
	bindCR := find(s.rules, "bind", rbacGroup, "clusterroles", "")
	bindR := find(s.rules, "bind", rbacGroup, "roles", "")
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
			for _, n := range sortedKeys(names) {
				gs := names[n]
				if n == "" {
					ps, sub := b.permissionSet(rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: "*"}, ns)
					b.rbacEdge(s.id, ps, EdgeRBACBind, "T1098.006", 0.95, "may bind any "+pair.kind+" in "+ns+" (admin of the namespace) with a new RoleBinding", "bind/create rolebindings", cg, gs)
					more = append(more, sub...)
					continue
				}
				ps, sub := b.permissionSet(rbacv1.RoleRef{APIGroup: rbacGroup, Kind: pair.kind, Name: n}, ns)
				b.rbacEdge(s.id, ps, EdgeRBACBind, "T1098.006", 0.95, "may bind "+pair.kind+" "+n+" in "+ns+" with a new RoleBinding", "bind/create rolebindings", cg, gs)
				more = append(more, sub...)
			}
		}
	}
	return more
}

// escalate: escalate plus update/patch/create on roles writes rules one
// does not hold into a role.
func (b *builder) escalate(s rbacSubject) []rbacSubject {
	var more []rbacSubject
	for _, res := range []string{"clusterroles", "roles"} {
		esc := find(s.rules, "escalate", rbacGroup, res, "")
		edit := findAny(s.rules, request{"update", rbacGroup, res, ""}, request{"patch", rbacGroup, res, ""}, request{"create", rbacGroup, res, ""})
		if res == "clusterroles" && len(esc.clusterWide()) > 0 && len(edit.clusterWide()) > 0 {
			b.rbacEdge(s.id, b.g.keys["cluster-admin"], EdgeRBACEscalate, "T1098.006", 0.7,
				"may escalate and edit ClusterRoles: writes any rule into a ClusterRole, effective through a binding it holds or creates", "escalate/edit clusterroles", esc.clusterWide(), edit.clusterWide())
			continue
		}
		for _, ns := range b.namespacesOf(esc) {
			if ns == "" || len(edit.inNS(ns)) == 0 {
				continue
			}
			ps, sub := b.permissionSet(rbacv1.RoleRef{APIGroup: rbacGroup, Kind: "ClusterRole", Name: "*"}, ns)
			b.rbacEdge(s.id, ps, EdgeRBACEscalate, "T1098.006", 0.7,
				"may escalate and edit "+res+" in "+ns+": writes any rule into a role, effective through a binding it holds or creates", "escalate/edit "+res, esc.inNS(ns), edit.inNS(ns))
			more = append(more, sub...)
		}
	}
	return more
}

// clusterPrimitive is a cluster-scoped grant that reaches one target.
type clusterPrimitive struct {
	kind   EdgeKind
	tech   string
	l      float64
	reqs   []request
	admin  bool // to cluster-admin; else to every node
	reason string
	what   string
}

var admissionResources = []string{"mutatingwebhookconfigurations", "validatingwebhookconfigurations", "validatingadmissionpolicies", "validatingadmissionpolicybindings", "mutatingadmissionpolicies"}

// clusterTable lists the cluster-scoped primitives in order.
var clusterTable = func() []clusterPrimitive {
	t := []clusterPrimitive{
		{kind: EdgeRBACNodeProxy, tech: "T1609", l: 0.95, reqs: []request{{"get", "", "nodes", "proxy"}, {"create", "", "nodes", "proxy"}},
			reason: "may use nodes/proxy: the kubelet API on every node (exec into any pod, read logs)", what: "nodes/proxy"},
		{kind: EdgeRBACPV, tech: "T1611", l: 0.6, reqs: []request{{"create", "", "persistentvolumes", ""}},
			reason: "may create a hostPath PersistentVolume: the node filesystem, once a pod claims it", what: "create persistentvolumes"},
	}
	for _, res := range admissionResources {
		l, why := 0.3, "may edit "+res+": unblocks every future admission (removes guardrails)"
		if strings.HasPrefix(res, "mutating") {
			l, why = 0.8, "may edit "+res+": rewrites every future pod (inject a privileged container, a token mount)"
		}
		g := "admissionregistration.k8s.io"
		t = append(t, clusterPrimitive{kind: EdgeRBACAdmission, tech: "T1562.001", l: l, admin: true,
			reqs: []request{{"update", g, res, ""}, {"patch", g, res, ""}, {"create", g, res, ""}}, reason: why, what: "edit " + res})
	}
	return t
}()

func (b *builder) clusterPrimitives(s rbacSubject) []rbacSubject {
	for _, p := range clusterTable {
		gs := findAny(s.rules, p.reqs...).clusterWide()
		if len(gs) == 0 {
			continue
		}
		to := b.g.keys["scope:nodes"]
		if p.admin {
			to = b.g.keys["cluster-admin"]
		}
		b.rbacEdge(s.id, to, p.kind, p.tech, p.l, p.reason, p.what, gs)
	}
	return nil
}

// approveCSRs: approving CSRs for the kube-apiserver-client signer mints a
// client certificate for group system:masters.
func (b *builder) approveCSRs(s rbacSubject) []rbacSubject {
	appr := find(s.rules, "update", "certificates.k8s.io", "certificatesigningrequests", "approval").clusterWide()
	signers := find(s.rules, "approve", "certificates.k8s.io", "signers", "")[""]
	var sg []Grant
	for _, n := range []string{"", "kubernetes.io/kube-apiserver-client", "kubernetes.io/*"} {
		sg = append(sg, signers[n]...)
	}
	if len(appr) == 0 || len(sg) == 0 {
		return nil
	}
	l := 0.5
	if len(find(s.rules, "create", "certificates.k8s.io", "certificatesigningrequests", "").clusterWide()) > 0 {
		l = 0.8
	}
	b.rbacEdge(s.id, b.g.keys["cluster-admin"], EdgeRBACCSR, "T1649", l, "may approve CSRs for the kube-apiserver-client signer: mints a client certificate for group system:masters", "CSR approval", appr, sg)
	return nil
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
// role (the rules of cluster-admin). The binding it stands for does not
// exist: its grants are proposed, never a fix.
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
			Grant: Grant{Binding: "a new RoleBinding", Role: "any role", Scope: scope, Proposed: true}}}
	} else {
		var ok bool
		rules, ok = b.rbac.RulesOfRole(ref, scope, "a new binding")
		if !ok {
			role := ref.Kind + " " + ref.Name
			if ref.Kind == "Role" {
				role = "Role " + scope + "/" + ref.Name
			}
			b.missingRoles(id, []MissingRole{{Binding: "a new binding", Role: role, Scope: scope}})
		}
	}
	return id, []rbacSubject{{id, rules}}
}

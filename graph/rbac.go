package graph

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/credence-dev/credence/cluster"
)

// User is who a request runs as: a name and groups, as the authenticator
// gives them to the RBAC authorizer.
type User struct {
	Name   string
	Groups []string
}

// ServiceAccountUser is the user a service account token authenticates as.
func ServiceAccountUser(ns, name string) User {
	return User{
		Name:   "system:serviceaccount:" + ns + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
}

// Attributes is one resource request, as the authorizer sees it.
type Attributes struct {
	Verb        string
	APIGroup    string
	Resource    string
	Subresource string
	Namespace   string // empty for a cluster-scoped request
	Name        string // empty for create, list, watch, deletecollection
}

func (a Attributes) String() string {
	r := a.Resource
	if a.Subresource != "" {
		r += "/" + a.Subresource
	}
	if a.APIGroup != "" {
		r += "." + a.APIGroup
	}
	s := a.Verb + " " + r
	if a.Name != "" {
		s += " " + a.Name
	}
	if a.Namespace != "" {
		s += " in " + a.Namespace
	}
	return s
}

// Grant is one rule that allows a request: the binding, the role and the
// rule's index in it. Scope is the namespace the grant holds in, or "" for
// the whole cluster (a ClusterRoleBinding).
type Grant struct {
	Binding string `json:"binding"` // "RoleBinding ns/name" or "ClusterRoleBinding name"
	Role    string `json:"role"`    // "Role ns/name" or "ClusterRole name"
	Rule    int    `json:"rule"`
	Scope   string `json:"scope,omitempty"`
	// Proposed marks a binding that does not exist: one an attacker who
	// may bind the role would create. Deleting it is never a fix.
	Proposed bool `json:"proposed,omitempty"`
	// Default names the Kubernetes release whose default RBAC the binding
	// or role comes from, when the snapshot's source lacked it.
	Default string `json:"default,omitempty"`
}

func (g Grant) String() string {
	return fmt.Sprintf("%s of %s (rules[%d])", g.Binding, g.Role, g.Rule)
}

// RBAC evaluates requests the way the kube-apiserver RBAC authorizer does
// (plugin/pkg/auth/authorizer/rbac RuleAllows and appliesTo), over the roles
// and bindings of a snapshot. ClusterRoles are read as the snapshot gives
// them: aggregated rules must already be filled in.
type RBAC struct {
	roles        map[string]*rbacv1.Role        // ns/name
	clusterRoles map[string]*rbacv1.ClusterRole // name
	// bindings by subject key ("user:x", "group:g", "sa:ns/name").
	bySubject map[string][]binding
	// unknown names what the snapshot could not read (forbidden kinds):
	// a request the known rules deny is then Unknown.
	unknown []string
	// live: the snapshot is a live cluster's, where a role a binding
	// references but the snapshot lacks does not exist (it grants nothing);
	// from manifests such a role is unknown.
	live    bool
	missing map[string]bool // roles referenced but absent
	// cache holds each user's resolved rules; mu guards it and missing,
	// so that an RBAC may answer from several goroutines.
	mu    sync.Mutex
	cache map[string]resolved
	// defaults: bindings and roles from the default RBAC, by ref.
	defaults map[string]string
}

type resolved struct {
	rules   []ScopedRule
	missing []MissingRole
}

// MissingRole is a binding whose role the snapshot lacks.
type MissingRole struct {
	Binding string `json:"binding"`
	Role    string `json:"role"`
	Scope   string `json:"scope,omitempty"`
}

type binding struct {
	ref   string // "RoleBinding ns/name"
	scope string // namespace; "" for ClusterRoleBinding
	role  rbacv1.RoleRef
}

// ScopedRule is a policy rule with the grant that carries it.
type ScopedRule struct {
	Rule  *rbacv1.PolicyRule
	Grant Grant
}

// NewRBAC indexes the RBAC objects of s.
func NewRBAC(s *cluster.Snapshot) *RBAC {
	a := &RBAC{
		roles:        map[string]*rbacv1.Role{},
		clusterRoles: map[string]*rbacv1.ClusterRole{},
		bySubject:    map[string][]binding{},
		missing:      map[string]bool{},
		cache:        map[string]resolved{},
		defaults:     map[string]string{},
		live:         s.Live,
	}
	for i := range s.Roles {
		r := &s.Roles[i]
		a.roles[r.Namespace+"/"+r.Name] = r
		if d, ok := cluster.IsDefault(r.Annotations); ok {
			a.defaults["Role "+r.Namespace+"/"+r.Name] = d
		}
	}
	for i := range s.ClusterRoles {
		r := &s.ClusterRoles[i]
		a.clusterRoles[r.Name] = r
		if d, ok := cluster.IsDefault(r.Annotations); ok {
			a.defaults["ClusterRole "+r.Name] = d
		}
	}
	for i := range s.ClusterRoleBindings {
		b := &s.ClusterRoleBindings[i]
		ref := "ClusterRoleBinding " + b.Name
		if d, ok := cluster.IsDefault(b.Annotations); ok {
			a.defaults[ref] = d
		}
		a.index(binding{ref, "", b.RoleRef}, b.Subjects)
	}
	for i := range s.RoleBindings {
		b := &s.RoleBindings[i]
		ref := "RoleBinding " + b.Namespace + "/" + b.Name
		if d, ok := cluster.IsDefault(b.Annotations); ok {
			a.defaults[ref] = d
		}
		a.index(binding{ref, b.Namespace, b.RoleRef}, b.Subjects)
	}
	for _, g := range s.Gaps {
		switch g.Kind {
		case "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding":
			where := "all namespaces"
			if g.Namespace != "" {
				where = "namespace " + g.Namespace
			}
			a.unknown = append(a.unknown, fmt.Sprintf("%s in %s: %s", g.Kind, where, g.Reason))
		}
	}
	return a
}

func (a *RBAC) index(b binding, subjects []rbacv1.Subject) {
	for _, s := range subjects {
		var key string
		switch s.Kind {
		case rbacv1.UserKind:
			key = "user:" + s.Name
		case rbacv1.GroupKind:
			key = "group:" + s.Name
		case rbacv1.ServiceAccountKind:
			// appliesTo: a ServiceAccount subject without a namespace
			// takes the binding's namespace; none for a ClusterRoleBinding.
			ns := b.scope
			if s.Namespace != "" {
				ns = s.Namespace
			}
			if ns == "" {
				continue
			}
			key = "sa:" + ns + "/" + s.Name
		default:
			continue
		}
		a.bySubject[key] = append(a.bySubject[key], b)
	}
}

// Unknowns lists what the snapshot could not read about RBAC.
func (a *RBAC) Unknowns() []string { return a.unknown }

func subjectKeys(u User) []string {
	keys := []string{"user:" + u.Name}
	if rest, ok := strings.CutPrefix(u.Name, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok {
			keys = append(keys, "sa:"+ns+"/"+name)
		}
	}
	for _, g := range u.Groups {
		keys = append(keys, "group:"+g)
	}
	return keys
}

// Rules returns every rule that applies to u, each with its grant.
func (a *RBAC) Rules(u User) []ScopedRule { return a.resolve(u).rules }

// Missing returns the bindings that apply to u whose role the snapshot
// lacks. From manifests, what they grant is unknown; in a live snapshot
// the role does not exist and they grant nothing (until someone creates
// it).
func (a *RBAC) Missing(u User) []MissingRole { return a.resolve(u).missing }

func (a *RBAC) resolve(u User) resolved {
	key := u.Name + "\x00" + strings.Join(u.Groups, "\x00")
	a.mu.Lock()
	r, ok := a.cache[key]
	a.mu.Unlock()
	if ok {
		return r
	}
	var out resolved
	seen := map[string]bool{}
	for _, k := range subjectKeys(u) {
		for _, b := range a.bySubject[k] {
			id := b.ref + "\x00" + b.role.Kind + "/" + b.role.Name
			if seen[id] {
				continue
			}
			seen[id] = true
			rules, ok := a.bindingRules(b, false)
			if !ok {
				out.missing = append(out.missing, MissingRole{Binding: b.ref, Role: roleRefString(b), Scope: b.scope})
			}
			out.rules = append(out.rules, rules...)
		}
	}
	a.mu.Lock()
	a.cache[key] = out
	a.mu.Unlock()
	return out
}

func roleRefString(b binding) string {
	if b.role.Kind == "Role" {
		return "Role " + b.scope + "/" + b.role.Name
	}
	return b.role.Kind + " " + b.role.Name
}

// RulesOfRole returns the rules of a role as if bound in scope (a namespace,
// or "" for the cluster) by a binding that does not exist yet (via names
// it): what a new binding to it would grant. ok is false when the snapshot
// lacks the role.
func (a *RBAC) RulesOfRole(ref rbacv1.RoleRef, scope, via string) (rules []ScopedRule, ok bool) {
	return a.bindingRules(binding{ref: via, scope: scope, role: ref}, true)
}

// Live reports whether the snapshot was read from a live cluster.
func (a *RBAC) Live() bool { return a.live }

// Default returns the release whose default RBAC an object ("ClusterRole
// view", "ClusterRoleBinding cluster-admin") was added from.
func (a *RBAC) Default(ref string) string { return a.defaults[ref] }

func (a *RBAC) noteMissing(roleRef string) {
	a.mu.Lock()
	a.missing[roleRef] = true
	a.mu.Unlock()
}

func (a *RBAC) bindingRules(b binding, proposed bool) ([]ScopedRule, bool) {
	var rules []rbacv1.PolicyRule
	roleRef := roleRefString(b)
	switch b.role.Kind {
	case "Role":
		r, ok := a.roles[b.scope+"/"+b.role.Name]
		if !ok {
			a.noteMissing(roleRef)
			return nil, false
		}
		rules = r.Rules
	case "ClusterRole":
		r, ok := a.clusterRoles[b.role.Name]
		if !ok {
			a.noteMissing(roleRef)
			return nil, false
		}
		rules = r.Rules
	default:
		return nil, false
	}
	def := a.defaults[b.ref]
	if def == "" {
		def = a.defaults[roleRef]
	}
	out := make([]ScopedRule, 0, len(rules))
	for i := range rules {
		out = append(out, ScopedRule{&rules[i], Grant{Binding: b.ref, Role: roleRef, Rule: i, Scope: b.scope, Proposed: proposed, Default: def}})
	}
	return out, true
}

// Allows answers whether u may make request attr, with the grants that
// allow it. A request the known rules deny is Unknown when the snapshot
// could not read some RBAC objects.
func (a *RBAC) Allows(u User, attr Attributes) (Verdict, []Grant) {
	r := a.resolve(u)
	grants := AllowingGrants(r.rules, attr)
	if len(grants) > 0 {
		return Allowed, grants
	}
	if len(a.unknown) > 0 {
		return Unknown, nil
	}
	if !a.live {
		for _, m := range r.missing {
			if m.Scope == "" || m.Scope == attr.Namespace {
				return Unknown, nil
			}
		}
	}
	return Denied, nil
}

// AllowingGrants filters rules to the grants that allow attr. A grant of a
// ClusterRoleBinding holds in every namespace; one of a RoleBinding only in
// its own namespace, and never for a cluster-scoped request.
func AllowingGrants(rules []ScopedRule, attr Attributes) []Grant {
	var out []Grant
	for _, r := range rules {
		if r.Grant.Scope != "" && r.Grant.Scope != attr.Namespace {
			continue
		}
		if RuleAllows(r.Rule, attr) {
			out = append(out, r.Grant)
		}
	}
	return out
}

// RuleAllows is the authorizer's rule check for a resource request.
func RuleAllows(r *rbacv1.PolicyRule, attr Attributes) bool {
	combined := attr.Resource
	if attr.Subresource != "" {
		combined += "/" + attr.Subresource
	}
	return verbMatches(r, attr.Verb) &&
		apiGroupMatches(r, attr.APIGroup) &&
		resourceMatches(r, combined, attr.Subresource) &&
		resourceNameMatches(r, attr.Name)
}

func verbMatches(r *rbacv1.PolicyRule, verb string) bool {
	return slices.Contains(r.Verbs, rbacv1.VerbAll) || slices.Contains(r.Verbs, verb)
}

func apiGroupMatches(r *rbacv1.PolicyRule, group string) bool {
	return slices.Contains(r.APIGroups, rbacv1.APIGroupAll) || slices.Contains(r.APIGroups, group)
}

// resourceMatches: "*" matches everything, an exact "resource/subresource"
// matches, and "*/subresource" matches that subresource of any resource.
// "pods/*" is not a wildcard: the authorizer compares it literally.
func resourceMatches(r *rbacv1.PolicyRule, combined, sub string) bool {
	for _, rr := range r.Resources {
		if rr == rbacv1.ResourceAll || rr == combined {
			return true
		}
		if sub != "" && len(rr) == len(sub)+2 && strings.HasPrefix(rr, "*/") && strings.HasSuffix(rr, sub) {
			return true
		}
	}
	return false
}

// resourceNameMatches: a rule without resourceNames matches every name; one
// with resourceNames matches only those, so never a request without a name
// (create, list, watch, deletecollection).
func resourceNameMatches(r *rbacv1.PolicyRule, name string) bool {
	if len(r.ResourceNames) == 0 {
		return true
	}
	return slices.Contains(r.ResourceNames, name)
}

// MissingRoles lists roles that bindings reference but the snapshot lacks.
func (a *RBAC) MissingRoles() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.missing))
	for k := range a.missing {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

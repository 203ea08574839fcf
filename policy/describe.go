package policy

import (
	"regexp"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PolicyInfo describes one compiled policy: what it selects, its
// exemptions and its rules, with every pattern as an RE2 regular
// expression that matches as Go's MatchString and CEL's matches() do
// (globs translated and anchored), for generating admission policies the
// API server evaluates itself.
type PolicyInfo struct {
	Name        string          `json:"name"`
	FailureMode FailureMode     `json:"failureMode"`
	Match       Selection       `json:"match"`
	Exemptions  []ExemptionInfo `json:"exemptions,omitempty"`
	Rules       []RuleInfo      `json:"rules"`
}

// Selection is a policy's match, or what an exemption selects.
type Selection struct {
	// Namespaces and ExcludeNamespaces match the namespace name.
	Namespaces        []string `json:"namespaces,omitempty"`
	ExcludeNamespaces []string `json:"excludeNamespaces,omitempty"`
	// LabelSelector matches the workload's (pod template's) labels.
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// Images match a container's image reference as written, or its full
	// form registry/repository[:tag][@digest] (Docker Hub as docker.io).
	Images []string `json:"images,omitempty"`
	// Workloads (exemptions only) match "namespace/name" or
	// "namespace/Kind/name".
	Workloads []string `json:"workloads,omitempty"`
}

// Empty reports whether the selection selects everything.
func (s Selection) Empty() bool {
	return len(s.Namespaces) == 0 && len(s.ExcludeNamespaces) == 0 && s.LabelSelector == nil && len(s.Images) == 0 && len(s.Workloads) == 0
}

// ExemptionInfo describes one exemption.
type ExemptionInfo struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
	// Expires is zero for an exemption that never expires.
	Expires time.Time `json:"expires,omitzero"`
	// Rules are rule or pack ids; empty means every rule of the policy.
	Rules  []string  `json:"rules,omitempty"`
	Select Selection `json:"select"`
}

// Covers reports whether the exemption applies to the rule.
func (x ExemptionInfo) Covers(r RuleInfo) bool {
	if len(x.Rules) == 0 {
		return true
	}
	for _, id := range x.Rules {
		if id == r.ID || (r.Pack != "" && id == r.Pack) {
			return true
		}
	}
	return false
}

// Policies describes the compiled policies in evaluation order.
func (e *Engine) Policies() []PolicyInfo {
	rules := e.Rules()
	var out []PolicyInfo
	for _, p := range e.policies {
		pi := PolicyInfo{Name: p.name, FailureMode: p.failureMode, Match: selectionOf(p.match, nil)}
		for _, r := range rules {
			if r.Policy == p.name {
				pi.Rules = append(pi.Rules, r)
			}
		}
		for _, ex := range p.exemptions {
			pi.Exemptions = append(pi.Exemptions, ExemptionInfo{Name: ex.name, Reason: ex.reason, Expires: ex.expires,
				Rules: append([]string(nil), ex.rules...), Select: selectionOf(ex.m, ex.workloads)})
		}
		out = append(out, pi)
	}
	return out
}

func selectionOf(m *matcher, workloads []*regexp.Regexp) Selection {
	return Selection{Namespaces: sources(m.namespaces), ExcludeNamespaces: sources(m.excludeNamespaces), LabelSelector: m.labelSelector,
		Images: sources(m.images), Workloads: sources(workloads)}
}

func sources(res []*regexp.Regexp) []string {
	var out []string
	for _, re := range res {
		out = append(out, re.String())
	}
	return out
}

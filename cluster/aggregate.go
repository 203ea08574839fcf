package cluster

import (
	"cmp"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// aggregateClusterRoles fills the rules of every ClusterRole that has an
// aggregationRule, as kube-controller-manager's clusterrole-aggregation
// controller does (pkg/controller/clusterroleaggregation, syncClusterRole):
//
//	for each selector in order, the ClusterRoles it matches sorted by name,
//	skipping the aggregated role itself, append each rule not already present
//	(semantic equality); the result replaces the role's rules.
//
// The controller re-syncs when any ClusterRole changes, so aggregated roles
// that select other aggregated roles converge; this repeats until nothing
// changes. A selector that does not parse leaves the role's rules as they
// were (the controller errors out) and is reported as a gap.
func aggregateClusterRoles(roles []rbacv1.ClusterRole) []Gap {
	var gaps []Gap
	type agg struct {
		i         int
		selectors []labels.Selector
	}
	var aggs []agg
	for i := range roles {
		r := &roles[i]
		if r.AggregationRule == nil {
			continue
		}
		a := agg{i: i}
		ok := true
		for j := range r.AggregationRule.ClusterRoleSelectors {
			sel, err := metav1.LabelSelectorAsSelector(&r.AggregationRule.ClusterRoleSelectors[j])
			if err != nil {
				gaps = append(gaps, Gap{Kind: "ClusterRole", Name: r.Name,
					Reason: fmt.Sprintf("aggregationRule selector %d is invalid (%v): kube-controller-manager cannot aggregate it, its rules are as stored", j, err)})
				ok = false
				break
			}
			a.selectors = append(a.selectors, sel)
		}
		if ok {
			aggs = append(aggs, a)
		}
	}
	if len(aggs) == 0 {
		return gaps
	}
	byName := make([]int, len(roles))
	for i := range byName {
		byName[i] = i
	}
	slices.SortStableFunc(byName, func(x, y int) int { return cmp.Compare(roles[x].Name, roles[y].Name) })

	// Each round can only add rules reachable through one more level of
	// aggregation, so len(aggs)+1 rounds reach the fixpoint.
	for round := 0; round <= len(aggs); round++ {
		changed := false
		for _, a := range aggs {
			self := &roles[a.i]
			rules := []rbacv1.PolicyRule{}
			for _, sel := range a.selectors {
				for _, k := range byName {
					other := &roles[k]
					if other.Name == self.Name || !sel.Matches(labels.Set(other.Labels)) {
						continue
					}
					for _, rule := range other.Rules {
						if !slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(r, rule) }) {
							rules = append(rules, *rule.DeepCopy())
						}
					}
				}
			}
			if !equality.Semantic.DeepEqual(rules, self.Rules) {
				self.Rules = rules
				changed = true
			}
		}
		if !changed {
			return gaps
		}
	}
	return gaps
}

package cluster

import (
	"fmt"
	"net/netip"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkSelectors reports every label selector (and NetworkPolicy ipBlock)
// that does not parse. The API server would refuse such an object, so from
// manifests it means the object as written never takes effect; either way
// what it selects is unknown, and the object is kept for the consumer to
// treat it so.
func checkSelectors(s *Snapshot) []Gap {
	var gaps []Gap
	bad := func(kind, ns, name, field string, err error) {
		gaps = append(gaps, Gap{Kind: kind, Namespace: ns, Name: name,
			Reason: fmt.Sprintf("invalid %s: %v; the API server would reject this object, what it selects is unknown", field, oneLine(err.Error()))})
	}
	sel := func(kind, ns, name, field string, ls *metav1.LabelSelector) {
		if ls == nil {
			return
		}
		if _, err := metav1.LabelSelectorAsSelector(ls); err != nil {
			bad(kind, ns, name, field, err)
		}
	}
	for i := range s.NetworkPolicies {
		np := &s.NetworkPolicies[i]
		sel("NetworkPolicy", np.Namespace, np.Name, "spec.podSelector", &np.Spec.PodSelector)
		for j, r := range np.Spec.Ingress {
			for k, p := range r.From {
				f := fmt.Sprintf("spec.ingress[%d].from[%d]", j, k)
				sel("NetworkPolicy", np.Namespace, np.Name, f+".podSelector", p.PodSelector)
				sel("NetworkPolicy", np.Namespace, np.Name, f+".namespaceSelector", p.NamespaceSelector)
				if p.IPBlock != nil {
					if err := checkIPBlock(p.IPBlock.CIDR, p.IPBlock.Except); err != nil {
						bad("NetworkPolicy", np.Namespace, np.Name, f+".ipBlock", err)
					}
				}
			}
		}
		for j, r := range np.Spec.Egress {
			for k, p := range r.To {
				f := fmt.Sprintf("spec.egress[%d].to[%d]", j, k)
				sel("NetworkPolicy", np.Namespace, np.Name, f+".podSelector", p.PodSelector)
				sel("NetworkPolicy", np.Namespace, np.Name, f+".namespaceSelector", p.NamespaceSelector)
				if p.IPBlock != nil {
					if err := checkIPBlock(p.IPBlock.CIDR, p.IPBlock.Except); err != nil {
						bad("NetworkPolicy", np.Namespace, np.Name, f+".ipBlock", err)
					}
				}
			}
		}
	}
	for i := range s.MutatingWebhooks {
		c := &s.MutatingWebhooks[i]
		for j, w := range c.Webhooks {
			sel("MutatingWebhookConfiguration", "", c.Name, fmt.Sprintf("webhooks[%d].namespaceSelector", j), w.NamespaceSelector)
			sel("MutatingWebhookConfiguration", "", c.Name, fmt.Sprintf("webhooks[%d].objectSelector", j), w.ObjectSelector)
		}
	}
	for i := range s.ValidatingWebhooks {
		c := &s.ValidatingWebhooks[i]
		for j, w := range c.Webhooks {
			sel("ValidatingWebhookConfiguration", "", c.Name, fmt.Sprintf("webhooks[%d].namespaceSelector", j), w.NamespaceSelector)
			sel("ValidatingWebhookConfiguration", "", c.Name, fmt.Sprintf("webhooks[%d].objectSelector", j), w.ObjectSelector)
		}
	}
	match := func(kind, name, field string, m *admissionregistrationv1.MatchResources) {
		if m == nil {
			return
		}
		sel(kind, "", name, field+".namespaceSelector", m.NamespaceSelector)
		sel(kind, "", name, field+".objectSelector", m.ObjectSelector)
	}
	for i := range s.ValidatingAdmissionPolicies {
		p := &s.ValidatingAdmissionPolicies[i]
		match("ValidatingAdmissionPolicy", p.Name, "spec.matchConstraints", p.Spec.MatchConstraints)
	}
	for i := range s.ValidatingAdmissionPolicyBindings {
		p := &s.ValidatingAdmissionPolicyBindings[i]
		match("ValidatingAdmissionPolicyBinding", p.Name, "spec.matchResources", p.Spec.MatchResources)
	}
	return gaps
}

func checkIPBlock(cidr string, except []string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("cidr %q: %w", cidr, err)
	}
	for _, e := range except {
		q, err := netip.ParsePrefix(e)
		if err != nil {
			return fmt.Errorf("except %q: %w", e, err)
		}
		if !p.Overlaps(q) || q.Bits() < p.Bits() {
			return fmt.Errorf("except %q is not within cidr %q", e, cidr)
		}
	}
	return nil
}

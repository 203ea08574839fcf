// Package vap generates ValidatingAdmissionPolicies (and their bindings)
// for the part of a credence policy the API server can evaluate itself.
//
// The API server evaluates CEL over the object alone, with no network: it
// can check where images come from and that they are pinned
// (credence-image-source@v1) and Pod Security (credence-pss-baseline@v1
// and -restricted@v1, check by check as the upstream evaluator does), but
// not signatures, findings or paths. Generate translates what it can, with
// the policy's match and exemptions, and lists every rule it leaves to the
// webhook, which stays the fallback for the rest.
package vap

import (
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/credence-dev/credence/policy"
)

// Options configure Generate.
type Options struct {
	// Prefix names the generated objects ("credence").
	Prefix string
	// ExcludeNamespaces are left out by the bindings, as the webhook
	// configuration leaves them out.
	ExcludeNamespaces []string
	// Now is when exemptions are checked for expiry (zero: time.Now()).
	Now time.Time
}

// Result is what Generate made and what it left to the webhook.
type Result struct {
	Policies []admissionregistrationv1.ValidatingAdmissionPolicy
	Bindings []admissionregistrationv1.ValidatingAdmissionPolicyBinding
	// Generated lists the rules translated, Skipped the rules left to the
	// webhook, each with why.
	Generated []Translated `json:"generated"`
	Skipped   []Translated `json:"skipped"`
}

// Translated is one rule and where it went.
type Translated struct {
	Rule   string `json:"rule"`
	Policy string `json:"policy"`
	Why    string `json:"why,omitempty"`
	// Into names the generated ValidatingAdmissionPolicies.
	Into []string `json:"into,omitempty"`
}

// shape is one kind of object a pod spec is found in.
type shape struct {
	name      string
	rules     []admissionregistrationv1.NamedRuleWithOperations
	spec      string // where the pod spec is
	meta      string // where the pod's metadata is
	metaHas   string // has() guard for meta ("" when always present)
	subresAll bool
}

func ops() []admissionregistrationv1.OperationType {
	return []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
}

func rule(group string, resources ...string) admissionregistrationv1.NamedRuleWithOperations {
	return admissionregistrationv1.NamedRuleWithOperations{RuleWithOperations: admissionregistrationv1.RuleWithOperations{
		Operations: ops(), Rule: admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: resources}}}
}

var shapes = []shape{
	{name: "pods", rules: []admissionregistrationv1.NamedRuleWithOperations{rule("", "pods", "pods/ephemeralcontainers")},
		spec: "object.spec", meta: "object.metadata", subresAll: true},
	{name: "workloads", rules: []admissionregistrationv1.NamedRuleWithOperations{
		rule("apps", "deployments", "statefulsets", "daemonsets", "replicasets"), rule("batch", "jobs")},
		spec: "object.spec.template.spec", meta: "object.spec.template.metadata", metaHas: "has(object.spec.template.metadata)"},
	{name: "cronjobs", rules: []admissionregistrationv1.NamedRuleWithOperations{rule("batch", "cronjobs")},
		spec: "object.spec.jobTemplate.spec.template.spec", meta: "object.spec.jobTemplate.spec.template.metadata",
		metaHas: "has(object.spec.jobTemplate.spec.template.metadata)"},
}

// translation is one rule written as validations over a shape.
type translation struct {
	rule   policy.RuleInfo
	checks []check // each a validation
	// containerScoped checks filter containers by the policy's images.
	containerScoped bool
	exemptions      []policy.ExemptionInfo
}

type check struct {
	id, detail string
	pod        string                // over variables (workload scope)
	container  func(c string) string // per selected container (container scope)
}

// Generate translates e's rules.
func Generate(e *policy.Engine, o Options) (*Result, error) {
	if o.Prefix == "" {
		o.Prefix = "credence"
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	res := &Result{Generated: []Translated{}, Skipped: []Translated{}}
	for _, p := range e.Policies() {
		if err := res.policy(p, o); err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Name, err)
		}
	}
	return res, nil
}

func (res *Result) policy(p policy.PolicyInfo, o Options) error {
	byAction := map[admissionregistrationv1.ValidationAction][]translation{}
	for _, r := range p.Rules {
		t, why := translate(r)
		if why == "" && len(p.Match.Workloads) > 0 {
			why = "the policy matches workloads by name"
		}
		var exs []policy.ExemptionInfo
		for _, x := range p.Exemptions {
			if !x.Covers(r) || (!x.Expires.IsZero() && !o.Now.Before(x.Expires)) {
				continue // does not apply, or expired: the webhook ignores it too
			}
			switch {
			case why != "":
			case !x.Expires.IsZero():
				why = fmt.Sprintf("exemption %s expires, and the API server's CEL has no clock", x.Name)
			case len(x.Select.Workloads) > 0:
				why = fmt.Sprintf("exemption %s names workloads, which the API server cannot resolve from a pod", x.Name)
			}
			exs = append(exs, x)
		}
		if why != "" {
			res.Skipped = append(res.Skipped, Translated{Rule: r.ID, Policy: p.Name, Why: why})
			continue
		}
		t.exemptions = exs
		act := map[policy.Mode]admissionregistrationv1.ValidationAction{policy.Enforce: admissionregistrationv1.Deny, policy.Warn: admissionregistrationv1.Warn,
			policy.Audit: admissionregistrationv1.Audit}[r.Mode]
		byAction[act] = append(byAction[act], t)
	}
	acts := make([]string, 0, len(byAction))
	for a := range byAction {
		acts = append(acts, string(a))
	}
	sort.Strings(acts)
	into := map[string][]string{}
	for _, a := range acts {
		ts := byAction[admissionregistrationv1.ValidationAction(a)]
		for _, sh := range shapes {
			name := dnsName(o.Prefix + "-" + p.Name + "-" + sh.name + "-" + strings.ToLower(a))
			vp, err := build(name, p, sh, ts)
			if err != nil {
				return err
			}
			res.Policies = append(res.Policies, *vp)
			b := admissionregistrationv1.ValidatingAdmissionPolicyBinding{
				TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels(p.Name)},
				Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: name,
					ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.ValidationAction(a)}},
			}
			if len(o.ExcludeNamespaces) > 0 {
				b.Spec.MatchResources = &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: o.ExcludeNamespaces}}}}
			}
			res.Bindings = append(res.Bindings, b)
			for _, t := range ts {
				into[t.rule.ID] = append(into[t.rule.ID], name)
			}
		}
	}
	for _, r := range p.Rules {
		if names, ok := into[r.ID]; ok {
			res.Generated = append(res.Generated, Translated{Rule: r.ID, Policy: p.Name, Into: names})
		}
	}
	return nil
}

func labels(policyName string) map[string]string {
	return map[string]string{"app.kubernetes.io/managed-by": "credence", "policy.credence.dev/policy": dnsLabel(policyName)}
}

var notDNS = regexp.MustCompile(`[^a-z0-9.-]+`)

func dnsName(s string) string {
	s = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(s), "-"), "-.")
	if len(s) > 253 {
		s = s[:253]
	}
	return s
}

func dnsLabel(s string) string {
	s = strings.Trim(regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 63 {
		s = strings.Trim(s[:63], "-")
	}
	return s
}

// translate writes one rule as checks, or says why it cannot.
func translate(r policy.RuleInfo) (translation, string) {
	t := translation{rule: r}
	switch r.Pack {
	case "credence-pss-baseline@v1", "credence-pss-restricted@v1":
		for _, c := range checksFor(r.Pack == "credence-pss-restricted@v1") {
			t.checks = append(t.checks, check{id: c.id, detail: c.detail, pod: c.expression()})
		}
		return t, ""
	case "credence-image-source@v1":
		t.containerScoped = true
		switch r.ID {
		case "credence-image-source@v1/trusted-registry":
			regs, _ := r.Params["registries"].([]string)
			t.checks = append(t.checks, check{id: "trusted-registry", detail: "images must come from " + strings.Join(regs, ", "),
				container: func(c string) string {
					return withImage(c+".image", list(regs)+".exists(r, "+ipRegistry+" == r || "+ipRepo+" == r || "+ipRepo+".startsWith(r + '/'))")
				}})
		case "credence-image-source@v1/pinned":
			if req, _ := r.Params["requireDigest"].(bool); !req {
				return t, "requireDigest is false: the rule passes everything"
			}
			t.checks = append(t.checks, check{id: "pinned", detail: "images must be named by digest (NAME@sha256:...)",
				container: func(c string) string { return c + ".image.matches('@sha256:[0-9a-f]{64}$')" }})
		default:
			return t, "an unknown rule of the pack"
		}
		return t, ""
	}
	reads := strings.Join(r.Facts, ", ")
	if reads == "" {
		reads = "the Subject (not the object the API server sees)"
	}
	return t, "a CEL rule over credence's Subject (" + reads + "); the API server evaluates CEL over the object alone"
}

// build makes the ValidatingAdmissionPolicy of one shape.
func build(name string, p policy.PolicyInfo, sh shape, ts []translation) (*admissionregistrationv1.ValidatingAdmissionPolicy, error) {
	metaMap := func(obj, field string) string {
		m := strings.Replace(sh.meta, "object.", obj+".", 1)
		guard := "has(" + m + "." + field + ")"
		if sh.metaHas != "" {
			guard = strings.Replace(sh.metaHas, "object.", obj+".", 1) + " && " + guard
		}
		return "((" + guard + ") ? " + m + "." + field + " : {})"
	}
	vars := []admissionregistrationv1.Variable{
		{Name: "spec", Expression: sh.spec},
		{Name: "labels", Expression: metaMap("object", "labels")},
		{Name: "annotations", Expression: metaMap("object", "annotations")},
		{Name: "containers", Expression: "variables.spec.containers + (has(variables.spec.initContainers) ? variables.spec.initContainers : [])"},
		{Name: "ephemeral", Expression: "has(variables.spec.ephemeralContainers) ? variables.spec.ephemeralContainers : []"},
	}
	// An update that leaves the pod template alone is not judged again (as
	// the webhook does not judge it): a scale or a finalizer change must
	// never be blocked.
	tmpl := strings.TrimSuffix(sh.spec, ".spec")
	changed := "request.operation != 'UPDATE' || " + tmpl + " != " + strings.Replace(tmpl, "object.", "oldObject.", 1)
	if sh.name == "pods" {
		changed = "request.operation != 'UPDATE' || request.subResource != '' || object.spec != oldObject.spec || " +
			metaMap("object", "labels") + " != " + metaMap("oldObject", "labels") + " || " + metaMap("object", "annotations") + " != " + metaMap("oldObject", "annotations")
	}
	conds := []admissionregistrationv1.MatchCondition{{Name: "template-changed", Expression: changed}}
	if len(p.Match.Namespaces) > 0 {
		conds = append(conds, admissionregistrationv1.MatchCondition{Name: "policy-namespaces", Expression: namespaceMatches(p.Match.Namespaces)})
	}
	if len(p.Match.ExcludeNamespaces) > 0 {
		conds = append(conds, admissionregistrationv1.MatchCondition{Name: "policy-exclude-namespaces", Expression: "!" + namespaceMatches(p.Match.ExcludeNamespaces)})
	}
	if p.Match.LabelSelector != nil {
		lm, err := labelsMatch(metaMap("object", "labels"), p.Match.LabelSelector)
		if err != nil {
			return nil, err
		}
		conds = append(conds, admissionregistrationv1.MatchCondition{Name: "policy-labels", Expression: lm})
	}
	sel := func(c string) string { return "true" }
	if len(p.Match.Images) > 0 {
		sel = func(c string) string { return imageMatches(c+".image", p.Match.Images) }
		cont := strings.Replace(sh.spec, "object.", "object.", 1)
		any := cont + ".containers.exists(c, " + sel("c") + ") || (has(" + cont + ".initContainers) && " + cont + ".initContainers.exists(c, " + sel("c") + "))"
		if sh.name == "pods" {
			any += " || (has(" + cont + ".ephemeralContainers) && " + cont + ".ephemeralContainers.exists(c, " + sel("c") + "))"
		}
		conds = append(conds, admissionregistrationv1.MatchCondition{Name: "policy-images", Expression: any})
	}
	var vals []admissionregistrationv1.Validation
	for _, t := range ts {
		exW := func(x policy.ExemptionInfo) (string, error) {
			parts := []string{"true"}
			if len(x.Select.Namespaces) > 0 {
				parts = append(parts, namespaceMatches(x.Select.Namespaces))
			}
			if len(x.Select.ExcludeNamespaces) > 0 {
				parts = append(parts, "!"+namespaceMatches(x.Select.ExcludeNamespaces))
			}
			if x.Select.LabelSelector != nil {
				lm, err := labelsMatch("variables.labels", x.Select.LabelSelector)
				if err != nil {
					return "", err
				}
				parts = append(parts, lm)
			}
			return strings.Join(parts, " && "), nil
		}
		exI := func(x policy.ExemptionInfo, c string) string {
			if len(x.Select.Images) == 0 {
				return "true"
			}
			return imageMatches(c+".image", x.Select.Images)
		}
		for _, ck := range t.checks {
			var expr string
			if t.containerScoped {
				per := func(c string) (string, error) {
					alts := []string{"!(" + sel(c) + ")"}
					for _, x := range t.exemptions {
						w, err := exW(x)
						if err != nil {
							return "", err
						}
						alts = append(alts, "("+w+" && "+exI(x, c)+")")
					}
					return strings.Join(append(alts, "("+ck.container(c)+")"), " || "), nil
				}
				pc, err := per("c")
				if err != nil {
					return nil, err
				}
				expr = "variables.containers.all(c, " + pc + ") && variables.ephemeral.all(c, " + pc + ")"
			} else {
				alts := []string{}
				for _, x := range t.exemptions {
					w, err := exW(x)
					if err != nil {
						return nil, err
					}
					cov := "(!(" + sel("c") + ") || " + exI(x, "c") + ")"
					alts = append(alts, "("+w+" && variables.containers.all(c, "+cov+") && variables.ephemeral.all(c, "+cov+"))")
				}
				expr = strings.Join(append(alts, "("+ck.pod+")"), " || ")
			}
			msg := t.rule.ID + ": " + ck.id + ": " + ck.detail
			if strings.HasSuffix(t.rule.ID, "/"+ck.id) {
				msg = t.rule.ID + ": " + ck.detail
			}
			vals = append(vals, admissionregistrationv1.Validation{Expression: expr, Message: msg, Reason: ptr(metav1.StatusReasonForbidden)})
		}
	}
	fail := admissionregistrationv1.Fail
	equivalent := admissionregistrationv1.Equivalent
	return &admissionregistrationv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels(p.Name)},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: sh.rules, MatchPolicy: &equivalent},
			MatchConditions:  conds,
			Variables:        vars,
			Validations:      vals,
		},
	}, nil
}

func ptr[T any](v T) *T { return &v }

// WriteYAML writes the policies and bindings as one multi-document YAML
// stream, each policy followed by its binding.
func (res *Result) WriteYAML(w io.Writer) error {
	for i := range res.Policies {
		for _, obj := range []any{&res.Policies[i], &res.Bindings[i]} {
			b, err := yaml.Marshal(obj)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "---\n%s", b); err != nil {
				return err
			}
		}
	}
	return nil
}

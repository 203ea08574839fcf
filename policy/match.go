package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// matcher selects workloads (namespaces, labels) and containers (images).
// A nil list matches everything.
type matcher struct {
	namespaces, excludeNamespaces []*regexp.Regexp
	selector                      labels.Selector // nil: every workload
	labelSelector                 *metav1.LabelSelector
	images                        []*regexp.Regexp
}

func newMatcher(file string, m *matchDoc) (*matcher, error) {
	out := &matcher{}
	if m == nil {
		return out, nil
	}
	var errs []error
	var err error
	if out.namespaces, err = globs(m.Namespaces, false); err != nil {
		errs = append(errs, errAt(file, m.At, "match.namespaces: %v", err))
	}
	if out.excludeNamespaces, err = globs(m.ExcludeNamespaces, false); err != nil {
		errs = append(errs, errAt(file, m.At, "match.excludeNamespaces: %v", err))
	}
	if m.LabelSelector != nil {
		out.labelSelector = labelSelectorOf(m.LabelSelector)
		if out.selector, err = selectorOf(m.LabelSelector); err != nil {
			errs = append(errs, errAt(file, m.LabelSelector.At, "match.labelSelector: %v", err))
		}
	}
	if out.images, err = imagePatterns(m.Images, m.ImageRegexps); err != nil {
		errs = append(errs, errAt(file, m.At, "match: %v", err))
	}
	return out, errors.Join(errs...)
}

func selectorOf(s *selectorDoc) (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(labelSelectorOf(s))
}

func labelSelectorOf(s *selectorDoc) *metav1.LabelSelector {
	ls := &metav1.LabelSelector{MatchLabels: s.MatchLabels}
	for _, e := range s.MatchExpressions {
		ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{Key: e.Key, Operator: metav1.LabelSelectorOperator(e.Operator), Values: e.Values})
	}
	return ls
}

// globs compiles shell-like patterns: * matches within a path segment
// (anything but /), ** across segments, ? one character; the rest is
// literal. The whole string must match.
func globs(pats []string, paths bool) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, p := range pats {
		if p == "" {
			return nil, errors.New("an empty pattern")
		}
		var b strings.Builder
		b.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case c == '*' && i+1 < len(p) && p[i+1] == '*':
				b.WriteString(".*")
				i++
			case c == '*' && paths:
				b.WriteString("[^/]*")
			case c == '*':
				b.WriteString(".*")
			case c == '?':
				b.WriteString("[^/]")
			default:
				b.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		b.WriteString("$")
		re, err := regexp.Compile(b.String())
		if err != nil {
			return nil, fmt.Errorf("pattern %q: %w", p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func imagePatterns(gl, res []string) ([]*regexp.Regexp, error) {
	out, err := globs(gl, true)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	for _, r := range res {
		re, err := regexp.Compile(r)
		if err != nil {
			return nil, fmt.Errorf("imageRegexps: %q: %w", r, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func anyMatch(res []*regexp.Regexp, s ...string) bool {
	for _, re := range res {
		for _, x := range s {
			if x != "" && re.MatchString(x) {
				return true
			}
		}
	}
	return false
}

// workload reports whether the policy applies to the workload.
func (m *matcher) workload(namespace string, lbls map[string]string) bool {
	if len(m.namespaces) > 0 && !anyMatch(m.namespaces, namespace) {
		return false
	}
	if anyMatch(m.excludeNamespaces, namespace) {
		return false
	}
	return m.selector == nil || m.selector.Matches(labels.Set(lbls))
}

// image reports whether the policy applies to a container's image. Patterns
// match the reference as the pod spec writes it, or its full form
// (registry/repository[:tag][@digest], Docker Hub as docker.io).
func (m *matcher) image(img *Image) bool {
	return len(m.images) == 0 || anyMatch(m.images, imageForms(img)...)
}

func imageForms(img *Image) []string {
	forms := []string{img.Reference}
	if img.Registry != "" {
		full := img.Registry + "/" + img.Repository
		if img.Tag != "" {
			full += ":" + img.Tag
		}
		if i := strings.LastIndex(img.Reference, "@"); i >= 0 {
			full += img.Reference[i:]
		}
		forms = append(forms, full)
	}
	return forms
}

// exemption lifts rules from some workloads or containers, with a reason,
// until it expires.
type exemption struct {
	name, reason string
	expires      time.Time // zero: never
	rules        []string  // rule ids or pack ids; empty: every rule of the policy
	m            *matcher
	workloads    []*regexp.Regexp
	hasWorkload  bool // any workload-level selector given
}

func newExemption(d *Document, ed exemptionDoc, ruleIDs, packIDs map[string]bool) (*exemption, error) {
	file := d.File
	if ed.Name == "" || ed.Reason == "" {
		return nil, errAt(file, ed.At, "an exemption needs a name and a reason (it is recorded in every decision it changes)")
	}
	ex := &exemption{name: ed.Name, reason: ed.Reason}
	if ed.Expires != "" {
		t, err := expiry(ed.Expires)
		if err != nil {
			return nil, errAt(file, ed.At, "exemption %s: expires %q: want a date (2026-12-31) or an RFC 3339 time", ed.Name, ed.Expires)
		}
		ex.expires = t
	}
	for _, r := range ed.Rules {
		full := r
		if !strings.Contains(r, "/") && !strings.Contains(r, "@") {
			full = d.Name + "/" + r // a custom rule of this policy
		}
		if !ruleIDs[full] && !packIDs[full] {
			return nil, errAt(file, ed.At, "exemption %s: no rule or pack %q in this policy", ed.Name, r)
		}
		ex.rules = append(ex.rules, full)
	}
	var err error
	if ex.workloads, err = globs(ed.Workloads, true); err != nil {
		return nil, errAt(file, ed.At, "exemption %s: workloads: %v", ed.Name, err)
	}
	md := &matchDoc{Namespaces: ed.Namespaces, LabelSelector: ed.LabelSelector, Images: ed.Images, ImageRegexps: ed.ImageRegexps, At: ed.At}
	if ex.m, err = newMatcher(file, md); err != nil {
		return nil, fmt.Errorf("exemption %s: %w", ed.Name, err)
	}
	ex.hasWorkload = len(ed.Workloads) > 0 || len(ed.Namespaces) > 0 || ed.LabelSelector != nil
	if !ex.hasWorkload && len(ex.m.images) == 0 {
		return nil, errAt(file, ed.At, "exemption %s: say what it exempts (workloads, namespaces, labelSelector or images); to stop enforcing a rule everywhere, set its mode", ed.Name)
	}
	return ex, nil
}

// appliesTo reports whether the exemption covers rule r.
func (ex *exemption) appliesTo(r *compiledRule) bool {
	if len(ex.rules) == 0 {
		return true
	}
	for _, id := range ex.rules {
		if id == r.id || (r.pack != "" && id == r.pack) {
			return true
		}
	}
	return false
}

// workload reports whether the exemption's workload-level selectors match
// (true when it has none).
func (ex *exemption) workload(w *Workload) bool {
	if len(ex.workloads) > 0 && !anyMatch(ex.workloads, w.Namespace+"/"+w.Name, w.Ref) {
		return false
	}
	return ex.m.workload(w.Namespace, w.Labels)
}

// container reports whether the exemption's image patterns cover a
// container (true when it has none).
func (ex *exemption) container(c *Container) bool {
	return len(ex.m.images) == 0 || anyMatch(ex.m.images, imageForms(&c.Image)...)
}

package graph

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// nsNameLabel is set by the API server on every namespace (since 1.21), so it
// is known even when the snapshot holds no Namespace object.
const nsNameLabel = "kubernetes.io/metadata.name"

// selector is a compiled label selector. A selector that does not parse
// (possible in manifests the API server never saw) matches Unknown.
type selector struct {
	sel  labels.Selector
	keys []string // label keys the selector looks at
	err  error
}

func compileSelector(ls *metav1.LabelSelector) selector {
	if ls == nil {
		return selector{sel: labels.Nothing()}
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return selector{err: fmt.Errorf("parse label selector: %w", err)}
	}
	out := selector{sel: s}
	if reqs, ok := s.Requirements(); ok {
		for _, r := range reqs {
			out.keys = append(out.keys, r.Key())
		}
	}
	return out
}

// match answers whether set matches. When complete is false only the labels
// in set are known (a namespace the snapshot lacks: only its name label), and
// a selector that looks at any other key matches Unknown.
func (s selector) match(set labels.Set, complete bool) Verdict {
	if s.err != nil {
		return Unknown
	}
	if !complete {
		for _, k := range s.keys {
			if _, ok := set[k]; !ok {
				return Unknown
			}
		}
	}
	if s.sel.Matches(set) {
		return Allowed
	}
	return Denied
}

// matchAll reports whether the selector is {} (selects everything).
func (s selector) matchAll() bool { return s.err == nil && s.sel.Empty() }

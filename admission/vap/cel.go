package vap

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The CEL below runs in the API server's own environment (Kubernetes CEL:
// strings v2, regex matches; no cel.bind), over the typed objects of the
// matched resources. Expressions are built from small pieces; c is the
// variable of a container (Container or EphemeralContainer, whose fields
// the checks read are named alike).

// quote makes a CEL string literal.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\\', '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func list(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// unset is true when a pointer chain is absent at some step: "a.b.c" →
// "!has(a.b) || !has(a.b.c)".
func unset(base string, path ...string) string {
	var parts []string
	cur := base
	for _, p := range path {
		cur += "." + p
		parts = append(parts, "!has("+cur+")")
	}
	return strings.Join(parts, " || ")
}

// field is base.path..., for use after unset(base, path...) is false.
func field(base string, path ...string) string { return base + "." + strings.Join(path, ".") }

// orUnset: the field is absent, or cond(field) holds.
func orUnset(cond func(string) string, base string, path ...string) string {
	return "(" + unset(base, path...) + " || " + cond(field(base, path...)) + ")"
}

// Image references, parsed as go-containerregistry (and so credence's
// policy view) parses them: the registry is the first path segment when it
// is "localhost" or holds '.' or ':', else Docker Hub ("docker.io", also
// for "index.docker.io"); a Docker Hub repository without '/' is under
// "library/"; a tag follows the last ':' after the last '/' ("latest" when
// neither tag nor digest is given); a digest follows '@'. Kubernetes CEL
// has no let-binding, so each intermediate value is bound by mapping a
// one-element list: [x].map(v, ...)[0].
//
// imageParts(s) is the list [registry, repository, ":tag" or "",
// "@digest" or ""].
func imageParts(s string) string {
	return "[" + s + ".split('@')[0]].map(nd, " +
		"[nd.lastIndexOf(':') > nd.lastIndexOf('/')].map(ht, " +
		"[ht ? nd.substring(0, nd.lastIndexOf(':')) : nd].map(nt, " +
		"[nt.split('/')[0]].map(fs, " +
		"[nt.contains('/') && (fs == 'localhost' || fs.contains('.') || fs.contains(':'))].map(hr, " +
		"[hr ? ((fs == 'docker.io' || fs == 'index.docker.io') ? 'docker.io' : fs) : 'docker.io'].map(rg, " +
		"[hr ? nt.substring(fs.size() + 1) : nt].map(pa, " +
		"[rg, (rg == 'docker.io' && !pa.contains('/')) ? 'library/' + pa : pa, " +
		"ht ? ':' + nd.substring(nd.lastIndexOf(':') + 1) : (" + s + ".contains('@') ? '' : ':latest'), " +
		s + ".contains('@') ? " + s + ".substring(" + s + ".indexOf('@')) : ''" +
		"])[0])[0])[0])[0])[0])[0])[0]"
}

// withImage binds ip to imageParts(s) for body.
func withImage(s, body string) string { return "[" + imageParts(s) + "].all(ip, " + body + ")" }

// Over ip: the registry, the repository and the full form.
const (
	ipRegistry = "ip[0]"
	ipRepo     = "(ip[0] + '/' + ip[1])"
	ipFull     = "(ip[0] + '/' + ip[1] + ip[2] + ip[3])"
)

// imageMatches: the reference as written, or its full form, matches one
// of the patterns.
func imageMatches(s string, patterns []string) string {
	var parts []string
	for _, p := range patterns {
		parts = append(parts, s+".matches("+quote(p)+") || "+ipFull+".matches("+quote(p)+")")
	}
	return "(" + withImage(s, strings.Join(parts, " || ")) + ")"
}

// namespaceMatches: the namespace name matches one of the patterns.
func namespaceMatches(patterns []string) string {
	var parts []string
	for _, p := range patterns {
		parts = append(parts, "namespaceObject.metadata.name.matches("+quote(p)+")")
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// labelsMatch is a label selector over the map expression m.
func labelsMatch(m string, ls *metav1.LabelSelector) (string, error) {
	var parts []string
	keys := make([]string, 0, len(ls.MatchLabels))
	for k := range ls.MatchLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("(%s in %s && %s[%s] == %s)", quote(k), m, m, quote(k), quote(ls.MatchLabels[k])))
	}
	for _, e := range ls.MatchExpressions {
		switch e.Operator {
		case metav1.LabelSelectorOpIn:
			parts = append(parts, fmt.Sprintf("(%s in %s && %s[%s] in %s)", quote(e.Key), m, m, quote(e.Key), list(e.Values)))
		case metav1.LabelSelectorOpNotIn:
			parts = append(parts, fmt.Sprintf("(!(%s in %s) || !(%s[%s] in %s))", quote(e.Key), m, m, quote(e.Key), list(e.Values)))
		case metav1.LabelSelectorOpExists:
			parts = append(parts, fmt.Sprintf("(%s in %s)", quote(e.Key), m))
		case metav1.LabelSelectorOpDoesNotExist:
			parts = append(parts, fmt.Sprintf("!(%s in %s)", quote(e.Key), m))
		default:
			return "", fmt.Errorf("label selector operator %q", e.Operator)
		}
	}
	if len(parts) == 0 {
		return "true", nil
	}
	return "(" + strings.Join(parts, " && ") + ")", nil
}

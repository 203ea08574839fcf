package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// APIVersion is the version of the policy file format.
const APIVersion = "policy.credence.dev/v1"

// Kinds of document.
const (
	KindPolicy = "Policy"
	KindPack   = "Pack"
)

// MaxFileSize bounds one policy file.
const MaxFileSize = 1 << 20

// Document is one parsed policy or pack document, not yet compiled.
type Document struct {
	// File names the source in messages ("policy.yaml", "builtin:...").
	File string
	Kind string
	Name string
	// Version is a pack's version ("v1").
	Version string
	desc    string

	policy *policyDoc
	pack   *packDoc
	at     pos
}

// pos is a position in a file (1-based).
type pos struct{ Line, Column int }

// Error is a problem in a policy file, with its position when known.
type Error struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

func errAt(file string, p pos, format string, args ...any) *Error {
	return &Error{File: file, Line: p.Line, Column: p.Column, Msg: fmt.Sprintf(format, args...)}
}

// The YAML shapes. Every struct with an `At pos` field gets its position;
// keys that match no field are errors (with the position and the known
// keys), since a misspelt "exemptons:" must not silently exempt nothing.

type header struct {
	APIVersion string    `yaml:"apiVersion"`
	Kind       string    `yaml:"kind"`
	Metadata   metaDoc   `yaml:"metadata"`
	Spec       yaml.Node `yaml:"spec"`
}

type metaDoc struct {
	Name        string `yaml:"name"`
	Version     string `yaml:"version"`
	Description string `yaml:"description"`
	At          pos    `yaml:"-"`
}

type policyDoc struct {
	// FailureMode is fail-closed (default) or fail-open: what an evaluation
	// error does.
	FailureMode string         `yaml:"failureMode"`
	CostLimit   uint64         `yaml:"costLimit"`
	Match       *matchDoc      `yaml:"match"`
	Packs       []packRefDoc   `yaml:"packs"`
	Parameters  map[string]any `yaml:"parameters"`
	Rules       []ruleDoc      `yaml:"rules"`
	Exemptions  []exemptionDoc `yaml:"exemptions"`
	BreakGlass  *breakGlassDoc `yaml:"breakGlass" json:",omitempty"` // omitted from the digest when absent: digests of earlier policies stay
	At          pos            `yaml:"-"`
}

// breakGlassDoc says where an admission webhook honours the break-glass
// annotation for this policy's denials.
type breakGlassDoc struct {
	Namespaces []string `yaml:"namespaces"`
	At         pos      `yaml:"-"`
}

type packDoc struct {
	Parameters map[string]paramDecl `yaml:"parameters"`
	Rules      []ruleDoc            `yaml:"rules"`
	At         pos                  `yaml:"-"`
}

type paramDecl struct {
	// Type is string, bool, number or list (of strings).
	Type        string   `yaml:"type"`
	Default     any      `yaml:"default"`
	Required    bool     `yaml:"required"`
	Enum        []string `yaml:"enum"`
	Description string   `yaml:"description"`
}

type matchDoc struct {
	Namespaces        []string     `yaml:"namespaces"`
	ExcludeNamespaces []string     `yaml:"excludeNamespaces"`
	LabelSelector     *selectorDoc `yaml:"labelSelector"`
	Images            []string     `yaml:"images"`
	ImageRegexps      []string     `yaml:"imageRegexps"`
	At                pos          `yaml:"-"`
}

type selectorDoc struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []exprReqDoc      `yaml:"matchExpressions"`
	At               pos               `yaml:"-"`
}

type exprReqDoc struct {
	Key      string   `yaml:"key"`
	Operator string   `yaml:"operator"`
	Values   []string `yaml:"values"`
}

type packRefDoc struct {
	Name       string         `yaml:"name"`
	Mode       string         `yaml:"mode"`
	Parameters map[string]any `yaml:"parameters"`
	At         pos            `yaml:"-"`
}

type ruleDoc struct {
	ID                string   `yaml:"id"`
	Description       string   `yaml:"description"`
	Scope             string   `yaml:"scope"`
	Expression        exprSrc  `yaml:"expression"`
	Message           string   `yaml:"message"`
	MessageExpression exprSrc  `yaml:"messageExpression"`
	Evidence          exprSrc  `yaml:"evidence"`
	Mode              string   `yaml:"mode"`
	Unknown           string   `yaml:"unknown"`
	Requires          []string `yaml:"requires"`
	At                pos      `yaml:"-"`
}

type exemptionDoc struct {
	Name          string       `yaml:"name"`
	Reason        string       `yaml:"reason"`
	Expires       string       `yaml:"expires"`
	Rules         []string     `yaml:"rules"`
	Workloads     []string     `yaml:"workloads"`
	Namespaces    []string     `yaml:"namespaces"`
	LabelSelector *selectorDoc `yaml:"labelSelector"`
	Images        []string     `yaml:"images"`
	ImageRegexps  []string     `yaml:"imageRegexps"`
	At            pos          `yaml:"-"`
}

// exprSrc is a CEL expression with where it starts in the file, so that a
// compile error points at the file's line and column.
type exprSrc struct {
	Src   string
	At    pos
	block bool // a literal or folded block scalar: the text starts on the next line
	quote bool
}

func (e *exprSrc) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("an expression must be a string")
	}
	e.Src, e.At = n.Value, pos{n.Line, n.Column}
	e.block = n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
	e.quote = n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
	return nil
}

// fileAt maps a position inside the expression (1-based line, 0-based
// column, as CEL reports) to the file.
func (e exprSrc) fileAt(line, col int) pos {
	if e.block {
		// The block's content starts on the line after the indicator,
		// indented; yaml.v3 reports the indicator's position.
		return pos{e.At.Line + line, 0}
	}
	if line > 1 {
		return pos{e.At.Line + line - 1, 0}
	}
	c := e.At.Column + col
	if e.quote {
		c++
	}
	return pos{e.At.Line, c}
}

// Parse reads the documents of one policy file (YAML, one or more documents
// separated by ---). It checks the shape: apiVersion and kind, unknown
// fields, required fields; Compile checks the rest (expressions, selectors,
// packs, parameters).
func Parse(file string, data []byte) ([]*Document, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("policy file of %d bytes is over the %d limit", len(data), MaxFileSize)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Document
	for {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &Error{File: file, Msg: yamlMessage(err)}
		}
		if len(root.Content) == 0 || (root.Content[0].Kind == yaml.ScalarNode && root.Content[0].Tag == "!!null") {
			continue
		}
		d, err := parseDocument(file, root.Content[0])
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, &Error{File: file, Msg: "no policy document (want apiVersion: " + APIVersion + ", kind: Policy)"}
	}
	return out, nil
}

func parseDocument(file string, n *yaml.Node) (*Document, error) {
	at := pos{n.Line, n.Column}
	if n.Kind != yaml.MappingNode {
		return nil, errAt(file, at, "a policy document must be a mapping with apiVersion, kind, metadata and spec")
	}
	var h header
	if err := decodeStrict(file, n, &h); err != nil {
		return nil, err
	}
	if h.APIVersion != APIVersion {
		return nil, errAt(file, at, "apiVersion %q: want %s", h.APIVersion, APIVersion)
	}
	if h.Metadata.Name == "" {
		return nil, errAt(file, firstPos(h.Metadata.At, at), "metadata.name is required")
	}
	d := &Document{File: file, Kind: h.Kind, Name: h.Metadata.Name, Version: h.Metadata.Version, desc: h.Metadata.Description, at: at}
	spec := &h.Spec
	if spec.Kind == 0 {
		return nil, errAt(file, at, "spec is required")
	}
	switch h.Kind {
	case KindPolicy:
		if h.Metadata.Version != "" {
			return nil, errAt(file, h.Metadata.At, "metadata.version is for packs; a policy is versioned by its file")
		}
		d.policy = &policyDoc{}
		if err := decodeStrict(file, spec, d.policy); err != nil {
			return nil, err
		}
	case KindPack:
		if !validVersion(h.Metadata.Version) {
			return nil, errAt(file, h.Metadata.At, "a pack needs metadata.version v1, v2, ...")
		}
		d.pack = &packDoc{}
		if err := decodeStrict(file, spec, d.pack); err != nil {
			return nil, err
		}
	default:
		return nil, errAt(file, at, "kind %q: want Policy or Pack", h.Kind)
	}
	return d, nil
}

func firstPos(a, b pos) pos {
	if a.Line > 0 {
		return a
	}
	return b
}

func validVersion(v string) bool {
	if len(v) < 2 || v[0] != 'v' {
		return false
	}
	for _, r := range v[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// decodeStrict decodes n into v, then walks both to record positions and to
// refuse keys that match no field.
func decodeStrict(file string, n *yaml.Node, v any) error {
	if err := n.Decode(v); err != nil {
		return &Error{File: file, Msg: yamlMessage(err)}
	}
	var errs []error
	walk(file, n, reflect.ValueOf(v).Elem(), &errs)
	return errors.Join(errs...)
}

var (
	posType  = reflect.TypeFor[pos]()
	exprType = reflect.TypeFor[exprSrc]()
	nodeType = reflect.TypeFor[yaml.Node]()
)

func walk(file string, n *yaml.Node, v reflect.Value, errs *[]error) {
	if n == nil || !v.IsValid() {
		return
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch v.Type() {
	case exprType, nodeType:
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walk(file, n, v.Elem(), errs)
		}
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		t := v.Type()
		fields := map[string]int{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			tag := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				if t.Field(i).Type == posType && t.Field(i).Name == "At" && v.Field(i).CanSet() {
					v.Field(i).Set(reflect.ValueOf(pos{n.Line, n.Column}))
				}
				continue
			}
			fields[tag] = i
			names = append(names, tag)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok {
				sort.Strings(names)
				*errs = append(*errs, errAt(file, pos{k.Line, k.Column}, "unknown field %q (known: %s)", k.Value, strings.Join(names, ", ")))
				continue
			}
			walk(file, val, v.Field(idx), errs)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i := 0; i < v.Len() && i < len(n.Content); i++ {
			walk(file, n.Content[i], v.Index(i), errs)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode || v.Type().Elem().Kind() == reflect.Interface {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			mv := v.MapIndex(reflect.ValueOf(n.Content[i].Value))
			if !mv.IsValid() {
				continue
			}
			cp := reflect.New(mv.Type()).Elem()
			cp.Set(mv)
			walk(file, n.Content[i+1], cp, errs)
		}
	}
}

// yamlMessage makes yaml.v3's errors read as ours ("line 4: cannot
// unmarshal !!str `x` into uint64" stays; Go type names go).
func yamlMessage(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: ")
	s = strings.ReplaceAll(s, "unmarshal errors:\n  ", "")
	s = strings.ReplaceAll(s, "\n  ", "; ")
	for _, r := range []struct{ from, to string }{
		{" into uint64", " into a number"}, {" into []string", " into a list of strings"}, {" into string", " into a string"},
		{" into map[string]string", " into a map of strings"}, {" into []policy.ruleDoc", " into a list of rules"},
		{" into policy.exprSrc", " into an expression"}, {" into bool", " into true/false"},
	} {
		s = strings.ReplaceAll(s, r.from, r.to)
	}
	if i := strings.Index(s, " into policy."); i >= 0 {
		s = s[:i] + " here"
	}
	return s
}

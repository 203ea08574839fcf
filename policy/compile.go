package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
)

// Mode says what a failing rule does.
type Mode string

// Modes.
const (
	Enforce Mode = "enforce" // deny
	Warn    Mode = "warn"    // allow with a warning
	Audit   Mode = "audit"   // record only
)

// Scope says what a rule is evaluated over.
type Scope string

// Scopes.
const (
	ScopeWorkload  Scope = "workload"  // once, with `subject`
	ScopeContainer Scope = "container" // once per container, with `container`
)

// UnknownMode says what a rule does when a fact it reads is unknown.
type UnknownMode string

// Unknown modes (see the package doc).
const (
	UnknownFail     UnknownMode = "fail"     // unknown fails the rule (default)
	UnknownPass     UnknownMode = "pass"     // unknown passes, recorded in the decision
	UnknownEvaluate UnknownMode = "evaluate" // the expression handles unknowns itself
)

// FailureMode says what an evaluation error does.
type FailureMode string

// Failure modes.
const (
	FailClosed FailureMode = "fail-closed" // the rule counts as failed (deny when enforced)
	FailOpen   FailureMode = "fail-open"   // a warning, never a silent allow
)

// Limits.
const (
	// DefaultCostLimit bounds one expression's evaluation (CEL cost units),
	// as Kubernetes bounds a ValidatingAdmissionPolicy expression.
	DefaultCostLimit = 1_000_000
	// DefaultRequestBudget bounds all the evaluations of one Evaluate.
	DefaultRequestBudget = 10_000_000
	maxEvidenceItems     = 20
)

// Engine is a compiled set of policies: immutable, safe for concurrent use.
type Engine struct {
	policies []*compiledPolicy
	budget   uint64
	digest   string
	adapter  types.Adapter
}

type compiledPolicy struct {
	name        string
	file        string
	failureMode FailureMode
	match       *matcher
	exemptions  []*exemption
	rules       []*compiledRule
	// breakGlass: namespaces where the admission break-glass annotation
	// lifts this policy's denials (nil: nowhere).
	breakGlass []*regexp.Regexp
}

type compiledRule struct {
	id          string // pack@version/rule, or policy/rule
	pack        string
	description string
	scope       Scope
	mode        Mode
	unknown     UnknownMode
	facts       fact
	expr        string
	prg         cel.Program
	msg         string
	msgPrg      cel.Program
	evPrg       cel.Program
	params      ref.Val
	paramsRaw   map[string]any
}

// Option configures Compile.
type Option func(*compileOptions) error

type compileOptions struct {
	budget uint64
	packs  map[string]*Document
}

// WithRequestBudget bounds the total CEL cost of one Evaluate (default
// DefaultRequestBudget); rules left when it is spent are evaluation errors.
func WithRequestBudget(n uint64) Option {
	return func(o *compileOptions) error {
		if n == 0 {
			return errors.New("request budget must be positive")
		}
		o.budget = n
		return nil
	}
}

var (
	envOnce                     sync.Once
	workloadEnv, containerEnv   *cel.Env
	envErr                      error
	subjectType, containerType  = cel.ObjectType("policy.Subject"), cel.ObjectType("policy.Container")
	stringListType, dynListType = cel.ListType(cel.StringType), cel.ListType(cel.DynType)
)

// envs builds the two CEL environments once: rules see `subject` and
// `params`; container-scoped rules also see `container`.
func envs() (*cel.Env, *cel.Env, error) {
	envOnce.Do(func() {
		common := []cel.EnvOption{
			ext.NativeTypes(reflect.TypeFor[Subject](), ext.ParseStructTag("json")),
			cel.Variable("subject", subjectType),
			cel.Variable("params", cel.MapType(cel.StringType, cel.DynType)),
			ext.Strings(), ext.Sets(), ext.Lists(ext.ListsMaxRangeSize(10_000)),
		}
		workloadEnv, envErr = cel.NewEnv(common...)
		if envErr != nil {
			return
		}
		containerEnv, envErr = workloadEnv.Extend(cel.Variable("container", containerType))
	})
	return workloadEnv, containerEnv, envErr
}

// Compile compiles policy documents into an Engine. Packs a policy names
// are looked up among the built-in packs (Packs) and the Pack documents in
// docs. Every problem is reported with its file position where known:
// expressions that do not compile or do not return the right type, unknown
// packs or parameters, bad selectors, globs and regular expressions.
func Compile(docs []*Document, opts ...Option) (*Engine, error) {
	o := compileOptions{budget: DefaultRequestBudget, packs: map[string]*Document{}}
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	wenv, cenv, err := envs()
	if err != nil {
		return nil, fmt.Errorf("policy: CEL environment: %w", err)
	}
	for _, p := range builtinPacks() {
		o.packs[p.Name+"@"+p.Version] = p
	}
	for _, d := range docs {
		if d.Kind == KindPack {
			id := d.Name + "@" + d.Version
			if b, ok := o.packs[id]; ok && strings.HasPrefix(b.File, "builtin:") {
				return nil, errAt(d.File, d.at, "pack %s is built in; name yours differently", id)
			}
			o.packs[id] = d
		}
	}
	e := &Engine{budget: o.budget, adapter: wenv.CELTypeAdapter()}
	c := &compiler{wenv: wenv, cenv: cenv, packs: o.packs}
	names := map[string]string{}
	var errs []error
	for _, d := range docs {
		if d.Kind != KindPolicy {
			continue
		}
		if prev, ok := names[d.Name]; ok {
			errs = append(errs, errAt(d.File, d.at, "two policies named %q (the other in %s)", d.Name, prev))
			continue
		}
		names[d.Name] = d.File
		p, err := c.policy(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e.policies = append(e.policies, p)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(e.policies) == 0 {
		return nil, errors.New("policy: no Policy document to compile (packs are used through a Policy's packs list)")
	}
	e.digest = digestOf(docs, c.used)
	return e, nil
}

type compiler struct {
	wenv, cenv *cel.Env
	packs      map[string]*Document
	used       []*Document
}

func (c *compiler) policy(d *Document) (*compiledPolicy, error) {
	pd := d.policy
	p := &compiledPolicy{name: d.Name, file: d.File, failureMode: FailClosed}
	switch FailureMode(pd.FailureMode) {
	case "", FailClosed:
	case FailOpen:
		p.failureMode = FailOpen
	default:
		return nil, errAt(d.File, pd.At, "failureMode %q: want fail-closed or fail-open", pd.FailureMode)
	}
	limit := uint64(DefaultCostLimit)
	if pd.CostLimit > 0 {
		limit = pd.CostLimit
	}
	var errs []error
	m, err := newMatcher(d.File, pd.Match)
	if err != nil {
		errs = append(errs, err)
	}
	p.match = m
	ids := map[string]bool{}
	add := func(r *compiledRule, at pos) {
		if ids[r.id] {
			errs = append(errs, errAt(d.File, at, "rule %s appears twice", r.id))
			return
		}
		ids[r.id] = true
		p.rules = append(p.rules, r)
	}
	packIDs := map[string]bool{}
	for _, ref := range pd.Packs {
		pack, ok := c.packs[ref.Name]
		if !ok {
			errs = append(errs, errAt(d.File, ref.At, "unknown pack %q (built in: %s)", ref.Name, strings.Join(PackNames(), ", ")))
			continue
		}
		packIDs[ref.Name] = true
		mode := Mode("")
		if ref.Mode != "" {
			if mode, err = parseMode(ref.Mode); err != nil {
				errs = append(errs, errAt(d.File, ref.At, "pack %s: %v", ref.Name, err))
				continue
			}
		}
		params, err := packParams(pack, ref)
		if err != nil {
			errs = append(errs, errAt(d.File, ref.At, "pack %s: %v", ref.Name, err))
			continue
		}
		c.used = append(c.used, pack)
		for _, rd := range pack.pack.Rules {
			r, err := c.rule(pack.File, rd, ref.Name+"/"+rd.ID, ref.Name, params, limit)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if mode != "" {
				r.mode = mode
			}
			add(r, ref.At)
		}
	}
	params := normaliseFree(pd.Parameters)
	for _, rd := range pd.Rules {
		if strings.ContainsAny(rd.ID, "@/ ") || rd.ID == "" {
			errs = append(errs, errAt(d.File, rd.At, "rule id %q: give a name without '@', '/' or spaces", rd.ID))
			continue
		}
		r, err := c.rule(d.File, rd, d.Name+"/"+rd.ID, "", params, limit)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		add(r, rd.At)
	}
	if len(p.rules) == 0 && len(errs) == 0 {
		errs = append(errs, errAt(d.File, pd.At, "policy %s has no rules: list packs or rules", d.Name))
	}
	if bg := pd.BreakGlass; bg != nil {
		if len(bg.Namespaces) == 0 {
			errs = append(errs, errAt(d.File, bg.At, "breakGlass.namespaces: list the namespaces (globs) where break-glass is honoured"))
		} else if p.breakGlass, err = globs(bg.Namespaces, false); err != nil {
			errs = append(errs, errAt(d.File, bg.At, "breakGlass.namespaces: %v", err))
		}
	}
	for _, ed := range pd.Exemptions {
		ex, err := newExemption(d, ed, ids, packIDs)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.exemptions = append(p.exemptions, ex)
	}
	return p, errors.Join(errs...)
}

func parseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Enforce, Warn, Audit:
		return Mode(s), nil
	case "":
		return Enforce, nil
	}
	return "", fmt.Errorf("mode %q: want enforce, warn or audit", s)
}

// packParams checks a pack reference's parameters against the pack's
// declarations and fills defaults.
func packParams(pack *Document, ref packRefDoc) (map[string]any, error) {
	decl := pack.pack.Parameters
	out := map[string]any{}
	for _, k := range sortedKeys(ref.Parameters) {
		if _, ok := decl[k]; !ok {
			known := sortedKeys(decl)
			if len(known) == 0 {
				return nil, fmt.Errorf("unknown parameter %q: the pack takes none", k)
			}
			return nil, fmt.Errorf("unknown parameter %q (known: %s)", k, strings.Join(known, ", "))
		}
	}
	for _, k := range sortedKeys(decl) {
		pd := decl[k]
		v, given := ref.Parameters[k]
		if !given {
			if pd.Required {
				return nil, fmt.Errorf("parameter %s is required: %s", k, pd.Description)
			}
			v = pd.Default
		}
		nv, err := normaliseParam(pd, v)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %w", k, err)
		}
		out[k] = nv
	}
	return out, nil
}

func normaliseParam(pd paramDecl, v any) (any, error) {
	switch pd.Type {
	case "string":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %v", v)
		}
		if len(pd.Enum) > 0 && !contains(pd.Enum, s) {
			return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(pd.Enum, ", "))
		}
		return s, nil
	case "bool":
		b, ok := v.(bool)
		if !ok {
			return nil, fmt.Errorf("want true or false, got %v", v)
		}
		return b, nil
	case "number":
		switch n := v.(type) {
		case int:
			return float64(n), nil
		case float64:
			return n, nil
		}
		return nil, fmt.Errorf("want a number, got %v", v)
	case "list":
		if v == nil {
			return []string{}, nil
		}
		l, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a list of strings, got %v", v)
		}
		out := make([]string, len(l))
		for i, x := range l {
			s, ok := x.(string)
			if !ok {
				return nil, fmt.Errorf("want a list of strings, item %d is %v", i, x)
			}
			if strings.HasPrefix(s, "^") {
				if _, err := regexp.Compile(s); err != nil {
					return nil, fmt.Errorf("item %d: %w", i, err)
				}
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("the pack declares type %q (want string, bool, number or list)", pd.Type)
}

// normaliseFree turns a policy's own parameters (any YAML) into values CEL
// reads: lists of strings stay lists of strings, integers stay integers.
func normaliseFree(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *compiler) rule(file string, rd ruleDoc, id, pack string, params map[string]any, limit uint64) (*compiledRule, error) {
	r := &compiledRule{id: id, pack: pack, description: rd.Description, expr: rd.Expression.Src, msg: rd.Message, paramsRaw: params}
	var err error
	if r.mode, err = parseMode(rd.Mode); err != nil {
		return nil, errAt(file, rd.At, "rule %s: %v", id, err)
	}
	switch Scope(rd.Scope) {
	case "", ScopeWorkload:
		r.scope = ScopeWorkload
	case ScopeContainer:
		r.scope = ScopeContainer
	default:
		return nil, errAt(file, rd.At, "rule %s: scope %q: want workload or container", id, rd.Scope)
	}
	switch UnknownMode(rd.Unknown) {
	case "", UnknownFail:
		r.unknown = UnknownFail
	case UnknownPass, UnknownEvaluate:
		r.unknown = UnknownMode(rd.Unknown)
	default:
		return nil, errAt(file, rd.At, "rule %s: unknown %q: want fail, pass or evaluate", id, rd.Unknown)
	}
	if rd.Expression.Src == "" {
		return nil, errAt(file, rd.At, "rule %s: expression is required", id)
	}
	if rd.Message != "" && rd.MessageExpression.Src != "" {
		return nil, errAt(file, rd.At, "rule %s: give message or messageExpression, not both", id)
	}
	env := c.wenv
	if r.scope == ScopeContainer {
		env = c.cenv
	}
	a, prg, err := compileExpr(env, file, id, "expression", rd.Expression, limit, cel.BoolType)
	if err != nil {
		return nil, err
	}
	r.prg, r.facts = prg, factsOf(a)
	for _, f := range rd.Requires {
		ff, ok := parseFact(f)
		if !ok {
			return nil, errAt(file, rd.At, "rule %s: requires %q: want scan, provenance, posture or blastRadius", id, f)
		}
		r.facts |= ff
	}
	if rd.MessageExpression.Src != "" {
		if _, r.msgPrg, err = compileExpr(env, file, id, "messageExpression", rd.MessageExpression, limit, cel.StringType); err != nil {
			return nil, err
		}
	}
	if rd.Evidence.Src != "" {
		if _, r.evPrg, err = compileExpr(env, file, id, "evidence", rd.Evidence, limit, stringListType); err != nil {
			return nil, err
		}
	}
	r.params = c.wenv.CELTypeAdapter().NativeToValue(params)
	return r, nil
}

func parseFact(s string) (fact, bool) {
	for _, n := range factNames {
		if n.name == s {
			return n.f, true
		}
	}
	return 0, false
}

// compileExpr type-checks one expression and plans it with the cost limit.
func compileExpr(env *cel.Env, file, id, field string, src exprSrc, limit uint64, want *cel.Type) (*cel.Ast, cel.Program, error) {
	a, iss := env.Compile(src.Src)
	if iss != nil && iss.Err() != nil {
		at := src.At
		if errs := iss.Errors(); len(errs) > 0 {
			at = src.fileAt(errs[0].Location.Line(), errs[0].Location.Column())
		}
		msg := strings.TrimPrefix(iss.Err().Error(), "ERROR: ")
		msg, _, _ = strings.Cut(msg, "\n") // the position says where; CEL's snippet follows
		msg = celPos.ReplaceAllString(msg, "")
		return nil, nil, errAt(file, at, "rule %s: %s does not compile: %s", id, field, msg)
	}
	got := a.OutputType()
	ok := got.IsExactType(want) || got.IsExactType(cel.DynType) || (want.IsExactType(stringListType) && got.IsExactType(dynListType))
	if !ok {
		return nil, nil, errAt(file, src.At, "rule %s: %s returns %s, want %s", id, field, got, want)
	}
	prg, err := env.Program(a, cel.CostLimit(limit), cel.EvalOptions(cel.OptOptimize, cel.OptTrackCost))
	if err != nil {
		return nil, nil, errAt(file, src.At, "rule %s: %s: %v", id, field, err)
	}
	return a, prg, nil
}

var celPos = regexp.MustCompile(`^<input>:\d+:\d+: `)

// factsOf finds the facts an expression reads, from the fields it selects
// on a Container (and the workload's risk, which rests on them).
func factsOf(a *cel.Ast) fact {
	nat := a.NativeRep()
	var f fact
	for _, e := range ast.MatchDescendants(ast.NavigateAST(nat), ast.KindMatcher(ast.SelectKind)) {
		sel := e.AsSelect()
		t := nat.GetType(sel.Operand().ID())
		if t == nil {
			continue
		}
		switch t.TypeName() {
		case "policy.Container":
			switch sel.FieldName() {
			case "findings", "counts", "unchecked", "exploit":
				f |= factScan
			case "provenance":
				f |= factProvenance
			case "posture":
				f |= factPosture
			case "blastRadius":
				f |= factBlastRadius
			}
		case "policy.Subject":
			if sel.FieldName() == "risk" {
				f |= factScan | factBlastRadius
			}
		}
	}
	return f
}

// digestOf identifies the compiled policies and packs (what a decision
// record names, and what a change of policy changes).
func digestOf(docs []*Document, packs []*Document) string {
	h := sha256.New()
	seen := map[*Document]bool{}
	for _, d := range append(append([]*Document{}, docs...), packs...) {
		if seen[d] {
			continue
		}
		seen[d] = true
		b, _ := json.Marshal(struct {
			Kind, Name, Version string
			Policy              *policyDoc
			Pack                *packDoc
		}{d.Kind, d.Name, d.Version, d.policy, d.pack})
		h.Write(b)
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Digest identifies the compiled policies and the packs they use.
func (e *Engine) Digest() string { return e.digest }

// RuleInfo describes one compiled rule (for listings and for generating
// admission policies the API server evaluates itself).
type RuleInfo struct {
	ID          string         `json:"id"`
	Policy      string         `json:"policy"`
	Pack        string         `json:"pack,omitempty"`
	Description string         `json:"description,omitempty"`
	Scope       Scope          `json:"scope"`
	Mode        Mode           `json:"mode"`
	Unknown     UnknownMode    `json:"unknown"`
	FailureMode FailureMode    `json:"failureMode"`
	Expression  string         `json:"expression"`
	Facts       []string       `json:"facts"`
	Params      map[string]any `json:"params,omitempty"`
}

// Rules lists the compiled rules in evaluation order.
func (e *Engine) Rules() []RuleInfo {
	var out []RuleInfo
	for _, p := range e.policies {
		for _, r := range p.rules {
			fs := []string{}
			if r.facts != 0 {
				fs = strings.Split(r.facts.String(), ",")
			}
			sort.Strings(fs)
			out = append(out, RuleInfo{ID: r.id, Policy: p.name, Pack: r.pack, Description: r.description, Scope: r.scope, Mode: r.mode,
				Unknown: r.unknown, FailureMode: p.failureMode, Expression: r.expr, Facts: fs, Params: r.paramsRaw})
		}
	}
	return out
}

// BreakGlassAllowed reports whether policy lets the admission break-glass
// annotation lift its denials in namespace (spec.breakGlass.namespaces).
// A policy that does not say so never allows it.
func (e *Engine) BreakGlassAllowed(policy, namespace string) bool {
	for _, p := range e.policies {
		if p.name != policy {
			continue
		}
		for _, re := range p.breakGlass {
			if re.MatchString(namespace) {
				return true
			}
		}
	}
	return false
}

// expiry parses an exemption's expires: a date (valid through that day,
// UTC) or an RFC 3339 time.
func expiry(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.Add(24 * time.Hour), nil
	}
	return time.Parse(time.RFC3339, s)
}

package policy

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/credence-dev/credence/assess"
)

// Outcome is a decision about one workload.
type Outcome string

// Outcomes, from best to worst.
const (
	Allow       Outcome = "allow"
	WarnOutcome Outcome = "warn"
	Deny        Outcome = "deny"
)

// Effect is what one rule result did to the decision.
type Effect string

// Effects.
const (
	EffectDeny  Effect = "deny"
	EffectWarn  Effect = "warn"
	EffectAudit Effect = "audit" // recorded only
	EffectPass  Effect = "pass"  // unknown, passed because the rule says unknown: pass
)

// Result is how a rule ended for a target.
type Result string

// Results.
const (
	Pass    Result = "pass"
	Fail    Result = "fail"
	Unknown Result = "unknown" // a fact it reads is not known
	Errored Result = "error"   // evaluation error, cost limit, or a transient unknown
)

// Decision is the verdict on one workload: allow, warn or deny, with every
// rule that did not pass and its evidence.
type Decision struct {
	// Workload is "namespace/Kind/name".
	Workload string  `json:"workload"`
	Outcome  Outcome `json:"decision"`
	// Failures are the rules that did not pass, in evaluation order: each
	// with its effect (deny, warn, audit, or pass for an unknown the rule
	// lets pass).
	Failures []Failure `json:"failures"`
	// Exempted lists the rules exemptions lifted, with the reasons.
	Exempted []Exempted `json:"exempted,omitempty"`
	// Notes: expired exemptions and the like.
	Notes []string `json:"notes,omitempty"`
	// Evaluated counts the rules evaluated; Cost is their CEL cost.
	Evaluated int    `json:"evaluated"`
	Cost      uint64 `json:"cost"`
	// PolicyDigest identifies the policies that decided.
	PolicyDigest string `json:"policyDigest"`
}

// Failure is one rule that did not pass.
type Failure struct {
	Rule        string `json:"rule"`
	Policy      string `json:"policy"`
	Pack        string `json:"pack,omitempty"`
	Description string `json:"description,omitempty"`
	Mode        Mode   `json:"mode"`
	Effect      Effect `json:"effect"`
	// Result is fail when any target failed outright, else error, else
	// unknown.
	Result   Result     `json:"result"`
	Message  string     `json:"message"`
	Evidence []Evidence `json:"evidence"`
}

// Evidence is why one target (the workload, or one container) did not pass.
type Evidence struct {
	Container string   `json:"container,omitempty"`
	Image     string   `json:"image,omitempty"`
	Result    Result   `json:"result"`
	Message   string   `json:"message"`
	Items     []string `json:"items,omitempty"`
	Unknown   []string `json:"unknown,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// Exempted is a rule an exemption lifted.
type Exempted struct {
	Rule       string   `json:"rule"`
	Exemption  string   `json:"exemption"`
	Reason     string   `json:"reason"`
	Containers []string `json:"containers,omitempty"`
}

// Denied reports whether the decision denies.
func (d *Decision) Denied() bool { return d.Outcome == Deny }

// Warnings returns the messages of rules that warn (admission warnings).
func (d *Decision) Warnings() []string { return d.messages(EffectWarn) }

// DenyMessages returns the messages of rules that deny.
func (d *Decision) DenyMessages() []string { return d.messages(EffectDeny) }

func (d *Decision) messages(e Effect) []string {
	var out []string
	for _, f := range d.Failures {
		if f.Effect == e {
			out = append(out, f.Rule+": "+f.Message)
		}
	}
	return out
}

// activation binds a rule's variables without allocating per name.
type activation struct {
	subject, container, params ref.Val
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "subject":
		return a.subject, true
	case "container":
		if a.container != nil {
			return a.container, true
		}
	case "params":
		return a.params, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }

// evaluation is the state of one Evaluate.
type evaluation struct {
	e          *Engine
	v          *view
	subject    ref.Val
	containers []ref.Val
	spent      uint64
	d          *Decision
}

// Evaluate decides about one workload. It does no I/O, is deterministic
// for a given Input, and is safe to call concurrently. Every policy whose
// match selects the workload is evaluated; its rules' failures, unknowns
// and errors decide as the package doc says.
func (e *Engine) Evaluate(in Input) Decision {
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	v := buildView(in)
	d := Decision{Workload: v.subject.Workload.Ref, Outcome: Allow, Failures: []Failure{}, PolicyDigest: e.digest}
	ev := &evaluation{e: e, v: v, d: &d, subject: e.adapter.NativeToValue(&v.subject), containers: make([]ref.Val, len(v.subject.Containers))}
	for i := range v.subject.Containers {
		ev.containers[i] = e.adapter.NativeToValue(&v.subject.Containers[i])
	}
	w := &v.subject.Workload
	var only fact
	for _, name := range in.Facts {
		f, ok := parseFact(name)
		if !ok {
			d.Notes = append(d.Notes, fmt.Sprintf("unknown fact %q in Input.Facts: every rule evaluated", name))
			only = 0
			break
		}
		only |= f
	}
	for _, p := range e.policies {
		if !p.match.workload(w.Namespace, w.Labels) {
			continue
		}
		var targets []int
		for i := range v.subject.Containers {
			if p.match.image(&v.subject.Containers[i].Image) {
				targets = append(targets, i)
			}
		}
		if len(targets) == 0 {
			continue // the policy's images are not in this workload
		}
		active := ev.exemptions(p, now)
		for _, r := range p.rules {
			if only != 0 && r.facts&only == 0 {
				continue
			}
			ev.rule(p, r, targets, active)
		}
	}
	for _, f := range d.Failures {
		switch {
		case f.Effect == EffectDeny:
			d.Outcome = Deny
		case f.Effect == EffectWarn && d.Outcome == Allow:
			d.Outcome = WarnOutcome
		}
	}
	return d
}

// exemptions returns the exemptions of p in force at now that select the
// workload; expired ones become notes.
func (ev *evaluation) exemptions(p *compiledPolicy, now time.Time) []*exemption {
	var out []*exemption
	w := &ev.v.subject.Workload
	for _, ex := range p.exemptions {
		if !ex.workload(w) {
			continue
		}
		if !ex.expires.IsZero() && !now.Before(ex.expires) {
			ev.d.Notes = append(ev.d.Notes, fmt.Sprintf("exemption %s of policy %s expired on %s and no longer applies", ex.name, p.name, ex.expires.UTC().Format(time.RFC3339)))
			continue
		}
		out = append(out, ex)
	}
	return out
}

// rule evaluates one rule over its targets and records what did not pass.
func (ev *evaluation) rule(p *compiledPolicy, r *compiledRule, targets []int, active []*exemption) {
	cs := ev.v.subject.Containers
	// Exemptions: per container for container rules; for workload rules,
	// an image exemption must cover every container.
	var exempt *exemption
	exemptC := map[int]*exemption{}
	for _, ex := range active {
		if !ex.appliesTo(r) {
			continue
		}
		if r.scope == ScopeContainer {
			for _, i := range targets {
				if exemptC[i] == nil && ex.container(&cs[i]) {
					exemptC[i] = ex
				}
			}
			continue
		}
		all := true
		for _, i := range targets {
			all = all && ex.container(&cs[i])
		}
		if all {
			exempt = ex
			break
		}
	}
	if exempt != nil {
		ev.d.Exempted = append(ev.d.Exempted, Exempted{Rule: r.id, Exemption: exempt.name, Reason: exempt.reason})
		return
	}
	var results []Evidence
	evaluated := false
	if r.scope == ScopeWorkload {
		evaluated = true
		var unk []unknownFact
		if r.unknown != UnknownEvaluate && r.facts != 0 {
			for _, i := range targets {
				unk = append(unk, factsUnknown(ev.v.unknowns[i], r.facts)...)
			}
		}
		if res, ok := ev.target(p, r, -1, unk); !ok {
			results = append(results, res)
		}
	} else {
		byEx := map[*exemption][]string{}
		var order []*exemption
		for _, i := range targets {
			if ex := exemptC[i]; ex != nil {
				if byEx[ex] == nil {
					order = append(order, ex)
				}
				byEx[ex] = append(byEx[ex], cs[i].Name)
				continue
			}
			evaluated = true
			var unk []unknownFact
			if r.unknown != UnknownEvaluate {
				unk = factsUnknown(ev.v.unknowns[i], r.facts)
			}
			if res, ok := ev.target(p, r, i, unk); !ok {
				results = append(results, res)
			}
		}
		for _, ex := range order {
			ev.d.Exempted = append(ev.d.Exempted, Exempted{Rule: r.id, Exemption: ex.name, Reason: ex.reason, Containers: byEx[ex]})
		}
	}
	if evaluated {
		ev.d.Evaluated++
	}
	if len(results) == 0 {
		return
	}
	ev.record(p, r, results)
}

func factsUnknown(all []unknownFact, want fact) []unknownFact {
	var out []unknownFact
	for _, u := range all {
		if u.fact&want != 0 {
			out = append(out, u)
		}
	}
	return out
}

// target evaluates the rule for the workload (ci -1) or one container, and
// returns the evidence when it did not pass.
func (ev *evaluation) target(p *compiledPolicy, r *compiledRule, ci int, unk []unknownFact) (Evidence, bool) {
	act := &activation{subject: ev.subject, params: r.params}
	res := Evidence{}
	if ci >= 0 {
		act.container = ev.containers[ci]
		c := &ev.v.subject.Containers[ci]
		res.Container, res.Image = c.Name, c.Image.Reference
	}
	absent, transient := false, false
	for _, u := range unk {
		res.Unknown = appendUniq(res.Unknown, u.reason)
		absent = absent || !u.partial
		transient = transient || u.transient
	}
	val, err := ev.eval(r.prg, act)
	switch {
	case err != nil:
		res.Result, res.Error = Errored, err.Error()
		res.Message = "could not be evaluated: " + err.Error()
		return res, false
	case transient:
		res.Result = Errored
		res.Message = "cannot tell yet (a check could not complete): " + strings.Join(res.Unknown, "; ")
		return res, false
	case absent:
		res.Result = Unknown
		res.Message = "cannot tell (unknown is not a pass): " + strings.Join(res.Unknown, "; ")
		return res, false
	}
	passed, ok := val.Value().(bool)
	if !ok {
		res.Result, res.Error = Errored, fmt.Sprintf("expression returned %v, not a bool", val)
		res.Message = "could not be evaluated: " + res.Error
		return res, false
	}
	if passed {
		if len(res.Unknown) == 0 {
			return Evidence{}, true
		}
		res.Result = Unknown
		res.Message = "passes on what is known, but not everything is: " + strings.Join(res.Unknown, "; ")
		return res, false
	}
	res.Result = Fail
	res.Message = ev.message(r, act)
	if r.evPrg != nil {
		if items, err := ev.eval(r.evPrg, act); err == nil {
			res.Items = stringList(items)
		} else {
			res.Items = []string{"(evidence could not be evaluated: " + err.Error() + ")"}
		}
	}
	return res, false
}

func (ev *evaluation) message(r *compiledRule, act *activation) string {
	if r.msgPrg != nil {
		if v, err := ev.eval(r.msgPrg, act); err == nil {
			if s, ok := v.Value().(string); ok && s != "" {
				return s
			}
		}
	}
	if r.msg != "" {
		return r.msg
	}
	if r.description != "" {
		return "failed: " + r.description
	}
	return "rule " + r.id + " failed"
}

// eval runs a program under its cost limit and the request's budget.
func (ev *evaluation) eval(prg cel.Program, act *activation) (ref.Val, error) {
	if ev.spent >= ev.e.budget {
		return nil, fmt.Errorf("the request's cost budget (%d) is spent", ev.e.budget)
	}
	val, det, err := prg.Eval(act)
	if det != nil && det.ActualCost() != nil {
		c := *det.ActualCost()
		ev.spent += c
		ev.d.Cost += c
	}
	if err != nil {
		if strings.Contains(err.Error(), "cost limit exceeded") {
			return nil, fmt.Errorf("cost limit exceeded: %w", err)
		}
		return nil, err
	}
	if types.IsError(val) {
		return nil, fmt.Errorf("%v", val)
	}
	return val, nil
}

func stringList(v ref.Val) []string {
	var out []string
	l, ok := v.Value().([]ref.Val)
	if !ok {
		if native, err := v.ConvertToNative(stringSliceType); err == nil {
			out, _ = native.([]string)
		}
	} else {
		for _, x := range l {
			if s, ok := x.Value().(string); ok {
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	uniq := out[:0]
	for i, s := range out {
		if i == 0 || s != out[i-1] {
			uniq = append(uniq, s)
		}
	}
	if len(uniq) > maxEvidenceItems {
		n := len(uniq) - maxEvidenceItems
		uniq = append(uniq[:maxEvidenceItems:maxEvidenceItems], fmt.Sprintf("… and %d more", n))
	}
	return uniq
}

// record turns a rule's non-passing targets into a Failure with its effect.
func (ev *evaluation) record(p *compiledPolicy, r *compiledRule, results []Evidence) {
	f := Failure{Rule: r.id, Policy: p.name, Pack: r.pack, Description: r.description, Mode: r.mode, Evidence: results}
	worst := EffectPass
	has := map[Result]bool{}
	var msgs []string
	for _, res := range results {
		has[res.Result] = true
		eff := ev.effect(p, r, res.Result)
		if rank(eff) > rank(worst) {
			worst = eff
		}
		msg := res.Message
		if res.Container != "" && res.Result != Fail {
			msg = "container " + res.Container + ": " + msg
		}
		msgs = appendUniq(msgs, msg)
	}
	f.Effect = worst
	switch {
	case has[Fail]:
		f.Result = Fail
	case has[Errored]:
		f.Result = Errored
	default:
		f.Result = Unknown
	}
	if len(msgs) > 3 {
		msgs = append(msgs[:3], fmt.Sprintf("and %d more", len(msgs)-3))
	}
	f.Message = strings.Join(msgs, "; ")
	ev.d.Failures = append(ev.d.Failures, f)
}

func rank(e Effect) int {
	switch e {
	case EffectDeny:
		return 3
	case EffectWarn:
		return 2
	case EffectAudit:
		return 1
	}
	return 0
}

// effect maps one result through the rule's mode, its unknown mode and the
// policy's failure mode.
func (ev *evaluation) effect(p *compiledPolicy, r *compiledRule, res Result) Effect {
	byMode := map[Mode]Effect{Enforce: EffectDeny, Warn: EffectWarn, Audit: EffectAudit}[r.mode]
	switch res {
	case Unknown:
		if r.unknown == UnknownPass {
			return EffectPass
		}
	case Errored:
		if p.failureMode == FailOpen && byMode == EffectDeny {
			return EffectWarn
		}
	}
	return byMode
}

func appendUniq(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// Target is what an admission webhook knows of a workload before any I/O:
// enough to decide which policies apply and which facts they will read.
type Target struct {
	Namespace string
	Kind      string
	Name      string
	Labels    map[string]string
	// Images are the containers' image references, in pod order.
	Images []string
}

// Need says which facts the policies read about one image of a Target,
// after match and exemptions: verify, scan or query only these.
type Need struct {
	Image       string `json:"image"`
	Scan        bool   `json:"scan"`
	Provenance  bool   `json:"provenance"`
	Posture     bool   `json:"posture"`
	BlastRadius bool   `json:"blastRadius"`
}

// Needs returns, for each image of t, the facts the policies that apply
// will read (exemptions in force at now removed). An image every policy
// exempts or ignores needs nothing: no registry call for it.
func (e *Engine) Needs(t Target, now time.Time) []Need {
	out := make([]Need, len(t.Images))
	cs := make([]Container, len(t.Images))
	for i, ref := range t.Images {
		out[i].Image = ref
		cs[i].Image = imageRefView(assessRef(ref))
	}
	w := &Workload{Namespace: t.Namespace, Kind: t.Kind, Name: t.Name, Ref: t.Namespace + "/" + t.Kind + "/" + t.Name, Labels: t.Labels}
	for _, p := range e.policies {
		if !p.match.workload(w.Namespace, w.Labels) {
			continue
		}
		var targets []int
		for i := range cs {
			if p.match.image(&cs[i].Image) {
				targets = append(targets, i)
			}
		}
		var active []*exemption
		for _, ex := range p.exemptions {
			if ex.workload(w) && (ex.expires.IsZero() || now.Before(ex.expires)) {
				active = append(active, ex)
			}
		}
		for _, r := range p.rules {
			if r.facts == 0 {
				continue
			}
			for _, i := range targets {
				exempted := false
				for _, ex := range active {
					if ex.appliesTo(r) && ex.container(&cs[i]) {
						exempted = r.scope == ScopeContainer || allCovered(ex, cs, targets)
						if exempted {
							break
						}
					}
				}
				if exempted {
					continue
				}
				out[i].Scan = out[i].Scan || r.facts&factScan != 0
				out[i].Provenance = out[i].Provenance || r.facts&factProvenance != 0
				out[i].Posture = out[i].Posture || r.facts&factPosture != 0
				out[i].BlastRadius = out[i].BlastRadius || r.facts&factBlastRadius != 0
			}
		}
	}
	return out
}

func allCovered(ex *exemption, cs []Container, targets []int) bool {
	for _, i := range targets {
		if !ex.container(&cs[i]) {
			return false
		}
	}
	return true
}

var stringSliceType = reflect.TypeFor[[]string]()

func assessRef(ref string) assess.ImageRef { return assess.ImageRef{Reference: ref} }

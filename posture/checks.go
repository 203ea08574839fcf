package posture

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Check is one escape technique: a value with an ID and versioned
// evaluation functions. A behaviour change adds a version; results carry
// the version that decided.
type Check struct {
	ID        string
	Title     string
	Technique string // MITRE ATT&CK technique id
	Versions  []VersionedCheck
}

// VersionedCheck is one version of a check.
type VersionedCheck struct {
	Version int
	Eval    EvalFn
}

// EvalFn decides from a container's profile (facts and mitigations already
// established, Escapes not yet) whether the technique's preconditions hold.
// It is pure.
type EvalFn func(p *Profile) Result

// Result is a check's outcome for one container.
type Result struct {
	// Applies is true when the preconditions hold.
	Applies     bool
	Reason      string
	Evidence    []string
	Mitigations []MitigationEffect
	Fix         string
}

// Checks returns the escape checks credence evaluates, in a fixed order.
// This is the one list: no check registers itself.
func Checks() []Check {
	return []Check{
		CheckPrivileged(),
		CheckHostPIDAccess(),
		CheckCapSysAdmin(),
		CheckCapSysModule(),
		CheckCapDacReadSearch(),
		CheckSensitiveHostPath(),
		CheckRuntimeSocket(),
		CheckKernelExploit(),
	}
}

// validateChecks refuses duplicate or empty IDs, checks without versions,
// and versions that are not strictly increasing from 1.
func validateChecks(checks []Check) error {
	var errs []error
	seen := map[string]bool{}
	for _, c := range checks {
		if c.ID == "" {
			errs = append(errs, errors.New("check with empty ID"))
			continue
		}
		if seen[c.ID] {
			errs = append(errs, fmt.Errorf("check %s: registered twice", c.ID))
		}
		seen[c.ID] = true
		if c.Title == "" || c.Technique == "" {
			errs = append(errs, fmt.Errorf("check %s: title and technique are required", c.ID))
		}
		if len(c.Versions) == 0 {
			errs = append(errs, fmt.Errorf("check %s: no versions", c.ID))
		}
		last := 0
		for _, v := range c.Versions {
			if v.Version <= last {
				errs = append(errs, fmt.Errorf("check %s: versions must increase strictly from 1 (got %d after %d)", c.ID, v.Version, last))
			}
			if v.Eval == nil {
				errs = append(errs, fmt.Errorf("check %s version %d: no Eval", c.ID, v.Version))
			}
			last = v.Version
		}
	}
	return errors.Join(errs...)
}

// evalEscapes runs every check's latest version on p and keeps those whose
// preconditions hold.
func evalEscapes(checks []Check, p *Profile) []Escape {
	var out []Escape
	for _, c := range checks {
		v := c.Versions[len(c.Versions)-1]
		r := v.Eval(p)
		if !r.Applies {
			continue
		}
		out = append(out, Escape{
			ID: c.ID, Version: v.Version, Title: c.Title, Technique: c.Technique,
			Reason: r.Reason, Evidence: nonNilStrings(r.Evidence), Mitigations: nonNilEffects(r.Mitigations),
			Verdict: verdict(r.Mitigations), Fix: r.Fix,
		})
	}
	return out
}

// verdict: blocked if a blocking mitigation is in effect, weakened if any
// mitigation is, open otherwise. Unknown never counts.
func verdict(ms []MitigationEffect) Verdict {
	v := Open
	for _, m := range ms {
		if m.State != Yes {
			continue
		}
		if m.Effect == Blocks {
			return Blocked
		}
		v = Weakened
	}
	return v
}

// effect describes how mitigation id bears on a technique, taking its
// state from the profile.
func effect(p *Profile, id string, e Effect, reason string) MitigationEffect {
	return MitigationEffect{ID: id, State: p.Mitigation(id).State, Effect: e, Reason: reason}
}

// capabilityEffects are the mitigations of every capability-based
// technique: a non-root process holds no capabilities after execve, and
// no_new_privs stops setuid and file-capability binaries from regaining
// them.
func capabilityEffects(p *Profile) []MitigationEffect {
	return []MitigationEffect{
		effect(p, MitigationNoCaps, Blocks, "a non-root process with no_new_privs can never hold the container's capabilities"),
		effect(p, MitigationNonRoot, Weakens, "a non-root process needs a setuid-root or file-capability binary in the image to use the capabilities"),
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilEffects(s []MitigationEffect) []MitigationEffect {
	if s == nil {
		return []MitigationEffect{}
	}
	return slices.Clone(s)
}

// capFix says how to remove capability c from a container: drop it from
// add, or stop adding ALL.
func capFix(p *Profile, c string) string {
	for _, a := range p.Capabilities.Added {
		if strings.TrimPrefix(a, "CAP_") == c {
			return "remove " + a + " from " + p.Path + ".securityContext.capabilities.add"
		}
	}
	if slices.Contains(p.Capabilities.Added, "ALL") {
		return "replace ALL in " + p.Path + ".securityContext.capabilities.add with the capabilities the container needs (ALL brings " + c + ")"
	}
	return "drop " + c + " in " + p.Path + ".securityContext.capabilities.drop"
}

// withMisspelledDrops is version 2 of a capability check: version 1, with
// the drop entries that meant to remove one of caps (or ALL) but are
// spelled so that containerd removes nothing, as evidence.
func withMisspelledDrops(v1 EvalFn, caps ...string) EvalFn {
	return func(p *Profile) Result {
		r := v1(p)
		if !r.Applies {
			return r
		}
		seen := map[string]bool{}
		for _, c := range caps {
			for _, ev := range misspelledDrops(p, c) {
				if !seen[ev] {
					seen[ev] = true
					r.Evidence = append(r.Evidence, ev)
				}
			}
		}
		return r
	}
}

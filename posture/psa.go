package posture

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// psa runs the upstream Pod Security evaluator (the code kube-apiserver's
// PodSecurity admission runs) and attributes each failure to its check.
type psa struct {
	eval    policy.Evaluator
	version psaapi.Version
	// checks are the upstream checks at their latest version, for naming
	// which check failed; overridden lists baseline checks that a
	// restricted check replaces at the restricted level.
	checks     []psaCheck
	overridden map[policy.CheckID]bool
}

type psaCheck struct {
	id    policy.CheckID
	level psaapi.Level
	fn    policy.CheckPodFn
}

func newPSA(version string) (*psa, error) {
	v, err := psaapi.ParseVersion(version)
	if err != nil {
		return nil, fmt.Errorf("pod security version %q: %w", version, err)
	}
	checks := policy.DefaultChecks()
	ev, err := policy.NewEvaluator(checks, nil)
	if err != nil {
		return nil, fmt.Errorf("pod security evaluator: %w", err)
	}
	p := &psa{eval: ev, version: v, overridden: map[policy.CheckID]bool{}}
	for _, c := range checks {
		vc, ok := versionFor(c, v)
		if !ok {
			continue
		}
		p.checks = append(p.checks, psaCheck{id: c.ID, level: c.Level, fn: vc.CheckPod})
		for _, o := range vc.OverrideCheckIDs {
			p.overridden[o] = true
		}
	}
	return p, nil
}

// versionFor picks the check version that applies at policy version v: the
// last one whose MinimumVersion is not newer than v.
func versionFor(c policy.Check, v psaapi.Version) (policy.VersionedCheck, bool) {
	var out policy.VersionedCheck
	found := false
	for _, vc := range c.Versions {
		if v.Latest() || !v.Older(vc.MinimumVersion) {
			out, found = vc, true
		}
	}
	return out, found
}

// level returns the most restrictive level the pod satisfies, with every
// failing check. The level itself comes from the upstream evaluator; the
// per-check attribution re-runs the same upstream check functions.
func (p *psa) level(meta *metav1.ObjectMeta, spec *corev1.PodSpec) PodSecurity {
	out := PodSecurity{Version: p.version.String()}
	baseline := policy.AggregateCheckResults(p.eval.EvaluatePod(psaapi.LevelVersion{Level: psaapi.LevelBaseline, Version: p.version}, meta, spec))
	restricted := policy.AggregateCheckResults(p.eval.EvaluatePod(psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: p.version}, meta, spec))
	switch {
	case !baseline.Allowed:
		out.Level = string(psaapi.LevelPrivileged)
	case !restricted.Allowed:
		out.Level = string(psaapi.LevelBaseline)
	default:
		out.Level = string(psaapi.LevelRestricted)
	}
	for _, c := range p.checks {
		r := c.fn(meta, spec)
		if r.Allowed {
			continue
		}
		reason := r.ForbiddenReason
		if reason == "" {
			reason = policy.UnknownForbiddenReason
		}
		out.Failures = append(out.Failures, CheckFailure{ID: string(c.id), Level: string(c.level), Reason: reason, Detail: r.ForbiddenDetail})
	}
	// The attribution must agree with the evaluator: as many baseline
	// failures, and as many restricted-level failures once overridden
	// baseline checks are left out.
	nb, nr := 0, 0
	for _, f := range out.Failures {
		if f.Level == string(psaapi.LevelBaseline) {
			nb++
			if !p.overridden[policy.CheckID(f.ID)] {
				nr++
			}
		} else {
			nr++
		}
	}
	if nb != len(baseline.ForbiddenReasons) || nr != len(restricted.ForbiddenReasons) {
		out.Failures = append(out.Failures, CheckFailure{ID: "unattributed", Level: out.Level,
			Reason: fmt.Sprintf("the evaluator reports %q (baseline) and %q (restricted)", baseline.ForbiddenDetail(), restricted.ForbiddenDetail())})
	}
	return out
}

// admits reports whether PSA enforce with ns's labels would admit the pod
// (exemptions aside), evaluating at the level and version the labels set,
// as the admission plugin does (defaults: privileged, latest).
func (p *psa) admits(nsLabels map[string]string, meta *metav1.ObjectMeta, spec *corev1.PodSpec) (bool, string, string) {
	pol, errs := psaapi.PolicyToEvaluate(nsLabels, psaapi.Policy{
		Enforce: psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()},
		Audit:   psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()},
		Warn:    psaapi.LevelVersion{Level: psaapi.LevelPrivileged, Version: psaapi.LatestVersion()},
	})
	enforce := pol.Enforce.String()
	res := policy.AggregateCheckResults(p.eval.EvaluatePod(pol.Enforce, meta, spec))
	if len(errs) > 0 {
		// Invalid labels: the admission plugin evaluates at restricted
		// (PolicyToEvaluate returns that) and says so.
		return res.Allowed, enforce, fmt.Sprintf("invalid pod-security labels (%v): evaluated as %s", errs.ToAggregate(), enforce)
	}
	if res.Allowed {
		return true, enforce, "allowed by " + enforce
	}
	return false, enforce, fmt.Sprintf("violates PodSecurity %q: %s", enforce, res.ForbiddenDetail())
}

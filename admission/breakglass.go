package admission

import (
	"fmt"
	"strings"

	"github.com/credence-dev/credence/policy"
)

// BreakGlassAnnotation asks the webhook to admit a pod its policy denies:
// "<ticket> <reason>". It is honoured only for policies whose
// spec.breakGlass.namespaces lists the pod's namespace; the pod is then
// admitted with a warning, and the record says who asked, the ticket, the
// reason and every denial lifted. Put it on the pod template so that the
// pods a controller creates carry it too.
const BreakGlassAnnotation = "credence.dev/break-glass"

// BreakGlass is an honoured (or refused) break-glass request.
type BreakGlass struct {
	Ticket string `json:"ticket"`
	Reason string `json:"reason"`
	// Lifted are the denials the break-glass turned into warnings.
	Lifted []string `json:"lifted,omitempty"`
	// Refused are the denials it could not lift (their policy does not
	// allow break-glass in this namespace).
	Refused []string `json:"refused,omitempty"`
	// By is the user who made the request.
	By string `json:"by"`
}

// parseBreakGlass reads the annotation; ok is false without one, err says
// why a present one is unusable.
func parseBreakGlass(ann map[string]string) (bg *BreakGlass, err error) {
	v, ok := ann[BreakGlassAnnotation]
	if !ok {
		return nil, nil
	}
	ticket, reason, _ := strings.Cut(strings.TrimSpace(v), " ")
	reason = strings.TrimSpace(reason)
	if ticket == "" || reason == "" {
		return nil, fmt.Errorf("annotation %s=%q: want \"<ticket> <reason>\"", BreakGlassAnnotation, v)
	}
	if len(v) > 1024 {
		return nil, fmt.Errorf("annotation %s is over 1024 bytes", BreakGlassAnnotation)
	}
	return &BreakGlass{Ticket: ticket, Reason: reason}, nil
}

// applyBreakGlass lifts the denials of d whose policies allow break-glass
// in namespace; it reports whether every denial was lifted (then d no
// longer denies: its denials become warnings).
func applyBreakGlass(e *policy.Engine, d *policy.Decision, namespace string, bg *BreakGlass) bool {
	for _, f := range d.Failures {
		if f.Effect != policy.EffectDeny {
			continue
		}
		if e.BreakGlassAllowed(f.Policy, namespace) {
			bg.Lifted = append(bg.Lifted, f.Rule)
		} else {
			bg.Refused = append(bg.Refused, f.Rule)
		}
	}
	if len(bg.Refused) > 0 || len(bg.Lifted) == 0 {
		return false
	}
	for i := range d.Failures {
		if d.Failures[i].Effect == policy.EffectDeny {
			d.Failures[i].Effect = policy.EffectWarn
			d.Failures[i].Message = "[break-glass " + bg.Ticket + "] " + d.Failures[i].Message
		}
	}
	d.Outcome = policy.WarnOutcome
	return true
}

// Package policy decides whether a workload may run: rules written in CEL
// over its assess.Subject, compiled once and evaluated without I/O.
//
// A policy file (apiVersion policy.credence.dev/v1, kind Policy) selects the
// workloads it applies to (namespaces, labels, images), includes versioned
// built-in packs with parameters (credence-pss-baseline@v1, credence-no-kev@v1,
// ...), adds custom rules, and lists exemptions. Compile turns files into an
// Engine; Engine.Evaluate turns one Subject into a Decision: allow, warn or
// deny, with every failing rule and its evidence.
//
// # Rules
//
// A rule's expression is CEL that returns true when the workload passes.
// Scope "workload" (the default) evaluates it once with `subject` bound;
// scope "container" evaluates it for every container with `container` bound
// as well, and the failing containers are its evidence. `params` holds the
// pack's or the policy's parameters. The message is static (message) or a
// CEL string (messageExpression); evidence is an optional CEL list of
// strings (the findings, checks or paths that made the rule fail). Mode
// enforce denies, warn warns, audit only records.
//
// # Unknown
//
// Unknown never passes by accident. Four facts may be unknown for a
// container: "scan" (findings, counts, exploitability: the image was not
// scanned, or some packages could not be checked), "provenance" (no verdict,
// or a transient verification error), "posture" and "blastRadius". A rule
// uses the facts its expression reads (found in the type-checked
// expression: container.findings needs "scan", container.provenance needs
// "provenance", ...; a rule may add more with requires). Then, per target:
//
//   - a fact wholly unknown: the rule's result is unknown, whatever the
//     expression says; a transient unknown (provenance "error") is an
//     evaluation error instead, which follows the policy's failure mode;
//   - a fact partly known (packages not checked): the rule fails if the
//     expression fails (a KEV found is a KEV), and is unknown if it passes;
//   - an unknown result fails the rule (unknown: fail, the default), or
//     passes it with a record in the decision (unknown: pass), or the rule
//     says it handles unknowns itself (unknown: evaluate: the expression's
//     result stands; it can read image.scanned, provenance.status, ...).
//
// Workload-scoped rules are conservative: an unknown fact of any container
// taints the result.
//
// # Errors and cost
//
// Every evaluation runs under a CEL cost limit (the policy's costLimit,
// default 1,000,000 units per expression, as a ValidatingAdmissionPolicy),
// and one Evaluate under a total budget (10,000,000). A runtime error or an
// exceeded limit is an evaluation error: failureMode fail-closed (the
// default) counts it as the rule failing; fail-open turns it into a warning,
// never a silent allow.
package policy

// Package admission is credence's validating admission webhook: an
// http.Handler that decides allow, warn or deny for pods, workloads,
// bindings and NetworkPolicies as the API server admits them.
//
// The policy (package policy) is evaluated on every request, never cached.
// What is slow is computed ahead or once: image scans come from earlier
// assessments (ImageStore), provenance verdicts from a VerdictCache keyed
// by image digest, trust root and authorities (so a hit can never change a
// decision; only definitive verdicts are kept, transient errors never;
// verifications in flight are coalesced), and the trust graph of the
// cluster from a view rebuilt in the background (Blast), against which an
// incoming object's new paths to critical assets are computed. A cold miss
// verifies inline under a deadline below the API server's timeout; what
// cannot be known in time is unknown, and the policy's failure mode
// decides. Every decision can be appended to a signed admission record
// (attest.RecordWriter) that attest reconcile reads.
package admission

// Package attest records what ran on a node in a TPM-backed event log and
// verifies it: measurement events, the canonical event log, quote and replay, reconcile.
//
// # Events and the log
//
// Each measurement is one record in the TCG Canonical Event Log (CEL) model:
// a record number, the PCR, one digest per PCR bank and a typed content. The
// log is stored as CEL-JSON Lines, one record a line:
//
//	{"recnum":3,"pcr":13,"digests":[{"hashAlg":"sha256","digest":"<hex>"}],"content_type":"credence","content":{...}}
//
// The content of a "credence" record is the exact bytes of one compact JSON
// event (agent.start, separator or container.start, see [AgentStart],
// [Separator], [ContainerStart]); its digest is SHA-256 of those bytes, so a
// verifier hashes what it reads and never re-serialises JSON. A writer
// ([Log]) appends a record, fsyncs it, then extends the PCR, all under one
// lock; a record whose extend fails is rolled back. [ExportCEL] writes the
// CEL-TLV encoding (content type [CELContentType]).
//
// # Verification
//
// A [Verifier] is built from the node's enrolled attestation key (AK) and
// checks, for a fresh single-use nonce: the AK's attributes (restricted,
// fixedTPM, sign-only ECDSA P-256), the quote's signature, magic and type, the
// nonce, the PCR selection and digest. It then replays the log in order and
// keeps the longest prefix whose running value equals the quoted PCR (the IMA
// rule: a log ahead of its quote is accepted, its tail is "not covered"),
// recomputes every content digest, binds the log to the boot through the
// quote's resetCount/restartCount and the agent.start event, and returns one
// verdict per container start, with reasons. The container.start events
// themselves are decoded by [Result.DecodeStarts], on every CPU: decoding is
// most of the cost of a large log and the checks do not need it.
//
// Challenges are single-use. A [NonceStore] given with [WithNonces] issues
// them, consumes each answer once, and remembers the answered ones, so an
// old quote handed back for a new challenge is named quote-replayed and the
// same challenge twice nonce-reused. [Nonces] keeps them in one process;
// [NonceDir] in a directory shared by every verifier process and kept across
// runs (one file rewritten atomically under a flock; entries expire; at most
// [MaxNonces]).
//
// PCRs 16 and 17-23 can be reset without a reboot (23 and 16 by any root
// process), so a log on them can be forged; the verifier refuses them unless
// [WithResettablePCRUnsafe] is given (tests use PCR 23). Production uses a
// non-resettable PCR, 13 by default.
//
// # Admitted workloads (the input of reconcile)
//
// [Reconcile] joins verified container.start events to a JSON file of the
// workloads admission allowed, keyed by pod UID and container name:
//
//	{
//	  "apiVersion": "credence.dev/v1alpha1",
//	  "kind": "AdmittedWorkloads",
//	  "workloads": [
//	    {
//	      "podUID": "6f1c...", "namespace": "shop", "pod": "web-0", "container": "app",
//	      "imageDigest": "sha256:<hex>",
//	      "argsDigest": "sha256:<hex>",
//	      "privileged": false,
//	      "hostNetwork": false, "hostPID": false, "hostIPC": false,
//	      "capabilities": ["CAP_NET_BIND_SERVICE"],
//	      "readOnlyRootfs": true
//	    }
//	  ]
//	}
//
// podUID and container are required; every other field is optional and is
// compared only when present. argsDigest is "sha256:" and the hex SHA-256 of
// the compact JSON array of the process arguments (entrypoint and args as the
// runtime ran them, e.g. ["nginx","-g","daemon off;"]), the same value
// container.start records. capabilities is the effective set, compared as a
// set. Each verified container.start is classified as matched, drift (same pod
// UID and container name, a field differs or was not observed), or
// ran-but-not-admitted; each admitted workload without a verified start is
// admitted-but-not-run. A pod's sandbox (pause) container counts as matched
// when its pod UID is admitted.
//
// # Signed admission records
//
// The admission webhook appends each decision to a signed record instead
// ([RecordWriter]): JSON Lines, each entry signed with Ed25519 and chained to
// the previous one by its SHA-256, carrying the admitted workloads above.
// [ReadAdmittedFile] reads either form; a record is verified line by line
// ([VerifyRecord]: signature, key, sequence, chain) and is refused without
// its public key, and an unsigned file is refused when a key is given.
package attest

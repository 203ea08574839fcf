//go:build !node && !scan

package cli

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/agent"
	"github.com/credence-dev/credence/attest"
)

func newAttestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attest",
		Short: "Verify what ran on a node from its TPM quote and measurement log",
	}
	cmd.AddCommand(newAttestVerifyCmd(), newAttestReconcileCmd(), newAttestChallengeCmd(), newAttestExportCmd())
	for _, c := range cmd.Commands() {
		c.Args = cobra.NoArgs
	}
	return cmd
}

// evidenceFlags get evidence for a fresh challenge and verify it.
type evidenceFlags struct {
	agentSocket, evidenceFile, nonce, akFile, logFile string
	pcr                                               int
	allowResettable                                   bool
	state                                             stateDirFlag
}

// stateDirFlag is where the verifier keeps the nonces it issued and
// accepted, across runs.
type stateDirFlag struct{ dir string }

func (s *stateDirFlag) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.dir, "state-dir", "", "where the verifier remembers the nonces it issued and accepted, shared by every run that uses it (default $XDG_STATE_HOME/credence/attest, else ~/.local/state/credence/attest)")
}

// open opens the nonce store in the state directory.
func (s *stateDirFlag) open(opts ...attest.NonceOption) (*attest.NonceDir, error) {
	dir := s.dir
	if dir == "" {
		base := os.Getenv("XDG_STATE_HOME")
		if !filepath.IsAbs(base) { // the XDG spec ignores a relative path
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, usagef("--state-dir is needed: no home directory to keep the verifier's nonces in (%v)", err)
			}
			base = filepath.Join(home, ".local", "state")
		}
		dir = filepath.Join(base, "credence", "attest")
	}
	return attest.OpenNonceDir(dir, opts...)
}

func (e *evidenceFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&e.agentSocket, "agent", "", "challenge the agent at this unix socket with a fresh nonce")
	f.StringVar(&e.evidenceFile, "evidence", "", "evidence JSON from 'credence agent quote' (with --nonce)")
	f.StringVar(&e.nonce, "nonce", "", "hex nonce the --evidence answers; you issued it and use it once")
	f.StringVar(&e.akFile, "ak", "", "the node's enrolled attestation key, from 'credence agent ak -o json' (required)")
	f.StringVar(&e.logFile, "log", "", "verify this log file instead of the one in the evidence")
	f.IntVar(&e.pcr, "pcr", attest.DefaultPCR, "PCR the node measures into")
	f.BoolVar(&e.allowResettable, "allow-resettable-pcr", false, "accept PCRs 16-23, which root can reset to forge a log (tests only)")
	e.state.add(cmd)
}

func (e *evidenceFlags) verify(cmd *cobra.Command) (*attest.Result, error) {
	if e.akFile == "" {
		return nil, usagef("--ak is required: the verifier trusts only the enrolled attestation key")
	}
	if (e.agentSocket == "") == (e.evidenceFile == "") {
		return nil, usagef("give exactly one of --agent and --evidence")
	}
	enrolled, err := attest.ReadEnrolledAK(e.akFile)
	if err != nil {
		return nil, err
	}
	opts := []attest.VerifierOption{attest.WithPCR(e.pcr)}
	if e.allowResettable {
		opts = append(opts, attest.WithResettablePCRUnsafe())
	}
	var ev *attest.Evidence
	var nonce []byte
	if e.agentSocket != "" {
		if e.nonce != "" {
			return nil, usagef("--nonce goes with --evidence; with --agent a fresh one is made")
		}
		store, err := e.state.open(attest.WithNonceTTL(2 * time.Minute))
		if err != nil {
			return nil, err
		}
		if nonce, err = store.Issue(); err != nil {
			return nil, err
		}
		opts = append(opts, attest.WithNonces(store))
		if ev, err = agent.NewClient(e.agentSocket, time.Minute).Attest(cmd.Context(), nonce); err != nil {
			return nil, err
		}
	} else {
		if nonce, err = hex.DecodeString(e.nonce); err != nil || len(nonce) == 0 {
			return nil, usagef("--evidence needs --nonce, the hex nonce you challenged the node with")
		}
		// A nonce from 'attest challenge' is checked for expiry; one the
		// caller made itself is accepted once.
		store, err := e.state.open(attest.WithCallerNonces())
		if err != nil {
			return nil, err
		}
		opts = append(opts, attest.WithNonces(store))
		b, err := os.ReadFile(e.evidenceFile)
		if err != nil {
			return nil, err
		}
		ev = &attest.Evidence{}
		if err := json.Unmarshal(b, ev); err != nil {
			return nil, fmt.Errorf("read evidence %s: %w", e.evidenceFile, err)
		}
	}
	if e.logFile != "" {
		if ev.Log, err = os.ReadFile(e.logFile); err != nil {
			return nil, err
		}
	}
	v, err := attest.NewVerifier(enrolled.Public, opts...)
	if err != nil {
		return nil, err
	}
	res, err := v.Verify(ev, nonce)
	if err != nil {
		return nil, err
	}
	res.DecodeStarts()
	return res, nil
}

func newAttestVerifyCmd() *cobra.Command {
	var e evidenceFlags
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify a node's quote and log, and list what ran, per container",
		Long: `Challenge a node with a fresh single-use nonce (or check saved evidence for
a nonce you issued), then: check the attestation key is the enrolled one and
is an AK (restricted, fixedTPM, sign-only), the quote's signature, nonce and
PCR digest; replay the log (the longest prefix that matches the quote); hash
every record's content; bind the log to this boot (the quote's reset count
against agent.start). Prints each container start with a verdict (verified,
unverified, invalid) and the reasons. Exit code 1 when the evidence fails.

Every nonce is single-use across runs: the verifier remembers the nonces it
issued and the ones it accepted answers for in --state-dir (24 hours, shared by
every run that uses the directory, safe for concurrent runs). Evidence whose
quote answers a nonce already used fails with quote-replayed; a nonce given
twice fails with nonce-reused. With --evidence, take the nonce from
'credence attest challenge' (it expires after --ttl) or make a fresh random
one yourself (accepted once).

  credence attest verify --agent /run/credence/agent.sock --ak node.ak.json

  N=$(credence attest challenge)
  credence agent quote --nonce $N > ev.json        # on the node
  credence attest verify --evidence ev.json --nonce $N --ak node.ak.json -o json`,
	}
	e.add(cmd)
	out := addOutputFlag(cmd, "table", "table", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		res, err := e.verify(cmd)
		if err != nil {
			return err
		}
		if out.format == "json" {
			err = writeJSON(cmd.OutOrStdout(), res)
		} else {
			err = renderVerify(cmd.OutOrStdout(), res)
		}
		if err != nil {
			return err
		}
		if res.Verdict != attest.Verified {
			return &policyFailure{fmt.Sprintf("evidence failed verification (%s)", count(len(res.Reasons), "reason", "reasons"))}
		}
		return nil
	}
	return cmd
}

func renderVerify(w io.Writer, res *attest.Result) error {
	fmt.Fprintf(w, "verdict   %s\nAK        %s\nPCR       %d (%s) = %x\nrecords   %d, %d covered by the quote\nTPM       reset count %d, restart count %d\n",
		res.Verdict, res.AKName, res.PCR, res.Bank, []byte(res.PCRValue), res.Records, res.Covered, res.Clock.ResetCount, res.Clock.RestartCount)
	for _, a := range res.Agents {
		fmt.Fprintf(w, "agent     %s epoch %d on %s, boot %s, started %s\n", a.AgentVersion, a.Epoch, a.Hostname, a.BootID, a.Time)
	}
	for _, r := range res.Reasons {
		fmt.Fprintf(w, "reason    %s\n", r)
	}
	fmt.Fprintln(w)
	t := newTable(w, "RECNUM", "VERDICT", "TRIGGER", "POD", "CONTAINER", "IMAGE", "PRIVILEGED", "HOST NS", "ARGS", "REASONS")
	for _, c := range res.Containers {
		var trig, pod, name, image, priv, hostNS, args string
		if s := c.Start; s != nil {
			trig, name = s.Trigger, s.ContainerName
			if name == "" {
				name = s.ContainerID
			}
			if s.Pod != nil {
				pod = s.Pod.Namespace + "/" + s.Pod.Name
			}
			image = s.Image.Ref
			if s.Image.Digest != "" {
				image += "@" + s.Image.Digest
			}
			priv = "unknown"
			if s.Privileged != nil {
				priv = fmt.Sprint(*s.Privileged)
			}
			hostNS = strings.Join(s.HostNamespaces, ",")
			args = strings.Join(s.Process.Args, " ")
		}
		var reasons []string
		for _, r := range c.Reasons {
			reasons = append(reasons, r.Code)
		}
		t.row(fmt.Sprint(c.RecNum), c.Verdict, trig, pod, name, image, priv, hostNS, args, strings.Join(reasons, ","))
	}
	return t.flush()
}

func newAttestReconcileCmd() *cobra.Command {
	var e evidenceFlags
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Compare what verifiably ran on a node with what admission allowed",
		Long: `Verify the node's evidence (same flags as 'attest verify'), then join each
verified container start to the admitted workloads file by pod UID and
container name, and classify it:

  matched               ran as admitted
  drift                 same pod UID and container, but the image digest, args or
                        privilege settings differ (or were not observed)
  ran-but-not-admitted  no admission: a static pod, ctr or runc run directly, a bypass
  admitted-but-not-run  admitted, no verified start on this node (informational)

Exit code 1 when anything drifted or ran without admission.

The admitted workloads file (JSON; podUID and container required, other
fields compared only when present):

  {"apiVersion": "credence.dev/v1alpha1", "kind": "AdmittedWorkloads",
   "workloads": [{"podUID": "6f1c...", "namespace": "shop", "pod": "web-0",
                  "container": "app", "imageDigest": "sha256:...",
                  "argsDigest": "sha256:...", "privileged": false,
                  "hostNetwork": false, "hostPID": false, "hostIPC": false,
                  "capabilities": ["CAP_NET_BIND_SERVICE"], "readOnlyRootfs": true}]}

argsDigest is sha256 of the compact JSON array of the process arguments
(["nginx","-g","daemon off;"]), as container.start records it.

SIGNED ADMISSION RECORDS: 'credence admission serve --record FILE --record-key
KEY' appends every decision to a JSON Lines record, each line signed with
Ed25519 and chained to the one before. Give that file as --admitted with the
webhook's public key as --admitted-key: every line is verified (signature,
key, sequence, chain) before its admitted pods count, and an edited, removed
or reordered line is an error. A signed record without --admitted-key is
refused, and so is an unsigned file with it. --admitted repeats (one record
per webhook replica); the unsigned AdmittedWorkloads form above still works
without --admitted-key.`,
		Example: `  credence attest reconcile --evidence node.json --admitted admitted.json
  credence attest reconcile --evidence node.json --admitted record-0.jsonl --admitted record-1.jsonl --admitted-key webhook.pub`,
	}
	e.add(cmd)
	var admittedKey string
	var admittedFiles []string
	cmd.Flags().StringArrayVar(&admittedFiles, "admitted", nil, "admitted workloads file, or a signed admission record (required; repeatable)")
	cmd.Flags().StringVar(&admittedKey, "admitted-key", "", "the webhook's Ed25519 public key (PEM): verify signed admission records")
	out := addOutputFlag(cmd, "table", "table", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if len(admittedFiles) == 0 {
			return usagef("--admitted is required")
		}
		var pub ed25519.PublicKey
		if admittedKey != "" {
			b, err := readBounded(admittedKey, 64<<10)
			if err != nil {
				return usagef("--admitted-key: %v", err)
			}
			if pub, err = attest.ParseEd25519PublicKey(b); err != nil {
				return usagef("--admitted-key %s: %v", admittedKey, err)
			}
		}
		adm, err := readAdmittedFiles(admittedFiles, pub)
		if err != nil {
			return usageErr(err)
		}
		res, err := e.verify(cmd)
		if err != nil {
			return err
		}
		rec := attest.Reconcile(res, adm)
		type output struct {
			Verdict        string                 `json:"verdict"`
			Reasons        []attest.Reason        `json:"reasons,omitempty"`
			Reconciliation *attest.Reconciliation `json:"reconciliation"`
		}
		w := cmd.OutOrStdout()
		if out.format == "json" {
			err = writeJSON(w, output{res.Verdict, res.Reasons, rec})
		} else {
			fmt.Fprintf(w, "evidence  %s (%s, %d covered)\n", res.Verdict, count(res.Records, "record", "records"), res.Covered)
			for _, r := range res.Reasons {
				fmt.Fprintf(w, "reason    %s\n", r)
			}
			fmt.Fprintln(w)
			t := newTable(w, "CLASS", "RECNUM", "POD", "CONTAINER", "IMAGE", "REASONS")
			for _, en := range rec.Entries {
				recnum := ""
				if en.RecNum != nil {
					recnum = fmt.Sprint(*en.RecNum)
				}
				pod := en.PodUID
				if en.Pod != "" {
					pod = en.Namespace + "/" + en.Pod
				}
				t.row(en.Class, recnum, pod, en.Container, en.Image, strings.Join(en.Reasons, "; "))
			}
			err = t.flush()
		}
		if err != nil {
			return err
		}
		if res.Verdict != attest.Verified {
			return &policyFailure{"evidence failed verification"}
		}
		if n := rec.Alerts(); n > 0 {
			return &policyFailure{fmt.Sprintf("%s drifted or ran without admission", count(n, "container start", "container starts"))}
		}
		return nil
	}
	return cmd
}

// readAdmittedFiles reads every --admitted file and joins their workloads;
// the same pod UID and container in two files must agree.
func readAdmittedFiles(paths []string, pub ed25519.PublicKey) (*attest.Admitted, error) {
	out := &attest.Admitted{APIVersion: attest.AdmittedAPIVersion, Kind: attest.AdmittedKind}
	seen := map[[2]string]string{}
	for _, p := range paths {
		a, err := attest.ReadAdmittedFile(p, pub)
		if err != nil {
			return nil, err
		}
		for _, w := range a.Workloads {
			k := [2]string{w.PodUID, w.Container}
			b, _ := json.Marshal(w)
			if prev, ok := seen[k]; ok {
				if prev != string(b) {
					return nil, fmt.Errorf("pod %s container %s is admitted differently in two --admitted files", w.PodUID, w.Container)
				}
				continue
			}
			seen[k] = string(b)
			out.Workloads = append(out.Workloads, w)
		}
	}
	return out, nil
}

func newAttestChallengeCmd() *cobra.Command {
	var state stateDirFlag
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "challenge",
		Short: "Issue a single-use nonce for 'agent quote' and 'attest verify --evidence'",
		Long: `Print a fresh random nonce (32 bytes, hex) and remember it in --state-dir as
issued: 'credence attest verify --evidence FILE --nonce NONCE' with the same
--state-dir accepts one answer to it, before --ttl ends.

  N=$(credence attest challenge --ttl 10m)
  credence agent quote --nonce $N > ev.json        # on the node
  credence attest verify --evidence ev.json --nonce $N --ak node.ak.json`,
	}
	state.add(cmd)
	cmd.Flags().DurationVar(&ttl, "ttl", 10*time.Minute, "how long the nonce may be answered")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if ttl <= 0 {
			return usagef("--ttl must be positive")
		}
		store, err := state.open(attest.WithNonceTTL(ttl))
		if err != nil {
			return err
		}
		nonce, err := store.Issue()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(nonce))
		return err
	}
	return cmd
}

func newAttestExportCmd() *cobra.Command {
	var logFile string
	cmd := &cobra.Command{
		Use:   "export-cel",
		Short: "Write a measurement log in the CEL-TLV encoding to stdout",
	}
	cmd.Flags().StringVar(&logFile, "log", defaultLogPath, "measurement log (CEL-JSON Lines)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		f, err := os.Open(logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		recs, err := attest.ReadLog(f, 0)
		if err != nil {
			return err
		}
		return attest.ExportCEL(cmd.OutOrStdout(), recs)
	}
	return cmd
}

//go:build !scan

package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/agent"
	"github.com/credence-dev/credence/agent/ocihook"
	"github.com/credence-dev/credence/attest"
	"github.com/credence-dev/credence/attest/tpm"
)

const defaultLogPath = "/var/lib/credence/measurements.jsonl"

func newAgentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Measure every container start on this node into the TPM",
		Long: `The node agent is the one process that writes the measurement log and
extends the TPM. Container starts reach it from an OCI createRuntime hook
(credence agent hook, for runc-based runtimes) and from an NRI plugin
(containerd, CRI-O). When a start cannot be measured the container does not
start.

  credence agent run --tpm /dev/tpmrm0           # the service (root)
  credence agent install-hook --hooks-dir /etc/containers/oci/hooks.d
  credence agent ak -o json > node.ak.json       # enroll the node's AK once
  credence attest verify --agent /run/credence/agent.sock --ak node.ak.json`,
	}
	cmd.AddCommand(newAgentRunCmd(), newAgentHookCmd(), newAgentInstallHookCmd(), newAgentNRICmd(),
		newAgentAKCmd(), newAgentQuoteCmd())
	for _, c := range cmd.Commands() {
		if c.Args == nil {
			c.Args = cobra.NoArgs
		}
	}
	return cmd
}

func newAgentRunCmd() *cobra.Command {
	var (
		tpmAddr, logPath, socket, nriSocket string
		pcr                                 int
		akHandle                            string
		envInClear, nri                     bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the measurement service on this node (root)",
		Long: `Run the measurement service: open the TPM and the log, record agent.start
and a separator, then measure every start the hook or the NRI plugin reports
and answer verifiers' quotes, on a root-only unix socket.

The TPM is a device (/dev/tpmrm0) or a swtpm socket (unix:PATH, tcp:HOST:PORT).
The PCR must be one nothing else extends and that cannot be reset without a
reboot: 13 by default; 23 (resettable) only for tests.`,
	}
	f := cmd.Flags()
	f.StringVar(&tpmAddr, "tpm", "/dev/tpmrm0", "TPM: a device path, unix:PATH or tcp:HOST:PORT (swtpm)")
	f.StringVar(&logPath, "log", defaultLogPath, "measurement log (CEL-JSON Lines)")
	f.StringVar(&socket, "socket", agent.DefaultSocket, "unix socket the hook, the NRI plugin and verifiers use")
	f.IntVar(&pcr, "pcr", attest.DefaultPCR, "PCR to extend")
	f.StringVar(&akHandle, "ak-handle", fmt.Sprintf("0x%08x", tpm.DefaultAKHandle), "persistent handle of the attestation key")
	f.BoolVar(&envInClear, "env-in-clear", false, "record environment values, not only their hashes (values can be secrets)")
	f.BoolVar(&nri, "nri", false, "also run the NRI plugin in this process (a runtime creates containers unmeasured while no plugin is connected; keep the hook too)")
	f.StringVar(&nriSocket, "nri-socket", "", "the runtime's NRI socket (default /var/run/nri/nri.sock)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		h, err := strconv.ParseUint(akHandle, 0, 32)
		if err != nil {
			return usagef("--ak-handle %q: %v", akHandle, err)
		}
		t, err := tpm.Open(tpmAddr, tpm.WithAKHandle(uint32(h)))
		if err != nil {
			return err
		}
		defer t.Close()
		opts := []agent.Option{agent.WithPCR(pcr)}
		if envInClear {
			opts = append(opts, agent.WithEnvInClear())
		}
		svc, err := agent.New(t, logPath, opts...)
		if err != nil {
			return err
		}
		defer svc.Close()
		l, err := agent.Listen(socket)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		errw := cmd.ErrOrStderr()
		if nri {
			agent.SetNRILog(errw)
			if _, err := agent.NewNRIStub(agent.NewPlugin(svc), nriSocket); err != nil {
				return err
			}
			go runNRI(ctx, errw, func() agent.Measurer { return svc }, nriSocket)
		}
		st := svc.Start()
		fmt.Fprintf(errw, "credence agent: measuring into PCR %d, log %s, socket %s (boot %s, epoch %d, AK %s)\n",
			pcr, svc.LogPath(), socket, st.BootID, st.Epoch, st.AKName)
		return svc.Serve(ctx, l)
	}
	return cmd
}

func newAgentHookCmd() *cobra.Command {
	var socket string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "hook",
		Short: "OCI createRuntime hook: measure this container start, or refuse it",
		Long: `The OCI createRuntime hook. The runtime runs it with the container's state
on stdin; it reads the bundle's config.json, hashes the entrypoint in the
rootfs and has the agent measure the start. It exits non-zero when the start
could not be measured, and the runtime then refuses to start the container.
Install it with: credence agent install-hook.`,
	}
	cmd.Flags().StringVar(&socket, "socket", agent.DefaultSocket, "the agent's unix socket")
	cmd.Flags().DurationVar(&timeout, "timeout", 8*time.Second, "give up (and refuse the container) after this long")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
		defer cancel()
		return ocihook.Run(ctx, cmd.InOrStdin(), socket, timeout)
	}
	return cmd
}

func newAgentInstallHookCmd() *cobra.Command {
	var hooksDir, spec, binary, socket string
	cmd := &cobra.Command{
		Use:   "install-hook",
		Short: "Write the createRuntime hook configuration for runc-based runtimes",
		Long: `Write the hook that runs 'credence agent hook' at createRuntime, for every
container:

  --hooks-dir DIR   an OCI hooks.d directory (CRI-O, Podman: /etc/containers/oci/hooks.d)
  --spec FILE       an OCI runtime spec: a bundle's config.json (runc run), or the
                    base_runtime_spec file containerd's CRI plugin starts containers from

Exactly one of them. An existing credence hook is replaced.`,
	}
	f := cmd.Flags()
	f.StringVar(&hooksDir, "hooks-dir", "", "OCI hooks.d directory to write credence.json into")
	f.StringVar(&spec, "spec", "", "OCI runtime spec (config.json) to add the hook to")
	f.StringVar(&binary, "binary", "", "absolute path of the credence binary the runtime runs (default: this one)")
	f.StringVar(&socket, "socket", agent.DefaultSocket, "the agent's unix socket")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if (hooksDir == "") == (spec == "") {
			return usagef("give exactly one of --hooks-dir and --spec")
		}
		if binary == "" {
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			binary, _ = filepath.EvalSymlinks(exe)
		}
		h, err := agent.NewHook(binary, socket)
		if err != nil {
			return usagef("%v", err)
		}
		if hooksDir != "" {
			path, err := agent.InstallHooksDir(hooksDir, h)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", path)
			return nil
		}
		if err := agent.InstallInSpec(spec, h); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "added the createRuntime hook to %s\n", spec)
		return nil
	}
	return cmd
}

func newAgentNRICmd() *cobra.Command {
	var socket, nriSocket string
	cmd := &cobra.Command{
		Use:   "nri",
		Short: "Run the NRI plugin as its own process, measuring through the agent",
		Long: `Run credence's NRI plugin as a separate process (for example one the runtime
starts from its NRI plugin directory). Every CreateContainer is measured
through the agent's socket; when that fails, the plugin fails the request and
the runtime does not create the container. 'credence agent run --nri' runs
the same plugin inside the agent instead.`,
	}
	cmd.Flags().StringVar(&socket, "socket", agent.DefaultSocket, "the agent's unix socket")
	cmd.Flags().StringVar(&nriSocket, "nri-socket", "", "the runtime's NRI socket (default /var/run/nri/nri.sock)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		agent.SetNRILog(cmd.ErrOrStderr())
		c := agent.NewClient(socket, 8*time.Second)
		if _, err := agent.NewNRIStub(agent.NewPlugin(c), nriSocket); err != nil {
			return err
		}
		runNRI(cmd.Context(), cmd.ErrOrStderr(), func() agent.Measurer { return c }, nriSocket)
		return nil
	}
	return cmd
}

// runNRI keeps the NRI plugin connected to the runtime until ctx ends,
// reconnecting when the runtime restarts.
func runNRI(ctx context.Context, errw io.Writer, m func() agent.Measurer, nriSocket string) {
	for ctx.Err() == nil {
		s, err := agent.NewNRIStub(agent.NewPlugin(m()), nriSocket)
		if err == nil {
			err = s.Run(ctx)
		}
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(errw, "credence agent: nri plugin disconnected (%v); reconnecting in 2s\n", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

func newAgentAKCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "ak",
		Short: "Print the node's attestation key, to enroll it with a verifier",
		Long: `Print the node's attestation key (AK). Save the JSON once, when the node is
known good, and give it to 'credence attest verify --ak': the verifier then
accepts quotes only from this key.`,
	}
	cmd.Flags().StringVar(&socket, "socket", agent.DefaultSocket, "the agent's unix socket")
	out := addOutputFlag(cmd, "table", "table", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ak, err := agent.NewClient(socket, 10*time.Second).AK(cmd.Context())
		if err != nil {
			return err
		}
		if out.format == "json" {
			return writeJSON(cmd.OutOrStdout(), ak)
		}
		t := newTable(cmd.OutOrStdout(), "NODE", "AK NAME")
		t.row(ak.Node, ak.Name)
		return t.flush()
	}
	return cmd
}

func newAgentQuoteCmd() *cobra.Command {
	var socket, nonce string
	cmd := &cobra.Command{
		Use:   "quote",
		Short: "Print evidence (quote and log) for a verifier's nonce",
		Long: `Ask the agent for evidence answering NONCE (hex, 16-64 bytes) and print it
as JSON, for 'credence attest verify --evidence FILE --nonce NONCE'.`,
	}
	cmd.Flags().StringVar(&socket, "socket", agent.DefaultSocket, "the agent's unix socket")
	cmd.Flags().StringVar(&nonce, "nonce", "", "the verifier's nonce, hex (required)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		n, err := hex.DecodeString(nonce)
		if err != nil || len(n) < 16 {
			return usagef("--nonce must be 16 to 64 bytes of hex")
		}
		ev, err := agent.NewClient(socket, 30*time.Second).Attest(cmd.Context(), n)
		if err != nil {
			return err
		}
		return writeJSON(cmd.OutOrStdout(), ev)
	}
	return cmd
}

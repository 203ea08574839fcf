// Package cli builds the credence command line: one file per subcommand, each
// thin (parse flags, call a library package, render the result).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command.
const (
	ExitOK     = 0 // clean
	ExitPolicy = 1 // a policy failed: findings over a threshold, a deny verdict
	ExitError  = 2 // bad input or usage, or the command could not complete
)

// Execute runs the command line given by args and returns the exit code.
func Execute(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var pf *policyFailure
	if errors.As(err, &pf) {
		if pf.msg != "" {
			fmt.Fprintf(stderr, "credence: %s\n", pf.msg)
		}
		return ExitPolicy
	}
	fmt.Fprintf(stderr, "credence: %s\n", oneLine(err.Error()))
	if !strings.Contains(err.Error(), "--help") && isUsage(err) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", strings.TrimSpace("credence "+commandPath(root, args)))
	}
	return ExitError
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "credence",
		Short: "Can I trust what runs here, and how far does the damage reach if one container goes bad?",
		Long: `credence joins five kinds of evidence about the containers in a cluster:
what is inside each image (packages, vulnerabilities), where it came from
(signatures, provenance), how well it is isolated from the shared kernel,
what it can reach if compromised (blast radius), and what actually ran
(a TPM-backed measurement log).

Every command prints a table for people; add -o json for machines.
Exit codes: 0 ok, 1 a policy failed, 2 bad input or usage.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	// cobra's completion command: credence completion bash|zsh|fish|powershell.
	root.CompletionOptions.HiddenDefaultCmd = false
	root.AddCommand(
		newVersionCmd(),
		newAgentCmd(), newAttestCmd(),
		newInventoryCmd(),
		newScanCmd(),
		newDBCmd(),
		newSBOMCmd(),
		newPostureCmd(),
		newBlastRadiusCmd(),
		newAssessCmd(),
		newVerifyCmd(),
		newVerifyBundleCmd(),
		newCheckCmd(),
		newServeCmd(),
		newHistoryCmd(),
	)
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Args == nil {
			c.Args = cobra.NoArgs
		}
	}
	rejectUnknownSubcommands(root)
	return root
}

// rejectUnknownSubcommands makes every command group below root (attest,
// db, completion, ...) refuse an unknown subcommand as a usage error
// instead of printing its help and exiting 0; without arguments it prints
// its help.
func rejectUnknownSubcommands(root *cobra.Command) {
	for _, c := range root.Commands() {
		if c.HasSubCommands() && !c.Runnable() {
			c.Args = cobra.NoArgs
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		rejectUnknownSubcommands(c)
	}
}

// usageError marks an error as a usage mistake: the message is followed by a
// pointer to --help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErr(err error) error { return &usageError{err} }

func usagef(format string, args ...any) error { return usageErr(fmt.Errorf(format, args...)) }

func isUsage(err error) bool {
	var u *usageError
	if errors.As(err, &u) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "accepts ") ||
		strings.HasPrefix(msg, "requires ") || strings.HasPrefix(msg, "unknown flag") ||
		strings.HasPrefix(msg, "unknown shorthand flag")
}

// policyFailure ends a command with exit code 1 after its output was written.
type policyFailure struct{ msg string }

func (e *policyFailure) Error() string { return e.msg }

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.ReplaceAll(s, "\n", "; ")
}

// commandPath names the subcommand args point at, for the --help hint.
func commandPath(root *cobra.Command, args []string) string {
	c, _, err := root.Find(args)
	if err != nil || c == root {
		return ""
	}
	return strings.TrimPrefix(c.CommandPath(), root.Name()+" ")
}

// oneArg accepts exactly one positional argument, named in the error.
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("%s takes exactly one %s argument, got %d", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

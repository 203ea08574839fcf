//go:build !node && !scan

package cli

import "github.com/spf13/cobra"

// commands are the subcommands of the full build.
func commands() []*cobra.Command {
	return []*cobra.Command{
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
		newAdmissionCmd(),
		newServeCmd(),
		newHistoryCmd(),
	}
}

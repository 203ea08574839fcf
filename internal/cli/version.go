package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/internal/version"
)

func newVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of credence",
	}
	out := addOutputFlag(cmd, "table", "table", "json")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		info := version.Get()
		if out.format == "json" {
			return writeJSON(cmd.OutOrStdout(), info)
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "credence %s\n", info.Version)
		if info.Commit != "" {
			mod := ""
			if info.Modified {
				mod = " (modified)"
			}
			fmt.Fprintf(w, "commit    %s%s\n", info.Commit, mod)
		}
		fmt.Fprintf(w, "go        %s\nplatform  %s\n", info.GoVersion, info.Platform)
		return nil
	}
	return cmd
}

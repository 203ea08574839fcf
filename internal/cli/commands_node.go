//go:build node

package cli

import "github.com/spf13/cobra"

// commands are the subcommands of the node build (go build -tags node): the
// agent alone, so that the binary a runtime starts at every container start
// (credence agent hook) carries none of the Kubernetes, sigstore, CEL or
// database packages whose initialisation would cost every start.
func commands() []*cobra.Command {
	return []*cobra.Command{newVersionCmd(), newAgentCmd()}
}

//go:build scan

package cli

import "github.com/spf13/cobra"

// commands are the subcommands of the scan build (go build -tags scan): the
// image commands alone (inventory, sbom, scan, db), for CI pipelines that scan
// an image per job, so that each run pays for none of the Kubernetes,
// sigstore, CEL, PostgreSQL or TPM packages' initialisation and pages.
func commands() []*cobra.Command {
	return []*cobra.Command{newVersionCmd(), newInventoryCmd(), newSBOMCmd(), newScanCmd(), newDBCmd()}
}

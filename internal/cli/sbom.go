//go:build !node

package cli

import (
	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/sbom"
)

func newSBOMCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sbom IMAGE",
		Short: "Write a software bill of materials (CycloneDX 1.6 or SPDX 2.3) of an image",
		Long: `Write a software bill of materials of an image: every package with its purl,
licences, the paths it was found at and the layer that added it.

  -o cyclonedx-json   CycloneDX 1.6 JSON (layer in credence:layer:* properties,
                      paths as evidence occurrences)
  -o spdx-json        SPDX 2.3 JSON (layer and paths in each package's sourceInfo)
  -o table, -o json   the inventory, as credence inventory prints it

` + imageRefHelp,
		Example: `  credence sbom testdata/images/sample -o cyclonedx-json > sample.cdx.json
  credence sbom oci:./layout:v1 -o spdx-json`,
		Args: oneArg("IMAGE"),
	}
	out := addOutputFlag(cmd, "table", "table", "json", "cyclonedx-json", "spdx-json")
	imgFlags := addImageFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		img, inv, err := imgFlags.inventory(cmd.Context(), args[0], cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		w := cmd.OutOrStdout()
		switch out.format {
		case "cyclonedx-json":
			printWarnings(cmd.ErrOrStderr(), inv)
			return sbom.WriteCycloneDX(w, sbom.CycloneDX(img, inv))
		case "spdx-json":
			printWarnings(cmd.ErrOrStderr(), inv)
			return sbom.WriteSPDX(w, sbom.SPDX(img, inv))
		case "json":
			return inventoryReport{Image: img, Inventory: inv}.writeJSON(w)
		}
		printWarnings(cmd.ErrOrStderr(), inv)
		return printInventory(w, img, inv)
	}
	return cmd
}

//go:build !node

package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/inventory"
)

func newInventoryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inventory IMAGE",
		Short: "List the packages in an image, each with the layer that added it",
		Long: `List the packages in an image: OS packages (dpkg, apk, rpm) and language
packages (npm, PyPI, Go, Java, cargo), each with its OSV ecosystem, purl,
source package, the layer that added it and the paths it was found at.
Files deleted by a later layer (whiteouts) are not reported.

` + imageRefHelp,
		Example: `  credence inventory testdata/images/sample
  credence inventory docker-archive:app.tar -o json
  credence inventory registry:alpine:3.20 --platform linux/arm64`,
		Args: oneArg("IMAGE"),
	}
	out := addOutputFlag(cmd, "table", "table", "json")
	imgFlags := addImageFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		img, inv, err := imgFlags.inventory(cmd.Context(), args[0], cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		if out.format == "json" {
			return inventoryReport{Image: img, Inventory: inv}.writeJSON(cmd.OutOrStdout())
		}
		printWarnings(cmd.ErrOrStderr(), inv)
		return printInventory(cmd.OutOrStdout(), img, inv)
	}
	return cmd
}

// inventoryReport is the JSON output of credence inventory.
type inventoryReport struct {
	Image *image.Image `json:"image"`
	*inventory.Inventory
}

// writeJSON writes r exactly as writeJSON(w, r) would, but one package at a
// time: an image with tens of thousands of packages is not also held in
// memory as one document (twice: compact, then indented).
func (r inventoryReport) writeJSON(w io.Writer) error {
	if r.Inventory == nil || len(r.Packages) == 0 {
		return writeJSON(w, r)
	}
	shell := *r.Inventory
	shell.Packages = []*inventory.Package{}
	var head bytes.Buffer
	if err := writeJSON(&head, inventoryReport{Image: r.Image, Inventory: &shell}); err != nil {
		return err
	}
	// Newlines inside JSON strings are escaped: this is the top-level field.
	const marker = "\n  \"packages\": [],\n"
	before, after, ok := bytes.Cut(head.Bytes(), []byte(marker))
	if !ok {
		return writeJSON(w, r)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(before)
	bw.WriteString("\n  \"packages\": [")
	var one bytes.Buffer
	enc := json.NewEncoder(&one)
	enc.SetIndent("    ", "  ")
	enc.SetEscapeHTML(false)
	for i, p := range r.Packages {
		one.Reset()
		if err := enc.Encode(p); err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(bytes.TrimSuffix(one.Bytes(), []byte("\n")))
	}
	bw.WriteString("\n  ],\n")
	bw.Write(after)
	return bw.Flush()
}

func printInventory(w io.Writer, img *image.Image, inv *inventory.Inventory) error {
	fmt.Fprintf(w, "Image:    %s\n", img.Reference)
	if img.ManifestDigest != "" {
		fmt.Fprintf(w, "Manifest: %s\n", img.ManifestDigest)
	}
	if img.ConfigDigest != "" {
		fmt.Fprintf(w, "Config:   %s\n", img.ConfigDigest)
	}
	if inv.Distro != nil {
		eco := inv.Distro.Ecosystem
		if eco == "" {
			eco = "no OSV ecosystem known"
		}
		fmt.Fprintf(w, "Distro:   %s (%s)\n", inv.Distro.PrettyName, eco)
	}
	fmt.Fprintf(w, "Packages: %d in %s\n\n", len(inv.Packages), count(len(inv.Layers), "layer", "layers"))
	t := newTable(w, "NAME", "VERSION", "TYPE", "ECOSYSTEM", "LAYER", "PATH")
	for _, p := range inv.Packages {
		name := p.Name
		if p.Namespace != "" && p.Type != inventory.TypeGolang {
			name = p.Namespace + "/" + p.Name
		}
		layer := ""
		if p.Layer != nil {
			layer = strconv.Itoa(p.Layer.Index)
		}
		t.row(name, p.Version, p.Type, p.Ecosystem, layer, strings.Join(p.Locations, ", "))
	}
	return t.flush()
}

func printWarnings(w io.Writer, inv *inventory.Inventory) {
	for _, m := range inv.Status.Warnings {
		fmt.Fprintf(w, "warning: %s\n", m)
	}
	for _, e := range inv.Status.FileErrors {
		fmt.Fprintf(w, "warning: %s could not read %s (layer %d): %s\n", e.Extractor, e.Path, e.Layer, e.Error)
	}
}

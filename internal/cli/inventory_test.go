//go:build !node && !scan

package cli

import (
	"bytes"
	"testing"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/inventory"
)

// The report streamed one package at a time is byte for byte what encoding
// the whole report gives.
func TestInventoryReportStreamed(t *testing.T) {
	inv := &inventory.Inventory{
		Distro: &inventory.Distro{ID: "debian", VersionID: "12", Path: "etc/os-release"},
		Packages: []*inventory.Package{
			{Name: "a<b>&c", Version: "1", Type: "npm", Locations: []string{"x\ny"}, Metadata: map[string]any{"k": []int{1, 2}}},
			{Name: "openssl", Version: "3.0.15-1~deb12u1", Type: "deb", Layer: &inventory.Layer{Index: 0, Digest: "sha256:00"}, Locations: []string{"var/lib/dpkg/status"}},
		},
		Layers: []inventory.Layer{{Index: 0, Digest: "sha256:00"}},
		Status: inventory.Status{State: inventory.Partial, Warnings: []string{`"packages": [],`}, Extractors: []string{"dpkg@1"}},
	}
	for _, r := range []inventoryReport{
		{Image: &image.Image{Reference: "oci:x", Transport: image.OCILayout}, Inventory: inv},
		{Image: &image.Image{Reference: "oci:x"}, Inventory: &inventory.Inventory{Packages: nil}},
	} {
		var whole, streamed bytes.Buffer
		if err := writeJSON(&whole, r); err != nil {
			t.Fatal(err)
		}
		if err := r.writeJSON(&streamed); err != nil {
			t.Fatal(err)
		}
		if whole.String() != streamed.String() {
			t.Errorf("streamed report differs:\n%s\nwant:\n%s", streamed.String(), whole.String())
		}
	}
}

// Package all is the explicit list of extractors credence runs: adding a
// format means adding it here, and nowhere else (no init() registration).
package all

import (
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/apk"
	"github.com/credence-dev/credence/inventory/cargoauditable"
	"github.com/credence-dev/credence/inventory/cargolock"
	"github.com/credence-dev/credence/inventory/dpkg"
	"github.com/credence-dev/credence/inventory/gobinary"
	"github.com/credence-dev/credence/inventory/gomod"
	"github.com/credence-dev/credence/inventory/java"
	"github.com/credence-dev/credence/inventory/npminstalled"
	"github.com/credence-dev/credence/inventory/npmlock"
	"github.com/credence-dev/credence/inventory/osrelease"
	"github.com/credence-dev/credence/inventory/pipfilelock"
	"github.com/credence-dev/credence/inventory/poetrylock"
	"github.com/credence-dev/credence/inventory/pythonmeta"
	"github.com/credence-dev/credence/inventory/requirements"
	"github.com/credence-dev/credence/inventory/rpm"
	"github.com/credence-dev/credence/inventory/uvlock"
)

// Extractors returns a new instance of every extractor, in a fixed order.
func Extractors() []inventory.Extractor {
	return []inventory.Extractor{
		osrelease.New(),
		dpkg.New(),
		apk.New(),
		rpm.New(),
		gobinary.New(),
		gomod.New(),
		cargolock.New(),
		cargoauditable.New(),
		npmlock.New(),
		npminstalled.New(),
		pythonmeta.New(),
		requirements.New(),
		pipfilelock.New(),
		poetrylock.New(),
		uvlock.New(),
		java.New(),
	}
}

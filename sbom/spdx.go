package sbom

import (
	"cmp"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/inventory"
)

const noAssertion = "NOASSERTION"

// SPDX returns an SPDX 2.3 document of the image: a CONTAINER package for
// the image that CONTAINS one package per inventory package, each with its
// purl as a PACKAGE-MANAGER reference and its layer and paths in sourceInfo.
func SPDX(img *image.Image, inv *inventory.Inventory, opts ...Option) *spdx.Document {
	o := newOptions(opts)
	const imageID = common.ElementID("Image")
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      subjectName(img),
		DocumentNamespace: "https://credence.dev/spdx/" + strings.NewReplacer(":", "-", "/", "-").Replace(subjectName(img)) + "-" + uuidFor(img.ID(), o.now.String()),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: "credence-" + o.toolVersion}},
			Created:  o.now.Format("2006-01-02T15:04:05Z"),
		},
	}
	root := &spdx.Package{
		PackageName:             subjectName(img),
		PackageSPDXIdentifier:   imageID,
		PackageVersion:          img.ID(),
		PackageDownloadLocation: noAssertion,
		PrimaryPackagePurpose:   "CONTAINER",
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  noAssertion,
		PackageCopyrightText:    noAssertion,
	}
	if alg, hex, ok := strings.Cut(img.ManifestDigest, ":"); ok && alg == "sha256" {
		root.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: hex}}
	}
	doc.Packages = append(doc.Packages, root)
	doc.Relationships = append(doc.Relationships, &spdx.Relationship{
		RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", string(imageID)), Relationship: "DESCRIBES",
	})
	if d := inv.Distro; d != nil {
		id := common.ElementID("OperatingSystem")
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName: d.ID, PackageSPDXIdentifier: id, PackageVersion: d.VersionID, PackageDescription: d.PrettyName,
			PackageDownloadLocation: noAssertion, PrimaryPackagePurpose: "OPERATING_SYSTEM",
			PackageLicenseConcluded: noAssertion, PackageLicenseDeclared: noAssertion, PackageCopyrightText: noAssertion,
		})
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(imageID)), RefB: common.MakeDocElementID("", string(id)), Relationship: "CONTAINS",
		})
	}
	for i, p := range inv.Packages {
		id := common.ElementID(fmt.Sprintf("Package-%d-%s", i+1, idSafe(p.Name)))
		sp := &spdx.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   id,
			PackageVersion:          p.Version,
			PackageDownloadLocation: noAssertion,
			PackageLicenseConcluded: noAssertion,
			PackageLicenseDeclared:  noAssertion,
			PackageCopyrightText:    noAssertion,
			PackageSourceInfo:       layerDescription(p),
			PrimaryPackagePurpose:   "LIBRARY",
		}
		if expr := strings.Join(p.Licenses, " AND "); len(p.Licenses) > 0 {
			if isSPDXExpression(expr) {
				sp.PackageLicenseDeclared = expr
			} else {
				sp.PackageLicenseComments = "declared by the package: " + strings.Join(p.Licenses, "; ")
			}
		}
		if p.PURL != "" {
			sp.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: p.PURL}}
		}
		if p.SourceName != "" && (p.SourceName != p.Name || p.SourceVersion != p.Version) {
			sp.PackageComment = fmt.Sprintf("source package %s %s", p.SourceName, p.SourceVersion)
		}
		doc.Packages = append(doc.Packages, sp)
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(imageID)), RefB: common.MakeDocElementID("", string(id)), Relationship: "CONTAINS",
		})
	}
	return doc
}

// WriteSPDX writes doc as indented SPDX JSON.
func WriteSPDX(w io.Writer, doc *spdx.Document) error {
	return spdxjson.Write(doc, w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false))
}

var idUnsafe = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// idSafe makes s usable in an SPDX identifier (letters, digits, "." and "-").
func idSafe(s string) string { return idUnsafe.ReplaceAllString(s, "-") }

// spdxExpression is a loose check that a licence string is an SPDX licence
// expression (identifiers joined by AND, OR, WITH, in parentheses), so
// free text such as "MIT License" is not passed off as one.
var spdxExpression = regexp.MustCompile(`^\(?[A-Za-z0-9.+-]+(:[A-Za-z0-9.+-]+)?\)?( (AND|OR|WITH) \(?[A-Za-z0-9.+-]+(:[A-Za-z0-9.+-]+)?\)?)*$`)

func isSPDXExpression(s string) bool {
	return spdxExpression.MatchString(s) && !strings.EqualFold(s, "unknown") && !strings.EqualFold(s, "custom")
}

func sortProps(p []cdx.Property) {
	slices.SortFunc(p, func(a, b cdx.Property) int { return cmp.Compare(a.Name, b.Name) })
}

package sbom

import (
	"fmt"
	"io"
	"strconv"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/inventory"
)

// CycloneDX returns a CycloneDX 1.6 BOM of the image: the image as the
// metadata component, its distribution as an operating-system component, and
// one library component per package with its purl, licences, the paths it
// was found at (evidence occurrences) and the layer that added it
// (credence:layer:* properties). Callers may add vulnerabilities before
// writing it.
func CycloneDX(img *image.Image, inv *inventory.Inventory, opts ...Option) *cdx.BOM {
	o := newOptions(opts)
	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.JSONSchema = "http://cyclonedx.org/schema/bom-1.6.schema.json"
	bom.SerialNumber = "urn:uuid:" + uuidFor(img.ID(), o.now.String())
	subject := cdx.Component{
		BOMRef:  img.ID(),
		Type:    cdx.ComponentTypeContainer,
		Name:    subjectName(img),
		Version: img.ID(),
	}
	var subjectProps []cdx.Property
	for k, v := range map[string]string{"credence:image:manifestDigest": img.ManifestDigest, "credence:image:configDigest": img.ConfigDigest, "credence:image:platform": img.Platform, "credence:image:transport": string(img.Transport)} {
		if v != "" {
			subjectProps = append(subjectProps, cdx.Property{Name: k, Value: v})
		}
	}
	sortProps(subjectProps)
	if len(subjectProps) > 0 {
		subject.Properties = &subjectProps
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: o.now.Format("2006-01-02T15:04:05Z"),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "credence", Version: o.toolVersion,
		}}},
		Component: &subject,
	}

	var components []cdx.Component
	var refs []string
	if d := inv.Distro; d != nil {
		ref := "os:" + d.ID + "@" + d.VersionID
		components = append(components, cdx.Component{
			BOMRef: ref, Type: cdx.ComponentTypeOS, Name: d.ID, Version: d.VersionID, Description: d.PrettyName,
		})
		refs = append(refs, ref)
	}
	seen := map[string]int{}
	for _, p := range inv.Packages {
		c := component(p)
		if n := seen[c.BOMRef]; n > 0 {
			c.BOMRef += "#" + strconv.Itoa(n)
		}
		seen[c.BOMRef]++
		components = append(components, c)
		refs = append(refs, c.BOMRef)
	}
	bom.Components = &components
	bom.Dependencies = &[]cdx.Dependency{{Ref: subject.BOMRef, Dependencies: &refs}}
	return bom
}

func component(p *inventory.Package) cdx.Component {
	c := cdx.Component{
		BOMRef:     p.PURL,
		Type:       cdx.ComponentTypeLibrary,
		Name:       p.Name,
		Version:    p.Version,
		PackageURL: p.PURL,
	}
	if c.BOMRef == "" {
		c.BOMRef = p.Type + ":" + p.Name + "@" + p.Version
	}
	if p.Type == inventory.TypeMaven || p.Type == inventory.TypeNPM {
		c.Group = p.Namespace
	}
	if len(p.Licenses) > 0 {
		var ls cdx.Licenses
		for _, l := range p.Licenses {
			if isSPDXExpression(l) {
				ls = append(ls, cdx.LicenseChoice{Expression: l})
			} else {
				ls = append(ls, cdx.LicenseChoice{License: &cdx.License{Name: l}})
			}
		}
		if len(ls) > 1 {
			// The schema allows several licences, or one expression.
			var named cdx.Licenses
			for _, l := range p.Licenses {
				named = append(named, cdx.LicenseChoice{License: &cdx.License{Name: l}})
			}
			ls = named
		}
		c.Licenses = &ls
	}
	props := []cdx.Property{{Name: PropExtractor, Value: p.Extractor}}
	add := func(k, v string) {
		if v != "" {
			props = append(props, cdx.Property{Name: k, Value: v})
		}
	}
	add(PropEcosystem, p.Ecosystem)
	add(PropSourceName, p.SourceName)
	add(PropSourceVersion, p.SourceVersion)
	if p.Layer != nil {
		add(PropLayerIndex, strconv.Itoa(p.Layer.Index))
		add(PropLayerDigest, p.Layer.Digest)
		add(PropLayerDiffID, p.Layer.DiffID)
		add(PropLayerCreatedBy, p.Layer.CreatedBy)
	}
	sortProps(props)
	c.Properties = &props
	if len(p.Locations) > 0 {
		var occ []cdx.EvidenceOccurrence
		for _, loc := range p.Locations {
			occ = append(occ, cdx.EvidenceOccurrence{Location: "/" + loc})
		}
		c.Evidence = &cdx.Evidence{Occurrences: &occ}
	}
	return c
}

// WriteCycloneDX writes bom as indented CycloneDX JSON. The BOM is built
// for version 1.6 and written as it is: the library's EncodeVersion would
// deep-copy it first (through gob) to strip what 1.6 lacks.
func WriteCycloneDX(w io.Writer, bom *cdx.BOM) error {
	if bom.SpecVersion != cdx.SpecVersion1_6 {
		return fmt.Errorf("CycloneDX: the BOM says version %s, credence writes %s", bom.SpecVersion, cdx.SpecVersion1_6)
	}
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	enc.SetEscapeHTML(false)
	return enc.Encode(bom)
}

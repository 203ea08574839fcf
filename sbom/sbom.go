// Package sbom writes an image's inventory as a software bill of materials:
// CycloneDX 1.6 JSON and SPDX 2.3 JSON, with each package's layer and paths.
package sbom

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/version"
	"github.com/credence-dev/credence/inventory"
)

// Option configures a BOM.
type Option func(*options)

type options struct {
	now         time.Time
	toolVersion string
}

// WithTime sets the creation time written into the BOM (default: now).
func WithTime(t time.Time) Option { return func(o *options) { o.now = t.UTC() } }

// WithToolVersion sets the credence version written into the BOM (default:
// the running binary's).
func WithToolVersion(v string) Option { return func(o *options) { o.toolVersion = v } }

func newOptions(opts []Option) options {
	o := options{now: time.Now().UTC().Truncate(time.Second), toolVersion: version.Get().Version}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Property names credence adds to components, in the CycloneDX property
// taxonomy style ("<namespace>:<name>").
const (
	PropLayerIndex     = "credence:layer:index"
	PropLayerDigest    = "credence:layer:digest"
	PropLayerDiffID    = "credence:layer:diffID"
	PropLayerCreatedBy = "credence:layer:createdBy"
	PropEcosystem      = "credence:ecosystem"
	PropSourceName     = "credence:source:name"
	PropSourceVersion  = "credence:source:version"
	PropExtractor      = "credence:extractor"
)

// subjectName names the scanned image for people.
func subjectName(img *image.Image) string {
	if img.Name != "" {
		return img.Name
	}
	return img.Reference
}

// uuidFor derives a stable, name-based (version 5 style) UUID from the
// image identity and the time, so one scan of one image has one serial.
func uuidFor(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// layerDescription says where a package came from, for people.
func layerDescription(p *inventory.Package) string {
	if p.Layer == nil {
		return "found at " + strings.Join(p.Locations, ", ")
	}
	d := p.Layer.Digest
	if d == "" {
		d = p.Layer.DiffID
	}
	s := fmt.Sprintf("added by layer %d (%s)", p.Layer.Index, d)
	if p.Layer.CreatedBy != "" {
		s += ", created by: " + p.Layer.CreatedBy
	}
	return s + "; found at " + strings.Join(p.Locations, ", ")
}

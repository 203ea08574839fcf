// Package image opens container images (OCI layout, docker-archive, registry,
// or a plain directory) and reads their layers once, as a squashed view.
//
// Open resolves a reference to one platform's image and its identity (manifest
// digest plus config digest). Walk then streams every layer exactly once,
// decompressing layers in parallel and verifying their digests, hands each file
// entry to a visitor, and returns the Tree: the squashed view in which OCI
// whiteouts and opaque directories are applied and every file knows its layer.
// Nothing is extracted to disk.
package image

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Transport names where an image was read from.
type Transport string

// Transports, spelled as in references ("oci:DIR", "docker-archive:FILE").
const (
	OCILayout     Transport = "oci"
	DockerArchive Transport = "docker-archive"
	Registry      Transport = "registry"
	Directory     Transport = "dir"
)

// Image is one platform's image, resolved and ready to walk.
type Image struct {
	// Reference is what the user gave.
	Reference string    `json:"reference"`
	Transport Transport `json:"transport"`
	// Name is the image name when known (a registry reference, a tag in an
	// OCI layout or docker-archive).
	Name string `json:"name,omitempty"`
	// ManifestDigest and ConfigDigest are the image's identity. A
	// docker-archive carries no registry manifest, so there it is empty and
	// ConfigDigest (the image ID) identifies the image alone. Both are empty
	// for a directory.
	ManifestDigest string `json:"manifestDigest,omitempty"`
	ConfigDigest   string `json:"configDigest,omitempty"`
	// IndexDigest is the digest of the multi-platform index the manifest was
	// chosen from, if any.
	IndexDigest string  `json:"indexDigest,omitempty"`
	Platform    string  `json:"platform,omitempty"`
	Layers      []Layer `json:"layers"`
	// Config is the image configuration; nil for a directory.
	Config *v1.ConfigFile `json:"-"`

	dir  string // root of a Directory image
	opts options
}

// Layer is one layer of an image.
type Layer struct {
	Index int `json:"index"`
	// Digest is the digest of the layer blob as the manifest lists it;
	// empty for docker-archive layers.
	Digest string `json:"digest,omitempty"`
	// DiffID is the digest of the uncompressed tar, from the config.
	DiffID    string `json:"diffID,omitempty"`
	MediaType string `json:"mediaType,omitempty"`
	// Size is the size of the blob as stored.
	Size      int64  `json:"size"`
	CreatedBy string `json:"createdBy,omitempty"`

	open func() (io.ReadCloser, error)
}

// ID is the short identity of an image for people: the manifest digest,
// else the config digest, else the reference.
func (img *Image) ID() string {
	switch {
	case img.ManifestDigest != "":
		return img.ManifestDigest
	case img.ConfigDigest != "":
		return img.ConfigDigest
	}
	return img.Reference
}

// Option configures Open and Walk.
type Option func(*options) error

type options struct {
	platform     v1.Platform
	keychain     authn.Keychain
	jobs         int
	maxExpansion int64
	maxIndex     int64
	progress     Progress
}

// DefaultPlatform is chosen from multi-platform images unless WithPlatform says otherwise.
const DefaultPlatform = "linux/amd64"

// DefaultMaxExpansion is how many times the bytes read from its blob a layer
// may expand when decompressed (beyond a floor of 512 MiB) before Walk stops,
// taking it for a decompression bomb. Real layers expand 2-10×. The count is
// of bytes actually read, never the size a manifest declares.
const DefaultMaxExpansion = 100

// expansionFloor is the uncompressed size every layer may reach whatever its ratio.
const expansionFloor = 512 << 20

// WithPlatform picks the platform ("linux/arm64", "linux/arm/v7") of a
// multi-platform image.
func WithPlatform(p string) Option {
	return func(o *options) error {
		plat, err := v1.ParsePlatform(p)
		if err != nil || plat.OS == "" || plat.Architecture == "" {
			return fmt.Errorf("invalid platform %q: want os/arch[/variant], such as linux/amd64", p)
		}
		o.platform = *plat
		return nil
	}
}

// WithKeychain sets registry credentials; the default is the Docker config keychain.
func WithKeychain(k authn.Keychain) Option {
	return func(o *options) error { o.keychain = k; return nil }
}

// WithJobs sets how many layers are decompressed at once (default: the number of CPUs).
func WithJobs(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("jobs must be at least 1, got %d", n)
		}
		o.jobs = n
		return nil
	}
}

// WithMaxExpansion sets the decompression bomb limit; see DefaultMaxExpansion.
func WithMaxExpansion(ratio int64) Option {
	return func(o *options) error {
		if ratio < 1 {
			return fmt.Errorf("max expansion must be at least 1, got %d", ratio)
		}
		o.maxExpansion = ratio
		return nil
	}
}

// WithMaxIndex bounds, in bytes, the memory of the file index Walk keeps
// of every entry of every layer; see DefaultMaxIndex. Walk fails with
// ErrIndexTooLarge when an image needs more.
func WithMaxIndex(bytes int64) Option {
	return func(o *options) error {
		if bytes < 1<<20 {
			return fmt.Errorf("max file index must be at least 1 MiB, got %d bytes", bytes)
		}
		o.maxIndex = bytes
		return nil
	}
}

// Progress hears how far Walk has read.
type Progress interface {
	// Read reports n more stored (compressed) bytes read from layer index.
	Read(index int, n int64)
}

// WithProgress reports reading progress to p.
func WithProgress(p Progress) Option {
	return func(o *options) error { o.progress = p; return nil }
}

func newOptions(opts []Option) (options, error) {
	o := options{
		platform:     v1.Platform{OS: "linux", Architecture: "amd64"},
		keychain:     authn.DefaultKeychain,
		jobs:         runtime.GOMAXPROCS(0),
		maxExpansion: DefaultMaxExpansion,
		maxIndex:     DefaultMaxIndex,
	}
	var errs []error
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			errs = append(errs, err)
		}
	}
	return o, errors.Join(errs...)
}

// ErrNoMatchingPlatform is returned when a multi-platform image has no
// manifest for the requested platform.
var ErrNoMatchingPlatform = errors.New("no image for the requested platform")

func platformString(p *v1.Platform) string {
	if p == nil {
		return "unknown"
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func noPlatformError(want v1.Platform, have []string) error {
	if len(have) == 0 {
		return fmt.Errorf("%w %s: the index lists no platforms", ErrNoMatchingPlatform, platformString(&want))
	}
	return fmt.Errorf("%w %s: available: %s (choose one with --platform)", ErrNoMatchingPlatform,
		platformString(&want), strings.Join(have, ", "))
}

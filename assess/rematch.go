package assess

import (
	"context"
	"errors"
	"time"

	"github.com/credence-dev/credence/graph"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/all"
	"github.com/credence-dev/credence/match"
)

// ExtractorSet is the version of the extractor set Assess reads images
// with (the Extractors part of a CacheKey).
func ExtractorSet() string { return inventory.SetVersion(all.Extractors()) }

// MatchInventory matches a stored inventory (a CachedInventory kept by
// digest) against src exactly as Assess matches an image it scanned or found
// in its cache: findings with the ignores of opts applied, counts, and the
// packages that could not be checked. No layer is read: this is how a
// database update re-matches what is running ("risk rises before an
// attack"). Of opts only WithIgnores, WithClock and WithPlatform matter.
func MatchInventory(ctx context.Context, src match.Source, digest string, c *CachedInventory, opts ...Option) (*Image, error) {
	if c == nil || c.Inventory == nil {
		return nil, errors.New("match inventory: no inventory")
	}
	o := defaults()
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, err
		}
	}
	sc := newScanner(o, nil)
	sc.extSet = ExtractorSet()
	img := &Image{Digest: digest}
	sc.fill(img, c, true)
	a := &run{o: o, src: newMemoSource(src)}
	if err := a.matchImage(ctx, img); err != nil {
		return nil, err
	}
	return img, nil
}

// Summarize is the inventory summary Assess keeps on an Image (distro,
// package counts, layers, state).
func Summarize(inv *inventory.Inventory) *Summary {
	img := &Image{}
	(&scanner{}).fill(img, &CachedInventory{Inventory: inv, ScannedAt: time.Time{}}, true)
	return img.Inventory
}

// DigestOf extracts the image digest ("sha256:...") from an image ID as the
// kubelet reports it ("docker-pullable://repo@sha256:...",
// "repo@sha256:...", "sha256:...") or from a reference pinned by digest,
// with the repository when it names one; empty when there is none.
func DigestOf(imageID string) (repo, digest string) { return digestOf(imageID) }

// WithAlertStep makes a runtime alert the first step of every path of a
// blast radius from the alerted container (from): the evidence that the
// container is compromised, as Assess answers an alert.
func WithAlertStep(paths []graph.Path, al Alert, from string) []graph.Path {
	return prependAlert(paths, al, from)
}

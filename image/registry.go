package image

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// openRegistry resolves a reference in a registry, choosing the platform from
// a multi-platform index.
func openRegistry(ctx context.Context, ref string, o options) (*Image, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, ref, err)
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(o.keychain), remote.WithPlatform(o.platform)}
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", r, err)
	}
	indexDigest := ""
	img, err := desc.Image()
	if desc.MediaType.IsIndex() {
		idx, ierr := desc.ImageIndex()
		if ierr != nil {
			return nil, fmt.Errorf("fetch index %s: %w", r, ierr)
		}
		im, ierr := idx.IndexManifest()
		if ierr != nil {
			return nil, fmt.Errorf("fetch index %s: %w", r, ierr)
		}
		d, ierr := chooseByPlatform(im, o.platform)
		if ierr != nil {
			return nil, fmt.Errorf("%s: %w", r, ierr)
		}
		indexDigest = desc.Digest.String()
		img, err = idx.Image(d.Digest)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch image %s: %w", r, err)
	}
	out, err := fromV1(img, Registry)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r, err)
	}
	out.Name = r.Name()
	out.IndexDigest = indexDigest
	return out, nil
}

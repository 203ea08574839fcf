package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// refNameAnnotation tags a manifest in an OCI layout's index.json.
const refNameAnnotation = "org.opencontainers.image.ref.name"

// openOCI opens an image in an OCI image layout. sel is "", a tag (the
// ref.name annotation) or "@sha256:...".
func openOCI(dir, sel string, o options) (*Image, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return nil, fmt.Errorf("%w: %s is not an OCI image layout (no index.json)", ErrBadReference, dir)
	}
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("open OCI layout %s: %w", dir, err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("read %s/index.json: %w", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("read %s/index.json: %w", dir, err)
	}
	desc, err := selectManifest(im, sel, o.platform)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	img, indexDigest, err := resolve(idx, desc, o.platform)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	out, err := fromV1(img, OCILayout)
	if err != nil {
		return nil, fmt.Errorf("OCI layout %s: %w", dir, err)
	}
	out.IndexDigest = indexDigest
	out.Name = layoutImageName(dir, desc.Annotations[refNameAnnotation])
	return out, nil
}

// selectManifest picks the top-level descriptor of index.json that sel names.
func selectManifest(im *v1.IndexManifest, sel string, plat v1.Platform) (v1.Descriptor, error) {
	if len(im.Manifests) == 0 {
		return v1.Descriptor{}, errors.New("index.json lists no images")
	}
	var refs []string
	for _, d := range im.Manifests {
		if r := d.Annotations[refNameAnnotation]; r != "" {
			refs = append(refs, r)
		}
	}
	switch {
	case strings.HasPrefix(sel, "@"):
		want := sel[1:]
		for _, d := range im.Manifests {
			if d.Digest.String() == want {
				return d, nil
			}
		}
		return v1.Descriptor{}, fmt.Errorf("no image with digest %s in index.json", want)
	case sel != "":
		for _, d := range im.Manifests {
			if r := d.Annotations[refNameAnnotation]; r == sel || sameTag(r, sel) {
				return d, nil
			}
		}
		return v1.Descriptor{}, fmt.Errorf("no image tagged %q; tags: %s", sel, listOrNone(refs))
	}
	if len(im.Manifests) == 1 {
		return im.Manifests[0], nil
	}
	// Several manifests and no selector: a multi-platform layout, or several tags.
	if d, err := chooseByPlatform(im, plat); err == nil && len(refs) == 0 {
		return d, nil
	}
	return v1.Descriptor{}, fmt.Errorf("index.json holds %d images; name one as oci:DIR:TAG or oci:DIR@DIGEST (tags: %s)", len(im.Manifests), listOrNone(refs))
}

func sameTag(a, b string) bool {
	ta, err1 := name.NewTag(a)
	tb, err2 := name.NewTag(b)
	return err1 == nil && err2 == nil && ta.Name() == tb.Name()
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

// resolve follows desc to an image, choosing a platform in nested indexes.
func resolve(idx v1.ImageIndex, desc v1.Descriptor, plat v1.Platform) (v1.Image, string, error) {
	indexDigest := ""
	for depth := 0; desc.MediaType.IsIndex(); depth++ {
		if depth > 4 {
			return nil, "", errors.New("image indexes nested too deep")
		}
		child, err := idx.ImageIndex(desc.Digest)
		if err != nil {
			return nil, "", fmt.Errorf("read index %s: %w", desc.Digest, err)
		}
		im, err := child.IndexManifest()
		if err != nil {
			return nil, "", fmt.Errorf("read index %s: %w", desc.Digest, err)
		}
		indexDigest = desc.Digest.String()
		if desc, err = chooseByPlatform(im, plat); err != nil {
			return nil, "", err
		}
		idx = child
	}
	if !desc.MediaType.IsImage() && desc.MediaType != "" {
		return nil, "", fmt.Errorf("%s has media type %s, not an image manifest", desc.Digest, desc.MediaType)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("read image %s: %w", desc.Digest, err)
	}
	return img, indexDigest, nil
}

// layoutImageName names an image in a layout for people: a full reference
// annotation as is, a bare tag as "<dir>:<tag>".
func layoutImageName(dir, ref string) string {
	if ref == "" || strings.ContainsAny(ref, "/:@") {
		return ref
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	return filepath.Base(abs) + ":" + ref
}

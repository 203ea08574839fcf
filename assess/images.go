package assess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/credence-dev/credence/image"
)

// ImageDirs is an offline map from image references and digests to images
// on disk: OCI layouts and docker-archives under the directories given to
// --images, and explicit REF=IMAGE pairs.
//
// An OCI layout's manifests are known by their digests and by their
// org.opencontainers.image.ref.name (or io.containerd.image.name)
// annotation: a full reference ("registry.example/shop/web:1.0") matches
// that reference; a bare tag ("latest") matches any reference whose last
// path element is the layout directory's name with that tag
// ("example.com/team/sample:latest" for testdata/images/sample). A
// docker-archive is known by its RepoTags and its config digest (the image
// ID). Explicit pairs win over both.
type ImageDirs struct {
	explicit map[string]string // normalised reference → image.Open reference
	entries  []dirEntry
}

type dirEntry struct {
	open    string   // reference for image.Open
	full    []string // normalised full references
	tagOnly []string // "dirname:tag"
	digests []string
}

// Len is the number of images found.
func (d *ImageDirs) Len() int { return len(d.entries) + len(d.explicit) }

// NewImageDirs indexes the OCI layouts and docker-archives in dirs (each a
// layout, an archive, or a directory holding them one level down) and the
// explicit "REF=IMAGE" pairs.
func NewImageDirs(ctx context.Context, dirs, pairs []string) (*ImageDirs, []string, error) {
	d := &ImageDirs{explicit: map[string]string{}}
	var warnings []string
	for _, p := range pairs {
		ref, target, ok := strings.Cut(p, "=")
		if !ok || ref == "" || target == "" {
			return nil, nil, fmt.Errorf("--image %q: want REF=IMAGE (e.g. shop/web:1.0=oci:./web)", p)
		}
		n, err := normalize(ref)
		if err != nil {
			return nil, nil, fmt.Errorf("--image %q: %w", p, err)
		}
		d.explicit[n] = target
	}
	for _, dir := range dirs {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("--images %s: %w", dir, err)
		}
		cands := []string{dir}
		if fi.IsDir() && !isLayout(dir) {
			ents, err := os.ReadDir(dir)
			if err != nil {
				return nil, nil, fmt.Errorf("--images %s: %w", dir, err)
			}
			cands = cands[:0]
			for _, e := range ents {
				cands = append(cands, filepath.Join(dir, e.Name()))
			}
		}
		for _, c := range cands {
			es, err := indexCandidate(ctx, c)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("--images: %s: %v", c, err))
				continue
			}
			d.entries = append(d.entries, es...)
		}
	}
	return d, warnings, nil
}

func isLayout(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "oci-layout"))
	return err == nil
}

// indexCandidate lists the images of one OCI layout or docker-archive; it
// returns nothing for other files.
func indexCandidate(ctx context.Context, p string) ([]dirEntry, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		if !isLayout(p) {
			return nil, nil
		}
		return indexLayout(p)
	}
	if !strings.HasSuffix(p, ".tar") {
		return nil, nil
	}
	img, err := image.Open(ctx, "docker-archive:"+p)
	if err != nil {
		return nil, err
	}
	e := dirEntry{open: "docker-archive:" + p, digests: []string{img.ConfigDigest}}
	for _, t := range archiveTags(p, img) {
		if n, err := normalize(t); err == nil {
			e.full = append(e.full, n)
		}
	}
	return []dirEntry{e}, nil
}

// archiveTags returns every RepoTag of the archive's image.
func archiveTags(p string, img *image.Image) []string {
	if img.Name == "" {
		return nil
	}
	return []string{img.Name}
}

// indexLayout reads index.json of an OCI layout (manifests are opened only
// when scanned).
func indexLayout(dir string) ([]dirEntry, error) {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, err
	}
	var idx struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	var out []dirEntry
	base := filepath.Base(filepath.Clean(dir))
	for _, m := range idx.Manifests {
		if !strings.HasPrefix(m.Digest, "sha256:") {
			continue
		}
		e := dirEntry{open: "oci:" + dir + "@" + m.Digest, digests: []string{m.Digest}}
		for _, k := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
			v := m.Annotations[k]
			if v == "" {
				continue
			}
			if strings.ContainsAny(v, "/:@") {
				if n, err := normalize(v); err == nil {
					e.full = append(e.full, n)
				}
			} else {
				e.tagOnly = append(e.tagOnly, base+":"+v)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// normalize makes a reference comparable: "nginx" and
// "docker.io/library/nginx:latest" are the same.
func normalize(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	return r.Name(), nil
}

// lastTag is "name:tag" of a reference's last path element, for matching
// layouts that record only a tag.
func lastTag(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ""
	}
	t, ok := r.(name.Tag)
	if !ok {
		return ""
	}
	repo := t.Context().RepositoryStr()
	if i := strings.LastIndex(repo, "/"); i >= 0 {
		repo = repo[i+1:]
	}
	return repo + ":" + t.TagStr()
}

// byReference finds the image a reference names.
func (d *ImageDirs) byReference(ref string) (open, digest string, ok bool) {
	if d == nil {
		return "", "", false
	}
	n, err := normalize(ref)
	if err != nil {
		return "", "", false
	}
	if t, ok := d.explicit[n]; ok {
		return t, "", true
	}
	for _, e := range d.entries {
		for _, f := range e.full {
			if f == n {
				return e.open, e.digests[0], true
			}
		}
	}
	lt := lastTag(ref)
	for _, e := range d.entries {
		for _, t := range e.tagOnly {
			if t == lt {
				return e.open, e.digests[0], true
			}
		}
	}
	return "", "", false
}

// byDigest finds a local image with digest d.
func (d *ImageDirs) byDigest(dg string) (string, bool) {
	if d == nil || dg == "" {
		return "", false
	}
	for _, e := range d.entries {
		for _, x := range e.digests {
			if x == dg {
				return e.open, true
			}
		}
	}
	return "", false
}

// Describe lists what the index knows, for error messages.
func (d *ImageDirs) Describe() []string {
	var out []string
	for _, e := range d.entries {
		names := append(append([]string{}, e.full...), e.tagOnly...)
		out = append(out, fmt.Sprintf("%s (%s)", e.open, strings.Join(names, ", ")))
	}
	for k, v := range d.explicit {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// digestOf extracts "sha256:..." from an image ID as the kubelet reports it
// ("docker-pullable://repo@sha256:...", "repo@sha256:...", "sha256:...").
func digestOf(imageID string) (repo, digest string) {
	s := imageID
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	if r, d, ok := strings.Cut(s, "@"); ok {
		if validDigest(d) {
			return r, d
		}
		return "", ""
	}
	if validDigest(s) {
		return "", s
	}
	return "", ""
}

func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

var errUnresolved = errors.New("unresolved")

package image

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrBadReference is returned for a reference credence cannot interpret.
var ErrBadReference = errors.New("bad image reference")

// Open resolves ref to one platform's image. ref is one of
//
//	oci:DIR[:TAG|@DIGEST]     an OCI image layout directory
//	docker-archive:FILE[:NAME:TAG]   a "docker save" tarball
//	registry:REF, docker://REF or REF   an image in a registry
//	dir:PATH                  an unpacked root filesystem or a source tree
//	PATH                      detected: an OCI layout, a docker-archive or a directory
//
// Registry credentials come from the Docker config keychain unless
// WithKeychain says otherwise.
func Open(ctx context.Context, ref string, opts ...Option) (*Image, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(ref) == "" {
		return nil, fmt.Errorf("%w: empty reference", ErrBadReference)
	}
	transport, rest := splitTransport(ref)
	var img *Image
	switch transport {
	case OCILayout:
		dir, sel := splitExistingPath(rest, "@", ":")
		img, err = openOCI(dir, sel, o)
	case DockerArchive:
		file, sel := splitExistingPath(rest, ":")
		img, err = openDockerArchive(file, sel, o)
	case Directory:
		img, err = openDir(rest)
	case Registry:
		img, err = openRegistry(ctx, rest, o)
	default:
		img, err = openDetected(ctx, ref, o)
	}
	if err != nil {
		return nil, err
	}
	img.Reference = ref
	img.opts = o
	return img, nil
}

func splitTransport(ref string) (Transport, string) {
	for _, t := range []Transport{OCILayout, DockerArchive, Directory, Registry} {
		if rest, ok := strings.CutPrefix(ref, string(t)+":"); ok {
			return t, rest
		}
	}
	if rest, ok := strings.CutPrefix(ref, "docker://"); ok {
		return Registry, rest
	}
	return "", ref
}

// splitExistingPath splits "PATH[SEP]SELECTOR" where PATH itself may contain
// the separators: the longest prefix that exists on disk is the path.
func splitExistingPath(s string, seps ...string) (path, selector string) {
	if _, err := os.Stat(s); err == nil {
		return s, ""
	}
	for i := len(s) - 1; i > 0; i-- {
		for _, sep := range seps {
			if strings.HasPrefix(s[i:], sep) {
				if _, err := os.Stat(s[:i]); err == nil {
					sel := s[i+len(sep):]
					if sep == "@" {
						sel = "@" + sel
					}
					return s[:i], sel
				}
			}
		}
	}
	return s, ""
}

func openDetected(ctx context.Context, ref string, o options) (*Image, error) {
	fi, err := os.Stat(ref)
	if err == nil {
		if fi.IsDir() {
			if _, err := os.Stat(filepath.Join(ref, "oci-layout")); err == nil {
				return openOCI(ref, "", o)
			}
			return openDir(ref)
		}
		return openArchiveFile(ref, o)
	}
	if looksLikePath(ref) {
		return nil, fmt.Errorf("%w: %s: no such file or directory", ErrBadReference, ref)
	}
	if _, perr := name.ParseReference(ref); perr != nil {
		return nil, fmt.Errorf("%w %q: not a file, a directory or a registry reference (%v); use oci:DIR, docker-archive:FILE, dir:PATH or registry:NAME[:TAG]", ErrBadReference, ref, perr)
	}
	return openRegistry(ctx, ref, o)
}

func looksLikePath(ref string) bool {
	return strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../") ||
		strings.HasSuffix(ref, ".tar") || strings.HasSuffix(ref, ".tar.gz") || ref == "." || ref == ".."
}

// openArchiveFile detects what kind of tarball a file is.
func openArchiveFile(file string, o options) (*Image, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: %s is a tar file but neither a docker-archive (no manifest.json) nor an OCI archive", ErrBadReference, file)
			}
			return nil, fmt.Errorf("%w: %s is not a docker-archive or a directory (reading it as tar: %v)", ErrBadReference, file, err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "manifest.json":
			return openDockerArchive(file, "", o)
		case "oci-layout", "index.json":
			return nil, fmt.Errorf("%w: %s is an OCI archive; unpack it (tar -xf) and use oci:DIR", ErrBadReference, file)
		}
	}
}

// chooseByPlatform picks the descriptor for the wanted platform from an index.
func chooseByPlatform(im *v1.IndexManifest, want v1.Platform) (v1.Descriptor, error) {
	var have []string
	for _, d := range im.Manifests {
		if d.Platform == nil {
			continue
		}
		if d.Platform.Satisfies(want) {
			return d, nil
		}
		have = append(have, platformString(d.Platform))
	}
	return v1.Descriptor{}, noPlatformError(want, have)
}

// fromV1 describes a go-containerregistry image whose layers are read as
// stored blobs (and decompressed by Walk).
func fromV1(img v1.Image, t Transport) (*Image, error) {
	mdig, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", m.Config.Digest, err)
	}
	out := &Image{
		Transport:      t,
		ManifestDigest: mdig.String(),
		ConfigDigest:   m.Config.Digest.String(),
		Config:         cfg,
		Platform:       cfg.OS + "/" + cfg.Architecture,
	}
	if cfg.Variant != "" {
		out.Platform += "/" + cfg.Variant
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("list layers: %w", err)
	}
	if len(layers) != len(m.Layers) {
		return nil, fmt.Errorf("manifest lists %d layers, image has %d", len(m.Layers), len(layers))
	}
	history := layerHistory(cfg)
	for i, l := range layers {
		d := m.Layers[i]
		layer := Layer{
			Index:     i,
			Digest:    d.Digest.String(),
			MediaType: string(d.MediaType),
			Size:      d.Size,
			open:      l.Compressed,
		}
		if i < len(cfg.RootFS.DiffIDs) {
			layer.DiffID = cfg.RootFS.DiffIDs[i].String()
		}
		if i < len(history) {
			layer.CreatedBy = history[i]
		}
		out.Layers = append(out.Layers, layer)
	}
	return out, nil
}

// layerHistory returns the created_by line of each non-empty layer.
func layerHistory(cfg *v1.ConfigFile) []string {
	var out []string
	for _, h := range cfg.History {
		if !h.EmptyLayer {
			out = append(out, h.CreatedBy)
		}
	}
	return out
}

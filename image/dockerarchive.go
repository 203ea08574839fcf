package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// maxArchiveMetadata bounds manifest.json and the config read from a docker-archive.
const maxArchiveMetadata = 16 << 20

// openDockerArchive opens an image from a "docker save" tarball. sel is ""
// or a NAME:TAG from the archive's RepoTags. The layers inside are read as
// stored; Walk checks each against the config's DiffID.
func openDockerArchive(file, sel string, _ options) (*Image, error) {
	entries, err := archiveIndex(file)
	if err != nil {
		return nil, err
	}
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	manifest, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a docker-archive: manifest.json: %v", ErrBadReference, file, err)
	}
	desc, err := selectArchiveImage(manifest, sel)
	if err != nil {
		return nil, fmt.Errorf("docker-archive %s: %w", file, err)
	}
	rawCfg, err := readArchiveFile(file, entries, desc.Config, maxArchiveMetadata)
	if err != nil {
		return nil, fmt.Errorf("docker-archive %s: config: %w", file, err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, fmt.Errorf("docker-archive %s: parse config %s: %w", file, desc.Config, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(desc.Layers) {
		return nil, fmt.Errorf("docker-archive %s: config lists %d layers (diff_ids), manifest.json %d", file, len(cfg.RootFS.DiffIDs), len(desc.Layers))
	}
	sum := sha256.Sum256(rawCfg)
	out := &Image{
		Transport:    DockerArchive,
		ConfigDigest: "sha256:" + hex.EncodeToString(sum[:]),
		Config:       cfg,
		Platform:     cfg.OS + "/" + cfg.Architecture,
	}
	if len(desc.RepoTags) > 0 {
		out.Name = desc.RepoTags[0]
		if sel != "" {
			out.Name = sel
		}
	}
	history := layerHistory(cfg)
	for i, lp := range desc.Layers {
		target, err := entries.resolve(lp)
		if err != nil {
			return nil, fmt.Errorf("docker-archive %s: layer %d: %w", file, i, err)
		}
		layer := Layer{
			Index:  i,
			DiffID: cfg.RootFS.DiffIDs[i].String(),
			Size:   entries[target].size,
			open: func() (io.ReadCloser, error) {
				return openArchiveEntry(file, target)
			},
		}
		if i < len(history) {
			layer.CreatedBy = history[i]
		}
		out.Layers = append(out.Layers, layer)
	}
	return out, nil
}

func selectArchiveImage(m tarball.Manifest, sel string) (*tarball.Descriptor, error) {
	if len(m) == 0 {
		return nil, errors.New("manifest.json lists no images")
	}
	var tags []string
	for _, d := range m {
		tags = append(tags, d.RepoTags...)
	}
	if sel == "" {
		if len(m) == 1 {
			return &m[0], nil
		}
		return nil, fmt.Errorf("holds %d images; name one as docker-archive:FILE:NAME:TAG (tags: %s)", len(m), listOrNone(tags))
	}
	want, err := name.NewTag(sel)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not a NAME:TAG: %v", ErrBadReference, sel, err)
	}
	for i, d := range m {
		for _, t := range d.RepoTags {
			if tag, err := name.NewTag(t); err == nil && tag.Name() == want.Name() {
				return &m[i], nil
			}
		}
	}
	return nil, fmt.Errorf("no image tagged %s (tags: %s)", sel, listOrNone(tags))
}

type archiveEntry struct {
	typeflag byte
	linkname string
	size     int64
}

// archiveEntries indexes the headers of a docker-archive.
type archiveEntries map[string]archiveEntry

func archiveIndex(file string) (archiveEntries, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	out := archiveEntries{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s is not a docker-archive (reading it as tar: %v)", ErrBadReference, file, err)
		}
		out[path.Clean(strings.TrimPrefix(h.Name, "./"))] = archiveEntry{typeflag: h.Typeflag, linkname: h.Linkname, size: h.Size}
	}
}

// resolve follows symlinks between entries ("docker save" links repeated layers).
func (a archiveEntries) resolve(p string) (string, error) {
	p = path.Clean(p)
	for hops := 0; hops < 16; hops++ {
		e, ok := a[p]
		if !ok {
			return "", fmt.Errorf("%s is not in the archive", p)
		}
		switch e.typeflag {
		case tar.TypeSymlink:
			p = path.Join(path.Dir(p), e.linkname)
		case tar.TypeLink:
			p = path.Clean(e.linkname)
		case tar.TypeReg, tar.TypeRegA:
			return p, nil
		default:
			return "", fmt.Errorf("%s is not a regular file", p)
		}
	}
	return "", fmt.Errorf("%s: too many links", p)
}

func readArchiveFile(file string, entries archiveEntries, p string, max int64) ([]byte, error) {
	target, err := entries.resolve(p)
	if err != nil {
		return nil, err
	}
	if entries[target].size > max {
		return nil, fmt.Errorf("%s is %d bytes, over the %d byte limit", p, entries[target].size, max)
	}
	rc, err := openArchiveEntry(file, target)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

type archiveEntryReader struct {
	io.Reader
	f *os.File
}

func (r *archiveEntryReader) Close() error { return r.f.Close() }

// openArchiveEntry returns the content of one regular file in the tarball.
// The tar reader seeks over other entries.
func openArchiveEntry(file, p string) (io.ReadCloser, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			f.Close()
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s is not in %s", p, file)
			}
			return nil, err
		}
		if path.Clean(strings.TrimPrefix(h.Name, "./")) == p {
			return &archiveEntryReader{Reader: tr, f: f}, nil
		}
	}
}

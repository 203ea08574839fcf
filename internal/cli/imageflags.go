//go:build !node

package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/all"
)

// imageRefHelp explains IMAGE arguments in every command that takes one.
const imageRefHelp = `IMAGE is one of:
  oci:DIR[:TAG|@DIGEST]          an OCI image layout directory
  docker-archive:FILE[:NAME:TAG] a "docker save" tarball
  registry:NAME[:TAG|@DIGEST]    an image in a registry (also docker://NAME or a bare NAME);
                                 credentials come from the Docker config (~/.docker/config.json)
  dir:PATH                       an unpacked root filesystem or a source tree, scanned as one layer
  PATH                           an OCI layout, docker-archive or directory, detected`

// imageFlags are the flags of every command that reads an image.
type imageFlags struct {
	platform     string
	maxExpansion int64
	maxIndexMiB  int64
	noProgress   bool
}

func addImageFlags(cmd *cobra.Command) *imageFlags {
	f := &imageFlags{}
	cmd.Flags().StringVar(&f.platform, "platform", image.DefaultPlatform, "platform to pick from a multi-platform image (os/arch[/variant])")
	cmd.Flags().Int64Var(&f.maxExpansion, "max-expansion", image.DefaultMaxExpansion, "stop reading a layer that expands to more than this many times its stored size (decompression bombs)")
	cmd.Flags().Int64Var(&f.maxIndexMiB, "max-file-index", image.DefaultMaxIndex>>20, "MiB of memory the index of the image's files (every path of every layer) may take")
	cmd.Flags().BoolVar(&f.noProgress, "no-progress", false, "do not show reading progress on a terminal")
	return f
}

// inventory opens ref and runs every extractor over it.
func (f *imageFlags) inventory(ctx context.Context, ref string, stderr io.Writer) (*image.Image, *inventory.Inventory, error) {
	var prog *progress
	opts := []image.Option{image.WithPlatform(f.platform), image.WithMaxExpansion(f.maxExpansion), image.WithMaxIndex(f.maxIndexMiB << 20)}
	if !f.noProgress && isTerminal(stderr) {
		prog = &progress{w: stderr}
		opts = append(opts, image.WithProgress(prog))
	}
	img, err := image.Open(ctx, ref, opts...)
	if err != nil {
		return nil, nil, err
	}
	if prog != nil {
		for _, l := range img.Layers {
			prog.total += l.Size
		}
	}
	tmp, err := os.MkdirTemp("", "credence-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	inv, err := inventory.Run(ctx, img, all.Extractors(), inventory.WithTempDir(tmp))
	if prog != nil {
		prog.done()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("scan %s: %w", ref, err)
	}
	return img, inv, nil
}

// isTerminal reports whether w is a terminal (not merely a character
// device: /dev/null is one too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progress prints "reading layers: 12.0/77.0 MiB" on a terminal, at most ten times a second.
type progress struct {
	w     io.Writer
	total int64

	mu    sync.Mutex
	read  int64
	shown time.Time
}

func (p *progress) Read(_ int, n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.read += n
	if time.Since(p.shown) < 100*time.Millisecond {
		return
	}
	p.shown = time.Now()
	fmt.Fprintf(p.w, "\rreading layers: %.1f/%.1f MiB", float64(p.read)/(1<<20), float64(p.total)/(1<<20))
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.shown.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

//go:build !node && !scan

package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/assess/invcache"
	"github.com/credence-dev/credence/cluster"
	"github.com/credence-dev/credence/match"
	"github.com/credence-dev/credence/store"
	"github.com/credence-dev/credence/vulndb"
	sampledb "github.com/credence-dev/credence/vulndb/sample"
)

// subjectFlags are the flags of every command that builds Subjects with
// assess (assess, check): where images come from, the limits on reading
// them, the inventory cache and the vulnerability database.
type subjectFlags struct {
	images, imagePairs []string
	offline, noCache   bool
	jobs               int
	cachePath, maxSize string
	imageTimeout       time.Duration
	img                *imageFlags
	db                 *dbFlag
}

func addSubjectFlags(cmd *cobra.Command, offlineHelp string) *subjectFlags {
	f := &subjectFlags{img: addImageFlags(cmd), db: addDBFlag(cmd)}
	fl := cmd.Flags()
	fl.StringSliceVar(&f.images, "images", nil, "directories of OCI layouts and docker-archives (or one of them) that references resolve to, offline; repeatable")
	fl.StringArrayVar(&f.imagePairs, "image", nil, "map one reference to an image: REF=IMAGE (e.g. shop/web:1.0=oci:./web); repeatable")
	fl.BoolVar(&f.offline, "offline", false, offlineHelp)
	fl.IntVar(&f.jobs, "jobs", 2, "images read (and verified) at once")
	fl.StringVar(&f.cachePath, "cache", "", "inventory cache: a file, or a store DSN (sqlite:///PATH, postgres://…) to share the server's (default $"+invcache.EnvPath+" or ~/.cache/credence/inventory.db)")
	fl.BoolVar(&f.noCache, "no-cache", false, "read every image even if its inventory is cached, and cache nothing")
	fl.StringVar(&f.maxSize, "max-image-size", "10GiB", "do not read images whose layers add up to more than this (stored size); they are unknown")
	fl.DurationVar(&f.imageTimeout, "image-timeout", 5*time.Minute, "give up on one image (resolve and read) after this long; it is unknown")
	return f
}

// subjectRun is what the flags opened: the vulnerability source, the assess
// options, warnings for the end of the output, and what to close.
type subjectRun struct {
	src      match.Source
	status   *vulndb.Status
	opts     []assess.Option
	warnings []string
	closers  []func()
	progress bool
}

func (r *subjectRun) Close() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
}

// open checks the flags and opens the database, the image directories and
// the inventory cache. cf, when given, supplies pull secrets of a live
// cluster.
func (f *subjectFlags) open(ctx context.Context, stderr io.Writer, cf *clusterFlags) (*subjectRun, error) {
	if f.jobs < 1 {
		return nil, usagef("--jobs must be at least 1")
	}
	size, err := parseSize(f.maxSize)
	if err != nil {
		return nil, usagef("--max-image-size %q: %v", f.maxSize, err)
	}
	dirs, dirWarnings, err := assess.NewImageDirs(ctx, f.images, f.imagePairs)
	if err != nil {
		return nil, usageErr(err)
	}
	r := &subjectRun{warnings: dirWarnings, progress: !f.img.noProgress && isTerminal(stderr)}
	r.opts = []assess.Option{
		assess.WithImageDirs(dirs), assess.WithJobs(f.jobs), assess.WithPlatform(f.img.platform),
		assess.WithImageTimeout(f.imageTimeout), assess.WithMaxImageSize(size), assess.WithMaxExpansion(f.img.maxExpansion),
	}
	src, st, closeDB, err := f.db.open(ctx)
	if err != nil {
		return nil, err
	}
	r.src, r.status = src, st
	r.closers = append(r.closers, closeDB)
	if f.db.resolve() == sampledb.Name {
		r.warnings = append(r.warnings, "using the embedded sample database: a few dozen advisories for the demo images, not a real vulnerability database")
	}
	if !f.offline {
		r.opts = append(r.opts, assess.WithRegistry(authn.DefaultKeychain))
		if cf != nil && cf.manifests == "" {
			if read, err := cluster.PullSecretReader(cf.kubeconfig, cf.context); err == nil {
				r.opts = append(r.opts, assess.WithPullSecrets(read))
			}
		}
	}
	if !f.noCache {
		c, err := openInventoryCache(ctx, f.cachePath)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.closers = append(r.closers, func() { c.Close() })
		r.opts = append(r.opts, assess.WithCache(c))
	}
	if r.progress {
		r.opts = append(r.opts, assess.WithProgress(phaseProgress(stderr)))
	}
	return r, nil
}

// assess builds the Subjects of snap, with the run's options and extra ones.
func (r *subjectRun) assess(ctx context.Context, stderr io.Writer, snap *cluster.Snapshot, extra ...assess.Option) (*assess.Assessment, error) {
	a, err := assess.Assess(ctx, snap, r.src, append(append([]assess.Option{}, r.opts...), extra...)...)
	if r.progress {
		fmt.Fprint(stderr, "\r\033[K")
	}
	return a, err
}

// openInventoryCache opens the --cache file or store DSN, or the default
// cache file.
func openInventoryCache(ctx context.Context, path string) (*store.Store, error) {
	if path == "" {
		p, err := invcache.DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	return invcache.Open(ctx, path)
}

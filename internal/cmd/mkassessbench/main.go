// Command mkassessbench builds the cluster bench/assess.sh measures: N
// distinct images made from a real layer (the debian-bookworm fixture image's
// base, 88 dpkg packages) plus one small app layer each (an npm lockfile and
// Python requirements at versions public advisories cover), in one OCI layout
// whose manifests are named registry.example/bench/img-NN:1, and a synthetic
// cluster (graph/synth) of P pods whose containers use them.
//
//	go run ./internal/cmd/mkassessbench -fixtures $CREDENCE_CACHE/fixtures/debian-bookworm-v1 -out DIR
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/credence-dev/credence/graph/synth"
)

func main() {
	fixtures := flag.String("fixtures", "", "the fixture images directory (debian-bookworm-v1)")
	out := flag.String("out", "", "output directory (images/ and cluster.yaml)")
	images := flag.Int("images", 100, "distinct images")
	pods := flag.Int("pods", 1000, "pods")
	flag.Parse()
	if *fixtures == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*fixtures, *out, *images, *pods); err != nil {
		fmt.Fprintln(os.Stderr, "mkassessbench:", err)
		os.Exit(1)
	}
}

// Real versions with public advisories in ../shared/data (npm and PyPI).
var (
	lodash   = []string{"4.17.4", "4.17.11", "4.17.15", "4.17.19", "4.17.21"}
	minimist = []string{"1.2.0", "1.2.5", "1.2.6", "0.0.8"}
	requests = []string{"2.19.1", "2.25.0", "2.31.0", "2.20.0"}
	urllib3  = []string{"1.24.1", "1.26.4", "1.26.18", "2.0.6"}
)

func run(fixtures, out string, nImages, nPods int) error {
	p, err := layout.FromPath(filepath.Join(fixtures, "oci", "debian-bookworm"))
	if err != nil {
		return err
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	base, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(out, "images")); err != nil {
		return err
	}
	lp, err := layout.Write(filepath.Join(out, "images"), empty.Index)
	if err != nil {
		return err
	}
	for i := range nImages {
		lock := fmt.Sprintf(`{"name":"app-%02d","version":"1.0.0","lockfileVersion":3,"requires":true,"packages":{"":{"name":"app-%02d","version":"1.0.0","dependencies":{"lodash":"*","minimist":"*"}},`+
			`"node_modules/lodash":{"version":"%s","resolved":"https://registry.npmjs.org/lodash/-/lodash-%s.tgz"},`+
			`"node_modules/minimist":{"version":"%s","resolved":"https://registry.npmjs.org/minimist/-/minimist-%s.tgz"}}}`,
			i, i, lodash[i%len(lodash)], lodash[i%len(lodash)], minimist[i%len(minimist)], minimist[i%len(minimist)])
		req := fmt.Sprintf("requests==%s\nurllib3==%s\n", requests[i%len(requests)], urllib3[(i/2)%len(urllib3)])
		layer, err := tarLayer(map[string]string{"app/package-lock.json": lock, "app/requirements.txt": req, "app/ID": fmt.Sprint(i)})
		if err != nil {
			return err
		}
		img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: fmt.Sprintf("COPY app-%02d /app", i)}})
		if err != nil {
			return err
		}
		ref := imageRef(i)
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"io.containerd.image.name": ref}),
			layout.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
			return err
		}
	}
	// The cluster: graph/synth's shape, every container on one of the images.
	cfg := synth.Config{Namespaces: 20, Pods: nPods, NetworkPolicies: nPods / 5, Bindings: nPods / 2, Nodes: 20, Replicas: 5, Seed: 1}
	snap := synth.Generate(cfg)
	// Workloads take the images in turn, so every image runs somewhere.
	workload := map[string]int{}
	for i := range snap.Pods {
		p := &snap.Pods[i]
		for j := range p.Spec.Containers {
			key := p.Namespace + "/" + p.OwnerReferences[0].Name + "/" + p.Spec.Containers[j].Name
			n, ok := workload[key]
			if !ok {
				n = len(workload)
				workload[key] = n
			}
			p.Spec.Containers[j].Image = imageRef(n % nImages)
		}
	}
	f, err := os.Create(filepath.Join(out, "cluster.yaml"))
	if err != nil {
		return err
	}
	if err := synth.WriteManifests(f, snap); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("wrote %d images and %d pods to %s\n", nImages, len(snap.Pods), out)
	return nil
}

func imageRef(i int) string { return fmt.Sprintf("registry.example/bench/img-%02d:1", i) }

func tarLayer(files map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)})
	for _, name := range []string{"app/ID", "app/package-lock.json", "app/requirements.txt"} {
		body := files[name]
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(0, 0)}); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

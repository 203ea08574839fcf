package inventory_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/all"
)

// BenchmarkFixtureApp is the whole inventory of the real fixture-app image
// with every extractor; bench/inventory.sh compares the command with the
// decompression limit and peer tools. Besides wall time it reports the CPU
// time of the process per scan (cpu-ms/op), which neighbours on a shared
// machine disturb far less.
//
//	go test -run '^$' -bench FixtureApp -benchtime 5x ./inventory/
func BenchmarkFixtureApp(b *testing.B) {
	fx := testutil.DebianFixtures(b)
	for _, ref := range []string{"oci:" + filepath.Join(fx, "oci", "fixture-app"), "docker-archive:" + filepath.Join(fx, "fixture-app.docker.tar")} {
		b.Run(map[bool]string{true: "oci", false: "docker-archive"}[ref[:4] == "oci:"], func(b *testing.B) {
			cpu := cpuTime()
			for b.Loop() {
				img, err := image.Open(context.Background(), ref)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := inventory.Run(context.Background(), img, all.Extractors(), inventory.WithTempDir(b.TempDir())); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// cpuTime is the user and system time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkImage scans the image named by $CREDENCE_BENCH_IMAGE (any
// reference credence takes), for profiling a given image:
//
//	CREDENCE_BENCH_IMAGE=oci:/tmp/big go test -run '^$' -bench Image -cpuprofile cpu.out ./inventory/
func BenchmarkImage(b *testing.B) {
	ref := os.Getenv("CREDENCE_BENCH_IMAGE")
	if ref == "" {
		b.Skip("set CREDENCE_BENCH_IMAGE to an image reference")
	}
	cpu := cpuTime()
	for b.Loop() {
		img, err := image.Open(context.Background(), ref)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := inventory.Run(context.Background(), img, all.Extractors()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
}

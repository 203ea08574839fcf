package inventory_test

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/credence-dev/credence/image"
	"github.com/credence-dev/credence/internal/testutil/imagetest"
	"github.com/credence-dev/credence/inventory"
	"github.com/credence-dev/credence/inventory/all"
)

// crashy is a test extractor with a bug a hostile file brings out: it
// wants every path with "crashy" in it, panics on files whose content
// starts with "boom", and its FileRequired panics on a file named "bad-name".
type crashy struct{}

func (crashy) Name() string                         { return "crashy" }
func (crashy) Version() int                         { return 0 }
func (crashy) Requirements() inventory.Requirements { return inventory.Requirements{} }
func (crashy) FileRequired(f inventory.FileInfo) bool {
	if f.Base() == "bad-name" {
		var m map[string]int
		m["x"]++ // nil map: panics
	}
	return strings.Contains(f.Path, "crashy")
}
func (crashy) Extract(_ context.Context, in *inventory.Input) (inventory.Result, error) {
	b, _ := io.ReadAll(in.Reader)
	if strings.HasPrefix(string(b), "boom") {
		var pkgs []*inventory.Package
		_ = pkgs[len(b)] // index out of range
	}
	return inventory.Result{Packages: []*inventory.Package{{Name: in.Base(), Version: "1", Type: inventory.TypeNPM}}}, nil
}

// An extractor that panics on a hostile file costs that file, not the scan:
// the panic becomes a file error naming where it happened, the scan is
// partial, and everything else is still found, including what other
// extractors read from the very same file.
func TestExtractorPanicIsAFileError(t *testing.T) {
	img := imagetest.Image(t, []imagetest.File{
		{Name: "etc/os-release", Body: debianRelease},
		{Name: "var/lib/dpkg/status", Body: status("a@1")},
		{Name: "app/crashy-ok", Body: "fine"},
		{Name: "app/crashy-hostile", Body: "boom"},
		{Name: "app/bad-name", Body: "x"},
		// Wanted by crashy and by the npm lockfile extractor at once (shared stream).
		{Name: "srv/crashy/package-lock.json", Body: "boom"},
	})
	ref, err := image.Open(context.Background(), "oci:"+imagetest.Layout(t, img, ""))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Run(context.Background(), ref, append(all.Extractors(), crashy{}), inventory.WithTempDir(t.TempDir()))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if inv.Status.State != inventory.Partial {
		t.Errorf("state = %s, want partial", inv.Status.State)
	}
	errs := map[string]string{}
	for _, fe := range inv.Status.FileErrors {
		errs[fe.Path+" "+fe.Extractor] = fe.Error
	}
	for key, want := range map[string]string{
		"app/crashy-hostile crashy@0": "extractor panicked in Extract: runtime error: index out of range",
		"app/bad-name crashy@0":       "extractor panicked in FileRequired: assignment to entry in nil map",
	} {
		if got := errs[key]; !strings.Contains(got, want) || !strings.Contains(got, "panic_test.go:") {
			t.Errorf("file error of %s = %q, want %q at a line of panic_test.go", key, got, want)
		}
	}
	got := layers(inv)
	for _, want := range []string{"a@1", "crashy-ok@1"} {
		if _, ok := got[want]; !ok {
			t.Errorf("%s missing after a panic: %v", want, got)
		}
	}
	if got := errs["srv/crashy/package-lock.json crashy@0"]; !strings.Contains(got, inventory.ErrExtractorPanic.Error()) {
		t.Errorf("the panic on a file shared with another extractor is not reported: %v", errs)
	}
	if got := errs["srv/crashy/package-lock.json npm/lockfile@1"]; !strings.Contains(got, "not a lockfile") {
		t.Errorf("the other extractor of the shared file did not read it: %v", errs)
	}
}

package dashboard

import (
	"errors"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/credence-dev/credence/report/htmlkit"
	"github.com/credence-dev/credence/store"
)

// digestRE is an OCI digest: algorithm ":" encoded
// (https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests).
var digestRE = regexp.MustCompile(`^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,256}$`)

// Bounds of an image's page: the Subjects read to name its references, the
// runs listed (the timeline has them all, bounded too).
const (
	maxRefLookups = 20
	maxRuns       = 200
)

type imagePageView struct {
	Chrome
	Digest    string
	FirstSeen when
	Image     imageView
	Runs      []runView
	MoreRuns  int
	Running   int
	Lifecycle []lifecycleRow
	Events    []eventView
	Omitted   int
}

// runView is one interval during which a workload's container ran the
// image.
type runView struct {
	Workload, URL, Container string
	From, To                 when
	Running                  bool
}

func (h *handler) image(r *http.Request) (*rendered, error) {
	ctx := r.Context()
	d := r.PathValue("digest")
	if !digestRE.MatchString(d) {
		return nil, badRequest("%q is not an image digest (algorithm:hex, such as sha256:…).", clip(d, 200))
	}
	v := &imagePageView{Chrome: h.chrome(ctx, "Image "+d), Digest: d}
	ev, err := h.src.ImageTimeline(ctx, d)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("credence has never seen the image %s.", d)
	}
	if err != nil {
		return nil, err
	}
	v.Image = imageView{Digest: d}
	f, err := h.src.Findings(ctx, d)
	switch {
	case errors.Is(err, store.ErrNotFound):
		v.Image.Status, v.Image.Reason = "not matched", "no committed vulnerability database has matched this image yet: its findings are unknown"
	case err != nil:
		return nil, err
	default:
		v.Image.Status, v.Image.MatchedAt, v.Image.DBVersion = "matched", h.when(f.MatchedAt), f.DBVersion
		v.Image.Unchecked, v.Image.Undecided = f.Unchecked, len(f.Undecided)
		v.Image.Counts = countFindings(f.Findings, len(f.Unchecked) == 0 && len(f.Undecided) == 0)
		v.Image.Findings, v.Image.More = htmlkit.FindingViews(f.Findings, maxFindingsListed)
	}

	open := map[string]int{} // workload and container -> index in Runs
	for _, e := range ev {
		switch e.Kind {
		case store.FirstSeen:
			v.FirstSeen = h.when(e.At)
		case store.WorkloadStarted:
			open[e.Workload+"\x00"+e.Detail] = len(v.Runs)
			v.Runs = append(v.Runs, runView{Workload: e.Workload, URL: h.workloadKeyURL(e.Workload), Container: trimContainer(e.Detail), From: h.when(e.At), Running: true})
		case store.WorkloadStopped:
			if i, ok := open[e.Workload+"\x00"+e.Detail]; ok {
				v.Runs[i].To, v.Runs[i].Running = h.when(e.At), false
				delete(open, e.Workload+"\x00"+e.Detail)
			}
		}
	}
	lookups := 0
	for _, run := range v.Runs {
		if !run.Running {
			continue
		}
		v.Running++
		if lookups == maxRefLookups {
			continue
		}
		lookups++
		ss, err := h.src.GetSubject(ctx, run.Workload)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, c := range ss.Subject.Containers {
			if c.Image.Digest == d && !slices.Contains(v.Image.References, c.Image.Reference) {
				v.Image.References = append(v.Image.References, c.Image.Reference)
			}
		}
	}
	if len(v.Runs) > maxRuns {
		// The runs still going first, then the latest.
		sort.SliceStable(v.Runs, func(i, j int) bool { return v.Runs[i].Running && !v.Runs[j].Running })
		v.MoreRuns, v.Runs = len(v.Runs)-maxRuns, v.Runs[:maxRuns]
	}
	v.Lifecycle = h.lifecycle(ev)
	v.Events, v.Omitted = h.events(ev, "", d, time.Time{})
	return &rendered{tmpl: "image", data: v}, nil
}

func trimContainer(detail string) string { return strings.TrimPrefix(detail, "container ") }

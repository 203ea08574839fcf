package dashboard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/credence-dev/credence/assess"
	"github.com/credence-dev/credence/report/htmlkit"
	"github.com/credence-dev/credence/store"
)

// rankedView is the ranked list: one page of workloads, riskiest first.
type rankedView struct {
	Chrome
	Namespaces []string
	Namespace  string
	Risk       string // "", "medium", "high": at least that level
	Levels     []levelOption
	// Total is the number of workloads the filters select; High and Medium
	// those of them at least that risky (within the namespace filter).
	Total, High, Medium, All int
	Rows                     []rankRow
	// From and To number the rows shown (1-based).
	From, To int
	// Next and First are the URLs of the next and the first page ("" when
	// there is none, or this is it).
	Next, First string
	PageSize    int
}

type levelOption struct {
	Value, Label string
	Selected     bool
}

type rankRow struct {
	Rank            int
	URL             string
	Namespace, Kind string
	Name            string
	Score           float64
	Level           string
	Hit, Impact     float64
	HitUnknown      bool
	Exposure        string
	Counts          htmlkit.SevCounts
	VulnUnknown     bool
	Verdict         string
	Since           when
	Why             string
	Containers      int
	// Gone: the Subject changed or went away between the list and its
	// read; the row shows what the list had.
	Gone bool
}

// Bounds on query parameters (they are echoed into links).
const (
	maxParam  = 1024
	maxOffset = 10_000_000
)

func (h *handler) ranked(r *http.Request) (*rendered, error) {
	ctx := r.Context()
	q := r.URL.Query()
	v := &rankedView{Chrome: h.chrome(ctx, "Workloads ranked by risk"), Namespace: q.Get("ns"), Risk: q.Get("risk"), PageSize: h.o.pageSize}
	for _, p := range []string{"ns", "risk", "after", "score", "n"} {
		if s := q.Get(p); len(s) > maxParam || !utf8.ValidString(s) {
			return nil, badRequest("The parameter %s is too long or not UTF-8.", p)
		}
	}
	lo := store.ListOptions{Namespace: v.Namespace, Limit: h.o.pageSize + 1}
	switch v.Risk {
	case "":
	case "medium":
		lo.MinScore = mediumRisk
	case "high":
		lo.MinScore = highRisk
	default:
		return nil, badRequest("Unknown risk level %q: use medium or high (at least that risky), or leave it out.", v.Risk)
	}
	for _, l := range []levelOption{{"", "any risk", false}, {"medium", "medium and high (risk ≥ 15)", false}, {"high", "high (risk ≥ 50)", false}} {
		l.Selected = l.Value == v.Risk
		v.Levels = append(v.Levels, l)
	}
	offset := 0
	if after := q.Get("after"); after != "" {
		score, err := strconv.ParseFloat(q.Get("score"), 64)
		if err != nil || math.IsNaN(score) || math.IsInf(score, 0) {
			return nil, badRequest("The page cursor is broken (score %q): start again from the first page.", q.Get("score"))
		}
		if n, err := strconv.Atoi(q.Get("n")); err == nil && n >= 0 && n <= maxOffset {
			offset = n
		}
		lo.AfterScore, lo.AfterKey = score, after
	}

	var err error
	if v.Namespaces, err = h.namespaces(ctx); err != nil {
		return nil, err
	}
	if v.Namespace != "" && !slices.Contains(v.Namespaces, v.Namespace) {
		v.Namespaces = append([]string{v.Namespace}, v.Namespaces...)
	}
	// One pass counts the namespace's workloads and those at each level.
	count := lo
	count.MinScore = 0
	var at []int
	if v.All, at, err = h.src.CountWorkloads(ctx, count, mediumRisk, highRisk); err != nil {
		return nil, err
	}
	v.Medium, v.High = at[0]-at[1], at[1]
	v.Total = map[float64]int{0: v.All, mediumRisk: at[0], highRisk: at[1]}[lo.MinScore]

	list, err := h.src.ListWorkloads(ctx, lo)
	if err != nil {
		return nil, err
	}
	more := len(list) > h.o.pageSize
	if more {
		list = list[:h.o.pageSize]
	}
	var digests []string
	seen := map[string]bool{}
	for _, w := range list {
		for _, d := range w.Digests {
			if d != "" && !seen[d] {
				seen[d] = true
				digests = append(digests, d)
			}
		}
	}
	slices.Sort(digests)
	counts, err := h.matchedCounts(r, digests)
	if err != nil {
		return nil, err
	}
	if v.Rows, err = h.rankRows(r, list, offset, counts); err != nil {
		return nil, err
	}
	if len(list) > 0 {
		v.From, v.To = offset+1, offset+len(list)
	}
	base := url.Values{}
	if v.Namespace != "" {
		base.Set("ns", v.Namespace)
	}
	if v.Risk != "" {
		base.Set("risk", v.Risk)
	}
	if more {
		last := list[len(list)-1]
		next := url.Values{}
		for k, vs := range base {
			next[k] = vs
		}
		next.Set("after", last.Key)
		next.Set("score", strconv.FormatFloat(last.Score, 'g', -1, 64))
		next.Set("n", strconv.Itoa(offset+len(list)))
		v.Next = h.o.prefix + "/?" + next.Encode()
	}
	if lo.AfterKey != "" {
		v.First = h.o.prefix + "/"
		if len(base) > 0 {
			v.First += "?" + base.Encode()
		}
	}
	return &rendered{tmpl: "ranked", data: v}, nil
}

// matchedCounts counts the findings of each digest. CountFindings leaves
// out a digest with no finding rows, whether it was matched clean or never
// matched; for those (and only those: they have nothing to decode) the
// image's match is read, and a digest never matched under a committed
// database version stays absent: unknown, not clean.
func (h *handler) matchedCounts(r *http.Request, digests []string) (map[string]*store.FindingCounts, error) {
	counts, err := h.src.CountFindings(r.Context(), digests)
	if err != nil {
		return nil, err
	}
	for _, d := range digests {
		if counts[d] != nil {
			continue
		}
		f, err := h.src.Findings(r.Context(), d)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		c := &store.FindingCounts{BySeverity: map[string]int{}}
		for _, x := range f.Findings {
			if x.Suppressed != nil {
				c.Suppressed++
			} else {
				c.Findings++
				c.BySeverity[string(x.Severity.Level)]++
			}
		}
		counts[d] = c
	}
	return counts, nil
}

// rankRows builds the rows, reading their Subjects a few at a time (the
// store serves several readers; a page's rows cost one Subject read each).
func (h *handler) rankRows(r *http.Request, list []store.WorkloadSummary, offset int, counts map[string]*store.FindingCounts) ([]rankRow, error) {
	rows := make([]rankRow, len(list))
	errs := make([]error, len(list))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(readers, len(list)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				func() {
					defer func() {
						if v := recover(); v != nil {
							h.o.log.Error("dashboard: panic", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
							errs[i] = fmt.Errorf("panic: %v", v)
						}
					}()
					rows[i], errs[i] = h.rankRow(r, list[i], offset+i+1, counts)
				}()
			}
		}()
	}
	for i := range list {
		next <- i
	}
	close(next)
	wg.Wait()
	return rows, errors.Join(errs...)
}

// readers is how many Subjects a page reads at once.
const readers = 4

// rankRow reads the workload's Subject for what the list does not carry
// (hit, impact, exposure, which images are unknown) and joins the finding
// counts of its images.
func (h *handler) rankRow(r *http.Request, w store.WorkloadSummary, rank int, counts map[string]*store.FindingCounts) (rankRow, error) {
	row := rankRow{Rank: rank, URL: h.workloadURL(w.Namespace, w.Kind, w.Name), Namespace: w.Namespace, Kind: w.Kind, Name: w.Name,
		Score: w.Score, Level: riskLevel(w.Score), HitUnknown: w.Unknown, Verdict: w.Verdict, Since: h.when(w.Since), Why: w.Why,
		Exposure: "none", Counts: htmlkit.SevCounts{Known: true}}
	ss, err := h.src.GetSubject(r.Context(), w.Key)
	if errors.Is(err, store.ErrNotFound) {
		row.Gone, row.VulnUnknown = true, true
		return row, nil
	}
	if err != nil {
		return row, err
	}
	s := ss.Subject
	row.Hit, row.Impact, row.HitUnknown = s.Risk.Likelihood, s.Risk.Impact, s.Risk.Unknown
	row.Containers = len(s.Containers)
	for _, c := range s.Containers {
		if c.Name == s.Risk.Entry {
			row.Exposure = c.Exposure.Level
		}
		row.Counts = row.Counts.Add(containerCounts(&c, counts))
	}
	row.VulnUnknown = !row.Counts.Known
	return row, nil
}

// containerCounts are the finding counts of a container's image: unknown
// (Known false) when the image was not resolved or scanned, was never
// matched under a committed database version, or could not be fully
// checked.
func containerCounts(c *assess.Container, counts map[string]*store.FindingCounts) htmlkit.SevCounts {
	fc := counts[c.Image.Digest]
	if c.Image.Digest == "" || c.Image.Status != assess.Scanned || fc == nil {
		return htmlkit.SevCounts{}
	}
	return htmlkit.NewSevCounts(fc.Findings, fc.BySeverity, fc.KEV, fc.Fixable, c.Exploit.Known)
}

// namespaceTTL is how long the namespace filter's list is reused: reading
// it scans the current Subjects, and a namespace that appears is offered
// within that time (one asked for by name is always offered).
const namespaceTTL = 10 * time.Second

type namespaceCache struct {
	mu   sync.Mutex
	at   time.Time
	list []string
}

func (h *handler) namespaces(ctx context.Context) ([]string, error) {
	c := &h.nsCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.list != nil && time.Since(c.at) < namespaceTTL {
		return slices.Clone(c.list), nil
	}
	list, err := h.src.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	c.list, c.at = list, time.Now()
	return slices.Clone(list), nil
}

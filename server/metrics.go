package server

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/credence-dev/credence/store"
)

// Metric labels are bounded: namespace (at most maxNamespaceLabels values,
// the rest "other"), severity, risk level, verdict, job kind and state,
// route, outcome. Never an image, a CVE, a pod or a workload name: those
// live in the store and the API (trivy-operator #562, #1402: per-CVE
// labels exploded and duplicate series broke /metrics).
const maxNamespaceLabels = 200

type metrics struct {
	reg *prometheus.Registry

	jobsDone      *prometheus.CounterVec   // kind, outcome
	jobSeconds    *prometheus.HistogramVec // kind
	batchSize     prometheus.Histogram
	updateVerdict prometheus.Histogram
	updateToLabel prometheus.Histogram
	dbUpdates     *prometheus.CounterVec // outcome
	labelPatches  *prometheus.CounterVec // outcome
	events        *prometheus.CounterVec // reason
	alerts        *prometheus.CounterVec // outcome
	imagesRead    prometheus.Counter
	imagesMatched *prometheus.CounterVec // how
	graphBuilds   prometheus.Histogram
	httpRequests  *prometheus.CounterVec   // route, code
	httpSeconds   *prometheus.HistogramVec // route
	leader        prometheus.Gauge
	synced        prometheus.Gauge
}

func newMetrics(s *Server) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	secs := []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	m.jobsDone = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credence_jobs_total", Help: "Jobs this replica worked, by kind and outcome (done, failed, lost: the lease passed to another replica)."}, []string{"kind", "outcome"})
	m.jobSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "credence_job_duration_seconds", Help: "Time to work one job (a batch of assessments counts once).", Buckets: secs}, []string{"kind"})
	m.batchSize = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "credence_assess_batch_workloads", Help: "Workloads assessed together in one batch.", Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}})
	m.updateVerdict = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "credence_db_update_to_verdict_seconds", Help: "From a vulnerability-database update (its import finished) to a workload's changed Subject or decision in the store.", Buckets: secs})
	m.updateToLabel = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "credence_db_update_to_label_seconds", Help: "From a vulnerability-database update to the changed labels on a workload's pods.", Buckets: secs})
	m.dbUpdates = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credence_db_updates_total", Help: "Vulnerability-database updates: imported or downloaded, unchanged, failed (nothing changed), committed (re-matched into the store)."}, []string{"outcome"})
	m.labelPatches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credence_label_patches_total", Help: "Pod label patches: patched, unchanged (not sent), gone, error."}, []string{"outcome"})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credence_events_total", Help: "Kubernetes Events recorded, by reason."}, []string{"reason"})
	m.alerts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credence_alerts_total", Help: "Runtime alerts received: matched (to a container), unknown (not in the cluster), malformed."}, []string{"outcome"})
	m.imagesRead = prometheus.NewCounter(prometheus.CounterOpts{Name: "credence_images_read_total", Help: "Images whose layers this replica read (each digest once; a stored inventory is not read again)."})
	m.imagesMatched = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credence_images_matched_total", Help: "Images matched against the vulnerability database: scan (a new digest), rematch (a stored inventory after a database update)."}, []string{"how"})
	m.graphBuilds = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "credence_graph_build_seconds", Help: "Rebuilds of the trust graph of the whole cluster.", Buckets: secs})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "credence_http_requests_total", Help: "API requests by route pattern and status code."}, []string{"route", "code"})
	m.httpSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "credence_http_request_duration_seconds", Help: "API request latency by route pattern.", Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}}, []string{"route"})
	m.leader = prometheus.NewGauge(prometheus.GaugeOpts{Name: "credence_leader", Help: "1 while this replica schedules (holds the leader Lease)."})
	m.synced = prometheus.NewGauge(prometheus.GaugeOpts{Name: "credence_informers_synced", Help: "1 once the informers listed the cluster."})
	for _, c := range []prometheus.Collector{m.jobsDone, m.jobSeconds, m.batchSize, m.updateVerdict, m.updateToLabel, m.dbUpdates, m.labelPatches,
		m.events, m.alerts, m.imagesRead, m.imagesMatched, m.graphBuilds, m.httpRequests, m.httpSeconds, m.leader, m.synced} {
		f(c)
	}
	f(&storeCollector{s: s})
	return m
}

// storeCollector reports what the store holds, read at most every 15 s
// (a scrape never costs more than one pass over the current workloads).
type storeCollector struct {
	s *Server

	mu   sync.Mutex
	at   time.Time
	last []prometheus.Metric
}

var (
	descWorkloads = prometheus.NewDesc("credence_workloads", "Current workloads by namespace and risk level (high, medium, low, unknown: the risk rests on unknown exploitability).", []string{"namespace", "risk"}, nil)
	descDecisions = prometheus.NewDesc("credence_decisions", "Current policy decisions by namespace and verdict.", []string{"namespace", "verdict"}, nil)
	descFindings  = prometheus.NewDesc("credence_findings", "Open findings in the images current workloads run (each image once), by severity.", []string{"severity"}, nil)
	descKEV       = prometheus.NewDesc("credence_findings_kev", "Open KEV-listed findings in the images current workloads run.", nil, nil)
	descJobs      = prometheus.NewDesc("credence_jobs", "Jobs in the store by state (shared by every replica).", []string{"state"}, nil)
	descDBAge     = prometheus.NewDesc("credence_db_data_age_seconds", "Age of the newest data of the store's current vulnerability-database version.", nil, nil)
	descObjects   = prometheus.NewDesc("credence_informer_objects", "Objects in this replica's informer caches, by kind.", []string{"kind"}, nil)
	descUp        = prometheus.NewDesc("credence_store_up", "1 when the last read of the store for metrics succeeded.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descWorkloads, descDecisions, descFindings, descKEV, descJobs, descDBAge, descObjects, descUp} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.w != nil {
		for kind, n := range c.s.w.counts() {
			ch <- prometheus.MustNewConstMetric(descObjects, prometheus.GaugeValue, float64(n), kind)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) > 15*time.Second || c.last == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ms, err := c.read(ctx)
		cancel()
		up := 1.0
		if err != nil {
			up = 0
			ms = nil
		}
		c.last = append(ms, prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up))
		c.at = time.Now()
	}
	for _, m := range c.last {
		ch <- m
	}
}

func (c *storeCollector) read(ctx context.Context) ([]prometheus.Metric, error) {
	st := c.s.st
	var out []prometheus.Metric
	type nk struct{ ns, v string }
	risk, verdicts := map[nk]int{}, map[nk]int{}
	namespaces := map[string]bool{}
	nsLabel := func(ns string) string {
		if namespaces[ns] {
			return ns
		}
		if len(namespaces) >= maxNamespaceLabels {
			return "other"
		}
		namespaces[ns] = true
		return ns
	}
	lo := store.ListOptions{Limit: 10000}
	for {
		page, err := st.ListWorkloads(ctx, lo)
		if err != nil {
			return nil, err
		}
		for _, w := range page {
			ns := nsLabel(w.Namespace)
			risk[nk{ns, levelOf(w.Score, w.Unknown, c.s.o.thresholds)}]++
			if w.Verdict != "" {
				verdicts[nk{ns, w.Verdict}]++
			}
		}
		if len(page) < lo.Limit {
			break
		}
		last := page[len(page)-1]
		lo.AfterScore, lo.AfterKey = last.Score, last.Key
	}
	keys := make([]nk, 0, len(risk))
	for k := range risk {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ns+keys[i].v < keys[j].ns+keys[j].v })
	for _, k := range keys {
		out = append(out, prometheus.MustNewConstMetric(descWorkloads, prometheus.GaugeValue, float64(risk[k]), k.ns, k.v))
	}
	for k, n := range verdicts {
		out = append(out, prometheus.MustNewConstMetric(descDecisions, prometheus.GaugeValue, float64(n), k.ns, k.v))
	}
	digests, err := st.Digests(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := st.CountFindings(ctx, digests)
	if err != nil {
		return nil, err
	}
	bySev, kev := map[string]int{}, 0
	for _, sev := range []string{"critical", "high", "medium", "low", "unknown"} {
		bySev[sev] = 0
	}
	for _, fc := range counts {
		for sev, n := range fc.BySeverity {
			if _, ok := bySev[sev]; !ok {
				sev = "unknown"
			}
			bySev[sev] += n
		}
		kev += fc.KEV
	}
	for sev, n := range bySev {
		out = append(out, prometheus.MustNewConstMetric(descFindings, prometheus.GaugeValue, float64(n), sev))
	}
	out = append(out, prometheus.MustNewConstMetric(descKEV, prometheus.GaugeValue, float64(kev)))
	jc, err := st.JobCounts(ctx)
	if err != nil {
		return nil, err
	}
	for _, state := range []store.JobState{store.JobQueued, store.JobRunning, store.JobDone, store.JobDead} {
		out = append(out, prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(jc[state]), string(state)))
	}
	if v, err := st.CurrentDBVersion(ctx); err == nil && !v.DataAsOf.IsZero() {
		out = append(out, prometheus.MustNewConstMetric(descDBAge, prometheus.GaugeValue, time.Since(v.DataAsOf).Seconds()))
	}
	return out, nil
}

// levelOf is the risk level of a listed workload (its summary's unknown
// flag is approximated by the Subject's: exploitability unknown).
func levelOf(score float64, unknown bool, th Thresholds) string {
	return Summary{Risk: int(score + 0.5), Unknown: unknown}.Level(th)
}

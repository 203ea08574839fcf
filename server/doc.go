// Package server is credence serve: the continuous form of credence assess.
// It watches a cluster, keeps every workload's Subject and decision in the
// store, re-evaluates them when a workload changes or when new advisories
// re-match the stored inventories, labels pods with a bounded summary, and
// answers an authenticated HTTP API, Prometheus metrics and health probes.
//
// # Work
//
// Every replica runs slim informers (the kinds the trust graph needs,
// stripped of managed fields, statuses and secret data; finished pods are
// never listed) and works jobs from the store: "assess" (one workload,
// idempotent by key), "resync" (every workload), "image" (read and match one
// digest, once: the inventory is kept by digest), "rematch" (a new
// vulnerability database: the stored inventories matched again, no image
// read, then only the workloads whose images changed), and "label" (the pods'
// labels, summary annotation and Kubernetes Events). Jobs are claimed with
// leases (SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL), so a replica that
// dies mid-job loses nothing: the lease expires, another replica claims the
// job, and the job's writes commit with its completion, once.
//
// One replica, elected through a Kubernetes Lease, turns informer events into
// jobs (debounced, one per workload) and runs the scheduled database updates;
// all replicas serve the API.
//
// # Cost
//
// A workload's Subject is built from facts already known (assess.PodSubject):
// its images' findings from the store and a trust graph of the whole cluster
// that is rebuilt only when the cluster changed, at most every
// GraphInterval; a batch of workloads shares one graph.
package server

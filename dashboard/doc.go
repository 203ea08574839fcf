// Package dashboard serves credence's web pages over the results the store
// keeps: the workloads ranked by risk, one workload (its findings, posture,
// provenance, unknowns, blast-radius picture, cuts and timeline), and an
// image digest's timeline. credence serve mounts it under /ui/.
//
// Pages are rendered on the server with html/template and read without
// JavaScript; only the blast-radius picture needs it (the vendored
// cytoscape.js and report/htmlkit's picture script, served by the dashboard
// itself). Every value from a cluster, an image or an advisory is escaped,
// and each response carries a Content-Security-Policy that allows exactly
// the page's stylesheet and, on a workload's page, its two scripts, by hash:
// no other script, no inline handler, no network beyond the page's origin.
package dashboard

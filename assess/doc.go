// Package assess joins what credence knows about each workload into one
// Subject: its images' findings, its posture, exposure and blast radius.
//
// Assess resolves every container's image to a digest, scans each distinct
// digest once (inventories cached by digest and extractor-set version, so new
// advisories re-match without reading a layer), turns findings into the
// likelihood that a network-reachable attacker takes a container over, feeds
// that into the trust graph, and ranks workloads by likely-to-be-hit times
// hurts-most-if-hit. Consumers (reports, policy, the server, admission) read
// Subjects and never go back to the image or the cluster.
package assess

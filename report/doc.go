// Package report renders an assessment for people and tools: a SARIF 2.1.0
// log of workload risks, and a self-contained HTML page with blast-radius pictures.
package report

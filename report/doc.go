// Package report renders results for people and tools: SARIF 2.1.0 for code
// scanning dashboards, and a self-contained HTML page with blast-radius pictures.
package report

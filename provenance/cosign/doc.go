// Package cosign reads the legacy way cosign stores signatures and
// attestations in a registry: the sha256-<hex>.sig / .att tags, their
// simple-signing payloads and the annotations that carry signature,
// certificate, chain and Rekor bundle. It only parses; provenance verifies.
package cosign

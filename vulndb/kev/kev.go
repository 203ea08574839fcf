// Package kev reads the CISA Known Exploited Vulnerabilities catalog
// (known_exploited_vulnerabilities.json); it depends on the standard library only.
package kev

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Catalog is the KEV catalog file.
type Catalog struct {
	Title           string  `json:"title"`
	CatalogVersion  string  `json:"catalogVersion"`
	DateReleased    string  `json:"dateReleased"`
	Count           int     `json:"count"`
	Vulnerabilities []Entry `json:"vulnerabilities"`
}

// Entry is one exploited CVE.
type Entry struct {
	CVE                        string   `json:"cveID"`
	VendorProject              string   `json:"vendorProject,omitempty"`
	Product                    string   `json:"product,omitempty"`
	VulnerabilityName          string   `json:"vulnerabilityName,omitempty"`
	DateAdded                  string   `json:"dateAdded"`
	ShortDescription           string   `json:"shortDescription,omitempty"`
	RequiredAction             string   `json:"requiredAction,omitempty"`
	DueDate                    string   `json:"dueDate,omitempty"`
	KnownRansomwareCampaignUse string   `json:"knownRansomwareCampaignUse,omitempty"`
	Notes                      string   `json:"notes,omitempty"`
	CWEs                       []string `json:"cwes,omitempty"`
}

// ErrShape marks a file that is not a KEV catalog.
var ErrShape = errors.New("not a KEV catalog")

// MaxSize bounds the catalog file (the real one is about 1.2 MB).
const MaxSize = 256 << 20

// Parse reads a catalog and checks its shape: a JSON object with
// catalogVersion and a vulnerabilities array whose entries have a CVE id
// and a dateAdded. Entries that break this are an error, not skipped: a
// catalog of the wrong shape must not replace a good one.
func Parse(r io.Reader) (*Catalog, error) {
	var c Catalog
	dec := json.NewDecoder(io.LimitReader(r, MaxSize))
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrShape, err)
	}
	if c.CatalogVersion == "" || c.Vulnerabilities == nil {
		return nil, fmt.Errorf("%w: no catalogVersion or vulnerabilities", ErrShape)
	}
	for i, e := range c.Vulnerabilities {
		if !strings.HasPrefix(e.CVE, "CVE-") {
			return nil, fmt.Errorf("%w: vulnerabilities[%d] has cveID %q", ErrShape, i, e.CVE)
		}
		if _, err := time.Parse(time.DateOnly, e.DateAdded); err != nil {
			return nil, fmt.Errorf("%w: %s: dateAdded %q is not a date", ErrShape, e.CVE, e.DateAdded)
		}
	}
	if c.Count != 0 && c.Count != len(c.Vulnerabilities) {
		return nil, fmt.Errorf("%w: count says %d, the file holds %d", ErrShape, c.Count, len(c.Vulnerabilities))
	}
	return &c, nil
}

// Released is the catalog's release time (dateReleased), zero if absent.
func (c *Catalog) Released() time.Time {
	t, _ := time.Parse(time.RFC3339, c.DateReleased)
	return t
}

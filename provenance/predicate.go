package provenance

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Predicate types read into typed values.
const (
	PredicateSLSAv02    = "https://slsa.dev/provenance/v0.2"
	PredicateSLSAv1     = "https://slsa.dev/provenance/v1"
	PredicateVuln       = "https://cosign.sigstore.dev/attestation/vuln/v1"
	PredicateTestResult = "https://in-toto.io/attestation/test-result/v0.1"
	// PredicateSARIF is the SARIF 2.1.0 schema URI; a predicate of any type
	// whose body is a SARIF log ("version": "2.1.0" and "runs") is read as
	// SARIF too, since no registry of SARIF predicate types exists.
	PredicateSARIF = "https://json.schemastore.org/sarif-2.1.0.json"
	// PredicateCosignSign is the statement cosign's bundle format signs for
	// an image ("cosign sign" with the new bundle format).
	PredicateCosignSign = "https://sigstore.dev/cosign/sign/v1"
)

// maxRawPredicate bounds the raw predicate kept for untyped predicate types.
const maxRawPredicate = 64 << 10

// SLSAProvenance is what policies ask of a build: who built it, from which
// source, how. Both SLSA v0.2 and v1 fill the same fields.
type SLSAProvenance struct {
	Version          string `json:"version"` // "v0.2" or "v1"
	BuilderID        string `json:"builderID"`
	BuildType        string `json:"buildType"`
	SourceRepository string `json:"sourceRepository,omitempty"` // a URI, e.g. git+https://github.com/org/repo@refs/heads/main
	SourceDigest     string `json:"sourceDigest,omitempty"`     // "sha1:..." of the source commit when given
	EntryPoint       string `json:"entryPoint,omitempty"`
}

// VulnScan is cosign's vulnerability attestation: scanner, database and,
// when the embedded result has a known shape (Trivy, Grype, SARIF), the
// vulnerability counts by severity (lower case).
type VulnScan struct {
	ScannerURI     string         `json:"scannerURI"`
	ScannerVersion string         `json:"scannerVersion,omitempty"`
	DBURI          string         `json:"dbURI,omitempty"`
	DBVersion      string         `json:"dbVersion,omitempty"`
	ScanFinishedOn string         `json:"scanFinishedOn,omitempty"`
	Counted        bool           `json:"counted"` // false: the result's shape was not recognised; Severities is empty, not zero
	Severities     map[string]int `json:"severities"`
}

// TestResult is the in-toto test-result predicate: PASSED, WARNED or FAILED
// and how many tests each way.
type TestResult struct {
	Result  string   `json:"result"`
	URL     string   `json:"url,omitempty"`
	Passed  int      `json:"passed"`
	Warned  int      `json:"warned"`
	Failed  int      `json:"failed"`
	Configs []string `json:"configuration,omitempty"`
}

// SARIFSummary counts the results of a SARIF log by level (error, warning,
// note, none; a result without a level counts as warning, as SARIF says).
type SARIFSummary struct {
	Runs    int            `json:"runs"`
	Tools   []string       `json:"tools"`
	Results int            `json:"results"`
	Levels  map[string]int `json:"levels"`
}

// readPredicate fills the typed field of a that matches its predicate type.
func readPredicate(a *Attestation, raw json.RawMessage) error {
	switch a.PredicateType {
	case PredicateSLSAv02:
		p, err := parseSLSAv02(raw)
		a.SLSA = p
		return err
	case PredicateSLSAv1:
		p, err := parseSLSAv1(raw)
		a.SLSA = p
		return err
	case PredicateVuln:
		p, err := parseVuln(raw)
		a.Vuln = p
		return err
	case PredicateTestResult:
		p, err := parseTestResult(raw)
		a.Test = p
		return err
	}
	if s, ok := parseSARIF(raw); ok {
		a.SARIF = s
		return nil
	}
	if a.PredicateType == PredicateSARIF {
		return fmt.Errorf("predicate of type %s is not a SARIF 2.1.0 log", PredicateSARIF)
	}
	if len(raw) <= maxRawPredicate {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			a.Predicate = m
		}
	}
	return nil
}

func parseSLSAv02(raw json.RawMessage) (*SLSAProvenance, error) {
	var p struct {
		Builder struct {
			ID string `json:"id"`
		} `json:"builder"`
		BuildType  string `json:"buildType"`
		Invocation struct {
			ConfigSource struct {
				URI        string            `json:"uri"`
				Digest     map[string]string `json:"digest"`
				EntryPoint string            `json:"entryPoint"`
			} `json:"configSource"`
		} `json:"invocation"`
		Materials []struct {
			URI    string            `json:"uri"`
			Digest map[string]string `json:"digest"`
		} `json:"materials"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("SLSA v0.2 predicate: %w", err)
	}
	if p.Builder.ID == "" {
		return nil, fmt.Errorf("SLSA v0.2 predicate has no builder.id")
	}
	s := &SLSAProvenance{Version: "v0.2", BuilderID: p.Builder.ID, BuildType: p.BuildType,
		SourceRepository: p.Invocation.ConfigSource.URI, EntryPoint: p.Invocation.ConfigSource.EntryPoint,
		SourceDigest: pickDigest(p.Invocation.ConfigSource.Digest)}
	if s.SourceRepository == "" && len(p.Materials) > 0 {
		s.SourceRepository, s.SourceDigest = p.Materials[0].URI, pickDigest(p.Materials[0].Digest)
	}
	return s, nil
}

func parseSLSAv1(raw json.RawMessage) (*SLSAProvenance, error) {
	var p struct {
		BuildDefinition struct {
			BuildType          string         `json:"buildType"`
			ExternalParameters map[string]any `json:"externalParameters"`
			ResolvedDeps       []struct {
				URI    string            `json:"uri"`
				Digest map[string]string `json:"digest"`
			} `json:"resolvedDependencies"`
		} `json:"buildDefinition"`
		RunDetails struct {
			Builder struct {
				ID string `json:"id"`
			} `json:"builder"`
		} `json:"runDetails"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("SLSA v1 predicate: %w", err)
	}
	if p.RunDetails.Builder.ID == "" {
		return nil, fmt.Errorf("SLSA v1 predicate has no runDetails.builder.id")
	}
	s := &SLSAProvenance{Version: "v1", BuilderID: p.RunDetails.Builder.ID, BuildType: p.BuildDefinition.BuildType}
	// GitHub Actions (and the SLSA GitHub generator) name the source in
	// externalParameters.workflow; otherwise the first resolved dependency
	// is the source by convention.
	if wf, ok := p.BuildDefinition.ExternalParameters["workflow"].(map[string]any); ok {
		repo, _ := wf["repository"].(string)
		ref, _ := wf["ref"].(string)
		path, _ := wf["path"].(string)
		s.SourceRepository, s.EntryPoint = repo, path
		if repo != "" && ref != "" {
			s.SourceRepository = "git+" + repo + "@" + ref
		}
	}
	if len(p.BuildDefinition.ResolvedDeps) > 0 {
		d := p.BuildDefinition.ResolvedDeps[0]
		if s.SourceRepository == "" {
			s.SourceRepository = d.URI
		}
		s.SourceDigest = pickDigest(d.Digest)
	}
	return s, nil
}

func pickDigest(d map[string]string) string {
	for _, alg := range []string{"sha256", "sha512", "gitCommit", "sha1"} {
		if v := d[alg]; v != "" {
			return alg + ":" + v
		}
	}
	return ""
}

func parseVuln(raw json.RawMessage) (*VulnScan, error) {
	var p struct {
		Scanner struct {
			URI     string `json:"uri"`
			Version string `json:"version"`
			DB      struct {
				URI     string `json:"uri"`
				Version string `json:"version"`
			} `json:"db"`
			Result json.RawMessage `json:"result"`
		} `json:"scanner"`
		Metadata struct {
			ScanFinishedOn string `json:"scanFinishedOn"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("vuln predicate: %w", err)
	}
	if p.Scanner.URI == "" {
		return nil, fmt.Errorf("vuln predicate has no scanner.uri")
	}
	v := &VulnScan{ScannerURI: p.Scanner.URI, ScannerVersion: p.Scanner.Version, DBURI: p.Scanner.DB.URI,
		DBVersion: p.Scanner.DB.Version, ScanFinishedOn: p.Metadata.ScanFinishedOn, Severities: map[string]int{}}
	v.Counted = countSeverities(p.Scanner.Result, v.Severities)
	return v, nil
}

// countSeverities recognises Trivy JSON (Results[].Vulnerabilities[].Severity),
// Grype JSON (matches[].vulnerability.severity) and SARIF.
func countSeverities(raw json.RawMessage, into map[string]int) bool {
	if len(raw) == 0 {
		return false
	}
	var shape struct {
		Results []struct {
			Vulnerabilities []struct {
				Severity string `json:"Severity"`
			} `json:"Vulnerabilities"`
		} `json:"Results"`
		Matches []struct {
			Vulnerability struct {
				Severity string `json:"severity"`
			} `json:"vulnerability"`
		} `json:"matches"`
	}
	if json.Unmarshal(raw, &shape) != nil {
		return false
	}
	switch {
	case shape.Results != nil:
		for _, r := range shape.Results {
			for _, v := range r.Vulnerabilities {
				into[strings.ToLower(v.Severity)]++
			}
		}
		return true
	case shape.Matches != nil:
		for _, m := range shape.Matches {
			into[strings.ToLower(m.Vulnerability.Severity)]++
		}
		return true
	}
	if s, ok := parseSARIF(raw); ok {
		for k, n := range s.Levels {
			into[k] += n
		}
		return true
	}
	return false
}

func parseTestResult(raw json.RawMessage) (*TestResult, error) {
	var p struct {
		Result        string   `json:"result"`
		URL           string   `json:"url"`
		PassedTests   []string `json:"passedTests"`
		WarnedTests   []string `json:"warnedTests"`
		FailedTests   []string `json:"failedTests"`
		Configuration []struct {
			Name string `json:"name"`
			URI  string `json:"uri"`
		} `json:"configuration"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("test-result predicate: %w", err)
	}
	switch p.Result {
	case "PASSED", "WARNED", "FAILED":
	default:
		return nil, fmt.Errorf("test-result predicate: result %q is not PASSED, WARNED or FAILED", p.Result)
	}
	t := &TestResult{Result: p.Result, URL: p.URL, Passed: len(p.PassedTests), Warned: len(p.WarnedTests), Failed: len(p.FailedTests)}
	for _, c := range p.Configuration {
		if c.URI != "" {
			t.Configs = append(t.Configs, c.URI)
		} else if c.Name != "" {
			t.Configs = append(t.Configs, c.Name)
		}
	}
	return t, nil
}

// parseSARIF reads a SARIF 2.1.0 log, either the predicate itself or a
// predicate wrapping it in "sarif" or "log".
func parseSARIF(raw json.RawMessage) (*SARIFSummary, bool) {
	type log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name string `json:"name"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				Level string `json:"level"`
			} `json:"results"`
		} `json:"runs"`
	}
	var wrap struct {
		log
		SARIF *log `json:"sarif"`
		Log   *log `json:"log"`
	}
	if json.Unmarshal(raw, &wrap) != nil {
		return nil, false
	}
	l := &wrap.log
	if wrap.SARIF != nil {
		l = wrap.SARIF
	} else if wrap.Log != nil {
		l = wrap.Log
	}
	if l.Version != "2.1.0" || l.Runs == nil {
		return nil, false
	}
	s := &SARIFSummary{Runs: len(l.Runs), Tools: []string{}, Levels: map[string]int{}}
	tools := map[string]bool{}
	for _, r := range l.Runs {
		if n := r.Tool.Driver.Name; n != "" && !tools[n] {
			tools[n] = true
			s.Tools = append(s.Tools, n)
		}
		for _, res := range r.Results {
			level := res.Level
			if level == "" {
				level = "warning"
			}
			s.Levels[level]++
			s.Results++
		}
	}
	sort.Strings(s.Tools)
	return s, true
}
